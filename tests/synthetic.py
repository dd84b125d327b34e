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
    layout: str = "classic",  # "ubuntu": variable-length records; "extended": 6.14+ arrays beside classic ones
) -> Path:
    crc_directive = ".quad" if bits == 64 else ".long"
    pointer = ".quad" if bits == 64 else ".long"
    name_len = 64 - (8 if bits == 64 else 4)
    lines = ['.section .modinfo,"a"']
    for key, value in (("license", "GPL"), ("name", name), ("vermagic", vermagic), ("depends", "")):
        lines.append(f".asciz {_string(f'{key}={value}')}")
    lines.append('.section __versions,"a"')
    for sym, crc in versions:
        if layout == "ubuntu":  # packed {u32 next; u32 crc; char name[]}, name NUL-padded to 4 bytes
            padded = (len(sym) + 1 + 3) & ~3
            lines += [f".long {8 + padded}", f".long {crc:#x}", f".ascii {_string(sym)}",
                      f".fill {padded - len(sym)},1,0"]
        elif len(sym) < name_len:  # a basic record; longer names live only in the extended arrays
            lines += [f"{crc_directive} {crc:#x}", f".ascii {_string(sym)}", f".fill {name_len - len(sym)},1,0"]
    if layout == "ubuntu":
        lines.append(".quad 0")  # the dummy entry that ends the list (next == 0)
    if layout == "extended":
        lines.append('.section __version_ext_crcs,"a"')
        lines += [f".long {crc:#x}" for _, crc in versions]
        lines.append('.section __version_ext_names,"a"')
        lines += [f".asciz {_string(sym)}" for sym, _ in versions]
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
