"""Secure Boot states made here with the real mokutil on a folder of EFI variables (libefivar reads and writes
the folder EFIVARFS_PATH names; scripts/record-secureboot-efivars, manifest: mok-pending-made-here and
mok-enrolled-trusted-made-here): the doctor reads shim's variables as mokutil does, gives each state its
verdict and next step, and the real mokutil, run again on the recorded variables, prints what was recorded."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from kmodtui.core.build.signing import sign_files
from kmodtui.core.model import Kernel
from kmodtui.core.secureboot import judge, read_cert, read_signer, read_state
from kmodtui.core.secureboot.mok import mok_list, signature_list
from tests.realtools import BuiltModules, require_tool

STATES = Path(__file__).resolve().parent.parent / "secureboot_states"
PENDING, TRUSTED = STATES / "mok-pending-made-here", STATES / "mok-enrolled-trusted-made-here"
SHIM = "605dab50-e046-4300-abb6-3dd810dd8b23"
RECORDED_WITH = "0.6.0"  # mokutil --version of the recordings (Debian 12's mokutil 0.6.0-2)
# the read-only questions replayed, and the file each answer was recorded in
QUESTIONS = {("--sb-state",): "mokutil-sb-state.txt", ("--list-enrolled",): "mokutil-list-enrolled.txt",
             ("--list-new",): "mokutil-list-new.txt", ("--list-delete",): "mokutil-list-delete.txt",
             ("--test-key", "keys/MOK.der"): "mokutil-test-key.txt"}


def signed_by_the_recorded_key(built: BuiltModules, kernel: Kernel, where: Path, state: Path) -> Path:
    """consumer.ko signed with the state's throwaway key pair by the kernel's own sign-file."""
    module = where / "consumer.ko"
    shutil.copy(built.consumer_ko, module)
    sign_files([str(module)], kernel.build_dir, str(state / "keys/MOK.priv"), str(state / "keys/MOK.der"), "sha256")
    return module


def without_outputs(state: Path, where: Path) -> Path:
    """The state's variables alone: what `--root` reads when no mokutil output was recorded."""
    copy = where / state.name
    shutil.copytree(state, copy)
    shutil.rmtree(copy / "outputs")
    return copy


@pytest.mark.parametrize(("state", "variable", "output"), [
    (PENDING, "MokNew", "mokutil-list-new.txt"), (TRUSTED, "MokListRT", "mokutil-list-enrolled.txt")])
def test_the_variable_holds_what_mokutil_listed(state: Path, variable: str, output: str) -> None:
    data = (state / f"sys/firmware/efi/efivars/{variable}-{SHIM}").read_bytes()[4:]
    listed = mok_list((state / "outputs" / output).read_text())
    assert signature_list(data) == listed and len(listed) == 1
    own = read_cert(str(state / "keys/MOK.der"))
    assert own is not None and listed[0].skid == own.cert.skid.hex() and listed[0].subject == own.cert.subject


def test_enrolment_pending_says_reboot_and_confirm(built: BuiltModules, installed_kernel: Kernel, tmp_path: Path) -> None:
    """After `mokutil --import` (MokNew, MokAuth) and `--trust-mok`: the key is pending, not enrolled; the next step is
    the reboot into MokManager. Read from mokutil's recorded answers and, the same, from the variables alone."""
    module = signed_by_the_recorded_key(built, installed_kernel, tmp_path, PENDING)
    own = read_cert(str(PENDING / "keys/MOK.der"))
    for root in (PENDING, without_outputs(PENDING, tmp_path)):
        state = read_state(str(root))
        assert (state.efi, state.secure_boot, state.setup_mode) == (True, True, False)
        assert state.enrolled == () and state.deleting == () and len(state.pending or ()) == 1
        # MokListTrustedNew is a request; shim sets MokListTrustedRT only after MokManager confirmed it
        assert state.mok_trusted is False and state.mok_trust_request == "trust"
        verdict = judge(read_signer(str(module)), state, own)
        assert verdict.mok == "pending" and verdict.own_key and verdict.outcome == "unknown"
        assert verdict.next_step.startswith("reboot and confirm the key in the blue MokManager screen (Enroll MOK)")
    text = subprocess.run([sys.executable, "-m", "kmodtui", "secureboot", "--root", str(PENDING), "--module",
                           str(module)], capture_output=True, text=True).stdout
    assert "MOK (mokutil): enrolled 0, pending 1, to delete 0" in text
    assert "MokListTrustedRT) no (asked to trust at the next boot: MokListTrustedNew, confirmed in MokManager)" in text
    assert "reboot and confirm the key in the blue MokManager screen" in text


