#!/usr/bin/env python3
"""Benchmark: time to kmodtui's first frame in a real terminal (tmux, 80x24) against the time a bare
`python -c "import textual"` takes on the same machine. Target: first frame within 2x.

Usage: python3 bench/startup.py [--runs 5]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid


def bare_import() -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import textual.app"], check=True)
    return time.perf_counter() - start


def first_frame(args: list[str], marker: str) -> float:
    tmux = shutil.which("tmux")
    if not tmux:
        sys.exit("needs tmux (apt-get install tmux)")
    name = f"kmodtui-start-{uuid.uuid4().hex[:6]}"
    with tempfile.TemporaryDirectory() as state:
        command = f"env KMODTUI_STATE_DIR={state} TERM=linux {sys.executable} -m kmodtui {' '.join(args)}"
        start = time.perf_counter()
        subprocess.run([tmux, "new-session", "-d", "-s", name, "-x", "80", "-y", "24", command], check=True)
        try:
            while True:
                screen = subprocess.run([tmux, "capture-pane", "-p", "-t", name], capture_output=True, text=True).stdout
                if marker in screen:
                    return time.perf_counter() - start
                if time.perf_counter() - start > 30:
                    sys.exit(f"no first frame after 30 s:\n{screen}")
                time.sleep(0.005)
        finally:
            subprocess.run([tmux, "kill-session", "-t", name], capture_output=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    bare = [bare_import() for _ in range(args.runs)]
    demo = [first_frame(["--demo"], "1 Kernel") for _ in range(args.runs)]
    real = [first_frame([], "1 Kernel") for _ in range(args.runs)]
    base = statistics.median(bare)
    print(f"{args.runs} runs, medians (wall, including the interpreter start)")
    print(f"  python -c 'import textual.app'   {base:.3f} s")
    print(f"  kmodtui --demo, first frame     {statistics.median(demo):.3f} s  = {statistics.median(demo) / base:.2f}x   target <= 2x")
    print(f"  kmodtui, first frame            {statistics.median(real):.3f} s  = {statistics.median(real) / base:.2f}x   target <= 2x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
