"""Read a kernel module (.ko, .ko.gz, .ko.xz, .ko.zst): modinfo, needs (__versions), exports."""

from __future__ import annotations

import mmap
import os
import struct
from array import array
from typing import NamedTuple

from kmodtui.core.compression import open_regular, read_maybe_compressed
from kmodtui.core.elf.elffile import SHN_ABS, SHN_LORESERVE, STT_SECTION, ElfFile
from kmodtui.core.errors import KmodError
from kmodtui.core.model import Export, ModuleImage, ModuleSignature, SymbolNeed

SIGNATURE_MAGIC = b"~Module signature appended~\n"
# struct module_signature { u8 algo, hash, id_type, signer_len, key_id_len, pad[3]; __be32 sig_len; }
SIGNATURE_INFO = struct.Struct(">BBBBB3xI")
SIGNATURE_ID_TYPES = {0: "PGP", 1: "X509", 2: "PKCS#7"}

MODULE_SUFFIXES = (".ko", ".ko.gz", ".ko.xz", ".ko.zst")

_WANTED_SYMBOLS = (b"__ksymtab_", b"__crc_", b"__kstrtabns_")


def is_module_path(path: str) -> bool:
    return path.endswith(MODULE_SUFFIXES)


def read_module(path: str | os.PathLike[str]) -> ModuleImage:
    """Parse one module file; raises KmodError naming the file on anything malformed."""
    path = os.fspath(path)
    data, compression = _load(path)
    try:
        return parse_module(data, path, compression)
    finally:
        if isinstance(data, mmap.mmap):
            data.close()


def _load(path: str) -> tuple[bytes | mmap.mmap, str]:
    """An uncompressed module is mapped, not read: only the sections we parse are touched."""
    f = open_regular(path)  # a FIFO or device is refused, not waited on or read forever
    fd = f.fileno()
    try:
        if os.pread(fd, 4, 0) == b"\x7fELF":
            return mmap.mmap(fd, 0, prot=mmap.PROT_READ), "none"
    except (OSError, ValueError) as err:
        raise KmodError(path, getattr(err, "strerror", None) or str(err)) from None
    finally:
        f.close()
    return read_maybe_compressed(path)


class ModuleSymbols(NamedTuple):
    """The compact view the resolver needs, cheap to build and cache for 4,000 modules."""

    path: str
    name: str
    vermagic: str
    license: str
    import_ns: tuple[str, ...]
    machine: str
    has_versions: bool
    # depmod's view: undefined non-weak .symtab symbols with the CRC of their first __versions
    # record (0 when none), then every __versions record not matched that way (module_layout).
    needs: tuple[tuple[str, int], ...]
    exports: tuple[tuple[str, int | None, bool, str], ...]  # name, crc, gpl_only, namespace


def depmod_needs(undefined: list[str] | tuple[str, ...], weak: list[str] | tuple[str, ...],
                 versions: list[tuple[str, int]]) -> tuple[tuple[str, int], ...]:
    """What a module needs, as depmod decides it (libkmod's kmod_module_get_dependency_symbols):
    each undefined non-weak .symtab symbol with the CRC of its first `__versions` record (0 when
    none), then every `__versions` record matched by no symbol, weak ones included (module_layout).
    The one rule for every reader path (a module file, a module inside a package; kscan_module.c's
    needs() mirrors it in C, and the tests hold all three equal)."""
    crc_of = dict(reversed(versions))  # the first record of a name wins, as in libkmod
    needs = [(sym, crc_of.get(sym, 0)) for sym in undefined]
    matched = set(undefined)
    matched.update(weak)
    needs += [(name, crc) for name, crc in crc_of.items() if name not in matched]
    return tuple(needs)


def symbols_of(image: ModuleImage) -> ModuleSymbols:
    """The resolver's compact view of a module already parsed in full (e.g. read from a package)."""
    needs = depmod_needs(image.undefined, image.weak_undefined, [(n.name, n.crc) for n in image.needs])
    return ModuleSymbols(image.path, image.name, image.vermagic, image.license, image.import_ns, image.machine,
                         bool(image.needs), needs,
                         tuple((e.name, e.crc, e.gpl_only, e.namespace) for e in image.exports))


