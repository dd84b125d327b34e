"""A package set's check, asked of the package manager itself: apt-get --simulate (debs) or rpm -i
--test (RPMs) in a scratch root that holds what the target has — the installed packages given, and
the kernel's own package (kernels/kernelpkg.py; for RPMs, its kernel() Provides from the symvers)."""

from __future__ import annotations

from kmodtui.core.packages.packageset import InstalledDb
from kmodtui.core.packages.verdict import Installed, Verdict, ask, installed_from, not_asked
from kmodtui.core.resolve.result import ResolveResult


def ask_package_manager(result: ResolveResult, installed: InstalledDb | None = None, kernel_spec: str = "") -> Verdict | None:
    """The tool's answer on installing the result's packages together (kept in result.package_manager);
    None when the result holds no packages."""
    paths = [p.path for p in result.packages]
    if not paths:
        return None
    formats = {p.format for p in result.packages}
    if len(formats) > 1:
        verdict = not_asked("rpm and dpkg", "a set of .rpm and .deb packages: no one tool installs both")
    else:
        seed = installed_from(installed)
        kernel = result.kernel
        if "deb" in formats and kernel is not None and kernel.release and kernel.origin != "symvers":
            from kmodtui.core.kernels.kernelpkg import kernel_package

            own = kernel_package(kernel, kernel_spec)
            if own is not None and not any(p.name in own.names for p in seed):
                seed.append(Installed(own.names[0], own.version, own.arch))
        symvers = kernel.symvers_path if kernel is not None and "rpm" in formats else ""
        arch = next((p.arch for p in result.packages if p.arch and p.arch != "all"), "")
        verdict = ask(paths, seed, symvers or "", arch)
    result.package_manager = verdict
    return verdict
