"""One report of a build matrix: every cell's outcome (succeeded, failed with its primary cause,
skipped, died), from CI results files or this machine's builds, as Markdown or one HTML page."""

from __future__ import annotations

import os
from typing import Any

from kmodtui.core.errors import shown


def report_rows(results: list[str] | None = None) -> list[dict[str, Any]]:
    """One row per cell, a cell being (source, kernel, arch, mode): from `build --json` outputs (the
    CI artifacts), or from this machine's build records (no argument; a cell built more than once
    shows its newest build). outcome: succeeded | failed | skipped | died; cause: a failure's
    primary cause, as `kmodtui diagnose` names it."""
    if results:
        from kmodtui.core.build.results import read_results

        return [row for path in results for row in read_results(path)]
    from kmodtui.core.build.record import effective_state, list_builds

    rows: list[dict[str, Any]] = []
    seen: set[tuple[str, str, str, str]] = set()
    for record in list_builds():  # newest first
        cell = record_cell(record)
        if cell in seen:
            continue
        seen.add(cell)
        primary = record.get("primary") or {}
        rows.append({"source": cell[0], "kernel": cell[1], "arch": cell[2], "mode": cell[3],
                     "outcome": effective_state(record), "cause": primary.get("cause"),
                     "artifacts": record.get("artifacts") or [], "log": record.get("log", "")})
    return rows


def record_cell(record: dict[str, Any]) -> tuple[str, str, str, str]:
    """A build record's matrix cell: (source, kernel, arch, mode). The arch is in the record's
    request.json ("" when it cannot be read: the kernel's own)."""
    import json

    arch = ""
    try:
        with open(os.path.join(str(record.get("dir", "")), "request.json"), encoding="utf-8") as f:
            request = json.loads(f.read(1024 * 1024))
        if isinstance(request, dict) and isinstance(request.get("arch"), str):
            arch = request["arch"]
    except (OSError, ValueError, RecursionError):
        pass
    return (str(record.get("source", "")), str(record.get("kernel", "")), arch, str(record.get("mode", "")))


OUTCOMES = ("succeeded", "failed", "skipped", "died")
Row = tuple[str, str]  # (source, kernel): a line of the report
Column = tuple[str, str]  # (mode, arch)


def _grid(rows: list[dict[str, Any]]) -> tuple[list[Column], list[Row], dict[tuple[str, str, str, str], list]]:
    """The report's picture, for every form of it: the (mode, arch) columns, the (source, kernel)
    lines, and each (source, kernel, mode, arch) cell's rows (one, unless results name a cell twice)."""
    cells: dict[tuple[str, str, str, str], list[dict[str, Any]]] = {}
    for r in rows:
        cells.setdefault((r.get("source", ""), r["kernel"], r["mode"], r["arch"]), []).append(r)
    return sorted({(m, a) for _, _, m, a in cells}), sorted({(s, k) for s, k, _, _ in cells}), cells


def _counts(rows: list[dict[str, Any]]) -> str:
    counts = {o: sum(1 for r in rows if r["outcome"] == o) for o in OUTCOMES}
    return ", ".join(f"{n} {o}" for o, n in counts.items() if n)


def report_markdown(rows: list[dict[str, Any]]) -> str:
    """Sources and kernels down, modes (and arches) across; each cell its outcome and cause (a CI job
    summary)."""
    columns, lines_down, grid = _grid(rows)
    marks = {"succeeded": "ok", "failed": "FAILED", "skipped": "skipped", "died": "DIED", "running": "running"}
    head = ["source", "kernel"] + [f"{mode}{' ' + arch if arch else ''}" for mode, arch in columns]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for source, kernel in lines_down:
        cells = []
        for mode, arch in columns:
            found = grid.get((source, kernel, mode, arch), [])
            cells.append(", ".join(marks.get(r["outcome"], r["outcome"]) + (f" ({r['cause']})" if r["cause"] else "")
                                   for r in found) or "-")
        lines.append(f"| {source or '-'} | {kernel} | " + " | ".join(cells) + " |")
    # the names come from CI artifacts: each line shown() (nothing a terminal acts on, no extra line)
    return "\n".join(map(shown, lines)) + "\n\n" + _counts(rows) + "\n"


