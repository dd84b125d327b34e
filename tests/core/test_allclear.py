"""`kmodtui diagnose` never gives the all-clear on a log that records a failure: on every failing log
of the corpus (tests/logs/, real logs from public issue threads) it names a primary cause and exits 1;
a line no cause rule knows still fails the log (`unrecognised_failure`, pointing at the first failing
line); 'nothing wrong' is only said of logs whose only findings are known-harmless notices."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from kmodtui.core.diagnose import diagnose_text
from kmodtui.core.diagnose.engine import decode_log

LOGS = Path(__file__).resolve().parent.parent / "logs"
MANIFEST = json.loads((LOGS / "manifest.json").read_text())
FAILING = [c for c in MANIFEST if c["cause"] != "harmless"]
HARMLESS_LOGS = [c for c in MANIFEST if c["cause"] == "harmless"]


def _diagnose(name: str):  # noqa: ANN202 (a Diagnosis)
    return diagnose_text(decode_log((LOGS / name).read_bytes()))


def test_no_failing_log_of_the_corpus_gets_the_all_clear() -> None:
    false_all_clears = [c["file"] for c in FAILING if _diagnose(c["file"]).primary is None]
    print(f"{len(MANIFEST)} logs, {len(FAILING)} failing: {len(false_all_clears)} false all-clears")
    assert false_all_clears == []


@pytest.mark.parametrize("case", HARMLESS_LOGS, ids=[c["file"][:3] for c in HARMLESS_LOGS])
def test_a_harmless_log_holds_no_failure_evidence(case: dict) -> None:
    """The detector does not fire on the corpus's known-harmless logs (it would turn them into failures)."""
    diagnosis = _diagnose(case["file"])
    assert diagnosis.primary is None, (case["file"], diagnosis.primary)


@pytest.mark.parametrize("case", [c for c in FAILING if c["cause"] == "unrecognised_failure"],
                         ids=lambda c: c["file"][:3])
def test_an_unrecognised_failure_points_at_the_decisive_line(case: dict) -> None:
    primary = _diagnose(case["file"]).primary
    assert primary is not None and primary.cause.value == "unrecognised_failure"
    assert primary.line in (LOGS / case["file"]).read_text()


@pytest.mark.parametrize("line", [
    # make's own failure lines, in English and translated (real lines of the corpus and of kbuild)
    "make[1]: *** /lib/modules/4.12.14-lp150.12.13-default/build : Aucun fichier ou dossier de ce type. Arrêt.",
    "make: *** [Makefile:20: check_kernel_dir] Error 1",
    "make: *** No targets specified and no makefile found.  Stop.",
    "Error! Bad return status for module build on kernel: 6.16.0-3-MANJARO (x86_64)",
    "modprobe: FATAL: Module facetimehd not found in directory /lib/modules/5.2.17-200.fc30.x86_64",
    "insmod: ERROR: could not insert module hello.ko: Invalid module format",
    "xpad.c:851:33: error: implicit function declaration  \u2018from_timer\u2019",
    "==> WARNING: `dkms install --no-depmod cyber/42.1729.1939 -k 6.17.6-zen1-1-zen' exited 10",
    "==> Warning, `dkms install --no-depmod -m linux-sgx-driver -v 2.11.r4.g4505f07 -k 5.9.14-arch1-1' returned 10",
    "run-parts: /etc/kernel/postinst.d/initramfs-tools exited with return code 1",
    "Module build for kernel 6.12.10-amd64 was skipped since the",
    "E: Sub-process /usr/bin/dpkg returned an error code (1)",
    "Error: Unable to find a match: kernel-devel-6.5.6",
    "    Build Failed",
    "Building and installing hello-1.0 [FAILED]",
])
def test_failure_evidence_reads_failing_lines(line: str) -> None:
    from kmodtui.core.diagnose.failure import failure_evidence

    assert failure_evidence(line)


@pytest.mark.parametrize("line", [
    "  CC [M]  /var/lib/dkms/xpad/0.4/build/xpad.o",
    "make: Leaving directory '/var/lib/dkms/amneziawg/1.0.20241112/build'",
    "Kernel preparation unnecessary for this kernel.  Skipping...",
    "# exit code: 0",
    "Building module(s)... done.",
    "checking for error in -lfoo... no",
    "  Error handling: see the README",
])
def test_failure_evidence_leaves_ordinary_lines(line: str) -> None:
    from kmodtui.core.diagnose.failure import failure_evidence

    assert not failure_evidence(line)


def test_a_failure_line_no_rule_knows_is_a_failure_and_exits_1(tmp_path: Path) -> None:
    """The class: a log whose only failing line is one no cause rule reads (a project Makefile's own words,
    then make's Error line) gets `unrecognised_failure`, not the all-clear, and the CLI exits 1."""
    log = LOGS / "104-chipsec-dkms-unable-to-find-source-tree.log"
    run = subprocess.run([sys.executable, "-m", "kmodtui", "diagnose", "--json", str(log)], capture_output=True)
    assert run.returncode == 1, run.stderr
    primary = json.loads(run.stdout)["primary"]
    assert primary["cause"] == "unrecognised_failure"
    assert primary["line"] == "make: *** [Makefile:20: check_kernel_dir] Error 1"
    assert primary["confidence"] == "low"
    # a harmless notice before the failure does not make the log harmless
    harmless_then_failure = tmp_path / "mixed.log"
    harmless_then_failure.write_text("Skipping BTF generation for /tmp/x.ko due to unavailability of vmlinux\n"
                                     + log.read_text())
    run = subprocess.run([sys.executable, "-m", "kmodtui", "diagnose", "--json", str(harmless_then_failure)],
                         capture_output=True)
    assert run.returncode == 1 and json.loads(run.stdout)["primary"]["cause"] == "unrecognised_failure"


def test_only_harmless_lines_exit_0(tmp_path: Path) -> None:
    log = LOGS / "022-rtw89-skipping-btf-harmless.log"
    run = subprocess.run([sys.executable, "-m", "kmodtui", "diagnose", "--json", str(log)], capture_output=True)
    assert run.returncode == 0, run.stdout
    assert json.loads(run.stdout)["primary"] is None
