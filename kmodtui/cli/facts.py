"""Facts about what is here: kernel build trees, modules and packages, module sources."""

from __future__ import annotations

import argparse
import os
from typing import Any

from kmodtui.cli.common import (
    EXIT_BAD_INPUT,
    EXIT_OK,
    error_line,
    headers_hint,
    print_json,
)
from kmodtui.core.errors import KmodError, shown


def cmd_kernels(args: argparse.Namespace) -> int:
    from kmodtui.core.kernels.discover import discover_kernels
    from kmodtui.core.kernels.unpack import unpack_kernel_packages
    from kmodtui.core.paths import cache_dir
    from kmodtui.core.report import contract
    from kmodtui.core.report.render import kernel_text

    if not os.path.isdir(args.root) and not args.from_package:
        raise KmodError(args.root, "no such folder (--root names the root of a system image, e.g. a chroot)")
    found = discover_kernels(args.root) if os.path.isdir(args.root) else []
    if args.from_package:  # a package that does not unpack is bad input: its one line, and no listing
        # the packages given together make one tree of their own (an -amd64 .deb and its -common .deb)
        found += unpack_kernel_packages(args.from_package, cache_dir())
    if args.json:
        print_json(contract.kernels_payload(found, []))
    else:
        if not found and args.root not in ("/", "") and not args.from_package:
            print(f"No kernel build trees under {shown(args.root)} (looked in lib/modules/*/build, usr/src/kernels/* and "
                  "usr/src/linux-headers-*). Install the headers inside it (chroot ... apt-get install "
                  "linux-headers-<release>), or give a headers package with --from.")
        elif not found:
            print("No kernel build trees found.", headers_hint(), sep="\n")
        for kernel in found:
            print(kernel_text(kernel))
    return EXIT_OK


def cmd_inspect(args: argparse.Namespace) -> int:
    from kmodtui.core.elf.module import read_module
    from kmodtui.core.model import is_package_path
    from kmodtui.core.packages.read import read_package
    from kmodtui.core.report import contract
    from kmodtui.core.report.render import (
        module_text,
        package_text,
    )

    modules = []
    packages = []
    errors: list[KmodError] = []
    for path in args.files:
        try:
            if is_package_path(path):
                packages.append(read_package(path))
            else:
                modules.append(read_module(path))
        except KmodError as err:
            errors.append(err)
    if args.json:
        print_json(contract.inspect_payload(modules, packages, errors))
    elif modules or packages:  # nothing read: the error lines alone, nothing on stdout
        print("\n\n".join([module_text(m) for m in modules] + [package_text(p) for p in packages]))
    for problem in errors:
        error_line(problem)
    return EXIT_BAD_INPUT if errors else EXIT_OK


def cmd_source(args: argparse.Namespace) -> int:
    from kmodtui.core.build.sources import detect_source
    from kmodtui.core.report import contract
    from kmodtui.core.report.render import shown_lines

    source = detect_source(args.path)
    payload = contract.source_payload(source)
    if args.json:
        print_json(payload)
    else:
        lines = [f"{source.path}: {', '.join(source.kinds)}; {source.name} {source.version}".rstrip(),
                 f"  modules: {', '.join(source.modules) or '-'}; modes: {', '.join(source.modes) or '-'}"]
        if any(source.linux_range):
            lines.append(f"  kernels it declares: {source.linux_range[0] or 'any'} to {source.linux_range[1] or 'any'} (META)")
        if source.tree:
            lines.append(f"  tree: {source.tree} (read as that project lays it out)")
        lines += [f"  needs {name}'s build: {', '.join(needing)}" for name, needing in source.needs.items()]
        lines += [f"  spec {spec}: {mode} mode" for spec, mode in source.specs.items()]
        lines += [f"  known only at build time: {note}" for note in source.notes]
        print(shown_lines(lines))  # a downloaded dkms.conf's values: one line each, nothing a terminal acts on
    return EXIT_OK


def _verb_kernels(sub: Any) -> None:
    p = sub.add_parser("kernels", help="list kernel build trees found here")
    p.add_argument("--root", default="/", help="look inside another root (an unpacked board image)")
    p.add_argument("--from", dest="from_package", action="append", metavar="FILE",
                   help="unpack a linux-headers .deb or kernel-devel .rpm into the cache and list it too; the "
                        "packages given together (Debian's -amd64 and -common halves) share a tree of their own")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_kernels, inputs={"from_package": "package", "root": "new-folder"})


def _verb_inspect(sub: Any) -> None:
    p = sub.add_parser("inspect", help="facts about modules (.ko[.gz|.xz|.zst]) and packages (.rpm, .deb)")
    p.add_argument("files", nargs="+", metavar="FILE", help=".ko files (also compressed), .rpm or .deb packages")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_inspect, inputs={"files": "module-or-package"})


def _verb_source(sub: Any) -> None:
    p = sub.add_parser("source", help="what kind of module source this is (read, never executed)")
    p.add_argument("path", help="a folder, a tarball, a .src.rpm or a .spec")
    p.add_argument("--json", action="store_true", help="as JSON")
    p.set_defaults(func=cmd_source, inputs={"path": "source-or-spec"})