def report_html(rows: list[dict[str, Any]], title: str = "kmodtui build matrix") -> str:
    """The matrix as one self-contained page (no scripts, no fonts, no network): kernels down,
    modes/arches across, each cell coloured by outcome with its cause and a link to its log. On a
    narrow screen (a phone) the table scrolls sideways under a sticky kernel column."""
    from html import escape

    columns, lines_down, grid = _grid(rows)
    words = {"succeeded": "ok", "failed": "failed", "skipped": "skipped", "died": "died", "running": "running"}
    head = "".join(f"<th scope='col'>{escape(mode or '(job died: mode unknown)')}"
                   f"{('<br><small>' + escape(arch) + '</small>') if arch else ''}</th>" for mode, arch in columns)
    body = []
    for source, kernel in lines_down:
        cells = []
        for mode, arch in columns:
            found = grid.get((source, kernel, mode, arch), [])
            if not found:
                cells.append("<td class='none'>-</td>")
                continue
            parts = []
            outcome = found[0]["outcome"]
            for r in found:
                text = escape(words.get(r["outcome"], r["outcome"]))
                if r.get("cause"):
                    text += f"<br><span class='cause'>{escape(r['cause'])}</span>"
                if r.get("log"):
                    text += f"<br><a href='{escape(_file_url(r['log']))}'>log</a>"
                if r.get("artifacts"):
                    text += f"<br><small>{escape(', '.join(os.path.basename(a) for a in r['artifacts']))}</small>"
                parts.append(text)
            cells.append(f"<td class='cell {escape(outcome)}' data-source='{escape(source)}' "
                         f"data-kernel='{escape(kernel)}' data-mode='{escape(mode)}' "
                         f"data-arch='{escape(arch)}' data-outcome='{escape(outcome)}'>" + "<hr>".join(parts) + "</td>")
        label = escape(kernel) + (f"<br><small class='source'>{escape(source)}</small>" if source else "")
        body.append(f"<tr><th scope='row'>{label}</th>{''.join(cells)}</tr>")
    summary = _counts(rows) or "no cells"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)}</title>
<style>
body {{ font: 15px/1.4 system-ui, sans-serif; margin: 1rem; color: #111; background: #fff; }}
h1 {{ font-size: 1.2rem; margin: 0 0 .3rem; }}
.wrap {{ overflow-x: auto; }}
table {{ border-collapse: collapse; }}
th, td {{ border: 1px solid #999; padding: .4rem .6rem; text-align: left; vertical-align: top; }}
th[scope=row] {{ position: sticky; left: 0; background: #f3f3f3; white-space: nowrap; }}
thead th {{ background: #e6e6e6; }}
td.succeeded {{ background: #c8f0c8; }}
td.failed {{ background: #f7c4c4; }}
td.died {{ background: #f2d2a0; }}
td.skipped, td.none {{ background: #e8e8e8; color: #555; }}
td.running {{ background: #cfe0ff; }}
.cause {{ font-family: ui-monospace, monospace; font-size: .85rem; }}
hr {{ border: 0; border-top: 1px dashed #777; }}
</style></head><body>
<h1>{escape(title)}</h1>
<p id="summary">{escape(summary)} &middot; kernels (and their source) down, modes and arches across</p>
<div class="wrap"><table id="matrix">
<thead><tr><th scope="col">kernel<br><small>source</small></th>{head}</tr></thead>
<tbody>
{chr(10).join(body)}
</tbody></table></div>
</body></html>
"""


def _file_url(path: str) -> str:
    if "://" in path:
        return path
    from urllib.parse import quote

    return "file://" + quote(os.path.abspath(path))
