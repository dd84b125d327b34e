"""How long the app's event loop goes without running anything else: the largest gap between the
ticks of a 1 ms timer on the loop while a scenario runs. A handler that reads a file, runs a
process or waits for the network holds the loop (no key, no redraw) for as long as that takes,
and shows up here as a gap that long."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field


@dataclass
class LoopGaps:
    """`async with LoopGaps() as gaps:` around a scenario; then `gaps.largest` (seconds)."""

    interval: float = 0.001
    gaps: list[float] = field(default_factory=list)
    _task: asyncio.Task | None = None

    async def __aenter__(self) -> LoopGaps:
        self._task = asyncio.create_task(self._tick())
        await asyncio.sleep(0)  # the first tick is taken now, not when the scenario first yields
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        try:
            await self._task
        except asyncio.CancelledError:
            pass

    async def _tick(self) -> None:
        last = time.monotonic()
        while True:
            await asyncio.sleep(self.interval)
            now = time.monotonic()
            self.gaps.append(now - last)
            last = now

    @property
    def largest(self) -> float:
        return max(self.gaps, default=0.0)

    def summary(self) -> str:
        """The largest gaps and how many ticks were taken, for a test's message and the report."""
        worst = sorted(self.gaps, reverse=True)[:3]
        return (f"largest loop gaps {', '.join(f'{g * 1000:.0f} ms' for g in worst)} over {len(self.gaps)} ticks "
                f"(median {sorted(self.gaps)[len(self.gaps) // 2] * 1000:.1f} ms)" if self.gaps else "no tick taken")
