"""The Secure Boot doctor: the signer it reads is what modinfo reads, the key name it expects is the
one the kernel gives the certificate, and recorded states from public threads (tests/secureboot_states,
each file's source in its manifest) get the verdicts the kernel's rules give for the facts they hold."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from kmodtui.core.build.signing import make_signing_key, sign_files
from kmodtui.core.model import Kernel
from kmodtui.core.secureboot import judge, read_cert, read_signer, read_state
from kmodtui.core.secureboot.mok import keyctl_keys, mok_list
from tests.realtools import BuiltModules, require_tool, run_ok

STATES = Path(__file__).resolve().parent.parent / "secureboot_states"


def kmodtui(*args: str, env: dict | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kmodtui", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})})


def signed_copy(built: BuiltModules, kernel: Kernel, where: Path, common_name: str, hash_algo: str = "sha256") -> Path:
    """consumer.ko signed here by a new key pair named `common_name`, with the kernel's sign-file."""
    require_tool("openssl")
    module = where / f"{hash_algo}-{common_name.replace(' ', '_')}.ko"
    shutil.copy(built.consumer_ko, module)
    key, cert = make_signing_key(str(where / f"keys-{hash_algo}-{common_name.replace(' ', '_')}"), common_name)
    sign_files([str(module)], kernel.build_dir, key, cert, hash_algo)
    return module


@pytest.mark.parametrize("hash_algo", ["sha256", "sha1", "sha512"])
def test_the_signer_is_what_modinfo_reads_on_a_module_kmodtui_signed(built: BuiltModules, installed_kernel: Kernel,
                                                                     tmp_path: Path, hash_algo: str) -> None:
    modinfo = require_tool("modinfo")
    module = signed_copy(built, installed_kernel, tmp_path, "kmodtui module signing key", hash_algo)
    signer = read_signer(str(module))
    assert signer.signed and not signer.by_skid
    assert signer.signer == run_ok([modinfo, "-F", "signer", str(module)]).stdout.strip()
    assert signer.key_id == run_ok([modinfo, "-F", "sig_key", str(module)]).stdout.strip()
    assert signer.hash_algo == run_ok([modinfo, "-F", "sig_hashalgo", str(module)]).stdout.strip() == hash_algo


def test_an_unsigned_module_has_no_signer(built: BuiltModules) -> None:
    assert not read_signer(str(built.consumer_ko)).signed


def test_the_kernel_names_kmodtuis_certificate_as_the_doctor_expects(tmp_path: Path) -> None:
    """Added to a session keyring, the real kernel describes the certificate "CN: skid"; the doctor looks for
    that in .builtin_trusted_keys, .secondary_trusted_keys and .machine."""
    keyctl = require_tool("keyctl")
    require_tool("openssl")
    _key, cert = make_signing_key(str(tmp_path / "keys"))
    with open(cert, "rb") as f:
        added = subprocess.run([keyctl, "session", "-", "sh", "-c", f"{keyctl} padd asymmetric '' @s >/dev/null && "
                                f"{keyctl} show @s"], stdin=f, capture_output=True, text=True)
    if added.returncode != 0:
        pytest.skip(f"this kernel refuses asymmetric keys in a session keyring: {added.stderr.strip()}")
    own = read_cert(cert)
    assert own is not None
    assert keyctl_keys(added.stdout) == (f"kmodtui module signing key: {own.cert.skid.hex()}",)
    serial = run_ok(["openssl", "x509", "-inform", "DER", "-in", cert, "-noout", "-serial"]).stdout.strip()
    assert serial == "serial=" + own.cert.serial.hex().upper()


def test_this_machine_without_efi_names_the_key_and_the_enrol_step(built: BuiltModules, installed_kernel: Kernel,
                                                                   tmp_path: Path) -> None:
    """The issue's done-when, on a build host like this project's (no EFI, an empty .builtin_trusted_keys)."""
    if os.path.isdir("/sys/firmware/efi"):
        pytest.skip("this machine boots with EFI: the no-EFI words are checked on recorded states instead")
    state_dir = tmp_path / "state"
    module = tmp_path / "consumer.ko"
    shutil.copy(built.consumer_ko, module)
    env = {"KMODTUI_STATE_DIR": str(state_dir)}
    assert kmodtui("sign", str(module), "--kernel", installed_kernel.release, env=env).returncode == 0
    result = kmodtui("secureboot", "--module", str(module), env=env)
    assert result.returncode == 1, result.stderr
    key_id = run_ok([require_tool("modinfo"), "-F", "sig_key", str(module)]).stdout.strip()
    text = result.stdout
    assert "no EFI" in text and "Secure Boot does not exist here, so it does not enforce" in text
    assert f"key {key_id}" in text and "(kmodtui's key)" in text
    assert f"sudo mokutil --import {state_dir}/mok/MOK.der" in text
    payload = json.loads(kmodtui("secureboot", "--module", str(module), "--json", env=env).stdout)
    verdict = payload["modules"][0]
    assert payload["boot"]["efi"] is False and verdict["key_id"] == key_id and verdict["own_key"]
    if payload["keyrings"][".builtin_trusted_keys"] == []:
        assert "which is in no keyring this kernel trusts for modules" in text
    assert "mokutil --import" in verdict["next_step"]


