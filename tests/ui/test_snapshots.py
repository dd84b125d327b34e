"""What each step looks like at 80x24 on a 16-colour terminal (TERM=linux), as SVG snapshots.

The screens are taken on the bundled demo, whose content does not depend on this machine.
After an intended change: pytest tests/ui/test_snapshots.py --snapshot-update, and look at the SVGs."""

from __future__ import annotations

import fcntl
import os
import shutil
import sys
from collections.abc import Iterator

import pytest

from kmodtui.app import KmodApp
from kmodtui.core.build.sources import detect_source
from kmodtui.core.kernels.discover import discover_kernels
from kmodtui.core.paths import package_data
from tests.ui.waiting import screen_ready, settle, wait_for

pytestmark = pytest.mark.heavy  # seconds each, and one snapshot at a time on the machine: not in --quick (README)
STATE = "/tmp/kmodtui-snapshot-state"  # fixed: the remedy screen shows where the demo spec copy lives


@pytest.fixture(autouse=True)
def fixed_terminal(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    # One snapshot at a time on this machine: the folder's name is fixed, and another checkout's test
    # run removing it under this one left a screen without the demo's spec copy or the modules to sign.
    lock = os.open(STATE + ".lock", os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    fcntl.flock(lock, fcntl.LOCK_EX)
    try:
        monkeypatch.setenv("TERM", "linux")
        shutil.rmtree(STATE, ignore_errors=True)
        monkeypatch.setenv("KMODTUI_STATE_DIR", STATE)
        # The remedy preview names the interpreter that runs `kmodtui rpmdeps` (the venv's path).
        monkeypatch.setattr(sys, "executable", "/usr/bin/python3")
        yield
    finally:
        os.close(lock)


def demo_kernel():
    [kernel] = discover_kernels(package_data("data", "demo", "root"), origin="demo")
    return kernel


def test_kernel_picker(snap_compare) -> None:
    assert snap_compare(KmodApp(demo=True), run_before=settle)


def test_symbol_browser_on_seed_000(snap_compare) -> None:
    async def open_browser(pilot) -> None:
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)

    assert snap_compare(KmodApp(demo=True), run_before=open_browser)


def test_remedy_preview(snap_compare) -> None:
    assert snap_compare(KmodApp(demo=True), run_before=_open_remedy)


def test_source_step(snap_compare) -> None:
    assert snap_compare(KmodApp(demo=True), run_before=_open_source)


def test_mode_step(snap_compare) -> None:
    assert snap_compare(KmodApp(demo=True), run_before=_open_mode)


def test_help_screen(snap_compare) -> None:
    assert snap_compare(KmodApp(demo=True), run_before=_open_help)


def test_symbol_browser_at_120x40_uses_the_space(snap_compare) -> None:
    async def open_browser(pilot) -> None:
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)

    assert snap_compare(KmodApp(demo=True), run_before=open_browser, terminal_size=(120, 40))


def test_symbol_browser_explanation_zoomed(snap_compare) -> None:
    async def open_zoomed(pilot) -> None:
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        await pilot.press("z")
        await pilot.pause()

    assert snap_compare(KmodApp(demo=True), run_before=open_zoomed)


@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])
def test_diagnose_screen_on_a_real_log(snap_compare, size) -> None:
    from pathlib import Path

    from kmodtui.screens.diagnose import DiagnoseScreen

    log = Path(__file__).resolve().parent.parent / "logs" / "059-xone-7.0-ida_simple_get-removed.log"

    async def open_diagnose(pilot) -> None:
        await settle(pilot)
        pilot.app.push_screen(DiagnoseScreen())
        await settle(pilot)
        screen = pilot.app.screen
        screen.query_one("#diagnose-paste").text = log.read_text()
        await pilot.press("ctrl+d")
        await settle(pilot)
        # the answer arrives as a message from the worker: until it is shown, however loaded the machine
        await wait_for(pilot, lambda: str(screen.query_one("#diagnose-answer").render()).startswith("Cause"))
        await pilot.pause()

    assert snap_compare(KmodApp(demo=True), run_before=open_diagnose, terminal_size=size)


async def _open_kernel_picker(pilot) -> None:
    await settle(pilot)


async def _open_source(pilot) -> None:
    from kmodtui.screens.source import SourceScreen

    await settle(pilot)
    pilot.app.push_screen(SourceScreen(demo_kernel()))
    await settle(pilot)  # then until the first example's details are read and shown
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, SourceScreen) and pilot.app.screen.current is not None)
    await pilot.pause()


async def _open_mode(pilot) -> None:
    from kmodtui.screens.mode import ModeScreen

    await settle(pilot)
    pilot.app.push_screen(ModeScreen(detect_source(package_data("examples", "provider")), demo_kernel()))
    await settle(pilot)


