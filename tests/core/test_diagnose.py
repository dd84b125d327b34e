"""`kmodtui diagnose` on logs people posted in public issue threads (tests/logs/, each verbatim with
its source): it names the cause the thread established, never picks a harmless line, and reads
logs the way they arrive (CRLF, colours, compressed, stdin)."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from kmodtui.core.diagnose import diagnose_text
from kmodtui.core.diagnose.engine import HARMLESS, decode_log
from kmodtui.core.vocabulary import Cause

LOGS = Path(__file__).resolve().parent.parent / "logs"
MANIFEST = json.loads((LOGS / "manifest.json").read_text())

# Where diagnose names another cause than the thread, and why that is what the log itself shows.
KNOWN_DISAGREEMENTS = {
    "020-awusb-zh-vermagic-5.15-on-6.5.log": (
        "headers_wrong_kernel",
        "the module in 6.5's updates/dkms has vermagic 5.15 and the loader complains about struct module's size: "
        "built against 5.15's headers for 6.5. The thread calls it a version mismatch (booting 5.15 fixed it)."),
    "030-rock-dkms-apt-kernel-5.8-unsupported.log": (
        "dkms_build_failed",
        "the log holds only dkms's 'Bad return status' and dpkg's knock-on lines; that the driver does not "
        "support 5.8 is in the thread, not in the log (the make.log was not posted)."),
}


def diagnosed(name: str) -> str | None:
    diagnosis = diagnose_text(decode_log((LOGS / name).read_bytes()))
    return diagnosis.primary.cause.value if diagnosis.primary else None


@pytest.mark.parametrize("case", MANIFEST, ids=[c["file"][:3] for c in MANIFEST])
def test_diagnose_names_the_cause_the_thread_established(case: dict) -> None:
    got = diagnosed(case["file"])
    expected = None if case["cause"] == "harmless" else case["cause"]
    if case["file"] in KNOWN_DISAGREEMENTS:
        assert got == KNOWN_DISAGREEMENTS[case["file"]][0]
    else:
        assert got == expected, f"{case['file']} ({case['source']}): {got} instead of {expected}"
    assert case["decisive_line"] in (LOGS / case["file"]).read_text(encoding="utf-8", errors="replace")


def test_the_corpus_is_real_and_wide_and_the_agreement_is_counted() -> None:
    assert len(MANIFEST) >= 40
    assert len({c["cause"] for c in MANIFEST}) >= 25
    assert all(c["source"].startswith(("https://", "http://")) for c in MANIFEST)
    agree = sum(1 for c in MANIFEST if c["file"] not in KNOWN_DISAGREEMENTS)
    print(f"diagnose agrees with the thread on {agree} of {len(MANIFEST)} real logs")
    assert agree / len(MANIFEST) >= 0.95


def test_a_harmless_line_is_never_the_primary_cause() -> None:
    for case in MANIFEST:
        diagnosis = diagnose_text(decode_log((LOGS / case["file"]).read_bytes()))
        assert diagnosis.primary is None or diagnosis.primary.tier != HARMLESS
        if case["cause"] == "harmless":
            assert diagnosis.primary is None and any(s.tier == HARMLESS for s in diagnosis.signals), case["file"]


def test_every_cause_has_words_and_the_vocabulary_is_published(repo_root: Path) -> None:
    from kmodtui.core.diagnose.causes import CAUSES

    assert set(CAUSES) == set(Cause)
    readme = (repo_root / "README.md").read_text()
    for cause in Cause:
        assert f"`{cause.value}`" in readme, f"{cause.value} is not in the README's cause list"


def test_crlf_colours_and_timestamps_do_not_change_the_diagnosis() -> None:
    name = "059-xone-7.0-ida_simple_get-removed.log"
    text = (LOGS / name).read_text()
    crlf = text.replace("\n", "\r\n")
    coloured = "\n".join(f"\x1b[01;31m{line}\x1b[0m" if "error" in line else line for line in text.splitlines())
    stamped = "\n".join(f"2026-11-28T10:00:{i % 60:02d}Z {line}" for i, line in enumerate(text.splitlines()))
    for variant in (crlf, coloured, stamped):
        assert diagnose_text(variant).primary.cause == Cause.KERNEL_API_CHANGE


def kmodtui(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "kmodtui", *args], input=stdin, capture_output=True, timeout=60)


def test_cli_json_exit_codes_stdin_and_compressed_logs(tmp_path: Path) -> None:
    found = kmodtui("diagnose", "--json", str(LOGS / "014-cachyos-nvidia-open-modpost-undefined.log"))
    assert found.returncode == 1
    payload = json.loads(found.stdout)
    assert payload["schema_version"] and payload["primary"]["cause"] == "modpost_undefined"
    assert payload["primary"]["remedies"] == ["kbuild-extra-symbols"]
    assert payload["primary"]["details"]["symbol"] == "drm_fbdev_ttm_setup"
    fine = kmodtui("diagnose", "--json", "-", stdin=(LOGS / "022-rtw89-skipping-btf-harmless.log").read_bytes())
    assert fine.returncode == 0 and json.loads(fine.stdout)["primary"] is None
    packed = tmp_path / "make.log.gz"
    packed.write_bytes(gzip.compress((LOGS / "033-chaotic-tkg-kernel-config-invalid.log").read_bytes()))
    assert json.loads(kmodtui("diagnose", "--json", str(packed)).stdout)["primary"]["cause"] == "kernel_config_invalid"
    text = kmodtui("diagnose", str(LOGS / "030-rock-dkms-apt-kernel-5.8-unsupported.log")).stdout.decode()
    assert text.startswith("Cause: dkms_build_failed") and "Because of it:" in text


def test_two_logs_read_as_one_story(tmp_path: Path) -> None:
    """dkms's output names the kernel; the make.log that follows builds against another one."""
    whole = (LOGS / "070-sgx-dkms-builds-against-running-kernel.log").read_text().splitlines(keepends=True)
    split = next(i for i, line in enumerate(whole) if line.startswith("% cat"))
    first, second = tmp_path / "dkms.out", tmp_path / "make.log"
    first.write_text("".join(whole[:split]))
    second.write_text("".join(whole[split + 1:]))
    payload = json.loads(kmodtui("diagnose", "--json", str(first), str(second)).stdout)
    assert payload["primary"]["cause"] == "headers_wrong_kernel" and payload["primary"]["file"] == str(second)


def test_bad_input_is_one_clear_line(tmp_path: Path) -> None:
    binary = tmp_path / "core.bin"
    binary.write_bytes(b"\x7fELF\0\0\0" * 100)
    for path, words in ((tmp_path / "missing.log", "no such file"), (binary, "not a text log")):
        out = kmodtui("diagnose", str(path))
        lines = out.stderr.decode().strip().splitlines()
        assert out.returncode == 2 and len(lines) == 1 and words in lines[0] and str(path) in lines[0]
    os.mkfifo(tmp_path / "fifo")
    out = kmodtui("diagnose", str(tmp_path / "fifo"))
    assert out.returncode == 2 and "fifo" in out.stderr.decode()