# The packed form of a module the Python reader read: a header, then its strings (path, name,
# vermagic, license, machine, namespaces imported, needs' names, exports' names, exports' flags)
# as UTF-8 joined by NUL, then the needs' CRCs (u32) and the exports' (i64, -1 for none). Data
# only, read back with every size checked: what goes to the module cache and crosses the pool.
_PACKED = struct.Struct("=4sBIIIQ")  # magic, has_versions, imports, needs, exports, bytes of strings
_PACKED_MAGIC = b"KMP1"


def pack_module_symbols(m: ModuleSymbols) -> bytes:
    """The packed form of `m`; ValueError for what it cannot hold (a NUL in a name): the module is
    then read again next time."""
    texts = [m.path, m.name, m.vermagic, m.license, m.machine, *m.import_ns, *(n for n, _ in m.needs),
             *(e[0] for e in m.exports), *(("G" if e[2] else "-") + e[3] for e in m.exports)]
    joined = "\0".join(texts)
    if joined.count("\0") != len(texts) - 1:
        raise ValueError("a name holds a NUL")
    encoded = joined.encode("utf-8", "surrogateescape")
    return b"".join((
        _PACKED.pack(_PACKED_MAGIC, m.has_versions, len(m.import_ns), len(m.needs), len(m.exports), len(encoded)),
        encoded, array("I", [c for _, c in m.needs]).tobytes(),
        array("q", [-1 if e[1] is None else e[1] for e in m.exports]).tobytes(),
    ))


def unpack_module_symbols(blob: bytes | memoryview) -> ModuleSymbols:
    """pack_module_symbols' module; raises columns.DamagedEntry when `blob` is not one."""
    from kmodtui.core.columns import DamagedEntry

    view = memoryview(blob)
    if len(view) < _PACKED.size:
        raise DamagedEntry("not a packed module")
    magic, has_versions, n_imports, n_needs, n_exports, n_text = _PACKED.unpack_from(view)
    text_end = _PACKED.size + n_text
    if magic != _PACKED_MAGIC or len(view) != text_end + 4 * n_needs + 8 * n_exports:
        raise DamagedEntry("not a packed module")
    texts = str(view[_PACKED.size : text_end], "utf-8", "surrogateescape").split("\0")
    if len(texts) != 5 + n_imports + n_needs + 2 * n_exports:
        raise DamagedEntry("a packed module of other counts")
    need_crcs, export_crcs = array("I"), array("q")
    need_crcs.frombytes(view[text_end : text_end + 4 * n_needs])
    export_crcs.frombytes(view[text_end + 4 * n_needs :])
    at = 5 + n_imports
    needs_end = at + n_needs
    names = texts[needs_end : needs_end + n_exports]
    flags = texts[needs_end + n_exports :]
    exports = tuple((n, None if c < 0 else c, f[:1] == "G", f[1:]) for n, c, f in zip(names, export_crcs, flags))
    return ModuleSymbols(texts[0], texts[1], texts[2], texts[3], tuple(texts[5:at]), texts[4], has_versions != 0,
                         tuple(zip(texts[at:needs_end], need_crcs)), exports)


def read_module_symbols(path: str) -> ModuleSymbols:
    data, _ = _load(path)
    try:
        # The signature trailer needs no parsing here: section offsets never reach into it.
        elf = ElfFile(data, path)
        modinfo = elf.section_by_name(".modinfo")
        if modinfo is None:
            raise KmodError(path, "no .modinfo section: this ELF object is not a kernel module")
        versions = _parse_versions_raw(elf)
        exports, undefined, weak = _parse_symbols_raw(elf)
    finally:
        if isinstance(data, mmap.mmap):
            data.close()
    info = modinfo_pairs(modinfo)
    first = {key: modinfo_first(info, key) for key in ("name", "vermagic", "license")}
    import_ns = modinfo_all(info, "import_ns")
    return ModuleSymbols(
        path, first["name"] or _name_from_path(path), first["vermagic"].strip(), first["license"],
        tuple(import_ns), elf.machine, bool(versions), depmod_needs(undefined, weak, versions), tuple(exports),
    )


