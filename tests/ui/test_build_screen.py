"""The wizard's middle at 80x24: pick a source and a mode, watch the real build, open the symbols."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from kmodtui.app import KmodApp
from kmodtui.core.build.job import start_detached
from kmodtui.screens.build import BuildScreen
from kmodtui.screens.mode import ModeScreen
from kmodtui.screens.nav import ConfirmScreen
from kmodtui.screens.sign import SignScreen
from kmodtui.screens.source import SourceScreen
from kmodtui.screens.symbols import SymbolsScreen
from tests.realtools import EXAMPLES
from tests.ui.waiting import screen_ready, screen_shown, wait_for


def test_wizard_from_kernel_to_a_real_build_to_the_symbol_browser(installed_kernel, monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("KMODTUI_STATE_DIR", str(tmp_path / "state"))

    async def scenario() -> None:
        app = KmodApp()
        async with app.run_test(size=(80, 24)) as pilot:
            await app.workers.wait_for_complete()
            await pilot.pause()
            index = [k.release for k in app.screen.kernels].index(installed_kernel.release)
            option_list = app.screen.query_one("#kernel-list")
            option_list.highlighted = option_list.get_option_index(str(index))
            await pilot.press("enter")
            await screen_shown(pilot, SourceScreen, "source-details")  # the examples are copied by a worker
            assert isinstance(app.screen, SourceScreen)
            await pilot.press("down")  # example: provider
            await app.workers.wait_for_complete()
            await pilot.pause()
            assert "kmodtui-provider" in str(app.screen.query_one("#source-details").render())
            await pilot.press("enter")
            await pilot.pause()
            assert isinstance(app.screen, ModeScreen)
            mode = app.screen
            await pilot.press("enter")  # kbuild: started by a worker, then its screen
            await wait_for(pilot, lambda: app.screen is not mode and app.screen.is_mounted)
            assert isinstance(app.screen, BuildScreen)
            screen = app.screen
            await wait_for(pilot, lambda: screen.finished)
            assert screen.status["state"] == "succeeded"
            assert "built provider.ko: Enter checks them, s signs" in str(screen.query_one("#build-status").render())
            assert "confined: bwrap" in str(screen.query_one("#build-status").render())  # the header says how it ran
            assert screen.line_count > 3
            await pilot.press("s")  # the signing screen, on what this build made (signing is tested on its own)
            await wait_for(pilot, lambda: app.screen is not screen and app.screen.is_mounted)  # the kernel read first
            assert isinstance(app.screen, SignScreen) and app.screen.modules[0].endswith("provider.ko")
            await pilot.press("escape")
            await pilot.pause()
            await pilot.press("enter")
            await wait_for(pilot, lambda: screen_ready(app, SymbolsScreen, "symbols-explanation"))
            assert "all symbols resolve" in str(app.screen.query_one("#symbols-summary").render())

    asyncio.run(scenario())


def test_a_failing_build_shows_its_findings_and_jumps_to_the_first_error(installed_kernel, monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("KMODTUI_STATE_DIR", str(tmp_path / "state"))
    [record] = start_detached(str(EXAMPLES / "consumer"), [installed_kernel.release], "kbuild")

    async def scenario() -> None:
        app = KmodApp(attach=record)
        async with app.run_test(size=(80, 24)) as pilot:
            screen = app.screen
            assert isinstance(screen, BuildScreen)
            await wait_for(pilot, lambda: screen.finished)
            assert screen.status["state"] == "failed"
            findings = str(screen.query_one("#build-findings").render())
            assert "provider_fn is undefined" in findings and "KBUILD_EXTRA_SYMBOLS" in findings
            # the root cause comes first, named by the engine `kmodtui diagnose` uses
            assert findings.startswith("Cause: modpost: a symbol the module uses is exported by nothing")
            assert screen.status["primary"]["cause"] == "modpost_undefined"
            await pilot.press("e")
            await pilot.pause()
            await pilot.press("enter")
            await pilot.pause()
            assert isinstance(app.screen, BuildScreen)  # nothing built: no browser

    asyncio.run(scenario())


def test_s_on_a_failed_package_build_does_not_offer_to_sign_it(installed_kernel, monkeypatch, tmp_path: Path) -> None:
    """A .deb build that failed (modpost: provider_fn undefined) made nothing worth signing: s, the
    footer and the palette no longer offer to build it again signed."""
    monkeypatch.setenv("KMODTUI_STATE_DIR", str(tmp_path / "state"))
    [record] = start_detached(str(EXAMPLES / "consumer"), [installed_kernel.release], "deb")

    async def scenario() -> None:
        app = KmodApp(attach=record)
        async with app.run_test(size=(80, 24)) as pilot:
            screen = app.screen
            await wait_for(pilot, lambda: screen.finished)
            assert screen.status["state"] == "failed"
            assert "build.sign" not in {b.binding.id for b in screen.active_bindings.values() if b.enabled}
            assert not [c for c in app.get_system_commands(screen) if c.title.startswith("Sign")]
            await pilot.press("s")
            await pilot.pause()
            assert app.screen is screen and not isinstance(app.screen, ConfirmScreen)
            assert "s signs" not in str(screen.query_one("#build-status").render())

    asyncio.run(scenario())


def test_cancel_key_stops_a_running_build(installed_kernel, monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("KMODTUI_STATE_DIR", str(tmp_path / "state"))
    source = tmp_path / "slow"
    source.mkdir()
    (source / "Kbuild").write_text("obj-m := slow.o\n$(shell sleep 30)\n")
    (source / "slow.c").write_text("#error never compiled\n")
    [record] = start_detached(str(source), [installed_kernel.release], "kbuild")

    async def scenario() -> None:
        app = KmodApp(attach=record)
        async with app.run_test(size=(80, 24)) as pilot:
            screen = app.screen
            await wait_for(pilot, lambda: screen.line_count >= 1 and screen.status.get("runner_pid"), 30)
            await pilot.press("c")  # asks first: n (or Esc) keeps the build going
            await pilot.pause()
            assert isinstance(app.screen, ConfirmScreen)
            await pilot.press("n")
            await pilot.pause()
            assert app.screen is screen and not screen.finished
            await pilot.press("c", "y")
            await wait_for(pilot, lambda: screen.finished, 20)
            assert screen.status["state"] == "cancelled"

    asyncio.run(scenario())


def test_the_wizard_works_on_copies_of_the_bundled_examples(monkeypatch, tmp_path: Path) -> None:
    """Remedies edit sources: the examples shipped with kmodtui are never the ones edited."""
    from kmodtui.screens.source import bundled_examples

    monkeypatch.setenv("KMODTUI_STATE_DIR", str(tmp_path / "state"))
    paths = bundled_examples()
    assert paths and all(p.startswith(str(tmp_path)) for p in paths)
    assert (Path(paths[0]) / "Kbuild").read_bytes() == (EXAMPLES / Path(paths[0]).name / "Kbuild").read_bytes()


def test_builds_grid_shows_each_kernels_build_and_follows_one(installed_kernel, monkeypatch, tmp_path: Path) -> None:
    """The matrix as a grid: one source, the real headers and the demo's trimmed tree."""
    import subprocess
    import sys

    from kmodtui.core.paths import package_data
    from kmodtui.screens.builds import BuildsScreen

    monkeypatch.setenv("KMODTUI_STATE_DIR", str(tmp_path / "state"))
    # the demo's own trimmed tree, whatever ABI the installed headers are (the archive moves)
    demo_tree = next(Path(package_data("data", "demo", "root", "usr", "src")).glob("linux-headers-*"))
    demo_release = demo_tree.name.removeprefix("linux-headers-")
    subprocess.run([sys.executable, "-m", "kmodtui", "build", "-k", installed_kernel.release, "-k", str(demo_tree),
                    "-s", str(EXAMPLES / "provider")], capture_output=True)
    # a deb build of the consumer without the provider's symbols: modpost stops it
    subprocess.run([sys.executable, "-m", "kmodtui", "build", "-k", installed_kernel.release, "--mode", "deb",
                    "-s", str(EXAMPLES / "consumer")], capture_output=True)

    async def scenario() -> None:
        app = KmodApp(demo=True)
        async with app.run_test(size=(80, 24)) as pilot:
            await app.workers.wait_for_complete()
            await pilot.press("b")
            screen = await screen_shown(pilot, BuildsScreen, "builds-details")  # the records read by a worker
            assert isinstance(screen, BuildsScreen)
            states = sorted(r["state"] for r in screen.records)
            assert states == ["failed", "failed", "succeeded"]
            assert "provider.ko" in str(screen.query_one("#builds-details").render()) or \
                "First problems" in str(screen.query_one("#builds-details").render())
            # m: the same builds as the matrix, kernels down and modes across, a failure with its cause
            await pilot.press("m")
            await pilot.pause()
            from textual.widgets import DataTable

            grid = screen.query_one("#builds-grid", DataTable)
            # one row per (kernel, source) (when the installed headers are the demo's ABI, the provider's
            # cell is the newest of their builds), a column per mode, a failure with the cause diagnose names
            releases = {installed_kernel.release, demo_release}
            lines = {f"{r} provider" for r in releases} | {f"{installed_kernel.release} consumer"}
            assert grid.display and grid.row_count == len(lines)
            assert [str(c.label) for c in grid.columns.values()] == ["kernel source", "deb", "kbuild"]
            rows = [[str(v) for v in grid.get_row_at(i)] for i in range(grid.row_count)]
            assert {row[0] for row in rows} == lines
            at = next(i for i, row in enumerate(rows) if row[0] == f"{installed_kernel.release} consumer")
            kernel, deb, kbuild = rows[at]
            assert deb == "FAIL modpost_undefined" and kbuild == "-", (deb, kbuild)
            for _ in range(at):
                await pilot.press("down")
            await pilot.press("right")
            await pilot.press("enter")
            await pilot.pause()
            assert isinstance(app.screen, BuildScreen)

    asyncio.run(scenario())


