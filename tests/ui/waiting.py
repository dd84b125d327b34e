"""Waiting for a screen: until its workers are done, or until it reaches a state while a real build
runs behind it."""

from __future__ import annotations

import time


async def wait_for(pilot, condition, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for the screen")
        await pilot.pause(0.1)


def build_done(record: str, timeout: float = 180.0) -> dict:
    """Until a detached build's record says it is over (its status returned); fails at the deadline."""
    from kmodtui.core.build.record import read_status

    deadline = time.monotonic() + timeout
    while True:
        status = read_status(record) or {}
        if status.get("state") not in (None, "running"):
            return status
        if time.monotonic() > deadline:
            raise AssertionError(f"{record} still running after {timeout} s")
        time.sleep(0.2)


# A build screen follows its build's log in a worker for as long as the build runs: not waited for.
FOLLOWING = "build-follow"


async def settle(pilot) -> None:
    """Until the app's background workers are done and the screen has caught up; a handler of what
    a worker posted may start another worker (the screen's next step): that one is waited for too.
    A screen just pushed is mounted first (its on_mount starts its workers)."""
    await wait_for(pilot, lambda: pilot.app.screen.is_mounted)
    while True:
        busy = [w for w in pilot.app.workers if not w.is_finished and w.group != FOLLOWING]
        if busy:
            await pilot.app.workers.wait_for_complete(busy)
        await pilot.pause()
        if not any(not w.is_finished and w.group != FOLLOWING for w in pilot.app.workers):
            return


async def screen_shown(pilot, screen_type, widget_id: str = ""):
    """Until the app shows a screen of this type, mounted, with what its workers read; returns it
    (a key that opens a screen may first read something in a worker: the screen comes after)."""
    await wait_for(pilot, lambda: screen_ready(pilot.app, screen_type, widget_id))
    await settle(pilot)
    return pilot.app.screen


def screen_ready(app, screen_type, widget_id: str = "") -> bool:
    """The app shows a screen of this type that has mounted its widgets (a pushed screen composes on
    a later tick: on a busy machine, querying it at once finds nothing)."""
    screen = app.screen
    if not isinstance(screen, screen_type) or not screen.is_mounted:
        return False
    return not widget_id or bool(screen.query(f"#{widget_id}"))


async def open_demo_symbols(pilot) -> None:
    """The demo's first screen, Enter: until the symbol browser on seed 000's package set has
    mounted and its workers are done."""
    from kmodtui.screens.symbols import SymbolsScreen

    await settle(pilot)
    await pilot.press("enter")
    await wait_for(pilot, lambda: screen_ready(pilot.app, SymbolsScreen, "symbols-explanation"))
    await settle(pilot)


async def apply_then_rebuild(pilot):
    """On the remedy screen, once its preview is in: a, a (apply, confirmed), then b; returns the
    screen b opened (the rebuild, started by a worker)."""
    await settle(pilot)
    remedy = pilot.app.screen
    await pilot.press("a", "a")
    await settle(pilot)
    await pilot.press("b")
    await wait_for(pilot, lambda: pilot.app.screen is not remedy and pilot.app.screen.is_mounted)
    return pilot.app.screen


async def rebuilt_then_checked(pilot, build, before, timeout: float):
    """A rebuild after a remedy, followed to its end (it must succeed), then Enter: returns the symbol
    browser of the re-check, a new one (not `before`, the browser the remedy was opened from)."""
    from kmodtui.screens.symbols import SymbolsScreen

    await wait_for(pilot, lambda: build.finished, timeout)
    assert build.status["state"] == "succeeded", build.status
    await pilot.press("enter")
    await wait_for(pilot, lambda: screen_ready(pilot.app, SymbolsScreen, "symbols-explanation")
                   and pilot.app.screen is not before, 300)
    after = pilot.app.screen
    assert isinstance(after, SymbolsScreen)
    return after
