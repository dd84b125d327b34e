"""The two forms of resolve's problem rows, one row or one array at a time, as the tests compare them
(kmodtui itself only streams them: report/findings.py)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from kmodtui.core.report.findings import Dumps, json_array_chunks, problem_rows_json, problem_rows_json_pieces
from kmodtui.core.resolve.explain import ProblemRow


def problem_row_json(row: ProblemRow, release: str) -> dict[str, Any]:
    """One problem row's object: the same as report.render.finding_json(explain(row, release))."""
    return next(problem_rows_json((row,), release))


def problem_rows_json_bytes(rows: Sequence[ProblemRow], release: str, dumps: Dumps) -> bytes:
    """The JSON array of problem_rows_json(rows), as bytes."""
    return b"".join(json_array_chunks(problem_rows_json_pieces(rows, release, dumps)))
