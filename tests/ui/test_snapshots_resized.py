"""Every screen at 80x24 after a resize to 100x40 and back (issue 32): the layout settles where it
was, the symbol table's header on its columns, nothing left cut by the wider layout. SVG snapshots
on the bundled demo (TERM=linux), like tests/ui/test_snapshots.py; after an intended change:
pytest tests/ui/test_snapshots_resized.py --snapshot-update, and look at the SVGs."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from kmodtui.app import KmodApp
from kmodtui.core.paths import package_data
from tests.ui.test_snapshots import (
    STATE,
    _failed_build_record,
    _open_builds,
    _open_help,
    _open_kernel_picker,
    _open_mode,
    _open_remedy,
    _open_source,
    demo_kernel,
    fixed_terminal,  # noqa: F401 (the autouse fixture: TERM=linux, the fixed state folder)
)
from tests.ui.waiting import open_demo_symbols, settle, wait_for

pytestmark = pytest.mark.heavy  # seconds each, and one snapshot at a time on the machine: not in --quick (README)


async def _open_symbols(pilot) -> None:
    await open_demo_symbols(pilot)


async def _open_build(pilot) -> None:
    from kmodtui.screens.build import BuildScreen

    await settle(pilot)
    screen = BuildScreen(_failed_build_record())
    pilot.app.push_screen(screen)
    await wait_for(pilot, lambda: screen.finished and screen.line_count > 0, 30)
    await settle(pilot)


async def _open_hook(pilot) -> None:
    from kmodtui.screens.hook import HookScreen

    source = Path(STATE) / "src" / "provider"
    shutil.copytree(package_data("examples", "provider"), source)
    root = Path(STATE) / "root"
    (root / "etc" / "kernel" / "postinst.d").mkdir(parents=True)
    await settle(pilot)
    pilot.app.push_screen(HookScreen(str(source), "deb", str(root)))
    await settle(pilot)


async def _open_sign(pilot) -> None:
    from kmodtui.screens.sign import SignScreen

    modules = Path(STATE) / "modules"
    shutil.copytree(package_data("data", "demo", "modules"), modules)
    await settle(pilot)
    pilot.app.push_screen(SignScreen(sorted(str(m) for m in modules.glob("*.ko")), demo_kernel()))
    await settle(pilot)


async def _open_provider_choice(pilot) -> None:
    from kmodtui.screens.remedy import ProviderScreen

    await settle(pilot)
    pilot.app.push_screen(ProviderScreen("provider_fn", [f"{STATE}/builds/20261129-000000-provider/work/src/"
                                                         "Module.symvers"], [f"{STATE}/src/provider"]))
    await settle(pilot)


async def _open_diagnose(pilot) -> None:
    from kmodtui.screens.diagnose import DiagnoseScreen

    await settle(pilot)
    pilot.app.push_screen(DiagnoseScreen())
    await settle(pilot)


OPENERS = {"kernel": _open_kernel_picker, "source": _open_source, "mode": _open_mode, "symbols": _open_symbols,
           "remedy": _open_remedy, "provider": _open_provider_choice, "build": _open_build, "sign": _open_sign,
           "hook": _open_hook, "builds": _open_builds, "diagnose": _open_diagnose, "help": _open_help}


@pytest.mark.parametrize("name", list(OPENERS))
def test_every_screen_after_a_resize_to_100x40_and_back(snap_compare, name: str) -> None:
    async def open_then_resize(pilot) -> None:
        await OPENERS[name](pilot)
        await pilot.resize_terminal(100, 40)
        await settle(pilot)
        await pilot.resize_terminal(80, 24)
        await settle(pilot)
        await pilot.pause()

    assert snap_compare(KmodApp(demo=True), run_before=open_then_resize)
