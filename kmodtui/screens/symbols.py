"""The symbol browser: every symbol a module needs, who provides it, and what to do about it."""

from __future__ import annotations

import os

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Input, Static

from kmodtui.core.model import Finding, crc_hex
from kmodtui.core.resolve.browse import GROUPS, STATUS_FILTERS, BrowserModel
from kmodtui.core.resolve.result import ResolveResult
from kmodtui.core.vocabulary import Status
from kmodtui.widgets.steps import StepStrip
from kmodtui.widgets.symbol_table import STATUS_LABELS, SymbolTable, header_line


def problem_keys(result: ResolveResult) -> frozenset[tuple[str, str]]:
    """(module file name, symbol) of every problem: what a remedy's re-check compares."""
    return frozenset((os.path.basename(f.module), f.symbol) for f in result.problems)


def explain_finding(finding: Finding) -> str:
    where = os.path.basename(finding.module)
    title = f"[b]{STATUS_LABELS.get(finding.status, finding.status)}[/]  {where}"
    if finding.symbol:
        title += f"  [b]{finding.symbol}[/]"
    crcs = ""
    if finding.crc is not None or finding.provided_crc is not None:
        crcs = (f"\nneeds CRC {crc_hex(finding.crc) if finding.crc is not None else '-'}, "
                f"provided {crc_hex(finding.provided_crc) if finding.provided_crc is not None else '-'}"
                f" by {finding.provider or 'nobody'}")
    remedies = f"\nRemedies: {', '.join(finding.remedies)}  (see `kmodtui remedy show ID`)" if finding.remedies else ""
    concept = Status(finding.status).concept if finding.status in STATUS_LABELS else ""
    return f"{title}{crcs}\n{finding.explanation}{remedies}" + (f"\n[i]{concept}[/]" if concept else "")