def modinfo_pairs(raw: bytes) -> tuple[tuple[str, str], ...]:
    """The one .modinfo parser: NUL-separated `key=value` items, in order (keys repeat: import_ns,
    alias, parm), as modinfo(8) lists them. Items without `=` are skipped, as modinfo does."""
    pairs = []
    for item in raw.split(b"\0"):
        key, sep, value = item.partition(b"=")
        if item and sep:
            pairs.append((key.decode("utf-8", "replace"), value.decode("utf-8", "replace")))
    return tuple(pairs)


def modinfo_first(pairs: tuple[tuple[str, str], ...], key: str) -> str:
    return next((value for k, value in pairs if k == key), "")


def modinfo_all(pairs: tuple[tuple[str, str], ...], key: str) -> list[str]:
    return [value for k, value in pairs if k == key]


def parse_module(data: bytes | mmap.mmap, path: str, compression: str = "none") -> ModuleImage:
    data, signature = _split_signature(data, path)
    elf = ElfFile(data, path)
    raw_modinfo = elf.section_by_name(".modinfo")
    if raw_modinfo is None:
        raise KmodError(path, "no .modinfo section: this ELF object is not a kernel module")
    modinfo = modinfo_pairs(raw_modinfo)
    needs = tuple(SymbolNeed(n, c) for n, c in _parse_versions_raw(elf))
    raw_exports, undefined, weak = _parse_symbols_raw(elf)
    exports = tuple(Export(*e) for e in raw_exports)
    def first(key: str) -> str:
        return modinfo_first(modinfo, key)

    depends = tuple(d for d in first("depends").split(",") if d)
    name = first("name") or _name_from_path(path)
    return ModuleImage(
        path=path,
        name=name,
        vermagic=first("vermagic").strip(),
        license=first("license"),
        depends=depends,
        srcversion=first("srcversion"),
        import_ns=tuple(modinfo_all(modinfo, "import_ns")),
        signature=signature,
        compression=compression,
        elf_class=elf.elf_class,
        machine=elf.machine,
        needs=needs,
        exports=exports,
        undefined=undefined,
        weak_undefined=weak,
        modinfo=modinfo,
    )


def _name_from_path(path: str) -> str:
    base = os.path.basename(path)
    for suffix in MODULE_SUFFIXES:
        if base.endswith(suffix):
            base = base[: -len(suffix)]
            break
    return base.replace("-", "_")


def _split_signature(data: bytes | mmap.mmap, path: str) -> tuple[bytes | mmap.mmap, ModuleSignature | None]:
    if len(data) < len(SIGNATURE_MAGIC) or data[-len(SIGNATURE_MAGIC) :] != SIGNATURE_MAGIC:
        return data, None
    info_end = len(data) - len(SIGNATURE_MAGIC)
    info_start = info_end - SIGNATURE_INFO.size
    if info_start < 0:
        raise KmodError(path, "module signature trailer is truncated")
    _algo, _hash, id_type, signer_len, key_id_len, sig_len = SIGNATURE_INFO.unpack_from(data, info_start)
    body_end = info_start - sig_len - signer_len - key_id_len
    if body_end < 0:
        raise KmodError(path, f"module signature claims {sig_len} bytes, more than the file holds")
    # The ELF part is left as it is: section offsets never reach into the trailer.
    return data, ModuleSignature(SIGNATURE_ID_TYPES.get(id_type, f"type {id_type}"), sig_len)


