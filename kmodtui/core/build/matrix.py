"""One module source, many kernels: a build matrix planned from a small TOML file (or the command
line), run here on kmodtui's own detached builds, or handed to CI runners as a GitHub Actions
workflow or a GitLab CI pipeline; and the results of every cell merged into one report.

The matrix file (`kmodtui-matrix.toml` beside the source, documented in the README):

    source = "."                      # the module source (relative to the file)
    kernels = ["6.1.0-56-amd64", "/usr/src/linux-headers-6.12.117+deb13-amd64"]
    arches = ["x86_64"]               # optional: cross-build cells (arm64, ...)
    modes = ["kbuild", "deb"]         # optional (default: kbuild)

Cells outside the kernel range the source declares (META's Linux-Minimum/-Maximum, dkms.conf's
BUILD_EXCLUSIVE_KERNEL) are listed as skipped, with the reason.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from typing import Any

from kmodtui.core import scriptnames
from kmodtui.core.build import modes
from kmodtui.core.errors import KmodError, shown

MATRIX_FILE = "kmodtui-matrix.toml"
KEYS = {"source", "kernels", "arches", "modes"}
GITHUB_MAX_JOBS = 256  # jobs one matrix may generate (GitHub Actions)
GITLAB_MAX_JOBS = 200  # jobs one parallel:matrix may generate (GitLab CI)


@dataclass
class Matrix:
    source: str
    kernels: list[str]
    arches: list[str] = field(default_factory=list)  # empty: the kernels' own arch
    modes: list[str] = field(default_factory=lambda: ["kbuild"])
    origin: str = ""  # the matrix file it came from ("" = the command line), named in errors


@dataclass(frozen=True)
class Cell:
    kernel: str  # as `build --kernel` takes it
    release: str
    arch: str  # "" = native
    mode: str
    skipped: str = ""  # why this cell is not built ("" = it is)

    @property
    def name(self) -> str:
        """Safe as a CI job and artifact name (no ':' or '/': debian:trixie is debian-trixie)."""
        raw = "-".join(p for p in (self.release, self.arch, self.mode) if p)
        return "".join(c if c.isalnum() or c in "._+-" else "-" for c in raw)

    def argv(self, source: str) -> list[str]:
        argv = ["kmodtui", "build", "--json", "--source", source, "--kernel", self.kernel, "--mode", self.mode]
        return argv + (["--arch", self.arch] if self.arch else [])

    def command(self, source: str) -> str:
        return scriptnames.shell_words(self.argv(source))

    @property
    def image(self) -> str:
        """The container a CI runner builds this cell in: the release's own for a distro kernel
        (debian:trixie builds with trixie's compiler), else the default."""
        if self.kernel.startswith("debian:"):
            return "debian:" + self.kernel.split(":")[1]
        return CONTAINER


def load_matrix(path: str) -> Matrix:
    """A matrix file; unknown keys and wrong types are one clear error naming the key."""
    import tomllib

    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except OSError as err:
        raise KmodError(path, err.strerror or str(err)) from None
    except tomllib.TOMLDecodeError as err:
        raise KmodError(path, f"not valid TOML: {err}") from None
    unknown = sorted(set(data) - KEYS)
    if unknown:
        raise KmodError(path, f"unknown key {unknown[0]!r} (known: {', '.join(sorted(KEYS))})")
    for key in ("kernels", "arches", "modes"):
        value = data.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise KmodError(path, f"{key} must be a list of strings")
    if not isinstance(data.get("source", "."), str):
        raise KmodError(path, "source must be a string (a folder, a tarball or a -dkms .deb)")
    if not data.get("kernels"):
        raise KmodError(path, "kernels is missing or empty: name at least one kernel (as `build --kernel` takes it)")
    base = os.path.dirname(os.path.abspath(path))
    return Matrix(source=os.path.normpath(os.path.join(base, data.get("source", "."))), kernels=list(data["kernels"]),
                  arches=list(data.get("arches", [])), modes=list(data.get("modes", ["kbuild"])), origin=path)


def check_names(matrix: Matrix) -> None:
    """Kernels, arches and modes go into CI workflows and build commands: each must be what its kind
    can be (a GitHub workflow substitutes ${{ }} anywhere, so no quoting can make an odd one safe)."""
    scriptnames.check_all(scriptnames.KERNEL_SPEC, matrix.kernels, matrix.origin or "--kernel")
    scriptnames.check_all(scriptnames.ARCH, matrix.arches, matrix.origin or "--arch")
    for mode in matrix.modes:
        if modes.find(mode) is None:
            raise KmodError(matrix.origin or mode, f"unknown build mode {scriptnames.yaml(mode)}; choose from "
                                                   f"{', '.join(modes.names())}")


def plan(matrix: Matrix, find_kernels: bool = True) -> list[Cell]:
    """Every (kernel, arch, mode) cell; a kernel that cannot be found is one error naming it.
    find_kernels=False (a CI plan job, where the cells' headers are not installed yet) takes each
    kernel as written: its release is the name, the range check reads it as a version."""
    from kmodtui.core.build.request import kernel_from_spec
    from kmodtui.core.build.sources import detect_source, out_of_range

    check_names(matrix)
    source = detect_source(matrix.source)
    cells = []
    pairs: list[tuple[str, str]] = []  # (kernel spec, arch to cross-build for)
    for spec in matrix.kernels:
        for arch in matrix.arches or [""]:
            if spec.startswith("debian:") and spec.count(":") == 1 and arch:
                pairs.append((f"{spec}:{arch}", ""))  # that release's headers for that arch: its own tree
            else:
                pairs.append((spec, arch))
    found: dict[str, tuple[str, str]] = {}
    for spec, arch in pairs:
        if spec not in found:
            if find_kernels:
                kernel = kernel_from_spec(spec)  # raises naming the kernel
                found[spec] = (scriptnames.check(scriptnames.KERNEL_RELEASE, kernel.release, kernel.build_dir or spec),
                               kernel.arch)
            else:
                found[spec] = (os.path.basename(spec.rstrip("/")), "")
        release, native = found[spec]
        reason = out_of_range(release, source)
        for mode in matrix.modes:
            skip = reason or ("" if modes.get(mode).planned_for(source)
                              else f"the source has no {mode} build (its modes: {', '.join(source.modes)})")
            cells.append(Cell(spec, release, "" if arch == native else arch, mode, skip))
    return cells


def plan_json(matrix: Matrix, cells: list[Cell]) -> dict[str, Any]:
    return {"source": matrix.source,
            "cells": [{**asdict(c), "name": c.name, "command": None if c.skipped else c.command(matrix.source)}
                      for c in cells]}


# ---- run here ----------------------------------------------------------------------------------

def run(matrix: Matrix, cells: list[Cell]) -> tuple[list[str], list[Cell]]:
    """Start the cells that are not skipped and not already built for the same request (a cell that
    succeeded before is not rebuilt: the run is resumable). Returns (new records, cells reused)."""
    from kmodtui.core.build.job import start_requests
    from kmodtui.core.build.record import SUCCEEDED, list_builds
    from kmodtui.core.build.request import load_request, make_request, request_json

    wanted = [c for c in cells if not c.skipped]
    requests = [make_request(matrix.source, c.kernel, c.mode, arch=c.arch) for c in wanted]
    done: set[str] = set()
    for record in list_builds():
        if record.get("state") != SUCCEEDED:
            continue
        try:
            done.add(json.dumps(request_json(load_request(record["dir"])), sort_keys=True))
        except KmodError:
            continue
    todo, reused = [], []
    for cell, request in zip(wanted, requests):
        if json.dumps(request_json(request), sort_keys=True) in done:
            reused.append(cell)
        else:
            todo.append(request)
    return (start_requests(todo) if todo else []), reused


# ---- hand it off -------------------------------------------------------------------------------

def _yaml(value: Any, indent: int = 0) -> str:
    """A small YAML writer: mappings, lists, and scalars as JSON (JSON strings are YAML strings)."""
    pad = "  " * indent
    if isinstance(value, dict):
        lines = []
        for key, item in value.items():
            if isinstance(item, (dict, list)) and item:
                lines.append(f"{pad}{key}:\n{_yaml(item, indent + 1)}")
            else:
                lines.append(f"{pad}{key}: {scriptnames.yaml(item)}")  # a scalar, or an empty {} / []
        return "\n".join(lines)
    if isinstance(value, list):
        lines = []
        for item in value:
            if isinstance(item, dict) and item:
                body = _yaml(item, indent + 1).lstrip()
                lines.append(f"{pad}- {body}")
            else:
                lines.append(f"{pad}- {scriptnames.yaml(item)}")
        return "\n".join(lines)
    return pad + scriptnames.yaml(value)


def shards(cells: list[Cell], limit: int) -> list[list[Cell]]:
    """The cells that are built, in groups of at most `limit` (never cut: every cell is in one)."""
    built = [c for c in cells if not c.skipped]
    return [built[i:i + limit] for i in range(0, len(built), limit)] or [[]]


def export_github(matrix: Matrix, cells: list[Cell], source_in_repo: str = ".") -> str:
    """A GitHub Actions workflow: a plan job (kmodtui matrix plan, the gate that the matrix still makes
    sense), one build job per cell in shards of 256 (fail-fast off), a report job that merges every
    cell's result into the job summary. arm64 cells are cross-built on the x86_64 runner (--arch)."""
    _check_export(matrix, cells, source_in_repo)
    jobs: dict[str, Any] = {"plan": {"runs-on": "ubuntu-latest", "container": CONTAINER, "env": {"KERNEL": ""},
                                     "steps": [{"uses": "actions/checkout@v4"}, _install_step_github(),
                                               {"name": "Plan", "run": "kmodtui matrix plan --kernel-any "
                                                + _matrix_args(matrix, source_in_repo)}]}}
    names = []
    for number, shard in enumerate(shards(cells, GITHUB_MAX_JOBS), 1):
        name = f"build-{number}"
        names.append(name)
        include = [{"name": c.name, "kernel": c.kernel, "mode": c.mode, "arch": c.arch, "image": c.image}
                   for c in shard]
        # Matrix values reach the script through env only: Actions substitutes ${{ }} into a run:
        # script's text before the shell reads it, where no quoting helps (its script-injection pattern).
        jobs[name] = {
            "needs": "plan", "runs-on": "ubuntu-latest", "container": "${{ matrix.image }}", "name": "${{ matrix.name }}",
            "env": {"KERNEL": "${{ matrix.kernel }}", "ARCH": "${{ matrix.arch }}", "MODE": "${{ matrix.mode }}",
                    "CELL": "${{ matrix.name }}"},
            "strategy": {"fail-fast": False, "matrix": {"include": include}},
            "steps": [
                {"uses": "actions/checkout@v4"}, _install_step_github(),
                {"name": "Build", "continue-on-error": True, "run":
                    f"kmodtui build --json --source {scriptnames.shell(source_in_repo)} --kernel \"$KERNEL\" "
                    "--mode \"$MODE\" ${ARCH:+--arch \"$ARCH\"} > \"result-$CELL.jsonl\""},
                {"uses": "actions/upload-artifact@v4", "if": "always()",
                 "with": {"name": "result-${{ matrix.name }}", "path": "result-${{ matrix.name }}.jsonl"}}],
        }
    jobs["report"] = {"needs": names, "if": "always()", "runs-on": "ubuntu-latest", "container": CONTAINER,
                      "env": {"KERNEL": ""}, "steps": [
        _install_step_github(),
        {"uses": "actions/download-artifact@v4", "with": {"pattern": "result-*", "merge-multiple": True,
                                                          "path": "results"}},
        {"name": "Report", "run": "kmodtui matrix report results/*.jsonl --json > matrix-report.json || true\n"
                                  "kmodtui matrix report results/*.jsonl --html > matrix-report.html || true\n"
                                  "kmodtui matrix report results/*.jsonl --markdown >> \"$GITHUB_STEP_SUMMARY\""},
        {"uses": "actions/upload-artifact@v4", "if": "always()",
         "with": {"name": "matrix-report", "path": "matrix-report.json\nmatrix-report.html"}}]}
    workflow = {"name": "kmodtui build matrix", "on": {"push": None, "workflow_dispatch": None}, "jobs": jobs}
    return "# Written by `kmodtui matrix export github`; regenerate it rather than edit it.\n" + _yaml(workflow) + "\n"


CONTAINER = "debian:bookworm"  # cells build in a Debian container, which installs each cell's headers
# Each line is skipped on a runner that has kmodtui and the tools already (KMODTUI_PREINSTALLED=1: a
# self-hosted or shell runner, gitlab-ci-local in the tests).
_INSTALL = [f'[ -n "$KMODTUI_PREINSTALLED" ] || {line}' for line in (
    "apt-get update", "apt-get install -y build-essential dkms rpm kmod python3-pip python3-venv",
    # a Debian release (6.1.0-56-amd64) as a cell's kernel: its headers package from the archive
    "case \"$KERNEL\" in [0-9]*) apt-get install -y \"linux-headers-$KERNEL\" ;; esac",
    # a distro kernel (debian:trixie) builds in that release's container, whose kbuild tools (from its
    # own headers) also serve a cross-build of the release's arm64 headers
    "case \"$KERNEL\" in debian:*) apt-get install -y \"linux-headers-$(dpkg --print-architecture)\" ;; esac",
    # an arm64 cell cross-builds on the x86_64 runner
    "case \"$KERNEL $ARCH\" in *arm64*) apt-get install -y gcc-aarch64-linux-gnu ;; esac",
    "pip install --break-system-packages \"${KMODTUI_PIP:-kmodtui}\"")]


def _install_step_github() -> dict[str, Any]:
    return {"name": "Install kmodtui, the build tools and the cell's kernel headers", "run": "\n".join(_INSTALL)}


def _check_export(matrix: Matrix, cells: list[Cell], source_in_repo: str) -> None:
    """What plan() checked, again for cells made elsewhere, and the source's path in the repository."""
    check_names(matrix)
    scriptnames.check(scriptnames.PATH, source_in_repo, "--source-in-repo")
    check_names(Matrix(matrix.source, [c.kernel for c in cells], [c.arch for c in cells if c.arch],
                       [c.mode for c in cells], matrix.origin))


def _matrix_args(matrix: Matrix, source_in_repo: str) -> str:
    words = ["--source", source_in_repo]
    for kernel in matrix.kernels:
        words += ["--kernel", kernel]
    for mode in matrix.modes:
        words += ["--mode", mode]
    for arch in matrix.arches:
        words += ["--arch", arch]
    return scriptnames.shell_words(words)


def export_gitlab(matrix: Matrix, cells: list[Cell], source_in_repo: str = ".") -> str:
    """A GitLab CI pipeline: plan, build (parallel:matrix in shards of 200; a failed cell never stops
    the others), report (when: always, merging every cell's result)."""
    _check_export(matrix, cells, source_in_repo)
    install = list(_INSTALL)
    pipeline: dict[str, Any] = {
        "stages": ["plan", "build", "report"],
        "default": {"image": CONTAINER},
        "plan": {"stage": "plan", "script": [*install, "kmodtui matrix plan --json --kernel-any "
                                              + _matrix_args(matrix, source_in_repo) + " > plan.json"],
                 "artifacts": {"paths": ["plan.json"]}},
    }
    names = []
    for number, shard in enumerate(shards(cells, GITLAB_MAX_JOBS), 1):
        name = f"build-{number}"
        names.append(name)
        pipeline[name] = {
            "stage": "build", "needs": ["plan"], "allow_failure": True,
            "image": "$IMAGE",  # the release's own container for a distro kernel (debian:trixie)
            "parallel": {"matrix": [{"KERNEL": c.kernel, "MODE": c.mode, "ARCH": c.arch or "native", "IMAGE": c.image}
                                    for c in shard]},
            "script": [*install, f"kmodtui build --json --source {scriptnames.shell(source_in_repo)} --kernel \"$KERNEL\" "
                                 "--mode \"$MODE\" $( [ \"$ARCH\" = native ] || echo --arch \"$ARCH\" ) "
                                 "> \"result-$CI_JOB_ID.jsonl\" || true"],
            "artifacts": {"when": "always", "paths": ["result-*.jsonl"]},
        }
    pipeline["report"] = {"stage": "report", "when": "always", "needs": names,
                          # the files first (kept whatever the outcome), then the table, whose exit status
                          # fails the job when a cell failed
                          "script": [*install, "kmodtui matrix report result-*.jsonl --json > matrix-report.json || true",
                                     "kmodtui matrix report result-*.jsonl --html > matrix-report.html || true",
                                     "kmodtui matrix report result-*.jsonl --markdown"],
                          "artifacts": {"when": "always", "paths": ["matrix-report.json", "matrix-report.html"]}}
    return "# Written by `kmodtui matrix export gitlab`; regenerate it rather than edit it.\n" + _yaml(pipeline) + "\n"


# ---- one report --------------------------------------------------------------------------------

def report_rows(results: list[str] | None = None) -> list[dict[str, Any]]:
    """One row per cell: from `build --json` outputs (the CI artifacts), or from this machine's build
    records (no argument). outcome: succeeded | failed | skipped | died; cause: a failure's primary
    cause, as `kmodtui diagnose` names it."""
    if results:
        from kmodtui.core.build.results import read_results

        return [row for path in results for row in read_results(path)]
    from kmodtui.core.build.record import effective_state, list_builds

    rows: list[dict[str, Any]] = []
    for record in list_builds():
        primary = record.get("primary") or {}
        rows.append({"kernel": record.get("kernel", ""), "arch": "", "mode": record.get("mode", ""),
                     "outcome": effective_state(record), "cause": primary.get("cause"),
                     "artifacts": record.get("artifacts") or [], "log": record.get("log", "")})
    return rows


OUTCOMES = ("succeeded", "failed", "skipped", "died")


def _grid(rows: list[dict[str, Any]]) -> tuple[list[tuple[str, str]], list[str], dict[tuple[str, str, str], list]]:
    """The report's picture, for every form of it: the (mode, arch) columns, the kernels, and each
    (kernel, mode, arch) cell's rows."""
    cells: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for r in rows:
        cells.setdefault((r["kernel"], r["mode"], r["arch"]), []).append(r)
    return sorted({(m, a) for _, m, a in cells}), sorted({k for k, _, _ in cells}), cells


def _counts(rows: list[dict[str, Any]]) -> str:
    counts = {o: sum(1 for r in rows if r["outcome"] == o) for o in OUTCOMES}
    return ", ".join(f"{n} {o}" for o, n in counts.items() if n)


def report_markdown(rows: list[dict[str, Any]]) -> str:
    """Kernels down, modes (and arches) across; each cell its outcome and cause (a CI job summary)."""
    columns, kernels, grid = _grid(rows)
    marks = {"succeeded": "ok", "failed": "FAILED", "skipped": "skipped", "died": "DIED", "running": "running"}
    head = ["kernel"] + [f"{mode}{' ' + arch if arch else ''}" for mode, arch in columns]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for kernel in kernels:
        cells = []
        for mode, arch in columns:
            found = grid.get((kernel, mode, arch), [])
            cells.append(", ".join(marks.get(r["outcome"], r["outcome"]) + (f" ({r['cause']})" if r["cause"] else "")
                                   for r in found) or "-")
        lines.append(f"| {kernel} | " + " | ".join(cells) + " |")
    # the names come from CI artifacts: each line shown() (nothing a terminal acts on, no extra line)
    return "\n".join(map(shown, lines)) + "\n\n" + _counts(rows) + "\n"


def report_html(rows: list[dict[str, Any]], title: str = "kmodtui build matrix") -> str:
    """The matrix as one self-contained page (no scripts, no fonts, no network): kernels down,
    modes/arches across, each cell coloured by outcome with its cause and a link to its log. On a
    narrow screen (a phone) the table scrolls sideways under a sticky kernel column."""
    from html import escape

    columns, kernels, grid = _grid(rows)
    words = {"succeeded": "ok", "failed": "failed", "skipped": "skipped", "died": "died", "running": "running"}
    head = "".join(f"<th scope='col'>{escape(mode or '(job died: mode unknown)')}"
                   f"{('<br><small>' + escape(arch) + '</small>') if arch else ''}</th>" for mode, arch in columns)
    body = []
    for kernel in kernels:
        cells = []
        for mode, arch in columns:
            found = grid.get((kernel, mode, arch), [])
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
            cells.append(f"<td class='cell {escape(outcome)}' data-kernel='{escape(kernel)}' data-mode='{escape(mode)}' "
                         f"data-arch='{escape(arch)}' data-outcome='{escape(outcome)}'>" + "<hr>".join(parts) + "</td>")
        body.append(f"<tr><th scope='row'>{escape(kernel)}</th>{''.join(cells)}</tr>")
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
<p id="summary">{escape(summary)} &middot; kernels down, modes across</p>
<div class="wrap"><table id="matrix">
<thead><tr><th scope="col">kernel</th>{head}</tr></thead>
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
