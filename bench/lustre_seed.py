"""Seed 000 on real Lustre, end to end, through kmodtui, timed (too long for CI: two OpenZFS builds and one
Lustre build; on a shared 2-core machine each OpenZFS build took 21 to 42 min, see bench/README.md).

    python bench/lustre_seed.py --zfs <OpenZFS 2.1.11 release tree> --lustre <lustre-release tree> [--kernel R]
                                [--cli]

1. OpenZFS built the generic way (`kmodtui build -m rpm-generic`: its own `make rpm-kmod`, no ksym()
   Provides); 2. Lustre built in rpm-redhat mode (its own autogen/configure/`make modules`, configure
   pointed at the OpenZFS build kmodtui finds by name, then kmodtui's kmod-lustre package with the
   ksym()/kernel() Requires RHEL's generators give); 3. real `rpm -i --test` in a scratch rpmdb holding a
   kernel stub (kernel(sym) = crc for every kernel export) and OpenZFS's packages refuses kmod-lustre,
   and `kmodtui resolve --json` of the package set names every refused ksym() as not_packaged; 4. the
   spec-external-depgen remedy on OpenZFS's rpm/generic/zfs-kmod.spec.in and OpenZFS rebuilt: in the
   TUI at 80x24 (the Lustre build attached, Enter, r, a, a, b, Enter: bench/lustre_seed_tui.py), or with
   --cli through `kmodtui remedy apply` and `kmodtui build`; 5. rpm accepts, and `kmodtui resolve`
   agrees. The trees are copied first: the remedy edits the copy. Prints the numbers (wall and CPU
   time: the builds are this script's children); exits 1 when a step does not say what the story says.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from cgroupcpu import cgroup_cpu, own_cgroup  # noqa: E402  (bench/, the script's own folder)

from tests.pkgtools import RpmRoot, build_kernel_provides_rpm  # noqa: E402


def kmodtui(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kmodtui", *args], capture_output=True, text=True)


GROUP: Path | None = None


def cpu() -> float:
    """CPU seconds (user+sys) of this script and all it started, from its cgroup; without one, of its
    finished, waited children only."""
    if GROUP is not None:
        return cgroup_cpu(GROUP)
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def build(source: Path, release: str, mode: str, reuse: bool = False) -> dict:
    """`kmodtui build --json`, timed; its exit event (with the record folder as "record"). reuse: a
    succeeded build of the same source and mode in the state folder (--work) is taken instead."""
    if reuse:
        from kmodtui.core.build.record import list_builds

        for status in list_builds():  # newest first
            if status["state"] == "succeeded" and status.get("source") == str(source) and status.get("mode") == mode:
                print(f"{mode} build of {source.name}: reused {status['id']}", flush=True)
                return {**status, "build": status["id"], "record": status["dir"]}
    start, start_cpu, load = time.monotonic(), cpu(), os.getloadavg()[0]
    result = kmodtui("build", "-k", release, "-s", str(source), "-m", mode, "--json")
    events = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    done = [e for e in events if e.get("event") == "exit"]
    print(f"{mode} build of {source.name}: {time.monotonic() - start:.0f} s wall, {cpu() - start_cpu:.0f} s CPU "
          f"(user+sys), load average {load:.1f} before, {os.getloadavg()[0]:.1f} after", flush=True)
    if not done or done[0]["state"] != "succeeded":
        sys.exit(f"{mode} build of {source} failed: {result.stdout[-3000:]}{result.stderr[-2000:]}")
    return {**done[0], "record": str(Path(os.environ["KMODTUI_STATE_DIR"]) / "builds" / done[0]["build"])}


def rpms(artifacts: list[str]) -> list[Path]:
    return [Path(a) for a in artifacts if a.endswith(".rpm") and not a.endswith(".src.rpm")]


def check(work: Path, name: str, stub: Path, lustre: Path, zfs: list[Path], release: str) -> tuple[int, set[str], set[str]]:
    """Real `rpm -i --test` of Lustre's package in a scratch rpmdb holding the kernel stub and OpenZFS's
    packages, and `kmodtui resolve --json` of the same set: (rpm's exit code, the ksym() rpm refused,
    the requirements kmodtui names not_packaged)."""
    root = RpmRoot(work / f"rpmroot-{name}")
    root.install_justdb(stub, *zfs)
    code, failed = root.test_install(lustre)
    refused = {requirement for requirement, _ in failed if requirement.startswith("ksym(")}
    result = kmodtui("resolve", str(lustre), *[a for p in zfs for a in ("--with", str(p))], "-k", release,
                     "--json", "--problems-only")
    findings = json.loads(result.stdout)["findings"]
    named = {str(f.get("requirement")) for f in findings if f["status"] == "not_packaged"}
    print(f"{name}: rpm -i --test exit {code}, {len(refused)} ksym() refused; kmodtui: {len(named)} not_packaged, "
          f"the same requirements: {named == refused}", flush=True)
    return code, refused, named


def package_prebuilt(work: Path, release: str) -> Path:
    """tests/lustre/prebuilt's modules (osd_zfs and the Lustre modules it loads after, built by kmodtui from
    lustre-release v2_17_0 against OpenZFS 2.1.11) as kmod-lustre-osd-zfs, with the ksym()/kernel()
    Requires rpm-redhat mode's spec gives (kmodtui rpmdeps), the rest of the chain as kmod-lustre."""
    from tests.core.test_lustre_tree import prebuilt
    from tests.pkgtools import build_kmod_rpm

    modules = prebuilt(work / "prebuilt")
    symvers = f"/usr/src/linux-headers-{release}/Module.symvers"
    chain = [m for m in modules if m.name != "osd_zfs.ko"]
    build_kmod_rpm(work / "kmod-lustre", "kmod-lustre", chain, release, generator="kmodtui", kernel_symvers=symvers)
    return build_kmod_rpm(work / "kmod-lustre-osd-zfs", "kmod-lustre-osd-zfs", [work / "prebuilt" / "osd_zfs.ko"],
                          release, generator="kmodtui", kernel_symvers=symvers)