def _parse_versions_raw(elf: ElfFile) -> list[tuple[str, int]]:
    """The modversions the loader reads (kernel/module/version.c), as the C reader does: Linux 6.14+
    `__version_ext_crcs`/`__version_ext_names` (CONFIG_EXTENDED_MODVERSIONS: names of any length)
    when present, even beside a basic `__versions`; else `__versions`: classic
    `struct modversion_info { unsigned long crc; char name[64 - sizeof(long)]; }` records, or
    Ubuntu's variable-length ones (packed `{ u32 next; u32 crc; char name[]; }`, ended by next 0)."""
    crcs = elf.section_by_name("__version_ext_crcs")
    names = elf.section_by_name("__version_ext_names")
    if crcs is not None and names is not None:
        crc_values = [c for (c,) in struct.iter_unpack(elf.endian + "I", crcs[: len(crcs) - len(crcs) % 4])]
        name_list = [n.decode("latin-1") for n in names.split(b"\0") if n]
        if len(crc_values) != len(name_list):
            raise KmodError(elf.path, "__version_ext_crcs and __version_ext_names disagree in length")
        return list(zip(name_list, crc_values))
    raw = elf.section_by_name("__versions")
    if raw is None:
        return []
    if _classic_versions(raw, elf):
        record = elf.endian + ("Q56s" if elf.elf_class == 64 else "I60s")
        return [
            (name.partition(b"\0")[0].decode("latin-1"), crc & 0xFFFFFFFF)
            for crc, name in struct.iter_unpack(record, raw)
        ]
    # depmod and modprobe ignore a __versions section of another shape; so do we.
    return _variable_versions(raw, elf.endian) or []


def _classic_versions(raw: bytes, elf: ElfFile) -> bool:
    if len(raw) % 64:
        return False
    if elf.elf_class == 64:  # the crc is an unsigned long: its high half is zero in every record
        high = 4 if elf.endian == "<" else 0
        return all(raw[at + high : at + high + 4] == b"\0\0\0\0" for at in range(0, len(raw), 64))
    return True


def _variable_versions(raw: bytes, endian: str) -> list[tuple[str, int]] | None:
    """Ubuntu's records, walked as its loader walks them (`versions < end && versions->next`);
    None when the walk does not fit the section."""
    out = []
    at = 0
    while at + 8 <= len(raw):
        next_, crc = struct.unpack_from(endian + "II", raw, at)
        if next_ == 0:
            break
        if next_ < 12 or next_ % 4 or next_ > len(raw) - at:
            return None
        name, nul, _ = raw[at + 8 : at + next_].partition(b"\0")
        if not name or not nul:
            return None
        out.append((name.decode("latin-1"), crc))
        at += next_
    return out


def _parse_symbols_raw(
    elf: ElfFile,
) -> tuple[list[tuple[str, int | None, bool, str]], tuple[str, ...], tuple[str, ...]]:
    ksymtab: dict[str, bool] = {}  # export name -> gpl_only, in table order
    crcs: dict[str, int] = {}
    namespaces: dict[str, str] = {}
    ksymtab_sections = {
        index: "gpl" in name
        for name in ("__ksymtab", "__ksymtab_gpl", "__ksymtab_gpl_future", "__ksymtab_unused", "__ksymtab_unused_gpl")
        if elf.has_section_name(name) and (index := elf.section_index(name)) is not None
    }
    undefined, weak = elf.undefined_symbols()
    for sym in elf.symbols(_WANTED_SYMBOLS):
        if sym.type == STT_SECTION:
            continue
        if sym.name.startswith("__crc_"):
            if sym.shndx == SHN_ABS:  # <= 5.18: the symbol's value is the CRC itself
                crcs[sym.name[6:]] = sym.value & 0xFFFFFFFF
            elif sym.shndx < SHN_LORESERVE:  # 5.19+: an offset into __kcrctab[_gpl]
                crcs[sym.name[6:]] = elf.read_u32(sym.shndx, sym.value)
        elif sym.name.startswith("__kstrtabns_"):
            if sym.shndx < SHN_LORESERVE:
                namespaces[sym.name[12:]] = elf.read_cstring(sym.shndx, sym.value)
        elif sym.name.startswith("__ksymtab_") and sym.shndx in ksymtab_sections:
            ksymtab[sym.name[10:]] = ksymtab_sections[sym.shndx]
    return exports_of(ksymtab, crcs, namespaces), tuple(undefined), tuple(weak)


def exports_of(ksymtab: dict[str, bool], crcs: dict[str, int], namespaces: dict[str, str],
               ) -> list[tuple[str, int | None, bool, str]]:
    exports = [(name, crcs.get(name), gpl_only, namespaces.get(name, "")) for name, gpl_only in ksymtab.items()]
    # depmod counts every __crc_ symbol as an export, even without a ksymtab entry.
    exports += [(name, crc, False, namespaces.get(name, "")) for name, crc in crcs.items() if name not in ksymtab]
    return exports
