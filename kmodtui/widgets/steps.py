"""The wizard's progress strip: where you are in kernel -> source -> mode -> build -> symbols."""

from __future__ import annotations

from textual.reactive import var
from textual.widgets import Static

STEPS = ("Kernel", "Source", "Mode", "Build", "Symbols", "Remedy")


class StepStrip(Static):
    DEFAULT_CSS = """
    StepStrip { height: 1; padding: 0 1; background: $panel; color: $text-muted; }
    """
    running: var[str] = var("", init=False)  # "1 build running": the App's running_note, shown on every screen

    def __init__(self, current: str, *, demo: bool = False) -> None:
        super().__init__()
        self.current = current
        self.demo = demo

    def set_running(self, text: str) -> None:
        self.running = text

    def on_mount(self) -> None:
        if hasattr(self.app, "running_note"):  # the App says how many builds run; a strip follows it
            self.watch(self.app, "running_note", self.set_running)  # called at once with the current note
        self.draw()

    def watch_running(self) -> None:
        if self.is_mounted:
            self.draw()

    def draw(self) -> None:
        prefix = "[b]DEMO[/] " if self.demo else ""
        suffix = f"  [reverse] {self.running} [/]" if self.running else ""
        if self.current not in STEPS:  # a side trip from the kernel picker (Diagnose, Builds...)
            self.update(f"{prefix} 1 Kernel >[reverse b] {self.current} [/]  (Esc: back){suffix}")
            return
        parts = []
        for number, step in enumerate(STEPS, 1):
            label = f"{number} {step}"
            parts.append(f"[reverse b] {label} [/]" if step == self.current else f" {label} ")
        self.update(prefix + ">".join(parts) + suffix)
