"""Seed 000 on real Lustre, end to end, through kmodtui's CLI, timed (too long for CI: two OpenZFS
builds and one Lustre build, ~35 min on an idle 2-core machine).

    python bench/lustre_seed.py --zfs <OpenZFS 2.1.11 release tree> --lustre <lustre-release tree> [--kernel R]

1. OpenZFS built the generic way (`kmodtui build -m rpm-generic`: its own `make rpm-kmod`, no ksym()
   Provides); 2. Lustre built in rpm-redhat mode (its own autogen/configure/`make modules`, configure
   pointed at the OpenZFS build kmodtui finds by name, then kmodtui's kmod-lustre package with the
   ksym()/kernel() Requires RHEL's generators give); 3. real `rpm -i --test` in a scratch rpmdb holding a
   kernel stub (kernel(sym) = crc for every kernel export) and OpenZFS's packages refuses kmod-lustre,
   and `kmodtui resolve` of the package set names every refused ksym() as not_packaged; 4. the
   spec-external-depgen remedy on OpenZFS's rpm/generic/zfs-kmod.spec.in, OpenZFS rebuilt; 5. rpm
   accepts, and kmodtui agrees. The trees are copied first: the remedy edits the copy. Prints the
   numbers; exits 1 when a step does not say what the story says.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.pkgtools import RpmRoot, build_kernel_provides_rpm  # noqa: E402


def kmodtui(*args: str, state: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kmodtui", *args], capture_output=True, text=True,
                          env={**os.environ, "KMODTUI_STATE_DIR": str(state)})


def build(source: Path, release: str, mode: str, state: Path) -> tuple[dict, float]:
    start = time.monotonic()
    result = kmodtui("build", "-k", release, "-s", str(source), "-m", mode, "--json", state=state)
    took = time.monotonic() - start
    events = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    done = [e for e in events if e.get("event") == "exit"]
    if not done or done[0]["state"] != "succeeded":
        sys.exit(f"{mode} build of {source} failed: {result.stdout[-3000:]}{result.stderr[-2000:]}")
    return done[0], took


def rpms(done: dict) -> list[Path]:
    return [Path(a) for a in done["artifacts"] if a.endswith(".rpm") and not a.endswith(".src.rpm")]


def refused_ksyms(root: RpmRoot, package: Path) -> tuple[int, set[str]]:
    code, failed = root.test_install(package)
    return code, {requirement for requirement, _ in failed if requirement.startswith("ksym(")}


def not_packaged(lustre: list[Path], zfs: list[Path], release: str, state: Path) -> set[str]:
    result = kmodtui("resolve", *map(str, lustre), *[a for p in zfs for a in ("--with", str(p))], "-k", release,
                     "--json", "--problems-only", state=state)
    findings = json.loads(result.stdout)["findings"]
    return {str(f.get("requirement")) for f in findings if f["status"] == "not_packaged"}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--zfs", required=True, type=Path, help="OpenZFS's release tree (Debian 12's zfs-linux tarball)")
    parser.add_argument("--lustre", required=True, type=Path, help="a lustre-release tree (v2_17_0)")
    parser.add_argument("--kernel", default=os.uname().release, help="the kernel release whose headers are here")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="lustre-seed-"))
    state = work / "state"
    zfs_tree, lustre_tree = work / args.zfs.name, work / args.lustre.name
    shutil.copytree(args.zfs, zfs_tree, symlinks=True)
    shutil.copytree(args.lustre, lustre_tree, symlinks=True)
    symvers = f"/usr/src/linux-headers-{args.kernel}/Module.symvers"
    story_start = time.monotonic()
    zfs, zfs_took = build(zfs_tree, args.kernel, "rpm-generic", state)
    print(f"OpenZFS rpm-generic: {zfs_took:.0f} s, {len(rpms(zfs))} packages")
    lustre, lustre_took = build(lustre_tree, args.kernel, "rpm-redhat", state)
    [lustre_rpm] = rpms(lustre)
    print(f"Lustre rpm-redhat: {lustre_took:.0f} s, {lustre_rpm.name}")
    stub = build_kernel_provides_rpm(work / "kernel-stub", args.kernel, symvers)
    root = RpmRoot(work / "rpmroot-before")
    root.install_justdb(stub, *rpms(zfs))
    code, refused = refused_ksyms(root, lustre_rpm)
    named = not_packaged([lustre_rpm], rpms(zfs), args.kernel, state)
    print(f"before: rpm -i --test exit {code}, {len(refused)} ksym() refused; kmodtui not_packaged: {len(named)}, "
          f"the same: {named == refused}")
    spec = zfs_tree / "rpm" / "generic" / "zfs-kmod.spec.in"
    applied = kmodtui("remedy", "apply", "spec-external-depgen", "--target", str(spec), "--yes", state=state)
    if applied.returncode != 0:
        sys.exit(f"remedy: {applied.stderr}")
    zfs2, zfs2_took = build(zfs_tree, args.kernel, "rpm-generic", state)
    root = RpmRoot(work / "rpmroot-after")
    root.install_justdb(stub, *rpms(zfs2))
    code2, refused2 = refused_ksyms(root, lustre_rpm)
    named2 = not_packaged([lustre_rpm], rpms(zfs2), args.kernel, state)
    print(f"after the remedy and OpenZFS rebuilt ({zfs2_took:.0f} s): rpm -i --test exit {code2}, "
          f"{len(refused2)} refused; kmodtui not_packaged: {len(named2)}")
    print(f"whole story: {time.monotonic() - story_start:.0f} s (work folder {work})")
    ok = code != 0 and refused and named == refused and code2 == 0 and not refused2 and not named2
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
