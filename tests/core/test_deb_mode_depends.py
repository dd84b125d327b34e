"""Issue 31 with real builds: deb mode's .deb depends on the kernel's own package even when its image is
not installed here (found in the archive), and a consumer's .deb on its provider's package; the real
dpkg, in a scratch root, refuses the consumer alone and accepts the two together."""

from __future__ import annotations

import glob
import json
import os
import subprocess
import sys
from pathlib import Path

from kmodtui.core.model import Kernel
from tests.pkgtools import DpkgRoot, build_deb
from tests.realtools import EXAMPLES, require_tool, run, run_ok


def kmodtui(*args: str, state: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kmodtui", *args], capture_output=True, text=True,
                          env={**os.environ, "KMODTUI_STATE_DIR": str(state)})


def build_deb_mode(source: Path, kernel: Kernel, state: Path, *extra: str) -> str:
    result = kmodtui("build", "-k", kernel.release, "-s", str(source), "-m", "deb", "--json", *extra, state=state)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    exit_event = json.loads(result.stdout.splitlines()[-1])
    [deb] = [a for a in exit_event["artifacts"] if a.endswith(".deb")]
    return deb


def control(deb: str, field: str) -> str:
    return run_ok([require_tool("dpkg-deb"), "-f", deb, field]).stdout.strip()


def kernel_package_expected(release: str) -> str:
    """What dpkg (installed here) or apt (this machine's lists) say ships the image, asked by the test itself."""
    owner = run(["dpkg-query", "-S", f"/boot/vmlinuz-{release}"])
    if owner.returncode == 0:
        return owner.stdout.split(":")[0].split(",")[0]
    names = [f"linux-binary-{release}"], [f"linux-image-{release}", f"linux-image-{release}-unsigned"]
    for group in names:
        known = [n for n in group if f"Package: {n}\n" in run(["apt-cache", "show", "--no-all-versions", n]).stdout]
        if known:
            return " | ".join(known)
    return ""


def test_deb_mode_depends_on_the_kernels_own_package_even_when_its_image_is_not_installed(
        installed_kernel: Kernel, tmp_path: Path) -> None:
    expected = kernel_package_expected(installed_kernel.release)
    if not expected:  # nobody knows the kernel's package: the build refuses, saying how to name it
        result = kmodtui("build", "-k", installed_kernel.release, "-s", str(EXAMPLES / "provider"), "-m", "deb",
                         state=tmp_path / "state")
        assert result.returncode != 0 and "--deb-depends" in result.stdout + result.stderr, result.stderr
        return
    deb = build_deb_mode(EXAMPLES / "provider", installed_kernel, tmp_path / "state")
    assert control(deb, "Depends") == expected


def test_a_consumers_deb_depends_on_its_providers_package_and_real_dpkg_agrees(
        installed_kernel: Kernel, tmp_path: Path) -> None:
    state = tmp_path / "state"
    provider = build_deb_mode(EXAMPLES / "provider", installed_kernel, state, "--deb-depends", "kmodtui-test-kernel")
    [symvers] = glob.glob(str(state / "builds" / "*" / "work" / "**" / "Module.symvers"), recursive=True)
    consumer = build_deb_mode(EXAMPLES / "consumer", installed_kernel, state, "--deb-depends", "kmodtui-test-kernel",
                              "--extra-symbols", symvers)
    provider_name = control(provider, "Package")
    assert control(consumer, "Depends") == f"kmodtui-test-kernel, {provider_name} (= {control(provider, 'Version')})"
    root = DpkgRoot(tmp_path / "root")
    kernel = build_deb(tmp_path, "kmodtui-test-kernel", "1", {f"/boot/vmlinuz-{installed_kernel.release}": b"x"})
    assert root.install(kernel).returncode == 0
    alone = root.install(Path(consumer))
    assert alone.returncode != 0, alone.stdout  # the consumer's symbols would be missing
    assert f"depends on {provider_name} (= 1.0); however:" in alone.stderr, alone.stderr
    root = DpkgRoot(tmp_path / "root2")
    assert root.install(kernel).returncode == 0
    together = root.install(Path(provider), Path(consumer))
    assert together.returncode == 0, together.stderr
