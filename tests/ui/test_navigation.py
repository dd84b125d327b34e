"""Navigation a newcomer expects: Esc always goes back one level and reaches the kernel picker from
every screen, `?` opens a help screen Esc closes, typed input survives Esc, keys in words."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kmodtui.app import KmodApp
from kmodtui.core.build.sources import detect_source
from kmodtui.core.paths import package_data
from kmodtui.core.resolve.engine import resolve
from kmodtui.screens.kernel import KernelScreen
from kmodtui.screens.nav import HelpScreen
from kmodtui.screens.symbols import SymbolsScreen
from tests.ui.waiting import settle


def screens_to_visit(built, installed_kernel):
    """One of every screen, made the way the wizard makes it."""
    from kmodtui.screens.builds import BuildsScreen
    from kmodtui.screens.diagnose import DiagnoseScreen
    from kmodtui.screens.hook import HookScreen
    from kmodtui.screens.mode import ModeScreen
    from kmodtui.screens.remedy import RemedyContext, RemedyScreen
    from kmodtui.screens.sign import SignScreen
    from kmodtui.screens.source import SourceScreen

    provider = detect_source(package_data("examples", "provider"))
    result = resolve([str(built.consumer_ko)], installed_kernel)
    return {
        "source": lambda: SourceScreen(installed_kernel),
        "mode": lambda: ModeScreen(provider, installed_kernel),
        "builds": lambda: BuildsScreen(),
        "symbols": lambda: SymbolsScreen(result),
        "remedy": lambda: RemedyScreen(RemedyContext(("kbuild-extra-symbols",), symbol="provider_fn",
                                                     kernel=installed_kernel, source=str(built.consumer_ko.parent))),
        "sign": lambda: SignScreen([str(built.provider_ko)], installed_kernel),
        "hook": lambda: HookScreen(str(built.provider_ko.parent), "kbuild"),
        "diagnose": lambda: DiagnoseScreen(),
    }


def test_esc_from_every_screen_reaches_the_kernel_picker(built, installed_kernel, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KMODTUI_STATE_DIR", str(tmp_path / "state"))

    async def scenario() -> None:
        for name, make in screens_to_visit(built, installed_kernel).items():
            # pushed on top of the picker (the wizard) and as the first screen (attach, resolve --tui)
            for on_picker in (True, False):
                app = KmodApp(demo=True)
                async with app.run_test(size=(80, 24)) as pilot:
                    await settle(pilot)
                    if on_picker:
                        app.push_screen(make())
                    else:
                        app.switch_screen(make())
                    await settle(pilot)
                    for _ in range(3):
                        if isinstance(app.screen, KernelScreen):
                            break
                        await pilot.press("escape")
                        await settle(pilot)
                    assert isinstance(app.screen, KernelScreen), f"Esc on the {name} screen led to {app.screen}"

    asyncio.run(scenario())


def test_attach_then_esc_is_the_kernel_picker_not_a_blank_screen(built, installed_kernel) -> None:
    result = resolve([str(built.consumer_ko)], installed_kernel, [str(built.provider_ko)])

    async def scenario() -> None:
        app = KmodApp(resolve_result=result)
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            assert isinstance(app.screen, SymbolsScreen)
            await pilot.press("slash", *"provider")
            await pilot.press("escape")  # clears the filter, stays
            await pilot.pause()
            assert isinstance(app.screen, SymbolsScreen) and app.screen.query_text == ""
            await pilot.press("escape")
            await settle(pilot)
            assert isinstance(app.screen, KernelScreen)

    asyncio.run(scenario())


def test_help_is_a_screen_esc_closes_with_keys_in_words(built, installed_kernel) -> None:
    result = resolve([str(built.consumer_ko)], installed_kernel)

    async def scenario() -> None:
        app = KmodApp(resolve_result=result)
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            await pilot.press("question_mark")
            await pilot.pause()
            assert isinstance(app.screen, HelpScreen)
            text = str(app.screen.query_one("#help-text").render())
            assert "ksym(name) = 0xCRC" in text and "Esc  back one level" in text
            assert re.search(r"^  / +Filter$", text, re.M) and re.search(r"^  Esc +Back$", text, re.M)
            await pilot.press("escape")
            await pilot.pause()
            assert isinstance(app.screen, SymbolsScreen)
            # the palette names actions in words with keys as people write them
            commands = [c.title for c in app.get_system_commands(app.screen)]
            assert "Filter (/)" in commands and "Help (question_mark)" not in commands

    asyncio.run(scenario())


def test_status_filter_skips_statuses_with_no_rows_and_the_summary_counts_rows(built, installed_kernel) -> None:
    result = resolve([str(built.consumer_ko)], installed_kernel)  # only 'unknown' problems, and ok rows

    async def scenario() -> None:
        app = KmodApp(resolve_result=result)
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            screen = app.screen
            seen = []
            for _ in range(5):
                await pilot.press("f")
                await pilot.pause()
                seen.append(screen.status_filter)
            present = {s for s, n in screen.model.counts().items() if n} | {"all", "problems"}
            assert set(seen) <= present, seen
            summary = str(screen.query_one("#symbols-summary").render())
            assert f"of {len(screen.model.rows)} rows" in summary

    asyncio.run(scenario())


def test_esc_while_typing_a_source_path_keeps_it(installed_kernel) -> None:
    from kmodtui.screens.source import SourceScreen

    async def scenario() -> None:
        app = KmodApp(demo=True)
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            app.push_screen(SourceScreen(installed_kernel))
            await settle(pilot)
            await pilot.press("slash", *"/srv/mod")
            await pilot.press("escape")
            await pilot.pause()
            assert isinstance(app.screen, SourceScreen)
            assert app.screen.query_one("#source-path").value == "/srv/mod"

    asyncio.run(scenario())


def test_a_mode_whose_tool_is_missing_says_how_to_install_it(installed_kernel, monkeypatch) -> None:
    import shutil as real_shutil

    from kmodtui.screens.mode import ModeScreen

    which = real_shutil.which
    monkeypatch.setattr("shutil.which", lambda name, *a, **k: None if name == "dkms" else which(name, *a, **k))
    source = detect_source(package_data("examples", "provider"))

    async def scenario() -> None:
        app = KmodApp(demo=True)
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            app.push_screen(ModeScreen(source, installed_kernel))
            await settle(pilot)
            screen = app.screen
            assert screen.missing["dkms"] == ["dkms"]
            assert "apt-get install dkms" in screen.details("dkms")
            screen.query_one("#mode-list").highlighted = screen.modes.index("dkms")
            await pilot.press("enter")
            await pilot.pause()
            assert app.screen is screen  # no build started

    asyncio.run(scenario())


def test_quitting_with_a_build_running_says_how_to_attach(tmp_path: Path, monkeypatch, capsys) -> None:
    import time

    from kmodtui.app import run_app
    from kmodtui.core.build import record as buildrecord

    monkeypatch.setenv("KMODTUI_STATE_DIR", str(tmp_path / "state"))
    _, record = buildrecord.new_build_dir("sleeper")
    buildrecord.write_status(record, state=buildrecord.RUNNING, kernel="k", source="s", mode="kbuild",
                             log=os.path.join(record, "build.log"), started=time.time())
    # a live process whose command line says kmodtui, as a detached runner's does
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)", "kmodtui"])
    try:
        buildrecord.write_status(record, runner_pid=sleeper.pid)
        app = KmodApp(attach=record)
        monkeypatch.setattr(app, "run", lambda **_: None)  # quit at once
        run_app(app)
    finally:
        sleeper.kill()
        sleeper.wait()
    out = capsys.readouterr().out
    assert f"kmodtui attach {os.path.basename(record)}" in out
    assert app.running_builds() == []


def test_builds_stop_cancels_a_running_build(tmp_path: Path, installed_kernel) -> None:
    """`kmodtui builds stop ID` on a real detached build: it records 'cancelled'."""
    import json

    from kmodtui.core.build import record as buildrecord

    src = tmp_path / "slow"
    src.mkdir()
    (src / "slow.c").write_text('#include <linux/module.h>\nMODULE_LICENSE("GPL");\n')
    (src / "Kbuild").write_text("obj-m := slow.o\n$(shell sleep 30)\n")  # kbuild reads it: 30 s
    env = {**os.environ, "KMODTUI_STATE_DIR": str(tmp_path / "state")}
    kmodtui = [sys.executable, "-m", "kmodtui"]
    started = subprocess.run([*kmodtui, "build", "--detach", "--source", str(src), "--kernel",
                              installed_kernel.build_dir], env=env, capture_output=True, text=True, timeout=60)
    assert started.returncode == 0, started.stderr
    listed = json.loads(subprocess.run([*kmodtui, "builds", "--json"], env=env, capture_output=True, text=True,
                                       check=True).stdout)["builds"]
    build_id = listed[0]["id"]
    missing = subprocess.run([*kmodtui, "builds", "stop"], env=env, capture_output=True, text=True)
    assert missing.returncode != 0 and "needs a build id" in missing.stderr
    deadline = time.monotonic() + 30
    while True:  # until the runner has recorded its pid
        status = buildrecord.read_status(listed[0]["dir"]) or {}
        if status.get("runner_pid") and os.path.exists(status.get("log", "")) and \
                os.path.getsize(status["log"]) > 0:
            break
        assert time.monotonic() < deadline
        time.sleep(0.1)
    stopped = subprocess.run([*kmodtui, "builds", "stop", build_id], env=env, capture_output=True, text=True)
    assert stopped.returncode == 0, stopped.stderr
    deadline = time.monotonic() + 30
    while (buildrecord.read_status(listed[0]["dir"]) or {}).get("state") == buildrecord.RUNNING:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert buildrecord.read_status(listed[0]["dir"])["state"] == buildrecord.CANCELLED


@pytest.mark.heavy  # seconds: not in --quick (README)
def test_diagnose_a_log_from_the_first_screen_by_path_and_by_paste(repo_root: Path) -> None:
    """l on the kernel picker: a real log from a public thread, by path, then pasted."""
    from kmodtui.screens.diagnose import DiagnoseScreen

    log = repo_root / "tests" / "logs" / "032-gdrcopy-gpl-only-cc_mkdec.log"

    async def scenario() -> None:
        app = KmodApp(demo=True)
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            await pilot.press("l")
            await settle(pilot)
            screen = app.screen
            assert isinstance(screen, DiagnoseScreen)
            await pilot.press(*str(log), "enter")
            await settle(pilot)
            answer = str(screen.query_one("#diagnose-answer").render())
            assert answer.startswith("Cause: a non-GPL module uses a GPL-only export") and "What to do" in answer
            screen.query_one("#diagnose-paste").text = (repo_root / "tests" / "logs" /
                                                        "028-it87-unknown-symbol-vid_from_reg.log").read_text()
            await pilot.press("ctrl+d")
            await settle(pilot)
            assert "needs a symbol nothing loaded exports" in str(screen.query_one("#diagnose-answer").render())
            await pilot.press("escape", "escape")
            await settle(pilot)
            assert isinstance(app.screen, KernelScreen)

    asyncio.run(scenario())


def test_log_lines_with_brackets_are_shown_literally() -> None:
    """gcc's '[-Werror=implicit-function-declaration]' broke Textual's markup parser (a crash)."""
    from textual.content import Content

    from kmodtui.screens.nav import escape

    for text in ("error: implicit [-Werror=implicit-function-declaration]", "[b]not bold[/b]", "a\\[x] [/]"):
        assert Content.from_markup(escape(text)).plain == text


def test_a_running_build_is_visible_from_every_screen(installed_kernel, tmp_path: Path, monkeypatch) -> None:
    """A build started from this session, still running: the step strip of whatever screen is shown
    says so."""
    from kmodtui.core.build.job import start_detached
    from kmodtui.screens.source import SourceScreen
    from kmodtui.widgets.steps import StepStrip
    from tests.ui.waiting import wait_for

    monkeypatch.setenv("KMODTUI_STATE_DIR", str(tmp_path / "state"))
    slow = tmp_path / "slow"
    slow.mkdir()
    (slow / "slow.c").write_text('#include <linux/module.h>\nMODULE_LICENSE("GPL");\n')
    (slow / "Kbuild").write_text("obj-m := slow.o\n$(shell sleep 20)\n")
    [record] = start_detached(str(slow), [installed_kernel.release], "kbuild")

    async def scenario() -> None:
        app = KmodApp(demo=True)
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            app.started.append(record)
            app.push_screen(SourceScreen(installed_kernel))
            await settle(pilot)
            strip = app.screen.query_one(StepStrip)
            await wait_for(pilot, lambda: "1 build running" in strip.running, 10)
            from kmodtui.core.build import record as buildrecord

            buildrecord.stop(buildrecord.read_status(record) or {})

    asyncio.run(scenario())
