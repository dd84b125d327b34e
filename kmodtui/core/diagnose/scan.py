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


# Quotes as gcc, make and coreutils print them in UTF-8 and other locales (‘x’ in English, »x« German, « x »
# French, „x“ make's German, “x” Chinese, 「x」 Taiwanese), and as forums and mail clients turn a pasted
# 'x' or "x" into: read as the ASCII quote, so that one rule reads every spelling. French puts a space
# inside its quotes (« x », a no-break space: read as a space, as before its colons), kept: the rules allow
# one there.
_QUOTES = str.maketrans({**{c: "'" for c in "‘’‚‛«»‹›„“”「」『』"}, "\u00a0": " ", "\u202f": " "})


def clean_line(line: str) -> str:
    """A log line as a rule should see it: no CR, no colours, no timestamp or syslog prefix, any locale's
    quotes as ASCII ', at most MAX_LINE characters. The line is cut before any regex reads it (colours
    may take 3/4 of a cut line)."""
    line = line.rstrip("\r\n")
    if "\r" in line:
        line = line[line.rfind("\r") + 1 :]  # a progress redraw: what was shown last
    line = line[:LINE_BYTES]
    if "\x1b" in line:
        line = _ANSI.sub("", line)
    line = _PREFIXES.sub("", line[:MAX_LINE], count=1)
    return line if line.isascii() else line.translate(_QUOTES)


def _key(needle: str) -> str:
    """Where the prefilter looks for a needle: from its first space on (a line holding the needle holds
    that too), so that the search stops at few places of a line (its spaces), not at every letter."""
    space = needle.find(" ")
    return needle[space:] if space >= 0 and len(needle) - space >= 5 else needle


def _trie(keys: list[str]) -> str:
    """An alternation of literal strings with their common beginnings shared: at each place of a line
    the search tries one branch per next character, not one per string."""
    if "" in keys:
        return ""  # a shorter key ends here, and it is enough
    following: dict[str, list[str]] = {}
    for key in sorted(set(keys)):
        following.setdefault(key[0], []).append(key[1:])
    branches = [re.escape(first) + (f"(?:{rest})" if "|" in rest else rest)
                for first, rest in ((first, _trie(tails)) for first, tails in following.items())]
    return "|".join(branches)


# One search decides whether a line is worth the rules: most build output ("CC [M] ...") holds none of
# their needles, and a live log streams ~100k lines a second through here (a flat alternation of the
# ~150 needles read a kbuild line in ~40 us, this one in ~1 us). Where it finds a key, the rules that
# may match are those with a needle whose key starts with it (the trie reports the shortest key there).
_KEYS = sorted({_key(needle) for rule in RULES for needle in rule.needles})
_PREFILTER = re.compile(_trie(_KEYS))
_RULES_AT = {found: tuple(index for index, rule in enumerate(RULES)
                          if any(_key(needle).startswith(found) for needle in rule.needles)) for found in _KEYS}


def first_match(text: str) -> tuple[Rule, re.Match[str]] | None:
    """The first rule that matches a cleaned line, with its match (None: no rule does)."""
    found = _PREFILTER.search(text)
    if found is None:
        return None
    candidates: set[int] = set()
    while found is not None:  # every place a key starts (they may overlap): a few on a line that has any
        candidates.update(_RULES_AT[found.group()])
        found = _PREFILTER.search(text, found.start() + 1)
    for index in sorted(candidates):
        rule = RULES[index]
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
    way of writing `x` (the loader's words for what modpost says otherwise, another locale's word order),
    `x3` a third."""
    return tuple(sorted((name.rstrip("23"), value) for name, value in match.groupdict().items() if value))
