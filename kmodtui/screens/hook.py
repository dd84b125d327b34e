"""Keep a module alive across kernel updates: a kernel post-install hook that rebuilds this source
for every new kernel (Debian postinst.d, Fedora/RHEL kernel-install), shown before it is written and
undone like a remedy."""

from __future__ import annotations

import os

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Static

from kmodtui.core import scriptnames
from kmodtui.core.errors import KmodError, shown
from kmodtui.core.paths import self_command
from kmodtui.core.remedies.edits import FileEdit
from kmodtui.messages import HookPlanned, RemedyDone
from kmodtui.screens.nav import go_back
from kmodtui.widgets.steps import StepStrip

WHY = (
    "[b]Why a hook?[/] A module only loads into the kernel it was built for. For each new kernel the "
    "package manager runs /etc/kernel/postinst.d (Debian) or install.d (kernel-install); this hook builds "
    "the source for it and installs it (dpkg, rpm, or updates/ + depmod), updates the initramfs if the "
    "module is in it, and leaves a report (kmodtui builds). Undoing it removes what it installed."
)


def writable(path: str) -> bool:
    """The nearest existing folder above `path` can be written (as root, or in a scratch root)."""
    folder = os.path.dirname(os.path.abspath(path))
    while not os.path.isdir(folder):
        folder = os.path.dirname(folder)
    return os.access(folder, os.W_OK)


class HookScreen(Screen[None]):
    HELP_TEXT = """A hook builds and installs this source for every new kernel as it is installed (like dkms
autoinstall), so the module is there after the reboot. [b]a[/] installs the hook; the pane shows where."""
    CSS_PATH = "hook.tcss"
    BINDINGS = [
        Binding("a", "install", "Install", id="hook.install"),
        Binding("escape", "back", "Back", id="hook.back"),
    ]

    def __init__(self, source: str, mode: str, root: str = "/") -> None:
        super().__init__()
        self.source, self.mode, self.root = source, mode, root
        self.edit: FileEdit | None = None
        self.planned = False  # the source is read and the hook planned by a worker
        self.can_write = False  # this user may write where the hook goes
        self.armed = False
        self.installing = False
        self.installed = ""

    def compose(self) -> ComposeResult:
        yield StepStrip("Build")
        with VerticalScroll(id="hook-preview"):
            yield Static(id="hook-script")
        yield Static(id="hook-state")
        yield Static(WHY, id="hook-why")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.query_one("#hook-preview").border_title = "Rebuild for every new kernel"
        self.show_state()
        self.plan_hook()

    @work(thread=True, exclusive=True, group="hook-plan")
    def plan_hook(self) -> None:
        """The source is read (its name goes into the script) and the hook folder looked at."""
        from kmodtui.core.remedies.hooks import hook_plan

        try:
            edit = hook_plan(self.source, self.mode, self.root)
        except KmodError as err:
            self.post_message(HookPlanned(None, shown(err, lines=True)))
        else:
            self.post_message(HookPlanned(edit, writable=writable(edit.path)))

    @on(HookPlanned)
    def planned_hook(self, message: HookPlanned) -> None:
        self.planned, self.edit, self.can_write = True, message.edit, message.writable
        if message.edit is None:
            self.query_one("#hook-script", Static).update(Text(message.error))
        else:
            self.query_one("#hook-script", Static).update(
                Text(shown(f"New file {message.edit.path} (mode 755):\n\n{message.edit.after.decode()}", lines=True)))
        self.show_state()

    def show_state(self, note: str = "") -> None:
        if not self.planned:
            text = "Reading the source..."
        elif self.installed:
            text = note
        elif self.edit is None:
            text = "Nothing to install."
        elif not self.can_write:
            command = (f"sudo {self_command()} hook install --source "
                       f"{scriptnames.shell(self.source)} --mode {scriptnames.shell(self.mode)}")
            text = f"Installing writes under /etc, which needs root. Run: {command}"
        else:
            text = note or "a installs it (press twice); nothing is written before."
        self.query_one("#hook-state", Static).update(Text(shown(text, lines=True)))
        self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "install":
            return self.edit is not None and not self.installed and not self.installing and self.can_write
        return True

    def action_install(self) -> None:
        assert self.edit is not None
        if not self.armed:
            self.armed = True
            self.show_state(f"Press a again to write {self.edit.path}.")
            return
        self.installing = True
        self.refresh_bindings()
        self.install(self.edit)

    @work(thread=True, exclusive=True, group="hook-install")
    def install(self, edit: FileEdit) -> None:
        """Written like a remedy (backup, fsync, rename), so `kmodtui remedy undo` removes it."""
        from kmodtui.core.remedies.edits import apply_edits

        try:
            self.post_message(RemedyDone("applied", apply_edits("hook-install", [edit])))
        except KmodError as err:
            self.post_message(RemedyDone("applied", error=str(err)))

    @on(RemedyDone)
    def installed_hook(self, message: RemedyDone) -> None:
        message.stop()
        assert self.edit is not None
        self.installing = False
        if message.error:
            self.armed = False
            self.show_state(f"Not installed: {message.error}")
            return
        self.installed = message.undo_id
        self.show_state(f"Installed {self.edit.path}. Remove it with: kmodtui remedy undo {message.undo_id}")

    def action_back(self) -> None:
        go_back(self.app)
