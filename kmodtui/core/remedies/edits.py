"""Apply and undo file edits safely: never system files, a backup first, atomic replace,
a precondition check (the file is still what the preview showed), and a byte-for-byte undo."""

from __future__ import annotations

import difflib
import hashlib
import json
import os
import signal
import time
from dataclasses import dataclass
from typing import Any

from kmodtui.core.build.locks import SourceLock
from kmodtui.core.errors import KmodError
from kmodtui.core.paths import state_dir
from kmodtui.core.remedies.editable import (  # noqa: F401 (check_editable, is_system_path: this module's API too)
    check_editable,
    check_target,
    created_by_kmodtui,
    is_system_path,
    package_owner,
)


@dataclass(frozen=True)
class FileEdit:
    path: str
    before: bytes
    after: bytes
    create: bool = False  # a new file: it must not exist yet; undo removes it
    mode: int = 0o644  # for a new file
    def diff(self) -> str:
        try:
            a = self.before.decode("utf-8").splitlines(keepends=True)
            b = self.after.decode("utf-8").splitlines(keepends=True)
        except UnicodeDecodeError:
            return f"--- {self.path}\n+++ {self.path}\n(binary file: {len(self.before)} -> {len(self.after)} bytes)\n"
        name = self.path.lstrip("/")
        return "".join(difflib.unified_diff(a, b, f"a/{name}", f"b/{name}"))


def remedies_dir() -> str:
    return os.path.join(state_dir(), "remedies")


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _write_atomically(path: str, data: bytes, mode: int | None = None) -> None:
    if mode is None:
        mode = os.stat(path).st_mode & 0o7777 if os.path.exists(path) else 0o644
    tmp = f"{path}.kmodtui-{os.getpid()}.tmp"
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.chmod(tmp, mode)
    _crash_point("before-rename")
    os.replace(tmp, path)


def _crash_point(name: str) -> None:
    """Fault injection for tests/core/test_reliability.py: die here, as a power cut or kill -9 would."""
    if os.environ.get("KMODTUI_CRASH_AT") == name:
        os.kill(os.getpid(), signal.SIGKILL)


def apply_edits(remedy_id: str, edits: list[FileEdit]) -> str:
    """Apply all edits or none, each to a file the remedy may edit (editable.check_target: the hook
    and the follow timer may create their files in /etc). Returns the undo id."""
    folders = sorted({os.path.dirname(os.path.abspath(e.path)) for e in edits})
    locks = [SourceLock(folder, f"remedy {remedy_id}") for folder in folders]
    for lock in locks:
        lock.__enter__()
    try:
        return _apply_locked(remedy_id, edits)
    finally:
        for lock in reversed(locks):
            lock.__exit__(None, None, None)


def _write_manifest(record: str, manifest: dict) -> None:
    """manifest.json replaced atomically (temp, fsync, rename): a crash leaves the old or the new one."""
    tmp = os.path.join(record, f".manifest.{os.getpid()}.tmp")
    with open(tmp, "w") as f:
        json.dump(manifest, f, indent=2)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, os.path.join(record, "manifest.json"))


def _apply_locked(remedy_id: str, edits: list[FileEdit]) -> str:
    recover_interrupted()
    # A link is edited at its target (the link itself stays a link).
    edits = [FileEdit(os.path.realpath(e.path), e.before, e.after, e.create, e.mode) if not e.create else e
             for e in edits]
    for edit in edits:
        if edit.create:
            os.makedirs(os.path.dirname(os.path.abspath(edit.path)), exist_ok=True)
        check_target(remedy_id, edit.path, edit.create)
        if edit.create:
            if os.path.lexists(edit.path):
                raise KmodError(edit.path, "already exists; kmodtui does not overwrite it (nothing was changed)")
            continue
        with open(edit.path, "rb") as f:
            current = f.read()
        if current != edit.before:
            raise KmodError(edit.path, "changed since the remedy was previewed; preview it again (nothing was changed)")
    undo_id = f"{time.strftime('%Y%m%d-%H%M%S')}-{remedy_id}-{os.getpid()}"
    record = os.path.join(remedies_dir(), undo_id)
    os.makedirs(record)
    # "pending" until every file is written: a crash in between leaves a record that the next run
    # settles by looking at the files (recover_interrupted), never a phantom "applied".
    manifest: dict[str, Any] = {"remedy": remedy_id, "applied": time.time(), "state": "pending", "pid": os.getpid(), "files": []}
    # Backups first, all of them, before touching anything.
    for index, edit in enumerate(edits):
        backup = os.path.join(record, f"{index}.orig")
        with open(backup, "wb") as f:
            f.write(edit.before)
        manifest["files"].append({"path": os.path.abspath(edit.path), "backup": backup, "created": edit.create,
                                  "before_sha256": _sha(edit.before), "after_sha256": _sha(edit.after)})
    _write_manifest(record, manifest)
    _crash_point("after-backups")
    for edit in edits:
        _write_atomically(edit.path, edit.after, edit.mode if edit.create else None)
        _crash_point("after-first-write")
    manifest["state"] = "applied"
    _write_manifest(record, manifest)
    return undo_id


