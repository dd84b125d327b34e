"""Seed 000's rpm step on Lustre's real modules (tests/lustre/prebuilt/, how in its README): Lustre's
osd_zfs packaged as Lustre's spec splits it (kmod-lustre-osd-zfs apart from kmod-lustre), with the
ksym()/kernel() Requires RHEL's generators give (kmodtui rpmdeps), next to OpenZFS 2.1.11's real modules
packaged the generic way (rpm's internal generator: no ksym() Provides). Real `rpm -i --test` in a
scratch rpmdb refuses osd-zfs for exactly the ZFS exports it needs, kmodtui names those not_packaged,
and osd_zfs's needs of Lustre's own exports (obdclass, ptlrpc, libcfs, lnet, ...) are met by
kmod-lustre. The spec-external-depgen remedy on the ZFS spec, rpmbuild again: rpm accepts, kmodtui
agrees. (The whole story on built trees is bench/lustre_seed.py: two OpenZFS builds and a Lustre build
do not fit CI's time.)"""

from __future__ import annotations

import json
import lzma
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from kmodtui.core.elf.module import read_module
from tests.core.test_lustre_tree import PREBUILT, ZFS_SYMBOLS_OSD_ZFS_NEEDS, prebuilt
from tests.pkgtools import RpmRoot, build_kernel_provides_rpm, build_kmod_rpm, write_kmod_spec
from tests.realtools import require_tool, run, run_ok

BUILT_FOR = "6.1.0-57-amd64"  # the prebuilt modules' vermagic: kernel() CRCs agree on this kernel only


def zfs_modules(dest: Path) -> list[Path]:
    dest.mkdir(parents=True, exist_ok=True)
    run_ok([require_tool("tar"), "-C", str(dest), "-xJf", str(PREBUILT / "openzfs-2.1.11-modules.tar.xz")])
    return sorted(dest.rglob("*.ko"))


def refused_ksyms(root: RpmRoot, package: Path) -> set[str]:
    code, failed = root.test_install(package)
    refused = {requirement for requirement, _ in failed}
    assert (code != 0) == bool(refused)
    return refused


def not_packaged(package: Path, others: list[Path], symvers: str) -> set[str]:
    result = subprocess.run([sys.executable, "-m", "kmodtui", "resolve", str(package),
                             *[a for p in others for a in ("--with", str(p))], "--kernel", symvers, "--json",
                             "--problems-only", "--no-cache"], capture_output=True, text=True)
    assert result.stdout, result.stderr
    return {str(f["requirement"]) for f in json.loads(result.stdout)["findings"] if f["status"] == "not_packaged"}


def symbol(requirement: str) -> str:
    return requirement.split("(", 1)[1].split(")", 1)[0]


@dataclass
class PackageSet:
    """Lustre's prebuilt modules packaged as Lustre's spec splits them, RHEL's ksym() Requires on both,
    and OpenZFS's modules packaged the generic way (no ksym() Provides), with the spec it came from."""
    osd_zfs: Path  # the module
    rest: list[Path]  # the Lustre modules it loads after
    osd_rpm: Path  # kmod-lustre-osd-zfs
    lustre_rpm: Path  # kmod-lustre
    zfs_spec: Path
    zfs_rpm: Path
    stub: Path  # kernel(sym) = crc of the kernel here
    zfs_exports: set[str]
    needs_of_zfs: set[str]  # the ZFS exports osd_zfs needs

    def rebuild_zfs(self) -> Path:
        return rpmbuild(self.zfs_spec.parent, self.zfs_spec)


def package_set(tmp_path: Path, release: str, symvers: str) -> PackageSet:
    require_tool("rpmbuild")
    lustre = prebuilt(tmp_path / "lustre")
    [osd_zfs] = [m for m in lustre if m.name == "osd_zfs.ko"]
    rest = [m for m in lustre if m != osd_zfs]
    osd_rpm = build_kmod_rpm(tmp_path / "osd", "kmod-lustre-osd-zfs", [osd_zfs], release, generator="kmodtui",
                             kernel_symvers=symvers)
    lustre_rpm = build_kmod_rpm(tmp_path / "lustre-rpm", "kmod-lustre", rest, release, generator="kmodtui",
                                kernel_symvers=symvers)
    zfs_symvers = lzma.decompress((PREBUILT / "openzfs-2.1.11-Module.symvers.xz").read_bytes()).decode()
    zfs_exports = {line.split("\t")[1] for line in zfs_symvers.splitlines() if "\t" in line}
    zfs = zfs_modules(tmp_path / "zfs")
    assert {m.stem for m in zfs} == {"spl", "zavl", "icp", "zlua", "znvpair", "zunicode", "zcommon", "zfs", "zzstd"}
    topdir = tmp_path / "zfs-rpm"
    topdir.mkdir()
    spec = write_kmod_spec(topdir / "kmod-zfs.spec", "kmod-zfs", zfs, release, generator="internal")
    return PackageSet(osd_zfs, rest, osd_rpm, lustre_rpm, spec, rpmbuild(topdir, spec),
                      build_kernel_provides_rpm(tmp_path / "kernel-stub", release, symvers), zfs_exports,
                      {n.name for n in read_module(str(osd_zfs)).needs} & zfs_exports)


