"""kmodtui's own tar reader (packages/tarstream.py) against GNU tar and dpkg-deb on the same archives:
every format GNU tar writes (gnu, posix/pax, ustar, v7), long names and link targets, hard links,
non-ASCII names; and the lies it must refuse in one line."""

from __future__ import annotations

import io
import os
import random
import subprocess
import tarfile
from pathlib import Path

import pytest

from kmodtui.core.errors import KmodError
from kmodtui.core.packages.tarstream import MAX_EXTENSIONS, tar_members
from tests.metabombs import END, extension_chain, file_member, lying_numbers, many_pax_records
from tests.realtools import require_tool, run_ok


def make_tree(top: Path, long_names: bool) -> None:
    deep = top / "src" / ("n" * 90 if long_names else "n") / ("m" * 90 if long_names else "m")
    deep.mkdir(parents=True)
    (deep / "Makefile").write_text("obj-m += x.o\n")
    (top / "src" / "x.c").write_bytes(b"int x;\n" * 300)
    (top / "src" / "empty").write_bytes(b"")
    (top / "src" / "caf\u00e9.h").write_text("#define CAFE 1\n")
    os.symlink("n" * 90 + "/" + "m" * 90 + "/Makefile" if long_names else "n/m/Makefile", top / "src" / "Makefile")
    os.link(top / "src" / "x.c", top / "src" / "x-again.c")
    (top / "src" / "emptydir").mkdir()


def tar_listing(archive: Path) -> list[str]:
    """What GNU tar lists, in order, with its own quoting turned off."""
    out = run_ok([require_tool("tar"), "--list", "--quoting-style=literal", "-f", str(archive)]).stdout
    return [line.rstrip("/") for line in out.splitlines()]


@pytest.mark.parametrize("tar_format", ["gnu", "posix", "ustar", "v7"])
def test_reads_what_gnu_tar_writes(tar_format: str, tmp_path: Path) -> None:
    long_names = tar_format in ("gnu", "posix")
    make_tree(tmp_path / "tree", long_names)
    archive = tmp_path / "a.tar"
    run_ok([require_tool("tar"), f"--format={tar_format}", "-C", str(tmp_path / "tree"), "-cf", str(archive), "src"])
    members = []
    with archive.open("rb") as f:
        for member, body in tar_members(f, str(archive)):
            members.append((member.name, member.kind, member.size, member.linkname, member.mode, member.mtime,
                            body.read()))
    assert [m[0] for m in members] == tar_listing(archive)
    with tarfile.open(archive) as reference:  # Python's reader, on a trusted archive, as a second opinion
        expected = [(m.name, m.size if m.isreg() else 0, m.linkname, m.mode, int(m.mtime),  # pax: subseconds
                     reference.extractfile(m).read() if m.isreg() else b"") for m in reference]
    assert [(m[0], m[2], m[3], m[4], m[5], m[6]) for m in members] == expected
    kinds = {name: kind for name, kind, *_ in members}
    assert kinds["src/Makefile"] == "symlink" and kinds["src/x-again.c"] == "hardlink"
    assert kinds["src/emptydir"] == "dir" and kinds["src/caf\u00e9.h"] == "file"


def test_reads_what_dpkg_deb_writes(tmp_path: Path) -> None:
    make_tree(tmp_path / "stage", long_names=True)
    (tmp_path / "stage" / "DEBIAN").mkdir()
    (tmp_path / "stage" / "DEBIAN" / "control").write_text(
        "Package: t\nVersion: 1\nArchitecture: all\nMaintainer: x <x@example.org>\nDescription: x\n")
    deb = tmp_path / "t.deb"
    run_ok([require_tool("dpkg-deb"), "--root-owner-group", "-Znone", "-b", str(tmp_path / "stage"), str(deb)])
    data = subprocess.run([require_tool("dpkg-deb"), "--fsys-tarfile", str(deb)], capture_output=True, check=True).stdout
    (tmp_path / "data.tar").write_bytes(data)
    names = [member.name for member, _ in tar_members(io.BytesIO(data), "data.tar")]
    assert names == tar_listing(tmp_path / "data.tar")


@pytest.mark.parametrize("seed", range(8))
def test_lying_headers_are_refused_in_one_line(seed: int) -> None:
    data = b"".join(lying_numbers(random.Random(seed)))
    with pytest.raises(KmodError) as refused:
        for _member, body in tar_members(io.BytesIO(data), "lie.tar", "data.tar"):
            body.read()
    assert "lie.tar" in str(refused.value) and "\n" not in str(refused.value)


def test_extension_headers_in_a_row_are_bounded() -> None:
    for seed in range(40):
        data = b"".join(extension_chain(random.Random(seed)))
        count = data.count(b"././@Ext")
        try:
            names = [m.name for m, _ in tar_members(io.BytesIO(data), "chain.tar")]
        except KmodError as err:
            assert count > MAX_EXTENSIONS and "in a row" in str(err)
        else:
            assert count <= MAX_EXTENSIONS and len(names) == 1


def test_pax_header_of_many_records_is_refused() -> None:
    for seed in range(6):
        data = b"".join(many_pax_records(random.Random(seed)))
        records = data.count(b"=\n")
        try:
            list(tar_members(io.BytesIO(data), "records.tar"))
        except KmodError as err:
            assert records > 128 and "entries" in str(err)
        else:
            assert records <= 128


def test_truncated_archive_is_one_line() -> None:
    data = file_member("./a", b"x" * 1000) + END
    for cut in (100, 600, 1200):
        with pytest.raises(KmodError, match="ends inside"):
            for _member, body in tar_members(io.BytesIO(data[:cut]), "cut.tar"):
                body.read()
