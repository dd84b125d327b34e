"""Old and 32-bit module layouts the installed headers cannot build, assembled with the real `as`.

What kbuild <= 5.18 emitted: `__crc_<sym>` as an absolute symbol whose value is the CRC, and on
32-bit targets `__versions` records of `u32 crc + char[60] name`. The referees for these files are
the real modprobe and depmod, never values typed into the test.
"""

from __future__ import annotations

from pathlib import Path

from tests.realtools import require_tool, run_ok


def _string(s: str) -> str:
    return '"' + s.replace('"', '\\"') + '"'


def assemble_module(
    dest: Path,
    name: str,
    *,
    bits: int,
    versions: list[tuple[str, int]],
    exports: list[tuple[str, int]] = (),  # type: ignore[assignment]
    undefined: list[str] = (),  # type: ignore[assignment]
    vermagic: str = "5.10.0-kmodtui SMP mod_unload modversions",
) -> Path:
    crc_directive = ".quad" if bits == 64 else ".long"
    pointer = ".quad" if bits == 64 else ".long"
    name_len = 64 - (8 if bits == 64 else 4)
    lines = ['.section .modinfo,"a"']
    for key, value in (("license", "GPL"), ("name", name), ("vermagic", vermagic), ("depends", "")):
        lines.append(f".asciz {_string(f'{key}={value}')}")
    lines.append('.section __versions,"a"')
    for sym, crc in versions:
        lines += [f"{crc_directive} {crc:#x}", f".ascii {_string(sym)}", f".fill {name_len - len(sym)},1,0"]
    lines.append('.section __ksymtab_strings,"a"')
    for sym, _ in exports:
        lines += [f"__kstrtab_{sym}:", f".asciz {_string(sym)}"]
    lines.append('.section __ksymtab,"a"')
    for sym, _ in exports:
        lines += [f"__ksymtab_{sym}:", f"{pointer} {sym}", f"{pointer} __kstrtab_{sym}"]
    lines.append(".text")
    for sym, crc in exports:
        lines += [f".globl {sym}", f"{sym}:", "ret", f".globl __crc_{sym}", f".set __crc_{sym}, {crc:#x}"]
    lines.append('.section .data,"aw"')
    for sym in undefined:
        lines.append(f"{pointer} {sym}")
    source = dest / f"{name}.s"
    source.write_text("\n".join(lines) + "\n")
    ko = dest / f"{name}.ko"
    run_ok([require_tool("as"), f"--{bits}", "-o", str(ko), str(source)])
    return ko
