"""The user's last choices (kernel, and mode per source), kept in the XDG state dir."""

from __future__ import annotations

import json
import os

from kmodtui.core.paths import state_dir, write_cache_file


def _path() -> str:
    return os.path.join(state_dir(), "choices.json")


def load_choices() -> dict:
    try:
        with open(_path()) as f:
            data = json.load(f)
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def remember(key: str, value: str) -> None:
    data = load_choices()
    data[key] = value
    write_cache_file(_path(), json.dumps(data, indent=2).encode())
