"""Navigation every screen shares: Esc goes back one level (and from the first screen shown, to the
kernel picker, so no screen is a dead end), `?` opens the current screen's help, and keys are
written the way people write them ("ctrl+p", "/", "Enter")."""

from __future__ import annotations

from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Footer, Static

from kmodtui.core.errors import shown

_KEY_WORDS = {"question_mark": "?", "slash": "/", "enter": "Enter", "escape": "Esc", "space": "Space",
              "tab": "Tab", "up": "Up", "down": "Down", "pageup": "PgUp", "pagedown": "PgDn"}


def key_words(binding: Binding) -> str:
    """A binding's key as people write it: `?`, `/`, `Enter`, `ctrl+p`."""
    if binding.key_display:
        return binding.key_display
    first = binding.key.split(",")[0]
    return _KEY_WORDS.get(first, first)


def go_back(app: App) -> None:
    """One level back. The bottom screen (e.g. after `kmodtui attach` or `resolve --tui`) goes to
    the kernel picker instead of leaving a blank screen; on the kernel picker Esc does nothing."""
    if getattr(app.screen, "FIRST_STEP", False):
        app.notify("This is the first step: q quits.", timeout=3)
        return
    if len(app.screen_stack) > 2:  # [Textual's default screen, the first one we pushed, ...]
        app.pop_screen()
        return
    show_first_step = getattr(app, "show_first_step", None)  # the App knows its first step (no import cycle)
    if show_first_step is not None:
        show_first_step()


def offered(screen: Screen, binding: Binding) -> bool:
    """Whether the screen offers this binding's action now (its check_action; e.g. the kernel picker's
    d is Demo on the real kernels and Real kernels on the demo): the help and the palette say only these."""
    name, _, _ = binding.action.partition("(")
    return screen.check_action(name, ()) is not False


def screen_keys(screen: Screen) -> list[tuple[str, str]]:
    """(key, what it does) for the screen's bindings that have a description."""
    keys = []
    for binding in screen.BINDINGS:
        if isinstance(binding, Binding) and binding.description and offered(screen, binding):
            keys.append((key_words(binding), binding.tooltip or binding.description))
    return keys


class HelpScreen(ModalScreen[None]):
    """The current screen's help, scrollable; Esc, q or ? closes it."""

    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll { width: 100%; max-width: 100; height: 90%; border: round $accent;
                                  padding: 0 1; background: $surface; }
    """
    BINDINGS = [
        Binding("escape", "close", "Close", id="help.close"),
        Binding("q", "close", "Close", show=False, id="help.close_q"),
        Binding("question_mark", "close", "Close", show=False, id="help.close_help"),
    ]

    def __init__(self, title: str, text: str, keys: list[tuple[str, str]]) -> None:
        super().__init__()
        self.title_text = title
        self.text = text
        self.keys = keys

    def compose(self) -> ComposeResult:
        width = max((len(k) for k, _ in self.keys), default=1)
        keys = "\n".join(f"  [b]{k.ljust(width)}[/]  {what}" for k, what in self.keys)
        common = ("  [b]Esc[/]  back one level (from the first screen: the kernel picker)\n"
                  "  [b]ctrl+p[/]  every action of this screen, by name\n  [b]q[/]  quit (builds go on: "
                  "`kmodtui attach`)")
        with VerticalScroll(id="help-body"):
            yield Static(f"{self.text}\n\n[b]Keys here[/]\n{keys}\n\n[b]Everywhere[/]\n{common}", id="help-text")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        body = self.query_one("#help-body")
        body.border_title = f"Help: {self.title_text}"
        body.border_subtitle = "Esc closes"
        body.focus()

    def action_close(self) -> None:
        self.dismiss()


def reflow(text: str) -> str:
    """Help text as paragraphs the terminal wraps at its own width: a line that goes on with the
    sentence before is joined to it; blank lines, indented lines (a list), the line after one, and
    lines starting with a key (`[b]u[/] ...`) start a new line."""
    out: list[str] = []
    for line in text.split("\n"):
        goes_on = (out and out[-1].strip() and not out[-1].startswith(" ") and line.strip()
                   and not line.startswith((" ", "[b]", "[i]")))
        if goes_on:
            out[-1] += " " + line.strip()
        else:
            out.append(line)
    return "\n".join(out)


def open_help(app: App) -> None:
    screen = app.screen
    if isinstance(screen, HelpScreen):
        screen.dismiss()
        return
    text = reflow(getattr(screen, "HELP_TEXT", "") or "No help written for this screen yet.")
    name = type(screen).__name__.removesuffix("Screen")
    app.push_screen(HelpScreen(name, text, screen_keys(screen)))


class ConfirmScreen(ModalScreen[bool]):
    """A yes/no question for a key that destroys something: y confirms; n or Esc does not."""

    DEFAULT_CSS = """
    ConfirmScreen { align: center middle; }
    ConfirmScreen > Static { width: 60; max-width: 90%; height: auto; border: round $warning; padding: 0 1;
                             background: $surface; }
    """
    BINDINGS = [
        Binding("y", "answer(True)", "Yes", id="confirm.yes"),
        Binding("n", "answer(False)", "No", id="confirm.no"),
        Binding("escape", "answer(False)", "No", show=False, id="confirm.escape"),
    ]

    def __init__(self, question: str) -> None:
        super().__init__()
        self.question = question

    def compose(self) -> ComposeResult:
        yield Static(f"{self.question}\n\n[b]y[/] yes    [b]n[/] / [b]Esc[/] no")
        yield Footer(compact=True)

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)


def escape(text: object) -> str:
    """Text from an input (a module's strings, a symbol, a file name, a log line, a tool's message)
    shown inside markup. What a terminal would act on becomes visible (kmodtui.core.errors.shown:
    ESC as `\\x1b`; newlines kept), and `[` is escaped: Rich's and Textual's escape() leave
    '[-Werror=...]' alone, which Textual's markup parser then rejects (a compiler line would crash
    the screen showing it). A trailing backslash would escape the markup that follows: it is `\\x5c`."""
    text = shown(text, lines=True).replace("[", "\\[")
    return text[:-1] + "\\x5c" if text.endswith("\\") else text
