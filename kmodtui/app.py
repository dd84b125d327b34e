"""The Textual application: a wizard of screens over the headless core."""

from __future__ import annotations

import os

from textual import on
from textual.app import App
from textual.binding import Binding

from kmodtui.core.model import Kernel
from kmodtui.screens.kernel import KernelScreen


def wants_ansi_theme(term: str | None, color_system: str | None) -> bool:
    """The Linux console and other 16-colour terminals get the ANSI theme."""
    return term == "linux" or color_system in ("standard", "windows")


class KmodApp(App[int]):
    TITLE = "kmodtui"
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (72, "-wide")]
    BINDINGS = [Binding("q", "quit", "Quit", id="app.quit")]

    def __init__(self, *, demo: bool = False, root: str = "/") -> None:
        super().__init__()
        self.demo = demo
        self.root = root
        self.chosen_kernel: Kernel | None = None

    def on_mount(self) -> None:
        if wants_ansi_theme(os.environ.get("TERM"), self.console.color_system):
            self.theme = "ansi-dark"
        self.push_screen(KernelScreen(demo=self.demo, root=self.root))

    @on(KernelScreen.KernelChosen)
    def kernel_chosen(self, message: KernelScreen.KernelChosen) -> None:
        self.chosen_kernel = message.kernel
        self.notify(
            f"Kernel {message.kernel.release} chosen. The source step is the next part of the "
            "wizard to be built; meanwhile `kmodtui inspect FILE.ko` works headless.",
            title="Kernel chosen",
            timeout=8,
        )
