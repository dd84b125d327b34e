"""A diagnosis as JSON (`kmodtui diagnose --json`, a failed build's `primary` in its record and in
`build --json`): the signals as found, the primary cause with its words from causes.py."""

from __future__ import annotations

from typing import Any

from kmodtui.core.diagnose.apichanges import ApiChange, by_id
from kmodtui.core.diagnose.causes import CAUSES
from kmodtui.core.diagnose.engine import Diagnosis, Signal
from kmodtui.core.diagnose.rule import FALLBACK, KNOCKON, ROOT, WEAK

# How sure the primary cause is: a specific cause's own line, a generic one, or a line that only says
# something failed (dkms's "Bad return status", an unrecognised failure).
CONFIDENCE = {ROOT: "high", WEAK: "medium", FALLBACK: "low"}


def primary_text(signal: Signal) -> tuple[str, str, str, tuple[str, ...]]:
    """(title, explanation, fix, remedies) for a signal's cause."""
    text = CAUSES[signal.cause]
    return text.title, text.explanation, text.fix, text.remedies


def signal_json(signal: Signal) -> dict[str, Any]:
    # a knock-on line only reports an earlier failure: it has no cause of its own
    finding: dict[str, Any] = {"cause": None if signal.tier == KNOCKON else signal.cause.value,
                               "tier": signal.tier, "line_number": signal.line_number, "line": signal.line}
    if signal.source:
        finding["file"] = signal.source
    details = {k: v for k, v in signal.details if k != "hint"}
    if details:
        finding["details"] = details
    return finding


def primary_json(diagnosis: Diagnosis) -> dict[str, Any] | None:
    """The primary cause with its words (title, explanation, fix, remedies) and its knock-on lines."""
    if diagnosis.primary is None:
        return None
    title, explanation, fix, remedies = primary_text(diagnosis.primary)
    hint = diagnosis.primary.detail("hint")
    if hint and diagnosis.primary.cause.value == "immutable_host":
        fix = hint  # the log names the system: its own fix, not every read-only system's
    else:
        fix = f"{hint} {fix}" if hint else fix
    change = api_change(diagnosis)
    if change is not None:  # the kernel change the compiler's line names: its own fix first
        fix = f"{change.sentence()} Otherwise: {CAUSES[diagnosis.primary.cause].fix}"
        if change.rewritable:  # the compat remedy rewrites it, guarded for older kernels
            fix = (f"{change.sentence()} `kmodtui remedy show kernel-compat --change {change.id} --target SOURCE` "
                   f"previews the rewrite with its LINUX_VERSION_CODE guard. Otherwise: "
                   f"{CAUSES[diagnosis.primary.cause].fix}")
            remedies = ("kernel-compat",)
    primary = {**signal_json(diagnosis.primary), "title": title, "explanation": explanation,
               "fix": fix, "remedies": list(remedies),
               "confidence": CONFIDENCE.get(diagnosis.primary.tier, "low"),
               "knock_on": [signal_json(s) for s in diagnosis.knock_on]}
    if change is not None:
        primary["api_change"] = change.as_json()
    del primary["tier"]
    return primary


def api_change(diagnosis: Diagnosis) -> ApiChange | None:
    """The kernel API change behind a kernel_api_change primary: its own line's, else the first one
    another compiler line of the log names (the first error is often a knock-on of a renamed call)."""
    primary = diagnosis.primary
    if primary is None or primary.cause.value != "kernel_api_change":
        return None
    for signal in [primary, *diagnosis.signals]:
        found = signal.detail("api_change")
        if found:
            return by_id(found)
    return None


def diagnosis_json(diagnosis: Diagnosis) -> dict[str, Any]:
    return {"primary": primary_json(diagnosis), "findings": [signal_json(s) for s in diagnosis.signals],
            "lines": diagnosis.lines}
