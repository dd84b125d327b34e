#!/usr/bin/env python3
"""Benchmark: replay 1M build-log lines through the build screen, headless at 80x24.

The lines are a real kbuild log of the bundled example module (built here first with
`kmodtui build`), repeated to 1M lines, with the errors of a failing build mixed in so the
finding rules fire. Reports lines per second through the screen (log file -> follower ->
findings scan -> Log widget) and resident memory growth. Targets: >= 100k lines/s, <= 50 MB.

Usage: python3 bench/log_stream.py [--lines 1000000] [--kernel RELEASE]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from kmodtui.app import KmodApp
from kmodtui.core.build import record as buildrecord
from kmodtui.core.paths import package_data
from kmodtui.screens.build import BuildScreen


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def real_log_lines(kernel: str, state_dir: str) -> list[str]:
    lines = []
    for source in ("provider", "consumer"):  # the consumer fails at modpost: real error lines
        out = subprocess.run([sys.executable, "-m", "kmodtui", "build", "-k", kernel, "-s",
                              package_data("examples", source), "--json"], capture_output=True, text=True,
                             env={**os.environ, "KMODTUI_STATE_DIR": state_dir})
        lines += [json.loads(line)["text"] for line in out.stdout.splitlines() if '"event": "line"' in line]
    if not lines:
        sys.exit("no build output: is a kernel build tree installed? (kmodtui kernels)")
    return lines


async def replay(record: str) -> tuple[float, int, int]:
    app = KmodApp(attach=record)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = app.screen
        assert isinstance(screen, BuildScreen)
        start = time.perf_counter()
        while not screen.finished:
            await pilot.pause(0.01)
        elapsed = time.perf_counter() - start
        return elapsed, screen.line_count, len(screen.findings)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--kernel", default=os.uname().release)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="kmodtui-bench-") as tmp:
        kernel = args.kernel
        if not os.path.isdir(f"/lib/modules/{kernel}/build"):
            kernel = json.loads(subprocess.run([sys.executable, "-m", "kmodtui", "kernels", "--json"],
                                               capture_output=True, text=True).stdout)["kernels"][0]["release"]
        sample = real_log_lines(kernel, tmp)
        record = Path(tmp) / "record"
        (record / "work").mkdir(parents=True)
        log = record / "work" / "build.log"
        with open(log, "w") as f:
            written = 0
            while written < args.lines:
                chunk = sample[: args.lines - written]
                f.write("\n".join(chunk) + "\n")
                written += len(chunk)
        buildrecord.write_status(str(record), state=buildrecord.SUCCEEDED, log=str(log), kernel=kernel,
                                 source="replay", mode="kbuild", artifacts=[])
        size = log.stat().st_size
        before = rss_mb()
        elapsed, count, findings = asyncio.run(replay(str(record)))
        after = rss_mb()
    print(f"{count} lines ({size / 1e6:.0f} MB) from {len(sample)} real kbuild lines repeated; "
          f"{findings} findings kept on screen")
    print(f"  throughput: {count / elapsed:,.0f} lines/s ({elapsed:.2f} s)   target >= 100,000")
    print(f"  resident memory growth: {after - before:.1f} MB (before {before:.0f} MB)   target <= 50")
    return 0


if __name__ == "__main__":
    sys.exit(main())
