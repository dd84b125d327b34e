"""Where kmodtui keeps its files (XDG dirs; overridable for tests and sandboxes)."""

from __future__ import annotations

import os


def _xdg(variable: str, default: str) -> str:
    """The XDG Base Directory rule: the variable if it holds an absolute path, else the default.
    Written out rather than imported from platformdirs (which kmodtui used before): that import
    cost ~10 ms of every command's start-up, and kmodtui only runs on Linux."""
    base = os.environ.get(variable, "")
    if not os.path.isabs(base):
        base = os.path.expanduser(default)
    return os.path.join(base, "kmodtui")


def cache_dir() -> str:
    return os.environ.get("KMODTUI_CACHE_DIR") or _xdg("XDG_CACHE_HOME", "~/.cache")


def state_dir() -> str:
    return os.environ.get("KMODTUI_STATE_DIR") or _xdg("XDG_STATE_HOME", "~/.local/state")


def write_cache_file(path: str, data: bytes) -> None:
    """Best-effort write of a cache or convenience file, atomically (temp + rename): a read-only
    cache or state dir only makes kmodtui slower or forgetful, never stops it."""
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = f"{path}.{os.getpid()}.tmp"
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except OSError:
        pass


def package_data(*parts: str) -> str:
    """A file shipped inside the kmodtui package (demo data, example modules)."""
    return os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), *parts)