def test_the_recorded_state_of_this_host_without_module_support(built: BuiltModules) -> None:
    """Recorded here (manifest: this-host-no-efi): no EFI, mokutil's own refusal, an empty .builtin_trusted_keys,
    and a running kernel built without CONFIG_MODULES."""
    state = read_state(str(STATES / "this-host-no-efi"))
    assert state.efi is False and state.secure_boot is None and state.enrolled == ()
    assert state.keyrings[".builtin_trusted_keys"] == () and state.keyring_sizes[".builtin_trusted_keys"] == 0
    verdict = judge(read_signer(str(built.consumer_ko)), state)
    assert verdict.outcome == "will be refused" and "CONFIG_MODULES is not set" in verdict.reasons[0]


def test_lockdown_integrity_refuses_an_unsigned_module(built: BuiltModules) -> None:
    state = read_state(str(STATES / "lockdown-integrity-composed"))
    assert state.lockdown == "integrity" and state.config and state.config["MODULE_SIG"] == "y"
    verdict = judge(read_signer(str(built.consumer_ko)), state)
    assert verdict.outcome == "will be refused"
    assert verdict.reasons == ("the module is not signed",
                               "lockdown is 'integrity' (/sys/kernel/security/lockdown): such a module is refused")
    assert verdict.next_step.startswith("sign it: kmodtui sign")


def test_a_key_enrolled_in_mok_but_machine_keyring_empty(built: BuiltModules, installed_kernel: Kernel,
                                                          tmp_path: Path) -> None:
    """rhboot/shim#692: Secure Boot on, one MOK 'Module signing key' (mokutil -l --short), MokListTrustedRT set,
    .machine empty. A module signed by a key of that name: enrolled by name only, in no keyring read, and
    the rest is not known (the thread shows no config, lockdown, nor the other keyrings)."""
    state = read_state(str(STATES / "shim692-mok-enrolled-machine-empty"))
    assert state.secure_boot is True and state.mok_trusted is True and state.keyrings[".machine"] == ()
    assert [k.subject for k in state.enrolled or ()] == ["Module signing key"]
    module = signed_copy(built, installed_kernel, tmp_path, "Module signing key")
    verdict = judge(read_signer(str(module)), state)
    assert verdict.mok == "enrolled (by name only)" and verdict.outcome == "unknown"
    assert ".machine (0 keys)" in verdict.reasons[0] and "not read" in verdict.reasons[0]
    assert "CONFIG_INTEGRITY_MACHINE_KEYRING" in verdict.next_step


def test_a_key_named_like_a_builtin_one_is_not_proven_trusted(built: BuiltModules, installed_kernel: Kernel,
                                                              tmp_path: Path) -> None:
    """truenas/linux#259: keyctl shows 'TrueNAS SCALE Signing Key' in .builtin_trusted_keys. A module signed
    here by a key of the same name is never called trusted: only the name can be compared."""
    state = read_state(str(STATES / "truenas259-builtin-key"))
    assert state.keyrings[".builtin_trusted_keys"] == (
        "Build time autogenerated kernel key: ea518bd20673bd4316146057597ff350063da6b7",
        "TrueNAS SCALE Signing Key: defc6ebf66ad1e53ccfa7162de16d9b3fc3a7f14")
    module = signed_copy(built, installed_kernel, tmp_path, "TrueNAS SCALE Signing Key")
    verdict = judge(read_signer(str(module)), state)
    assert verdict.outcome == "unknown" and verdict.trusted_in == (".builtin_trusted_keys",)
    assert "only its name can be compared" in verdict.reasons[0]


