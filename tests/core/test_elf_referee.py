"""An independent referee for kmodtui's hand-written ELF reader: pyelftools (a test dependency only)
reads the same modules and must find the same sections, `__versions` records, undefined symbols,
.modinfo pairs and exports. On the example modules kbuild builds here, and on a real Debian kernel
image's module tree (every module through our readers, a fixed sample of 400 through pyelftools,
which takes ~20 ms a module).

Also the "one rule, one place" check: a module read on its own (Python reader), read by the C
reader, and read from inside a package (parse_module + symbols_of, the package path) give the same
resolver facts.
"""

from __future__ import annotations

import random
import struct
import subprocess
from pathlib import Path

import pytest

from kmodtui.core.elf import kscan
from kmodtui.core.elf.elffile import ElfFile
from kmodtui.core.elf.module import read_module, read_module_symbols, symbols_of
from kmodtui.core.model import Kernel
from tests.realtools import BuiltModules, apt_download, require_tool

elftools = pytest.importorskip("elftools", reason="pip install pyelftools (a test dependency)")
from elftools.elf.elffile import ELFFile  # noqa: E402


def referee(path: Path) -> dict[str, object]:
    """What pyelftools says about a module."""
    with open(path, "rb") as f:
        elf = ELFFile(f)
        sections = [(s.name, s["sh_offset"], s["sh_size"], s["sh_type"]) for s in elf.iter_sections()][1:]
        versions: list[tuple[str, int]] = []
        ver = elf.get_section_by_name("__versions")
        if ver is not None:
            data = ver.data()
            size, crc_fmt = (64, "Q") if elf.elfclass == 64 else (64, "I")
            endian = "<" if elf.little_endian else ">"
            crc_size = 8 if elf.elfclass == 64 else 4
            for at in range(0, len(data) - len(data) % size, size):
                crc = struct.unpack_from(endian + crc_fmt, data, at)[0] & 0xFFFFFFFF
                name = data[at + crc_size : at + size].split(b"\0", 1)[0].decode()
                versions.append((name, crc))
        undefined, weak, exports = [], [], {}
        symtab = elf.get_section_by_name(".symtab")
        names = {i: s.name for i, s in enumerate(elf.iter_sections())}
        for sym in symtab.iter_symbols() if symtab is not None else ():
            if not sym.name:
                continue
            if sym["st_shndx"] == "SHN_UNDEF":
                (weak if sym["st_info"]["bind"] == "STB_WEAK" else undefined).append(sym.name)
            elif sym.name.startswith("__ksymtab_") and isinstance(sym["st_shndx"], int):
                section = names.get(sym["st_shndx"], "")
                if section.startswith("__ksymtab"):
                    exports[sym.name[len("__ksymtab_"):]] = section == "__ksymtab_gpl"
        modinfo = []
        raw = elf.get_section_by_name(".modinfo").data()
        for item in raw.split(b"\0"):
            key, sep, value = item.partition(b"=")
            if item and sep:
                modinfo.append((key.decode(), value.decode()))
    return {"sections": sections, "versions": versions, "undefined": sorted(undefined), "weak": sorted(weak),
            "exports": exports, "modinfo": modinfo}


def ours(path: Path) -> dict[str, object]:
    data = path.read_bytes()
    elf = ElfFile(data, str(path))
    image = read_module(path)
    return {
        "sections": [(s.name, s.offset, s.size, s.type) for s in elf.sections][1:],
        "versions": [(n.name, n.crc) for n in image.needs],
        "undefined": sorted(image.undefined), "weak": sorted(image.weak_undefined),
        "exports": {e.name: e.gpl_only for e in image.exports},
        "modinfo": list(image.modinfo),
    }


def compare(path: Path) -> None:
    theirs, mine = referee(path), ours(path)
    theirs["sections"] = [(n, o, s, _SHT.get(t, t)) for n, o, s, t in theirs["sections"]]  # type: ignore[union-attr]
    for key in theirs:
        assert mine[key] == theirs[key], (path, key)


_SHT = {"SHT_NULL": 0, "SHT_PROGBITS": 1, "SHT_SYMTAB": 2, "SHT_STRTAB": 3, "SHT_RELA": 4, "SHT_HASH": 5,
        "SHT_DYNAMIC": 6, "SHT_NOTE": 7, "SHT_NOBITS": 8, "SHT_REL": 9, "SHT_DYNSYM": 11, "SHT_INIT_ARRAY": 14,
        "SHT_FINI_ARRAY": 15, "SHT_GROUP": 17, "SHT_SYMTAB_SHNDX": 18}


def one_rule(path: str) -> None:
    """Directory path (Python), C reader, package path: the same needs and exports."""
    python = read_module_symbols(path)
    package_path = symbols_of(read_module(path))
    assert package_path._replace(path=python.path) == python, path
    if kscan.available():
        [c_reader] = kscan.scan_files([path], 1)
        assert c_reader == python, path


def test_pyelftools_agrees_on_the_modules_kbuild_built(built: BuiltModules) -> None:
    for path in (built.provider_ko, built.consumer_ko):
        compare(path)
        one_rule(str(path))


@pytest.fixture(scope="module")
def debian_tree(installed_kernel: Kernel, tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    deb = apt_download(f"linux-image-{installed_kernel.release}")
    root = tmp_path_factory.mktemp("image")
    subprocess.run([require_tool("dpkg-deb"), "-x", str(deb), str(root)], check=True)
    modules = sorted(root.rglob("*.ko"))
    assert len(modules) > 3000, len(modules)
    return modules


@pytest.mark.network
def test_pyelftools_agrees_on_a_debian_kernel_tree(debian_tree: list[Path]) -> None:
    for path in random.Random(13).sample(debian_tree, 400):
        compare(path)


@pytest.mark.network
def test_one_needs_rule_on_every_module_of_a_debian_tree(debian_tree: list[Path]) -> None:
    """depmod's 'what does a module need' rule, one function for every reader path, on 4,000 modules."""
    paths = [str(p) for p in debian_tree]
    python = {p: read_module_symbols(p) for p in paths}
    for p in paths:
        assert symbols_of(read_module(p))._replace(path=p) == python[p], p
    if kscan.available():
        for item in kscan.scan_files(paths, 2):
            assert item == python[item.path], item.path
