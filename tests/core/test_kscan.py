"""The C scanner (kscan.c) that `resolve` uses for speed says exactly what the Python reader says:
on modules built by real kbuild, on old-layout and 32-bit objects made by the real assembler, and
on thousands of mutations of a real module. Where it declines an input, the Python reader takes it
(and words the error)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kmodtui.core.elf import kscan
from kmodtui.core.elf.elffile import ElfFile
from kmodtui.core.elf.module import read_module_symbols
from kmodtui.core.errors import KmodError
from kmodtui.core.resolve.modset import load_modules
from kmodtui.core.symvers.cparse import parse_symvers_c
from tests.synthetic import assemble_module


@pytest.fixture(scope="module", autouse=True)
def scanner_built() -> None:
    if kscan.available():
        return
    reason = "the C scanner was not built: install a C compiler (sudo apt-get install build-essential) and rerun ./scripts/test"
    if os.environ.get("CI") == "true":
        pytest.fail(reason)
    pytest.skip(reason)


def python_reader(path: str) -> object:
    try:
        return read_module_symbols(path)
    except KmodError as err:
        return str(err)


def test_real_modules_read_the_same(built) -> None:
    for ko in (built.provider_ko, built.consumer_ko):
        ours = kscan.scan_files([str(ko)], jobs=1)[0]
        assert ours == read_module_symbols(str(ko))
        assert ours.needs and (ko != built.provider_ko or ours.exports)


@pytest.mark.parametrize("bits", [32, 64])
def test_old_layout_and_32_bit_objects_read_the_same(tmp_path: Path, bits: int) -> None:
    """Absolute __crc_ exports (<= 5.18), u32 __versions records (32-bit), weak and duplicate needs."""
    ko = assemble_module(tmp_path, f"old{bits}", bits=bits,
                         versions=[("module_layout", 0x1234ABCD), ("printk", 0x0ABC1234), ("printk", 0x1),
                                   ("unused_record", 0x77)],
                         undefined=["printk", "not_versioned"], exports=[("old_fn", 0x5B319F50)])
    ours = kscan.scan_bytes(str(ko), ko.read_bytes())
    assert ours is not None
    assert ours == read_module_symbols(str(ko))
    assert ("printk", 0x0ABC1234) in ours.needs and ours.exports[0][:2] == ("old_fn", 0x5B319F50)


def test_a_directory_of_modules_and_junk_loads_the_same_either_way(built, tmp_path: Path, monkeypatch) -> None:
    """Threads and batches keep the order; a truncated and a compressed file go to the Python reader."""
    import lzma

    for i in range(300):
        (tmp_path / f"m{i:03}.ko").write_bytes(built.consumer_ko.read_bytes())
    (tmp_path / "provider.ko.xz").write_bytes(lzma.compress(built.provider_ko.read_bytes()))
    (tmp_path / "truncated.ko").write_bytes(built.provider_ko.read_bytes()[:3000])
    c_loaded = load_modules([str(tmp_path)], jobs=2)
    monkeypatch.setattr(kscan, "_library", None)
    py_loaded = load_modules([str(tmp_path)], jobs=2)
    assert c_loaded.modules == py_loaded.modules
    assert [str(e) for e in c_loaded.errors] == [str(e) for e in py_loaded.errors]
    assert len(c_loaded.modules) == 301 and "truncated.ko: truncated" in str(c_loaded.errors[0])


def regions(data: bytes) -> list[tuple[int, int]]:
    """Where a mutation means something: the ELF header, the section table and the sections the
    resolver reads."""
    elf = ElfFile(data, "seed.ko")
    wanted = {".symtab", ".strtab", "__versions", ".modinfo", "__ksymtab", "__ksymtab_gpl", "__kcrctab",
              "__kcrctab_gpl", "__ksymtab_strings", ".shstrtab"}
    out = [(0, 64)]
    shoff = int.from_bytes(data[40:48], "little")
    out.append((shoff, len(data) - shoff))
    out += [(s.offset, s.size) for s in elf.sections if s.name in wanted and s.size]
    return out


@pytest.fixture(scope="module")
def seeds(built) -> list[tuple[bytes, list[tuple[int, int]]]]:
    out = []
    for ko in (built.provider_ko, built.consumer_ko):
        data = ko.read_bytes()
        out.append((data, regions(data)))
    return out


@pytest.fixture(scope="module")
def assembled(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A provider (in a folder of its own) exporting plain, GPL-only and namespaced symbols, and a
    consumer using them, assembled with `as`: for tests whose subject is not what kbuild makes."""
    from tests.synthetic import Assembled, ExportSpec

    base = tmp_path_factory.mktemp("assembled")
    (base / "provider").mkdir()
    exports = (ExportSpec("provider_fn", 0xF96CAA5E), ExportSpec("provider_gpl_fn", 0x1D2E3F40, gpl_only=True),
               ExportSpec("provider_ns_fn", 0x5A6B7C8D, namespace="KMODTUI_NS"))
    provider = Assembled("provider").exporting(*exports).needing(("module_layout", 0x1234ABCD), ("_printk", 0x5E1F))
    consumer = Assembled("consumer", import_ns=("KMODTUI_NS",), depends="provider").needing(
        ("module_layout", 0x1234ABCD), *((e.name, e.crc) for e in exports)).using("not_versioned")
    return provider.assemble(base / "provider"), consumer.assemble(base)