def test_s_on_a_package_build_rebuilds_it_with_signed_modules(installed_kernel, monkeypatch, tmp_path: Path) -> None:
    """Signing a .deb build signs what goes into the .deb, not a loose copy (issue 19)."""
    import subprocess

    from tests.realtools import require_tool

    require_tool("openssl")
    monkeypatch.setenv("KMODTUI_STATE_DIR", str(tmp_path / "state"))
    [record] = start_detached(str(EXAMPLES / "provider"), [installed_kernel.release], "deb")

    async def scenario() -> None:
        app = KmodApp(attach=record)
        async with app.run_test(size=(80, 24)) as pilot:
            first = app.screen
            await wait_for(pilot, lambda: first.finished)
            await pilot.press("s")
            await pilot.pause()
            assert isinstance(app.screen, ConfirmScreen)
            await pilot.press("y")
            await wait_for(pilot, lambda: isinstance(app.screen, BuildScreen) and app.screen is not first)
            second = app.screen
            await wait_for(pilot, lambda: second.finished)
            assert second.status["state"] == "succeeded"
            [deb] = [a for a in second.status["artifacts"] if a.endswith(".deb")]
            subprocess.run(["dpkg-deb", "-x", deb, str(tmp_path / "x")], check=True)
            [ko] = list((tmp_path / "x").rglob("*.ko"))
            signer = subprocess.run(["modinfo", "-F", "signer", str(ko)], capture_output=True, text=True).stdout
            assert signer.strip() == "kmodtui module signing key"

    asyncio.run(scenario())


