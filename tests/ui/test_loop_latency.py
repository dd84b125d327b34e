"""Nothing the TUI does with files, processes or the network holds its event loop: each core call a
screen or the App makes is faked to take 0.5 s, and the loop must keep ticking (keys answered, the
screen redrawn) while it runs, the call made on another thread. Then the same for a real kbuild
build followed on the build screen, and for a log a Makefile floods.

The bound is 100 ms of the loop's own holding (the time its thread waited for a CPU on this loaded
machine is not its doing: tests/ui/looplatency.py), not a frame (16 ms): Textual's own layout and
paint of a new screen take 10-25 ms here. What it must never show is the fake's 500 ms. Each test
prints the gaps it measured (pytest -rP shows them)."""

from __future__ import annotations

import asyncio
import time
import types
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from kmodtui.app import KmodApp
from kmodtui.core.build import record as buildrecord
from kmodtui.core.paths import package_data
from kmodtui.screens.build import BuildScreen
from kmodtui.screens.builds import BuildsScreen
from kmodtui.screens.hook import HookScreen
from kmodtui.screens.kernel import KernelScreen
from kmodtui.screens.mode import ModeScreen
from kmodtui.screens.nav import ConfirmScreen
from kmodtui.screens.remedy import ProviderScreen, RemedyScreen
from kmodtui.screens.sign import SignScreen
from kmodtui.screens.source import SourceScreen
from tests.realtools import EXAMPLES
from tests.ui.looplatency import MODPOST, SLOW, LoopGaps, Slowed, built_module, demo_kernel, fake_record
from tests.ui.waiting import open_demo_symbols, screen_ready, settle, wait_for

LIMIT = 0.1  # the largest loop gap allowed while it runs
# each scenario waits out a 0.5 s fake (or a real build): seconds of wall time each, so not in --quick
pytestmark = pytest.mark.heavy


# ---- the scenarios: each makes one core call slow, then does what reaches it ------------------------

async def start_a_build(app, pilot, monkeypatch, tmp_path) -> list[Slowed]:
    """Enter on the mode step starts the build (start_detached; the mode remembered)."""
    app.push_screen(ModeScreen(_provider_source(), demo_kernel()))
    await wait_for(pilot, lambda: screen_ready(app, ModeScreen, "mode-details"))
    await settle(pilot)
    slowed = [Slowed(monkeypatch, "kmodtui.core.build.job", "start_detached", result=lambda *a, **k: [fake_record()]),
              Slowed(monkeypatch, "kmodtui.core.choices", "remember")]
    async with LoopGaps() as gaps:
        await pilot.press("enter")
        await wait_for(pilot, lambda: screen_ready(app, BuildScreen, "build-status") and app.screen.finished)
    return _checked(slowed, gaps)


async def mode_step(app, pilot, monkeypatch, tmp_path) -> list[Slowed]:
    """The mode step asks which tools are installed and the last mode chosen for this source."""
    from kmodtui.core.build.modes._base import Mode

    slowed = [Slowed(monkeypatch, Mode, "missing_programs", seconds=SLOW / 5),
              Slowed(monkeypatch, "kmodtui.core.choices", "load_choices")]
    async with LoopGaps() as gaps:
        app.push_screen(ModeScreen(_provider_source(), demo_kernel()))
        await wait_for(pilot, lambda: screen_ready(app, ModeScreen, "mode-details")
                       and "make -C" in str(app.screen.query_one("#mode-details").render()))
        await settle(pilot)
    return _checked(slowed, gaps)


async def source_step(app, pilot, monkeypatch, tmp_path) -> list[Slowed]:
    """The source step copies the bundled examples into the state folder, then reads the first."""
    slowed = [Slowed(monkeypatch, "kmodtui.screens.source", "bundled_examples")]
    async with LoopGaps() as gaps:
        app.push_screen(SourceScreen(demo_kernel()))
        await wait_for(pilot, lambda: screen_ready(app, SourceScreen, "source-details")
                       and "Modules     consumer" in str(app.screen.query_one("#source-details").render()))
    return _checked(slowed, gaps)


