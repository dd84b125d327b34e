"""Will it load: `resolve` (symbols and package sets) and `rpmdeps` (rpm's ksym generators)."""

from __future__ import annotations

import argparse
import gc
import os
import sys
from typing import Any

from kmodtui.cli.common import (
    EXIT_OK,
    EXIT_PROBLEMS,
    default_kernel_release,
    error_line,
    print_json,
    print_json_lines,
    print_report,
)
from kmodtui.core.errors import KmodError


def cmd_resolve(args: argparse.Namespace) -> int:
    from kmodtui.core.paths import cache_dir
    from kmodtui.core.report import contract
    from kmodtui.core.resolve.engine import resolve

    kernel = _kernel(args.kernel)
    if not args.tui:
        # A short-lived run making ~10^5 small tuples and no reference cycles: the cyclic garbage
        # collector would only rescan them, ~30% of the time on a distro tree. (The TUI keeps it.)
        gc.disable()
    # Ok rows too: asked for with --all, and the default for .ko and package targets; a directory (a
    # whole tree: ~190k rows on a distro kernel) lists its problems unless --all asks for the rest.
    problems_only = args.problems_only or (not args.all and any(os.path.isdir(t) for t in args.targets))
    machine = args.json or args.jsonl
    full_listing = (machine and not problems_only) or args.tui
    installed = None
    if args.installed:
        from kmodtui.core.packages.packageset import read_installed

        installed = read_installed(args.installed)
    elif any(t.endswith(".deb") for t in args.targets) and os.path.exists("/var/lib/dpkg/status"):
        from kmodtui.core.packages.packageset import read_installed

        installed = read_installed("/var/lib/dpkg/status")
    result = resolve(args.targets, kernel, args.with_ or [], jobs=args.jobs,
                     cache_dir=None if args.no_cache else cache_dir(), need_modules=full_listing,
                     installed=installed, problems_only=not full_listing)
    if result.packages:  # a package set: the package manager's own answer, in a scratch root
        from kmodtui.core.resolve.asktool import ask_package_manager

        ask_package_manager(result, installed, args.kernel or "")
    if result.symvers is not None and result.symvers.problems:
        for problem in result.symvers.problems:
            error_line(f"{kernel.symvers_path}: {problem} (skipped)")
    if args.tui:
        from kmodtui.app import KmodApp, run_app

        run_app(KmodApp(resolve_result=result), mouse=not args.no_mouse)
    elif args.jsonl:
        print_json_lines(contract.resolve_lines(result, problems_only))
    elif args.json:
        from kmodtui.core.report.stream import write_resolve_json

        sys.stdout.flush()
        write_resolve_json(result, problems_only, sys.stdout.buffer)
        sys.stdout.buffer.flush()
    elif args.markdown:
        from kmodtui.core.report.render import resolve_markdown

        print_report(result, "md", resolve_markdown)
    else:
        from kmodtui.core.report.render import resolve_text

        print_report(result, "txt", lambda r: resolve_text(r) + "\n")
        if result.package_manager is not None:
            from kmodtui.core.report.render import package_manager_text

            sys.stdout.write(package_manager_text(result.package_manager) + "\n")
    refused = result.package_manager is not None and result.package_manager.asked and not result.package_manager.accepted
    return EXIT_OK if result.ok and not refused else EXIT_PROBLEMS


def _kernel(spec: str | None) -> Any:
    """--kernel, else the running kernel: named on stderr (the report is against it), and when it
    has no build tree here, the error says --kernel was not given rather than blaming the kernel."""
    from kmodtui.core.kernels.discover import find_kernel

    if spec:
        return find_kernel(spec)
    release = default_kernel_release()
    try:
        kernel = find_kernel(release)
    except KmodError:
        raise KmodError(release, "no --kernel given, and the running kernel has no build tree here; name one with "
                        "--kernel (a release from `kmodtui kernels`, a build dir or a Module.symvers)") from None
    error_line(f"no --kernel given: resolving against the running kernel, {release}")
    return kernel


