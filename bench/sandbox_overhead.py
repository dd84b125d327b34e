"""What confinement costs: the same `kmodtui build` run confined (bubblewrap, the default) and with
--no-sandbox, alternately, N runs each, wall time of the whole process, medians and their ratio.

The source is kmodtui's example provider (one module: the fixed cost of the sandbox on a short
build) or any source folder given with --source (an OpenZFS release tree shows it on a long one).
Each run builds in a fresh state folder, so no run finds another's objects.

    .venv/bin/python bench/sandbox_overhead.py [--source DIR] [--mode kbuild] [--runs 9]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

from dkms_overhead import installed_release  # noqa: E402  (bench/ is the script's folder on sys.path)


def one_build(source: str, release: str, mode: str, confined: bool) -> float:
    with tempfile.TemporaryDirectory(prefix="bench-sandbox-") as tmp:
        env = {**os.environ, "KMODTUI_STATE_DIR": os.path.join(tmp, "state"),
               "KMODTUI_CACHE_DIR": os.path.join(tmp, "cache")}
        env.pop("KMODTUI_NO_SANDBOX", None)
        argv = [sys.executable, "-m", "kmodtui", "build", "--kernel", release, "--source", source, "--mode", mode,
                "--quiet", *([] if confined else ["--no-sandbox"])]
        start = time.monotonic()
        result = subprocess.run(argv, capture_output=True, text=True, env=env)
        seconds = time.monotonic() - start
        if result.returncode != 0:
            raise SystemExit(f"build failed ({'confined' if confined else 'unconfined'}): "
                             f"{result.stdout[-2000:]}{result.stderr[-2000:]}")
        return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", default=str(ROOT / "kmodtui" / "examples" / "provider"))
    parser.add_argument("--mode", default="kbuild")
    parser.add_argument("--kernel", default=installed_release())
    parser.add_argument("--runs", type=int, default=9)
    args = parser.parse_args()
    one_build(args.source, args.kernel, args.mode, True)  # warm the page cache and bytecode, not counted
    times: dict[bool, list[float]] = {True: [], False: []}
    for run in range(args.runs):
        for confined in ((True, False) if run % 2 == 0 else (False, True)):  # alternate who goes first
            times[confined].append(one_build(args.source, args.kernel, args.mode, confined))
    confined, unconfined = statistics.median(times[True]), statistics.median(times[False])
    print(f"source {args.source} ({args.mode}), kernel {args.kernel}, {args.runs} runs each, medians:")
    print(f"  unconfined (--no-sandbox): {unconfined:.3f} s   runs: {' '.join(f'{t:.2f}' for t in times[False])}")
    print(f"  confined (bwrap):          {confined:.3f} s   runs: {' '.join(f'{t:.2f}' for t in times[True])}")
    print(f"  ratio confined/unconfined: {confined / unconfined:.3f}x ({(confined - unconfined) * 1000:+.0f} ms)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
