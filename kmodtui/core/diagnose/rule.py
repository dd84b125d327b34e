"""What one log rule is: a regular expression over one cleaned line, what the line means for
`diagnose` (a cause and a tier, or a function of the match and what earlier lines said), and the
words the build screen shows for it (its own, or its cause's). The rules themselves are in rules.py.

A rule reads a line in time proportional to its length (Python's re backtracks: `X.*Y` over a line
holding X ten thousand times and no Y reads the line once per X; tests/core/test_regex_linear.py
pumps every rule). The shapes the rules use:
  after(X, Y)            for X.*Y: the gap stops at the next X, so each character is read once;
  (?>\\S*?W)\\S*          for \\S*W\\S*: the first W of a word, taken for good (the rest is one scan);
  (?<!\\S)\\S+ ...         a word's whole run, tried once per word, not from each of its characters;
  [^()]+ inside (...)    a scan that ends where the next "(" would start another try.
"""

from __future__ import annotations

import re
import re._constants as sre_constants  # a pattern's parse tree: the literal text every match holds
import re._parser as sre_parse
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from kmodtui.core.vocabulary import Cause

ROOT, WEAK, FALLBACK, KNOCKON, HARMLESS = "root", "weak", "fallback", "knock-on", "harmless"
SEVERITY_ERROR, SEVERITY_WARNING, SEVERITY_INFO = "error", "warning", "info"
# The build screen's severity of a rule without words of its own, by what the line means.
SEVERITY_OF_TIER = {ROOT: SEVERITY_ERROR, WEAK: SEVERITY_WARNING, FALLBACK: SEVERITY_ERROR,
                    KNOCKON: SEVERITY_INFO, HARMLESS: SEVERITY_INFO}


@dataclass
class Context:
    """What earlier lines of a log said, for rules whose meaning depends on it."""

    target_kernel: str = ""  # dkms make.log's "for kernel X", dkms's "-k X"
    rpm_section: str = ""  # "build" after rpmbuild's "Failed build dependencies", "install" after rpm's
    module_paths: set[str] = field(default_factory=set)  # /lib/modules/<release>/ seen in the log
    compiler_notice: int = 0  # line number of "the compiler differs" while its two lines are read
    compiler_versions: list[str] = field(default_factory=list)
    confined: bool = False  # kmodtui's "### confined: bwrap" seen: the build ran in its sandbox
    host: str = ""  # an image-based system the log names (engine.py: "ostree", "steamos", "nixos")


# (match, context, line number) -> (cause, tier), with what this line adds to the cause's fix (a hint for
# this system: SteamOS's headers, a Raspberry Pi kernel's), or None: the line only fed the context
Refine = Callable[[re.Match[str], Context, int], "tuple[Cause, str] | tuple[Cause, str, str] | None"]


class Words(NamedTuple):
    """What the build screen shows for a line: each text is format()ed with the match's named groups."""

    severity: str
    title: str
    cause: str
    fix: str
    remedies: tuple[str, ...] = ()


@dataclass(frozen=True)
class Rule:
    id: str  # published: build --json's finding events and the build record name it ("rule")
    pattern: re.Pattern[str]
    cause: Cause  # what diagnose names the line (refine may decide otherwise, from the context)
    tier: str
    refine: Refine | None = None
    hint: str = ""  # what this particular line adds to the cause's fix
    words: Words | None = None  # the build screen's words; None: the cause's (kmodtui.core.diagnose.causes)
    example: str = ""  # a real line it reads (tests/core/test_logrules.py runs it through both paths)
    needles: tuple[str, ...] = ()  # text every line it matches holds: the regex runs only where one is


def rule(id: str, cause: Cause, tier: str, pattern: str, *, refine: Refine | None = None, hint: str = "",
         words: Words | None = None, example: str = "") -> Rule:
    compiled = re.compile(pattern)
    needles = required_text(compiled)
    if not needles:
        raise ValueError(f"log rule {id}: its pattern holds no literal text every match has (the prefilter needs one)")
    return Rule(id, compiled, cause, tier, refine, hint, words, example, needles)


def after(first: str, then: str) -> str:
    """`first.*then`, read once: the gap between them does not cross another `first`."""
    return rf"(?:{first})(?:(?!{first}).)*{then}"


# ---- the literal text every match holds, read from the pattern itself --------------------------

def required_text(pattern: re.Pattern[str]) -> tuple[str, ...]:
    """Strings one of which is in every text the pattern matches (() when there are none): a live
    log streams ~100k lines a second, and `needle in line` is ~50x cheaper than a regex search."""
    if pattern.flags & re.IGNORECASE:
        return ()
    return tuple(sorted(_needles(sre_parse.parse(pattern.pattern, pattern.flags)) or ()))


def _needles(items: Any) -> frozenset[str] | None:
    """The best set of strings one of which every match of this sequence holds (None: none known):
    the one whose shortest string is longest (fewer false hits)."""
    candidates: list[frozenset[str]] = []
    run: list[str] = []
    for op, arg in list(items) + [(None, None)]:
        if op is sre_constants.LITERAL:
            run.append(chr(arg))
            continue
        if run:
            candidates.append(frozenset(["".join(run)]))
            run = []
        inner: frozenset[str] | None = None
        if op is sre_constants.SUBPATTERN:
            inner = _needles(arg[-1])
        elif op is sre_constants.ATOMIC_GROUP:
            inner = _needles(arg)
        elif op in (sre_constants.MAX_REPEAT, sre_constants.MIN_REPEAT, sre_constants.POSSESSIVE_REPEAT) and arg[0] >= 1:
            inner = _needles(arg[2])
        elif op is sre_constants.BRANCH:
            branches = [_needles(branch) for branch in arg[1]]
            if all(b is not None for b in branches):
                inner = frozenset().union(*(b for b in branches if b is not None))
        if inner:
            candidates.append(inner)
    return max(candidates, key=lambda c: (min(map(len, c)), -len(c)), default=None)
