"""The Textual application: a wizard of screens over the headless core."""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from textual.app import SystemCommand
from textual.binding import Binding
from textual.reactive import var
from textual.screen import Screen

from kmodtui.core.errors import KmodError
from kmodtui.core.model import Kernel
from kmodtui.core.paths import cache_dir, state_dir
from kmodtui.messages import (
    BuildFinished,
    BuildStarted,
    DemoRebuildRequested,
    KernelChosen,
    ModeChosen,
    Notice,
    ProviderBuildRequested,
    RebuildRequested,
    ResolveDone,
    RunningBuilds,
    SourceChosen,
)
from kmodtui.screens.guards import MIN_HEIGHT, MIN_WIDTH, FolderRefusedScreen, TooSmallScreen
from kmodtui.screens.kernel import KernelScreen
from kmodtui.screens.nav import escape, go_back, key_words, offered, open_help
from kmodtui.workers import CoreWorkers, running_among

# Later steps are imported when first reached: the first frame should cost little more than
# importing Textual (bench/startup.py).
if TYPE_CHECKING:
    from kmodtui.core.build.recheck import PackageSet
    from kmodtui.core.build.sources import ModuleSource
    from kmodtui.core.resolve.result import ResolveResult


@dataclass
class WizardState:
    """What the wizard knows so far, owned by the App and changed only by its message handlers (on
    the event loop, never from a worker's thread); screens get what they need passed in, and report
    back with messages (kmodtui/messages.py)."""

    kernel: Kernel | None = None
    source: ModuleSource | None = None
    mode: str = ""
    record: str = ""  # the build being shown or checked: its request says how to build it again
    # The problems seen when a remedy was opened, kept until the rebuild it asked for is checked:
    # the symbol browser then says "N fixed, M still broken". None: not comparing.
    problems_before: frozenset[tuple[str, str]] | None = None


def wants_ansi_theme(term: str | None, color_system: str | None) -> bool:
    """The Linux console and other 16-colour terminals get the ANSI theme."""
    return term == "linux" or color_system in ("standard", "windows")


