"""Step 6: a remedy for the selected finding: preview (diff, commands, risk), apply with a backup,
undo, and rebuild + re-check where kmodtui knows the source and kernel."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Footer, Input, OptionList, Static
from textual.widgets.option_list import Option
from textual.worker import get_current_worker

from kmodtui.core.errors import KmodError, shown
from kmodtui.core.model import Kernel
from kmodtui.core.remedies import edits
from kmodtui.core.remedies.catalogue import RISKY, RemedyOptions, RemedyPlan, TargetNeeded, get_remedy
from kmodtui.messages import (
    DemoRebuildRequested,
    ProviderBuildRequested,
    ProvidersFound,
    RebuildRequested,
    RemedyDone,
    RemedyPlanned,
)
from kmodtui.screens.nav import escape, go_back
from kmodtui.widgets.steps import StepStrip

if TYPE_CHECKING:
    from kmodtui.core.build.recheck import PackageSet


@dataclass(frozen=True)
class RemedyContext:
    """What the screen that opened the remedy knows about the finding."""

    remedy_ids: tuple[str, ...]
    symbol: str = ""
    namespace: str = ""
    target: str = ""  # a spec, source folder or .deb, when known
    depends: str = ""
    kernel: Kernel | None = None
    source: str = ""  # module source folder
    record: str = ""  # the kmodtui build the finding came from: b rebuilds it with its own request
    # the kmodtui build that made the provider package whose spec the remedy edits: b rebuilds that
    # one, then checks `record`'s packages again with the provider's new ones
    provider_record: str = ""
    package_set: PackageSet | None = None  # the set checked, when it is not `record`'s packages
    problems_before: frozenset[tuple[str, str]] = frozenset()  # compared after the rebuild
    change: str = ""  # kernel-compat: the kernel API change the finding names (apichanges.toml id)
    demo: bool = False  # the demo's seed-000 story: b rebuilds the demo provider RPM from the edited spec


class RemedyScreen(Screen[None]):
    HELP_TEXT = """A remedy is a change kmodtui can make for you, previewed first as a diff. [b]a[/] applies it (it
asks again for a risky one); a backup is kept and [b]u[/] undoes it. Remedies never edit system
files: they change your module source, spec or package copy.
[b]b[/] rebuilds with the same source, kernel and mode, then the symbol browser says how many
problems the remedy fixed and which are still broken. [b]t[/] changes what the remedy edits."""
    CSS_PATH = "remedy.tcss"
    BINDINGS = [
        Binding("a", "apply", "Apply", id="remedy.apply"),
        Binding("u", "undo", "Undo", id="remedy.undo"),
        Binding("b", "rebuild", "Rebuild", id="remedy.rebuild"),
        Binding("t", "target", "Target", id="remedy.target"),
        Binding("p", "provider", "Provider", id="remedy.provider"),
        Binding("escape", "back", "Back", id="remedy.back"),
    ]

    def __init__(self, context: RemedyContext) -> None:
        super().__init__()
        self.context = context
        self.remedy_id = context.remedy_ids[0]
        self.plan: RemedyPlan | None = None
        self.undo_id: str | None = None
        self.confirming = False
        self.symvers: tuple[str, ...] = ()  # the provider's Module.symvers picked with p
        self.providers: tuple[str, ...] = ()  # the provider sources picked with p (built first)
        self._shown = False
        self._provider_asked = False  # the plan found builds of several sources: the choice opened once

    def compose(self) -> ComposeResult:
        yield StepStrip("Remedy", demo=self.context.demo)
        yield OptionList(*[Option(f"{r}  ({get_remedy(r).risk})", id=r) for r in self.context.remedy_ids],
                         id="remedy-list")
        # an Input draws its value as it is: a target whose name a terminal would act on is not put there
        target = self.context.target if shown(self.context.target) == self.context.target else ""
        yield Input(value=target, placeholder="t: the file or folder to fix (see the remedy's target)",
                    id="remedy-target")
        with VerticalScroll(id="remedy-preview"):
            yield Static(id="remedy-text")
        yield Static(id="remedy-status")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.query_one("#remedy-list").border_title = "Remedies for this finding"
        self.query_one("#remedy-preview").border_title = "Preview: what changes, what runs"
        self.query_one("#remedy-list", OptionList).focus()
        if self.context.target and not self.query_one("#remedy-target", Input).value:
            self.notify(f"The target {escape(self.context.target)} has control characters in its name: rename it, "
                        "or use `kmodtui remedy apply ... --target`.", severity="warning", timeout=12)
        self.preview()
        self.call_after_refresh(self.show_target_end)

    def show_target_end(self) -> None:
        """A long target path shows its end, the file's name, not the start all paths share (an
        Input scrolls to its cursor only once it moves)."""
        target = self.query_one("#remedy-target", Input)
        target.scroll_to(x=max(0, len(target.value) - target.content_region.width + 1), animate=False)

    def options(self) -> RemedyOptions:
        c = self.context
        return RemedyOptions(target=self.query_one("#remedy-target", Input).value.strip(), symbol=c.symbol,
                             namespace=c.namespace, depends=c.depends, symvers=self.symvers, providers=self.providers,
                             kernel_release=c.kernel.release if c.kernel else "", change=c.change)

    def preview(self) -> None:
        """The remedy planned in a worker (it reads its target, may ask rpm); shown when it is."""
        self.confirming = False
        self.plan_remedy(self.remedy_id, self.options())

    @work(thread=True, exclusive=True, group="remedy-plan")
    def plan_remedy(self, remedy_id: str, options: RemedyOptions) -> None:
        import dataclasses

        from kmodtui.core.remedies.source import ProviderChoice

        options = dataclasses.replace(options, mode=self._consumer_mode())
        choice: ProvidersFound | None = None
        try:
            planned = RemedyPlanned(remedy_id, get_remedy(remedy_id).plan(options))
        except ProviderChoice as err:  # builds of several sources export it: asked, never picked silently
            planned = RemedyPlanned(remedy_id, None, str(err))
            choice = ProvidersFound([p for p, _ in err.candidates], [], dict(err.candidates), asked=True)
        except KmodError as err:  # TargetNeeded: nothing named to edit yet (a set checked by hand names no spec)
            planned = RemedyPlanned(remedy_id, None, err.reason if isinstance(err, TargetNeeded) else str(err))
        if not get_current_worker().is_cancelled:  # another remedy or target was asked for since
            self.post_message(planned)
            if choice is not None:
                self.post_message(choice)

    @on(RemedyPlanned)
    def show_plan(self, message: RemedyPlanned) -> None:
        if message.remedy_id != self.remedy_id:
            return
        remedy = get_remedy(self.remedy_id)
        text = self.query_one("#remedy-text", Static)
        self.plan = message.plan
        if message.plan is None:
            text.update(f"[b]{remedy.title}[/] [{remedy.risk}]\n{escape(remedy.explanation)}\n\n"
                        f"Target: {escape(remedy.target)}\n[b]Cannot preview yet:[/] {escape(message.error)}\n"
                        + ("Press p to pick the module that exports it (t changes the target)."
                           if "press p" in message.error else "Press t to type the target path."))
            self._status("")
            return
        plan = message.plan
        parts = [f"[b]{escape(plan.title)}[/]  [{'b red' if plan.risk == RISKY else 'green'}]{plan.risk}[/]",
                 escape(plan.explanation)]
        if plan.warning:
            parts.append(f"[b red]WARNING:[/] {escape(plan.warning)}")
        diff = plan.diff()
        if diff:
            parts.append("\n".join(self._diff_line(line) for line in diff.rstrip("\n").split("\n")))
        if plan.commands:
            parts.append("Then run:\n" + "\n".join(f"  {escape(c)}" for c in plan.commands))
        text.update("\n\n".join(parts))
        if plan.edits:
            self._status("a applies (a backup is kept)")
        elif plan.rebuild and (self.context.provider_record or self.context.record):
            from kmodtui.core.build import modes

            how = f"in {plan.rebuild} mode" if modes.find(plan.rebuild) else "with its own request"
            whom = "the provider" if self.context.provider_record else "this build"
            self._status(f"Nothing to edit: b rebuilds {whom} {how} and re-checks.")
        else:
            self._status("Nothing to edit: run the commands shown.")

    @staticmethod
    def _diff_line(line: str) -> str:
        colour = "" if line.startswith(("+++", "---")) else {"+": "green", "-": "red"}.get(line[:1], "")
        return f"[{colour}]{escape(line)}[/]" if colour else escape(line)

    def _status(self, text: str) -> None:
        self.query_one("#remedy-status", Static).update(text)

    @on(OptionList.OptionHighlighted, "#remedy-list")
    def chosen(self, event: OptionList.OptionHighlighted) -> None:
        if event.option_id:
            self.remedy_id = event.option_id
            self.preview()

    @on(Input.Submitted, "#remedy-target")
    def target_entered(self) -> None:
        self.query_one("#remedy-list", OptionList).focus()
        if self.context.target and not self.query_one("#remedy-target", Input).value:
            self.notify(f"The target {escape(self.context.target)} has control characters in its name: rename it, "
                        "or use `kmodtui remedy apply ... --target`.", severity="warning", timeout=12)
        self.preview()
        self.call_after_refresh(self.show_target_end)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "provider":  # only the remedy that needs another module's exports
            return self.remedy_id == "kbuild-extra-symbols"
        return True

    def on_screen_resume(self) -> None:
        """Back from building a provider: its Module.symvers may be there now."""
        if self._shown:
            self.preview()
        self._shown = True  # the first time it is shown, on_mount has asked for the preview

    def action_provider(self) -> None:
        """Pick the module that exports the symbol: an earlier build's Module.symvers, or a source
        (a bundled example, one built before) that kmodtui builds first for the same kernel."""
        self.find_providers(self.context.symbol, self.context.source)

    @work(thread=True, exclusive=True, group="remedy-providers")
    def find_providers(self, symbol: str, source: str) -> None:
        """Earlier builds' Module.symvers and the C files of known sources, read for the symbol."""
        from kmodtui.core.build.record import list_builds
        from kmodtui.core.remedies.source import built_providers, provider_origin, source_providers
        from kmodtui.screens.source import bundled_examples

        built = built_providers(symbol) if symbol else []
        sources = source_providers(symbol, bundled_examples() + [r.get("source", "") for r in list_builds()])
        sources = [s for s in sources if os.path.realpath(s) != os.path.realpath(source or "")]
        origins = {path: provider_origin(path) for path in built}
        if not get_current_worker().is_cancelled:  # p pressed again: one choice opens
            self.post_message(ProvidersFound(built, sources, origins))

    @on(ProvidersFound)
    def providers_found(self, message: ProvidersFound) -> None:
        if isinstance(self.app.screen, ProviderScreen) or (message.asked and self._provider_asked):
            return  # one choice at a time; asked once unprompted (Esc there: the preview says p asks again)
        self._provider_asked = self._provider_asked or message.asked
        note = (f"Builds of {len(message.built)} different sources export it: kmodtui does not pick one for you. "
                if message.asked else "")
        self.app.push_screen(ProviderScreen(self.context.symbol, message.built, message.sources, message.origins,
                                            note=note), self._provider_picked)

    def _provider_picked(self, choice: tuple[str, str] | None) -> None:
        if choice is None:
            return
        kind, path = choice
        if kind == "symvers":
            self.symvers = (path,)
            self.preview()
            return
        kernel = self.context.kernel
        if kernel is None:
            self.notify("kmodtui does not know the kernel of this finding: build the provider from the wizard.",
                        severity="warning")
            return
        self.providers = tuple(dict.fromkeys((*self.providers, path)))  # the rebuild's request records it
        self.post_message(ProviderBuildRequested(path, kernel.build_dir or kernel.release,
                                                 self._consumer_mode() or "kbuild"))

    def _consumer_mode(self) -> str:
        """The mode the finding's build was made in (its status.json): a provider is built the same way."""
        from kmodtui.core.build.record import read_status

        mode = (read_status(self.context.record) or {}).get("mode") if self.context.record else ""
        return mode if isinstance(mode, str) else ""

    def action_target(self) -> None:
        self.query_one("#remedy-target", Input).focus()

    def action_apply(self) -> None:
        if self.plan is None or not self.plan.edits:
            self.notify("Nothing to apply here.", severity="warning")
            return
        if not self.confirming:
            self.confirming = True
            risk = " [b red]This remedy is RISKY: read the warning.[/]" if self.plan.risk == RISKY else ""
            self._status(f"Press a again to apply to {len(self.plan.edits)} file(s).{risk} Any other key cancels.")
            return
        self.confirming = False
        self._status("Applying (backup first, then each file replaced whole)...")
        self.apply(self.plan)

    @work(thread=True, exclusive=True, group="remedy")
    def apply(self, plan: RemedyPlan) -> None:
        """Backups, fsync and rename take a while on a board's SD card: off the event loop."""
        try:
            self.post_message(RemedyDone("applied", edits.apply_edits(plan.remedy, list(plan.edits))))
        except KmodError as err:
            self.post_message(RemedyDone("applied", error=str(err)))

    def action_undo(self) -> None:
        if not self.undo_id:
            self.notify("Nothing applied here yet.")
            return
        self.undo(self.undo_id)

    @work(thread=True, exclusive=True, group="remedy")
    def undo(self, undo_id: str) -> None:
        try:
            self.post_message(RemedyDone("undone", undo_id, restored=tuple(edits.undo(undo_id))))
        except KmodError as err:
            self.post_message(RemedyDone("undone", error=str(err)))

    @on(RemedyDone)
    def remedy_done(self, message: RemedyDone) -> None:
        message.stop()
        if message.action == "applied":
            if message.error:
                self._status(f"[b]Not applied:[/] {escape(message.error)}")
                return
            self.undo_id = message.undo_id
            rebuild = "  b rebuilds the provider's packages from it and re-checks." if self.context.provider_record \
                else "  b rebuilds and re-checks." if self.context.record else ""
            self._status(f"[b]Applied.[/] u undoes it (backup {self.undo_id}).{rebuild}")
        elif message.error:
            self._status(f"[b]Not undone:[/] {escape(message.error)}")
        else:
            self.undo_id = None
            self._status("Undone: " + escape(", ".join(message.restored)) + " restored byte for byte.")
            self.preview()

    def action_rebuild(self) -> None:
        if self.context.demo and self.context.target.endswith(".spec"):
            self.post_message(DemoRebuildRequested(self.context.target, self.context.problems_before))
            return
        mode = self.plan.rebuild if self.plan and self.plan.rebuild not in ("", "same") else ""
        providers = self.plan.providers if self.plan else ()
        if self.context.provider_record:
            then = self.context.record or self.context.package_set or ""  # checked again after the provider
            self.post_message(RebuildRequested(self.context.provider_record, self.context.problems_before, mode=mode,
                                               then_check=then))
            return
        if not self.context.record:
            self.notify("This finding does not come from a kmodtui build: build the module in kmodtui (Esc to the "
                        "kernel picker, then the source) so b can rebuild it, or run the commands shown.",
                        severity="warning", timeout=10)
            return
        self.post_message(RebuildRequested(self.context.record, self.context.problems_before, mode=mode,
                                           providers=providers))

    def action_back(self) -> None:
        go_back(self.app)

    def on_key(self, event) -> None:
        if self.confirming and event.key != "a":
            self.confirming = False
            self._status("Not applied.")