def test_same_name_as_an_enrolled_mok_but_another_serial_is_not_enrolled(built: BuiltModules, installed_kernel: Kernel,
                                                                         tmp_path: Path) -> None:
    """linux-surface/linux-surface#906: Secure Boot on, two MOKs listed in full (serials shown). A key made
    here with the CN 'linux-surface' has another serial: not that MOK, so the step is to enrol it."""
    state = read_state(str(STATES / "surface906-sb-on-two-moks"))
    assert state.secure_boot is True
    assert [(k.subject, k.issuer, k.serial) for k in state.enrolled or ()] == [
        ("Debian Secure Boot CA", "Debian Secure Boot CA", "ED:54:A1:D5:AF:87:48:94:8D:9F:89:32:EE:9C:7C:34"),
        ("", "linux-surface", "43:3E:21:A6:6D:1A:2A:A6:84:02:E2:07:2D:AF:4E:41:93:6A:23:3E")]
    module = signed_copy(built, installed_kernel, tmp_path, "linux-surface")
    verdict = judge(read_signer(str(module)), state)
    assert verdict.mok == "not enrolled" and "sudo mokutil --import" in verdict.next_step


def test_the_short_and_empty_mokutil_forms() -> None:
    assert mok_list("MokNew is empty\n") == ()
    assert [k.fingerprint for k in mok_list("59c0e1b914 Module signing key\n")] == ["59c0e1b914"]


def test_secureboot_json_follows_its_schema(built: BuiltModules, repo_root: Path) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    result = kmodtui("secureboot", "--root", str(STATES / "lockdown-integrity-composed"), "--module",
                     str(built.consumer_ko), "--json")
    assert result.returncode == 1, result.stderr
    payload = json.loads(result.stdout)
    schema = json.loads((repo_root / "schema" / "secureboot.json").read_text())
    jsonschema.validate(payload, schema)
    assert payload["modules"][0]["outcome"] == "will be refused"


def test_bad_input_is_one_line(tmp_path: Path) -> None:
    garbage = tmp_path / "x.ko"
    garbage.write_text("not a module")
    result = kmodtui("secureboot", "--module", str(garbage))
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.strip().splitlines() == [f"kmodtui: {garbage}: is not a kernel module (.ko, ELF or compressed)"]
    missing = kmodtui("secureboot", "--root", str(tmp_path / "nope"))
    assert missing.returncode == 2 and len(missing.stderr.strip().splitlines()) == 1


