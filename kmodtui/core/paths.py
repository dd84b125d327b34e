"""Where kmodtui keeps its files (XDG dirs; overridable for tests and sandboxes)."""

from __future__ import annotations

import os

import platformdirs


def cache_dir() -> str:
    return os.environ.get("KMODTUI_CACHE_DIR") or platformdirs.user_cache_dir("kmodtui")


def state_dir() -> str:
    return os.environ.get("KMODTUI_STATE_DIR") or platformdirs.user_state_dir("kmodtui")


def package_data(*parts: str) -> str:
    """A file shipped inside the kmodtui package (demo data, example modules)."""
    return os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), *parts)
