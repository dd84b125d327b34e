"""One rule table for the build screen and `diagnose` (architecture step 2, item 3): every line
`diagnose` names a cause for, the build screen's live scan names too, by the same rule.

Each rule's example (`example=` in kmodtui/core/diagnose/rules*.py) is a line of the real logs in
tests/logs/ or of the real tools' output in tests/core/test_logscan.py. Before the tables were one,
the build screen's scan named no finding for 32 of the 58 lines diagnose named (the first commit of
this test fed them through both, as a list; they are the examples now)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kmodtui.core.build.logscan import scan_line, words
from kmodtui.core.diagnose import diagnose_text
from kmodtui.core.diagnose.engine import decode_log, diagnose_lines
from kmodtui.core.diagnose.rules import RULES
from kmodtui.core.vocabulary import LogRule

LOGS = Path(__file__).resolve().parent.parent / "logs"

# The loader's line (dmesg, tests/logs/013) that `diagnose` names and the build screen missed.
LOADER_NAMESPACE = ("[ 3357.743660] lisa: module uses symbol (filp_open) from namespace "
                    "VFS_internal_I_am_really_a_filesystem_and_am_NOT_a_driver, but does not import it.")

def test_the_live_scan_names_the_loaders_namespace_line() -> None:
    assert diagnose_text(LOADER_NAMESPACE).primary.cause == "namespace_not_imported"
    finding = scan_line(LOADER_NAMESPACE, 1)
    assert finding is not None and finding.remedies == ("import-namespace",)
    assert finding.detail("symbol") == "filp_open" and finding.detail("module") == "lisa"


@pytest.mark.parametrize("rule", RULES, ids=[rule.id for rule in RULES])
def test_every_rule_reads_its_example_the_same_way_in_both_paths(rule) -> None:
    """The live scan (line by line, no context) and diagnose (the whole example: a rule whose meaning
    depends on earlier lines has them in its example) name the example's last line by this rule."""
    lines = rule.example.splitlines()
    assert lines, f"{rule.id}: no example"
    finding = scan_line(lines[-1], len(lines))
    assert finding is not None and finding.rule == rule.id, (rule.id, finding)
    said = words(rule)
    assert (finding.severity, finding.remedies) == (said.severity, tuple(said.remedies))
    assert "{" not in finding.title + finding.fix, finding  # every placeholder filled
    signal = next((s for s in diagnose_lines(lines).signals if s.line_number == len(lines)), None)
    if signal is None:
        assert rule.refine is not None, f"{rule.id}: diagnose named nothing"  # the line only fed the context
    else:
        assert signal.rule == rule.id, (rule.id, signal)
        if rule.refine is None:
            # a knock-on line alone records a failure no line named: diagnose names it unrecognised_failure
            alone = {("unrecognised_failure", "fallback")} if rule.tier == "knock-on" else set()
            assert (signal.cause.value, signal.tier) in {(rule.cause.value, rule.tier)} | alone


def test_every_line_diagnose_names_in_the_real_logs_is_a_finding_of_the_same_rule() -> None:
    """tests/logs/: each line a rule of the table takes in diagnose, the live scan takes by that rule too
    (except where diagnose read a line a terminal wrapped joined with the next one)."""
    checked = 0
    for case in json.loads((LOGS / "manifest.json").read_text()):
        lines = decode_log((LOGS / case["file"]).read_bytes()).splitlines()
        for signal in diagnose_lines(lines).signals:
            if signal.rule in ("make-command", "failure-evidence"):  # judged by diagnose alone: a make command
                continue  # against the kernel dkms targets; a failing line no rule reads (failure.py)
            finding = scan_line(lines[signal.line_number - 1], signal.line_number)
            if finding is None and scan_line(lines[signal.line_number - 1] + lines[signal.line_number].lstrip()):
                continue  # wrapped
            assert finding is not None and finding.rule == signal.rule, (case["file"], signal, finding)
            checked += 1
    assert checked > 300


def test_the_table_is_one_place() -> None:
    """Ids are unique (build --json and the build record publish them), and every id other code names
    (vocabulary.LogRule: the remedies catalogue keys on them) is a rule of the table."""
    ids = [rule.id for rule in RULES]
    assert len(ids) == len(set(ids))
    assert set(LogRule) <= set(ids)
    assert all(rule.needles for rule in RULES)
