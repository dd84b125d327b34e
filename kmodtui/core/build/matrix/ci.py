"""A build matrix handed to CI runners: a GitHub Actions workflow or a GitLab CI pipeline (a plan
job, the build jobs in shards under each engine's limit, never cut, and a report job)."""

from __future__ import annotations

import os
from typing import Any

from kmodtui.core import scriptnames
from kmodtui.core.build.matrix.cells import CONTAINER, Cell, Matrix, check_names

GITHUB_MAX_JOBS = 256  # jobs one matrix may generate (GitHub Actions)
GITLAB_MAX_JOBS = 200  # jobs one parallel:matrix may generate (GitLab CI)


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


def export_github(matrix: Matrix, cells: list[Cell], source_in_repo: str = ".", *, install: str) -> str:
    """A GitHub Actions workflow: a plan job (kmodtui matrix plan, the gate that the matrix still makes
    sense), one build job per cell in shards of 256 (fail-fast off), a report job that merges every
    cell's result into the job summary. arm64 cells are cross-built on the x86_64 runner (--arch)."""
    _check_export(matrix, cells, source_in_repo)
    check_install(install)
    jobs: dict[str, Any] = {"plan": {"runs-on": "ubuntu-latest", "container": CONTAINER, "env": {"KERNEL": ""},
                                     "steps": [{"uses": "actions/checkout@v4"}, _install_step_github(install),
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
                {"uses": "actions/checkout@v4"}, _install_step_github(install),
                {"name": "Build", "continue-on-error": True, "run":
                    f"kmodtui build --json --source {scriptnames.shell(source_in_repo)} --kernel \"$KERNEL\" "
                    "--mode \"$MODE\" ${ARCH:+--arch \"$ARCH\"} > \"result-$CELL.jsonl\""},
                {"uses": "actions/upload-artifact@v4", "if": "always()",
                 "with": {"name": "result-${{ matrix.name }}", "path": "result-${{ matrix.name }}.jsonl"}}],
        }
    jobs["report"] = {"needs": names, "if": "always()", "runs-on": "ubuntu-latest", "container": CONTAINER,
                      "env": {"KERNEL": ""}, "steps": [
        {"uses": "actions/checkout@v4"}, _install_step_github(install),  # the checkout holds the wheel
        {"uses": "actions/download-artifact@v4", "with": {"pattern": "result-*", "merge-multiple": True,
                                                          "path": "results"}},
        {"name": "Report", "run": "kmodtui matrix report results/*.jsonl --json > matrix-report.json || true\n"
                                  "kmodtui matrix report results/*.jsonl --html > matrix-report.html || true\n"
                                  "kmodtui matrix report results/*.jsonl --markdown >> \"$GITHUB_STEP_SUMMARY\""},
        {"uses": "actions/upload-artifact@v4", "if": "always()",
         "with": {"name": "matrix-report", "path": "matrix-report.json\nmatrix-report.html"}}]}
    workflow = {"name": "kmodtui build matrix", "on": {"push": None, "workflow_dispatch": None}, "jobs": jobs}
    return _header("github", install) + _yaml(workflow) + "\n"


# Each line is skipped on a runner that has kmodtui and the tools already and says so
# (KMODTUI_PREINSTALLED=1); on any other, `need` installs only the packages that are missing (a shell
# runner that has them runs no apt-get), and kmodtui goes into a venv of the job's own folder.
_NEED = ('need() { [ "$(dpkg-query -W -f \'${Status}\\n\' "$@" 2>/dev/null | grep -c \' installed$\')" = "$#" ] && return; '
         '[ -n "$APT_READY" ] || { apt-get update && APT_READY=1; }; DEBIAN_FRONTEND=noninteractive apt-get install -y "$@"; }')
_TOOLS = [
    _NEED, "need build-essential dkms rpm kmod python3-venv",
    # a Debian release (6.1.0-56-amd64) as a cell's kernel: its headers package from the archive
    "case \"$KERNEL\" in [0-9]*) need \"linux-headers-$KERNEL\" ;; esac",
    # a distro kernel (debian:trixie) builds in that release's container, whose kbuild tools (from its
    # own headers) also serve a cross-build of the release's arm64 headers
    "case \"$KERNEL\" in debian:*) need \"linux-headers-$(dpkg --print-architecture)\" ;; esac",
    # an arm64 cell cross-builds on the x86_64 runner
    "case \"$KERNEL $ARCH\" in *arm64*) need gcc-aarch64-linux-gnu ;; esac"]
VENV = ".kmodtui-venv"  # in the job's folder: nothing outside it changes on a shell runner


def check_install(install: str) -> str:
    """What the jobs `pip install`: a path in the repository (the exported wheel), a URL or a
    requirement. It goes into shell lines and a GitHub workflow, where ${{ }} is substituted anywhere."""
    return scriptnames.check(scriptnames.PIP_SPEC, install, "--install")


def _install_lines(install: str, path_line: str) -> list[str]:
    kmodtui = [f"python3 -m venv {VENV}", f"{VENV}/bin/pip install --disable-pip-version-check "
               + scriptnames.shell(install), path_line]
    return [f'[ -n "$KMODTUI_PREINSTALLED" ] || {line}' for line in _TOOLS + kmodtui]


def _install_step_github(install: str) -> dict[str, Any]:
    lines = _install_lines(install, f'echo "$PWD/{VENV}/bin" >> "$GITHUB_PATH"')
    return {"name": "Install kmodtui, the build tools and the cell's kernel headers", "run": "\n".join(lines)}


def _header(target: str, install: str) -> str:
    return (f"# Written by `kmodtui matrix export {target}`; regenerate it rather than edit it.\n"
            f"# Each job installs kmodtui with `pip install {install}` (from the checkout's root) into a venv\n"
            f"# in its folder, its dependencies from PyPI; KMODTUI_PREINSTALLED=1 skips every install line\n"
            f"# (a runner that has kmodtui and the build tools). Only missing Debian packages are installed.\n")


def repository_root(folder: str) -> str:
    """The root of the CI checkout a file in `folder` belongs to: above .github/workflows (the one place
    GitHub reads workflows from), else the git work tree holding it, else the folder itself (where
    .gitlab-ci.yml sits)."""
    folder = os.path.abspath(folder)
    if folder.endswith(os.path.join(os.sep, ".github", "workflows")):
        return os.path.dirname(os.path.dirname(folder))
    here = folder
    while True:
        if os.path.exists(os.path.join(here, ".git")):
            return here
        parent = os.path.dirname(here)
        if parent == here:
            return folder
        here = parent


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


def export_gitlab(matrix: Matrix, cells: list[Cell], source_in_repo: str = ".", *, install: str) -> str:
    """A GitLab CI pipeline: plan, build (parallel:matrix in shards of 200; a failed cell never stops
    the others), report (when: always, merging every cell's result)."""
    _check_export(matrix, cells, source_in_repo)
    check_install(install)
    install_lines = _install_lines(install, f'export PATH="$PWD/{VENV}/bin:$PATH"')
    pipeline: dict[str, Any] = {
        "stages": ["plan", "build", "report"],
        "default": {"image": CONTAINER},
        "plan": {"stage": "plan", "script": [*install_lines, "kmodtui matrix plan --json --kernel-any "
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
            "script": [*install_lines, f"kmodtui build --json --source {scriptnames.shell(source_in_repo)} --kernel \"$KERNEL\" "
                                 "--mode \"$MODE\" $( [ \"$ARCH\" = native ] || echo --arch \"$ARCH\" ) "
                                 "> \"result-$CI_JOB_ID.jsonl\" || true"],
            "artifacts": {"when": "always", "paths": ["result-*.jsonl"]},
        }
    pipeline["report"] = {"stage": "report", "when": "always", "needs": names,
                          # the files first (kept whatever the outcome), then the table, whose exit status
                          # fails the job when a cell failed
                          "script": [*install_lines, "kmodtui matrix report result-*.jsonl --json > matrix-report.json || true",
                                     "kmodtui matrix report result-*.jsonl --html > matrix-report.html || true",
                                     "kmodtui matrix report result-*.jsonl --markdown"],
                          "artifacts": {"when": "always", "paths": ["matrix-report.json", "matrix-report.html"]}}
    return _header("gitlab", install) + _yaml(pipeline) + "\n"
