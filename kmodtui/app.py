"""The Textual application: a wizard of screens over the headless core."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from textual import work
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.screen import ModalScreen, Screen
from textual.widgets import Static

from kmodtui.core.choices import remember
from kmodtui.core.errors import KmodError
from kmodtui.core.model import Kernel
from kmodtui.core.paths import cache_dir, package_data, state_dir
from kmodtui.messages import (
    BuildFinished,
    DemoRebuildRequested,
    KernelChosen,
    ModeChosen,
    Notice,
    ProviderBuildRequested,
    RebuildRequested,
    ResolveDone,
    SourceChosen,
)
from kmodtui.screens.kernel import KernelScreen
from kmodtui.screens.nav import escape, go_back, key_words, open_help

# Later steps are imported when first reached: the first frame should cost little more than
# importing Textual (bench/startup.py).
if TYPE_CHECKING:
    from kmodtui.core.build.sources import ModuleSource
    from kmodtui.core.resolve.result import ResolveResult


@dataclass
class WizardState:
    """What the wizard knows so far, owned by the App and changed only by its message handlers;
    screens get what they need passed in, and report back with messages (kmodtui/messages.py)."""

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


MIN_WIDTH, MIN_HEIGHT = 60, 20


class TooSmallScreen(ModalScreen[None]):
    """Shown instead of a cut-off screen; goes away when the terminal is big enough again."""

    DEFAULT_CSS = """
    TooSmallScreen { align: center middle; }
    TooSmallScreen > Static { width: auto; height: auto; padding: 0 1; }
    """

    def compose(self) -> ComposeResult:
        yield Static(f"This terminal is too small for kmodtui.\nIt needs at least {MIN_WIDTH}x{MIN_HEIGHT} "
                     "(80x24 is best).\nEnlarge the window, or use `kmodtui <command> --json` headless.")


class FolderRefusedScreen(ModalScreen[None]):
    """kmodtui's cache or state folder is not its own (root with another user's HOME, a shared
    XDG_CACHE_HOME): nothing is read from it, so the wizard cannot go on. q quits."""

    BINDINGS = [Binding("q", "app.quit", "Quit", id="refused.quit")]

    DEFAULT_CSS = """
    FolderRefusedScreen { align: center middle; }
    FolderRefusedScreen > Static { width: 76; height: auto; padding: 1 2; border: heavy $error; }
    """

    def __init__(self, reason: str) -> None:
        super().__init__()
        self.reason = reason

    def compose(self) -> ComposeResult:
        yield Static(f"kmodtui: {self.reason}\n\nkmodtui reads back what it keeps there, so it will not use a "
                     "folder someone else could have written to.\nPress q to quit.", markup=False)


class KmodApp(App[int]):
    TITLE = "kmodtui"
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
        self.check_after: dict[str, str] = {}  # a provider's rebuild -> the consumer build to check again after it

    def on_mount(self) -> None:
        if wants_ansi_theme(os.environ.get("TERM"), self.console.color_system):
            self.theme = "ansi-dark"
        try:
            state_dir(), cache_dir()
        except KmodError as err:
            self.push_screen(FolderRefusedScreen(str(err)))
            return
        self.set_interval(2.0, self.show_running_builds)
        if self.resolve_result is not None:
            from kmodtui.screens.symbols import SymbolsScreen

            self.push_screen(SymbolsScreen(self.resolve_result))
        elif self.attach is not None:
            from kmodtui.screens.build import BuildScreen

            self.push_screen(BuildScreen(self.attach))
        else:
            self.push_screen(KernelScreen(demo=self.demo, root=self.root))

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
        for binding in screen.BINDINGS:
            if isinstance(binding, Binding) and binding.description:
                action = binding.action
                yield SystemCommand(f"{binding.description} ({key_words(binding)})",
                                    f"{type(screen).__name__.removesuffix('Screen')} step",
                                    lambda action=action, screen=screen: self.call_later(screen.run_action, action))

    # ---- the wizard: each step's message, and what comes next --------------------------------

    def on_kernel_chosen(self, message: KernelChosen) -> None:
        self.state.kernel = message.kernel
        if message.kernel.origin == "demo":
            self.resolve_demo(message.kernel)
            return
        remember("kernel", message.kernel.release)
        from kmodtui.screens.source import SourceScreen

        self.push_screen(SourceScreen(message.kernel))

    def on_source_chosen(self, message: SourceChosen) -> None:
        from kmodtui.screens.mode import ModeScreen

        self.state.source = message.source
        self.push_screen(ModeScreen(message.source, message.kernel))

    def on_mode_chosen(self, message: ModeChosen) -> None:
        from kmodtui.core.build.job import start_detached

        self.state.mode = message.mode
        remember(f"mode:{message.source.path}", message.mode)
        try:
            records = start_detached(message.source.path, [message.kernel.build_dir or message.kernel.release],
                                     message.mode)
        except KmodError as err:
            self.notify(f"Cannot start the build: {escape(err)}", severity="error", timeout=12)
            return
        self._show_build(records[0])

    def action_go_back(self) -> None:
        go_back(self)

    def show_first_step(self) -> None:
        """The kernel picker in place of the bottom screen (after attach or resolve --tui)."""
        self.switch_screen(KernelScreen(demo=self.demo, root=self.root))

    def action_help(self) -> None:
        open_help(self)

    def running_builds(self) -> list[str]:
        """Builds started from this session that are still running (their record dirs)."""
        from kmodtui.core.build import record as buildrecord

        running = []
        for record in dict.fromkeys(self.started):
            status = buildrecord.read_status(record)
            if status and buildrecord.effective_state(status) == buildrecord.RUNNING:
                running.append(record)
        return running

    def show_running_builds(self) -> None:
        """Every screen's step strip says when a build started here is still running (b lists them)."""
        from kmodtui.widgets.steps import StepStrip

        running = len(self.running_builds()) if self.started else 0
        text = f"{running} build{'s' if running > 1 else ''} running: b on the kernel picker" if running else ""
        for strip in self.screen.query(StepStrip):
            strip.set_running(text)

    def _show_build(self, record: str) -> None:
        from kmodtui.screens.build import BuildScreen

        self.state.record = record
        self.started.append(record)
        self.push_screen(BuildScreen(record))

    def on_build_finished(self, message: BuildFinished) -> None:
        if not message.open_symbols:
            return
        then = self.check_after.pop(message.record, "")
        if then and message.status.get("state") == "succeeded":  # a provider rebuilt after a remedy on its spec: the consumer's package set, checked again
            self.state.record = then
            self.check_build(then)
            return
        self.check_build(message.record)

    def on_rebuild_requested(self, message: RebuildRequested) -> None:
        """After a remedy: the same build again (its stored request: source, kernel, mode, options),
        then its check compared with the problems seen before."""
        from kmodtui.core.build.job import rebuild

        try:
            changes: dict[str, object] = {"sign_modules": True} if message.sign_modules else {}
            if message.mode:
                changes["mode"] = message.mode
            record = rebuild(message.record, **changes)
        except KmodError as err:
            self.notify(f"Cannot rebuild: {escape(err)}", severity="error", timeout=12)
            return
        self.state.problems_before = message.problems_before
        if message.then_check:
            self.check_after[record] = message.then_check
        self._show_build(record)

    def on_provider_build_requested(self, message: ProviderBuildRequested) -> None:
        """The provider first (the remedy screen stays below it: Esc goes back there)."""
        from kmodtui.core.build.job import start_detached
        from kmodtui.screens.build import BuildScreen

        try:
            [record] = start_detached(message.source, [message.kernel], "kbuild")
        except KmodError as err:
            self.notify(f"Cannot build the provider: {escape(err)}", severity="error", timeout=12)
            return
        self.started.append(record)
        self.notify("Building the provider first; Esc when it is done goes back to the remedy, which then finds "
                    "its Module.symvers.", timeout=8)
        self.push_screen(BuildScreen(record))

    def on_demo_rebuild_requested(self, message: DemoRebuildRequested) -> None:
        self.notify("Rebuilding the demo's kmod-provider RPM from the edited spec with rpmbuild...", timeout=4)
        self.rebuild_demo(message.spec, message.problems_before)

    def on_resolve_done(self, message: ResolveDone) -> None:
        from kmodtui.screens.symbols import SymbolsScreen

        previous = None
        if message.record and message.record == self.state.record:
            previous, self.state.problems_before = self.state.problems_before, None
        elif message.demo and self.state.problems_before is not None:  # the demo's rebuild, re-checked
            previous, self.state.problems_before = self.state.problems_before, None
        self.push_screen(SymbolsScreen(message.result, demo=message.demo, source=message.source, previous=previous,
                                       remedy_target=message.remedy_target, context=message.context,
                                       record=message.record))

    def on_notice(self, message: Notice) -> None:
        # a worker's notice quotes errors, file names and kernel releases: plain text, never markup
        self.notify(escape(message.text), severity=message.severity, timeout=message.timeout)  # type: ignore[arg-type]

    # ---- workers: the core's work off the event loop; each ends with a message -----------------

    @work(thread=True, exclusive=True, group="resolve")
    def check_build(self, record: str) -> None:
        """Check what a build made, like with like (a package build as a package set)."""
        from kmodtui.core.build.recheck import recheck

        try:
            request, result = recheck(record)
        except KmodError as err:  # e.g. a kernel tree without (or with a damaged) Module.symvers
            self.post_message(Notice(f"Cannot check the symbols: {err}", "error", 12))
            return
        self.post_message(ResolveDone(result, source=request.source, record=record))

    @work(thread=True, exclusive=True, group="resolve")
    def check_modules(self, modules: list[str], kernel: Kernel, providers: list[str] | None = None) -> None:
        """Check modules that are not one of kmodtui's builds against a kernel."""
        from kmodtui.core.resolve.engine import resolve

        try:
            result = resolve(modules, kernel, providers or [])
        except KmodError as err:
            self.post_message(Notice(f"Cannot check the symbols: {err}", "error", 12))
            return
        self.post_message(ResolveDone(result))

    @work(thread=True, exclusive=True, group="resolve")
    def rebuild_demo(self, spec: str, problems_before: frozenset[tuple[str, str]]) -> None:
        """The demo's seed-000 story to its end: the provider RPM rebuilt from the remedied spec by the
        real rpmbuild, then the consumer checked against it as a package set."""
        from kmodtui.core.build.demo import demo_packages, rebuild_demo_provider
        from kmodtui.core.resolve.engine import resolve

        try:
            provider = rebuild_demo_provider(spec, os.path.join(state_dir(), "demo", "rpmbuild"))
            consumer, _ = demo_packages()
            kernel = self.state.kernel
            assert kernel is not None
            result = resolve(consumer, kernel, [provider])
        except KmodError as err:
            self.post_message(Notice(f"Cannot rebuild the demo provider: {err}", "error", 15))
            return
        self.state.problems_before = problems_before
        self.post_message(ResolveDone(result, demo=True, remedy_target=spec))

    @work(thread=True, exclusive=True, group="resolve")
    def resolve_demo(self, kernel: Kernel) -> None:
        # Seed 000 on real artifacts: the consumer's ksym() Requires against a provider packaged
        # the "generic" way. The provider's spec is copied where the user may edit it.
        from kmodtui.core.resolve.engine import resolve

        packages = package_data("data", "demo", "packages")
        from kmodtui.core.build.demo import demo_packages

        consumer, provider = demo_packages()
        result = resolve(consumer, kernel, provider)
        spec_copy = os.path.join(state_dir(), "demo", "kmod-provider.spec")
        os.makedirs(os.path.dirname(spec_copy), exist_ok=True)
        shutil.copyfile(os.path.join(packages, "kmod-provider.spec"), spec_copy)
        self.post_message(ResolveDone(result, demo=True, remedy_target=spec_copy))


def run_app(app: KmodApp, *, mouse: bool = True) -> int:
    """Run the TUI; on the way out, say how to come back to a build that is still running."""
    app.run(mouse=mouse)
    for record in app.running_builds():
        print(f"kmodtui: the build {os.path.basename(record)} is still running in the background; "
              f"follow it with `kmodtui attach {os.path.basename(record)}` (`kmodtui builds` lists them).")
    return app.return_code or 0
