"""__versions layouts no kernel on this machine produces: Ubuntu's variable-length records (its kernels
from 23.04 carried a patch for symbol names longer than 55 bytes: packed {u32 next; u32 crc; char
name[]}, names NUL-padded to 4 bytes, a zero `next` at the end) and Linux 6.14+'s extended arrays
beside the classic records. These objects are made by the real assembler from the layouts those
patches emit; kmodtui's two readers (C and Python) must read what the loader would. Linux 7.2's own
modpost making the extended arrays is tested in the unstable chroot (test_chroot_builds)."""

from __future__ import annotations

from pathlib import Path

import pytest

from kmodtui.core.elf import kscan
from kmodtui.core.elf.module import read_module, read_module_symbols
from tests.synthetic import assemble_module

LONG = "kmodtui_a_symbol_name_longer_than_the_fifty_six_bytes_a_basic_record_holds"
VERSIONS = [("_printk", 0x92997ED8), ("kobject_del", 0xCFDC6A26), ("device_destroy", 0x922EB28C),
            ("of_property_read_variable_u32_array", 0x6DB6322E), ("module_layout", 0xE6596491)]


def _both_readers(ko: Path) -> list[tuple[str, int]]:
    python = [(n.name, n.crc) for n in read_module(ko).needs]
    if kscan.available():
        c = kscan.scan_bytes(str(ko), ko.read_bytes())
        assert c is not None and c.needs == read_module_symbols(str(ko)).needs
    return python


@pytest.mark.parametrize("bits", [32, 64])
def test_ubuntu_variable_length_records_are_walked_as_its_loader_walks_them(tmp_path: Path, bits: int) -> None:
    versions = [*VERSIONS, (LONG, 0xC068FAA2)]
    ko = assemble_module(tmp_path, "ubuntu", bits=bits, versions=versions, layout="ubuntu",
                         undefined=[name for name, _ in versions if name != "module_layout"])
    assert _both_readers(ko) == versions


def test_extended_arrays_win_over_the_basic_records_as_in_the_loader(tmp_path: Path) -> None:
    """With CONFIG_EXTENDED_MODVERSIONS the loader checks __version_ext_*; the basic __versions
    (CONFIG_BASIC_MODVERSIONS) lacks names of 56 bytes or more."""
    versions = [*VERSIONS, (LONG, 0xC068FAA2)]
    ko = assemble_module(tmp_path, "extended", bits=64, versions=versions, layout="extended",
                         undefined=[name for name, _ in versions if name != "module_layout"])
    assert _both_readers(ko) == versions


def test_a_versions_section_of_no_known_shape_is_ignored_as_depmod_does(tmp_path: Path) -> None:
    ko = assemble_module(tmp_path, "odd", bits=64, versions=VERSIONS[:1], layout="ubuntu")
    raw = bytearray(ko.read_bytes())
    at = raw.find(b"_printk\0") - 8
    raw[at : at + 4] = (7).to_bytes(4, "little")  # a `next` that is not a multiple of 4
    ko.write_bytes(bytes(raw))
    assert _both_readers(ko) == []
