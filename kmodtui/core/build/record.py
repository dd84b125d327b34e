"""Build records on disk, so a build outlives the terminal that started it: each build has a
folder (XDG state dir) with its plan, its log, written as it streams, and status.json."""

from __future__ import annotations

import json
import os
import secrets
import time
from typing import Any

from kmodtui.core.paths import state_dir

RUNNING, SUCCEEDED, FAILED, CANCELLED, TIMED_OUT, DIED = "running", "succeeded", "failed", "cancelled", "timed out", "died"


def builds_dir() -> str:
    return os.path.join(state_dir(), "builds")


def new_build_dir(label: str) -> tuple[str, str]:
    safe = "".join(c if c.isalnum() or c in "-._" else "_" for c in label)[:60]
    build_id = f"{time.strftime('%Y%m%d-%H%M%S')}-{safe}-{secrets.token_hex(2)}"
    path = os.path.join(builds_dir(), build_id)
    os.makedirs(path, exist_ok=True)
    return build_id, path


# What status.json may hold, by field: a record whose fields have other types is not trusted (a
# hand-edited or damaged file must not break `builds`, nor make the TUI signal a wrong process).
_FIELD_TYPES: dict[str, type | tuple[type, ...]] = {
    "id": str, "state": str, "runner_pid": int, "launcher_pid": int, "kernel": str, "source": str, "mode": str,
    "log": str, "started": (int, float), "ended": (int, float), "exit_code": int, "artifacts": list, "findings": list,
    "primary": dict, "confinement": dict,
}
STATES = (RUNNING, SUCCEEDED, FAILED, CANCELLED, TIMED_OUT, DIED)
STARTING_GRACE = 60.0  # seconds a record may say running before its runner has written its pid


def _lock(path: str) -> int:
    import fcntl

    fd = os.open(os.path.join(path, ".status.lock"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    return fd


def write_status(path: str, **fields: Any) -> dict[str, Any]:
    """Merge fields into status.json: read, update and replace under a lock on the record, so the
    launcher and the runner writing at the same moment cannot lose each other's fields."""
    fd = _lock(path)
    try:
        status = read_status(path) or {}
        status.update(fields)
        tmp = os.path.join(path, f".status.{os.getpid()}.tmp")
        with open(tmp, "w") as f:
            json.dump(status, f, indent=2)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, os.path.join(path, "status.json"))
        return status
    finally:
        os.close(fd)


def read_status(path: str) -> dict[str, Any] | None:
    """status.json, or None when it is missing, not JSON, or holds fields of the wrong type."""
    try:
        with open(os.path.join(path, "status.json"), encoding="utf-8", errors="replace") as f:
            data = json.load(f)
    except (OSError, ValueError, RecursionError):
        return None
    if not isinstance(data, dict):
        return None
    for key, kind in _FIELD_TYPES.items():
        value = data.get(key)
        if value is not None and (not isinstance(value, kind) or isinstance(value, bool)):
            return None
    if data.get("state") not in STATES or any(isinstance(p, int) and p <= 0 for p in
                                               (data.get("runner_pid"), data.get("launcher_pid"))):
        return None
    if not all(isinstance(a, str) for a in data.get("artifacts") or []):
        return None
    if not all(isinstance(f, dict) for f in data.get("findings") or []):
        return None
    return data


def _is_kmodtui(pid: int) -> bool:
    """Is pid a live kmodtui process (not a pid reused by something else)?"""
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
        return False
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            argv = f.read().split(b"\0")
    except OSError:
        return False
    return any(b"kmodtui" in word for word in argv[:4])


def effective_state(status: dict[str, Any]) -> str:
    """The state to show: a 'running' record whose runner is gone is 'died' (shown, not written:
    the runner may still be about to write its own final state)."""
    state = status.get("state", "")
    if state != RUNNING:
        return state
    pid = status.get("runner_pid")
    if pid:
        return RUNNING if _is_kmodtui(pid) else DIED
    launcher = status.get("launcher_pid")
    started = status.get("started") or 0
    if (launcher and _is_kmodtui(launcher)) or time.time() - started < STARTING_GRACE:
        return RUNNING  # being started: the launcher has not written the runner's pid yet
    return DIED


def read_effective(path: str, fallback: dict[str, Any] | None = None) -> tuple[dict[str, Any], str]:
    """status.json and the state to show, consistent with each other. A runner writes its final
    state and then exits: a 'running' record read just before that write, whose runner is found
    gone just after, would look 'died' with no artifacts. Read again in that case: the runner's
    final write, if it made one, is there now."""
    status = read_status(path) or fallback or {}
    state = effective_state(status)
    if state == DIED:
        status = read_status(path) or status
        state = effective_state(status)
    return status, state


def stop(status: dict[str, Any]) -> bool:
    """SIGTERM a build's runner (it stops its whole process group and records 'cancelled'), only
    if the recorded pid is a positive int that is a live kmodtui process. False: nothing signalled."""
    import signal

    pid = status.get("runner_pid")
    if not _is_kmodtui(pid):  # type: ignore[arg-type]
        return False
    try:
        os.kill(pid, signal.SIGTERM)  # type: ignore[arg-type]
    except (ProcessLookupError, PermissionError):
        return False
    return True


def list_builds() -> list[dict[str, Any]]:
    """Every recorded build, newest first; a 'running' build whose runner is gone shows as 'died'.
    Records that are not a kmodtui build's (bad or missing status.json) are left out."""
    root = builds_dir()
    if not os.path.isdir(root):
        return []
    records = []
    for build_id in sorted(os.listdir(root), reverse=True):
        path = os.path.join(root, build_id)
        status = read_status(path)
        if status is None:
            continue
        status["state"] = effective_state(status)
        status.setdefault("id", build_id)
        status["dir"] = path
        records.append(status)
    return records