def undo(undo_id: str) -> list[str]:
    """Restore the files a remedy changed, byte for byte. The manifest is not trusted: every file
    must be one its remedy may write (the same checks as apply), the backup the one in its own
    record with the digest of the original, the file itself what kmodtui wrote (and, for a file
    kmodtui created, still beginning as kmodtui wrote it). All of it is checked before any file
    is touched; anything else refuses, naming the file."""
    recover_interrupted()
    record = os.path.join(remedies_dir(), undo_id)
    manifest = read_manifest(record) if os.path.basename(undo_id) == undo_id else None
    if manifest is None:
        raise KmodError(undo_id, "no such applied remedy (see `kmodtui remedy history`)") from None
    if manifest.get("undone"):
        raise KmodError(undo_id, "was already undone")
    partial = manifest.get("state") == "partial"  # interrupted: some files were never written
    remedy = manifest.get("remedy", "")
    todo: list[tuple[dict, bytes]] = []
    for index, entry in enumerate(manifest["files"]):
        backup = _check_entry(remedy, record, index, entry)
        current = _read_or_none(entry["path"])
        digest = None if current is None else _sha(current)
        if partial and (digest == entry["before_sha256"] or (entry.get("created") and current is None)):
            continue  # this one was never changed
        if digest != entry["after_sha256"] or (entry.get("created") and not created_by_kmodtui(remedy, current or b"")):
            raise KmodError(entry["path"], "changed since the remedy was applied; not undoing (backup kept at "
                                           f"{entry['backup']})")
        with open(backup, "rb") as f:
            original = f.read()
        if _sha(original) != entry["before_sha256"] or (entry.get("created") and original):
            raise KmodError(entry["backup"], "backup is damaged; restore it by hand (nothing was changed)")
        todo.append((entry, original))
    restored = []
    for entry, original in todo:
        if entry.get("created"):
            os.unlink(entry["path"])
        else:
            _write_atomically(entry["path"], original)
        restored.append(entry["path"])
    manifest["undone"] = time.time()
    _write_manifest(record, manifest)
    if remedy == "hook-install":
        from kmodtui.core.remedies.hookrun import uninstall_all

        for path in restored:  # the hook's undo removes what its runs installed into that root too
            root = path.split(os.sep + os.path.join("etc", "kernel") + os.sep, 1)[0] or os.sep
            problems = uninstall_all(root)
            problems += _lift_gate(root)
            if problems:
                raise KmodError(path, "hook removed, but not everything it installed: " + "; ".join(problems))
    return restored


def _lift_gate(root: str) -> list[str]:
    """A removed hook holds no kernel back: its gate lifts (the default as it was before kmodtui)."""
    from kmodtui.core.remedies.gate import lift, read_state

    if not read_state(root).get("engaged"):
        return []
    try:
        lift(root, "the kernel hook was removed")
    except KmodError as err:
        return [f"the kernel gate could not be lifted: {err}"]
    return []


