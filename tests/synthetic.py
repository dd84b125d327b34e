"""Builders for the inputs the installed headers cannot make, or need not: modules assembled with the
real `as`, and Module.symvers files in every historical layout.

`Assembled` is one relocatable module as kbuild <= 5.18 emitted it: `.modinfo` strings, `__versions`
records (`u32 crc + char[60] name` on 32-bit targets; Ubuntu's variable-length records; 6.14+'s
extended arrays), `__ksymtab`/`__ksymtab_gpl` entries with `__crc_<sym>` as an absolute symbol whose
value is the CRC and `__kstrtabns_<sym>` naming a namespace, and undefined symbols it refers to.
`symvers_entries` and `write_symvers` make a Module.symvers of N exports, GPL-only or namespaced
every so often. The referees for these files are the real tools (modprobe, depmod) or kmodtui's own
answer on the same facts another way, never values typed into the test.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from kmodtui.core.model import SymversEntry, crc_hex
from kmodtui.core.symvers.parse import LAYOUT_3, LAYOUT_4, LAYOUT_5, LAYOUT_5_NS3
from tests.realtools import require_tool, run_ok

CLASSIC_VERMAGIC = "5.10.0-kmodtui SMP mod_unload modversions"


def _string(s: str) -> str:
    return '"' + s.replace('"', '\\"') + '"'


def crc_of(i: int) -> int:
    """A CRC-looking value for the i-th synthetic symbol (Knuth's multiplicative hash)."""
    return i * 2654435761 & 0xFFFFFFFF


# ---- modules ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ExportSpec:
    name: str
    crc: int
    gpl_only: bool = False
    namespace: str = ""


@dataclass(frozen=True)
class Assembled:
    """One module to assemble: each field is what the module says, in the section that says it."""
    name: str
    bits: int = 64
    versions: tuple[tuple[str, int], ...] = ()  # __versions records, in order
    exports: tuple[ExportSpec, ...] = ()
    undefined: tuple[str, ...] = ()  # symbols the code refers to (undefined in .symtab)
    license: str = "GPL"
    vermagic: str = CLASSIC_VERMAGIC
    depends: str = ""
    import_ns: tuple[str, ...] = ()
    modinfo: tuple[tuple[str, str], ...] = ()  # more .modinfo key=value strings, after the usual ones
    layout: str = "classic"  # "ubuntu": variable-length records; "extended": 6.14+ arrays beside classic ones

    def needing(self, *needs: tuple[str, int]) -> Assembled:
        """The module also using these symbols, each with a __versions record of that CRC."""
        return dataclasses.replace(self, versions=self.versions + needs,
                                   undefined=self.undefined + tuple(name for name, _ in needs))

    def using(self, *symbols: str) -> Assembled:
        """The module also using these symbols, without __versions records (no MODVERSIONS)."""
        return dataclasses.replace(self, undefined=self.undefined + symbols)

    def exporting(self, *exports: ExportSpec) -> Assembled:
        return dataclasses.replace(self, exports=self.exports + exports)

    def assembly(self) -> str:
        """The module as GNU as source."""
        bits, layout = self.bits, self.layout
        crc_directive = pointer = ".quad" if bits == 64 else ".long"
        name_len = 64 - (8 if bits == 64 else 4)
        lines = ['.section .modinfo,"a"']
        pairs = [("license", self.license), ("name", self.name), ("vermagic", self.vermagic), ("depends", self.depends)]
        pairs += [("import_ns", ns) for ns in self.import_ns] + list(self.modinfo)
        lines += [f".asciz {_string(f'{key}={value}')}" for key, value in pairs]
        lines.append('.section __versions,"a"')
        for sym, crc in self.versions:
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
            lines += [f".long {crc:#x}" for _, crc in self.versions]
            lines.append('.section __version_ext_names,"a"')
            lines += [f".asciz {_string(sym)}" for sym, _ in self.versions]
        lines.append('.section __ksymtab_strings,"a"')
        for e in self.exports:
            lines += [f"__kstrtab_{e.name}:", f".asciz {_string(e.name)}"]
            if e.namespace:  # <= 6.4: __kstrtabns_<sym> names the namespace
                lines += [f"__kstrtabns_{e.name}:", f".asciz {_string(e.namespace)}"]
        for section, gpl in (("__ksymtab", False), ("__ksymtab_gpl", True)):
            chosen = [e for e in self.exports if e.gpl_only == gpl]
            if chosen or not gpl:
                lines.append(f'.section {section},"a"')
            for e in chosen:
                lines += [f"__ksymtab_{e.name}:", f"{pointer} {e.name}", f"{pointer} __kstrtab_{e.name}"]
        lines.append(".text")
        for e in self.exports:
            lines += [f".globl {e.name}", f"{e.name}:", "ret", f".globl __crc_{e.name}", f".set __crc_{e.name}, {e.crc:#x}"]
        lines.append('.section .data,"aw"')
        lines += [f"{pointer} {sym}" for sym in self.undefined]
        return "\n".join(lines) + "\n"

    def assemble(self, dest: Path, filename: str = "") -> Path:
        """Assembles the module into dest/<filename or name>.ko with the real `as`."""
        stem = filename or self.name
        source = dest / f"{stem}.s"
        source.write_text(self.assembly())
        ko = dest / f"{stem}.ko"
        run_ok([require_tool("as"), f"--{self.bits}", "-o", str(ko), str(source)])
        return ko


def assemble_module(
    dest: Path,
    name: str,
    *,
    bits: int,
    versions: Sequence[tuple[str, int]],
    exports: Sequence[tuple[str, int]] = (),
    undefined: Sequence[str] = (),
    vermagic: str = CLASSIC_VERMAGIC,
    layout: str = "classic",
) -> Path:
    """One module, as Assembled(...).assemble(dest): plain exports given as (name, crc)."""
    return Assembled(name, bits, tuple(versions), tuple(ExportSpec(n, c) for n, c in exports), tuple(undefined),
                     vermagic=vermagic, layout=layout).assemble(dest)


# ---- Module.symvers -----------------------------------------------------------------------------

def symvers_row(entry: SymversEntry, layout: str = LAYOUT_5) -> str:
    """A row written back in a given layout (the historical layouts made from one set of entries)."""
    crc = crc_hex(entry.crc)
    if layout == LAYOUT_3:
        return f"{crc}\t{entry.name}\t{entry.module}"
    if layout == LAYOUT_4:
        return f"{crc}\t{entry.name}\t{entry.module}\t{entry.export_type}"
    if layout == LAYOUT_5_NS3:
        return f"{crc}\t{entry.name}\t{entry.namespace}\t{entry.module}\t{entry.export_type}"
    return f"{crc}\t{entry.name}\t{entry.module}\t{entry.export_type}\t{entry.namespace}"


def symvers_entries(count: int, *, prefix: str = "kmodtui_sym", module: str = "vmlinux", gpl_every: int = 0,
                    namespace_every: int = 0, namespace: str = "KMODTUI_NS", start: int = 0) -> list[SymversEntry]:
    """`count` exports named <prefix>_<i>, CRC crc_of(i); every gpl_every-th GPL-only, every
    namespace_every-th in `namespace` (0: none)."""
    return [SymversEntry(f"{prefix}_{i}", crc_of(i), module,
                         "EXPORT_SYMBOL_GPL" if gpl_every and i % gpl_every == 0 else "EXPORT_SYMBOL",
                         namespace if namespace_every and i % namespace_every == 0 else "")
            for i in range(start, start + count)]


def export_entry(name: str, crc: int, *, module: str = "vmlinux", gpl_only: bool = False,
                 namespace: str = "") -> SymversEntry:
    return SymversEntry(name, crc, module, "EXPORT_SYMBOL_GPL" if gpl_only else "EXPORT_SYMBOL", namespace)


def write_symvers(path: Path, entries: Iterable[SymversEntry], layout: str = LAYOUT_5) -> Path:
    """A Module.symvers of these entries in `layout` (one row each, a newline after every row)."""
    path.write_text("".join(symvers_row(e, layout) + "\n" for e in entries))
    return path


# ---- a tree with every kind of problem ----------------------------------------------------------

NS = "KMODTUI_NS"
KERNEL_EXPORTS = (
    export_entry("_printk", 0),  # as a kernel built without MODVERSIONS writes it: no CRC
    export_entry("kfree", 0x1B2C3D4E),
    export_entry("kmodtui_gpl_fn", 0x2A2A2A2A, gpl_only=True),
    export_entry("kmodtui_ns_fn", 0x3B3B3B3B, namespace=NS),
)


def every_problem_tree(base: Path) -> Path:
    """Assembled modules that between them have every kind of problem row against a synthetic kernel
    Module.symvers (`kernel.symvers` beside the returned folder), the counterpart of the kbuild-made
    tree in tests/core/test_finding_json.py: unknown_symbol, the three CRC stories,
    namespace_not_imported, gpl_only, an unreadable file, and a provider whose user is fine."""
    base.mkdir(parents=True, exist_ok=True)
    write_symvers(base / "kernel.symvers", [*KERNEL_EXPORTS, *symvers_entries(40, gpl_every=3, namespace_every=7)])
    targets = base / "targets"
    targets.mkdir()
    provided = ExportSpec("provider_fn", 0xF96CAA5E)
    gpl, namespaced = ExportSpec("provider_gpl_fn", 0x1D2E3F40, gpl_only=True), ExportSpec("provider_ns_fn", 0x5A6B7C8D,
                                                                                          namespace=NS)
    fine = Assembled("consumer", import_ns=(NS,), depends="provider").needing(
        ("kfree", 0x1B2C3D4E), ("kmodtui_ns_fn", 0x3B3B3B3B), (gpl.name, gpl.crc), (namespaced.name, namespaced.crc))
    for filename, module in (
            ("provider", Assembled("provider").exporting(provided, gpl, namespaced).needing(("kfree", 0x1B2C3D4E))),
            ("fine", fine.needing((provided.name, provided.crc))),
            ("noimport", Assembled("consumer").needing(("kmodtui_ns_fn", 0x3B3B3B3B),  # namespace_not_imported
                                                       (namespaced.name, namespaced.crc))),
            ("proprietary", Assembled("consumer", license="Proprietary").needing(  # gpl_only
                ("kmodtui_gpl_fn", 0x2A2A2A2A), (gpl.name, gpl.crc))),
            ("noversions", Assembled("consumer").using("kfree", "kmodtui_gpl_fn")),  # crc_without_versions
            ("oldprovider", fine.needing((provided.name, provided.crc ^ 0x10))),  # crc_mismatch
            ("printk", Assembled("consumer").needing(("_printk", 0x12345678))),  # crc_provider_without_crc
            # built against a kernel without kfree's CRC: the same symbol, status and CRC as noversions'
            # row, told another way (crc_mismatch: the module has __versions)
            ("zerocrc", Assembled("consumer").needing(("kfree", 0))),
            ("lonely", Assembled("lonely").needing(("kmodtui_nowhere_fn", 0x5EED)))):  # unknown_symbol
        module.assemble(targets, filename)
    (targets / "broken.ko").write_bytes(b"not a module")  # unreadable: a module finding among the rows
    return targets
