"""The two states a real Secure Boot kernel under QEMU printed (tests/core/test_secureboot_vm.py recorded
them into tests/secureboot_states/, manifest.json says how), replayed without QEMU: for each module the
guest tried, the doctor's verdict is what the kernel's loader did with it (outputs/insmod-<module>.txt)."""

from __future__ import annotations

from pathlib import Path

import pytest

from kmodtui.core.secureboot import judge, read_cert, read_signer, read_state
from tests.sbvm import REFUSED, insmod_loaded

STATES = Path(__file__).resolve().parent.parent / "secureboot_states"
MODULES = STATES / "qemu-debian12-sb-mok-trusted-made-here" / "modules"  # the same three files in both boots


@pytest.mark.parametrize("name, trusted", [("qemu-debian12-sb-mok-trusted-made-here", True),
                                           ("qemu-debian12-sb-mok-untrust-asked-made-here", False)])
def test_the_doctor_says_what_the_real_kernel_did_with_each_module(name: str, trusted: bool) -> None:
    root = STATES / name
    state = read_state(str(root))
    assert state.efi and state.secure_boot and state.lockdown == "integrity" and state.mok_trusted is trusted
    own = read_cert(str(root / "keys" / "MOK.der"))
    modules = sorted(MODULES.glob("*.ko"))
    assert [m.name for m in modules] == ["1-unsigned.ko", "2-unenrolled-key.ko", "3-kmodtui-signed.ko"]
    for module in modules:
        said = (root / "outputs" / f"insmod-{module.name}.txt").read_text()
        loaded = insmod_loaded(said)
        assert loaded or REFUSED in said, said
        verdict = judge(read_signer(str(module)), state, own)
        assert verdict.outcome == ("will load" if loaded else "will be refused"), (module.name, said, verdict)
    # what the kernel did on Debian 12, MokListTrusted set or not: kmodtui's key in .machine, its module loaded
    assert any(key.startswith("kmodtui module signing key") for key in state.keyrings[".machine"] or ())
    assert insmod_loaded((root / "outputs" / "insmod-3-kmodtui-signed.ko.txt").read_text())


def test_two_kmodtui_keys_of_one_name_are_told_apart_by_the_enrolled_certificate() -> None:
    """Both key pairs are named 'kmodtui module signing key'; .machine holds the enrolled one. The module
    signed with the other was 'unknown' (a key of its name is trusted); the kernel refused it."""
    state = read_state(str(STATES / "qemu-debian12-sb-mok-trusted-made-here"))
    verdict = judge(read_signer(str(MODULES / "2-unenrolled-key.ko")), state)
    assert verdict.outcome == "will be refused" and verdict.mok == "not enrolled" and not verdict.trusted_in