def test_mutated_modules_read_the_same_or_go_to_python(seeds, tmp_path: Path) -> None:
    _mutated_modules_read_the_same_or_go_to_python(seeds, tmp_path / "mutant.ko", 400)


def test_mutated_assembled_modules_read_the_same_or_go_to_python(assembled: tuple[Path, Path],
                                                                 tmp_path: Path) -> None:
    """The same on assembled modules (classic __versions, __crc_ absolute symbols): hermetic, and in
    the quick tier with a quarter of the examples."""
    seeds = [(ko.read_bytes(), regions(ko.read_bytes())) for ko in assembled]
    _mutated_modules_read_the_same_or_go_to_python(seeds, tmp_path / "mutant.ko", 100)


def _mutated_modules_read_the_same_or_go_to_python(seeds: list[tuple[bytes, list[tuple[int, int]]]],
                                                   path: Path, examples: int) -> None:
    @settings(max_examples=int(os.environ.get("KSCAN_EXAMPLES", examples)), deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(st.integers(0, 1), st.lists(st.tuples(st.integers(0, 1 << 30), st.integers(0, 1 << 20),
                                                 st.sampled_from([0, 1, 0x7F, 0x80, 0xFF, 0x20, 0x5F])), max_size=12),
           st.one_of(st.none(), st.integers(0, 1 << 30)))
    def run(which: int, edits: list[tuple[int, int, int]], cut: int | None) -> None:
        data, spots = seeds[which]
        buf = bytearray(data)
        for region, offset, value in edits:
            start, size = spots[region % len(spots)]
            buf[(start + offset % size) % len(buf)] = value
        if cut is not None:
            buf = buf[: cut % (len(buf) + 1)]
        path.write_bytes(bytes(buf))
        expected = python_reader(str(path))
        ours = kscan.scan_bytes(str(path), bytes(buf))
        if ours is not None:
            assert ours == expected
        from_files = kscan.scan_files([str(path)], jobs=1)[0]
        assert (str(from_files) if isinstance(from_files, KmodError) else from_files) == expected

    run()


def test_finding_module_files_in_c_matches_python(assembled: tuple[Path, Path], tmp_path: Path, monkeypatch) -> None:
    """Nested folders, a link to a module (taken), a dangling link and a link to a folder (neither),
    compressed names, other files, and a top folder given with a trailing slash. (Which files are
    modules, not what is in them: assembled modules do, so this runs in the quick tier.)"""
    from kmodtui.core.resolve.modset import collect_module_files

    provider_ko, consumer_ko = assembled
    tree = tmp_path / "tree"
    (tree / "kernel" / "drivers" / "net").mkdir(parents=True)
    (tree / "extra").mkdir()
    (tree / "kernel" / "drivers" / "net" / "a.ko").write_bytes(consumer_ko.read_bytes())
    (tree / "kernel" / "b.ko.xz").write_bytes(b"xz")
    (tree / "extra" / "c.ko.zst").write_bytes(b"zst")
    (tree / "extra" / "notes.txt").write_text("not a module")
    (tree / "extra" / "link.ko").symlink_to(provider_ko)
    (tree / "extra" / "dangling.ko").symlink_to(tmp_path / "nowhere.ko")
    (tree / "outside").symlink_to(provider_ko.parent)
    args = [str(tree) + "/", str(provider_ko), str(tmp_path / "missing.ko")]
    ours = collect_module_files(args)
    monkeypatch.setattr(kscan, "_library", None)
    theirs = collect_module_files(args)
    assert ours.files == theirs.files
    assert ours.identities == theirs.identities
    assert [str(e) for e in ours.errors] == [str(e) for e in theirs.errors]
    assert [os.path.basename(f) for f in ours.files] == ["c.ko.zst", "link.ko", "b.ko.xz", "a.ko", "provider.ko"]


def python_symvers(data: bytes, path: str) -> object:
    from kmodtui.core.symvers.parse import parse_symvers

    try:
        parsed = parse_symvers(data.decode("utf-8", "replace"), path)
    except KmodError as err:
        return str(err)
    return parsed.columns, parsed.layout


@pytest.mark.parametrize("layout", ["3", "4", "5-ns3", "5"])
def test_symvers_in_c_matches_python_in_every_layout(installed_kernel, tmp_path: Path, layout: str) -> None:
    """The real Debian Module.symvers rewritten into each historical layout."""
    from kmodtui.core.symvers.parse import (
        LAYOUT_3,
        LAYOUT_4,
        LAYOUT_5,
        LAYOUT_5_NS3,
        parse_symvers,
    )
    from tests.synthetic import symvers_row

    name = {"3": LAYOUT_3, "4": LAYOUT_4, "5-ns3": LAYOUT_5_NS3, "5": LAYOUT_5}[layout]
    real = parse_symvers(Path(installed_kernel.symvers_path).read_text(), "real")
    data = ("\n".join(symvers_row(e, name) for e in real.entries) + "\n").encode()
    parsed = parse_symvers_c(data)
    assert parsed is not None
    columns, counts = parsed
    assert (columns, max(counts, key=counts.__getitem__)) == python_symvers(data, "x")
    assert len(columns.names) == len(real.entries) > 20000


@pytest.mark.parametrize("layout", ["3", "4", "5-ns3", "5"])
def test_synthetic_symvers_in_c_matches_python_in_every_layout(layout: str) -> None:
    """A synthetic Module.symvers (GPL-only and namespaced rows, vmlinux and module paths) written
    in each historical layout: the hermetic counterpart of the real Debian file's test above."""
    from kmodtui.core.symvers.parse import LAYOUT_3, LAYOUT_4, LAYOUT_5, LAYOUT_5_NS3
    from tests.synthetic import symvers_entries, symvers_row

    name = {"3": LAYOUT_3, "4": LAYOUT_4, "5-ns3": LAYOUT_5_NS3, "5": LAYOUT_5}[layout]
    entries = symvers_entries(4_000, gpl_every=3, namespace_every=11) + \
        symvers_entries(1_000, prefix="mod_sym", module="drivers/net/kmodtui_net", gpl_every=2, namespace_every=5,
                        namespace="KMODTUI_NET", start=4_000)
    data = ("\n".join(symvers_row(e, name) for e in entries) + "\n").encode()
    parsed = parse_symvers_c(data)
    assert parsed is not None
    columns, counts = parsed
    assert (columns, max(counts, key=counts.__getitem__)) == python_symvers(data, "x")
    assert len(columns.names) == len(entries)


def test_mutated_symvers_read_the_same_or_go_to_python(installed_kernel) -> None:
    lines = Path(installed_kernel.symvers_path).read_bytes().splitlines(keepends=True)[:60]
    _mutated_symvers_read_the_same_or_go_to_python(b"".join(lines), 400)


def test_mutated_synthetic_symvers_read_the_same_or_go_to_python() -> None:
    """The same on 60 synthetic rows (GPL-only, namespaced, module paths): hermetic, and in the quick
    tier with a quarter of the examples."""
    from tests.synthetic import symvers_entries, symvers_row

    entries = symvers_entries(40, gpl_every=3, namespace_every=4) + \
        symvers_entries(20, module="drivers/x/kmodtui_x", gpl_every=2, namespace_every=3, start=40)
    _mutated_symvers_read_the_same_or_go_to_python("".join(symvers_row(e) + "\n" for e in entries).encode(), 100)


def _mutated_symvers_read_the_same_or_go_to_python(seed: bytes, examples: int) -> None:
    @settings(max_examples=int(os.environ.get("KSCAN_EXAMPLES", examples)), deadline=None,
              suppress_health_check=list(HealthCheck), database=None)
    @given(st.lists(st.tuples(st.integers(0, 1 << 20), st.sampled_from(list(b"\t\n 0xX_GPLEXPORT_aF\x00\x85\r"))),
                    max_size=8),
           st.one_of(st.none(), st.integers(0, 1 << 20)))
    def run(edits: list[tuple[int, int]], cut: int | None) -> None:
        buf = bytearray(seed)
        for position, value in edits:
            buf[position % len(buf)] = value
        if cut is not None:
            buf = buf[: cut % (len(buf) + 1)]
        data = bytes(buf)
        parsed = parse_symvers_c(data)
        if parsed is not None:
            columns, counts = parsed
            assert (columns, max(counts, key=counts.__getitem__)) == python_symvers(data, "x")

    run()
