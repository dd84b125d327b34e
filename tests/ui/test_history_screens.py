"""Esc walks back through screens whose results were replaced (issue 32, item 4): the symbol
browser from before a remedy shows the latest check when Esc reaches it, and says it was
refreshed; a build screen whose build was rebuilt since says it is an older build and l opens the
latest. And the rows a remedy fixed name their CRCs and provider (item 6)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from kmodtui.app import KmodApp
from kmodtui.screens.remedy import RemedyScreen
from kmodtui.screens.symbols import SymbolsScreen
from kmodtui.widgets.symbol_table import SymbolTable
from tests.ui.test_eighty_columns import failed_build_record
from tests.ui.waiting import apply_then_rebuild, open_demo_symbols, screen_ready, settle, wait_for


@pytest.mark.heavy  # seconds: not in --quick (README)
def test_the_browser_from_before_the_remedy_shows_the_latest_check_on_the_way_back(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The demo's seed 000 at 80x24: 3 problems, r, apply, b (the provider RPM rebuilt by rpmbuild),
    the new browser says all resolve; Esc, Esc: the first browser no longer says '3 problem(s)'."""
    monkeypatch.setenv("TERM", "linux")
    monkeypatch.setenv("KMODTUI_STATE_DIR", str(tmp_path / "state"))
    fixed_rows: list = []

    async def scenario() -> None:
        app = KmodApp(demo=True)
        async with app.run_test(size=(80, 24)) as pilot:
            await open_demo_symbols(pilot)
            first = app.screen
            assert first.result.problem_count == 3
            await pilot.press("r")
            await wait_for(pilot, lambda: screen_ready(app, RemedyScreen, "remedy-text"))
            await apply_then_rebuild(pilot)
            await wait_for(pilot, lambda: isinstance(app.screen, SymbolsScreen) and app.screen is not first
                           and app.screen.is_mounted, 180)
            await settle(pilot)
            latest = app.screen
            assert latest.result.problem_count == 0
            fixed_rows.extend(r for r in latest.model.rows if r[0].startswith("kmod-consumer")  # the package's rows
                              and r[1] in ("provider_fn", "provider_gpl_fn", "provider_ns_fn"))
            while app.screen is not first:
                await pilot.press("escape")
                await settle(pilot)
            summary = str(first.query_one("#symbols-summary").render())
            assert "3 problem(s)" not in summary, summary
            assert "refreshed" in summary and "all symbols resolve" in summary, summary
            assert first.result is latest.result
            table = first.query_one(SymbolTable)  # the rows drawn are the latest check's too
            assert [table.rows[i][2] for i in table.visible_rows] == [latest.model.rows[i][2] for i in table.visible_rows]
            assert all(table.rows[i][2] == "ok" for i in table.visible_rows)

    asyncio.run(scenario())
    # item 6: a ksym() row the remedy fixed says which CRC was asked and given, and by whom (was '- -', blank)
    assert len(fixed_rows) == 3, fixed_rows
    for _module, _symbol, status, need, has, provider in fixed_rows:
        assert status == "ok" and need is not None and need == has and provider.startswith("kmod-provider"), fixed_rows


@pytest.mark.heavy  # seconds: not in --quick (README)
def test_an_older_build_screen_says_so_and_l_opens_the_latest(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A failed build's screen, then a rebuild of it (as the remedy's b starts one): Esc from the
    rebuild's screen back to the failed one shows 'OLDER BUILD' and l opens the rebuild's screen."""
    from kmodtui.core.build import record as buildrecord
    from kmodtui.messages import BuildStarted
    from kmodtui.screens.build import BuildScreen

    monkeypatch.setenv("TERM", "linux")
    state = tmp_path / "state"
    monkeypatch.setenv("KMODTUI_STATE_DIR", str(state))
    old = failed_build_record(state)
    new = state / "builds" / "20261129-000100-xone-7.0.0-amd64-0001"
    (new / "work").mkdir(parents=True)
    log = new / "work" / "build.log"
    log.write_text("")
    buildrecord.write_status(str(new), id=new.name, state="succeeded", kernel="7.0.0-amd64", source="/src/xone",
                             mode="dkms", log=str(log), started=1795910500.0, ended=1795910560.0, exit_code=0,
                             artifacts=[], findings=[])

    async def scenario() -> None:
        app = KmodApp(demo=True)
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            first = BuildScreen(old)
            app.push_screen(first)
            await wait_for(pilot, lambda: first.finished and first.line_count > 0, 30)
            assert "OLDER BUILD" not in str(first.query_one("#build-status").render())
            app.post_message(BuildStarted(str(new), replaces=old))
            await wait_for(pilot, lambda: isinstance(app.screen, BuildScreen) and app.screen is not first
                           and app.screen.finished)
            await pilot.press("escape")
            await wait_for(pilot, lambda: app.screen is first)
            await pilot.pause()
            status = str(first.query_one("#build-status").render())
            assert "OLDER BUILD" in status and new.name in status and "l opens the latest" in status, status
            await pilot.press("l")
            await wait_for(pilot, lambda: isinstance(app.screen, BuildScreen) and app.screen.record_dir == str(new))

    asyncio.run(scenario())
