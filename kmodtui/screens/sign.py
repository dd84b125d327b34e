"""Sign the modules a build made, for a kernel that checks signatures (Secure Boot): with the
kernel's own scripts/sign-file and a key pair kmodtui makes on request, then the MOK step."""

from __future__ import annotations

import os

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Static

from kmodtui.core.errors import KmodError
from kmodtui.core.lifecycle.signing import (
    default_signing_key,
    make_signing_key,
    sign_modules,
)
from kmodtui.core.model import Kernel
from kmodtui.messages import Notice, SignaturesRead, SignDone
from kmodtui.screens.nav import escape, go_back
from kmodtui.widgets.steps import StepStrip

WHY = (
    "[b]Why sign?[/] A kernel built with MODULE_SIG checks each module's signature when it loads. "
    "With Secure Boot (or MODULE_SIG_FORCE) an unsigned module, or one signed by a key the machine "
    "does not trust, is refused ('Key was rejected by service'); otherwise it loads and taints the "
    "kernel. kmodtui signs with the kernel's own scripts/sign-file, as kbuild and dkms do; the key "
    "must then be enrolled once with mokutil."
)


def yes_no(value: bool | None) -> str:
    return "unknown" if value is None else "yes" if value else "no"


class SignScreen(Screen[None]):
    HELP_TEXT = """Secure Boot only loads modules signed with a key the firmware trusts. kmodtui makes a key pair
(kept in its state folder) and signs the built modules with the kernel's own sign-file.
The key must then be enrolled once with `mokutil --import` and a reboot; the pane shows the
command. Each module's line says what the kernel's signature rules make of it now; b opens the
Secure Boot doctor (the facts, the reasons and the one next step)."""
    CSS_PATH = "sign.tcss"
    BINDINGS = [
        Binding("s", "sign", "Sign", id="sign.sign"),
        Binding("n", "new_key", "New key", id="sign.new_key"),
        Binding("b", "doctor", "Will it load?", id="sign.doctor"),
        Binding("escape", "back", "Back", id="sign.back"),
    ]

    def __init__(self, modules: list[str], kernel: Kernel) -> None:
        super().__init__()
        self.modules = modules
        self.kernel = kernel
        self.key, self.cert = default_signing_key()
        self.outcome = ""
        self.before: dict[str, str] = {}  # each module's verdict when the screen opened, kept to show after signing

    def compose(self) -> ComposeResult:
        yield StepStrip("Build")
        with VerticalScroll(id="sign-body"):
            yield Static(id="sign-state")
        yield Static(WHY, id="sign-why")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.query_one("#sign-body").border_title = "Sign the built modules"
        self.refresh_state()

    def refresh_state(self) -> None:
        """Each module's signature is read (an ELF read) in a worker; the state is shown when done."""
        self.read_signatures()

    @work(thread=True, exclusive=True, group="sign-read")
    def read_signatures(self) -> None:
        from kmodtui.core.elf.module import read_module
        from kmodtui.core.report.secureboot import verdict_summary
        from kmodtui.core.secureboot import judge, read_cert, read_signer, read_state

        states = []
        # the verdict before and after signing (b: the whole doctor); the demo's kernel is not this machine's
        judged = not getattr(self.app, "demo", False)
        boot = read_state("/", self.kernel.release) if judged else None
        own = read_cert(self.cert)
        for path in self.modules:
            try:
                signature = read_module(path).signature
                state = f"signed ({signature.id_type})" if signature else "not signed"
                said = ""
                if boot is not None:
                    verdict = judge(read_signer(path), boot, own)
                    now = f"{verdict.outcome.upper()}: {verdict_summary(verdict, enforcement=False)}"
                    before = self.before.setdefault(path, now)
                    said = f"    Will it load here? {verdict.outcome.upper()}: {verdict_summary(verdict)}."
                    if before != now:
                        said += f"\n    Before signing: {before}."
            except KmodError as err:
                state, said = f"unreadable: {err.reason}", ""
            states.append(escape(f"  {os.path.basename(path):28} {state}"))
            if said:
                states.append(escape(said))
        if judged and states:
            states.append("    b: the facts behind this, and what to do next (Secure Boot doctor)")
        self.post_message(SignaturesRead(tuple(states), os.path.isfile(self.key) and os.path.isfile(self.cert)))

    @on(SignaturesRead)
    def show_state(self, message: SignaturesRead) -> None:
        message.stop()
        lines = [f"Kernel {escape(self.kernel.release)}: checks signatures (MODULE_SIG) {yes_no(self.kernel.module_sig)}, "
                 f"refuses unsigned modules (MODULE_SIG_FORCE) {yes_no(self.kernel.module_sig_force)}", ""]
        if self.outcome:  # first: at 80x24 what was just done (and the mokutil step) must not be below the fold
            lines += [self.outcome, ""]
        lines += message.states
        lines += ["", escape(f"Key  {self.key}"), escape(f"Cert {self.cert}"),
                  "  found: s signs with it" if message.have_key else "  none yet: n makes a new key pair (openssl), then s signs"]
        self.query_one("#sign-state", Static).update("\n".join(lines))

    def action_new_key(self) -> None:
        self.new_key()

    @work(thread=True, exclusive=True, group="sign")
    def new_key(self) -> None:
        if os.path.exists(self.key) or os.path.exists(self.cert):
            self.post_message(Notice("A key pair is already there; kmodtui never overwrites keys.", "warning", 5))
            return
        self.post_message(Notice("Making a key pair (RSA 2048; a few seconds on a small board)...", timeout=3))
        try:
            make_signing_key(os.path.dirname(self.key))
        except KmodError as err:
            self.post_message(SignDone(f"[b]Could not make a key:[/] {escape(err)}"))
        else:
            self.post_message(SignDone("A new key pair was made. s signs the modules with it."))

    def action_sign(self) -> None:
        self.notify("Signing...", timeout=2)
        self.sign()

    @work(thread=True, exclusive=True, group="sign")
    def sign(self) -> None:
        try:
            sign_modules(self.modules, self.kernel, self.key, self.cert)
        except KmodError as err:
            self.post_message(SignDone(f"[b]Not signed:[/] {escape(err)}"))
        else:
            self.post_message(SignDone(
                f"[b]Signed {len(self.modules)} module(s).[/] On a Secure Boot machine, trust the key once: "
                f"sudo mokutil --import {escape(self.cert)}, reboot, and enroll it in the blue MOK manager screen."))

    @on(SignDone)
    def sign_done(self, message: SignDone) -> None:
        message.stop()
        self.outcome = message.outcome
        self.refresh_state()

    def action_doctor(self) -> None:
        from kmodtui.screens.secureboot import SecureBootScreen

        self.app.push_screen(SecureBootScreen(self.modules))

    def action_back(self) -> None:
        go_back(self.app)
