"""What a build through kmodtui costs over the same tool run by hand: `dkms add` + `dkms build` typed
by hand against `kmodtui build --mode dkms`, on the same source and kernel, alternately, N runs each,
wall time of the whole process, medians.

Both run real dkms 3 in private trees (--dkmstree/--sourcetree/--installtree in a fresh temporary
folder), so nothing under /var/lib/dkms or /usr/src is touched and neither run finds the other's
build. The source is a Debian *-dkms package's usr/src/<name>-<version> (default: bookworm's
zfs-dkms, OpenZFS 2.1.11; a small one such as v4l2loopback-dkms shows the fixed cost on a short build).

    .venv/bin/python bench/dkms_overhead.py [--package zfs-dkms] [--component contrib] [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.realtools import apt_download_from  # noqa: E402


def installed_release() -> str:
    running = os.uname().release
    if os.path.isdir(f"/lib/modules/{running}/build"):
        return running
    found = sorted(p.parent.name for p in Path("/lib/modules").glob("*/build") if p.is_dir())
    return found[-1] if found else running


def unpack_source(deb: Path, dest: Path) -> Path:
    subprocess.run(["dpkg-deb", "-x", str(deb), str(dest)], check=True)
    [tree] = [p for p in (dest / "usr" / "src").iterdir() if (p / "dkms.conf").is_file()]
    return tree


def by_hand(tree: Path, release: str) -> float:
    """What an admin types: copy the source where dkms looks, dkms add, dkms build."""
    name, version = tree.name.rsplit("-", 1)
    with tempfile.TemporaryDirectory(prefix="bench-dkms-") as tmp:
        trees = {k: Path(tmp, k) for k in ("tree", "source", "install")}
        for path in trees.values():
            path.mkdir()
        common = ["dkms", "--dkmstree", str(trees["tree"]), "--sourcetree", str(trees["source"]),
                  "--installtree", str(trees["install"])]
        start = time.monotonic()
        shutil.copytree(tree, trees["source"] / tree.name, symlinks=True)
        subprocess.run([*common, "add", "-m", name, "-v", version], check=True, capture_output=True)
        built = subprocess.run([*common, "build", "-m", name, "-v", version, "-k", release], capture_output=True,
                               text=True)
        seconds = time.monotonic() - start
        if built.returncode != 0:
            raise SystemExit(f"dkms build failed: {built.stdout[-2000:]}{built.stderr[-2000:]}")
        return seconds


def through_kmodtui(tree: Path, release: str, kmodtui: str) -> float:
    with tempfile.TemporaryDirectory(prefix="bench-kmodtui-") as state:
        env = {**os.environ, "KMODTUI_STATE_DIR": state}
        start = time.monotonic()
        built = subprocess.run([kmodtui, "build", "--mode", "dkms", "-s", str(tree), "-k", release],
                               capture_output=True, text=True, env=env)
        seconds = time.monotonic() - start
        if built.returncode != 0:
            raise SystemExit(f"kmodtui build failed: {built.stdout[-2000:]}{built.stderr[-2000:]}")
        return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--package", default="zfs-dkms")
    parser.add_argument("--suite", default="bookworm")
    parser.add_argument("--component", default="contrib")
    parser.add_argument("--kernel", default=installed_release(), help="the installed headers' release "
                        "(default: the running kernel's when its headers are here, else the newest that has them)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--kmodtui", default=str(Path(sys.executable).with_name("kmodtui")))
    args = parser.parse_args()
    deb = apt_download_from(args.package, args.suite, args.component)
    with tempfile.TemporaryDirectory(prefix="bench-src-") as tmp:
        tree = unpack_source(deb, Path(tmp))
        hand, tool = [], []
        for run in range(args.runs):  # alternate, so both see the same machine state
            hand.append(by_hand(tree, args.kernel))
            tool.append(through_kmodtui(tree, args.kernel, args.kmodtui))
            print(f"run {run + 1}: dkms by hand {hand[-1]:.1f} s, kmodtui --mode dkms {tool[-1]:.1f} s", flush=True)
    h, k = statistics.median(hand), statistics.median(tool)
    print("\n| source | runs | dkms add+build by hand | kmodtui build --mode dkms | ratio |")
    print("|---|---|---|---|---|")
    print(f"| {tree.name} ({deb.name}) | {args.runs} | {h:.1f} s | {k:.1f} s | {k / h:.3f}x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
