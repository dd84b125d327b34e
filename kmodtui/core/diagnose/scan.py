"""A log line as the rules see it, and the first rule that reads it: the one matcher behind the build
screen's live scan (kmodtui/core/build/logscan.py) and `diagnose` (engine.py), so the two cannot name
a line differently."""

from __future__ import annotations

import re

from kmodtui.core.diagnose.logread import LINE_BYTES, MAX_LINE
from kmodtui.core.diagnose.rule import Rule
from kmodtui.core.diagnose.rules import RULES

# CSI (colours, cursor) and OSC (titles, gcc's links) ended by BEL or ESC \\. An OSC's text stops at the
# next ESC: an unterminated one is left as it is, after one scan to that ESC (not one per "ESC ]").
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)")
_PREFIXES = re.compile(
    r"^(?:\|\s)?\s*+(?:"
    r"\[\s*[+]?\d+\.\d+\]\s*"  # dmesg [  123.456] and dmesg -H's [ +0.000035]
    r"|[A-Z][a-z]{2} +\d{1,2} \d\d:\d\d:\d\d \S+ [^:\s]+(?:\[\d+\])?: "  # journal/syslog: 'Nov 21 12:17:11 host tag[pid]: '
    r"|\d{4}[-/]\d\d[-/]\d\d[ T]\d\d:\d\d:\d\d(?:[.,]\d+)?(?:Z|[+-]\d\d:?\d\d)?\s+(?:\S+: )?"  # akmods, ISO stamps
    r"|\[\s*\d+s\]\s"  # Open Build Service logs: '[   25s] '
    r"|(?<=\s\s)>\s"  # Nix build output: '       > ' (the spaces already taken: read once)
    r")+(?:kernel: )?"
)


def clean_line(line: str) -> str:
    """A log line as a rule should see it: no CR, no colours, no timestamp or syslog prefix, at most
    MAX_LINE characters. The line is cut before any regex reads it (colours may take 3/4 of a cut line)."""
    line = line.rstrip("\r\n")
    if "\r" in line:
        line = line[line.rfind("\r") + 1 :]  # a progress redraw: what was shown last
    line = line[:LINE_BYTES]
    if "\x1b" in line:
        line = _ANSI.sub("", line)
    return _PREFIXES.sub("", line[:MAX_LINE], count=1)


# One search decides whether a line is worth the rules: most build output ("CC [M] ...") holds none of
# their needles, and a live log streams ~100k lines a second through here. Longest first: one try each.
_NEEDLES = sorted({needle for r in RULES for needle in r.needles}, key=lambda n: (-len(n), n))
_PREFILTER = re.compile("|".join(map(re.escape, _NEEDLES)))


def first_match(text: str) -> tuple[Rule, re.Match[str]] | None:
    """The first rule that matches a cleaned line, with its match (None: no rule does)."""
    if _PREFILTER.search(text) is None:
        return None
    for rule in RULES:
        for needle in rule.needles:
            if needle in text:
                break
        else:
            continue
        match = rule.pattern.search(text)
        if match is not None:
            return rule, match
    return None


def match_details(match: re.Match[str]) -> tuple[tuple[str, str], ...]:
    """The match's named groups that matched (symbol, module, ns...); a group named `x2` is a second
    way of writing `x` (the loader's words for what modpost says otherwise)."""
    return tuple(sorted((name.rstrip("2"), value) for name, value in match.groupdict().items() if value))
