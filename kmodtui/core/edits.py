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

from kmodtui.core.errors import KmodError
from kmodtui.core.locks import SourceLock
from kmodtui.core.paths import state_dir

# Files kmodtui must never edit (seed 000's advice edits /usr/lib/rpm/redhat/*: we offer the
# equivalent in the user's own spec instead).
SYSTEM_PREFIXES = ("/usr/lib/", "/usr/share/", "/usr/bin/", "/usr/sbin/", "/usr/include/", "/etc/", "/boot/",
                   "/lib/", "/lib64/", "/bin/", "/sbin/", "/var/lib/dpkg/", "/var/lib/rpm/", "/proc/", "/sys/",
                   "/usr/src/kernels/", "/usr/src/linux-headers-")


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


def is_system_path(path: str) -> bool:
    real = os.path.realpath(path)
    return any(real.startswith(prefix) or real + "/" == prefix for prefix in SYSTEM_PREFIXES)


# The one system folder kmodtui writes to, and only when asked (`kmodtui hook install`): kernel
# postinst hooks.
HOOK_DIRS = ("/etc/kernel/postinst.d/", "/etc/kernel/install.d/")


def check_editable(path: str, allow_hooks: bool = False) -> None:
    real = os.path.realpath(path)
    hook = allow_hooks and any(real.startswith(d) for d in HOOK_DIRS)
    if is_system_path(path) and not hook:
        raise KmodError(path, "is a system file; kmodtui never edits system files (it edits your project's "
                              "own files instead)")
    directory = os.path.dirname(os.path.abspath(path)) or "."
    if (os.path.exists(path) and not os.access(path, os.W_OK)) or not os.access(directory, os.W_OK):
        raise KmodError(path, "is read-only (or its folder is): nothing was changed"
                              + (" (writing here needs root: run with sudo)" if os.geteuid() != 0 else ""))


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


def apply_edits(remedy_id: str, edits: list[FileEdit], allow_hooks: bool = False) -> str:
    """Apply all edits or none. Returns the undo id."""
    folders = sorted({os.path.dirname(os.path.abspath(e.path)) for e in edits})
    locks = [SourceLock(folder, f"remedy {remedy_id}") for folder in folders]
    for lock in locks:
        lock.__enter__()
    try:
        return _apply_locked(remedy_id, edits, allow_hooks)
    finally:
        for lock in reversed(locks):
            lock.__exit__(None, None, None)


def _apply_locked(remedy_id: str, edits: list[FileEdit], allow_hooks: bool) -> str:
    for edit in edits:
        if edit.create:
            os.makedirs(os.path.dirname(os.path.abspath(edit.path)), exist_ok=True)
        check_editable(edit.path, allow_hooks)
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
    manifest = {"remedy": remedy_id, "applied": time.time(), "files": []}
    # Backups first, all of them, before touching anything.
    for index, edit in enumerate(edits):
        backup = os.path.join(record, f"{index}.orig")
        with open(backup, "wb") as f:
            f.write(edit.before)
        manifest["files"].append({"path": os.path.abspath(edit.path), "backup": backup, "created": edit.create,
                                  "before_sha256": _sha(edit.before), "after_sha256": _sha(edit.after)})
    with open(os.path.join(record, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=2)
    _crash_point("after-backups")
    for edit in edits:
        _write_atomically(edit.path, edit.after, edit.mode if edit.create else None)
        _crash_point("after-first-write")
    return undo_id


def undo(undo_id: str) -> list[str]:
    """Restore the files a remedy changed, byte for byte; refuses if they changed since."""
    record = os.path.join(remedies_dir(), undo_id)
    try:
        with open(os.path.join(record, "manifest.json")) as f:
            manifest = json.load(f)
    except (OSError, ValueError):
        raise KmodError(undo_id, "no such applied remedy (see `kmodtui remedy history`)") from None
    if manifest.get("undone"):
        raise KmodError(undo_id, "was already undone")
    for entry in manifest["files"]:
        with open(entry["path"], "rb") as f:
            if _sha(f.read()) != entry["after_sha256"]:
                raise KmodError(entry["path"], "changed since the remedy was applied; not undoing (backup kept at "
                                               f"{entry['backup']})")
    restored = []
    for entry in manifest["files"]:
        if entry.get("created"):
            os.unlink(entry["path"])
            restored.append(entry["path"])
            continue
        with open(entry["backup"], "rb") as f:
            original = f.read()
        if _sha(original) != entry["before_sha256"]:
            raise KmodError(entry["backup"], "backup is damaged; restore it by hand")
        _write_atomically(entry["path"], original)
        restored.append(entry["path"])
    manifest["undone"] = time.time()
    with open(os.path.join(record, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=2)
    return restored


def history() -> list[dict]:
    root = remedies_dir()
    if not os.path.isdir(root):
        return []
    out = []
    for undo_id in sorted(os.listdir(root), reverse=True):
        try:
            with open(os.path.join(root, undo_id, "manifest.json")) as f:
                manifest = json.load(f)
        except (OSError, ValueError):
            continue
        out.append({"id": undo_id, "remedy": manifest.get("remedy"), "files": [e["path"] for e in manifest["files"]],
                    "undone": bool(manifest.get("undone"))})
    return out
