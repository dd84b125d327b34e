"""The Textual application: a wizard of screens over the headless core."""

from __future__ import annotations

import glob
import os
import shutil
from collections.abc import Iterable
from typing import TYPE_CHECKING

from textual import work
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.screen import ModalScreen, Screen
from textual.widgets import Static

from kmodtui.core.choices import remember
from kmodtui.core.errors import KmodError
from kmodtui.core.model import Kernel
from kmodtui.core.paths import package_data, state_dir
from kmodtui.screens.kernel import KernelScreen

# Later steps are imported when first reached: the first frame should cost little more than
# importing Textual (bench/startup.py). Their messages reach the handlers below by name.
if TYPE_CHECKING:
    from kmodtui.core.resolve.result import ResolveResult
    from kmodtui.screens.build import BuildScreen
    from kmodtui.screens.mode import ModeScreen
    from kmodtui.screens.remedy import RemedyScreen
    from kmodtui.screens.source import SourceScreen


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


class KmodApp(App[int]):
    TITLE = "kmodtui"
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (72, "-wide")]
    BINDINGS = [
        Binding("q", "quit", "Quit", id="app.quit"),
        # Ctrl-C quits cleanly from anywhere; builds run detached and go on (kmodtui attach)
        Binding("ctrl+c", "quit", "Quit", show=False, priority=True, id="app.interrupt"),
    ]

    def __init__(self, *, demo: bool = False, root: str = "/", resolve_result: ResolveResult | None = None,
                 attach: str | None = None) -> None:
        super().__init__()
        self.demo = demo
        self.root = root
        self.resolve_result = resolve_result
        self.attach = attach
        self.chosen_kernel: Kernel | None = None
        self.last_problems: set[tuple[str, str]] = set()  # before a remedy; compared after its rebuild
        self.compare_next = False

    def on_mount(self) -> None:
        if wants_ansi_theme(os.environ.get("TERM"), self.console.color_system):
            self.theme = "ansi-dark"
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
                yield SystemCommand(f"{binding.description} ({binding.key_display or binding.key})",
                                    f"{type(screen).__name__.removesuffix('Screen')} step",
                                    lambda action=action, screen=screen: self.call_later(screen.run_action, action))

    def on_kernel_screen_kernel_chosen(self, message: KernelScreen.KernelChosen) -> None:
        self.chosen_kernel = message.kernel
        if message.kernel.origin != "demo":
            remember("kernel", message.kernel.release)
        if message.kernel.origin == "demo":
            self.resolve_demo(message.kernel)
            return
        from kmodtui.screens.source import SourceScreen

        self.push_screen(SourceScreen(message.kernel))

    def on_source_screen_source_chosen(self, message: SourceScreen.SourceChosen) -> None:
        from kmodtui.screens.mode import ModeScreen

        self.push_screen(ModeScreen(message.source, message.kernel))

    def on_mode_screen_mode_chosen(self, message: ModeScreen.ModeChosen) -> None:
        from kmodtui.core.build.job import start_detached
        from kmodtui.screens.build import BuildScreen

        remember(f"mode:{message.source.path}", message.mode)
        records = start_detached(message.source.path, [message.kernel.build_dir or message.kernel.release], message.mode)
        self.push_screen(BuildScreen(records[0]))

    def on_build_screen_build_finished(self, message: BuildScreen.BuildFinished) -> None:
        if message.status.get("open_symbols"):
            modules = [a for a in message.status.get("artifacts") or [] if a.endswith(".ko")]
            self.resolve_built(modules, message.status.get("kernel", ""), message.status.get("source", ""))

    def on_remedy_screen_rebuild(self, message: RemedyScreen.Rebuild) -> None:
        from kmodtui.core.build.job import start_detached
        from kmodtui.screens.build import BuildScreen

        context = message.context
        assert context.kernel is not None
        self.compare_next = bool(self.last_problems)
        records = start_detached(context.source, [context.kernel.build_dir or context.kernel.release], "kbuild")
        self.push_screen(BuildScreen(records[0]))

    @work(thread=True, exclusive=True, group="resolve")
    def resolve_built(self, modules: list[str], kernel_spec: str, source: str) -> None:
        from kmodtui.core.build.sources import extra_symbols_of
        from kmodtui.core.kernels.discover import find_kernel
        from kmodtui.core.resolve.engine import resolve
        from kmodtui.screens.symbols import SymbolsScreen

        try:
            kernel = self.chosen_kernel if self.chosen_kernel is not None else find_kernel(kernel_spec)
            # modules the source declares it uses (KBUILD_EXTRA_SYMBOLS) provide symbols too
            providers = [os.path.dirname(p) for p in extra_symbols_of(source) if os.path.isdir(os.path.dirname(p))] if source else []
            result = resolve(modules, kernel, providers)
        except KmodError as err:  # e.g. a kernel tree without (or with a damaged) Module.symvers
            self.call_from_thread(self.notify, f"Cannot check the symbols: {err}", severity="error", timeout=12)
            return
        previous = self.last_problems if self.compare_next else None
        self.compare_next = False
        self.call_from_thread(self.push_screen, SymbolsScreen(result, demo=self.demo, source=source, previous=previous))

    @work(thread=True, exclusive=True, group="resolve")
    def resolve_demo(self, kernel: Kernel) -> None:
        # Seed 000 on real artifacts: the consumer's ksym() Requires against a provider packaged
        # the "generic" way. The provider's spec is copied where the user may edit it.
        from kmodtui.core.resolve.engine import resolve
        from kmodtui.screens.symbols import SymbolsScreen

        packages = package_data("data", "demo", "packages")
        consumer = glob.glob(os.path.join(packages, "kmod-consumer-*.rpm"))
        provider = glob.glob(os.path.join(packages, "kmod-provider-*.rpm"))
        result = resolve(consumer, kernel, provider)
        spec_copy = os.path.join(state_dir(), "demo", "kmod-provider.spec")
        os.makedirs(os.path.dirname(spec_copy), exist_ok=True)
        shutil.copyfile(os.path.join(packages, "kmod-provider.spec"), spec_copy)
        self.call_from_thread(self.push_screen, SymbolsScreen(result, demo=True, remedy_target=spec_copy))
