"""Modules from <= 5.18 kernels (absolute __crc_ symbols) and 32-bit targets (u32 CRC records)."""

from __future__ import annotations

from pathlib import Path

import pytest

from kmodtui.core.elf.module import read_module
from kmodtui.core.model import crc_hex
from tests.core.test_inspect_module import dump_modversions
from tests.realtools import require_tool, run
from tests.synthetic import assemble_module

RELEASE = "5.10.0-kmodtui"


def depmod_warnings(root: Path, symvers: Path) -> list[str]:
    confdir = root / "depmod.d"
    confdir.mkdir(exist_ok=True)
    moddir = root / "lib" / "modules" / RELEASE
    for name in ("modules.order", "modules.builtin", "modules.builtin.modinfo"):
        (moddir / name).write_text("")
    result = run([require_tool("depmod"), "-b", str(root), "-C", str(confdir), "-e", "-E", str(symvers), "-n", RELEASE])
    return [line for line in result.stderr.splitlines() if "WARNING" in line]


@pytest.mark.parametrize("bits", [32, 64])
def test_versions_records_match_modprobe(tmp_path: Path, bits: int) -> None:
    ko = assemble_module(tmp_path, f"old{bits}", bits=bits,
                         versions=[("module_layout", 0x1234ABCD), ("printk", 0x0ABC1234), ("a_rather_long_symbol_name_for_the_record", 0xFFFFFFFF)],
                         undefined=["printk", "a_rather_long_symbol_name_for_the_record"])
    module = read_module(ko)
    assert module.elf_class == bits
    assert module.machine == ("i686" if bits == 32 else "x86_64")
    assert [(n.name, crc_hex(n.crc)) for n in module.needs] == dump_modversions(ko)


@pytest.mark.parametrize("bits", [32, 64])
def test_absolute_crc_exports_agree_with_depmod(tmp_path: Path, bits: int) -> None:
    """depmod reads the absolute __crc_ value; a needer with the same CRC raises no warning,
    one with another CRC gets 'disagrees about version of symbol'. Our CRC must be depmod's."""
    moddir = tmp_path / "lib" / "modules" / RELEASE / "extra"
    moddir.mkdir(parents=True)
    exporter = assemble_module(moddir, "exporter", bits=bits, versions=[], exports=[("old_fn", 0x5B319F50)])
    exported = {e.name: e.crc for e in read_module(exporter).exports}
    assert set(exported) == {"old_fn"}
    ours = exported["old_fn"]
    assert ours is not None
    assemble_module(moddir, "agrees", bits=bits, versions=[("old_fn", ours)], undefined=["old_fn"])
    assemble_module(moddir, "differs", bits=bits, versions=[("old_fn", ours ^ 0x1)], undefined=["old_fn"])
    symvers = tmp_path / "Module.symvers"
    symvers.write_text("")
    warnings = depmod_warnings(tmp_path, symvers)
    assert any("differs.ko disagrees about version of symbol old_fn" in w for w in warnings), warnings
    assert not any("agrees.ko" in w for w in warnings), warnings
