"""The fix `diagnose` gives depends on the system the log is from, where the log says which: a read-only
root's (rpm-ostree, SteamOS, a VM whose modules come from the host), the headers of a SteamOS or a
Raspberry Pi kernel, a clang-built kernel's toolchain. Each case is a real log of tests/logs/ (its
thread in manifest.json) and the thread's own fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from kmodtui.core.diagnose import diagnose_text
from kmodtui.core.diagnose.engine import decode_log
from kmodtui.core.diagnose.report import primary_json

LOGS = Path(__file__).resolve().parent.parent / "logs"


def _primary(name: str) -> dict:
    primary = primary_json(diagnose_text(decode_log((LOGS / name).read_bytes())))
    assert primary is not None, name
    return primary


@pytest.mark.parametrize("name, cause, says, not_says", [
    # rpm-ostree's journal tag names the system: its fix, not SteamOS's
    ("083-tuxedo-drivers-silverblue-rpm-ostree-readonly.log", "immutable_host", "rpm-ostree install", "steamos-readonly"),
    # the kernel's release names SteamOS: the headers package of that kernel, after unlocking the root
    ("123-xone-steamos-neptune-61-headers-missing.log", "headers_missing", "linux-neptune-61-headers", "rpm-ostree"),
    ("124-xpad-noone-steamos-611-headers-modprobe.log", "headers_missing", "linux-neptune-611-headers", "rpm-ostree"),
    # a Raspberry Pi kernel (rpi-update's, 3.12.26+): the packaged kernel and its headers, or rpi-source
    ("115-rpi-update-8192cu-dkms2-headers-echo.log", "headers_missing", "rpi-source", "neptune"),
    ("116-rtl8812au-rpi-4.14-v7-no-build-dir.log", "headers_missing", "raspberrypi-kernel-headers", "neptune"),
    # a clang-built kernel: its own toolchain
    ("110-v4l2loopback-clang-kernel-dkms-gcc.log", "compiler_mismatch", "LLVM=1", ""),
    ("112-darling-lkm-clang-kernel-zh-tw-make.log", "compiler_mismatch", "LLVM=1", ""),
])
def test_the_fix_is_the_systems_own(name: str, cause: str, says: str, not_says: str) -> None:
    primary = _primary(name)
    assert primary["cause"] == cause
    assert says in primary["fix"][:420], primary["fix"]  # the system's own fix comes first
    assert not not_says or not_says not in primary["fix"], primary["fix"]


def test_a_read_only_root_the_log_does_not_name_gets_each_systems_fix() -> None:
    """A Qubes VM's dpkg (its /lib/modules is dom0's) and a bare pacman line say no system: the fix
    names each one's (the first words of the fix are the cause's own)."""
    for name in ("121-qubes-vm-lib-modules-read-only.log", "122-decker-steamos-usr-read-only.log"):
        primary = _primary(name)
        assert primary["cause"] == "immutable_host"
        for each in ("rpm-ostree", "steamos-readonly disable", "boot.extraModulePackages", "from the host"):
            assert each in primary["fix"], (name, each)
