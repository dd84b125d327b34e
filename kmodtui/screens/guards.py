"""Shown instead of the wizard when it cannot go on: a terminal too small for it, or a state or
cache folder that is not the user's own."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import ModalScreen
from textual.widgets import Static

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
