"""Module.symvers in every historical layout, made by transforming the real Debian file."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from kmodtui.core.errors import KmodError
from kmodtui.core.model import Kernel
from kmodtui.core.symvers.parse import (
    LAYOUT_3,
    LAYOUT_4,
    LAYOUT_5,
    LAYOUT_5_NS3,
    format_symvers_row,
    read_symvers,
)
from tests.realtools import require_tool, run_ok


@pytest.fixture(scope="module")
def debian_symvers(installed_kernel: Kernel):
    assert installed_kernel.symvers_path
    return read_symvers(installed_kernel.symvers_path)


def test_real_debian_symvers_counts_match_awk(installed_kernel: Kernel, debian_symvers) -> None:
    path = installed_kernel.symvers_path
    rows = int(run_ok(["awk", "-F\t", "END {print NR}", path]).stdout)
    vmlinux = int(run_ok(["awk", "-F\t", '$3 == "vmlinux" {n++} END {print n}', path]).stdout)
    namespaced = int(run_ok(["awk", "-F\t", '$5 != "" {n++} END {print n}', path]).stdout)
    assert len(debian_symvers) == rows
    assert len(debian_symvers.vmlinux) == vmlinux
    assert sum(1 for e in debian_symvers.entries if e.namespace) == namespaced
    assert debian_symvers.layout == LAYOUT_5
    assert debian_symvers.problems == ()


@pytest.mark.parametrize("layout", [LAYOUT_3, LAYOUT_4, LAYOUT_5_NS3, LAYOUT_5])
def test_every_layout_reads_back_the_same_rows(tmp_path: Path, debian_symvers, layout: str) -> None:
    path = tmp_path / "Module.symvers"
    path.write_text("\n".join(format_symvers_row(e, layout) for e in debian_symvers.entries) + "\n")
    again = read_symvers(path)
    assert again.layout == layout
    keep_type = layout != LAYOUT_3
    keep_ns = layout in (LAYOUT_5, LAYOUT_5_NS3)
    expected = [
        (e.name, e.crc, e.module, e.export_type if keep_type else "", e.namespace if keep_ns else "")
        for e in debian_symvers.entries
    ]
    assert [(e.name, e.crc, e.module, e.export_type, e.namespace) for e in again.entries] == expected


def test_symvers_gz_like_rhel_boot_symvers(tmp_path: Path, installed_kernel: Kernel, debian_symvers) -> None:
    gz = tmp_path / "symvers-test.gz"
    with open(gz, "wb") as out:
        subprocess.run([require_tool("gzip"), "-c", installed_kernel.symvers_path], stdout=out, check=True)
    assert read_symvers(gz).entries == debian_symvers.entries


def test_junk_lines_are_reported_by_number_and_the_rest_parsed(tmp_path: Path, installed_kernel: Kernel) -> None:
    lines = Path(installed_kernel.symvers_path).read_text().splitlines()[:100]
    lines.insert(10, "this is not a symvers row")
    lines.insert(50, "0xZZZZ\tbad_crc\tvmlinux\tEXPORT_SYMBOL\t")
    path = tmp_path / "Module.symvers"
    path.write_text("\n".join(lines) + "\n")
    symvers = read_symvers(path)
    assert len(symvers) == 100
    assert [p.split(":")[0] for p in symvers.problems] == ["line 11", "line 51"]


def test_a_file_that_is_not_symvers_is_refused(tmp_path: Path, installed_kernel: Kernel) -> None:
    for name, content in (("config", Path(installed_kernel.build_dir, ".config").read_bytes()),
                          ("binary", b"\x7fELF\0\0\0" * 100), ("empty", b"")):
        path = tmp_path / name
        path.write_bytes(content)
        with pytest.raises(KmodError) as err:
            read_symvers(path)
        assert str(path) in str(err.value)
