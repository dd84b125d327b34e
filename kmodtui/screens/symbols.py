"""The symbol browser: every symbol a module needs, who provides it, and what to do about it."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Input, Static
from textual.worker import get_current_worker

from kmodtui.core.model import Finding, crc_hex
from kmodtui.core.resolve.browse import GROUPS, STATUS_FILTERS, BrowserModel
from kmodtui.core.resolve.result import ResolveResult
from kmodtui.core.vocabulary import Status
from kmodtui.messages import ProviderSpecFound
from kmodtui.screens.nav import escape, go_back
from kmodtui.widgets.steps import StepStrip
from kmodtui.widgets.symbol_table import STATUS_LABELS, SymbolTable, header_line

if TYPE_CHECKING:
    from kmodtui.core.build.recheck import PackageSet


class ExplanationPane(VerticalScroll):
    """The explanation under the table; z gives it the whole screen (a container is not maximizable
    by default in Textual: Screen.maximize refuses it silently)."""

    ALLOW_MAXIMIZE = True


def problem_keys(result: ResolveResult) -> frozenset[tuple[str, str]]:
    """(module file name, symbol) of every problem: what a remedy's re-check compares."""
    return frozenset((os.path.basename(f.module), f.symbol) for f in result.problems)


def explain_finding(finding: Finding) -> str:
    """The explanation pane's markup: the module's file name, the symbol, the provider and the
    explanation (which names them) come from the modules read, so each is escaped."""
    where = escape(os.path.basename(finding.module))
    title = f"[b]{STATUS_LABELS.get(finding.status, finding.status)}[/]  {where}"
    if finding.symbol:
        title += f"  [b]{escape(finding.symbol)}[/]"
    crcs = ""
    if finding.crc is not None or finding.provided_crc is not None:
        crcs = (f"\nneeds CRC {crc_hex(finding.crc) if finding.crc is not None else '-'}, "
                f"provided {crc_hex(finding.provided_crc) if finding.provided_crc is not None else '-'}"
                f" by {escape(finding.provider or 'nobody')}")
    remedies = f"\nRemedies: {', '.join(finding.remedies)}  (see `kmodtui remedy show ID`)" if finding.remedies else ""
    concept = Status(finding.status).concept if finding.status in STATUS_LABELS else ""
    return f"{title}{crcs}\n{escape(finding.explanation)}{remedies}" + (f"\n[i]{concept}[/]" if concept else "")


