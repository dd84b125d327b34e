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


def write_status(path: str, **fields: Any) -> dict[str, Any]:
    status = read_status(path) or {}
    status.update(fields)
    tmp = os.path.join(path, f".status.{os.getpid()}.tmp")
    with open(tmp, "w") as f:
        json.dump(status, f, indent=2)
    os.replace(tmp, os.path.join(path, "status.json"))
    return status


def read_status(path: str) -> dict[str, Any] | None:
    try:
        with open(os.path.join(path, "status.json"), encoding="utf-8", errors="replace") as f:
            data = json.load(f)
    except (OSError, ValueError, RecursionError):
        return None
    return data if isinstance(data, dict) else None


def _alive(pid: int | None, build_id: str) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # Guard against a reused PID: the runner is a kmodtui process.
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return b"kmodtui" in f.read()
    except OSError:
        return True


def list_builds() -> list[dict[str, Any]]:
    """Every recorded build, newest first; a 'running' build whose runner is gone is 'died'."""
    root = builds_dir()
    if not os.path.isdir(root):
        return []
    records = []
    for build_id in sorted(os.listdir(root), reverse=True):
        path = os.path.join(root, build_id)
        status = read_status(path)
        if status is None:
            continue
        if status.get("state") == RUNNING and not _alive(status.get("runner_pid"), build_id):
            status = write_status(path, state=DIED)
        status.setdefault("id", build_id)
        status["dir"] = path
        records.append(status)
    return records
