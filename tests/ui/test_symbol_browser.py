"""A newcomer opens the symbol browser on real resolve results at 80x24 and finds their way."""

from __future__ import annotations

import asyncio

import pytest

from kmodtui.app import KmodApp
from kmodtui.core.model import Kernel
from kmodtui.core.resolve.engine import resolve
from kmodtui.core.resolve.result import ResolveResult
from kmodtui.screens.symbols import SymbolsScreen
from kmodtui.widgets.symbol_table import SymbolTable
from tests.realtools import BuiltModules
from tests.ui.waiting import open_demo_symbols, settle


def table_lines(app: KmodApp) -> list[str]:
    table = app.screen.query_one(SymbolTable)
    return [table.render_line(y).text.rstrip() for y in range(table.size.height)]


def detail_text(app: KmodApp) -> str:
    return str(app.screen.query_one("#symbols-explanation").render())


def test_browser_shows_problems_first_and_explains_them(built: BuiltModules, installed_kernel) -> None:
    result = resolve([str(built.consumer_ko)], installed_kernel)

    async def scenario() -> None:
        app = KmodApp(resolve_result=result)
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            assert isinstance(app.screen, SymbolsScreen)
            lines = [line for line in table_lines(app) if line]
            assert len(lines) == 3 and all(line.startswith("UNKNOWN") for line in lines)
            assert "provider_fn" in lines[0]
            assert "Nothing provides provider_fn" in detail_text(app)
            assert "kbuild-extra-symbols" in detail_text(app)
            await pilot.press("down")
            await pilot.pause()
            assert "provider_gpl_fn" in detail_text(app)
            await pilot.press("p")  # all symbols, ok ones too
            await pilot.pause()
            assert len([line for line in table_lines(app) if line]) == 10
            await pilot.press("slash", *"kfree", "enter")
            await pilot.pause()
            lines = [line for line in table_lines(app) if line]
            assert len(lines) == 1 and "kfree" in lines[0] and lines[0].startswith("ok")
            assert "same CRC" in detail_text(app)

    asyncio.run(scenario())


def test_filter_with_no_match_says_what_to_do(built: BuiltModules, installed_kernel) -> None:
    result = resolve([str(built.consumer_ko)], installed_kernel, [str(built.provider_ko)])

    async def scenario() -> None:
        app = KmodApp(resolve_result=result)
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            assert "all symbols resolve" in str(app.screen.query_one("#symbols-summary").render())
            await pilot.press("slash", *"no-such-symbol", "enter")
            await pilot.pause()
            assert "Nothing matches this filter" in detail_text(app)
            await pilot.press("escape")
            await pilot.pause()
            assert len([line for line in table_lines(app) if line]) >= 10

    asyncio.run(scenario())


def test_sorting_by_symbol_then_provider_orders_rows_and_marks_the_column(built: BuiltModules,
                                                                           installed_kernel) -> None:
    _sorting_by_symbol_then_provider(resolve([str(built.consumer_ko)], installed_kernel, [str(built.provider_ko)]))


def test_sorting_assembled_modules_with_every_kind_of_problem(tmp_path) -> None:
    """The same on modules assembled with `as`, every kind of problem among their rows, against a
    synthetic kernel Module.symvers: hermetic."""
    from kmodtui.core.kernels.discover import find_kernel
    from tests.synthetic import every_problem_tree

    targets = every_problem_tree(tmp_path)
    _sorting_by_symbol_then_provider(resolve([str(targets)], find_kernel(str(tmp_path / "kernel.symvers"))))


def _sorting_by_symbol_then_provider(result: ResolveResult) -> None:
    async def scenario() -> None:
        app = KmodApp(resolve_result=result)
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            screen = app.screen
            table = screen.query_one(SymbolTable)
            await pilot.press("s")
            await pilot.pause()
            assert screen.group == "symbol" and "symbol^" in str(screen.query_one("#symbols-header").render())
            symbols = [screen.model.rows[i][1] for i in table.visible_rows]
            assert symbols == sorted(symbols)
            await pilot.press("s", "s")  # status, then provider
            await pilot.pause()
            assert screen.group == "provider"
            providers = [screen.model.rows[i][5] for i in table.visible_rows]
            assert providers == sorted(providers)

    asyncio.run(scenario())


def test_demo_walk_from_kernel_to_browser() -> None:
    async def scenario() -> None:
        app = KmodApp(demo=True)
        async with app.run_test(size=(80, 24)) as pilot:
            await open_demo_symbols(pilot)
            assert isinstance(app.screen, SymbolsScreen)
            assert "DEMO" in str(app.screen.query_one("StepStrip").render())
            summary = str(app.screen.query_one("#symbols-summary").render())
            assert "seed 000" in summary and "3 problem(s)" in summary
            lines = [line for line in table_lines(app) if line]
            assert len(lines) == 3 and all(line.startswith("NOTPKG") for line in lines)
            assert "internal dependency generator" in detail_text(app)
            await pilot.press("r")  # the remedy, previewed on the demo's own copy of the provider spec
            await settle(pilot)  # the preview is planned by a worker (a fixed pause lost the race under load)
            assert "+%global _use_internal_dependency_generator 0" in str(app.screen.query_one("#remedy-text").render())
            assert "DEMO" in str(app.screen.query_one("StepStrip").render())  # still the demo, on the remedy too

    asyncio.run(scenario())


