"""Failure evidence: does a log line record that something failed? Apart from the cause rules (rules.py)
on purpose: a rule names *why*, this only says *that*, so a failing line no rule knows yet (another
tool's wording, a translated make, a project Makefile's own check) can never end in the all-clear:
engine.py names it `unrecognised_failure` when no rule named a cause. Lines a HARMLESS rule took are
never evidence (engine.py asks only about the others)."""

from __future__ import annotations

import re

_EVIDENCE = re.compile(
    r"^\s*make(?:\[\d+\])?: \*\*\* "  # make's own failure line, in any language ("Stop.", "Arrêt.", "Error 2")
    r"|Bad return status|\(bad exit status|\bFATAL\b|\bFAILED\b|\b[Bb]uild [Ff]ailed\b"
    r"|\b(?:error|Error|ERROR)(?::|!| \d)"  # gcc/rpm/dnf "error:", insmod "ERROR:", dkms "Error!", make "Error 2"
    r"|^\S+:\d+:\d+: (?:Fehler|erreur|错误|エラー|ошибка|schwerwiegender Fehler|erreur fatale|致命错误|致命的エラー"
    r"|фатальная ошибка)[:：]"  # gcc's errors in other languages (its .po files)
    r"|\b(?:exited|returned)\b[^\d\n]{0,40}?\b[1-9]\d*"  # a non-zero exit: "exited 10", "returned error exit status 1"
    r"|was skipped since the"  # dkms: a build it did not even try
    r"|^E: "  # apt
)


def failure_evidence(text: str) -> bool:
    """Whether a cleaned log line records a failure (make, dkms, apt/dnf/rpm, modprobe/insmod, gcc)."""
    return _EVIDENCE.search(text) is not None
