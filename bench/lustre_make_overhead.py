"""Lustre's own build by hand next to the same build through kmodtui: the cost of kmodtui's copy,
confinement and bookkeeping on a long autotools build (the issue's goal: <= 1.05x).

    python bench/lustre_make_overhead.py --lustre <lustre-release tree> --record <kmodtui build of it>

--record is a finished kmodtui build of the same tree (kbuild or rpm mode, e.g. bench/lustre_seed.py's):
its log names the configure line kmodtui ran, and its folder holds the OpenZFS build it configured
against (work/providers/zfs). By hand, in a fresh copy of the tree, as a user types them: `bash
autogen.sh`, that very configure line, `make modules -j<cores>`, unconfined. Prints wall and CPU time
(user+sys of the commands, which a shared machine's load changes far less than wall time) for both;
kmodtui's are read from the record (its start and end; CPU from --kmodtui-cpu, what the caller
measured, e.g. bench/lustre_seed.py's line for that build).
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


def cpu() -> float:
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


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
        result = subprocess.run(argv, cwd=cwd, stdout=out, stderr=subprocess.STDOUT)
    if result.returncode != 0:
        sys.exit(f"{shlex.join(argv)} failed ({result.returncode}): see {log}")
    return time.monotonic() - start, cpu() - start_cpu


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lustre", required=True, type=Path, help="the lustre-release tree kmodtui built")
    parser.add_argument("--record", required=True, type=Path, help="the record folder of kmodtui's build of it")
    parser.add_argument("--kmodtui-cpu", type=float, default=0.0, help="CPU seconds kmodtui's build took")
    args = parser.parse_args()
    status = json.loads((args.record / "status.json").read_text())
    configure = configure_line(args.record)
    work = Path(tempfile.mkdtemp(prefix="lustre-by-hand-"))
    tree = work / args.lustre.name
    shutil.copytree(args.lustre, tree, symlinks=True)
    log = work / "build.log"
    load = os.getloadavg()[0]
    took = [step(["bash", "autogen.sh"], tree, log), step(configure, tree, log),
            step(["make", "modules", f"-j{os.cpu_count() or 1}"], tree, log)]
    wall, used = sum(t[0] for t in took), sum(t[1] for t in took)
    built = sorted(str(p.relative_to(tree)) for p in tree.rglob("*.ko"))
    print(f"by hand: {len(built)} modules, {wall:.0f} s wall (autogen {took[0][0]:.0f}, configure {took[1][0]:.0f}, "
          f"make {took[2][0]:.0f}), {used:.0f} s CPU (user+sys); load average {load:.1f} before, "
          f"{os.getloadavg()[0]:.1f} after (work folder {work})")
    kmodtui_wall = float(status["ended"]) - float(status["started"])
    print(f"through kmodtui ({status.get('mode')}): {kmodtui_wall:.0f} s wall"
          + (f", {args.kmodtui_cpu:.0f} s CPU (user+sys)" if args.kmodtui_cpu else ""))
    print(f"ratio kmodtui / by hand: wall {kmodtui_wall / wall:.3f}x"
          + (f", CPU {args.kmodtui_cpu / used:.3f}x" if args.kmodtui_cpu else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
