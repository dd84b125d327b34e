"""Step 3: how to build and package: what each mode runs and what the package will carry."""

from __future__ import annotations

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, OptionList, Static
from textual.widgets.option_list import Option

from kmodtui.core.build.sources import ModuleSource
from kmodtui.core.model import Kernel
from kmodtui.messages import ModeChosen, ModeFacts
from kmodtui.screens.nav import escape, go_back
from kmodtui.widgets.steps import StepStrip


def mode_label(mode: str, missing: list[str]) -> str:
    return f"{mode}  (needs {', '.join(missing)})" if missing else mode


class ModeScreen(Screen[None]):
    HELP_TEXT = """Pick how the module is built and packaged:
  [b]kbuild[/]  make -C <kernel build dir> M=<source>: loose .ko files
  [b]dkms[/]    dkms add/build in a private tree: what a distro's *-dkms does
  [b]deb[/]     the modules as a binary-module .deb, depending on the kernel's
  [b]rpm-*[/]   kmod RPMs; "generic" adds no ksym() Provides, "redhat" does
Modes whose tool is missing say so, with the command that installs it."""
    CSS_PATH = "wizard.tcss"
    BINDINGS = [Binding("escape", "back", "Back", id="mode.back")]

    def __init__(self, source: ModuleSource, kernel: Kernel) -> None:
        super().__init__()
        self.source = source
        self.kernel = kernel
        from kmodtui.core.build import modes

        self.offered = {mode.name: mode for mode in modes.offered_for(source)}  # each mode says (core/build/modes/)
        self.modes = list(self.offered)
        # What this host says of each mode (programs missing, a mode it cannot run whatever is installed,
        # e.g. an autotools tree's rpm/redhat spec): asked by a worker (PATH, `rpm --eval`), None until then
        self.facts: ModeFacts | None = None
        self.missing: dict[str, list[str]] = {}
        self.unavailable: dict[str, str] = {}
        self._chosen_early = ""  # Enter before the facts were in: acted on when they are

    def compose(self) -> ComposeResult:
        yield StepStrip("Mode")
        with Horizontal(classes="wizard-body"):
            yield OptionList(*[Option(self.offered[m].label, id=m) for m in self.modes], id="mode-list",
                             classes="wizard-list")
            with VerticalScroll(classes="wizard-details"):
                yield Static(id="mode-details")
        yield Static(f"Building [b]{escape(self.source.name)}[/] for [b]{escape(self.kernel.release)}[/]. Enter starts the build; "
                     "it keeps running if this terminal closes (kmodtui builds / kmodtui attach).", classes="wizard-note")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.query_one("#mode-list").border_title = "Packaging mode"
        option_list = self.query_one("#mode-list", OptionList)
        option_list.focus()
        option_list.highlighted = 0
        self.query_one("#mode-details", Static).update(self.details(self.modes[0]))
        self.ask_host()

    @work(thread=True, exclusive=True, group="mode-facts")
    def ask_host(self) -> None:
        from kmodtui.core.build.tools import install_command
        from kmodtui.core.choices import load_choices

        missing = {m: mode.missing_programs() for m, mode in self.offered.items()}
        self.post_message(ModeFacts(
            missing, {m: install_command(missing[m]) for m in self.modes if missing[m]},
            {m: why for m, mode in self.offered.items() if not missing[m] and (why := mode.unavailable_here(self.source))},
            load_choices().get(f"mode:{self.source.path}", "")))

    @on(ModeFacts)
    def facts_known(self, message: ModeFacts) -> None:
        message.stop()
        self.facts, self.missing, self.unavailable = message, message.missing, message.unavailable
        option_list = self.query_one("#mode-list", OptionList)
        for m in self.modes:
            option_list.replace_option_prompt(m, mode_label(self.offered[m].label, self.missing[m])
                                              + ("  (not on this host)" if m in self.unavailable else ""))
        if self._chosen_early:
            self.choose(self._chosen_early)
            return
        last = message.last
        # the last choice for this source, unless a key moved the highlight meanwhile
        index = self.modes.index(last) if last in self.modes and option_list.highlighted == 0 else \
            option_list.highlighted or 0
        option_list.highlighted = index
        self.query_one("#mode-details", Static).update(self.details(self.modes[index])
                                                       + ("\n\n(your last choice for this source)" if last in self.modes else ""))

    def details(self, mode: str) -> str:
        text = self.offered[mode].story_for(self.source)
        if self.missing.get(mode) and self.facts is not None:
            text += (f"\n\n[b]Not available here:[/] this mode runs {', '.join(self.missing[mode])}, which is not "
                     f"installed. Install it first:\n  {self.facts.install[mode]}\nthen press Esc and "
                     "choose the source again.")
        if mode in self.unavailable:
            text += f"\n\n[b]Not on this host:[/] {escape(self.unavailable[mode])}."
        return text

    @on(OptionList.OptionHighlighted, "#mode-list")
    def highlighted(self, event: OptionList.OptionHighlighted) -> None:
        if event.option_id:
            self.query_one("#mode-details", Static).update(self.details(event.option_id))

    @on(OptionList.OptionSelected, "#mode-list")
    def selected(self, event: OptionList.OptionSelected) -> None:
        if event.option_id and self.facts is None:
            self._chosen_early = event.option_id
        elif event.option_id:
            self.choose(event.option_id)

    def choose(self, mode: str) -> None:
        if self.missing.get(mode):
            assert self.facts is not None
            self.notify(f"{mode} needs {', '.join(self.missing[mode])}: {self.facts.install[mode]}",
                        severity="warning", timeout=8)
        elif mode in self.unavailable:
            self.notify(f"{mode}: not on this host ({escape(self.unavailable[mode])})", severity="warning", timeout=10)
        else:
            self.post_message(ModeChosen(self.source, self.kernel, mode))

    def action_back(self) -> None:
        go_back(self.app)