def _check_entry(remedy: str, record: str, index: int, entry: dict) -> str:
    """One manifest entry, as apply would have written it: an absolute path (a link's target, as
    apply edits it) the remedy may write, and its backup `<index>.orig` in the record itself (the
    path returned: it is read from there, whatever the manifest says)."""
    path = entry["path"]
    created = entry.get("created") is True
    if not os.path.isabs(path) or os.path.realpath(path) != os.path.join(os.path.realpath(os.path.dirname(path)),
                                                                         os.path.basename(path)) \
            or (not created and os.path.realpath(path) != path):
        raise KmodError(path, "is not a path kmodtui writes in a manifest (absolute, links resolved); refusing "
                              "to touch it")
    check_target(remedy, path, created)
    backup = os.path.join(record, f"{index}.orig")
    if os.path.realpath(entry["backup"]) != os.path.realpath(backup) or os.path.islink(backup) \
            or not os.path.isfile(backup):
        raise KmodError(entry["backup"], f"is not the backup kmodtui keeps for {path} ({backup}); refusing to "
                                         "restore from it")
    return backup


def _read_or_none(path: str) -> bytes | None:
    try:
        with open(path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        return None


def history() -> list[dict]:
    root = remedies_dir()
    if not os.path.isdir(root):
        return []
    recover_interrupted()
    out = []
    for undo_id in sorted(os.listdir(root), reverse=True):
        manifest = read_manifest(os.path.join(root, undo_id))
        if manifest is None:
            continue
        out.append({"id": undo_id, "remedy": manifest.get("remedy"), "files": [e["path"] for e in manifest["files"]],
                    "undone": bool(manifest.get("undone"))})
    return out


def find_application(ref: str = "", target: str = "") -> str:
    """The applied remedy to undo, as people name it: an application id (what `apply` printed), a
    remedy id with --target (its last application on that file), a remedy id alone (its last
    application), or nothing (the last remedy applied). Undone applications are skipped."""
    records = history()  # newest first
    if ref and any(r["id"] == ref for r in records):
        return ref
    live = [r for r in records if not r["undone"]]
    wanted = os.path.realpath(target) if target else ""
    for record in live:
        if ref and record["remedy"] != ref:
            continue
        if wanted and wanted not in (os.path.realpath(f) for f in record["files"]):
            continue
        return str(record["id"])
    what = " ".join(x for x in (ref and f"remedy {ref}", target and f"on {target}") if x) or "remedy"
    raise KmodError(ref or target or "remedy", f"no applied {what} to undo (see `kmodtui remedy history`)")


def read_manifest(record: str) -> dict | None:
    """A remedy record's manifest, or None when it is missing, not JSON or of the wrong shape."""
    try:
        with open(os.path.join(record, "manifest.json"), encoding="utf-8", errors="replace") as f:
            manifest = json.load(f)
    except (OSError, ValueError, RecursionError):
        return None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("files"), list):
        return None
    keys = {"path": str, "backup": str, "before_sha256": str, "after_sha256": str}
    for entry in manifest["files"]:
        if not isinstance(entry, dict) or not all(isinstance(entry.get(k), t) for k, t in keys.items()):
            return None
    if not isinstance(manifest.get("remedy", ""), str):
        return None
    return manifest


def _pid_alive(pid: object) -> bool:
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def recover_interrupted() -> None:
    """Settle what an interrupted apply left (kill -9, power cut): a record still "pending" whose
    process is gone becomes "applied" if its files hold the new content, is removed if none was
    written (no phantom in the history), and stays undoable if only some were; the temp files
    its writes left beside the edited files are removed."""
    root = remedies_dir()
    if not os.path.isdir(root):
        return
    for undo_id in os.listdir(root):
        record = os.path.join(root, undo_id)
        manifest = read_manifest(record)
        if manifest is None or manifest.get("state") != "pending" or _pid_alive(manifest.get("pid")):
            continue
        written = 0
        pid = manifest.get("pid")
        for index, entry in enumerate(manifest["files"]):
            path = entry["path"]
            try:  # the temp file is removed only beside a file this remedy could have written
                _check_entry(manifest.get("remedy", ""), record, index, entry)
                if isinstance(pid, int) and not isinstance(pid, bool):
                    os.unlink(f"{path}.kmodtui-{pid}.tmp")
            except (KmodError, OSError):
                pass
            try:
                with open(path, "rb") as f:
                    current = _sha(f.read())
            except OSError:
                current = None
            if current == entry["after_sha256"] and not (entry.get("created") is False and
                                                          entry["after_sha256"] == entry["before_sha256"]):
                written += 1
        if written == 0:
            from kmodtui.core.trees import remove_tree

            remove_tree(record)
        else:
            manifest["state"] = "applied" if written == len(manifest["files"]) else "partial"
            _write_manifest(record, manifest)
