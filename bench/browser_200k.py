#!/usr/bin/env python3
"""Benchmark: the symbol browser with ~190k real findings, headless at 80x24.

Input: a whole Debian module tree resolved against another ABI's symvers (the data
bench/resolve_vs_depmod.py downloads; run that first), or --tree/--symvers of your own.
Measures: building the browser model, first paint of the screen, and filter keystrokes
(time from the key to a repainted table), plus the same filters on the core model alone.
Targets: loading <= 0.3 s, a filter keystroke <= 50 ms.

Usage: python3 bench/resolve_vs_depmod.py --runs 1 && python3 bench/browser_200k.py
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from pathlib import Path

from kmodtui.app import KmodApp
from kmodtui.core.kernels.discover import find_kernel
from kmodtui.core.resolve.browse import BrowserModel
from kmodtui.core.resolve.engine import resolve
from kmodtui.widgets.symbol_table import SymbolTable


def default_inputs(workdir: Path) -> tuple[str, str]:
    trees = sorted(workdir.glob("image-6.1.0-*-amd64"), key=lambda p: int(p.name.split("-")[2]))
    symvers = sorted(workdir.glob("Module.symvers-6.1.0-*-amd64"), key=lambda p: int(p.name.split("-")[2]))
    if not trees or not symvers:
        sys.exit(f"no data in {workdir}: run bench/resolve_vs_depmod.py first, or pass --tree and --symvers")
    return str(trees[0]), str(symvers[-1])


async def measure_screen(result, queries: list[str]) -> tuple[float, list[float], list[float], float]:
    """First paint; per keystroke: the screen's own work (refilter + render every visible line)
    and the whole key-to-repaint time through Textual's test pilot, minus the pilot's own
    latency for a key that changes nothing (measured the same way)."""
    app = KmodApp(resolve_result=result)
    start = time.perf_counter()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        first_paint = time.perf_counter() - start
        await pilot.press("p")  # every finding, ok ones too
        await pilot.pause()
        await pilot.press("slash")
        await pilot.pause()
        noop = []
        for _ in range(10):
            t = time.perf_counter()
            await pilot.press("end")  # the filter input's cursor is already at the end
            await pilot.pause()
            noop.append(time.perf_counter() - t)
        baseline = statistics.median(noop)
        screen = app.screen
        table = screen.query_one(SymbolTable)
        work, whole = [], []
        for query in queries:
            for n in range(1, len(query) + 1):
                screen.query_text = query[: n - 1]
                screen.refilter()
                t = time.perf_counter()
                screen.query_text = query[:n]
                screen.refilter()
                for y in range(table.size.height):
                    table.render_line(y)
                work.append(time.perf_counter() - t)
            screen.query_text = ""
            screen.refilter()
            for ch in query:
                t = time.perf_counter()
                await pilot.press(ch)
                await pilot.pause()
                whole.append(time.perf_counter() - t - baseline)
            for _ in query:
                await pilot.press("backspace")
            await pilot.pause()
    return first_paint, work, whole, baseline


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dir", default=os.path.expanduser("~/.cache/kmodtui-bench"))
    parser.add_argument("--tree")
    parser.add_argument("--symvers")
    args = parser.parse_args()
    tree, symvers = (args.tree, args.symvers) if args.tree else default_inputs(Path(args.dir))
    result = resolve([tree], find_kernel(symvers), need_modules=True)
    t = time.perf_counter()
    model = BrowserModel.from_result(result)
    model_s = time.perf_counter() - t
    queries = ["kfree", "ixgbe", "crc", "usb_"]
    core = []
    for q in queries:
        for n in range(1, len(q) + 1):
            t = time.perf_counter()
            model.visible(q[:n], "all", "module")
            core.append(time.perf_counter() - t)
    first_paint, work, whole, baseline = asyncio.run(measure_screen(result, queries))

    def ms(values: list[float]) -> str:
        return f"median {statistics.median(values) * 1000:5.1f} ms, max {max(values) * 1000:5.1f} ms"

    print(f"{len(model.rows)} findings ({result.problem_count} problems) from {tree}")
    print(f"  loading: browser model built          {model_s * 1000:6.1f} ms   target <= 300")
    print(f"  app start to first paint (incl. model) {first_paint * 1000:6.1f} ms")
    print(f"  filter, core model only:              {ms(core)}")
    print(f"  filter keystroke, screen work + paint: {ms(work)}   target <= 50")
    print(f"  filter keystroke via test pilot, less its {baseline * 1000:.0f} ms no-op latency: {ms(whole)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