def test_a_fifo_in_a_recorded_root_is_an_unread_fact_not_a_hang(tmp_path: Path) -> None:
    """A recorded state is a folder anyone may have written: its lockdown, keys, EFI variables and
    config.gz as FIFOs blocked the read for ever (before: the doctor hung)."""
    for rel in ("sys/kernel/security/lockdown", "proc/keys", "proc/config.gz", "proc/sys/kernel/osrelease",
                "sys/firmware/efi/efivars/SecureBoot-8be4df61-93ca-11d2-aa0d-00e098032b8c"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        os.mkfifo(tmp_path / rel)
    result = kmodtui("secureboot", "--root", str(tmp_path), "--json")
    assert result.returncode in (0, 1), result.stderr
    assert json.loads(result.stdout)["boot"]


def test_secure_boot_off_in_setup_mode_is_said_and_nothing_is_guessed(built: BuiltModules) -> None:
    """system76/firmware-open#388: `SecureBoot disabled` / `Platform is in Setup Mode`. Secure Boot does not
    enforce; whether signatures are enforced otherwise (lockdown, sig_enforce) was not shown: unknown."""
    state = read_state(str(STATES / "system76-388-sb-off-setup-mode"))
    assert (state.efi, state.secure_boot, state.setup_mode) == (True, False, True)
    verdict = judge(read_signer(str(built.consumer_ko)), state)
    assert verdict.outcome == "unknown"
    assert verdict.reasons[-1].startswith("Secure Boot is off; lockdown and module.sig_enforce could not be read")


def test_check_update_includes_the_doctors_verdict(built: BuiltModules, installed_kernel: Kernel,
                                                   repo_root: Path) -> None:
    """check-update's will-it-load asks the doctor too: on the recorded lockdown-integrity state the unsigned
    provider (whose symbols all resolve) does not load, for its signature, and the advice is to sign, not to
    rebuild; on Secure Boot off with lockdown unread (system76#388) the verdict is unknown and blocks nothing."""
    jsonschema = pytest.importorskip("jsonschema")
    args = ("check-update", "--new-kernel", installed_kernel.release, "--modules", str(built.provider_ko))
    locked = kmodtui(*args, "--boot-state", str(STATES / "lockdown-integrity-composed"))
    assert locked.returncode == 1, locked.stderr
    assert "NO (1 problem(s): its signature (below))" in locked.stdout
    assert "signature: WILL BE REFUSED (not signed): the module is not signed; lockdown is 'integrity'" in locked.stdout
    assert "Next step: sign it: kmodtui sign" in locked.stdout and "Rebuild the modules" not in locked.stdout
    payload = json.loads(kmodtui(*args, "--boot-state", str(STATES / "lockdown-integrity-composed"), "--json").stdout)
    jsonschema.validate(payload, json.loads((repo_root / "schema" / "check-update.json").read_text()))
    module = payload["modules"][0]
    assert not module["loads"] and not payload["loads"]
    assert module["secureboot"]["outcome"] == "will be refused" and module["secureboot"]["signed"] is False
    assert payload["secureboot"]["lockdown"] == "integrity"
    off = json.loads(kmodtui(*args, "--boot-state", str(STATES / "system76-388-sb-off-setup-mode"), "--json").stdout)
    jsonschema.validate(off, json.loads((repo_root / "schema" / "check-update.json").read_text()))
    assert off["loads"] and off["modules"][0]["secureboot"]["outcome"] == "unknown"
    assert off["secureboot"]["secure_boot"] is False


def test_mok_keys_in_machine_linked_into_the_secondary_keyring(built: BuiltModules, installed_kernel: Kernel,
                                                               tmp_path: Path) -> None:
    """Oracle Linux 8's Secure Boot guide (UEK R7): `keyctl show %:.secondary_trusted_keys` draws .builtin_trusted_keys
    and .machine (three MOK keys) inside it. Each linked keyring's keys are read from the tree; a module signed here
    by a key of the same name is found there by name and still not called trusted."""
    state = read_state(str(STATES / "oracle-uek7-machine-linked"))
    assert state.keyrings[".machine"] == ("Oracle America, Inc.: 7c552922286d66bcb33c53d7ee0f1cd716ecdc63",
                                          "Oracle America, Inc.: 39bff3f0f578f26e527321cafda2a9cdbd71143c",
                                          "Oracle America, Inc.: 4ff35c3e09ce586fa776d56468d86b022af272f1")
    assert len(state.keyrings[".builtin_trusted_keys"] or ()) == 4 and len(state.keyrings[".secondary_trusted_keys"] or ()) == 7
    module = signed_copy(built, installed_kernel, tmp_path, "Oracle America, Inc.")
    verdict = judge(read_signer(str(module)), state)
    assert verdict.outcome == "unknown" and ".machine" in verdict.trusted_in
    assert "only its name can be compared" in verdict.reasons[0]


def test_a_mok_only_in_platform_is_not_called_refused(built: BuiltModules, installed_kernel: Kernel,
                                                      tmp_path: Path) -> None:
    """linux-surface/linux-surface#906 (geppi): on Ubuntu's 5.15.0-43 with module.sig_enforce=1, modules signed by
    the MOK 'linux-surface' load although the key is only in .platform (the distribution patch). The kernel names it
    'Default Company Ltd: linux-surface: <skid>' (O before CN); the doctor finds it by name there and says that
    whether this kernel uses .platform is not in its config, instead of 'refused'."""
    state = read_state(str(STATES / "surface906-ubuntu515-mok-in-platform"))
    assert state.release == "5.15.0-43-generic" and len(state.keyrings[".platform"] or ()) == 4
    module = signed_copy(built, installed_kernel, tmp_path, "linux-surface")
    verdict = judge(read_signer(str(module)), state)
    assert verdict.outcome == "unknown"
    assert "a key of that name is in .platform" in verdict.reasons[0] and "Ubuntu's 5.15" in verdict.reasons[0]


def test_every_recorded_file_says_where_it_is_from() -> None:
    manifest = json.loads((STATES / "manifest.json").read_text())
    listed = {f"{name}/{rel}": {**state, **entry} for name, state in manifest["states"].items()
              for rel, entry in state["files"].items()}
    on_disk = {str(p.relative_to(STATES)) for p in STATES.rglob("*") if p.is_file() and p.name != "manifest.json"}
    assert on_disk == set(listed)
    assert all(("source" in e and "command" in e) or "made" in e for e in listed.values())


@pytest.mark.timeout(60)
def test_a_new_kernels_build_tree_config_that_is_a_fifo_is_an_unread_fact_not_a_hang(built: BuiltModules,
                                                                                     tmp_path: Path) -> None:
    """check-update reads the new kernel's .config from its build tree (a headers package unpacked: a
    stranger's files). A FIFO there would block a plain open for ever; it is a config not read."""
    from kmodtui.core.secureboot.update import check_signatures

    tree = tmp_path / "build"
    tree.mkdir()
    os.mkfifo(tree / ".config")
    checked = check_signatures([str(built.consumer_ko)], "9.9.9-kmodtui-test", build_dir=str(tree))
    assert checked.state.config_source != str(tree / ".config")
    assert any(what == "kernel config" for what, _ in checked.state.unknown)
    assert str(built.consumer_ko) in checked.verdicts
