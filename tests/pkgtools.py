"""Build real RPMs (rpmbuild) and .debs (dpkg-deb) for the package tests, and run the real rpm/dpkg."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from tests.realtools import require_tool, run, run_ok

KMODTUI = f"{sys.executable} -m kmodtui"


def write_kmod_spec(spec: Path, name: str, modules: list[Path], release: str, *, generator: str,
                    kernel_symvers: str | None = None, extra_spec: str = "") -> Path:
    """A kmod spec holding `modules` under /lib/modules/<release>/extra.

    generator "internal": rpm's defaults (what OpenZFS's generic spec gets: no ksym() at all);
    "kmodtui": internal generator off and %__find_provides/%__find_requires pointed at
    `kmodtui rpmdeps`, i.e. what a RHEL build host's ksyms scripts would produce."""
    generators = ""
    if generator == "kmodtui":
        kernel = f" --kernel {kernel_symvers}" if kernel_symvers else ""
        generators = (
            "%global _use_internal_dependency_generator 0\n"
            f"%global __find_provides {KMODTUI} rpmdeps --provides\n"
            f"%global __find_requires {KMODTUI} rpmdeps --requires{kernel}\n"
        )
    copies = "\n".join(f"cp {m} %{{buildroot}}/lib/modules/{release}/extra/" for m in modules)
    spec.write_text(f"""{generators}{extra_spec}
Name: {name}
Version: 1.0
Release: 1
Summary: kmodtui test kmod package
License: GPL
%global debug_package %{{nil}}
%global __os_install_post %{{nil}}
%description
kmodtui test kmod package.
%prep
%install
mkdir -p %{{buildroot}}/lib/modules/{release}/extra
{copies}
%files
/lib/modules/{release}/extra/*.ko
""")
    return spec


def build_kmod_rpm(topdir: Path, name: str, modules: list[Path], release: str, *, generator: str,
                   kernel_symvers: str | None = None, extra_spec: str = "") -> Path:
    """Write the spec (write_kmod_spec) into `topdir` and build it with the real rpmbuild."""
    rpmbuild = require_tool("rpmbuild")
    topdir.mkdir(parents=True, exist_ok=True)
    spec = write_kmod_spec(topdir / f"{name}.spec", name, modules, release, generator=generator,
                           kernel_symvers=kernel_symvers, extra_spec=extra_spec)
    result = run([rpmbuild, "-bb", "--define", f"_topdir {topdir}", "--define", "_build_id_links none", str(spec)])
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return next((topdir / "RPMS").rglob(f"{name}-1.0-1.*.rpm"))


def build_kernel_provides_rpm(topdir: Path, release: str, symvers: str) -> Path:
    """What a RHEL kernel package does: Provides kernel(sym) = crc for each exported symbol."""
    rpmbuild = require_tool("rpmbuild")
    topdir.mkdir(parents=True, exist_ok=True)
    provides = []
    for line in Path(symvers).read_text().splitlines():
        cols = line.split("\t")
        if len(cols) >= 3:
            provides.append(f"Provides: kernel({cols[1]}) = 0x{int(cols[0], 16):08x}")
    spec = topdir / "kernel-stub.spec"
    spec.write_text("\n".join([
        "Name: kernel-core-stub", "Version: 1.0", "Release: 1", "Summary: kernel(sym) Provides of " + release,
        "License: GPL", "BuildArch: noarch", *provides, "%description", "stub", "%files",
    ]) + "\n")
    result = run([rpmbuild, "-bb", "--define", f"_topdir {topdir}", str(spec)])
    assert result.returncode == 0, result.stderr[-3000:]
    return next((topdir / "RPMS").rglob("kernel-core-stub-*.rpm"))


class RpmRoot:
    """A private rpm database in a scratch root: nothing touches the machine's own."""

    def __init__(self, root: Path) -> None:
        self.rpm = require_tool("rpm")
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        run_ok([self.rpm, "--root", str(root), "--dbpath", "/var/lib/rpm", "--initdb"])

    def install_justdb(self, *packages: Path) -> None:
        run_ok([self.rpm, "--root", str(self.root), "--dbpath", "/var/lib/rpm", "-i", "--justdb", "--nodeps",
                "--ignorearch", "--ignoreos", *map(str, packages)])

    def test_install(self, package: Path) -> tuple[int, set[tuple[str, str]]]:
        """rpm -i --test: exit code and the (requirement, package) pairs of 'Failed dependencies'."""
        result = run([self.rpm, "--root", str(self.root), "--dbpath", "/var/lib/rpm", "-i", "--test",
                      "--ignorearch", "--ignoreos", str(package)])
        failed = set()
        for line in result.stderr.splitlines():
            if " is needed by " in line:
                requirement, nevra = line.strip().split(" is needed by ")
                failed.add((requirement, nevra.strip()))
        return result.returncode, failed


def build_deb(workdir: Path, package: str, version: str, files: dict[str, Path | bytes], depends: str = "",
              provides: str = "") -> Path:
    """A real .deb made by dpkg-deb -b."""
    dpkg_deb = require_tool("dpkg-deb")
    tree = workdir / f"{package}-tree"
    (tree / "DEBIAN").mkdir(parents=True)
    control = [f"Package: {package}", f"Version: {version}", "Architecture: amd64",
               "Maintainer: kmodtui tests <tests@example.org>", f"Description: kmodtui test package {package}"]
    if depends:
        control.append(f"Depends: {depends}")
    if provides:
        control.append(f"Provides: {provides}")
    (tree / "DEBIAN" / "control").write_text("\n".join(control) + "\n")
    for path, content in files.items():
        target = tree / path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, Path):
            shutil.copy(content, target)
        else:
            target.write_bytes(content)
    out = workdir / f"{package}_{version}_amd64.deb"
    run_ok([dpkg_deb, "--root-owner-group", "-b", str(tree), str(out)])
    return out


class DpkgRoot:
    """A scratch dpkg admin dir and instdir."""

    def __init__(self, root: Path) -> None:
        self.dpkg = require_tool("dpkg")
        self.root = root
        admin = root / "var" / "lib" / "dpkg"
        for sub in ("info", "updates", "triggers"):
            (admin / sub).mkdir(parents=True, exist_ok=True)
        (admin / "status").write_text("")
        (admin / "available").write_text("")
        self.status = admin / "status"

    def install(self, *debs: Path):
        """dpkg -i of the .debs together (unpacked, then configured, as dpkg -i a.deb b.deb does)."""
        env = {"PATH": os.environ.get("PATH", "") + ":/usr/sbin:/sbin"}
        return run([self.dpkg, f"--root={self.root}", "--force-not-root", "--force-bad-path",
                    "--force-script-chrootless", "--log=/dev/null", "-i", *map(str, debs)], env=env)