async def rebuild_signed(app, pilot, monkeypatch, tmp_path) -> list[Slowed]:
    """s, y on a package build: the same build again, signed (rebuild)."""
    app.push_screen(BuildScreen(fake_record(mode="deb", artifacts=(str(tmp_path / "provider.deb"),))))
    await wait_for(pilot, lambda: screen_ready(app, BuildScreen) and app.screen.finished)
    first = app.screen
    slowed = [Slowed(monkeypatch, "kmodtui.core.build.job", "rebuild", result=lambda *a, **k: fake_record())]
    async with LoopGaps() as gaps:
        await pilot.press("s")
        await wait_for(pilot, lambda: screen_ready(app, ConfirmScreen))
        await pilot.press("y")
        await wait_for(pilot, lambda: screen_ready(app, BuildScreen, "build-status") and app.screen is not first
                       and app.screen.finished)
    return _checked(slowed, gaps)


async def build_the_provider(app, pilot, monkeypatch, tmp_path) -> list[Slowed]:
    """The remedy's `p`, a source: the provider is built first (start_detached)."""
    from kmodtui.messages import ProviderBuildRequested

    slowed = [Slowed(monkeypatch, "kmodtui.core.build.job", "start_detached", result=lambda *a, **k: [fake_record()])]
    async with LoopGaps() as gaps:
        app.screen.post_message(ProviderBuildRequested(str(EXAMPLES / "provider"), demo_kernel().release))
        await wait_for(pilot, lambda: screen_ready(app, BuildScreen, "build-status") and app.screen.finished)
    return _checked(slowed, gaps)


async def sign_what_was_built(app, pilot, monkeypatch, tmp_path) -> list[Slowed]:
    """s on a finished build: the kernel it was built for comes from its stored request."""
    app.push_screen(BuildScreen(fake_record(artifacts=(built_module(tmp_path),))))
    await wait_for(pilot, lambda: screen_ready(app, BuildScreen) and app.screen.finished)
    request = types.SimpleNamespace(kernel=demo_kernel())
    slowed = [Slowed(monkeypatch, "kmodtui.core.build.request", "load_request", result=lambda *a, **k: request)]
    async with LoopGaps() as gaps:
        await pilot.press("s")
        await wait_for(pilot, lambda: screen_ready(app, SignScreen, "sign-state"))
        await settle(pilot)
    return _checked(slowed, gaps)


async def remedy_from_a_build(app, pilot, monkeypatch, tmp_path) -> list[Slowed]:
    """r on a failed build: the remedy screen, for the kernel of the build's request, previewed."""
    app.push_screen(BuildScreen(fake_record(state=buildrecord.FAILED, lines=(MODPOST.format(tmp_path),))))
    await wait_for(pilot, lambda: screen_ready(app, BuildScreen) and app.screen.finished and app.screen.findings)
    request = types.SimpleNamespace(kernel=demo_kernel())
    slowed = [Slowed(monkeypatch, "kmodtui.core.build.request", "load_request", result=lambda *a, **k: request)]
    async with LoopGaps() as gaps:
        await pilot.press("r")
        await wait_for(pilot, lambda: screen_ready(app, RemedyScreen, "remedy-text")
                       and "KBUILD_EXTRA_SYMBOLS" in str(app.screen.query_one("#remedy-text").render()))
    return _checked(slowed, gaps)


async def follow_a_build_log(app, pilot, monkeypatch, tmp_path) -> list[Slowed]:
    """The build screen follows the log and the record the runner writes."""
    from kmodtui.core.build.logfollow import LogFollower

    record = fake_record(lines=tuple(f"line {n}" for n in range(200)))
    slowed = [Slowed(monkeypatch, "kmodtui.core.build.record", "read_effective"),
              Slowed(monkeypatch, "kmodtui.core.build.record", "read_status")]
    follower = Slowed(monkeypatch, LogFollower, "read_new_lines")
    async with LoopGaps() as gaps:
        app.push_screen(BuildScreen(record))
        await wait_for(pilot, lambda: screen_ready(app, BuildScreen, "build-status") and app.screen.finished)
        assert app.screen.line_count == 200
    return _checked([*slowed, follower], gaps)


