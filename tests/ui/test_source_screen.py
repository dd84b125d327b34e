"""The source picker at 80x24: a newcomer types paths, some of them already listed."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from kmodtui.app import KmodApp
from kmodtui.core.kernels.discover import discover_kernels
from kmodtui.core.model import Kernel
from kmodtui.core.paths import package_data
from kmodtui.screens.source import SourceScreen
from tests.ui.waiting import screen_shown, settle


def demo_kernel() -> Kernel:
    [kernel] = discover_kernels(package_data("data", "demo", "root"), origin="demo")
    return kernel


@pytest.mark.heavy  # seconds: not in --quick (README)
def test_typing_a_path_already_listed_selects_it(tmp_path: Path) -> None:
    """/ + an example's own path + Enter crashed the TUI (DuplicateID, exit 1): it selects the listed
    entry. A typed folder typed again, with a trailing slash, is one entry too. The details name the
    path read."""
    typed = tmp_path / "mymod"
    typed.mkdir()
    (typed / "Kbuild").write_text("obj-m += mymod.o\n")

    async def scenario() -> None:
        app = KmodApp(demo=True)
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            app.push_screen(SourceScreen(demo_kernel()))
            screen = await screen_shown(pilot, SourceScreen, "source-details")
            options = screen.query_one("#source-list")
            examples = list(screen.paths)
            assert len(examples) >= 2 and options.option_count == len(examples)
            await pilot.press("slash", *examples[1], "enter")
            await settle(pilot)
            assert app.is_running and app.screen is screen
            assert options.option_count == len(examples) and options.highlighted == 1
            details = str(screen.query_one("#source-details").render())
            assert "Modules     provider" in details and f"Path        {examples[1]}" in details
            for path in (str(typed), f"{typed}/"):
                screen.query_one("#source-path").value = ""
                await pilot.press("slash", *path, "enter")
                await settle(pilot)
            assert app.is_running and options.option_count == len(examples) + 1
            assert options.highlighted == len(examples) and screen.paths[-1] == str(typed)
            assert "mymod" in str(screen.query_one("#source-details").render())

    asyncio.run(scenario())
