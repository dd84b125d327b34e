"""The user's last choices (kernel, and mode per source), kept in the XDG state dir."""

from __future__ import annotations

import json
import os

from kmodtui.core.paths import read_cache_file, state_dir, write_cache_file


def _path() -> str:
    return os.path.join(state_dir(), "choices.json")


def load_choices() -> dict:
    blob = read_cache_file(_path())  # sealed like a cache entry: a damaged file is forgotten, not trusted
    try:
        data = json.loads(bytes(blob)) if blob is not None else {}
    except ValueError:
        return {}
    return {k: v for k, v in data.items() if isinstance(k, str) and isinstance(v, str)} if isinstance(data, dict) else {}


def remember(key: str, value: str) -> None:
    data = load_choices()
    data[key] = value
    write_cache_file(_path(), json.dumps(data, indent=2).encode())
