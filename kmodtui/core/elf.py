"""Read a kernel module (.ko, .ko.gz, .ko.xz, .ko.zst): modinfo, needs (__versions), exports."""

from __future__ import annotations

import os
import struct

from kmodtui.core.compression import read_maybe_compressed
from kmodtui.core.elffile import SHN_ABS, SHN_LORESERVE, SHN_UNDEF, STB_WEAK, STT_SECTION, ElfFile
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
    data, compression = read_maybe_compressed(path)
    return parse_module(data, path, compression)


def parse_module(data: bytes, path: str, compression: str = "none") -> ModuleImage:
    data, signature = _split_signature(data, path)
    elf = ElfFile(data, path)
    modinfo = _parse_modinfo(elf)
    needs = _parse_versions(elf)
    exports, undefined, weak = _parse_symbols(elf)
    values: dict[str, list[str]] = {}
    for key, value in modinfo:
        values.setdefault(key, []).append(value)

    def first(key: str) -> str:
        return values.get(key, [""])[0]

    depends = tuple(d for d in first("depends").split(",") if d)
    name = first("name") or _name_from_path(path)
    return ModuleImage(
        path=path,
        name=name,
        vermagic=first("vermagic").strip(),
        license=first("license"),
        depends=depends,
        srcversion=first("srcversion"),
        import_ns=tuple(values.get("import_ns", ())),
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


def _split_signature(data: bytes, path: str) -> tuple[bytes, ModuleSignature | None]:
    if not data.endswith(SIGNATURE_MAGIC):
        return data, None
    info_end = len(data) - len(SIGNATURE_MAGIC)
    info_start = info_end - SIGNATURE_INFO.size
    if info_start < 0:
        raise KmodError(path, "module signature trailer is truncated")
    _algo, _hash, id_type, signer_len, key_id_len, sig_len = SIGNATURE_INFO.unpack_from(data, info_start)
    body_end = info_start - sig_len - signer_len - key_id_len
    if body_end < 0:
        raise KmodError(path, f"module signature claims {sig_len} bytes, more than the file holds")
    return data[:body_end], ModuleSignature(SIGNATURE_ID_TYPES.get(id_type, f"type {id_type}"), sig_len)


def _parse_modinfo(elf: ElfFile) -> tuple[tuple[str, str], ...]:
    raw = elf.section_by_name(".modinfo")
    if raw is None:
        raise KmodError(elf.path, "no .modinfo section: this ELF object is not a kernel module")
    pairs = []
    for item in raw.split(b"\0"):
        if not item:
            continue
        key, sep, value = item.partition(b"=")
        if sep:
            pairs.append((key.decode("utf-8", "replace"), value.decode("utf-8", "replace")))
    return tuple(pairs)


def _parse_versions(elf: ElfFile) -> tuple[SymbolNeed, ...]:
    """`__versions` holds `struct modversion_info { unsigned long crc; char name[64 - sizeof(long)]; }`."""
    raw = elf.section_by_name("__versions")
    if raw is not None:
        if len(raw) % 64 != 0:
            # depmod and modprobe ignore a __versions section of any other size; so do we.
            return ()
        crc_format = elf.endian + ("Q" if elf.elf_class == 64 else "I")
        crc_size = 8 if elf.elf_class == 64 else 4
        needs = []
        for off in range(0, len(raw), 64):
            (crc,) = struct.unpack_from(crc_format, raw, off)
            name_bytes = raw[off + crc_size : off + 64]
            end = name_bytes.find(b"\0")
            name = name_bytes[: end if end >= 0 else len(name_bytes)].decode("latin-1")
            needs.append(SymbolNeed(name, crc & 0xFFFFFFFF))
        return tuple(needs)
    # Linux 6.14+ (CONFIG_EXTENDED_MODVERSIONS): parallel arrays of u32 CRCs and NUL-separated names.
    crcs = elf.section_by_name("__version_ext_crcs")
    names = elf.section_by_name("__version_ext_names")
    if crcs is None or names is None:
        return ()
    crc_values = [c for (c,) in struct.iter_unpack(elf.endian + "I", crcs[: len(crcs) - len(crcs) % 4])]
    name_list = [n.decode("latin-1") for n in names.split(b"\0") if n]
    if len(crc_values) != len(name_list):
        raise KmodError(elf.path, "__version_ext_crcs and __version_ext_names disagree in length")
    return tuple(SymbolNeed(n, c) for n, c in zip(name_list, crc_values))


def _parse_symbols(elf: ElfFile) -> tuple[tuple[Export, ...], tuple[str, ...], tuple[str, ...]]:
    ksymtab: dict[str, bool] = {}  # export name -> gpl_only, in table order
    crcs: dict[str, int] = {}
    namespaces: dict[str, str] = {}
    undefined: list[str] = []
    weak: list[str] = []
    sections = elf.sections
    for sym in elf.symbols(_WANTED_SYMBOLS):
        if sym.shndx == SHN_UNDEF:
            (weak if sym.bind == STB_WEAK else undefined).append(sym.name)
            continue
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
        elif sym.name.startswith("__ksymtab_") and sym.shndx < len(sections):
            section = sections[sym.shndx].name
            if section.startswith("__ksymtab"):
                ksymtab[sym.name[10:]] = "gpl" in section
    exports = [
        Export(name, crcs.get(name), gpl_only, namespaces.get(name, ""))
        for name, gpl_only in ksymtab.items()
    ]
    # depmod counts every __crc_ symbol as an export, even without a ksymtab entry.
    exports += [Export(name, crc, False, namespaces.get(name, "")) for name, crc in crcs.items() if name not in ksymtab]
    return tuple(exports), tuple(undefined), tuple(weak)
