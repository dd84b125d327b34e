"""The build screen's live scan: a streaming view of the one table of log rules that `kmodtui diagnose`
reads too (kmodtui/core/diagnose/rules.py). Each line of a running build, as it comes, is cleaned and
matched as diagnose cleans and matches it (kmodtui/core/diagnose/scan.py), and the rule that takes it
becomes a finding with that rule's words, or, for a rule without words of its own, its cause's.

A line holds no context here: the build screen shows what each line says as it streams; which of them
is the root cause is diagnose's answer, over the whole log, once a build has failed (its `primary`).
"""

from __future__ import annotations

from dataclasses import dataclass

from kmodtui.core.diagnose.apichanges import by_id, change_for_line
from kmodtui.core.diagnose.causes import CAUSES
from kmodtui.core.diagnose.engine import API_CAUSES
from kmodtui.core.diagnose.logread import MAX_LINE
from kmodtui.core.diagnose.rule import KNOCKON, SEVERITY_INFO, SEVERITY_OF_TIER, Rule, Words
from kmodtui.core.diagnose.rules import RULES as TABLE
from kmodtui.core.diagnose.scan import clean_line, first_match, match_details

# The rules whose words were written for the build screen; the others show their cause's words.
RULES: tuple[Rule, ...] = tuple(r for r in TABLE if r.words is not None)

# A line that only reports an earlier failure ("make: *** [...] Error 2") has no cause of its own.
_KNOCK_ON = Words(SEVERITY_INFO, "an earlier failure, reported again", "This line only reports that a step above failed.",
                  "The cause is above it: e jumps to the first error.")


def words(rule: Rule) -> Words:
    """What the build screen shows for a line this rule takes."""
    if rule.words is not None:
        return rule.words
    if rule.tier == KNOCKON:
        return _KNOCK_ON
    text = CAUSES[rule.cause]
    return Words(SEVERITY_OF_TIER[rule.tier], text.title, text.explanation,
                 f"{rule.hint} {text.fix}" if rule.hint else text.fix, text.remedies)


_WORDS = {rule.id: words(rule) for rule in TABLE}


@dataclass(frozen=True)
class LogFinding:
    rule: str
    severity: str
    line_number: int
    line: str
    title: str
    cause: str
    fix: str
    remedies: tuple[str, ...]
    details: tuple[tuple[str, str], ...] = ()  # the rule's named groups: symbol, module, ns, dep...

    def detail(self, key: str) -> str:
        return dict(self.details).get(key, "")

    def all_remedies(self) -> tuple[str, ...]:
        """The rule's remedies, and kernel-compat where the line names a kernel API rename the table
        marks mechanical (the rule's words stay the same for every line it reads)."""
        change = by_id(self.detail("api_change")) if self.detail("api_change") else None
        extra = ("kernel-compat",) if change is not None and change.rewritable else ()
        return self.remedies + extra


def scan_line(line: str, line_number: int = 0) -> LogFinding | None:
    """The finding of the first rule that takes this line (None when no rule does)."""
    text = clean_line(line)
    found = first_match(text)
    if found is None:
        return None
    rule, match = found
    details = match_details(match)
    groups = _Groups(details)
    said = _WORDS[rule.id]
    fix, remedies = _fill(said.fix, groups), tuple(said.remedies)
    if rule.cause in API_CAUSES:  # diagnose asks the same (engine.py): the kernel change this line names
        change = change_for_line(text)
        if change is not None:
            fix, details = change.sentence(), details + (("api_change", change.id),)
    return LogFinding(rule.id, said.severity, line_number, line[:MAX_LINE].strip(), _fill(said.title, groups),
                      _fill(said.cause, groups), fix, remedies, details)


def scan_text(text: str) -> list[LogFinding]:
    findings = []
    for number, line in enumerate(text.splitlines(), 1):
        finding = scan_line(line, number)
        if finding is not None:
            findings.append(finding)
    return findings


class _Groups(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return ""  # a group that did not take part in the match


def _fill(template: str, groups: _Groups) -> str:
    try:
        return template.format_map(groups)
    except (IndexError, ValueError):
        return template