async def list_the_builds(app, pilot, monkeypatch, tmp_path) -> list[Slowed]:
    """b on the kernel picker lists every recorded build."""
    fake_record()
    slowed = [Slowed(monkeypatch, "kmodtui.core.build.record", "list_builds")]
    async with LoopGaps() as gaps:
        await pilot.press("b")
        await wait_for(pilot, lambda: screen_ready(app, BuildsScreen, "builds-details") and app.screen.records)
        await settle(pilot)
    return _checked(slowed, gaps)


async def hook_preview(app, pilot, monkeypatch, tmp_path) -> list[Slowed]:
    """h on a finished build: the hook's script, planned from the source."""
    app.push_screen(BuildScreen(fake_record(artifacts=(built_module(tmp_path),))))
    await wait_for(pilot, lambda: screen_ready(app, BuildScreen) and app.screen.finished)
    slowed = [Slowed(monkeypatch, "kmodtui.core.remedies.hooks", "hook_plan")]
    async with LoopGaps() as gaps:
        await pilot.press("h")
        await wait_for(pilot, lambda: screen_ready(app, HookScreen, "hook-script")
                       and "postinst" in str(app.screen.query_one("#hook-script").render()))
    return _checked(slowed, gaps)


async def hook_install(app, pilot, monkeypatch, tmp_path) -> list[Slowed]:
    """a, a on the hook screen writes the hook (backups, fsync, rename)."""
    root = tmp_path / "root"
    (root / "etc" / "kernel" / "postinst.d").mkdir(parents=True)
    app.push_screen(HookScreen(str(EXAMPLES / "provider"), "kbuild", str(root)))
    await wait_for(pilot, lambda: screen_ready(app, HookScreen, "hook-state")
                   and "installs it" in str(app.screen.query_one("#hook-state").render()))
    slowed = [Slowed(monkeypatch, "kmodtui.core.remedies.edits", "apply_edits", result=lambda *a, **k: "undo-1")]
    async with LoopGaps() as gaps:
        await pilot.press("a", "a")
        await wait_for(pilot, lambda: "Installed" in str(app.screen.query_one("#hook-state").render()))
    return _checked(slowed, gaps)


async def remedy_preview(app, pilot, monkeypatch, tmp_path) -> list[Slowed]:
    """r in the demo's symbol browser: the remedy planned (its target read) for the preview."""
    from kmodtui.core.remedies.catalogue import Remedy

    await open_demo_symbols(pilot)
    planned = Slowed(monkeypatch, Remedy, "plan")
    async with LoopGaps() as gaps:
        await pilot.press("r")
        await wait_for(pilot, lambda: screen_ready(app, RemedyScreen, "remedy-text")
                       and "_use_internal_dependency_generator" in str(app.screen.query_one("#remedy-text").render()))
    return _checked([planned], gaps)


async def pick_a_provider(app, pilot, monkeypatch, tmp_path) -> list[Slowed]:
    """p on the KBUILD_EXTRA_SYMBOLS remedy: which builds and sources export the symbol."""
    app.push_screen(BuildScreen(fake_record(state=buildrecord.FAILED, lines=(MODPOST.format(tmp_path),))))
    await wait_for(pilot, lambda: screen_ready(app, BuildScreen) and app.screen.finished and app.screen.findings)
    await pilot.press("r")
    await wait_for(pilot, lambda: screen_ready(app, RemedyScreen, "remedy-text"))
    await settle(pilot)
    slowed = [Slowed(monkeypatch, "kmodtui.core.remedies.source", "source_providers")]
    async with LoopGaps() as gaps:
        await pilot.press("p")
        await wait_for(pilot, lambda: screen_ready(app, ProviderScreen))
    return _checked(slowed, gaps)


async def running_builds_strip(app, pilot, monkeypatch, tmp_path) -> list[Slowed]:
    """Every 2 s the step strip says how many builds started here still run (their records read)."""
    from kmodtui.widgets.steps import StepStrip

    app.started.append(fake_record(state=buildrecord.RUNNING))
    slowed = [Slowed(monkeypatch, "kmodtui.core.build.record", "read_status")]
    async with LoopGaps() as gaps:
        await wait_for(pilot, lambda: "1 build running" in str(app.screen.query_one(StepStrip).render()), 20)
    return _checked(slowed, gaps)