class ProviderScreen(ModalScreen[tuple[str, str] | None]):
    """Where the other module's exports come from: builds that made them, or sources to build."""

    DEFAULT_CSS = """
    ProviderScreen { align: center middle; }
    ProviderScreen > Vertical { width: 90%; max-width: 110; height: auto; max-height: 90%;
                                border: round $accent; background: $surface; padding: 0 1; }
    ProviderScreen OptionList { height: auto; max-height: 12; }
    """
    BINDINGS = [Binding("escape", "cancel", "Back", id="provider.back")]

    def __init__(self, symbol: str, built: list[str], sources: list[str], origins: dict[str, str] | None = None,
                 *, note: str = "") -> None:
        super().__init__()
        self.symbol = symbol
        self.choices = [("symvers", p) for p in built] + [("source", s) for s in sources]
        self.origins = origins or {}  # a build's Module.symvers -> where it came from (its build, its source)
        self.note = note

    def compose(self) -> ComposeResult:
        with Vertical():
            if self.choices:
                yield Static(f"{escape(self.note)}Which module exports [b]{escape(self.symbol)}[/]? "
                             "A build's Module.symvers is used "
                             "as it is; a source is built first (same kernel, same mode), then the rebuild records it as a "
                             "provider.")
                yield OptionList(*[Option(f"use the {escape(self.origins[path])}\n  {escape(path)}"
                                          if kind == "symvers" and path in self.origins else
                                          ("use the build: " if kind == "symvers" else "build the source: ")
                                          + escape(path), id=str(i))
                                   for i, (kind, path) in enumerate(self.choices)], id="provider-list")
            else:
                yield Static(f"No earlier build and no source kmodtui knows exports [b]{escape(self.symbol)}[/]. "
                             "Build the module that does in kmodtui (Esc to the kernel picker, its source, kbuild), "
                             "then come back: p finds it.")
            yield Footer(compact=True)

    def on_mount(self) -> None:
        if self.choices:
            self.query_one("#provider-list", OptionList).focus()

    @on(OptionList.OptionSelected, "#provider-list")
    def picked(self, event: OptionList.OptionSelected) -> None:
        if event.option_id is not None:
            self.dismiss(self.choices[int(event.option_id)])

    def action_cancel(self) -> None:
        self.dismiss(None)
