"""Nothing cut at 80 columns (issue 32, item 5): every screen at 80x24 after a resize to 100x40 and
back, on TERM=linux: the footer's keys end before the palette's, the symbol table's header lines up
with its rows and names the provider column whole, status lines are lines of their own (never
wrapped into more), help text wraps at the terminal's width, not at a hard-wrapped 100, a build log
whose lines go on says that Right scrolls, and the command palette shows no emoji."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest
from textual.widgets import Log, Static
from textual.widgets._footer import FooterKey

from kmodtui.app import KmodApp
from kmodtui.screens.kernel import KernelScreen
from kmodtui.screens.nav import HelpScreen
from kmodtui.widgets.symbol_table import SymbolTable, column_widths, header_line
from tests.ui.test_navigation import screens_to_visit
from tests.ui.waiting import settle, wait_for


async def resized_there_and_back(pilot) -> None:
    await pilot.resize_terminal(100, 40)
    await settle(pilot)
    await pilot.resize_terminal(80, 24)
    await settle(pilot)
    await pilot.pause()


def footer_fits(screen) -> list[str]:
    """The footer keys that run under the palette's key or past the right edge ('q Qui')."""
    keys = [k for k in screen.query(FooterKey) if k.display]
    palette = [k for k in keys if k.has_class("-command-palette")]
    edge = palette[0].region.x if palette else screen.app.size.width
    return [f"{k.key_display} {k.description}" for k in keys if k not in palette and k.region.right > edge]


def wrapped_lines(widget: Static) -> bool:
    """Whether a status line's text takes more lines on screen than it has."""
    return widget.size.height > str(widget.render()).count("\n") + 1


def failed_build_record(state: Path, long_line: str = "") -> str:
    """A failed build's record on a real log (tests/logs, from a public thread), like the snapshot's."""
    from kmodtui.core.build import record as buildrecord
    from kmodtui.core.diagnose.engine import diagnose_log_file
    from kmodtui.core.diagnose.report import primary_json

    record = state / "builds" / "20261129-000000-xone-7.0.0-amd64-0000"
    (record / "work").mkdir(parents=True)
    log = record / "work" / "build.log"
    real = Path(__file__).resolve().parent.parent / "logs" / "059-xone-7.0-ida_simple_get-removed.log"
    log.write_bytes(real.read_bytes())
    diagnosis = diagnose_log_file(str(log))
    buildrecord.write_status(str(record), id=record.name, state="failed", kernel="7.0.0-amd64", source="/src/xone",
                             mode="dkms", log=str(log), started=1795910400.0, ended=1795910460.0, exit_code=10,
                             artifacts=[], findings=[], primary=primary_json(diagnosis) if diagnosis else None)
    return str(record)


def test_every_screen_fits_80_columns_after_a_resize(built, installed_kernel, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TERM", "linux")
    monkeypatch.setenv("KMODTUI_STATE_DIR", str(tmp_path / "state"))
    from kmodtui.screens.build import BuildScreen
    from kmodtui.screens.remedy import ProviderScreen

    screens = screens_to_visit(built, installed_kernel)
    screens["build"] = lambda: BuildScreen(failed_build_record(tmp_path / "state"))
    screens["provider choice"] = lambda: ProviderScreen("provider_fn", [str(tmp_path / "Module.symvers")],
                                                        [str(tmp_path / "provider")])
    screens["kernel picker"] = lambda: KernelScreen()
    screens["demo kernel picker"] = lambda: KernelScreen(demo=True)
    cut: dict[str, list[str]] = {}

    async def scenario() -> None:
        for name, make in screens.items():
            app = KmodApp(demo=True)
            async with app.run_test(size=(80, 24)) as pilot:
                await settle(pilot)
                screen = make()
                app.push_screen(screen)
                await settle(pilot)
                if isinstance(screen, BuildScreen):
                    await wait_for(pilot, lambda screen=screen: screen.finished and screen.line_count > 0, 30)
                await resized_there_and_back(pilot)
                problems = [f"footer: {k}" for k in footer_fits(app.screen)]
                for status in ("#symbols-summary", "#build-status"):
                    for widget in app.screen.query(status):
                        if wrapped_lines(widget):
                            problems.append(f"{status} wraps: {widget.render()!s:.120}")
                if name == "symbols":
                    table = app.screen.query_one(SymbolTable)
                    header = str(app.screen.query_one("#symbols-header", Static).render())
                    rows_header = header_line(table.size.width, table.widths(), sorted_by=app.screen.group)
                    if table.widths() != column_widths(table.size.width) or header != rows_header:
                        problems.append(f"header does not line up with the rows: {header!r}")
                    if not re.search(r"\bprovider\b", header):
                        problems.append(f"provider column title cut: {header!r}")
                if name == "kernel picker":
                    details = str(app.screen.query_one("#kernel-details", Static).render())
                    if "Symvers       in the build dir" not in details:
                        problems.append("symvers path on the details pane is a second long path")
                if name == "build":
                    log = app.screen.query_one(Log)
                    if log.virtual_size.width > log.size.width and "Right" not in str(log.border_subtitle):
                        problems.append("log lines are cut with no hint that Right scrolls")
                if problems:
                    cut[name] = problems

    asyncio.run(scenario())
    assert not cut, cut


def test_help_text_is_wrapped_by_the_terminal_not_by_hand(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each screen's help, as the help screen shows it: no line goes on with the sentence of the line
    before (a source line hard-wrapped at 100 columns reads as a 80 + 20 column pair at 80x24)."""
    import importlib
    import pkgutil

    import kmodtui.screens as screens
    from kmodtui.screens.nav import reflow

    continued = []
    for info in pkgutil.iter_modules(screens.__path__):
        module = importlib.import_module(f"kmodtui.screens.{info.name}")
        for name, cls in vars(module).items():
            text = getattr(cls, "HELP_TEXT", None)
            if not isinstance(text, str) or getattr(cls, "__module__", "") != module.__name__:
                continue
            lines = reflow(text).split("\n")
            for before, line in zip(lines, lines[1:]):
                if before.strip() and not before.startswith(" ") and line.strip() \
                        and not line.startswith((" ", "[b]", "[i]")):
                    continued.append((name, line))
            for line in lines:
                visible = re.sub(r"\[/?[bi]?\]|\[/\]", "", line)
                if line.startswith(" ") and len(visible) > 76:  # the help box's width inside at 80x24
                    continued.append((name, f"a list line wider than 80 columns: {visible}"))
    assert not continued, continued

    monkeypatch.setenv("KMODTUI_STATE_DIR", str(tmp_path / "state"))

    async def scenario() -> None:  # and the help screen shows it so
        app = KmodApp(demo=True)
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            await pilot.press("question_mark")
            await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen))
            shown = str(app.screen.query_one("#help-text", Static).render())
            assert "Each row is a kernel build tree (its headers) that kmodtui found" in shown, shown

    asyncio.run(scenario())


def test_the_command_palette_shows_no_emoji_on_the_linux_console(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TERM", "linux")
    monkeypatch.setenv("KMODTUI_STATE_DIR", str(tmp_path / "state"))
    from textual.command import CommandPalette, SearchIcon

    async def scenario() -> None:
        app = KmodApp(demo=True)
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            await pilot.press("ctrl+p")
            await wait_for(pilot, lambda: isinstance(app.screen, CommandPalette) and bool(app.screen.query(SearchIcon)))
            await pilot.pause()
            [icon] = app.screen.query(SearchIcon)
            assert all(ord(c) < 0x2000 for c in str(icon.icon)), repr(icon.icon)

    asyncio.run(scenario())
