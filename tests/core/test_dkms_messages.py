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
    for match in re.finditer(r'\b(?:die\s+\S+|error)\s+\$?"((?:[^"\\]|\\.)*)"', script):
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
    assert len(messages) >= 40, (version, len(messages))
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