class SymbolsScreen(Screen[None]):
    CSS_PATH = "symbols.tcss"
    BINDINGS = [
        Binding("slash", "search", "Filter", id="symbols.search"),
        Binding("p", "problems", "Problems", id="symbols.problems"),
        Binding("f", "cycle_status", "Status", id="symbols.status"),
        Binding("g", "cycle_group", "Group", id="symbols.group"),
        Binding("r", "remedy", "Remedy", id="symbols.remedy"),
        Binding("escape", "clear", "Clear filter", id="symbols.clear", show=False),
        Binding("question_mark", "help", "Help", id="symbols.help"),
    ]

    def __init__(self, result: ResolveResult, *, demo: bool = False, source: str = "",
                 previous: frozenset[tuple[str, str]] | None = None, remedy_target: str = "", context: str = "",
                 record: str = "") -> None:
        super().__init__()
        self.record = record  # the kmodtui build these results check, if any: b after a remedy rebuilds it
        self.context = context  # what was checked, when it is not the wizard's build (e.g. an update check)
        self.result = result
        self.demo = demo
        self.source = source  # the module source these results came from, when built in the wizard
        self.previous = previous  # (module, symbol) problems before a remedy: the fixed / still broken summary
        self.remedy_target = remedy_target  # what package remedies edit when kmodtui knows it (the demo's spec)
        self.model = BrowserModel.from_result(result)
        self.query_text = ""
        self.status_filter = "problems" if not result.ok else "all"
        self.group = GROUPS[0]
        self._summary_text = ""
        self._detail_index: int | None = -1

    def compose(self) -> ComposeResult:
        yield StepStrip("Symbols", demo=self.demo)
        yield Static(id="symbols-summary")
        yield Input(placeholder="/ to filter by module, symbol, status or provider", id="symbols-filter")
        yield Static(header_line(200), id="symbols-header")
        yield SymbolTable(self.model.rows, id="symbols-table")
        with VerticalScroll(id="symbols-detail"):
            yield Static(id="symbols-explanation")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#symbols-detail").border_title = "What this means"
        self._update_summary()
        self.refilter()
        self.query_one(SymbolTable).focus()

    def _update_summary(self) -> None:
        counts = self.model.counts()
        kernel = self.result.kernel.release if self.result.kernel else "?"
        parts = [f"{STATUS_LABELS.get(s, s)} {n}" for s, n in counts.items() if n]
        verdict = "[b]all symbols resolve[/]" if self.result.ok else f"[b]{self.result.problem_count} problem(s)[/]"
        if self.context:  # it names the kernel already
            verdict = f"[b]{'DEMO ' if self.demo else ''}{self.context}[/] {verdict}"
        else:
            verdict = f"{'[b]DEMO, seed 000:[/] ' if self.demo else ''}{verdict} against {kernel}"
        text = f"{verdict}: {', '.join(parts)}  |  showing {self.status_filter}, grouped by {self.group}"
        if self.previous is not None:
            text = self._comparison() + "  " + text
        if text != self._summary_text:  # an unchanged update would still re-layout the screen
            self._summary_text = text
            self.query_one("#symbols-summary", Static).update(text)

    def _comparison(self) -> str:
        assert self.previous is not None
        before, after = self.previous, problem_keys(self.result)
        return (f"[b]after the remedy: {len(before - after)} fixed, {len(before & after)} still broken"
                f"{f', {len(after - before)} new' if after - before else ''}[/] |")

    def refilter(self) -> None:
        table = self.query_one(SymbolTable)
        table.show(self.model.visible(self.query_text, self.status_filter, self.group))
        self._update_summary()

    @on(Input.Changed, "#symbols-filter")
    def filter_changed(self, event: Input.Changed) -> None:
        self.query_text = event.value
        self.refilter()

    @on(Input.Submitted, "#symbols-filter")
    def filter_done(self) -> None:
        self.query_one(SymbolTable).focus()

    @on(SymbolTable.Highlighted)
    def show_detail(self, message: SymbolTable.Highlighted) -> None:
        if message.index == self._detail_index:
            return
        self._detail_index = message.index
        detail = self.query_one("#symbols-explanation", Static)
        if message.index is None:
            detail.update("Nothing matches this filter. Press Escape to clear it, or f for another status.")
        else:
            detail.update(explain_finding(self.model.finding(message.index)))

    def action_search(self) -> None:
        self.query_one("#symbols-filter", Input).focus()

    def action_clear(self) -> None:
        self.query_one("#symbols-filter", Input).value = ""
        self.query_one(SymbolTable).focus()

    def action_problems(self) -> None:
        self.status_filter = "all" if self.status_filter == "problems" else "problems"
        self.refilter()

    def action_cycle_status(self) -> None:
        self.status_filter = STATUS_FILTERS[(STATUS_FILTERS.index(self.status_filter) + 1) % len(STATUS_FILTERS)]
        self.refilter()

    def action_cycle_group(self) -> None:
        self.group = GROUPS[(GROUPS.index(self.group) + 1) % len(GROUPS)]
        self.refilter()

    def action_remedy(self) -> None:
        from kmodtui.screens.remedy import RemedyContext, RemedyScreen

        index = self.query_one(SymbolTable).current_index
        if index is None:
            return
        finding = self.model.finding(index)
        if not finding.remedies:
            self.notify("No remedy in the catalogue for this one: the explanation below says what to do.")
            return
        # a package finding carries its dependency: the symbol of ksym(name) = crc, no string splitting
        symbol = finding.requirement.symbol if finding.requirement and finding.requirement.symbol else finding.symbol
        provider = self.result.providers.get(symbol)
        target = ""
        for package in self.result.packages:
            if package.nevra == finding.module and package.path.endswith(".deb"):
                target = package.path
        self.app.push_screen(RemedyScreen(RemedyContext(
            tuple(finding.remedies), symbol=symbol, namespace=provider.namespace if provider else "",
            target=target or (self.remedy_target if finding.module in {p.nevra for p in self.result.packages} else "")
            or self.source, depends=finding.provider if target else "",
            kernel=self.result.kernel, source=self.source, record=self.record,
            problems_before=problem_keys(self.result))))

    def action_help(self) -> None:
        self.notify(
            "Up/Down/PgUp/PgDn move; / filters by text (Enter returns to the table, Escape clears); "
            "p toggles problems only; f cycles status filters; g groups by module, provider or status; "
            "r previews the remedies for the selected finding. "
            "The pane below explains the selected symbol and names the remedies that apply.",
            title="Symbol browser", timeout=12,
        )
