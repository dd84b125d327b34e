"""The Textual application: a wizard of screens over the headless core."""

from __future__ import annotations

import os

from textual import on, work
from textual.app import App
from textual.binding import Binding

from kmodtui.core.model import Kernel
from kmodtui.core.paths import package_data
from kmodtui.core.resolve import ResolveResult, resolve
from kmodtui.screens.kernel import KernelScreen
from kmodtui.screens.symbols import SymbolsScreen


def wants_ansi_theme(term: str | None, color_system: str | None) -> bool:
    """The Linux console and other 16-colour terminals get the ANSI theme."""
    return term == "linux" or color_system in ("standard", "windows")


class KmodApp(App[int]):
    TITLE = "kmodtui"
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (72, "-wide")]
    BINDINGS = [Binding("q", "quit", "Quit", id="app.quit")]

    def __init__(self, *, demo: bool = False, root: str = "/", resolve_result: ResolveResult | None = None) -> None:
        super().__init__()
        self.demo = demo
        self.root = root
        self.resolve_result = resolve_result
        self.chosen_kernel: Kernel | None = None

    def on_mount(self) -> None:
        if wants_ansi_theme(os.environ.get("TERM"), self.console.color_system):
            self.theme = "ansi-dark"
        if self.resolve_result is not None:
            self.push_screen(SymbolsScreen(self.resolve_result))
        else:
            self.push_screen(KernelScreen(demo=self.demo, root=self.root))

    @on(KernelScreen.KernelChosen)
    def kernel_chosen(self, message: KernelScreen.KernelChosen) -> None:
        self.chosen_kernel = message.kernel
        if message.kernel.origin == "demo":
            self.resolve_demo(message.kernel)
            return
        self.notify(
            f"Kernel {message.kernel.release} chosen. The source and build steps are the next parts "
            "of the wizard to be built; meanwhile `kmodtui resolve MODULE.ko --kernel "
            f"{message.kernel.release} --tui` opens the symbol browser.",
            title="Kernel chosen",
            timeout=10,
        )

    @work(thread=True, exclusive=True, group="resolve")
    def resolve_demo(self, kernel: Kernel) -> None:
        # The demo story: consumer.ko needs three symbols only provider.ko exports.
        result = resolve([package_data("data", "demo", "modules", "consumer.ko")], kernel)
        self.call_from_thread(self.push_screen, SymbolsScreen(result, demo=True))
