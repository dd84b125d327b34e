"""What the wizard says (issue 32, items 6 and 9): the source details list the modes the next step
offers (both ask the modes registry), u on the kernel picker says when the running kernel has no
headers, and the kbuild remedy asks which provider when earlier builds of several sources export
the symbol, showing where each came from, instead of picking one."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from textual.widgets import OptionList, Static

from kmodtui.app import KmodApp
from kmodtui.core.build import modes
from kmodtui.core.build.sources import detect_source
from kmodtui.core.paths import package_data
from kmodtui.screens.mode import ModeScreen
from kmodtui.screens.source import SourceScreen
from tests.ui.waiting import screen_ready, settle, wait_for


def test_source_details_list_the_modes_the_mode_step_offers(installed_kernel, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KMODTUI_STATE_DIR", str(tmp_path / "state"))

    async def scenario() -> None:
        app = KmodApp()
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            app.push_screen(SourceScreen(installed_kernel))
            await wait_for(pilot, lambda: screen_ready(app, SourceScreen, "source-list"))
            await settle(pilot)
            for _ in range(2):  # consumer (kbuild only), then provider (with a dkms.conf)
                details = str(app.screen.query_one("#source-details", Static).render())
                path = next(line.split(None, 1)[1] for line in details.splitlines() if line.startswith("Path"))
                offered = [m.name for m in modes.offered_for(detect_source(path.strip()))]
                assert f"Modes       {', '.join(offered)}" in details, details
                assert "rpm-generic" in offered  # the list the issue saw: details said 'kbuild, deb'
                picker = app.screen
                await pilot.press("enter")
                await wait_for(pilot, lambda: screen_ready(app, ModeScreen, "mode-list"))
                listed = [o.id for o in app.screen.query_one("#mode-list", OptionList).options]
                assert listed == offered
                await pilot.press("escape")
                await wait_for(pilot, lambda picker=picker: app.screen is picker)
                await pilot.press("down")
                await settle(pilot)

    asyncio.run(scenario())


def test_update_check_says_the_running_kernel_has_no_headers(tmp_path: Path, installed_kernel) -> None:
    """A scratch root with only the installed headers' tree: u with nothing installed for the running
    kernel says so where it stays (the note under the list, not only a toast), and, when no tree
    for the running kernel is listed, that it has no headers here and how to install them."""
    usr_src = tmp_path / "usr" / "src"
    usr_src.mkdir(parents=True)
    shutil.copytree(installed_kernel.build_dir, usr_src / os.path.basename(installed_kernel.build_dir), symlinks=True)
    running = os.uname().release

    async def scenario() -> None:
        app = KmodApp(root=str(tmp_path))
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            await pilot.press("u")
            await settle(pilot)
            note = str(app.screen.query_one("#kernel-note", Static).render())
            assert "None are installed" in note and running in note, note
            listed = running in [k.release for k in app.screen.kernels]
            assert ("has no headers here" in note) is not listed, note
            if not listed:
                assert f"linux-headers-{running}" in note and "press r" in note, note
            assert app.screen.query_one("#kernel-note").size.height <= 7

    asyncio.run(scenario())


def _earlier_build(state: Path, name: str, source: Path, symvers: Path) -> Path:
    """An earlier run's build record of `source`, its Module.symvers the one modpost made."""
    from kmodtui.core.build import record as buildrecord

    record = state / "builds" / name
    (record / "work" / "src").mkdir(parents=True)
    shutil.copyfile(symvers, record / "work" / "src" / "Module.symvers")
    (record / "request.json").write_text(json.dumps({"source": str(source)}))
    buildrecord.write_status(str(record), id=name, state="succeeded", kernel="x", source=str(source), mode="kbuild",
                             log=str(record / "work" / "build.log"), started=1.0, ended=2.0, exit_code=0,
                             artifacts=[], findings=[])
    return record


def test_the_kbuild_remedy_asks_which_provider_when_builds_of_two_sources_export_it(
        built, installed_kernel, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two earlier builds (of two copies of the provider, as earlier runs leave them in the state
    folder) export provider_fn: the remedy screen lists both with their build and source and waits
    for a choice; the CLI says exit 2 and one line naming both. Before: the newest was used silently."""
    from kmodtui.screens.remedy import ProviderScreen, RemedyContext, RemedyScreen

    state = tmp_path / "state"
    monkeypatch.setenv("KMODTUI_STATE_DIR", str(state))
    sources = []
    for copy in ("copy-a", "copy-b"):
        source = tmp_path / copy / "provider"
        shutil.copytree(package_data("examples", "provider"), source)
        sources.append(source)
    symvers = built.provider_dir / "Module.symvers"
    older = _earlier_build(state, "20261101-000000-provider-a", sources[0], symvers)
    newer = _earlier_build(state, "20261102-000000-provider-b", sources[1], symvers)
    consumer = tmp_path / "consumer"
    shutil.copytree(package_data("examples", "consumer"), consumer)

    async def scenario() -> None:
        app = KmodApp()
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            remedy = RemedyScreen(RemedyContext(("kbuild-extra-symbols",), symbol="provider_fn", kernel=installed_kernel,
                                                target=str(consumer), source=str(consumer)))
            app.push_screen(remedy)
            await wait_for(pilot, lambda: isinstance(app.screen, ProviderScreen) and app.screen.is_mounted, 30)
            choice = app.screen
            shown = [str(o.prompt) for o in choice.query_one("#provider-list", OptionList).options]
            assert any(older.name in s and str(sources[0]) in s for s in shown), shown
            assert any(newer.name in s and str(sources[1]) in s for s in shown), shown
            text = str(choice.query_one(Static).render())
            assert "does not pick one for you" in text, text
            assert remedy.plan is None  # nothing planned behind the user's back
            await pilot.press("escape")
            await wait_for(pilot, lambda: app.screen is remedy)

    asyncio.run(scenario())
    cli = subprocess.run([sys.executable, "-m", "kmodtui", "remedy", "show", "kbuild-extra-symbols", "--target",
                          str(consumer), "--symbol", "provider_fn"], capture_output=True, text=True,
                         env={**os.environ, "KMODTUI_STATE_DIR": str(state)})
    assert cli.returncode == 2 and cli.stdout == "", (cli.returncode, cli.stdout, cli.stderr)
    [line] = cli.stderr.splitlines()
    assert line.startswith("kmodtui: ") and older.name in line and newer.name in line, line
