"""Read Module.symvers / symvers.gz in every historical column layout.

Layouts (tab-separated):
  <= 2.6.17            crc  symbol  module
  2.6.18 - 5.3         crc  symbol  module     export_type
  5.4.0-5.4.27, 5.5    crc  symbol  namespace  module       export_type
  5.4.28+, 5.6+        crc  symbol  module     export_type  namespace
The 5.4 variant is told apart by which column holds EXPORT_SYMBOL*.
"""

from __future__ import annotations

import os
from functools import cached_property

from kmodtui.core.compression import read_maybe_compressed
from kmodtui.core.errors import KmodError
from kmodtui.core.model import SymversEntry
from kmodtui.core.records import record
from kmodtui.core.symvers.columns import (  # noqa: F401 (the layouts are part of this module's API)
    LAYOUT_3,
    LAYOUT_4,
    LAYOUT_5,
    LAYOUT_5_NS3,
    MAX_LISTED_PROBLEMS,
    SymversColumns,
)
from kmodtui.core.symvers.cparse import parse_symvers_c


@record(slots=False)  # cached_property below
class Symvers:
    path: str
    columns: SymversColumns
    layout: str
    problems: tuple[str, ...] = ()  # "line N: what is wrong", for lines that were skipped

    @cached_property
    def entries(self) -> tuple[SymversEntry, ...]:
        c = self.columns
        return tuple(map(SymversEntry, c.names, c.crcs, c.modules, c.export_types, c.namespaces))

    @cached_property
    def by_name(self) -> dict[str, SymversEntry]:
        # Later rows win, as in modpost and depmod.
        return {e.name: e for e in self.entries}

    def __len__(self) -> int:
        return len(self.columns.names)


# A kernel's Module.symvers has ~25-40k rows in 1.5-3 MB (Debian 12: 24,683 rows, 1.6 MB). Memory grows
# with the rows (a Python string per name, a provider per symbol), so a file far past any kernel's is
# refused in one line rather than read: at both caps a resolve stays under ~600 MiB (SECURITY.md).
MAX_SYMVERS_BYTES = 64 * 1024 * 1024
MAX_SYMVERS_ROWS = 500_000
_LINE_BREAKS = "\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029"  # str.splitlines() splits at each


def _refuse_past_rows(lines: int, path: str) -> None:
    if lines > MAX_SYMVERS_ROWS:
        raise KmodError(path, f"has more than {MAX_SYMVERS_ROWS:,} lines (a kernel's Module.symvers has about "
                              "30,000): not read, to keep memory bounded")


def read_symvers(path: str | os.PathLike[str]) -> Symvers:
    path = os.fspath(path)
    data, _ = read_maybe_compressed(path, limit=MAX_SYMVERS_BYTES)
    _refuse_past_rows(data.count(b"\n"), path)

    parsed = parse_symvers_c(data)  # clean files in C (~10x faster); odd ones below
    if parsed is not None:
        columns, layout_counts = parsed
        return Symvers(path, columns, max(layout_counts, key=layout_counts.__getitem__))
    if b"\0" in data[:4096]:
        raise KmodError(path, "binary data where a Module.symvers text file was expected")
    return parse_symvers(data.decode("utf-8", "replace"), path)


def parse_symvers(text: str, path: str) -> Symvers:
    _refuse_past_rows(sum(map(text.count, _LINE_BREAKS)) - text.count("\r\n"), path)
    entries: list[SymversEntry] = []
    problems: list[str] = []
    skipped = 0
    layouts: dict[str, int] = {}
    append = entries.append
    share = {"vmlinux": "vmlinux", "EXPORT_SYMBOL": "EXPORT_SYMBOL", "EXPORT_SYMBOL_GPL": "EXPORT_SYMBOL_GPL",
             "": ""}.setdefault  # modules, export types and namespaces repeat: one string each
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        cols = line.split("\t")
        n = len(cols)
        try:
            crc = int(cols[0], 16) if cols[0].startswith(("0x", "0X")) else None
        except ValueError:
            crc = None
        if crc is None or crc > 0xFFFFFFFF or n < 3 or not cols[1]:
            skipped += 1
            if len(problems) < MAX_LISTED_PROBLEMS:
                problems.append(f"line {lineno}: not 'crc<TAB>symbol<TAB>module...': {line[:60]!r}")
            continue
        if n >= 5 and cols[4].startswith("EXPORT_"):
            layout = LAYOUT_5_NS3
            entry = SymversEntry(cols[1], crc, share(cols[3], cols[3]), share(cols[4], cols[4]), share(cols[2], cols[2]))
        elif n >= 4 and cols[3].startswith("EXPORT_"):
            layout = LAYOUT_5 if n >= 5 else LAYOUT_4
            namespace = cols[4] if n >= 5 else ""
            entry = SymversEntry(cols[1], crc, share(cols[2], cols[2]), share(cols[3], cols[3]),
                                 share(namespace, namespace))
        elif n == 3:
            layout = LAYOUT_3
            entry = SymversEntry(cols[1], crc, share(cols[2], cols[2]), "")
        else:
            skipped += 1
            if len(problems) < MAX_LISTED_PROBLEMS:
                problems.append(f"line {lineno}: no EXPORT_SYMBOL* column: {line[:60]!r}")
            continue
        layouts[layout] = layouts.get(layout, 0) + 1
        append(entry)
    if not entries:
        raise KmodError(path, "not a Module.symvers file: no line has the form 'crc<TAB>symbol<TAB>module'")
    layout = max(layouts, key=layouts.__getitem__)
    if skipped > len(problems):
        problems.append(f"... {skipped - len(problems)} more lines skipped")
    names, crcs, modules, types, namespaces = (list(c) for c in zip(*entries))
    columns = SymversColumns(names, crcs, modules, types, namespaces, [e.gpl_only for e in entries])
    symvers = Symvers(path, columns, layout, tuple(problems))
    symvers.__dict__["entries"] = tuple(entries)  # already built: fill the cache
    return symvers
