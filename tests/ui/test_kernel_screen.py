"""A newcomer at an 80x24 terminal picks a kernel; with no headers installed they are told what to do."""

from __future__ import annotations

import asyncio
from pathlib import Path

from kmodtui.app import KmodApp, wants_ansi_theme
from kmodtui.screens.kernel import KernelScreen


def screen_text(app: KmodApp) -> str:
    return "\n".join(str(widget.render()) for widget in app.screen.query("Static"))


def test_demo_lists_the_bundled_kernel_with_details() -> None:
    async def scenario() -> None:
        app = KmodApp(demo=True)
        async with app.run_test(size=(80, 24)) as pilot:
            await app.workers.wait_for_complete()
            await pilot.pause()
            assert isinstance(app.screen, KernelScreen)
            assert [k.release for k in app.screen.kernels] == ["6.1.0-56-amd64"]
            text = screen_text(app)
            assert "DEMO" in text and "6.1.0-56-amd64" in text
            assert "MODVERSIONS   yes" in text and "Demo tree" in text
            await pilot.press("enter")
            await pilot.pause()
            assert app.chosen_kernel is not None and app.chosen_kernel.origin == "demo"

    asyncio.run(scenario())


def test_no_headers_says_how_to_install_them_and_offers_the_demo(tmp_path: Path) -> None:
    async def scenario() -> None:
        app = KmodApp(root=str(tmp_path))
        async with app.run_test(size=(80, 24)) as pilot:
            await app.workers.wait_for_complete()
            await pilot.pause()
            text = screen_text(app)
            assert "No kernel build trees were found" in text
            assert "apt-get install linux-headers-" in text and "dnf install kernel-devel-" in text
            await pilot.press("d")
            await app.workers.wait_for_complete()
            await pilot.pause()
            assert app.screen.demo and [k.origin for k in app.screen.kernels] == ["demo"]

    asyncio.run(scenario())


def test_installed_kernel_is_listed(installed_kernel) -> None:
    async def scenario() -> None:
        app = KmodApp()
        async with app.run_test(size=(80, 24)) as pilot:
            await app.workers.wait_for_complete()
            await pilot.pause()
            assert installed_kernel.release in [k.release for k in app.screen.kernels]
            assert installed_kernel.release in screen_text(app)

    asyncio.run(scenario())


def test_linux_console_gets_the_ansi_theme() -> None:
    assert wants_ansi_theme("linux", "truecolor")
    assert wants_ansi_theme("xterm", "standard")
    assert not wants_ansi_theme("xterm-256color", "truecolor")
