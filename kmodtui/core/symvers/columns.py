"""What a parsed Module.symvers is made of, shared by the Python parser (parse.py) and the C one
(cparse.py): the column layouts and the columns themselves."""

from __future__ import annotations

from typing import NamedTuple

LAYOUT_3 = "3-column (<= 2.6.17)"
LAYOUT_4 = "4-column (2.6.18 - 5.3)"
LAYOUT_5_NS3 = "5-column, namespace in column 3 (5.4.0 - 5.4.27, 5.5)"
LAYOUT_5 = "5-column (5.4.28+, 5.6+)"

# Problems beyond this many are counted, not listed: a wrong file would otherwise list every line.
MAX_LISTED_PROBLEMS = 20


class SymversColumns(NamedTuple):
    """The rows of a symvers file column by column (how the C parser hands them over, and what
    the resolver reads: a distro symvers has ~25k rows)."""

    names: list[str]
    crcs: list[int]
    modules: list[str]
    export_types: list[str]
    namespaces: list[str]
    gpl_only: list[bool]
