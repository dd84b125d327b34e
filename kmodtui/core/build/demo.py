"""The demo's seed-000 story, finished for real: after the spec remedy, rebuild the demo's provider
kmod RPM from the edited spec with the real rpmbuild (the bundled provider.ko as its payload), then
check the consumer against it as a package set, as rpm would."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess

from kmodtui.core.errors import KmodError
from kmodtui.core.paths import package_data
from kmodtui.core.trees import remove_tree


def demo_packages() -> tuple[list[str], list[str]]:
    """(consumer RPMs, provider RPMs) bundled with kmodtui."""
    packages = package_data("data", "demo", "packages")
    return (glob.glob(os.path.join(packages, "kmod-consumer-*.rpm")),
            glob.glob(os.path.join(packages, "kmod-provider-*.rpm")))


def rebuild_demo_provider(spec: str, out_dir: str, kernel: str = "", timeout: float = 300) -> str:
    """rpmbuild -bb of the (remedied) demo spec into out_dir; returns the built provider RPM. kernel (a
    symvers file or build dir) is what the spec's `kmodtui rpmdeps --requires` resolves against: the
    demo's kernel is not installed, so the modules' vermagic alone would not find it.
    Raises KmodError with rpmbuild's own words when it fails, or when rpmbuild is missing."""
    rpmbuild = shutil.which("rpmbuild")
    if rpmbuild is None:
        from kmodtui.core.build.tools import install_command

        raise KmodError("rpmbuild", f"is not installed: {install_command(['rpmbuild'])}, then press b again")
    remove_tree(out_dir)
    os.makedirs(out_dir)
    argv = [rpmbuild, "-bb", "--define", f"_topdir {out_dir}", "--define",
            f"demo_modules {package_data('data', 'demo', 'modules')}", spec]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL,
                          env={**os.environ, "LC_ALL": "C", **({"KMODTUI_KERNEL": kernel} if kernel else {})})
    built = glob.glob(os.path.join(out_dir, "RPMS", "*", "kmod-provider-*.rpm"))
    if done.returncode != 0 or not built:
        last = [line for line in (done.stderr or done.stdout).splitlines() if line.strip()][-3:]
        raise KmodError(spec, "rpmbuild failed: " + " / ".join(last))
    return built[0]