async def _open_remedy(pilot) -> None:
    from kmodtui.screens.remedy import RemedyScreen

    await settle(pilot)
    await pilot.press("enter")
    await settle(pilot)
    await pilot.press("r")
    await wait_for(pilot, lambda: screen_ready(pilot.app, RemedyScreen, "remedy-text"))
    await settle(pilot)  # the preview is planned by a worker


async def _open_help(pilot) -> None:
    await settle(pilot)
    await pilot.press("enter")
    await settle(pilot)
    await pilot.press("question_mark")
    await pilot.pause()


async def _open_builds(pilot) -> None:
    from kmodtui.screens.builds import BuildsScreen

    await settle(pilot)
    pilot.app.push_screen(BuildsScreen())
    await settle(pilot)


@pytest.mark.parametrize("opener", [_open_kernel_picker, _open_source, _open_mode, _open_remedy, _open_help,
                                    _open_builds], ids=["kernel", "source", "mode", "remedy", "help", "builds"])
def test_every_step_at_120x40(snap_compare, opener) -> None:
    """The same steps on a bigger terminal: the lists and panes grow into the space."""
    assert snap_compare(KmodApp(demo=True), run_before=opener, terminal_size=(120, 40))


def _failed_build_record() -> str:
    """A failed build's record whose log is a real one from a public thread (tests/logs), its primary
    cause named by the engine: the same on every machine, no path of this one in it."""
    from pathlib import Path

    from kmodtui.core.build import record as buildrecord
    from kmodtui.core.diagnose.engine import diagnose_log_file
    from kmodtui.core.diagnose.report import primary_json

    record = Path(STATE) / "builds" / "20261129-000000-xone-7.0.0-amd64-0000"
    (record / "work").mkdir(parents=True)
    log = record / "work" / "build.log"
    real = Path(__file__).resolve().parent.parent / "logs" / "059-xone-7.0-ida_simple_get-removed.log"
    log.write_bytes(real.read_bytes())
    diagnosis = diagnose_log_file(str(log))
    buildrecord.write_status(str(record), id=record.name, state="failed", kernel="7.0.0-amd64", source="/src/xone",
                             mode="dkms", log=str(log), started=1795910400.0, ended=1795910460.0, exit_code=10,
                             artifacts=[], findings=[], primary=primary_json(diagnosis) if diagnosis else None)
    return str(record)


@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])
def test_build_screen_of_a_failed_build(snap_compare, size) -> None:
    from kmodtui.screens.build import BuildScreen

    async def open_build(pilot) -> None:
        await settle(pilot)
        screen = BuildScreen(_failed_build_record())
        pilot.app.push_screen(screen)
        await wait_for(pilot, lambda: screen.finished and screen.line_count > 0, 30)
        await settle(pilot)

    assert snap_compare(KmodApp(demo=True), run_before=open_build, terminal_size=size)


@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])
def test_hook_screen(snap_compare, size) -> None:
    """The hook for the example provider, in a scratch root: paths under the fixed state folder."""
    from pathlib import Path

    from kmodtui.screens.hook import HookScreen

    async def open_hook(pilot) -> None:
        source = Path(STATE) / "src" / "provider"
        shutil.copytree(package_data("examples", "provider"), source)
        root = Path(STATE) / "root"
        (root / "etc" / "kernel" / "postinst.d").mkdir(parents=True)
        await settle(pilot)
        pilot.app.push_screen(HookScreen(str(source), "deb", str(root)))
        await settle(pilot)

    assert snap_compare(KmodApp(demo=True), run_before=open_hook, terminal_size=size)


@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])
def test_sign_screen(snap_compare, size) -> None:
    """Signing the demo's modules (copied under the fixed state folder) for the demo kernel."""
    from pathlib import Path

    from kmodtui.screens.sign import SignScreen

    async def open_sign(pilot) -> None:
        modules = Path(STATE) / "modules"
        shutil.copytree(package_data("data", "demo", "modules"), modules)
        await settle(pilot)
        pilot.app.push_screen(SignScreen(sorted(str(m) for m in modules.glob("*.ko")), demo_kernel()))
        await settle(pilot)

    assert snap_compare(KmodApp(demo=True), run_before=open_sign, terminal_size=size)


@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])
def test_provider_choice(snap_compare, size) -> None:
    """Where another module's exports come from: an earlier build's Module.symvers, or a source to
    build (paths under the fixed state folder)."""
    from kmodtui.screens.remedy import ProviderScreen

    async def open_providers(pilot) -> None:
        await settle(pilot)
        pilot.app.push_screen(ProviderScreen("provider_fn", [f"{STATE}/builds/20261129-000000-provider/work/src/"
                                                             "Module.symvers"], [f"{STATE}/src/provider"]))
        await settle(pilot)

    assert snap_compare(KmodApp(demo=True), run_before=open_providers, terminal_size=size)


def test_builds_at_80x24(snap_compare) -> None:
    assert snap_compare(KmodApp(demo=True), run_before=_open_builds)