def remedy_by_cli(spec: Path, zfs_tree: Path, release: str, first: str) -> list[str]:
    if b"_use_internal_dependency_generator 0" not in spec.read_bytes():  # not applied yet (by the TUI)
        applied = kmodtui("remedy", "apply", "spec-external-depgen", "--target", str(spec), "--yes")
        if applied.returncode != 0:
            sys.exit(f"remedy: {applied.stderr}")
    else:  # the TUI applied it, and its b may have rebuilt OpenZFS already
        rebuilt = build(zfs_tree, release, "rpm-generic", reuse=True)
        if rebuilt["record"] != first:
            return rebuilt["artifacts"]
    return build(zfs_tree, release, "rpm-generic")["artifacts"]


def headers_here() -> str:
    found = sorted(p.parent.name for p in Path("/lib/modules").glob("*/build") if p.is_dir())
    return found[-1] if found else os.uname().release


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--zfs", required=True, type=Path, help="OpenZFS's release tree (Debian 12's zfs-linux tarball)")
    parser.add_argument("--lustre", required=True, type=Path, help="a lustre-release tree (v2_17_0)")
    parser.add_argument("--kernel", default=headers_here(), help="the kernel release whose headers are here "
                        "(default: the newest under /lib/modules with a build folder)")
    parser.add_argument("--cli", action="store_true", help="the remedy and the rebuild through the CLI, not the TUI")
    parser.add_argument("--work", type=Path, help="go on in this work folder of an earlier run: its copies, and "
                        "its succeeded first builds reused (the rebuild after the remedy is always made)")
    parser.add_argument("--prebuilt-lustre", action="store_true", help="Lustre's modules from tests/lustre/prebuilt "
                        "(built by kmodtui the same way), packaged with rpm-redhat's generators, not built again")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="lustre-seed-"))
    os.environ["KMODTUI_STATE_DIR"] = str(work / "state")
    zfs_tree, lustre_tree = work / args.zfs.name, work / args.lustre.name
    if not args.work:
        shutil.copytree(args.zfs, zfs_tree, symlinks=True)
        shutil.copytree(args.lustre, lustre_tree, symlinks=True)
    release = args.kernel
    global GROUP
    GROUP = own_cgroup("kmodtui-lustre-seed")
    print(f"CPU time from {'the cgroup ' + str(GROUP) if GROUP else 'getrusage (the confined builds not counted)'}",
          flush=True)
    story_start, story_cpu = time.monotonic(), cpu()

    zfs = build(zfs_tree, release, "rpm-generic", reuse=bool(args.work))
    if args.prebuilt_lustre:
        lustre_rpm, lustre = package_prebuilt(work, release), {"record": ""}
        others = [next((work / "kmod-lustre" / "RPMS").rglob("kmod-lustre-1.0-1.*.rpm"))]
    else:
        lustre = build(lustre_tree, release, "rpm-redhat", reuse=bool(args.work))
        [lustre_rpm], others = rpms(lustre["artifacts"]), []
    stub = build_kernel_provides_rpm(work / "kernel-stub", release, f"/usr/src/linux-headers-{release}/Module.symvers")
    code, refused, named = check(work, "before", stub, lustre_rpm, others + rpms(zfs["artifacts"]), release)

    spec = zfs_tree / "rpm" / "generic" / "zfs-kmod.spec.in"
    if args.cli:
        rebuilt = remedy_by_cli(spec, zfs_tree, release, zfs["record"])
    else:
        from bench.lustre_seed_tui import remedy_in_tui  # the TUI's keys on the Lustre build's record

        took = time.monotonic()
        try:
            rebuilt = remedy_in_tui(lustre["record"], zfs["record"], spec, refused,
                                    [str(lustre_rpm), *map(str, others + rpms(zfs["artifacts"]))], release)
            print(f"the TUI's story (r, a, a, b, Enter; OpenZFS rebuilt by b): {time.monotonic() - took:.0f} s wall",
                  flush=True)
        except Exception as err:  # noqa: BLE001 - said, then the CLI finishes the story
            print(f"the TUI's story did not finish: {err!r}; the CLI instead", flush=True)
            rebuilt = remedy_by_cli(spec, zfs_tree, release, zfs["record"])
    code2, refused2, named2 = check(work, "after", stub, lustre_rpm, others + rpms(rebuilt), release)
    print(f"whole story: {time.monotonic() - story_start:.0f} s wall, {cpu() - story_cpu:.0f} s CPU (user+sys) "
          f"(work folder {work})", flush=True)
    if GROUP is not None:
        (GROUP.parent / "cgroup.procs").write_text(str(os.getpid()))  # out of it, then it can go
        GROUP.rmdir()
    ok = code != 0 and bool(refused) and named == refused and code2 == 0 and not refused2 and not named2
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