def cmd_rpmdeps(args: argparse.Namespace) -> int:
    """Like rpm's %__find_provides/%__find_requires: a file list on stdin (or as arguments)."""
    from kmodtui.core.elf.module import read_module
    from kmodtui.core.kernels.discover import find_kernel
    from kmodtui.core.packages.rpmdeps import (
        MODULE_FILE,
        module_provides,
        module_requires,
    )
    from kmodtui.core.report import contract
    from kmodtui.core.symvers.parse import read_symvers

    paths = args.files or [line.strip() for line in sys.stdin if line.strip()]
    modules = [(p, read_module(p)) for p in paths if MODULE_FILE.search(p) and os.path.isfile(p)]
    if args.predict:
        from kmodtui.core.packages.rpmdeps import predict_dependencies

        symvers = None
        if args.kernel:
            kernel = find_kernel(args.kernel)
            if not kernel.symvers_path:
                raise KmodError(args.kernel, "this kernel has no Module.symvers to predict against")
            symvers = read_symvers(kernel.symvers_path)
        predicted = predict_dependencies(modules, args.predict, symvers)
        if args.json:
            print_json(contract.predicted_payload(predicted))
        else:
            print(f"# built in mode {predicted.mode}: {predicted.story}")
            print("".join(f"Provides: {p}\n" for p in predicted.provides) +
                  "".join(f"Requires: {r}\n" for r in predicted.requires), end="")
        return EXIT_OK
    if args.provides:
        lines = module_provides(modules)
    else:
        symvers = None
        # rpm runs the generator with the caller's environment: a build kmodtui runs (the demo's
        # rebuild of a remedied spec) names its kernel there, since the spec must not name one
        args.kernel = args.kernel or os.environ.get("KMODTUI_KERNEL") or None
        release = args.kernel or next((m.vermagic.split()[0] for _, m in modules if m.vermagic), None)
        if release:
            try:
                kernel = find_kernel(release)
                symvers = read_symvers(kernel.symvers_path) if kernel.symvers_path else None
            except KmodError as err:
                if args.kernel:
                    raise
                error_line(f"{err} — every requirement becomes ksym() (pass --kernel)")
        lines = module_requires([m for _, m in modules], symvers)
    if args.json:
        print_json(contract.rpmdeps_payload(args.provides, lines))
    else:
        sys.stdout.write("".join(line + "\n" for line in lines))
    return EXIT_OK


def _verb_resolve(sub: Any) -> None:
    p = sub.add_parser("resolve", help="for every symbol a module needs: who provides it, does the CRC match")
    p.add_argument("targets", nargs="+", metavar="TARGET", help=".ko files, module directories, .rpm or .deb packages")
    p.add_argument("--kernel", "-k", help="kernel release (see `kmodtui kernels`), build dir, or Module.symvers/symvers.gz "
                   "(default: the running kernel)")
    p.add_argument("--extra-symbols", "--with", dest="with_", action="append", metavar="FILE_OR_DIR",
                   help="the other out-of-tree modules whose exports these use: .ko files or folders "
                   "(repeatable; --with is the old name)")
    out = p.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true", help="the findings as JSON (schema/resolve.json)")
    out.add_argument("--jsonl", action="store_true", help="NDJSON: the summary and explanation texts, then one "
                     "finding per line (for streaming consumers)")
    out.add_argument("--markdown", action="store_true", help="a report to paste into a bug tracker")
    out.add_argument("--tui", action="store_true", help="open the symbol browser on the result")
    p.add_argument("--problems-only", action="store_true", help="with --json/--jsonl: leave out the ok findings")
    p.add_argument("--all", action="store_true", help="with --json/--jsonl on a directory: the ok findings too "
                   "(a directory lists only its problems by default)")
    p.add_argument("--installed", metavar="FILE",
                   help="for .deb targets: installed packages, a dpkg status file or admin dir, or `dpkg -l` output "
                   "(default: this machine's dpkg database)")
    p.add_argument("--jobs", "-j", type=int, default=0, help="threads reading modules (default: all cores)")
    p.add_argument("--no-cache", action="store_true", help="do not use or write kmodtui's parse cache")
    p.add_argument("--no-mouse", action="store_true", help=argparse.SUPPRESS)
    p.set_defaults(func=cmd_resolve, inputs={"targets": "target", "kernel": "kernel", "with_": "target",
                                          "installed": "file-or-folder"})


def _verb_rpmdeps(sub: Any) -> None:
    from kmodtui.core.packages.rpmdeps import MODES

    p = sub.add_parser("rpmdeps", help="ksym()/kernel()/kmod() Provides or Requires, like RHEL's generators",
                       description="Reads a file list on stdin (like rpm's %__find_provides) or as arguments. "
                       "In a spec: %global _use_internal_dependency_generator 0, "
                       "%global __find_provides kmodtui rpmdeps --provides, "
                       "%global __find_requires kmodtui rpmdeps --requires")
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--provides", action="store_true", help="the ksym()/kmod() Provides of the modules")
    which.add_argument("--requires", action="store_true", help="the ksym()/kernel() Requires of the modules")
    which.add_argument("--predict", metavar="MODE", choices=MODES,
                       help=f"what a package of these modules gets when built in MODE: {', '.join(MODES)}")
    p.add_argument("files", nargs="*", metavar="FILE", help="module files (default: a file list on stdin)")
    p.add_argument("--kernel", "-k", help="target kernel for --requires: a release, build dir or symvers file "
                   "(default: $KMODTUI_KERNEL, else the modules' vermagic)")
    p.add_argument("--json", action="store_true", help="as JSON")
    p.set_defaults(func=cmd_rpmdeps, inputs={"files": "module", "kernel": "kernel"})