def test_package_findings_appear_beside_module_findings(tmp_path, built: BuiltModules, installed_kernel) -> None:
    """Seed 000 in the browser: the consumer package's not_packaged findings come first, grouped
    under the package, with the story of the generic spec in the detail pane."""
    from tests.pkgtools import build_kmod_rpm

    provider = build_kmod_rpm(tmp_path / "p", "kmod-provider", [built.provider_ko], installed_kernel.release,
                              generator="internal")
    consumer = build_kmod_rpm(tmp_path / "c", "kmod-consumer", [built.consumer_ko], installed_kernel.release,
                              generator="kmodtui")
    result = resolve([str(consumer)], installed_kernel, [str(provider)])

    async def scenario() -> None:
        app = KmodApp(resolve_result=result)
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            lines = [line for line in table_lines(app) if line]
            assert lines[0].startswith("NOTPKG") and "kmod-consumer" in lines[0]
            assert "internal dependency generator" in detail_text(app)

    asyncio.run(scenario())


def test_a_damaged_symvers_in_the_wizard_is_a_notice_not_a_crash(built, installed_kernel, tmp_path) -> None:
    """The build finished but the chosen kernel's Module.symvers is not one (or is missing):
    the wizard says so in one line and stays up."""
    import asyncio

    from kmodtui.app import KmodApp
    from kmodtui.core.records import replace

    junk = tmp_path / "Module.symvers"
    junk.write_text("hello\nworld\n")
    for symvers in (str(junk), ""):
        kernel = replace(installed_kernel, symvers_path=symvers)

        async def scenario(kernel: Kernel = kernel, symvers: str = symvers) -> None:
            app = KmodApp()
            async with app.run_test(size=(80, 24)) as pilot:
                await app.workers.wait_for_complete()
                app.check_modules([str(built.consumer_ko)], kernel)
                await app.workers.wait_for_complete()
                await pilot.pause()
                notices = [n.message for n in app._notifications]
                expected = "not a Module.symvers file" if symvers else "has no Module.symvers"
                assert any(n.startswith("Cannot check the symbols: ") and expected in n for n in notices), notices
                assert app.is_running

        asyncio.run(scenario())


def test_hostile_module_strings_are_shown_escaped_never_sent(installed_kernel, tmp_path) -> None:
    """A module built by kbuild whose exported symbol holds OSC 52 (clipboard write), a clear
    screen and a C1 CSI, needed by another module: in the browser its row and the explanation show
    `\\x1b]52;...` as text, without a markup error, and what Textual would write to the terminal
    holds none of it (before: the raw ESC went into the row's strip and the explanation)."""
    from tests.hostile import build_hostile_modules

    hostile = build_hostile_modules(installed_kernel.build_dir, tmp_path)
    result = resolve([str(hostile.consumer)], installed_kernel)
    shown = "evil_\\x1b]52;c;cm0gLXJmIH4K\\x07\\x1b[2J\\x9b31m_fn"

    async def scenario() -> None:
        app = KmodApp(resolve_result=result)
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            assert isinstance(app.screen, SymbolsScreen)
            lines = [line for line in table_lines(app) if line]
            assert lines[0].startswith("UNKNOWN") and "evil_\\x1b]52;c" in lines[0]
            assert shown in detail_text(app)  # whole: no '[2J' or '[/]' taken for markup
            await pilot.press("z")  # the explanation pane over the whole screen
            await pilot.pause()
            assert f"Nothing provides {shown}" in detail_text(app).replace("\n", "")
            await pilot.press("z", "p")  # back, and every row
            await pilot.pause()
            frame = app.screen._compositor.render_full_update().render_segments(app.console)
            for raw in ("\x1b]", "\x07", "\x9b", "\u202e", hostile.symbol):
                assert raw not in frame, raw
            assert "\\x1b]52;c" in frame

    asyncio.run(scenario())


@pytest.mark.heavy  # seconds: not in --quick (README)
def test_zoom_shows_the_whole_explanation_by_key_and_palette() -> None:
    """z (and the palette's Zoom) gives the explanation the screen: the demo's long rpm story is read
    to its end (its last line, the concept, is inside the pane), at 80x24 and 100x40; z again gives
    the table back."""
    async def scenario(size: tuple[int, int]) -> None:
        app = KmodApp(demo=True)
        async with app.run_test(size=size) as pilot:
            await open_demo_symbols(pilot)
            screen = app.screen
            pane = screen.query_one("#symbols-detail")
            assert pane.max_scroll_y > 0  # cut before: '...but the package' and no more
            for how in ("key", "palette"):
                if how == "key":
                    await pilot.press("z")
                else:
                    [zoom] = [c for c in app.get_system_commands(screen) if c.title.startswith("Zoom")]
                    zoom.callback()
                await pilot.pause()
                await pilot.pause()
                assert screen.maximized is pane and pane.has_focus, how
                assert pane.region.height == size[1] - 1 and pane.max_scroll_y == 0, how  # all of it, above the footer
                await pilot.press("z")
                await pilot.pause()
                assert screen.maximized is None and screen.query_one(SymbolTable).has_focus, how
            await pilot.press("z", "escape")  # Esc leaves the zoom, not the screen
            await pilot.pause()
            assert app.screen is screen and screen.maximized is None

    asyncio.run(scenario((80, 24)))
    asyncio.run(scenario((100, 40)))
