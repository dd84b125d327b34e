"""How long the app's event loop goes without running anything else: the largest gap between the
ticks of a 1 ms timer on the loop while a scenario runs. A handler that reads a file, runs a
process or waits for the network holds the loop (no key, no redraw) for as long as that takes,
and shows up here as a gap that long.

On a loaded machine the kernel also takes the CPU away from the loop's thread now and then, which
no code of ours causes or can avoid. Linux counts the time a thread waited to run
(/proc/self/task/<tid>/schedstat, second field): `held` is each gap less that wait, the time the
loop itself was busy or blocked. Where schedstat is missing, `held` is the whole gap. Garbage
collections that pause every thread are listed in the summary."""

from __future__ import annotations

import asyncio
import gc
import importlib
import os
import shutil
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from kmodtui.core.build import record as buildrecord
from kmodtui.core.kernels.discover import discover_kernels
from kmodtui.core.model import Kernel
from kmodtui.core.paths import package_data
from tests.realtools import EXAMPLES

SLOW = 0.5  # what each faked core call takes


def _waited_ns(fd: int | None) -> int:
    """Nanoseconds the loop's thread has spent runnable but not running, since it started."""
    if fd is None:
        return 0
    return int(os.pread(fd, 128, 0).split()[1])


@dataclass
class LoopGaps:
    """`async with LoopGaps() as gaps:` around a scenario; then `gaps.largest` (seconds, the loop's
    own holding) and `gaps.largest_wall` (as a clock on the wall saw it)."""

    interval: float = 0.001
    wall: list[float] = field(default_factory=list)
    held: list[float] = field(default_factory=list)
    collections: list[tuple[int, float]] = field(default_factory=list)  # (generation, seconds) of each GC
    _task: asyncio.Task | None = None
    _fd: int | None = None
    _gc_started: float = 0.0

    def _on_gc(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._gc_started = time.monotonic()
        else:
            self.collections.append((info["generation"], time.monotonic() - self._gc_started))

    async def __aenter__(self) -> LoopGaps:
        try:
            self._fd = os.open(f"/proc/self/task/{threading.get_native_id()}/schedstat", os.O_RDONLY)
        except OSError:
            self._fd = None
        # What the test session already holds (earlier tests' resolve results, apps) is frozen out of
        # the collector's reach: a full collection during the scenario then costs what the app's own
        # objects cost (in this session it took 80-150 ms, all threads stopped, whatever the app did)
        gc.collect()
        gc.freeze()
        gc.callbacks.append(self._on_gc)
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
        gc.callbacks.remove(self._on_gc)
        gc.unfreeze()
        if self._fd is not None:
            os.close(self._fd)

    async def _tick(self) -> None:
        last, waited = time.monotonic(), _waited_ns(self._fd)
        while True:
            await asyncio.sleep(self.interval)
            now, now_waited = time.monotonic(), _waited_ns(self._fd)
            self.wall.append(now - last)
            self.held.append(max(0.0, now - last - (now_waited - waited) / 1e9))
            last, waited = now, now_waited

    @property
    def largest(self) -> float:
        return max(self.held, default=0.0)

    @property
    def largest_wall(self) -> float:
        return max(self.wall, default=0.0)

    def summary(self) -> str:
        """The largest gaps and how many ticks were taken, for a test's message and the report."""
        if not self.held:
            return "no tick taken"
        worst = sorted(self.held, reverse=True)[:3]
        return (f"loop held {', '.join(f'{g * 1000:.0f}' for g in worst)} ms at most (wall-clock gap "
                f"{self.largest_wall * 1000:.0f} ms) over {len(self.held)} ticks, "
                f"median {sorted(self.held)[len(self.held) // 2] * 1000:.1f} ms; garbage collections: "
                f"{', '.join(f'gen {g} {t * 1000:.0f} ms' for g, t in self.collections if t > 0.005) or 'all < 5 ms'}")


# ---- what the latency tests make slow, and the build records they follow ---------------------------

def demo_kernel() -> Kernel:
    [kernel] = discover_kernels(package_data("data", "demo", "root"), origin="demo")
    return kernel


class Slowed:
    """A core function made slow (SLOW seconds, then the real one or `result`), everywhere it was
    imported by name (`owner` a module's name), or a method of a class (`owner` the class);
    remembers whether each call ran on the event loop's thread."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, owner: str | type, name: str, seconds: float = SLOW,
                 result: Callable | None = None) -> None:
        self.on_loop: list[bool] = []
        self.gaps: LoopGaps | None = None  # measured while it was slow
        holder = importlib.import_module(owner) if isinstance(owner, str) else owner
        original = getattr(holder, name)
        loop_thread = threading.get_ident()

        def slow(*args, **kwargs):
            self.on_loop.append(threading.get_ident() == loop_thread)
            time.sleep(seconds)
            return (result or original)(*args, **kwargs)

        if not isinstance(owner, str):
            monkeypatch.setattr(owner, name, slow)
            return
        for module_name, loaded in list(sys.modules.items()):
            if (module_name == owner or module_name.startswith("kmodtui.")) and getattr(loaded, name, None) is original:
                monkeypatch.setattr(loaded, name, slow)


def fake_record(state: str = buildrecord.SUCCEEDED, mode: str = "kbuild", artifacts: tuple[str, ...] = (),
                lines: tuple[str, ...] = ("make -C ... modules", "  CC [M]  provider.o", "  LD [M]  provider.ko")) -> str:
    """A build's record as a runner leaves it (status.json and its log), with no runner behind it."""
    build_id, record = buildrecord.new_build_dir("fake-provider")
    os.makedirs(os.path.join(record, "work"))
    log = os.path.join(record, "work", "build.log")
    Path(log).write_text("".join(f"{line}\n" for line in lines))
    ended = {} if state == buildrecord.RUNNING else {"ended": time.time(), "exit_code": 0}
    buildrecord.write_status(record, id=build_id, state=state, kernel=demo_kernel().release,
                             source=str(EXAMPLES / "provider"), mode=mode, log=log, started=time.time(),
                             artifacts=list(artifacts), findings=[], **ended)
    return record


def built_module(tmp_path: Path) -> str:
    module = tmp_path / "provider.ko"
    shutil.copyfile(package_data("data", "demo", "modules", "provider.ko"), module)
    return str(module)


MODPOST = 'ERROR: modpost: "provider_fn" [{}/consumer.ko] undefined!'
