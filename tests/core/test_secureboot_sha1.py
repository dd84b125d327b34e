"""A module signed with sha1, on kernels that do and do not verify sha1 (issue 33).

16ab7cb5825f ('crypto: pkcs7 - remove sha1 support', 6.7) took sha1 out of the kernel's PKCS#7 parser and
CONFIG_MODULE_SIG_SHA1 out of kernel/module/Kconfig; 203a6763ab69 reverted both (6.9, 6.8.3, 6.7.12). The
recorded states hold the real configs of CachyOS's 6.8.2 and 6.8.3 kernel packages (sources in
tests/secureboot_states/manifest.json): 6.8.2's lists the module signing hashes without SHA1, 6.8.3's with it.
The module is signed here with sha1 by the kernel's own scripts/sign-file and the recorded throwaway key; no
public capture of the kernel refusing a sha1 signature was found, so the refusal itself is the kernel's rule
(kernel/module/signing.c: -ENOPKG is 'module with unsupported crypto'), not a recorded log."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from kmodtui.core.build.signing import sign_files
from kmodtui.core.model import Kernel
from kmodtui.core.report.secureboot import verdict_summary
from kmodtui.core.secureboot import judge, read_signer, read_state
from tests.core.test_secureboot import STATES, kmodtui
from tests.realtools import BuiltModules, require_tool, run_ok

KEYS = STATES / "mok-pending-made-here" / "keys"
REMOVED, BACK = STATES / "cachyos682-sha1-removed-lockdown-composed", STATES / "cachyos683-sha1-back-lockdown-composed"


@pytest.fixture
def sha1_module(built: BuiltModules, installed_kernel: Kernel, tmp_path: Path) -> Path:
    """consumer.ko signed with sha1 by the kernel's scripts/sign-file and the recorded test key."""
    require_tool("openssl")
    module = tmp_path / "consumer-sha1.ko"
    shutil.copy(built.consumer_ko, module)
    sign_files([str(module)], installed_kernel.build_dir, str(KEYS / "MOK.priv"), str(KEYS / "MOK.der"), "sha1")
    return module


def test_the_module_is_signed_with_sha1_as_modinfo_reads_it(sha1_module: Path) -> None:
    modinfo = require_tool("modinfo")
    assert run_ok([modinfo, "-F", "sig_hashalgo", str(sha1_module)]).stdout.strip() == "sha1"
    signer = read_signer(str(sha1_module))
    assert signer.hash_algo == "sha1"
    assert signer.signer == run_ok([modinfo, "-F", "signer", str(sha1_module)]).stdout.strip() == "kmodtui module signing key"


def test_a_6_8_2_kernel_without_module_sig_sha1_refuses_it(sha1_module: Path) -> None:
    result = kmodtui("secureboot", "--root", str(REMOVED), "--module", str(sha1_module), "--json")
    assert result.returncode == 1, result.stderr
    payload = json.loads(result.stdout)
    assert payload["config"]["KERNEL_VERSION"] == "6.8.2" and "MODULE_SIG_SHA1" not in payload["config"]
    verdict = payload["modules"][0]
    assert verdict["hash_algo"] == "sha1" and verdict["outcome"] == "will be refused"
    why = verdict["reasons"][0]
    assert "cannot verify" in why and "but not CONFIG_MODULE_SIG_SHA1" in why and "16ab7cb5825f" in why
    assert "sha256, sha384, sha512, sha3-256, sha3-384, sha3-512" in why
    assert any("lockdown is 'integrity'" in r for r in verdict["reasons"][1:])
    assert verdict["next_step"].startswith(f"re-sign it with sha512: scripts/sign-file sha512 PRIVATE-KEY CERTIFICATE "
                                           f"{sha1_module} ")
    summary = verdict_summary(judge(read_signer(str(sha1_module)), read_state(str(REMOVED))))
    assert summary == ("it is signed with sha1, which this kernel cannot verify, and signatures are enforced here, "
                       "so the kernel refuses it")
    human = kmodtui("secureboot", "--root", str(REMOVED), "--module", str(sha1_module))
    assert "Verdict: WILL BE REFUSED" in human.stdout and "re-sign it with sha512" in human.stdout


def test_a_6_8_3_kernel_with_the_revert_does_not_refuse_it_for_sha1(sha1_module: Path) -> None:
    verdict = judge(read_signer(str(sha1_module)), read_state(str(BACK)))
    # what is left unknown is its key: no keyring was recorded
    assert verdict.outcome == "unknown" and "whether the kernel trusts it is unknown" in verdict.reasons[0]
    assert not any("sha1" in r for r in verdict.reasons)
    assert "re-sign" not in verdict.next_step


def test_a_sha256_signature_on_the_6_8_2_kernel_is_not_refused_for_its_hash(built: BuiltModules, tmp_path: Path,
                                                                            installed_kernel: Kernel) -> None:
    module = tmp_path / "consumer-sha256.ko"
    shutil.copy(built.consumer_ko, module)
    sign_files([str(module)], installed_kernel.build_dir, str(KEYS / "MOK.priv"), str(KEYS / "MOK.der"), "sha256")
    verdict = judge(read_signer(str(module)), read_state(str(REMOVED)))
    assert not any("cannot verify" in r or "sha1" in r for r in verdict.reasons)


def test_without_a_full_config_a_6_8_release_is_doubted_and_others_are_not(sha1_module: Path) -> None:
    """Ubuntu 24.04's 6.8.0-38-generic (GloriousEggroll/AVMATRIX-VC41-VC42-CAPTURE#3), its config unread: whether
    its PKCS#7 code reads sha1 is unknown; a 6.1 (Debian 12's config) or 6.18 kernel reads it."""
    signer = read_signer(str(sha1_module))
    base = read_state(str(STATES / "mok-enrolled-trusted-made-here"))
    doubted = judge(signer, replace(base, release="6.8.0-38-generic", config_release="", config=None))
    assert doubted.outcome == "unknown"
    assert any("whether 6.8.0-38-generic's does is not in the config read" in r for r in doubted.reasons)
    for state in (base, replace(base, release="6.18.44", config_release="", config=None)):
        assert not any("sha1" in r for r in judge(signer, state).reasons)


def test_diagnose_names_the_kernels_unsupported_crypto_line() -> None:
    """The kernel's line for -ENOPKG, with the loader's answer after it: the cause is the signature's algorithm,
    and the fix re-signs, not the enrol step 'Key was rejected by service' alone gets."""
    from kmodtui.core.diagnose.engine import diagnose_lines

    lines = ["Loading of module with unsupported crypto is rejected",
             "insmod: ERROR: could not insert module consumer.ko: Key was rejected by service"]
    signals = diagnose_lines(lines).signals
    assert [s.rule for s in signals] == ["loader-unsupported-crypto", "loader-key-rejected"]
    assert signals[0].cause.value == "module_signature_unsupported"
