"""Step 4: the build, live. Follows the log a detached runner writes, so closing this screen (or
losing the SSH link) does not stop the build; `kmodtui attach` comes back to it."""

from __future__ import annotations

import os
import time

from rich.highlighter import Highlighter
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.reactive import var
from textual.widgets import Footer, Log, Static
from textual.worker import Worker, get_current_worker

from kmodtui.core.build import record as buildrecord
from kmodtui.core.build.logfollow import LogFollower
from kmodtui.core.build.logscan import LogFinding, scan_line
from kmodtui.core.errors import shown
from kmodtui.messages import BuildFinished, BuildLogRead, BuildRecordRead, Notice
from kmodtui.screens.buildnext import BuildNextSteps
from kmodtui.screens.nav import escape, go_back
from kmodtui.widgets.steps import StepStrip

MAX_SHOWN_LINES = 20_000  # the whole log stays on disk; the screen keeps the tail
MAX_KEPT_FINDINGS = 500  # a runaway log repeats its errors; the first ones say what to do
# Log.write_lines takes ~1 us a line here: 4,000 lines are a few ms of the event loop per batch
LINES_PER_BATCH = 4_000


class BuildLogHighlighter(Highlighter):
    """Errors and warnings stand out; done per visible line at paint time, so it costs nothing per write."""

    def highlight(self, text: Text) -> None:
        plain = text.plain
        if "error" in plain or "ERROR" in plain or "Error!" in plain:
            text.stylize("bold red")
        elif "warning" in plain or "WARNING" in plain:
            text.stylize("yellow")
        elif plain.startswith("###") or plain.startswith("==>"):
            text.stylize("bold")


