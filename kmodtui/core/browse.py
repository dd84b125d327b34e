"""The symbol browser's model, headless: compact rows for every finding, filtering, grouping.

A distro tree has ~190k findings; building a Finding (with its explanation) for each takes longer
than a newcomer should wait, so rows are plain tuples and a Finding is made only for the row the
user looks at.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from kmodtui.core.model import STATUS_OK, STATUSES, Finding
from kmodtui.core.resolve import STATUS_UNKNOWN, ResolveResult, _provider_label, explain

# row: (module path, symbol, status, needed crc or None, provided crc or None, provider label)
Row = tuple[str, str, str, "int | None", "int | None", str]

GROUPS = ("module", "provider", "status")
STATUS_FILTERS = ("all", "problems") + tuple(s for s in STATUSES if s != STATUS_OK) + (STATUS_OK,)
_STATUS_RANK = {status: rank for rank, status in enumerate(STATUSES)}


@dataclass
class BrowserModel:
    rows: list[Row]
    search_keys: list[str]  # lowercased "module symbol status provider", for type-to-filter
    result: ResolveResult
    _orders: dict[str, list[int]] = field(default_factory=dict)

    @classmethod
    def from_result(cls, result: ResolveResult) -> BrowserModel:
        rows: list[Row] = [
            (f.module, f.symbol, f.status, f.crc, f.provided_crc, f.provider) for f in result.module_problems
        ]
        problem_at = {(row[0].path, row[1]): row for row in result.problem_rows}
        providers = result.providers
        labels: dict[str, str] = {}
        for module in result.modules:
            path = module.path
            for symbol, crc in module.needs:
                problem = problem_at.get((path, symbol))
                if problem is not None:
                    provider = problem[4]
                    rows.append((path, symbol, problem[2], crc, provider[2] if provider else None,
                                 _label(provider, labels) if provider else ""))
                else:
                    provider = providers[symbol.lstrip(".")]
                    rows.append((path, symbol, STATUS_OK, crc, provider[2], _label(provider, labels)))
        if not result.modules:  # a result reused from the cache carries only its problems
            rows += [(m.path, sym, status, crc, p[2] if p else None, _label(p, labels) if p else "")
                     for m, sym, status, crc, p in result.problem_rows]
        keys = [f"{os.path.basename(r[0])} {r[1]} {r[2]} {r[5]}".lower() for r in rows]
        return cls(rows, keys, result)

    def visible(self, query: str = "", status_filter: str = "all", group: str = "module") -> list[int]:
        """Indexes of the rows to show, filtered and ordered by group then symbol."""
        query = query.lower().strip()
        rows = self.rows
        if status_filter == "all":
            chosen = range(len(rows))
        elif status_filter == "problems":
            chosen = [i for i, r in enumerate(rows) if r[2] != STATUS_OK]
        else:
            chosen = [i for i, r in enumerate(rows) if r[2] == status_filter]
        if query:
            keys = self.search_keys
            chosen = [i for i in chosen if query in keys[i]]
        return self._order(list(chosen), group)

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
        for finding in self.result.module_problems:
            if finding.module == path and finding.symbol == symbol:
                return finding
        release = self.result.kernel.release if self.result.kernel else "the kernel"
        if status != STATUS_OK:
            for row in self.result.problem_rows:
                if row[0].path == path and row[1] == symbol:
                    return explain(row, release)
        return Finding(path, symbol, status, crc, provided, label,
                       f"Provided by {label} with the same CRC {provided:#010x}: this symbol will link."
                       if provided is not None else f"Provided by {label}.")


def _label(provider: tuple, cache: dict[str, str]) -> str:
    owner = provider[1]
    label = cache.get(owner)
    if label is None:
        label = cache[owner] = _provider_label(provider)
    return label


__all__ = ["BrowserModel", "GROUPS", "STATUS_FILTERS", "STATUS_UNKNOWN", "Row"]