class KmodApp(CoreWorkers):
    TITLE = "kmodtui"
    # "1 build running: ...": every screen's step strip watches it (kmodtui/widgets/steps.py)
    running_note: var[str] = var("", init=False)
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (72, "-wide")]
    BINDINGS = [
        Binding("q", "quit", "Quit", id="app.quit"),
        # Ctrl-C quits cleanly from anywhere; builds run detached and go on (kmodtui attach)
        Binding("ctrl+c", "quit", "Quit", show=False, priority=True, id="app.interrupt"),
        # Screens bind Esc themselves when it means more (clear a filter first); this is the fallback.
        Binding("escape", "go_back", "Back", show=False, id="app.back"),
        Binding("question_mark", "help", "Help", key_display="?", id="app.help"),
    ]

    def __init__(self, *, demo: bool = False, root: str = "/", resolve_result: ResolveResult | None = None,
                 attach: str | None = None) -> None:
        super().__init__()
        self.demo = demo
        self.root = root
        self.resolve_result = resolve_result
        self.attach = attach
        self.state = WizardState(record=attach or "")
        self.started: list[str] = [attach] if attach else []  # builds started from this session: quitting says how to attach
        # a provider's rebuild -> the consumer build (or the package set) to check again after it, and the
        # build the rebuild replaces (its packages leave the set)
        self.check_after: dict[str, tuple[str | PackageSet, str]] = {}

    def on_mount(self) -> None:
        if wants_ansi_theme(os.environ.get("TERM"), self.console.color_system):
            self.theme = "ansi-dark"
        try:
            state_dir(), cache_dir()
        except KmodError as err:
            self.push_screen(FolderRefusedScreen(str(err)))
            return
        self.set_interval(2.0, self.count_running_builds)
        if self.resolve_result is not None:
            from kmodtui.screens.symbols import SymbolsScreen

            self.push_screen(SymbolsScreen(self.resolve_result))
        elif self.attach is not None:
            from kmodtui.screens.build import BuildScreen

            self.push_screen(BuildScreen(self.attach))
        else:
            self.push_screen(KernelScreen(demo=self.demo, root=self.root))

    def on_command_palette_opened(self) -> None:
        """The palette's search icon is an emoji the Linux console has no glyph for: plain text there."""
        if self.theme == "ansi-dark":
            from textual.command import SearchIcon

            for icon in self.screen.query(SearchIcon):
                icon.icon = ">"

    def on_resize(self) -> None:
        # Checked after the screen stack settles: resize events can arrive before the first screen.
        self.call_after_refresh(self._check_size)

    def _check_size(self) -> None:
        small = self.size.width < MIN_WIDTH or self.size.height < MIN_HEIGHT
        showing = any(isinstance(s, TooSmallScreen) for s in self.screen_stack)
        if small and not showing:
            self.push_screen(TooSmallScreen())
        elif not small and showing:
            while isinstance(self.screen, TooSmallScreen):
                self.pop_screen()

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        """The command palette lists every action of the current step, with its key."""
        yield from super().get_system_commands(screen)
        listed = set()
        for binding in screen.BINDINGS:
            if isinstance(binding, Binding) and binding.description and offered(screen, binding) \
                    and binding.action not in listed:  # one entry per action (Esc, q and ? all close the help)
                action = binding.action
                listed.add(action)
                yield SystemCommand(f"{binding.tooltip or binding.description} ({key_words(binding)})",
                                    f"{type(screen).__name__.removesuffix('Screen')} step",
                                    lambda action=action, screen=screen: self.call_later(screen.run_action, action))

    # ---- the wizard: each step's message, and what comes next --------------------------------

    def on_kernel_chosen(self, message: KernelChosen) -> None:
        self.state.kernel = message.kernel
        if message.kernel.origin == "demo":
            self.resolve_demo(message.kernel)
            return
        self.remember_choice("kernel", message.kernel.release)
        from kmodtui.screens.source import SourceScreen

        self.push_screen(SourceScreen(message.kernel))

    def on_source_chosen(self, message: SourceChosen) -> None:
        from kmodtui.screens.mode import ModeScreen

        self.state.source = message.source
        self.push_screen(ModeScreen(message.source, message.kernel))

    def on_mode_chosen(self, message: ModeChosen) -> None:
        if self._starting_a_build():
            return
        self.state.mode = message.mode
        self.start_build(message.source.path, message.kernel.build_dir or message.kernel.release, message.mode)

    def _starting_a_build(self) -> bool:
        """A build is being started already (a second Enter before its screen shows): say so."""
        if any(worker.group == "build-start" and not worker.is_finished for worker in self.workers):
            self.notify("A build is being started: its screen comes next.", timeout=3)
            return True
        return False

    def action_go_back(self) -> None:
        go_back(self)

    def show_first_step(self) -> None:
        """The kernel picker in place of the bottom screen (after attach or resolve --tui)."""
        self.switch_screen(KernelScreen(demo=self.demo, root=self.root))

    def action_help(self) -> None:
        open_help(self)

    def running_builds(self) -> list[str]:
        """Builds started from this session that are still running (their record dirs); reads their
        records, so not for the event loop (run_app asks it once the app is gone)."""
        return running_among(self.started)

    def count_running_builds(self) -> None:
        """Every screen's step strip says when a build started here is still running (b lists them)."""
        if self.started:
            self.read_running_builds(list(self.started))
        else:
            self.running_note = ""

    def on_running_builds(self, message: RunningBuilds) -> None:
        running = message.count
        self.running_note = f"{running} build{'s' if running > 1 else ''} running: b on the kernel picker" if running \
            else ""

    def on_build_started(self, message: BuildStarted) -> None:
        if message.provider:  # the provider first (the remedy screen stays below it: Esc goes back there)
            from kmodtui.screens.build import BuildScreen

            self.started.append(message.record)
            self.notify("Building the provider first; Esc when it is done goes back to the remedy, which then finds "
                        "its Module.symvers.", timeout=8)
            self.push_screen(BuildScreen(message.record))
            return
        if message.problems_before is not None:
            self.state.problems_before = message.problems_before
        if message.then_check:
            self.check_after[message.record] = (message.then_check, message.replaces)
        if message.replaces:  # the screens of the build it replaces are history: Esc walks back through them
            from kmodtui.screens.build import BuildScreen

            for screen in self.screen_stack:
                if isinstance(screen, BuildScreen) and screen.record_dir == message.replaces:
                    screen.superseded_by = message.record
        self._show_build(message.record)

    def _show_build(self, record: str) -> None:
        from kmodtui.screens.build import BuildScreen

        self.state.record = record
        self.started.append(record)
        self.push_screen(BuildScreen(record))

    def on_build_finished(self, message: BuildFinished) -> None:
        if not message.open_symbols:
            return
        then, replaced = self.check_after.pop(message.record, ("", ""))
        if then and message.status.get("state") == "succeeded":  # a provider rebuilt after a remedy on its spec: the consumer's package set, checked again
            if isinstance(then, str):
                self.state.record = then
                self.check_build(then)
            else:  # a set the user checked (not a build's): the same set, the provider's new packages in it
                self.check_set(then, replaced, message.record, self.state.problems_before)
                self.state.problems_before = None
            return
        self.check_build(message.record)

    def on_rebuild_requested(self, message: RebuildRequested) -> None:
        """After a remedy: the same build again (its stored request: source, kernel, mode, options),
        then its check compared with the problems seen before."""
        if self._starting_a_build():
            return
        changes: dict[str, object] = {"sign_modules": True} if message.sign_modules else {}
        if message.mode:
            changes["mode"] = message.mode
        if message.providers:
            changes["providers"] = message.providers
        self.start_rebuild(message.record, changes, message.problems_before, message.then_check)

    def on_provider_build_requested(self, message: ProviderBuildRequested) -> None:
        if not self._starting_a_build():
            self.build_provider(message.source, message.kernel, message.mode)

    def on_demo_rebuild_requested(self, message: DemoRebuildRequested) -> None:
        self.notify("Rebuilding the demo's kmod-provider RPM from the edited spec with rpmbuild...", timeout=4)
        assert self.state.kernel is not None
        self.rebuild_demo(message.spec, message.problems_before, self.state.kernel)

    def on_resolve_done(self, message: ResolveDone) -> None:
        from kmodtui.screens.symbols import SymbolsScreen

        previous = None
        if message.previous is not None:  # the demo's provider rebuilt after a remedy on its spec
            previous = message.previous
        elif message.record and message.record == self.state.record:
            previous, self.state.problems_before = self.state.problems_before, None
        screen = SymbolsScreen(message.result, demo=message.demo, source=message.source, previous=previous,
                               remedy_target=message.remedy_target, context=message.context, record=message.record)
        for older in self.screen_stack:  # the same check's earlier result: it shows this one when Esc reaches it
            if isinstance(older, SymbolsScreen) and older.subject() == screen.subject():
                older.newer = screen
        self.push_screen(screen)

    def on_notice(self, message: Notice) -> None:
        # a worker's notice quotes errors, file names and kernel releases: plain text, never markup
        self.notify(escape(message.text), severity=message.severity, timeout=message.timeout)  # type: ignore[arg-type]


def run_app(app: KmodApp, *, mouse: bool = True) -> int:
    """Run the TUI; on the way out, say how to come back to a build that is still running."""
    app.run(mouse=mouse)
    for record in app.running_builds():
        print(f"kmodtui: the build {os.path.basename(record)} is still running in the background; "
              f"follow it with `kmodtui attach {os.path.basename(record)}` (`kmodtui builds` lists them).")
    return app.return_code or 0
