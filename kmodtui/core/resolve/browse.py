"""The symbol browser's model, headless: compact rows for every finding, filtering, grouping.

A distro tree has ~190k findings; building a Finding (with its explanation) for each takes longer
than a newcomer should wait, so rows are plain tuples and a Finding is made only for the row the
user looks at.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from kmodtui.core.model import STATUS_OK, STATUS_UNKNOWN, STATUSES, Finding, crc_hex
from kmodtui.core.resolve.checks import ProblemRow
from kmodtui.core.resolve.explain import explain, provider_label
from kmodtui.core.resolve.result import ResolveResult

# row: (module path, symbol, status, needed crc or None, provided crc or None, provider label)
Row = tuple[str, str, str, "int | None", "int | None", str]

GROUPS = ("module", "symbol", "status", "provider")  # the orders the browser sorts by
STATUS_FILTERS = ("all", "problems") + tuple(s for s in STATUSES if s != STATUS_OK) + (STATUS_OK,)
_STATUS_RANK = {status: rank for rank, status in enumerate(STATUSES)}


def _shown_symbol(finding: Finding) -> str:
    requirement = finding.requirement
    return requirement.symbol if requirement is not None and requirement.symbol else finding.symbol


@dataclass
class BrowserModel:
    rows: list[Row]
    search_keys: list[str]  # lowercased "module symbol status provider", for type-to-filter
    result: ResolveResult
    _orders: dict[str, list[int]] = field(default_factory=dict)
    _problem_index: dict[tuple[str, str], ProblemRow] | None = None
    _last: tuple[str, str, str, list[int]] | None = None

    @classmethod
    def from_result(cls, result: ResolveResult) -> BrowserModel:
        # Package-level findings first (module = the package's name), then per-module ones.
        # A package dependency shows its symbol (ksym(provider_fn) = 0x... -> provider_fn: the CRCs
        # have their own columns); the whole dependency stays searchable.
        findings = result.package_findings + result.module_problems
        rows: list[Row] = [
            (f.module, _shown_symbol(f), f.status, f.crc, f.provided_crc, f.provider) for f in findings
        ]
        keys = [f"{os.path.basename(r[0])} {r[1]} {r[2]} {r[5]} {f.symbol}".lower() for r, f in zip(rows, findings)]
        problems_by_module: dict[str, dict[str, ProblemRow]] = {}
        for row in result.problem_rows:
            problems_by_module.setdefault(row[0].path, {})[row[1]] = row
        providers = result.providers
        # Per provider: (crc, label, lowercased label) computed once, not per row.
        described: dict[str, tuple[int, str, str]] = {}
        for module in result.modules:
            path = module.path
            prefix = os.path.basename(path).lower() + " "
            problems = problems_by_module.get(path, {})
            for symbol, crc in module.needs:
                problem = problems.get(symbol)
                if problem is None:
                    name = symbol.lstrip(".")
                    info = described.get(name)
                    if info is None:
                        provider = providers[name]
                        label = provider_label(provider)
                        info = described[name] = (provider.crc, label, label.lower())
                    rows.append((path, symbol, STATUS_OK, crc, info[0], info[1]))
                    keys.append(f"{prefix}{symbol.lower()} ok {info[2]}")
                else:
                    found = problem[4]
                    label = provider_label(found) if found else ""
                    rows.append((path, symbol, problem[2], crc, found.crc if found else None, label))
                    keys.append(f"{prefix}{symbol.lower()} {problem[2]} {label.lower()}")
        if not result.modules:  # a result reused from the cache carries only its problems
            for m, sym, status, crc, p in result.problem_rows:
                label = provider_label(p) if p else ""
                rows.append((m.path, sym, status, crc, p.crc if p else None, label))
                keys.append(f"{os.path.basename(m.path)} {sym} {status} {label}".lower())
        return cls(rows, keys, result)

    def visible(self, query: str = "", status_filter: str = "all", group: str = "module") -> list[int]:
        """Indexes of the rows to show, filtered and ordered by group then symbol."""
        query = query.lower().strip()
        last = self._last
        if last and query and last[0] and query.startswith(last[0]) and last[1:3] == (status_filter, group):
            # Typing narrows the previous answer: search only within it.
            keys = self.search_keys
            shown = [i for i in last[3] if query in keys[i]]
        else:
            shown = self._order(self._filter(query, status_filter), group)
        self._last = (query, status_filter, group, shown)
        return shown

    def _filter(self, query: str, status_filter: str) -> list[int]:
        rows = self.rows
        keys = self.search_keys
        if status_filter == "all":
            if not query:
                return list(range(len(rows)))
            return [i for i, key in enumerate(keys) if query in key]
        if status_filter == "problems":
            chosen = [i for i, r in enumerate(rows) if r[2] != STATUS_OK]
        else:
            chosen = [i for i, r in enumerate(rows) if r[2] == status_filter]
        return [i for i in chosen if query in keys[i]] if query else chosen

    def _order(self, indexes: list[int], group: str) -> list[int]:
        if group == "module":  # rows already come module by module, in the order given
            return indexes
        # Sort the whole table once per grouping, then keep the chosen rows in that order:
        # re-sorting 190k rows on every keystroke would cost ~0.2 s.
        order = self._orders.get(group)
        if order is None:
            rows = self.rows
            if group == "provider":
                order = sorted(range(len(rows)), key=lambda i: (rows[i][5], rows[i][1]))
            elif group == "symbol":
                order = sorted(range(len(rows)), key=lambda i: (rows[i][1], rows[i][0]))
            else:
                order = sorted(range(len(rows)), key=lambda i: (_STATUS_RANK.get(rows[i][2], 99), rows[i][1]))
            self._orders[group] = order
        if len(indexes) == len(self.rows):
            return list(order)
        keep = set(indexes)
        return [i for i in order if i in keep]

    def counts(self) -> dict[str, int]:
        return dict(self.result.counts)

    def finding(self, index: int) -> Finding:
        """The full Finding, with its plain-words explanation, for one row."""
        path, symbol, status, crc, provided, label = self.rows[index]
        for finding in self.result.package_findings + self.result.module_problems:
            if finding.module == path and _shown_symbol(finding) == symbol and finding.status == status:
                return finding
        release = self.result.kernel.release if self.result.kernel else "the kernel"
        if status != STATUS_OK:
            if self._problem_index is None:
                self._problem_index = {(row[0].path, row[1]): row for row in self.result.problem_rows}
            row = self._problem_index.get((path, symbol))
            if row is not None:
                return explain(row, release)
        return Finding(path, symbol, status, crc, provided, label,
                       f"Provided by {label} with the same CRC {crc_hex(provided)}: this symbol will link."
                       if provided is not None else f"Provided by {label}.")


__all__ = ["BrowserModel", "GROUPS", "STATUS_FILTERS", "STATUS_UNKNOWN", "Row"]
