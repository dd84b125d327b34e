"""The Secure Boot doctor: will these modules load, by the kernel's signature rules applied to the
boot's trust facts (EFI, Secure Boot, lockdown, keyrings, MOK), and the one next step. Opened from
the sign screen (b) and from a diagnosis whose cause is module_signature_rejected (b)."""

from __future__ import annotations

import os
from dataclasses import dataclass

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Static

from kmodtui.screens.nav import escape, go_back
from kmodtui.widgets.steps import StepStrip

COLOUR = {"will load": "green", "will load tainted": "yellow", "will be refused": "red", "unknown": "magenta"}


@dataclass
class DoctorRead(Message):
    """The doctor read the facts and judged the modules: the lines to show (markup)."""

    lines: tuple[str, ...]


def doctor_lines(modules: list[str]) -> list[str]:
    """Verdicts first (what a user came for), then the facts they rest on; markup, inputs escaped."""
    from kmodtui.core.elf.module import read_module
    from kmodtui.core.errors import KmodError
    from kmodtui.core.lifecycle.signing import default_signing_key
    from kmodtui.core.report.secureboot import boot_lines, verdict_lines
    from kmodtui.core.secureboot import judge, read_cert, read_signer, read_state

    lines: list[str] = []
    release = ""
    try:
        vermagic = read_module(modules[0]).vermagic if modules else ""
        release = vermagic.split()[0] if vermagic else ""
    except KmodError:
        pass
    state = read_state("/", release)
    own = read_cert(default_signing_key()[1])
    for path in modules:
        try:
            verdict = judge(read_signer(path), state, own)
        except KmodError as err:
            lines += [f"[b]{escape(path)}[/]: unreadable: {escape(err.reason)}", ""]
            continue
        words = verdict_lines(verdict)
        colour = COLOUR.get(verdict.outcome, "white")
        lines.append(f"[b]{escape(os.path.basename(path) + words[0].removeprefix(path))}[/]")  # the path wraps at 80
        lines.append(f"  [{colour} b]{escape(verdict.outcome.upper())}[/] by the kernel's rules applied to the facts read:")
        lines += [escape(w) for w in words[2:]]
        lines.append("")
    if not modules:
        lines += ["No module named: the boot's trust facts only (kmodtui secureboot --module M.ko judges one).", ""]
    lines.append("[b]Facts read[/]")
    lines += [escape(line) for line in boot_lines(state)]
    return lines


class SecureBootScreen(Screen[None]):
    HELP_TEXT = """Why a module will or will not load under Secure Boot. kmodtui reads the boot's trust facts
(EFI, Secure Boot, lockdown, module.sig_enforce, the kernel config, the keyrings the kernel trusts,
the keys enrolled in MOK and those pending) and each module's signature (signer, key id, hash, as
modinfo shows them), applies the kernel's signature rules, and names the one next step.
A fact it cannot read is said, with what it leaves unknown: it never guesses.
r reads everything again (after signing, enrolling or rebooting). The same from a script:
`kmodtui secureboot --module M.ko [--json]`."""
    DEFAULT_CSS = """
    SecureBootScreen #doctor-box { height: 1fr; border: round $primary; padding: 0 1; }
    """
    BINDINGS = [
        Binding("r", "reread", "Read again", id="secureboot.reread"),
        Binding("escape", "back", "Back", id="secureboot.back"),
    ]

    def __init__(self, modules: list[str]) -> None:
        super().__init__()
        self.modules = modules

    def compose(self) -> ComposeResult:
        yield StepStrip("Build")
        with VerticalScroll(id="doctor-box"):
            yield Static("Reading the boot's trust facts...", id="doctor-text")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#doctor-box").border_title = "Secure Boot doctor: will it load?"
        self.read()

    def action_reread(self) -> None:
        self.query_one("#doctor-text", Static).update("Reading the boot's trust facts...")
        self.read()

    @work(thread=True, exclusive=True, group="secureboot")
    def read(self) -> None:
        self.post_message(DoctorRead(tuple(doctor_lines(self.modules))))

    @on(DoctorRead)
    def show(self, message: DoctorRead) -> None:
        message.stop()
        self.query_one("#doctor-text", Static).update("\n".join(message.lines))
        self.query_one("#doctor-box").focus()

    def action_back(self) -> None:
        go_back(self.app)
