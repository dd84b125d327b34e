"""dkms's own refusals, as the dkms installed here prints them, and every "Error!" message in its
source: `diagnose` names dkms's state (a module never added, a dkms.conf it refuses) with the commands
that clear it, and never gives the all-clear on a line dkms prints when it fails."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from kmodtui.core.build.logscan import scan_text
from kmodtui.core.diagnose import diagnose_text
from tests.realtools import require_tool, run


def dkms(work: Path, *args: str) -> str:
    trees = [work / name for name in ("tree", "source", "install")]
    for tree in trees:
        tree.mkdir(parents=True, exist_ok=True)
    result = run([require_tool("dkms"), "--dkmstree", str(trees[0]), "--sourcetree", str(trees[1]),
                  "--installtree", str(trees[2]), *args], env={"sign_file": "/nonexistent/kmodtui-no-signing"})
    assert result.returncode != 0
    return result.stdout + result.stderr


def test_a_module_dkms_never_added(tmp_path: Path) -> None:
    output = dkms(tmp_path, "build", "-m", "kmodtui-none", "-v", "1.0", "-k", "9.9.9-kmodtui")
    primary = diagnose_text(output).primary
    assert primary is not None and primary.cause.value == "dkms_not_added", output
    assert "dkms-not-added" in {f.rule for f in scan_text(output)}


def test_a_dkms_conf_dkms_refuses(tmp_path: Path) -> None:
    source = tmp_path / "source" / "kmodtui-bad-1.0"
    source.mkdir(parents=True)
    (source / "dkms.conf").write_text('PACKAGE_NAME="kmodtui-bad"\n')  # no version, no module
    output = dkms(tmp_path, "add", str(source))
    primary = diagnose_text(output).primary
    assert primary is not None and primary.cause.value == "dkms_conf_invalid", output
    assert "dkms-conf-invalid" in {f.rule for f in scan_text(output)}


def _messages(script: str) -> list[str]:
    """The first line of every message dkms's die/error calls print (its `Error! ` prefix added), with
    each shell variable replaced by a word."""
    found = []
    for match in re.finditer(r'\b(?:die\s+(?!0\s)\S+|error)\s+\$?"((?:[^"\\]|\\.)*)"', script):  # die 0: dkms exits 0
        text = re.sub(r"\$\{?\w+(?:\[[^]]*\])?\}?|\$\([^)]*\)", "kmodtui", match[1]).split("\\n")[0]
        if text.strip():
            found.append("Error! " + text.replace('\\"', '"'))
    return list(dict.fromkeys(found))


def test_no_error_line_of_dkms_gets_the_all_clear() -> None:
    path = shutil.which("dkms")
    if path is None:
        pytest.skip("dkms is not installed")
    version = subprocess.run([path, "--version"], capture_output=True, text=True).stdout.strip()
    messages = _messages(Path(path).read_text(errors="replace"))
    assert len(messages) >= 39, (version, len(messages))  # 3.0.10: 40 calls, one of them `die 0`
    all_clear = [m for m in messages if diagnose_text(m).primary is None]
    named = [m for m in messages if (p := diagnose_text(m).primary) and p.cause.value != "unrecognised_failure"]
    print(f"{version}: {len(messages)} Error! messages; {len(named)} with a cause named, the others "
          "unrecognised_failure, none all-clear")
    assert all_clear == []


def test_every_dkms_conf_refusal_of_the_newest_dkms() -> None:
    """The "dkms.conf: Error!" lines the newest dkms prints (its own test suite's expected output,
    tests/core/test_dkms_suite.py): each names the refused dkms.conf."""
    from tests.core.test_dkms_suite import NEWEST_ERRORS

    lines = [error for errors in NEWEST_ERRORS.values() for error in errors or ()]
    assert len(lines) >= 15
    for line in lines:
        primary = diagnose_text(line).primary
        assert primary is not None and primary.cause.value == "dkms_conf_invalid", line


HISTORY = Path(__file__).resolve().parent.parent / "logs" / "dkms-messages.tsv"


def _history() -> list[tuple[str, str, str]]:
    """(kind, exit status, message) of every refusal and failure message of dkms 2.0 to 3.x, read from
    its history (bench/dkms_messages.py)."""
    rows = [line.split("\t") for line in HISTORY.read_text().splitlines() if not line.startswith("#")]
    return [(kind, status, text) for kind, status, _first, _last, text in rows]


def test_no_error_of_dkms_history_gets_the_all_clear_and_most_name_a_cause() -> None:
    """Each "Error!" message of dkms 2.x and 3.x (its die/error calls, dkms.conf's checks): never the
    all-clear unless dkms exits 0 after it (the rpm-safe-upgrade notice), and most with a named cause
    whose fix is the command that clears that state."""
    errors = [(status, text) for kind, status, text in _history() if kind == "error"]
    assert len(errors) >= 120
    diagnosed = [(status, text, diagnose_text(text).primary) for status, text in errors]
    all_clear = [text for status, text, primary in diagnosed if primary is None and status != "0"]
    named = [text for _s, text, primary in diagnosed if primary is not None and primary.cause.value != "unrecognised_failure"]
    print(f"dkms 2.0-3.x: {len(errors)} Error! messages; {len(named)} with a cause named, "
          f"{sum(1 for _s, _t, p in diagnosed if p is None)} all-clear (dkms exits 0 after them), the others "
          "unrecognised_failure")
    assert all_clear == []
    assert len(named) >= 80


def test_dkms_warnings_are_not_failures_unless_they_say_one() -> None:
    """dkms's "Warning:" lines: a deprecation or a notice is no failure; the ones that name a problem
    (a module not signed, a build without its BUILD_DEPENDS) name it."""
    warnings = {text: diagnose_text(text).primary for kind, _status, text in _history() if kind == "warning"}
    assert len(warnings) >= 25
    failed = {text: primary.cause.value for text, primary in warnings.items() if primary is not None}
    assert set(failed.values()) <= {"signing_key_missing", "dkms_dependency_missing", "dkms_build_exclusive"}, failed


@pytest.mark.parametrize("line, cause", [
    ("Error! DKMS tree already contains: kmodtui-0.1", "dkms_already_added"),
    ("Error! kmodtui/0.1 is already added!", "dkms_already_added"),
    ("Error! Unknown option: --kmodtui", "dkms_usage"),
    ("Error! You must be root to use this command.", "permission_denied"),
    ("Error! No modules built for 6.1.0-13-amd64 (x86_64).", "dkms_not_built"),
    ("Error! There is no instance of kmodtui 0.1", "dkms_not_added"),
    ("Error! rpmbuild not present.", "tool_missing"),
])
def test_a_dkms_refusal_names_the_state_and_the_command_that_clears_it(line: str, cause: str) -> None:
    from kmodtui.core.diagnose.causes import CAUSES

    primary = diagnose_text(line).primary
    assert primary is not None and primary.cause.value == cause, (line, primary)
    assert "`" in primary.detail("hint") + CAUSES[primary.cause].fix  # a command to run
