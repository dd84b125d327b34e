#!/usr/bin/env python3
"""Benchmark: the one table of log rules, read the two ways it is read.

The build screen's live scan (kmodtui.core.build.logscan.scan_line, line by line as a build
streams) and `diagnose` (kmodtui.core.diagnose.engine.diagnose_lines, a whole log) over the real
logs of tests/logs/ (error-dense: every line near a failure) and, when a kernel build tree is here,
a real kbuild log of the example modules (the consumer fails at modpost). Each log is repeated to
--lines lines; the best of --runs runs, in CPU seconds of this process (the machine may be shared).
The live scan's target: >= 100,000 lines/s (a build streams that fast); adding a rule should not
move these numbers much.

Usage: python3 bench/log_rules.py [--lines 100000] [--runs 5]
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import time
from pathlib import Path

from kmodtui.core.build.logscan import scan_line
from kmodtui.core.diagnose.engine import decode_log, diagnose_lines
from kmodtui.core.diagnose.rules import RULES

HERE = Path(__file__).resolve().parent


def kbuild_lines() -> list[str]:
    spec = importlib.util.spec_from_file_location("log_stream", HERE / "log_stream.py")
    assert spec and spec.loader
    log_stream = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(log_stream)
    import tempfile

    kernel = os.uname().release
    if not os.path.isdir(f"/lib/modules/{kernel}/build"):
        import json
        import subprocess

        found = json.loads(subprocess.run([sys.executable, "-m", "kmodtui", "kernels", "--json"], capture_output=True,
                                          text=True).stdout or "{}").get("kernels") or []
        if not found:
            return []
        kernel = found[0]["release"]
    with tempfile.TemporaryDirectory(prefix="kmodtui-bench-") as state:
        return log_stream.real_log_lines(kernel, state)


def best_of(runs: int, work, *args) -> float:
    best = float("inf")
    for _ in range(runs):
        started = time.process_time()
        work(*args)
        best = min(best, time.process_time() - started)
    return best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lines", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    corpus = [line for log in sorted((HERE.parent / "tests" / "logs").glob("*.log"))
              for line in decode_log(log.read_bytes()).splitlines()]
    print(f"{len(RULES)} rules")
    for name, sample in (("tests/logs", corpus), ("kbuild", kbuild_lines())):
        if not sample:
            print(f"{name}: no kernel build tree here, skipped")
            continue
        lines = (sample * (args.lines // len(sample) + 1))[: args.lines]

        print(f"{name} ({len(sample)} real lines, repeated to {len(lines)}):  live scan "
              f"{len(lines) / best_of(args.runs, live, lines):,.0f} lines/s,  diagnose "
              f"{len(lines) / best_of(args.runs, whole, lines, len(sample)):,.0f} lines/s")
    return 0


def live(lines: list[str]) -> None:
    for number, line in enumerate(lines, 1):
        scan_line(line, number)


def whole(lines: list[str], size: int) -> None:
    for start in range(0, len(lines), size):  # one log at a time: diagnose keeps its first 5,000 signals
        diagnose_lines(lines[start:start + size])


if __name__ == "__main__":
    sys.exit(main())