class SymbolsScreen(Screen[None]):
    HELP_TEXT = """Every kernel symbol the module needs, who provides it (the kernel, another module, a package)
and whether the CRC matches. Rows with a problem come first; the pane below explains the
selected row in plain words and names the remedies that apply.
  [b]/[/] filter by module, symbol, status or provider (Esc clears it)
  [b]p[/] problems only / everything
  [b]f[/] next status
  [b]s[/] or [b]g[/] sort (group) by module, symbol, provider or status
  [b]z[/] the explanation over the whole screen, and back
  [b]Tab[/] into the explanation pane: arrows and PageDown scroll it
  [b]r[/] a remedy for the selected row: preview, apply, rebuild, re-check
[i]ksym(name) = 0xCRC[/]: the dependency a kmod RPM has on a kernel symbol. rpm refuses the
package unless something installed Provides exactly that."""
    CSS_PATH = "symbols.tcss"
    BINDINGS = [
        Binding("slash", "search", "Filter", key_display="/", id="symbols.search"),
        Binding("p", "problems", "Problems", id="symbols.problems"),
        Binding("f", "cycle_status", "Status", show=False, tooltip="Status: show the next status only",
                id="symbols.status"),  # in the help and the palette: the footer has room for 8 keys
        Binding("s", "cycle_sort", "Sort", id="symbols.sort"),
        Binding("g", "cycle_sort", "Sort", show=False, id="symbols.group"),
        Binding("z", "zoom", "Zoom", id="symbols.zoom"),
        Binding("r", "remedy", "Remedy", id="symbols.remedy"),
        Binding("escape", "back", "Back", id="symbols.back"),
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
        self.newer: SymbolsScreen | None = None  # a later check of the same thing (after a remedy's rebuild)
        self.refreshed = False

    def subject(self) -> tuple[str, str, str]:
        """What these results check: the demo, a source, a package set's spec, or an update check;
        on which kernel. A later result of the same subject replaces this one's (it is history)."""
        what = "demo" if self.demo and not self.context else (self.context or self.source or self.remedy_target
                                                              or self.record)
        return what, self.result.kernel.release if self.result.kernel else "", self.context and "update" or ""

    def on_screen_resume(self) -> None:
        """Esc walked back here after a later check of the same thing: show that one (refreshed in
        place, said so), not results a remedy has since changed."""
        newer, self.newer = self.newer, None
        if newer is None:
            return
        while newer.newer is not None:
            newer = newer.newer
        self.result, self.previous, self.record = newer.result, newer.previous, newer.record
        self.model = BrowserModel.from_result(newer.result)
        self.query_one(SymbolTable).rows = self.model.rows
        self.status_filter = "problems" if not newer.result.ok else "all"
        self._detail_index = -1
        self.refreshed = True
        self.refilter()
        self.notify("Refreshed: this screen now shows the latest check (after the remedy's rebuild).", timeout=4)

    def compose(self) -> ComposeResult:
        yield StepStrip("Symbols", demo=self.demo)
        yield Static(id="symbols-summary")
        yield Input(placeholder="/ to filter by module, symbol, status or provider", id="symbols-filter")
        yield Static(header_line(78, None, sorted_by="module"), id="symbols-header")
        yield SymbolTable(self.model.rows, id="symbols-table")
        with ExplanationPane(id="symbols-detail"):
            yield Static(id="symbols-explanation")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.query_one("#symbols-detail").border_title = "What this means"
        self._update_summary()
        self.refilter()
        self.query_one(SymbolTable).focus()

    def _update_summary(self) -> None:
        counts = self.model.counts()
        kernel = escape(self.result.kernel.release) if self.result.kernel else "?"
        parts = [f"{STATUS_LABELS.get(s, s)} {n}" for s, n in counts.items() if n]
        verdict = "[b]all symbols resolve[/]" if self.result.ok else f"[b]{self.result.problem_count} problem(s)[/]"
        if self.context:  # it names the kernel already; a line of its own (it says what loads, and why not)
            verdict = f"[b]{'DEMO ' if self.demo else ''}{escape(self.context)}[/]\n{verdict}"
        else:
            verdict = f"{'[b]DEMO, seed 000:[/] ' if self.demo else ''}{verdict} against {kernel}"
        table = self.query_one(SymbolTable)
        shown = f"{len(table.visible_rows):,} of {len(self.model.rows):,} rows"
        query = f" matching '{escape(self.query_text)}'" if self.query_text else ""
        # Lines of their own, each ending where the terminal does ("..." if not): wrapping would
        # push the table down a line at a time
        lines = [self._comparison()] if self.previous is not None else []
        if self.refreshed:  # Esc came back here after a later check: this is it now, said first
            lines = [f"[b reverse]refreshed[/] {(lines or [''])[0]}", *lines[1:]]
        lines += [f"{verdict}: {', '.join(parts)}", f"{shown}{query}: {self.status_filter}, by {self.group}"]
        text = "\n".join(lines)
        if text != self._summary_text:  # an unchanged update would still re-layout the screen
            self._summary_text = text
            summary = self.query_one("#symbols-summary", Static)
            # what the remedy did, or an update check's verdict and reasons, may take two lines
            summary.set_class(self.previous is not None or bool(self.context), "-wraps")
            summary.update(text)

    def _comparison(self) -> str:
        assert self.previous is not None
        before, after = self.previous, problem_keys(self.result)
        verdict = ""
        said = self.result.package_manager
        if self.result.packages and said is not None:  # a package set: what the package manager itself said now
            names = ", ".join(p.name for p in self.result.packages)
            verdict = escape(f"; {said.tool} would now accept {names}" if said.asked and said.accepted else
                             f"; {said.summary}")
        head = (f"after the remedy: {len(before - after)} fixed, {len(before & after)} still broken"
                f"{f', {len(after - before)} new' if after - before else ''}")
        return f"[b]{head}{verdict}[/]"

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
        found = self.query("#symbols-explanation")
        if not found:  # a highlight that arrives while the screen is being taken down
            return
        self._detail_index = message.index
        detail = found.first(Static)
        if message.index is None:
            detail.update("Nothing matches this filter. Press Esc to clear it, or f for another status.")
        else:
            detail.update(explain_finding(self.model.finding(message.index)))

    def action_search(self) -> None:
        self.query_one("#symbols-filter", Input).focus()

    def action_back(self) -> None:
        """Esc: first clears the filter, then leaves the filter field, then goes back a step."""
        if self.screen.maximized is not None:
            self.action_zoom()
            return
        field = self.query_one("#symbols-filter", Input)
        if field.value:
            field.value = ""
            self.query_one(SymbolTable).focus()
        elif field.has_focus:
            self.query_one(SymbolTable).focus()
        else:
            go_back(self.app)

    def action_zoom(self) -> None:
        """The explanation pane over the whole screen, focused so arrows and PageDown scroll what
        still does not fit; again (or Esc) gives the table back."""
        if self.maximized is not None:
            self.minimize()
            self.query_one(SymbolTable).focus()
            return
        pane = self.query_one("#symbols-detail", ExplanationPane)
        if not self.maximize(pane, container=False):
            self.notify("The explanation pane cannot be enlarged here: Tab to it, then PageDown.")
            return
        pane.focus()

    def action_problems(self) -> None:
        self.status_filter = "all" if self.status_filter == "problems" else "problems"
        self.refilter()

    def action_cycle_status(self) -> None:
        """The next status filter that shows something (empty statuses are skipped)."""
        counts = self.model.counts()
        problems = sum(n for status, n in counts.items() if status != Status.OK)
        start = STATUS_FILTERS.index(self.status_filter)
        for step in range(1, len(STATUS_FILTERS) + 1):
            candidate = STATUS_FILTERS[(start + step) % len(STATUS_FILTERS)]
            if candidate == "all" or (candidate == "problems" and problems) or counts.get(candidate):
                self.status_filter = candidate
                break
        self.refilter()

    def action_cycle_sort(self) -> None:
        self.group = GROUPS[(GROUPS.index(self.group) + 1) % len(GROUPS)]
        self.query_one("#symbols-header", Static).update(self._header())
        self.refilter()

    def _header(self) -> str:
        return self.query_one(SymbolTable).header(self.group)

    @on(SymbolTable.ColumnsChanged)
    def columns_changed(self) -> None:
        self.query_one("#symbols-header", Static).update(self._header())

    def action_remedy(self) -> None:
        index = self.query_one(SymbolTable).current_index
        if index is None:
            return
        finding = self.model.finding(index)
        if not finding.remedies:
            self.notify("No remedy in the catalogue for this one: the explanation below says what to do.")
            return
        target = ""
        for package in self.result.packages:
            if package.nevra == finding.module and package.path.endswith(".deb"):
                target = package.path
        provider_package = next((p.path for p in self.result.packages if p.nevra == finding.provider), "")
        if not target and finding.requirement is not None and provider_package:
            # the provider package came from a kmodtui build of a tree with its own kmod spec (OpenZFS's
            # rpm/generic/zfs-kmod.spec.in): the remedy edits that spec, b rebuilds the provider from it
            self.find_provider_spec(provider_package, index)
            return
        self._open_remedy(index, target, "")

    @work(thread=True, exclusive=True, group="symbols-remedy")
    def find_provider_spec(self, provider_package: str, index: int) -> None:
        """The provider's build record and its request are read (its kernel may be looked up)."""
        from kmodtui.core.build.recheck import provider_spec_of

        target, provider_record = provider_spec_of(provider_package)
        if not get_current_worker().is_cancelled:
            self.post_message(ProviderSpecFound(target, provider_record, index))

    @on(ProviderSpecFound)
    def provider_spec_found(self, message: ProviderSpecFound) -> None:
        self._open_remedy(message.index, message.target, message.record)

    def _open_remedy(self, index: int, target: str, provider_record: str) -> None:
        from kmodtui.screens.remedy import RemedyContext, RemedyScreen

        finding = self.model.finding(index)
        # a package finding carries its dependency: the symbol of ksym(name) = crc, no string splitting
        symbol = finding.requirement.symbol if finding.requirement and finding.requirement.symbol else finding.symbol
        provider = self.result.providers.get(symbol)
        self.app.push_screen(RemedyScreen(RemedyContext(
            tuple(finding.remedies), symbol=symbol, namespace=provider.namespace if provider else "",
            target=target or (self.remedy_target if finding.module in {p.nevra for p in self.result.packages} else "")
            or self.source, depends=finding.provider if target and not provider_record else "",
            kernel=self.result.kernel, source=self.source, record=self.record, provider_record=provider_record,
            package_set=self.package_set(), problems_before=problem_keys(self.result), demo=self.demo)))

    def package_set(self) -> PackageSet | None:
        """The set this screen checked when it is not a build's packages: after a provider's rebuild,
        the same set is checked again with the new packages."""
        from kmodtui.core.build.recheck import PackageSet

        targets, providers = self.result.inputs
        if self.record or self.demo or not self.result.packages:
            return None
        return PackageSet(targets, providers, self.result.kernel)
