"""A matrix cell's result, as a CI job left it: the `build --json` lines one build printed.

The file comes from a runner (an artifact anyone with push access can shape), so every field the
report uses is checked for its type before it is used: a wrong one is one line naming the file,
the line and the field, never an internal error in the middle of drawing the report.
"""

from __future__ import annotations

import json
import os
from typing import Any

from kmodtui.core.errors import KmodError

MAX_RESULTS = 64 * 1024 * 1024  # a build's --json output; the biggest real one is a few MB of log lines
# what a cell's outcome can be: a build record's states (build/record.py), and a cell the plan skipped
STATES = ("succeeded", "failed", "skipped", "died", "running", "cancelled", "timed out")
_TEXT_FIELDS = ("source", "kernel", "arch", "mode", "state", "log")
_KINDS = {dict: "an object", list: "a list", str: "a string", bool: "true or false", int: "a number",
          float: "a number", type(None): "null"}


def read_results(path: str) -> list[dict[str, Any]]:
    """One report row per exit event in the file; one row saying `died` when there is none (the
    job ended before kmodtui said how the build went). Lines that are not JSON objects are skipped:
    a job's log may be mixed in."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            lines = f.read(MAX_RESULTS).splitlines()
    except OSError as err:
        raise KmodError(path, err.strerror or str(err)) from None
    rows = []
    for number, line in enumerate(lines, 1):
        try:
            event = json.loads(line)
        except (ValueError, RecursionError):  # RecursionError: a line of 100k '['
            continue
        if isinstance(event, dict) and event.get("event") == "exit":
            rows.append(_row(event, path, number))
    if not rows:
        rows.append({"source": "", "kernel": os.path.basename(path), "arch": "", "mode": "", "outcome": "died", "cause": None,
                     "artifacts": [], "log": path})
    return rows


def _row(event: dict[str, Any], path: str, number: int) -> dict[str, Any]:
    def wrong(field: str, value: object, wanted: str) -> KmodError:
        return KmodError(path, f"the exit event's \"{field}\" is {_KINDS.get(type(value), 'something else')}, "
                         f"not {wanted}", line=number)

    for name in _TEXT_FIELDS:
        if name in event and not isinstance(event[name], str):
            raise wrong(name, event[name], "a string")
    state = event.get("state", "died")
    if state not in STATES:
        raise KmodError(path, f"the exit event's \"state\" is not one of {', '.join(STATES)}", line=number)
    primary = event.get("primary") or {}
    if not isinstance(primary, dict):
        raise wrong("primary", primary, "an object or null")
    cause = primary.get("cause")
    if cause is not None and not isinstance(cause, str):
        raise wrong("primary.cause", cause, "a string or null")
    artifacts = event.get("artifacts", [])
    if not isinstance(artifacts, list):
        raise wrong("artifacts", artifacts, "a list of file names")
    if not all(isinstance(a, str) for a in artifacts):
        raise KmodError(path, "the exit event's \"artifacts\" holds something that is not a file name", line=number)
    return {"source": event.get("source", ""), "kernel": event.get("kernel", ""), "arch": event.get("arch", ""), "mode": event.get("mode", ""),
            "outcome": state, "cause": cause, "artifacts": artifacts, "log": event.get("log", "")}