@pytest.mark.timeout(600)
def test_rpm_refuses_osd_zfs_for_every_zfs_ksym_until_the_generic_spec_remedy(installed_kernel, tmp_path: Path
                                                                              ) -> None:
    release, symvers = installed_kernel.release, installed_kernel.symvers_path
    s = package_set(tmp_path, release, symvers)
    rpm = require_tool("rpm")
    requires = run_ok([rpm, "-qp", "--requires", str(s.osd_rpm)]).stdout
    assert len(s.needs_of_zfs) == ZFS_SYMBOLS_OSD_ZFS_NEEDS
    assert s.needs_of_zfs <= {symbol(line) for line in requires.splitlines() if line.startswith("ksym(")}
    assert "ksym(" not in run_ok([rpm, "-qp", "--provides", str(s.zfs_rpm)]).stdout  # the generic way

    before = RpmRoot(tmp_path / "rpmroot-before")
    before.install_justdb(s.stub, s.lustre_rpm, s.zfs_rpm)
    refused = refused_ksyms(before, s.osd_rpm)
    named = not_packaged(s.osd_rpm, [s.lustre_rpm, s.zfs_rpm], symvers)
    # every ZFS export osd_zfs needs is refused, and kmodtui names each; Lustre's own chain is met
    zfs = s.zfs_exports
    assert {symbol(r) for r in refused if r.startswith("ksym(")} & zfs == s.needs_of_zfs
    assert {r for r in named if symbol(r) in zfs} == {r for r in refused if symbol(r) in zfs}
    lustre_exports = {e.name for m in s.rest for e in read_module(str(m)).exports}
    assert lustre_exports & {n.name for n in read_module(str(s.osd_zfs)).needs}  # obdclass's, ptlrpc's, ...
    assert not {r for r in refused if symbol(r) in lustre_exports}
    if release == BUILT_FOR:  # the kernel's CRCs are the ones the modules were built with: nothing else refused
        assert named == refused and len(refused) == ZFS_SYMBOLS_OSD_ZFS_NEEDS

    # the remedy on the ZFS spec, rebuilt: ksym() Provides, rpm accepts, kmodtui agrees
    applied = subprocess.run([sys.executable, "-m", "kmodtui", "remedy", "apply", "spec-external-depgen", "--target",
                              str(s.zfs_spec), "--yes", "--json"], capture_output=True, text=True)
    assert applied.returncode == 0, applied.stderr
    fixed_rpm = s.rebuild_zfs()
    provides = run_ok([rpm, "-qp", "--provides", str(fixed_rpm)]).stdout
    assert s.needs_of_zfs <= {symbol(line) for line in provides.splitlines() if line.startswith("ksym(")}
    after = RpmRoot(tmp_path / "rpmroot-after")
    after.install_justdb(s.stub, s.lustre_rpm, fixed_rpm)
    refused_after = refused_ksyms(after, s.osd_rpm)
    named_after = not_packaged(s.osd_rpm, [s.lustre_rpm, fixed_rpm], symvers)
    assert not {r for r in refused_after | named_after if symbol(r) in zfs}
    if release == BUILT_FOR:
        assert refused_after == named_after == set()


def rpmbuild(topdir: Path, spec: Path) -> Path:
    for old in (topdir / "RPMS").rglob("*.rpm"):
        old.unlink()
    result = run([require_tool("rpmbuild"), "-bb", "--define", f"_topdir {topdir}", "--define",
                  "_build_id_links none", str(spec)])
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return next((topdir / "RPMS").rglob("kmod-zfs-1.0-1.*.rpm"))