class BuildScreen(BuildNextSteps):
    HELP_TEXT = """The build, live. It runs detached: closing kmodtui or losing the SSH link does not stop it;
`kmodtui attach` (or b on the kernel picker) comes back to it.
The lower pane lists findings: what went wrong, in plain words, and what to do. [b]e[/] jumps to
the first error in the log, [b]r[/] previews the remedies for it.
When the build is done, Enter checks what it made (modules, or the packages as a set, as rpm
or dpkg would) in the symbol browser. [b]c[/] cancels a running build (asks first)."""
    CSS_PATH = "build.tcss"
    BINDINGS = [
        Binding("c", "cancel", "Cancel", id="build.cancel"),
        Binding("e", "first_error", "Error", id="build.first_error"),
        Binding("enter", "symbols", "Symbols", id="build.symbols", key_display="Enter"),
        Binding("r", "remedy", "Remedy", id="build.remedy"),
        Binding("s", "sign", "Sign", id="build.sign"),
        Binding("h", "hook", "Hook", id="build.hook"),
        Binding("l", "latest", "Latest build", id="build.latest"),
        Binding("escape", "back", "Back", id="build.back"),
    ]

    # What drives the status line: each change redraws it (watch_ methods below), with `state` and
    # `finished` (BuildNextSteps).
    line_count: var[int] = var(0, init=False)
    errors: var[int] = var(0, init=False)
    confinement: var[str] = var("", init=False)  # how its source's steps run, as its record says
    # a rebuild of this build was started since (its record dir): this screen is history, l opens that one
    superseded_by: var[str] = var("", init=False, bindings=True)

    def __init__(self, record_dir: str, *, poll_interval: float = 0.05) -> None:
        super().__init__()
        self.record_dir = record_dir
        self.status: dict = {}
        self.log_path = os.path.join(record_dir, "work", "build.log")  # until the record names it
        self.poll_interval = poll_interval
        self.findings: list[LogFinding] = []
        self.more_findings = 0
        self.finish_note = ""
        self._primary_text = ""  # a failed build's root cause, once the runner has named it

    def compose(self) -> ComposeResult:
        yield StepStrip("Build")
        yield Static(id="build-status")
        log = Log(highlight=True, max_lines=MAX_SHOWN_LINES, id="build-log")
        log.highlighter = BuildLogHighlighter()
        yield log
        with VerticalScroll(id="build-findings-box"):
            yield Static("No problems found yet.", id="build-findings")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.query_one("#build-findings-box").border_title = "Findings: what happened, what to do"
        self._show_status()
        self.follow()

    # ---- following the build: its log and record are read in a worker, shown by the handlers ------

    @work(thread=True, exclusive=True, group="build-follow")
    def follow(self) -> None:
        """Read what the runner writes, as it comes: new log lines (scanned for findings and made safe
        to show here, in batches the screen writes at once), and its record every 10th read or when the
        log is quiet, until the build is over and the whole log is read."""
        worker = get_current_worker()
        status = buildrecord.read_status(self.record_dir) or {}
        follower = LogFollower(status.get("log") or self.log_path)
        line_count = reads = 0
        while not worker.is_cancelled:
            lines = follower.read_new_lines()
            if lines:
                line_count = self._post_lines(lines, line_count, worker)
            if reads % 10 == 0 or not lines:
                status, state = buildrecord.read_effective(self.record_dir, status)
                done = state != buildrecord.RUNNING and follower.at_end()
                self.post_message(BuildRecordRead(status, state or "?", follower.path, done))
                if done:
                    return
            reads += 1
            time.sleep(self.poll_interval)  # what the build writes meanwhile is the next batch

    def _post_lines(self, lines: list[str], line_count: int, worker: Worker) -> int:
        """Scan every line; hand over the last MAX_SHOWN_LINES (what the Log would keep: the rest would
        be pruned at once) as text, since a source's Makefile can echo anything (ESC, OSC 52). A slice
        at a time, each once the screen has shown the one before: no backlog of messages grows, and a
        runaway log leaves the event loop's thread its turns at the interpreter."""
        skipped = max(0, len(lines) - MAX_SHOWN_LINES)
        for start in range(0, len(lines), LINES_PER_BATCH):
            part = lines[start:start + LINES_PER_BATCH]
            findings = [finding for offset, line in enumerate(part)
                        if (finding := scan_line(line, line_count + start + offset + 1)) is not None]
            kept = part[max(0, skipped - start):]
            batch = BuildLogRead([shown(line, lines=True) for line in kept], findings, line_count + start + len(part))
            self.post_message(batch)
            while not batch.shown.wait(0.1):
                if worker.is_cancelled:
                    break
            if worker.is_cancelled:
                break
        return line_count + len(lines)

    @on(BuildLogRead)
    def show_lines(self, message: BuildLogRead) -> None:
        try:
            log = self.query_one(Log)
            log.write_lines(message.lines)
            if not log.border_subtitle and any(len(line) > log.size.width for line in message.lines):
                log.border_subtitle = "lines go on: Right/Left scroll, Home/End"
            if message.findings:
                room = MAX_KEPT_FINDINGS - len(self.findings)
                self.findings += message.findings[:max(0, room)]
                self.more_findings += max(0, len(message.findings) - max(0, room))
                self._update_findings()
                self.errors = sum(1 for f in self.findings if f.severity == "error") + self.more_findings
            self.line_count = message.line_count
        finally:
            message.shown.set()

    @on(BuildRecordRead)
    def show_record(self, message: BuildRecordRead) -> None:
        self.status = message.status
        self.log_path = message.log_path
        self.state = message.state
        self.confinement = confinement_words(self.status.get("confinement"))
        if message.done and not self.finished:
            # computed once, from the same read that said the build is over (its final record)
            state = message.state
            artifacts = self.status.get("artifacts") or []
            if artifacts:
                self.finish_note = ("built " + escape(", ".join(os.path.basename(a) for a in artifacts[:4]))
                                    + (f" and {len(artifacts) - 4} more" if len(artifacts) > 4 else "")
                                    + (": Enter checks them, s signs, h rebuilds for every new kernel"
                                       if state == buildrecord.SUCCEEDED else
                                       f", but the build did not succeed ({state}): e jumps to the first error"))
            elif state == buildrecord.SUCCEEDED:
                self.finish_note = "it succeeded but made no module or package: the log says where it stopped"
            else:
                self.finish_note = "nothing built: e jumps to the first error"
            primary = self.status.get("primary")
            if isinstance(primary, dict) and primary.get("title"):
                self._show_primary(primary)
            elif not self.findings:
                self.query_one("#build-findings", Static).update(
                    "No problems found." if state == buildrecord.SUCCEEDED else
                    f"The build {state}, and no line of its log matches a known cause: read the last lines of the "
                    f"log above (all of it: {escape(self.log_path)}).")
            self.finished = True
            self.post_message(BuildFinished(self.record_dir, self.status))

    def watch_state(self) -> None:
        self._show_status()

    def watch_line_count(self) -> None:
        self._show_status()

    def watch_errors(self) -> None:
        self._show_status()

    def watch_finished(self) -> None:
        self._show_status()

    def watch_confinement(self) -> None:
        self._show_status()

    def watch_superseded_by(self) -> None:
        self.query_one("#build-status").set_class(bool(self.superseded_by), "-history")
        self._show_status()

    def action_latest(self) -> None:
        """The build that replaced this one (a rebuild after a remedy), on a screen of its own."""
        if self.superseded_by:
            self.app.push_screen(BuildScreen(self.superseded_by))

    def _show_status(self) -> None:
        """Lines of their own (what and how far; how it is confined; what it made and what next),
        each ending where the terminal does, never wrapped mid-phrase."""
        text = (f"[b]{escape(self.state or '?')}[/]  " + escape(f"{self.status.get('mode', '')} build of "
                f"{os.path.basename(self.status.get('source', ''))} for {self.status.get('kernel', '')}")
                + f" | {self.line_count} lines, {self.errors} error(s)")
        if self.confinement:
            text += "\n" + self.confinement
        if self.finish_note:
            text += "\n" + self.finish_note
        if self.superseded_by:
            text = (f"[b reverse] OLDER BUILD [/] rebuilt since as {escape(os.path.basename(self.superseded_by))}: "
                    "l opens the latest\n" + text)
        self.query_one("#build-status", Static).update(text)

    def _show_primary(self, primary: dict) -> None:
        """The root cause first (the engine `kmodtui diagnose` uses), then the other findings."""
        remedies = f"  [i]remedies: {', '.join(primary.get('remedies') or [])}[/]" if primary.get("remedies") else ""
        knock = len(primary.get("knock_on") or [])
        head = (f"[b]Cause: {escape(str(primary['title']))}[/] (line {primary.get('line_number')}, "
                f"{escape(primary.get('cause'))})\n  {escape(str(primary.get('line', '')).strip())}\n"
                f"  [b]What to do:[/] {escape(str(primary.get('fix', '')))}{remedies}"
                + (f"\n  ({knock} later line(s) only report this failure)" if knock else ""))
        self._primary_text = head
        self._update_findings()

    def _update_findings(self) -> None:
        listed = [f for f in self.findings if f.severity != "info"][:30] or self.findings[:5]
        parts = []
        for f in listed:
            remedies = f"  [i]remedies: {', '.join(f.all_remedies())}[/]" if f.all_remedies() else ""
            parts.append(f"[b]line {f.line_number}[/] {escape(f.title)}\n  {escape(f.fix)}{remedies}")
        if self.more_findings:
            parts.append(f"... and {self.more_findings} more (the full log: {escape(self.log_path)})")
        if self._primary_text:
            parts = [self._primary_text, "", "[b]Every finding:[/]", *parts]
        self.query_one("#build-findings", Static).update("\n".join(parts))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """The footer shows what applies now: Cancel while it runs; Symbols and Sign once it is done."""
        if action == "cancel":
            return not self.finished
        if action == "sign":  # a failed build's leftovers are not offered for signing (nor re-signed packages)
            return self.finished and self.state == buildrecord.SUCCEEDED
        if action in ("symbols", "hook"):
            return self.finished
        if action == "latest":
            return bool(self.superseded_by)
        return True

    def action_first_error(self) -> None:
        errors = [f for f in self.findings if f.severity == "error"]
        if not errors:
            self.notify("No error found in the log so far.")
            return
        log = self.query_one(Log)
        hidden = max(0, self.line_count - log.line_count)
        log.auto_scroll = False
        log.scroll_to(y=max(0, errors[0].line_number - 1 - hidden), animate=False)

    def action_cancel(self) -> None:
        if self.finished:
            self.notify("The build is not running.")
            return
        from kmodtui.screens.nav import ConfirmScreen

        self.app.push_screen(ConfirmScreen("Cancel this build? What it made so far is thrown away; the log is kept."),
                             lambda yes: self._cancel() if yes else None)

    def _cancel(self) -> None:
        self.stop_runner(dict(self.status))

    @work(thread=True, exclusive=True, group="build-cancel")
    def stop_runner(self, status: dict) -> None:
        # Only a recorded pid that is a live kmodtui runner is signalled (never -1, never a reused pid).
        if buildrecord.stop(buildrecord.read_status(self.record_dir) or status):
            self.post_message(Notice("Cancelling the build...", timeout=5))
        else:
            self.post_message(Notice("The build is not running (no live kmodtui runner recorded for it).", timeout=5))

    def action_back(self) -> None:
        if not self.finished:
            self.notify("The build goes on in the background: b on the kernel picker lists it.", timeout=4)
        go_back(self.app)


def confinement_words(confinement: object) -> str:
    """The header's words for how the build runs: confined, or UNCONFINED and why (record's summary)."""
    if not isinstance(confinement, dict) or not isinstance(confinement.get("summary"), str):
        return ""
    if confinement.get("confined"):
        return escape(confinement["summary"])
    return "[b reverse] UNCONFINED [/] " + escape(str(confinement.get("reason", "")))
