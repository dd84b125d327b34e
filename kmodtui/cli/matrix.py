"""`matrix`: one source, many kernels: plan the cells, run them here, export them to CI, report."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from kmodtui.cli.common import EXIT_OK, EXIT_PROBLEMS, print_json
from kmodtui.core.errors import KmodError


def _matrix(args: argparse.Namespace) -> Any:
    from kmodtui.core.build.matrix import MATRIX_FILE, Matrix, load_matrix

    path = args.file or (os.path.join(args.source, MATRIX_FILE) if args.source and os.path.isdir(args.source)
                         else MATRIX_FILE)
    if args.kernel:  # everything on the command line: a one-off matrix needs no file
        if not args.source:
            raise KmodError("matrix", "needs --source with --kernel (or a matrix file: --file)")
        return Matrix(os.path.abspath(args.source), list(args.kernel), list(args.arch or []),
                      list(args.mode or ["kbuild"]))
    if not os.path.exists(path):
        raise KmodError(path, "no matrix file; write one (README, 'Build matrices') or give --source and --kernel")
    matrix = load_matrix(path)
    if args.mode:
        matrix.modes = list(args.mode)
    if args.arch:
        matrix.arches = list(args.arch)
    return matrix


def cmd_matrix(args: argparse.Namespace) -> int:
    from kmodtui.core.build import matrix as m
    from kmodtui.core.report import contract

    if args.action == "report":
        from kmodtui.cli.inputs import check_path

        results = ([args.target] if args.target else []) + list(args.results or [])  # argparse fills target first
        for path in results:
            check_path("text", path)
        rows = m.report_rows(results or None)
        if args.json:
            print_json(contract.matrix_report_payload(rows))
        elif args.html:
            sys.stdout.write(m.report_html(rows))
        else:
            sys.stdout.write(m.report_markdown(rows))
        return EXIT_OK if all(r["outcome"] in ("succeeded", "skipped") for r in rows) else EXIT_PROBLEMS
    matrix = _matrix(args)
    cells = m.plan(matrix, find_kernels=not args.kernel_any)
    if args.action == "plan":
        if args.json:
            print_json(contract.matrix_plan_payload(matrix, cells))
        else:
            for cell in cells:
                print(f"{cell.name:44} " + (f"skipped: {cell.skipped}" if cell.skipped else cell.command(matrix.source)))
            print(f"{sum(1 for c in cells if not c.skipped)} cell(s) to build, {sum(1 for c in cells if c.skipped)} skipped")
        # a refused cell (wrong_arch) is the matrix's mistake, not the source's choice: a problem
        return EXIT_PROBLEMS if any(c.cause == "wrong_arch" for c in cells) else EXIT_OK
    if args.action == "run":
        m.refuse_wrong_arch(matrix, cells)
        records, reused = m.run(matrix, cells)
        if args.json:
            print_json(contract.matrix_run_payload(records, reused))
        else:
            print(f"Started {len(records)} build(s) in the background ({len(reused)} already built for the same "
                  "request); `kmodtui builds` lists them, `kmodtui matrix report` merges the results.")
        return EXIT_OK
    # export
    if args.target not in ("github", "gitlab"):
        raise KmodError("matrix export", "needs a target: github or gitlab")
    m.refuse_wrong_arch(matrix, cells)
    install = args.install or _export_wheel(args.out)
    text = (m.export_github if args.target == "github" else m.export_gitlab)(matrix, cells, args.source_in_repo,
                                                                             install=install)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            f.write(text)
        print(f"Wrote {args.out}: {sum(1 for c in cells if not c.skipped)} cell(s), "
              f"{len(m.shards(cells, m.GITHUB_MAX_JOBS if args.target == 'github' else m.GITLAB_MAX_JOBS))} build "
              f"job(s); the jobs install kmodtui with `pip install {install}`" + ("" if args.install else
              " (commit the wheel with the file)"))
    else:
        sys.stdout.write(text)
    return EXIT_OK


def _export_wheel(out: str | None) -> str:
    """The running kmodtui's wheel, written beside the workflow: what its jobs install (no package
    index has kmodtui). Returns its path from the repository's root, as the jobs see it."""
    from kmodtui.core.build.matrix import repository_root, write_running_wheel
    from kmodtui.core.build.matrix.wheel import INSTALL_HINT

    if not out:
        raise KmodError("matrix export", f"writes kmodtui's wheel beside the workflow, for its jobs to install: "
                        f"give -o FILE, or {INSTALL_HINT}")
    folder = os.path.dirname(os.path.abspath(out))
    wheel = write_running_wheel(folder)
    return os.path.relpath(wheel, repository_root(folder)).replace(os.sep, "/")


def _verb_matrix(sub: Any) -> None:
    from kmodtui.core.build import modes

    p = sub.add_parser("matrix", help="one source, many kernels: plan, run here, export to CI, report",
                       description="Reads kmodtui-matrix.toml beside the source (or --file), or takes everything "
                       "from the command line (--source, --kernel ...).")
    p.add_argument("action", choices=("plan", "run", "export", "report"),
                   help="plan: list the cells; run: build them here (detached, resumable); export: a GitHub "
                   "Actions workflow or GitLab CI pipeline; report: merge the cells' results")
    p.add_argument("target", nargs="?", help="export: github or gitlab")
    p.add_argument("results", nargs="*", help="report: `build --json` outputs of the cells (default: this "
                   "machine's builds)")
    p.add_argument("--file", help="the matrix file (default: SOURCE/kmodtui-matrix.toml, or ./kmodtui-matrix.toml)")
    p.add_argument("--source", "-s", help="the module source (with --kernel: no matrix file needed)")
    p.add_argument("--kernel", "-k", action="append", help="a kernel as `build --kernel` takes it (repeatable)")
    p.add_argument("--arch", action="append", help="an architecture to cross-build for (repeatable)")
    p.add_argument("--mode", "-m", action="append", choices=modes.names(), metavar="MODE",
                   help="a build mode (repeatable): " + ", ".join(modes.names()))
    p.add_argument("--kernel-any", action="store_true", help="plan: take the kernels as written, without "
                   "finding their headers here (a CI plan job, before the cells install them)")
    p.add_argument("--source-in-repo", default=".", help="export: where the source is in the CI checkout")
    p.add_argument("--out", "-o", metavar="FILE", help="export: write the workflow/pipeline here, and beside it the wheel of this "
                   "kmodtui that its jobs install")
    p.add_argument("--install", metavar="SPEC", help="export: what the jobs `pip install` instead of the wheel "
                   "beside the workflow: a wheel's path from the repository's root, a git URL (git+https://...@tag), "
                   "a requirement")
    p.add_argument("--json", action="store_true", help="as JSON (see schema/matrix.json)")
    p.add_argument("--markdown", action="store_true", help="report: a Markdown table (the default)")
    p.add_argument("--html", action="store_true", help="report: one self-contained HTML page (kernels down, modes "
                   "across, cells coloured by outcome, links to logs)")
    p.set_defaults(func=cmd_matrix, positional_tail="results",
                   inputs={"file": "text", "source": "source", "results": "text"})
