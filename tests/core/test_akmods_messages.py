"""akmods' own messages (rpmfusion/akmods: its init() checks, the --kernels check, the build and install
results) as it prints them (a variable part shown as `kmodtui`): `diagnose` names the state each one records, with what clears it, and says
nothing is wrong only of akmods' own 'nothing to do'."""

from __future__ import annotations

import pytest

from kmodtui.core.diagnose import diagnose_text


@pytest.mark.parametrize("line, cause", [
    ("Needs to run as root to be able to install rpms.", "permission_denied"),
    ("rpmdev-vercmp not found", "tool_missing"),
    ("akmodsbuild not found", "tool_missing"),
    ("Files needed for building modules against kernel", "headers_missing"),
    ("Could not find files needed to compile modules for kmodtui", "headers_missing"),  # its release: a placeholder
    ("Is the correct kernel-devel package installed?", "headers_missing"),
    ("/usr/sbin/akmods: line 312: yum: command not found", "immutable_host"),
])
def test_akmods_refusals_name_their_state(line: str, cause: str) -> None:
    primary = diagnose_text(line).primary
    assert primary is not None and primary.cause.value == cause, (line, primary)


def test_akmods_nothing_to_do_is_not_a_failure() -> None:
    diagnosis = diagnose_text("No akmod packages found, nothing to do.")
    assert diagnosis.primary is None and diagnosis.signals and diagnosis.signals[0].tier == "harmless"