async def kernel_picker(app, pilot, monkeypatch, tmp_path) -> list[Slowed]:
    """The kernel picker: boards followed, the kernel chosen last time, and the choice remembered."""
    slowed = [Slowed(monkeypatch, "kmodtui.core.lifecycle.follow", "follow_overview"),
              Slowed(monkeypatch, "kmodtui.core.choices", "load_choices"),
              Slowed(monkeypatch, "kmodtui.core.choices", "remember")]
    async with LoopGaps() as gaps:
        app.push_screen(KernelScreen(root=package_data("data", "demo", "root")))
        await wait_for(pilot, lambda: screen_ready(app, KernelScreen, "kernel-details") and app.screen.kernels)
        await settle(pilot)
        await pilot.press("enter")
        await wait_for(pilot, lambda: screen_ready(app, SourceScreen, "source-details"))
        await settle(pilot)
    return _checked(slowed, gaps)


async def cancel_a_build(app, pilot, monkeypatch, tmp_path) -> list[Slowed]:
    """c, y on a running build signals its runner (its pid checked in /proc first)."""
    app.push_screen(BuildScreen(fake_record(state=buildrecord.RUNNING)))
    await wait_for(pilot, lambda: screen_ready(app, BuildScreen, "build-status") and app.screen.line_count == 3)
    slowed = [Slowed(monkeypatch, "kmodtui.core.build.record", "stop")]
    async with LoopGaps() as gaps:
        await pilot.press("c")
        await wait_for(pilot, lambda: screen_ready(app, ConfirmScreen))
        await pilot.press("y")
        await wait_for(pilot, lambda: any("not running" in n.message for n in app._notifications))
    return _checked(slowed, gaps)


def _provider_source():
    from kmodtui.core.build.sources import detect_source

    return detect_source(str(EXAMPLES / "provider"))


def _checked(slowed: list[Slowed], gaps: LoopGaps) -> list[Slowed]:
    for fake in slowed:
        fake.gaps = gaps
    return slowed


SCENARIOS: dict[str, Callable[..., Awaitable[list[Slowed]]]] = {
    f.__name__.replace("_", "-"): f for f in (
        start_a_build, mode_step, source_step, rebuild_signed, build_the_provider, sign_what_was_built,
        remedy_from_a_build, follow_a_build_log, list_the_builds, hook_preview, hook_install, remedy_preview,
        pick_a_provider, running_builds_strip, kernel_picker, cancel_a_build)
}


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_a_slow_core_call_does_not_hold_the_event_loop(scenario: str, monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("KMODTUI_STATE_DIR", str(tmp_path / "state"))
    measured: dict[str, object] = {}

    async def run() -> None:
        app = KmodApp(demo=True)
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            slowed = await SCENARIOS[scenario](app, pilot, monkeypatch, tmp_path)
            measured["slowed"] = slowed

    asyncio.run(run())
    slowed = measured["slowed"]
    assert isinstance(slowed, list)
    gaps = slowed[0].gaps
    assert gaps is not None
    print(f"{scenario}: {gaps.summary()}")
    for fake in slowed:
        assert fake.on_loop, "the scenario never reached the slowed call"
        assert not any(fake.on_loop), f"a {SLOW} s core call ran on the event loop's thread ({gaps.summary()})"
    assert gaps.largest < LIMIT, gaps.summary()


def test_a_real_build_followed_on_the_build_screen_does_not_hold_the_event_loop(installed_kernel, monkeypatch,
                                                                               tmp_path: Path) -> None:
    """The wizard on this machine's headers: kernel, the example provider, kbuild; the real build
    started and followed live, then its symbols checked. The loop keeps ticking from the first key
    to the last."""
    from kmodtui.screens.symbols import SymbolsScreen

    monkeypatch.setenv("KMODTUI_STATE_DIR", str(tmp_path / "state"))
    measured: dict[str, LoopGaps] = {}

    async def run() -> None:
        app = KmodApp()
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            index = [k.release for k in app.screen.kernels].index(installed_kernel.release)
            option_list = app.screen.query_one("#kernel-list")
            option_list.highlighted = option_list.get_option_index(str(index))
            async with LoopGaps() as measured["the steps before the build"]:
                await pilot.press("enter")
                await wait_for(pilot, lambda: screen_ready(app, SourceScreen, "source-details")
                               and "Modules     consumer" in str(app.screen.query_one("#source-details").render()))
                await pilot.press("down")  # example: provider
                await wait_for(pilot, lambda: "kmodtui-provider" in str(app.screen.query_one("#source-details").render()))
                await pilot.press("enter")
                await wait_for(pilot, lambda: screen_ready(app, ModeScreen, "mode-details"))
                await settle(pilot)
            async with LoopGaps() as measured["the build, started and followed"]:
                await pilot.press("enter")  # kbuild
                await wait_for(pilot, lambda: screen_ready(app, BuildScreen, "build-status"))
                screen = app.screen
                await wait_for(pilot, lambda: screen.finished)
            assert screen.status["state"] == "succeeded" and screen.line_count > 3
            async with LoopGaps() as measured["its symbols checked"]:
                await pilot.press("enter")
                await wait_for(pilot, lambda: screen_ready(app, SymbolsScreen, "symbols-explanation"))
            assert "all symbols resolve" in str(app.screen.query_one("#symbols-summary").render())

    asyncio.run(run())
    for phase, gaps in measured.items():
        print(f"{phase}: {gaps.summary()}")
    for phase, gaps in measured.items():
        assert gaps.largest < LIMIT, f"{phase}: {gaps.summary()}"


def _memory_kib(field: str) -> int:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith(field + ":"))


