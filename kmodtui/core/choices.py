"""The user's last choices (kernel, and mode per source), kept in the XDG state dir."""

from __future__ import annotations

import json
import os

from kmodtui.core.paths import state_dir


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
    try:
        os.makedirs(state_dir(), exist_ok=True)
        tmp = _path() + f".{os.getpid()}.tmp"
        with open(tmp, "w") as f:
            json.dump(data, f, indent=2)
        os.replace(tmp, _path())
    except OSError:
        pass  # remembering is a convenience; a read-only home must not stop the wizard
