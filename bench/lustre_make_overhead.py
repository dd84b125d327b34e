"""Lustre's own build by hand next to the same build through kmodtui: the cost of kmodtui's copy,
confinement and bookkeeping on a long autotools build (the issue's goal: <= 1.05x).

    python bench/lustre_make_overhead.py --lustre <lustre-release tree> --record <kmodtui build of it>
                                         [--kmodtui-cgroup <cgroup folder> | --kmodtui-cpu S] [--wait]

--record is a kmodtui build of the same tree (kbuild or rpm mode, e.g. bench/lustre_seed.py's): its log
names the configure line kmodtui ran (its first line, written before configure starts, so the record may
still be running: --wait waits for it to end before its side is printed), and its folder holds the
OpenZFS build it configured against (work/providers/zfs). By hand, in a fresh copy of the tree (the copy
not timed: a user has the tree already), as a user types them: `bash autogen.sh`, that very configure
line, `make modules -j<cores>`, unconfined, as this user.

CPU time (user+sys), which a shared machine's load changes far less than wall time, is what to compare.
By hand: getrusage of the three commands, this script's waited children (make waits for every compiler
it starts, so their times come up to it). Through kmodtui the confined build runs under bwrap, which does
not hand its children's times up to a waiting parent, so getrusage of the caller misses it: give
--kmodtui-cgroup, a cgroup the kmodtui build alone ran in (made by the caller, e.g.
`mkdir /sys/fs/cgroup/cpuacct/kmodtui-lustre; echo $$ > .../cgroup.procs` in the shell that then runs
`kmodtui build`; bwrap and the build user's processes stay in the cgroup they were started in), and its
whole usage (cgroup v2 cpu.stat's usage_usec, or v1 cpuacct.usage) is kmodtui's CPU: kmodtui's own
Python, the copy of the tree and of the OpenZFS build, autogen, configure, make, the log's scan. Or give
--kmodtui-cpu, seconds the caller measured. The same figure by hand is printed from a cgroup of this
script's own as well when it can make one (root), as a check of getrusage's. Wall times are printed
too, each an upper bound under the load average printed beside it.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from cgroupcpu import cgroup_cpu, own_cgroup  # bench/, the script's own folder


def cpu() -> float:
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def modules(tree: Path) -> list[str]:
    """The .ko files a build left in the tree, without configure's test modules (kconftest.results/)."""
    return sorted(str(p.relative_to(tree)) for p in tree.rglob("*.ko")
                  if "kconftest.results" not in p.relative_to(tree).parts)


def configure_line(record: Path) -> list[str]:
    for line in (record / "work" / "build.log").read_text(errors="replace").splitlines():
        if line.startswith("### configure: "):
            return shlex.split(line.removeprefix("### configure: "))
    sys.exit(f"{record}: its log has no configure line (not a kmodtui build of an autotools tree?)")


def step(argv: list[str], cwd: Path, log: Path) -> tuple[float, float]:
    start, start_cpu = time.monotonic(), cpu()
    with log.open("a") as out:
        out.write(f"### {shlex.join(argv)}\n")
        out.flush()
        # PWD as a shell's cd sets it: Lustre's autoMakefile hands kbuild M=$(PWD), and make takes PWD from
        # its environment (without this, kbuild looked for config/Kbuild in the folder the bench ran from)
        result = subprocess.run(argv, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, "PWD": str(cwd)})
    if result.returncode != 0:
        sys.exit(f"{shlex.join(argv)} failed ({result.returncode}): see {log}")
    return time.monotonic() - start, cpu() - start_cpu


def finished(record: Path, wait: bool) -> dict:
    while True:
        status = json.loads((record / "status.json").read_text())
        if status.get("state") != "running" or not wait:
            return status
        time.sleep(10)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lustre", required=True, type=Path, help="the lustre-release tree kmodtui built")
    parser.add_argument("--record", required=True, type=Path, help="the record folder of kmodtui's build of it")
    parser.add_argument("--kmodtui-cpu", type=float, default=0.0, help="CPU seconds kmodtui's build took")
    parser.add_argument("--kmodtui-cgroup", type=Path, help="a cgroup kmodtui's build alone ran in")
    parser.add_argument("--wait", action="store_true", help="wait for the record's build to end")
    args = parser.parse_args()
    configure = configure_line(args.record)
    work = Path(tempfile.mkdtemp(prefix="lustre-by-hand-"))
    tree = work / args.lustre.name
    shutil.copytree(args.lustre, tree, symlinks=True)
    log = work / "build.log"
    group = own_cgroup("lustre-by-hand")
    load, group_start = os.getloadavg()[0], cgroup_cpu(group) if group else 0.0
    took = [step(["bash", "autogen.sh"], tree, log), step(configure, tree, log),
            step(["make", "modules", f"-j{os.cpu_count() or 1}"], tree, log)]
    group_used = cgroup_cpu(group) - group_start if group else 0.0
    wall, used = sum(t[0] for t in took), sum(t[1] for t in took)
    built = modules(tree)
    print(f"by hand: {len(built)} modules, {wall:.0f} s wall (autogen {took[0][0]:.0f}, configure {took[1][0]:.0f}, "
          f"make {took[2][0]:.0f}), {used:.0f} s CPU (user+sys; autogen {took[0][1]:.0f}, configure "
          f"{took[1][1]:.0f}, make {took[2][1]:.0f})" + (f", its cgroup's {group_used:.0f} s" if group else "")
          + f"; load average {load:.1f} before, {os.getloadavg()[0]:.1f} after (work folder {work})", flush=True)
    status = finished(args.record, args.wait)
    kmodtui_cpu = cgroup_cpu(args.kmodtui_cgroup) if args.kmodtui_cgroup else args.kmodtui_cpu
    kmodtui_wall = float(status.get("ended", time.time())) - float(status["started"])
    kmodtui_built = modules(args.record / "work" / "src")
    print(f"through kmodtui ({status.get('mode')}, {status.get('state')}): {len(kmodtui_built)} modules "
          f"(the same: {kmodtui_built == built}), {kmodtui_wall:.0f} s wall"
          + (f", {kmodtui_cpu:.0f} s CPU (user+sys)" if kmodtui_cpu else ""))
    print(f"ratio kmodtui / by hand: wall {kmodtui_wall / wall:.3f}x"
          + (f", CPU {kmodtui_cpu / used:.3f}x" if kmodtui_cpu else ""))
    if group:  # back to the parent group, and the empty one gone
        (group.parent / "cgroup.procs").write_text(str(os.getpid()))
        group.rmdir()
    return 0


if __name__ == "__main__":
    sys.exit(main())
