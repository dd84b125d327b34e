"""Step 3: how to build and package: what each mode runs and what the package will carry."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, OptionList, Static
from textual.widgets.option_list import Option

from kmodtui.core.build.sources import ModuleSource
from kmodtui.core.model import Kernel
from kmodtui.messages import ModeChosen
from kmodtui.screens.nav import escape, go_back
from kmodtui.widgets.steps import StepStrip


def mode_label(mode: str, missing: list[str]) -> str:
    return f"{mode}  (needs {', '.join(missing)})" if missing else mode


class ModeScreen(Screen[None]):
    HELP_TEXT = """Pick how the module is built and packaged:
  [b]kbuild[/]  make -C <kernel build dir> M=<source>: loose .ko files
  [b]dkms[/]    dkms add/build in a private tree: what a distro's *-dkms package does
  [b]deb[/]     the built modules as a binary-module .deb, depending on the kernel package
  [b]rpm-*[/]   kmod RPMs from a spec; "generic" adds no ksym() Provides, "redhat" does
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
        self.missing = {m: mode.missing_programs() for m, mode in self.offered.items()}
        # a mode this host cannot run whatever is installed (an autotools tree's rpm/redhat spec)
        self.unavailable = {m: why for m, mode in self.offered.items()
                            if not self.missing[m] and (why := mode.unavailable_here(source))}

    def compose(self) -> ComposeResult:
        yield StepStrip("Mode")
        with Horizontal(classes="wizard-body"):
            yield OptionList(*[Option(mode_label(self.offered[m].label, self.missing[m])
                                      + ("  (not on this host)" if m in self.unavailable else ""), id=m)
                               for m in self.modes], id="mode-list",
                             classes="wizard-list")
            with VerticalScroll(classes="wizard-details"):
                yield Static(id="mode-details")
        yield Static(f"Building [b]{escape(self.source.name)}[/] for [b]{escape(self.kernel.release)}[/]. Enter starts the build; "
                     "it keeps running if this terminal closes (kmodtui builds / kmodtui attach).", classes="wizard-note")
        yield Footer()

    def on_mount(self) -> None:
        from kmodtui.core.choices import load_choices

        self.query_one("#mode-list").border_title = "Packaging mode"
        option_list = self.query_one("#mode-list", OptionList)
        option_list.focus()
        last = load_choices().get(f"mode:{self.source.path}")
        index = self.modes.index(last) if last in self.modes else 0
        option_list.highlighted = index
        self.query_one("#mode-details", Static).update(self.details(self.modes[index])
                                                       + ("\n\n(your last choice for this source)" if last in self.modes else ""))

    def details(self, mode: str) -> str:
        from kmodtui.core.build.tools import install_command

        text = self.offered[mode].story_for(self.source)
        if self.missing.get(mode):
            text += (f"\n\n[b]Not available here:[/] this mode runs {', '.join(self.missing[mode])}, which is not "
                     f"installed. Install it first:\n  {install_command(self.missing[mode])}\nthen press Esc and "
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
        if event.option_id and self.missing.get(event.option_id):
            from kmodtui.core.build.tools import install_command

            self.notify(f"{event.option_id} needs {', '.join(self.missing[event.option_id])}: "
                        f"{install_command(self.missing[event.option_id])}", severity="warning", timeout=8)
        elif event.option_id in self.unavailable:
            self.notify(f"{event.option_id}: not on this host ({escape(self.unavailable[event.option_id])})",
                        severity="warning", timeout=10)
        elif event.option_id:
            self.post_message(ModeChosen(self.source, self.kernel, event.option_id))

    def action_back(self) -> None:
        go_back(self.app)
