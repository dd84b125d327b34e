"""Building for an ARM board on this x86_64 machine: Debian's arm64 headers, unpacked by kmodtui
with this host's kbuild tools, and the aarch64 cross compiler."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from kmodtui.core.elf.module import read_module
from kmodtui.core.model import Kernel
from tests.realtools import EXAMPLES, apt_download_foreign, require_tool, run_ok


@pytest.mark.network
def test_provider_cross_built_for_arm64_is_an_aarch64_module(installed_kernel: Kernel, tmp_path: Path) -> None:
    if os.uname().machine != "x86_64":
        pytest.skip("the cross-build test is written for an x86_64 host")
    require_tool("aarch64-linux-gnu-gcc-12")
    abi = installed_kernel.release.removesuffix("-amd64")
    deb = apt_download_foreign(f"linux-headers-{abi}-arm64", "arm64")
    env = {**os.environ, "KMODTUI_CACHE_DIR": str(tmp_path / "cache"), "KMODTUI_STATE_DIR": str(tmp_path / "state")}

    def kmodtui(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "kmodtui", *args], capture_output=True, text=True, env=env)

    [arm] = json.loads(kmodtui("kernels", "--json", "--root", str(tmp_path / "none"), "--from", str(deb)).stdout)["kernels"]
    assert arm["arch"] == "aarch64" and arm["kbuild_arch"] == "arm64" and arm["flavor"] == "arm64"
    # no --arch: kmodtui sees the tree is not for this host and cross-builds
    result = kmodtui("build", "-k", arm["build_dir"], "-s", str(EXAMPLES / "provider"), "--json")
    assert result.returncode == 0, result.stdout[-3000:]
    exit_event = json.loads(result.stdout.splitlines()[-1])
    [ko] = [a for a in exit_event["artifacts"] if a.endswith(".ko")]
    module = read_module(ko)
    assert module.machine == "aarch64" and module.vermagic.startswith(f"{abi}-arm64 ")
    assert "ELF 64-bit LSB relocatable, ARM aarch64" in run_ok(["file", ko]).stdout if os.path.exists("/usr/bin/file") else True
    # the C reader that resolve uses says what the Python reader says about an arm64 module too
    from kmodtui.core.elf import kscan
    from kmodtui.core.elf.module import read_module_symbols

    if kscan.available():
        assert kscan.scan_files([ko], jobs=1) == [read_module_symbols(ko)]
    # and it resolves against the arm64 symvers: the right CRCs for that kernel
    resolved = kmodtui("resolve", ko, "--kernel", arm["symvers_path"], "--no-cache")
    assert resolved.returncode == 0, resolved.stdout
