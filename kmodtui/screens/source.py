"""Step 2: the module source. Bundled examples or a path; shows what kmodtui read from it."""

from __future__ import annotations

import os
import shutil

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Input, OptionList, Static
from textual.widgets.option_list import Option

from kmodtui.core.build.sources import ModuleSource, detect_source
from kmodtui.core.errors import KmodError
from kmodtui.core.model import Kernel
from kmodtui.core.paths import package_data
from kmodtui.messages import ExamplesCopied, SourceChosen, SourceRead
from kmodtui.screens.nav import escape, go_back
from kmodtui.widgets.steps import StepStrip

NEWCOMER_NOTE = (
    "[b]A module source[/] is a folder kbuild can compile: a Kbuild/Makefile naming the module "
    "(obj-m), often a dkms.conf telling DKMS how to rebuild it for every new kernel. kmodtui reads "
    "dkms.conf without running it."
)


def bundled_examples() -> list[str]:
    """The example modules, copied into the user's state dir first: remedies edit sources, and the
    copy installed with kmodtui must stay as shipped (it may not even be writable)."""
    from kmodtui.core.paths import state_dir

    root = package_data("examples")
    workspace = os.path.join(state_dir(), "examples")
    paths = []
    for name in sorted(os.listdir(root)):
        if not os.path.isdir(os.path.join(root, name)):
            continue
        copy = os.path.join(workspace, name)
        if not os.path.isdir(copy):
            shutil.copytree(os.path.join(root, name), copy)
        paths.append(copy)
    return paths


def source_details(source: ModuleSource) -> str:
    """What was read from a source (a downloaded tarball's dkms.conf, META, spec): each value escaped."""
    lines = [f"[b]{escape(source.name)}[/] {escape(source.version)}".rstrip(), ""]
    lines.append(escape(f"Path        {source.path}"))  # which copy is read: examples are copied to the state folder
    lines.append(escape(f"Kind        {', '.join(source.kinds)}"))
    lines.append(escape(f"Modules     {', '.join(source.modules) or '(none found)'}"))
    # the modes the next step lists: both ask the registry (kmodtui/core/build/modes/)
    from kmodtui.core.build import modes

    offered = [mode.name for mode in modes.offered_for(source)]
    lines.append(escape(f"Modes       {', '.join(offered) or '-'}"))
    if source.dkms is not None:
        location = source.dkms.array("DEST_MODULE_LOCATION")
        lines.append(escape(f"dkms        AUTOINSTALL={source.dkms.values.get('AUTOINSTALL', 'no')}"
                            + (f", installs to {location[0]}" if location else "")))
        for key in ("BUILD_EXCLUSIVE_KERNEL", "BUILD_EXCLUSIVE_ARCH", "BUILD_EXCLUSIVE_CONFIG"):
            if key in source.dkms.values:
                lines.append(escape(f"            {key}={source.dkms.values[key]}"))
    for note in source.notes:
        lines.append(f"[i]known only at build time:[/] {escape(note)}")
    return "\n".join(lines)


class SourceScreen(Screen[None]):
    HELP_TEXT = """Pick the module source to build: a bundled example, or press / and type a path (a folder with a
Makefile/Kbuild, dkms.conf, an OpenZFS-style autotools tree, a source tarball or a *-dkms .deb).
The pane on the right says what kmodtui read from it (nothing is run while reading): name,
version, modules, the modes it can be built in, and what is only known at build time.
Esc while typing a path leaves the field and keeps what you typed."""
    CSS_PATH = "wizard.tcss"
    BINDINGS = [
        Binding("escape", "back", "Back", id="source.back"),
        Binding("slash", "path", "Type a path", id="source.path"),
    ]

    def __init__(self, kernel: Kernel) -> None:
        super().__init__()
        self.kernel = kernel
        self.paths: list[str] = []  # the bundled examples (copied by a worker), then paths typed
        self.current: ModuleSource | None = None

    def compose(self) -> ComposeResult:
        yield StepStrip("Source")
        with Horizontal(classes="wizard-body"):
            yield OptionList(id="source-list", classes="wizard-list")
            with VerticalScroll(classes="wizard-details"):
                yield Static("Choose a source.", id="source-details")
        yield Input(placeholder="/ then a module source path, Enter to read it", id="source-path")
        yield Static(NEWCOMER_NOTE, classes="wizard-note")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.query_one("#source-list").border_title = f"Sources for {escape(self.kernel.release)}"
        self.query_one("#source-list", OptionList).focus()
        self.copy_examples()

    @work(thread=True, exclusive=True, group="source")
    def copy_examples(self) -> None:
        """The examples, copied where remedies may edit them; the first is read at once, in this worker."""
        paths = bundled_examples()
        self.post_message(ExamplesCopied(paths))
        if paths:
            self._read_source(paths[0])

    @on(ExamplesCopied)
    def examples_copied(self, message: ExamplesCopied) -> None:
        message.stop()
        option_list = self.query_one("#source-list", OptionList)
        # paths typed before the examples were there (one that is an example is listed once, as the example)
        typed = [p for p in self.paths if p not in message.paths]
        option_list.clear_options()
        option_list.add_options([Option(escape(f"example: {os.path.basename(p)}"), id=p) for p in message.paths]
                                + [Option(escape(p), id=p) for p in typed])
        chosen = self.paths[-1] if self.paths else None
        self.paths = message.paths + typed
        if chosen is not None:
            option_list.highlighted = self.paths.index(chosen)
        elif self.paths:
            with option_list.prevent(OptionList.OptionHighlighted):  # the worker reads the first one already
                option_list.highlighted = 0

    @work(thread=True, exclusive=True, group="source")
    def inspect_source(self, path: str) -> None:
        self._read_source(path)

    def _read_source(self, path: str) -> None:
        try:
            self.post_message(SourceRead(path, detect_source(path)))
        except KmodError as err:
            self.post_message(SourceRead(path, None, str(err)))

    @on(SourceRead)
    def source_read(self, message: SourceRead) -> None:
        message.stop()
        self.current = message.source
        if message.source is None:
            self.query_one("#source-details", Static).update(f"[b]Cannot use this source[/]\n{escape(message.error)}")
        else:
            self.query_one("#source-details", Static).update(source_details(message.source)
                                                             + "\n\nEnter: choose a packaging mode")

    @on(OptionList.OptionHighlighted, "#source-list")
    def highlighted(self, event: OptionList.OptionHighlighted) -> None:
        if event.option_id:
            self.inspect_source(event.option_id)

    @on(OptionList.OptionSelected, "#source-list")
    def selected(self, event: OptionList.OptionSelected) -> None:
        if self.current is not None and event.option_id == self.current.path:
            self.post_message(SourceChosen(self.current, self.kernel))

    @on(Input.Submitted, "#source-path")
    def path_entered(self, event: Input.Submitted) -> None:
        typed = os.path.expanduser(event.value.strip())
        if not typed:
            return
        path = os.path.normpath(typed)  # 'dir/' and 'dir' are one entry (an option id is unique)
        option_list = self.query_one("#source-list", OptionList)
        if path not in self.paths:  # a path already listed is selected, not added again
            self.paths.append(path)
            option_list.add_option(Option(escape(path), id=path))
        option_list.highlighted = self.paths.index(path)
        option_list.focus()

    def action_path(self) -> None:
        self.query_one("#source-path", Input).focus()

    def action_back(self) -> None:
        path = self.query_one("#source-path", Input)
        if path.has_focus:  # Esc while typing leaves the field, keeping what was typed
            self.query_one("#source-list", OptionList).focus()
            return
        go_back(self.app)
