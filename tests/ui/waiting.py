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


async def settle(pilot) -> None:
    """Until the app's background workers are done and the screen has caught up."""
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


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
    """On the remedy screen: a, a (apply, confirmed), then b; returns the screen b opened (the rebuild)."""
    await pilot.press("a", "a")
    await settle(pilot)
    await pilot.press("b")
    await pilot.pause()
    return pilot.app.screen
