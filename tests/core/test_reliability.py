"""Untrusted input is only read, never run; edits survive a crash; one kmodtui per source."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from kmodtui.core.build.locks import SourceLock
from kmodtui.core.errors import KmodError
from kmodtui.core.packages.archive import extract_package
from kmodtui.core.packages.safewrite import SafeWriter
from tests.core.test_kernels import hostile_deb


def kmodtui(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kmodtui", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})})


def test_dkms_conf_is_parsed_not_executed(tmp_path: Path) -> None:
    marker = tmp_path / "EXECUTED"
    source = tmp_path / "src"
    source.mkdir()
    (source / "Kbuild").write_text("obj-m := evil.o\n")
    (source / "dkms.conf").write_text(
        f'PACKAGE_NAME="evil"\nPACKAGE_VERSION=$(touch {marker}; echo 1)\n'
        f'BUILT_MODULE_NAME[0]=`touch {marker}`\n'
        f'. {tmp_path}/other.conf\n'
        f'post_build() {{ touch {marker}; }}\n'
        f'MAKE[0]="make; touch {marker}"\n'
    )
    result = kmodtui("source", str(source), "--json")
    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout)
    assert info["name"] == "evil" and len(info["build_time_only"]) >= 3
    assert not marker.exists()


def test_spec_shell_macros_are_not_run_by_a_remedy_preview(tmp_path: Path) -> None:
    marker = tmp_path / "EXECUTED"
    spec = tmp_path / "evil.spec"
    spec.write_text(f"Name: evil\n%global x %(touch {marker})\nVersion: %{{x}}1\n%prep\n%build\n%(touch {marker})\n")
    result = kmodtui("remedy", "show", "spec-external-depgen", "--target", str(spec))
    assert result.returncode == 0, result.stderr
    assert not marker.exists()


@pytest.mark.parametrize("point", ["after-backups", "before-rename", "after-first-write"])
def test_a_crash_mid_apply_leaves_the_original_or_the_new_file_and_a_backup(point: str, tmp_path: Path) -> None:
    spec = tmp_path / "p.spec"
    original = b"Name: p\n%prep\n"
    spec.write_bytes(original)
    state = tmp_path / "state"
    result = kmodtui("remedy", "apply", "spec-external-depgen", "--target", str(spec), "--yes",
                     env={"KMODTUI_CRASH_AT": point, "KMODTUI_STATE_DIR": str(state)})
    assert result.returncode == -9  # killed, as by a power cut
    content = spec.read_bytes()
    assert content == original or (b"_use_internal_dependency_generator 0" in content and content.endswith(b"%prep\n"))
    backups = list((state / "remedies").glob("*/0.orig"))
    assert [b.read_bytes() for b in backups] == [original]


def test_a_second_kmodtui_on_the_same_source_says_who_holds_it(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("KMODTUI_STATE_DIR", str(tmp_path / "state"))
    spec = tmp_path / "p.spec"
    spec.write_text("Name: p\n%prep\n")
    with SourceLock(str(tmp_path), "kbuild build for 6.1.0-56-amd64"):
        result = kmodtui("remedy", "apply", "spec-external-depgen", "--target", str(spec), "--yes",
                         env={"KMODTUI_STATE_DIR": str(tmp_path / "state")})
    assert result.returncode == 2
    assert f"pid {os.getpid()}" in result.stderr and "kbuild build for 6.1.0-56-amd64" in result.stderr
    assert spec.read_text() == "Name: p\n%prep\n"
    again = kmodtui("remedy", "apply", "spec-external-depgen", "--target", str(spec), "--yes",
                    env={"KMODTUI_STATE_DIR": str(tmp_path / "state")})
    assert again.returncode == 0  # the lock went with its holder


def test_hardlink_out_of_the_archive_is_not_followed(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("outside")
    link = tarfile.TarInfo("./usr/link")
    link.type, link.linkname = tarfile.LNKTYPE, "../../secret"
    deb = hostile_deb(tmp_path / "hard.deb", [link])
    with pytest.raises(KmodError, match=r"\.\."):
        extract_package(deb, tmp_path / "out")
    absolute = tarfile.TarInfo("./usr/link2")
    absolute.type, absolute.linkname = tarfile.LNKTYPE, str(secret)
    result = extract_package(hostile_deb(tmp_path / "hard2.deb", [absolute]), tmp_path / "out2")
    assert any("hard link" in s for s in result.skipped)
    assert secret.read_text() == "outside"


def test_size_and_count_bombs_are_refused(tmp_path: Path) -> None:
    writer = SafeWriter(tmp_path / "out", "bomb.deb", max_bytes=1024 * 1024, max_members=100)
    with pytest.raises(KmodError, match="more than 1048576 bytes"):
        writer.add_file("big", io.BytesIO(b"\0" * (2 * 1024 * 1024)))
    writer = SafeWriter(tmp_path / "out2", "many.deb", max_bytes=1 << 30, max_members=100)
    with pytest.raises(KmodError, match="more than 100 members"):
        for i in range(200):
            writer.add_file(f"f{i}", io.BytesIO(b"x"))
    # nothing was left larger than the cap
    assert all(p.stat().st_size <= 1024 * 1024 for p in (tmp_path / "out").rglob("*") if p.is_file())


def test_json_input_that_is_not_an_object_is_ignored(tmp_path: Path) -> None:
    from kmodtui.core.build.record import read_status

    for content in (b"[1, 2]", b"\"text\"", b"{" * 5000, b"\xff\xfe"):
        (tmp_path / "status.json").write_bytes(content)
        assert read_status(str(tmp_path)) is None