@pytest.mark.network
def test_the_mode_step_on_the_openzfs_release_tree(installed_kernel, monkeypatch, tmp_path: Path) -> None:
    """The wizard's mode step on OpenZFS's release tree: every mode it builds in, each explained as the
    tree's own build runs it; rpm-redhat, which needs RHEL's rpm macros, says so and does not start."""
    import subprocess

    from kmodtui.core.build.sources import detect_source
    from tests.realtools import openzfs_release_tree

    monkeypatch.setenv("KMODTUI_STATE_DIR", str(tmp_path / "state"))
    tree = openzfs_release_tree(tmp_path)
    rhel = subprocess.run(["rpm", "--eval", "%{?kernel_module_package:yes}"], capture_output=True,
                          text=True).stdout.strip() == "yes"

    async def scenario() -> None:
        app = KmodApp()
        async with app.run_test(size=(80, 24)) as pilot:
            await app.workers.wait_for_complete()
            app.push_screen(ModeScreen(detect_source(str(tree)), installed_kernel))
            await screen_shown(pilot, ModeScreen, "mode-details")  # what the host says of each mode, asked by a worker
            screen = app.screen
            assert isinstance(screen, ModeScreen)
            assert screen.modes == ["kbuild", "deb", "dkms", "rpm-generic", "rpm-redhat"]
            assert "./configure --with-config=kernel" in str(screen.query_one("#mode-details").render())
            await pilot.press("down", "down", "down")
            await pilot.pause()
            assert "make rpm-kmod" in str(screen.query_one("#mode-details").render())
            await pilot.press("down")
            await pilot.pause()
            if not rhel:
                assert "Not on this host" in str(screen.query_one("#mode-details").render())
                await pilot.press("enter")
                await pilot.pause()
                assert app.screen is screen  # no build started
                assert not list((tmp_path / "state").glob("builds/*"))

    asyncio.run(scenario())
