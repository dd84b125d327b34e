"""Diagnose a log the user already has (from the kernel picker, `l`): a file path, or text pasted
in; the answer is one root cause in plain words, with what to do (kmodtui/core/diagnose)."""

from __future__ import annotations

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Input, Static, TextArea

from kmodtui.core.vocabulary import Cause
from kmodtui.screens.nav import escape, go_back
from kmodtui.widgets.steps import StepStrip

# the causes whose fix the Secure Boot doctor explains (b opens it): a key rejected, a signature it cannot verify
DOCTOR_CAUSES = frozenset({Cause.MODULE_SIGNATURE_REJECTED.value, Cause.MODULE_SIGNATURE_UNSUPPORTED.value})


class Diagnosed(Message):
    def __init__(self, payload: dict | None, error: str = "") -> None:
        super().__init__()
        self.payload = payload
        self.error = error


def diagnosis_markup(payload: dict) -> str:
    primary = payload["primary"]
    if primary is None:
        harmless = sum(1 for f in payload["findings"] if f["tier"] == "harmless")
        return (f"[b]Nothing wrong found[/] in {payload['lines']} lines"
                + (f" ({harmless} harmless notice(s): BTF skipped, unsigned-module taint and the like)." if harmless
                   else "."))
    where = f"{escape(primary['file'])}:" if primary.get("file") not in (None, "", "pasted") else "line "
    parts = [f"[b]Cause: {escape(primary['title'])}[/]  ({primary['cause']})",
             f"{where}{primary['line_number']}: {escape(primary['line'].strip())}",
             *([f"[i]{escape(', '.join(f'{k}: {v}' for k, v in primary['details'].items()))}[/]"]
               if primary.get("details") else []), "",
             f"[b]What it means[/]\n{escape(primary['explanation'])}", "",
             f"[b]What to do[/]\n{escape(primary['fix'])}"]
    if primary["remedies"]:
        parts.append(f"\n[b]Remedies[/] {', '.join(primary['remedies'])}: build the module in kmodtui (Esc, then "
                     "pick the kernel and source) and r on the finding applies one, rebuilds and re-checks.")
    if primary["knock_on"]:
        parts.append(f"\n{len(primary['knock_on'])} later line(s) only report this failure "
                     f"(e.g. line {primary['knock_on'][0]['line_number']}: "
                     f"{escape(primary['knock_on'][0]['line'].strip()[:70])}).")
    others = [f for f in payload["findings"] if f["tier"] in ("root", "weak")
              and f["line_number"] != primary["line_number"]]
    if others:
        parts.append("\n[b]Also in the log[/]")
        parts += [f"  line {f['line_number']} {f['cause']}: {escape(f['line'].strip()[:70])}" for f in others[:8]]
    return "\n".join(parts)


class DiagnoseScreen(Screen[None]):
    HELP_TEXT = """Name the root cause of a failure log you already have: dkms's make.log, the output of an
`apt upgrade` whose dkms hook failed, yum/dnf `Requires: ksym(...)` errors, akmods logs, dmesg or
journal lines after modprobe, rpmbuild or kbuild output.
Type the log's path and press Enter, or paste the log into the box below and press ctrl+d.
The answer is the first real error, not the loudest line: "make: *** Error 2" and dpkg's
"error processing package" only report an earlier failure. Nothing in the log is run.
The same from a script: `kmodtui diagnose LOG [--json]`."""
    CSS_PATH = "wizard.tcss"
    DEFAULT_CSS = """
    DiagnoseScreen #diagnose-paste { height: 4; border: round $secondary; }
    DiagnoseScreen #diagnose-paste:focus { height: 12; }
    DiagnoseScreen #diagnose-answer-box { height: 1fr; border: round $primary; padding: 0 1; }
    DiagnoseScreen #diagnose-path { border: none; height: 1; padding: 0 1; }
    """
    BINDINGS = [
        # priority: the path field and the paste box would take ctrl+d (delete right) first
        Binding("ctrl+d", "diagnose_pasted", "Diagnose pasted", priority=True, key_display="ctrl+d",
                id="diagnose.pasted"),
        Binding("b", "doctor", "Secure Boot doctor", id="diagnose.doctor"),
        Binding("escape", "back", "Back", id="diagnose.back"),
    ]
    cause = ""  # the primary cause shown; b opens the Secure Boot doctor for a rejected or unverifiable signature

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "doctor":
            return self.cause in DOCTOR_CAUSES
        return True

    def action_doctor(self) -> None:
        from kmodtui.screens.secureboot import SecureBootScreen

        self.app.push_screen(SecureBootScreen([]))

    def compose(self) -> ComposeResult:
        yield StepStrip("Diagnose")
        yield Input(placeholder="path of a log file (make.log, apt term.log, dmesg...), Enter reads it",
                    id="diagnose-path")
        yield TextArea(id="diagnose-paste", soft_wrap=False)
        with VerticalScroll(id="diagnose-answer-box"):
            yield Static("Give a log: its path above, or paste it in the box and press ctrl+d.",
                         id="diagnose-answer")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.query_one("#diagnose-paste").border_title = "or paste a log here (ctrl+d diagnoses it)"
        self.query_one("#diagnose-answer-box").border_title = "Diagnosis"
        self.query_one("#diagnose-path", Input).focus()

    @on(Input.Submitted, "#diagnose-path")
    def path_entered(self, event: Input.Submitted) -> None:
        import os

        path = os.path.expanduser(event.value.strip())
        if path:
            self.query_one("#diagnose-answer", Static).update(f"Reading {escape(path)}...")
            self.run_diagnosis([path], "")

    def action_diagnose_pasted(self) -> None:
        text = self.query_one("#diagnose-paste", TextArea).text
        if not text.strip():
            self.notify("Paste a log into the box first (or type a path above).")
            return
        self.run_diagnosis([], text)

    @work(thread=True, exclusive=True, group="diagnose")
    def run_diagnosis(self, paths: list[str], text: str) -> None:
        from kmodtui.core.diagnose import diagnose_sources, read_logs
        from kmodtui.core.errors import KmodError
        from kmodtui.core.report.contract import diagnose_payload

        try:
            logs = read_logs(paths) if paths else [("pasted", text.splitlines())]
            self.post_message(Diagnosed(diagnose_payload(diagnose_sources(logs))))
        except KmodError as err:
            self.post_message(Diagnosed(None, str(err)))

    @on(Diagnosed)
    def show(self, message: Diagnosed) -> None:
        answer = self.query_one("#diagnose-answer", Static)
        if message.payload is None:
            answer.update(f"[b]Cannot read the log:[/] {escape(message.error)}")
        else:
            primary = message.payload.get("primary") or {}
            self.cause = primary.get("cause", "")
            extra = ("\n\n[b]b[/] opens the Secure Boot doctor: why this kernel rejects the key, from the trust facts "
                     "it reads here." if self.cause in DOCTOR_CAUSES else "")
            answer.update(diagnosis_markup(message.payload) + extra)
            self.refresh_bindings()
        box = self.query_one("#diagnose-answer-box")
        box.scroll_home(animate=False)
        box.focus()  # the answer is what to read now: arrows scroll it, ? helps, Esc goes back

    def action_back(self) -> None:
        """Esc leaves the paste box first (keeping what is there), then goes back."""
        if self.query_one("#diagnose-paste", TextArea).has_focus:
            self.query_one("#diagnose-answer-box").focus()
            return
        go_back(self.app)