def test_enrolled_and_trusted_by_shim_leaves_only_the_keyring_to_see(built: BuiltModules, installed_kernel: Kernel,
                                                                     tmp_path: Path) -> None:
    """MokListRT holds the key and MokListTrustedRT is set, with Debian 12's 6.1 config (INTEGRITY_MACHINE_KEYRING=y,
    LOCK_DOWN_IN_EFI_SECURE_BOOT=y). The kernel's keyrings could not be made here: whether .machine holds the key
    stays unknown, and the next step is to look there, not to enrol."""
    module = signed_by_the_recorded_key(built, installed_kernel, tmp_path, TRUSTED)
    own = read_cert(str(TRUSTED / "keys/MOK.der"))
    for root in (TRUSTED, without_outputs(TRUSTED, tmp_path)):
        state = read_state(str(root))
        assert (state.secure_boot, state.mok_trusted, state.mok_trust_request) == (True, True, None) and state.pending == ()
        assert state.config and state.config["INTEGRITY_MACHINE_KEYRING"] == "y"
        verdict = judge(read_signer(str(module)), state, own)
        assert verdict.mok == "enrolled" and verdict.outcome == "unknown" and verdict.trusted_in == ()
        assert "whether the kernel trusts it is unknown" in verdict.reasons[0]
        assert "Secure Boot is on and this kernel locks itself down under Secure Boot" in verdict.reasons[1]
        assert verdict.next_step.startswith("nothing to enrol: the key is enrolled and shim tells the kernel to trust "
                                            "MOK keys (MokListTrustedRT); see that .machine holds it")


@pytest.mark.parametrize("state", [PENDING, TRUSTED], ids=lambda p: p.name)
def test_the_real_mokutil_says_again_what_was_recorded(state: Path, tmp_path: Path) -> None:
    mokutil = require_tool("mokutil")
    if os.path.isdir("/sys/firmware/efi/mok-variables"):
        pytest.skip("this machine has shim's MOK variable table: mokutil reads MokListRT there, not in EFIVARFS_PATH")
    copy = tmp_path / state.name
    shutil.copytree(state, copy)  # mokutil only reads here; a copy keeps the recorded folder as it is anyway
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C",
           "EFIVARFS_PATH": f"{copy}/sys/firmware/efi/efivars/"}
    questions = dict(QUESTIONS)
    if state == TRUSTED:  # it skips an enrolled key before asking for a password: nothing is written
        questions[("--import", "keys/MOK.der", "--hash-file", "/dev/null")] = "mokutil-import.txt"
    version = subprocess.run([mokutil, "--version"], env=env, capture_output=True, text=True, timeout=30).stdout.strip()
    for question, recorded in questions.items():
        done = subprocess.run([mokutil, *question], cwd=copy, env=env, stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=30)
        expected = (state / "outputs" / recorded).read_text()
        if version == RECORDED_WITH:
            assert done.stdout == expected, question
        else:  # another mokutil (or its OpenSSL) prints a certificate its own way: the same keys, the same verdict lines
            assert mok_list(done.stdout) == mok_list(expected), (version, question)
            assert [line for line in done.stdout.splitlines() if not line.startswith((" ", "[", "SHA1", "Cert"))] == [
                line for line in expected.splitlines() if not line.startswith((" ", "[", "SHA1", "Cert"))], (version, question)


def test_a_damaged_variable_gives_what_it_holds_and_no_traceback(tmp_path: Path) -> None:
    """MokNew cut short, its list size made too big, its certificate's bytes spoiled: the keys read before the damage,
    nothing more; `--root` still answers."""
    data = (PENDING / f"sys/firmware/efi/efivars/MokNew-{SHIM}").read_bytes()[4:]
    assert signature_list(data[:40]) == signature_list(data[:16] + b"\xff\xff\xff\x7f" + data[20:]) == ()
    assert signature_list(data[:28 + 16] + b"\x30\x82\xff" + data[28 + 16 + 3:]) == ()
    assert len(signature_list(data + data[:60])) == 1  # a whole list, then a cut one
    root = without_outputs(PENDING, tmp_path)
    (root / f"sys/firmware/efi/efivars/MokNew-{SHIM}").write_bytes(b"\x07\x00\x00\x00" + data[:100])
    assert read_state(str(root)).pending == ()
    result = subprocess.run([sys.executable, "-m", "kmodtui", "secureboot", "--root", str(root), "--json"],
                            capture_output=True, text=True)
    assert result.returncode in (0, 1) and result.stderr == "" and '"pending": []' in result.stdout


@pytest.mark.parametrize("state", [PENDING, TRUSTED], ids=lambda p: p.name)
def test_the_json_of_each_made_state_follows_its_schema(state: Path, built: BuiltModules, repo_root: Path) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    result = subprocess.run([sys.executable, "-m", "kmodtui", "secureboot", "--root", str(state), "--module",
                             str(built.consumer_ko), "--json"], capture_output=True, text=True)
    payload = json.loads(result.stdout)
    jsonschema.validate(payload, json.loads((repo_root / "schema" / "secureboot.json").read_text()))
    assert payload["boot"]["mok_trust_request"] == ("trust" if state == PENDING else None)
    assert len(payload["mok"]["pending" if state == PENDING else "enrolled"]) == 1
