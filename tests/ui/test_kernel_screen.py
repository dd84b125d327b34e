"""A newcomer at an 80x24 terminal picks a kernel; with no headers installed they are told what to do."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from kmodtui.app import KmodApp, wants_ansi_theme
from kmodtui.screens.kernel import KernelScreen
from tests.ui.waiting import settle


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
            assert app.state.kernel is not None and app.state.kernel.origin == "demo"

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


def test_a_too_small_terminal_says_how_big_it_must_be() -> None:
    async def scenario() -> None:
        app = KmodApp(demo=True)
        async with app.run_test(size=(50, 15)) as pilot:
            await pilot.pause()
            text = "\n".join(str(w.render()) for w in app.screen.query("Static"))
            assert "too small" in text and "60x20" in text
            await pilot.resize_terminal(80, 24)
            await pilot.pause()
            assert isinstance(app.screen, KernelScreen)

    asyncio.run(scenario())


def test_command_palette_lists_the_steps_actions() -> None:
    async def scenario() -> None:
        app = KmodApp(demo=True)
        async with app.run_test(size=(80, 24)) as pilot:
            await app.workers.wait_for_complete()
            await pilot.pause()
            titles = [c.title for c in app.get_system_commands(app.screen)]
            # on the demo picker d leads back to the real kernels: the palette offers that, not Demo again
            assert any(t.startswith("Rescan") for t in titles) and any(t.startswith("Real kernels") for t in titles)

    asyncio.run(scenario())


def test_the_last_kernel_and_mode_are_remembered(tmp_path, monkeypatch) -> None:
    from kmodtui.core.choices import load_choices, remember

    monkeypatch.setenv("KMODTUI_STATE_DIR", str(tmp_path))
    remember("mode:/src/x", "deb")
    remember("kernel", "6.1.0-1-amd64")
    assert load_choices() == {"mode:/src/x": "deb", "kernel": "6.1.0-1-amd64"}


def test_update_check_opens_the_browser_on_the_installed_modules_against_the_chosen_kernel() -> None:
    """Before rebooting into a kernel: u answers 'will the out-of-tree modules I have load on it?'
    (the demo's modules against the demo kernel), with the same counts as `kmodtui check-update`."""
    from kmodtui.core.kernels.discover import discover_kernels
    from kmodtui.core.lifecycle.updates import check_update
    from kmodtui.core.paths import package_data
    from kmodtui.screens.symbols import SymbolsScreen

    [kernel] = discover_kernels(package_data("data", "demo", "root"), origin="demo")
    expected, verdicts = check_update([package_data("data", "demo", "modules")], kernel)

    async def scenario() -> None:
        app = KmodApp(demo=True)
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            await pilot.press("u")
            await settle(pilot)
            assert isinstance(app.screen, SymbolsScreen)
            assert app.screen.result.counts == expected.counts
            summary = str(app.screen.query_one("#symbols-summary").render())
            assert f"Update check, the demo's modules on {kernel.release}: all {len(verdicts)} load;" in summary
            await pilot.press("escape", "escape")

    asyncio.run(scenario())


def test_update_check_with_no_installed_modules_says_what_to_run(tmp_path: Path, installed_kernel) -> None:
    """Nothing in /lib/modules/<running>/updates or extra (a scratch root here): a notice naming the
    CLI form, no empty browser."""
    import os
    import shutil

    usr_src = tmp_path / "usr" / "src"
    usr_src.mkdir(parents=True)
    shutil.copytree(installed_kernel.build_dir, usr_src / os.path.basename(installed_kernel.build_dir), symlinks=True)

    async def scenario() -> None:
        app = KmodApp(root=str(tmp_path))
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            await pilot.press("u")
            await settle(pilot)
            assert isinstance(app.screen, KernelScreen)
            notices = [n.message for n in app._notifications]
            assert any("No out-of-tree modules are installed for the running kernel" in n
                       and "kmodtui check-update --new-kernel" in n for n in notices), notices

    asyncio.run(scenario())


def test_the_first_screen_lists_the_boards_kmodtui_follows(tmp_path: Path, monkeypatch) -> None:
    """After `kmodtui follow` ran: the target, the kernel its module covers, a failed build's cause."""
    import time

    from kmodtui.core.lifecycle.follow import FollowState, open_repo, parse_target, register, write_state

    monkeypatch.setenv("KMODTUI_STATE_DIR", str(tmp_path / "state"))
    target = parse_target("debian:bookworm:arm64")
    repo = tmp_path / "repo"
    open_repo(str(repo))
    register(str(repo), target)
    state = FollowState(target.name, "/src/provider", published={"6.1.176-1": {"kernel": "linux-image-6.1.0-50-arm64"}},
                        last_check=time.time() - 300, last_result="build-failed",
                        last_kernel="linux-image-6.1.0-56-arm64 6.1.192-2", last_cause={"cause": "kernel_api_change"})
    write_state(str(repo), state)

    async def scenario() -> None:
        app = KmodApp(root=str(tmp_path))
        async with app.run_test(size=(80, 24)) as pilot:
            await app.workers.wait_for_complete()
            await pilot.pause()
            text = screen_text(app)
            assert "Following" in text and "debian:bookworm:arm64:arm64" in text
            assert "build FAILED (kernel_api_change) for linux-image-6.1.0-56-arm64" in text
            assert "1 kernel(s) covered, checked 5 min ago" in text

    asyncio.run(scenario())


def test_a_state_folder_others_can_write_is_refused_on_screen(tmp_path: Path, monkeypatch) -> None:
    """The TUI reads its build records and remedies from the state folder: one others can write is
    named with the reason and the fix instead of the wizard, and q quits."""
    from kmodtui.app import FolderRefusedScreen
    from tests.ui.waiting import screen_ready, wait_for

    state = tmp_path / "state"
    state.mkdir()
    state.chmod(0o777)
    monkeypatch.setenv("KMODTUI_STATE_DIR", str(state))

    async def scenario() -> None:
        app = KmodApp(demo=True)
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_for(pilot, lambda: screen_ready(app, FolderRefusedScreen))
            text = " ".join(screen_text(app).split())
            assert f"kmodtui: {state}: writable by others (mode 0777)" in text
            assert f"chmod go-w {state}" in text and "Press q to quit" in text
            await pilot.press("q")
        assert app.return_code == 0

    asyncio.run(scenario())
    assert list(state.iterdir()) == []


@pytest.mark.heavy  # seconds: not in --quick (README)
def test_the_demo_leads_back_to_the_real_kernels_by_d_esc_and_palette(tmp_path: Path) -> None:
    """d on the kernel picker opened the demo with no way back but quitting: d, Esc and the palette's
    Real kernels go back to the kernels found under the root the app was given (here: none)."""
    async def scenario() -> None:
        app = KmodApp(root=str(tmp_path))
        async with app.run_test(size=(80, 24)) as pilot:
            for back in ("d", "escape", "palette"):
                await settle(pilot)
                assert not app.screen.demo and "No kernel build trees were found" in screen_text(app), back
                await pilot.press("d")
                await settle(pilot)
                screen = app.screen
                assert isinstance(screen, KernelScreen) and screen.demo and "DEMO" in screen_text(app)
                titles = [c.title for c in app.get_system_commands(screen)]
                assert "Real kernels (d)" in titles and "Demo (d)" not in titles
                if back == "palette":
                    [real] = [c for c in app.get_system_commands(screen) if c.title == "Real kernels (d)"]
                    real.callback()
                else:
                    await pilot.press(back)
                await settle(pilot)
                assert app.screen is not screen and isinstance(app.screen, KernelScreen), back
                assert not app.screen.demo and app.screen.root == str(tmp_path), back
                assert "Demo (d)" in [c.title for c in app.get_system_commands(app.screen)]

    asyncio.run(scenario())


def test_the_first_screen_says_which_kernel_the_gate_holds_the_next_boot_on(tmp_path: Path, monkeypatch) -> None:
    """After a hook run failed for a new kernel in a root with systemd-boot loader entries: the gate's line,
    above the newcomer's note, names the kernel that boots next, the one held back and the source."""
    from kmodtui.core.paths import package_data
    from kmodtui.core.remedies import gate
    from kmodtui.core.remedies.hookrun import HookReport, SourceOutcome
    from tests.realtools import copy_source

    monkeypatch.setenv("KMODTUI_STATE_DIR", str(tmp_path / "state"))
    root = tmp_path / "root"
    entries = root / "efi" / "loader" / "entries"
    entries.mkdir(parents=True)
    for release in ("6.1.0-56-amd64", "6.1.0-57-amd64"):
        (entries / f"debian-{release}.conf").write_text(f"title Debian\nversion {release}\nlinux /vmlinuz-{release}\n")
    installed = root / "lib" / "modules" / "6.1.0-56-amd64" / "updates"  # the demo's real provider.ko
    installed.mkdir(parents=True)
    (installed / "provider.ko").write_bytes(Path(package_data("data", "demo", "modules", "provider.ko")).read_bytes())
    source = copy_source("provider", tmp_path / "src")
    report = HookReport("6.1.0-57-amd64", str(root), "kbuild", time.time(), outcomes=[SourceOutcome(
        str(source), "kmodtui-provider", "failed", notes=["6.1.0-57-amd64: no kernel build tree"])])
    state = gate.after_hook(report, [str(source)])
    assert state["engaged"] and state["held_on"] == "6.1.0-56-amd64"

    async def scenario() -> None:
        app = KmodApp(root=str(root))
        async with app.run_test(size=(80, 24)) as pilot:
            await app.workers.wait_for_complete()
            await pilot.pause()
            text = " ".join(screen_text(app).split())
            assert "Kernel gate: 6.1.0-56-amd64 boots next, not 6.1.0-57-amd64: kmodtui-provider not ready" in text

    asyncio.run(scenario())