def test_a_runaway_build_log_is_followed_in_bounded_time_and_memory(monkeypatch, tmp_path: Path) -> None:
    """A build whose Makefile floods its log (200,000 lines, 18 MB, every line a warning or a modpost
    error, each with an OSC 52 clipboard write): the screen reads it all, keeps the last 20,000 lines
    and the first 500 findings, and the event loop is never held for a read of it."""
    monkeypatch.setenv("KMODTUI_STATE_DIR", str(tmp_path / "state"))
    osc52 = "\x1b]52;c;ZWNobyBoaQ==\x07"
    record = fake_record(state=buildrecord.FAILED, lines=tuple(
        f'ERROR: modpost: "sym{n}" [/tmp/m.ko] undefined!' if n % 3 == 0 else
        f"  CC [M]  /tmp/src/file{n}.o: warning: unused variable 'x{n}' [-Wunused-variable] {osc52}"
        for n in range(200_000)))
    measured: dict[str, object] = {}

    async def run() -> None:
        app = KmodApp(demo=True)
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            with open("/proc/self/clear_refs", "w") as clear:
                clear.write("5")  # the peak resident size starts again from now
            before, started = _memory_kib("VmRSS"), time.monotonic()
            async with LoopGaps() as gaps:
                app.push_screen(BuildScreen(record))
                await wait_for(pilot, lambda: screen_ready(app, BuildScreen, "build-status") and app.screen.finished)
            screen = app.screen
            measured.update(gaps=gaps, seconds=time.monotonic() - started, peak=_memory_kib("VmHWM") - before)
            assert screen.line_count == 200_000 and screen.query_one("#build-log").line_count == 20_000
            assert len(screen.findings) == 500 and screen.more_findings == 66_667 - 500  # one modpost error in three lines
            assert "\x1b" not in "".join(screen.query_one("#build-log").lines)

    asyncio.run(run())
    gaps = measured["gaps"]
    assert isinstance(gaps, LoopGaps)
    print(f"a runaway log: read in {measured['seconds']:.1f} s, resident peak +{measured['peak']} KiB; "
          f"{gaps.summary()}")
    assert measured["seconds"] < 60
    assert measured["peak"] < 200 * 1024
    # the worker's scanning competes for the interpreter with the loop's thread: holds of tens of ms
    assert gaps.largest < 2.5 * LIMIT, gaps.summary()
