"""`kmodtui`: no verb opens the TUI wizard; verbs run headless (every one takes --json).

The verbs are a table, as in kmod's tools/kmod.c: each names the module that defines it and the
function that adds its subparser. Only the verb given on the command line is imported and built
(importing and building all of them costs ~20 ms of every start). A verb's module only parses its
arguments, calls the core and prints what kmodtui.core.report returns.

Exit codes: 0 fine, 1 problems found, 2 bad input (one line `kmodtui: <file>: <what is wrong>`).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence
from typing import Any

from kmodtui import __version__
from kmodtui.cli.common import EXIT_BAD_INPUT, EXIT_OK, TerminalText, error_line
from kmodtui.core.errors import KmodError

# verb -> (module in kmodtui.cli, function adding its subparser), in the order `--help` lists them
VERBS: dict[str, tuple[str, str]] = {
    "kernels": ("facts", "_verb_kernels"),
    "inspect": ("facts", "_verb_inspect"),
    "resolve": ("resolve", "_verb_resolve"),
    "rpmdeps": ("resolve", "_verb_rpmdeps"),
    "build": ("build", "_verb_build"),
    "builds": ("build", "_verb_builds"),
    "check-update": ("lifecycle", "_verb_check_update"),
    "sign": ("lifecycle", "_verb_sign"),
    "secureboot": ("secureboot", "_verb_secureboot"),
    "check-userspace": ("lifecycle", "_verb_check_userspace"),
    "hook": ("remedy", "_verb_hook"),
    "gate": ("gate", "_verb_gate"),
    "source": ("facts", "_verb_source"),
    "remedy": ("remedy", "_verb_remedy"),
    "serve": ("serve", "_verb_serve"),
    "attach": ("build", "_verb_attach"),
    "diagnose": ("diagnose", "_verb_diagnose"),
    "matrix": ("matrix", "_verb_matrix"),
    "follow": ("follow", "_verb_follow"),
}


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The whole CLI; given the command line, only the verb it names gets its subparser built."""
    parser = argparse.ArgumentParser(
        prog="kmodtui",
        description="Get out-of-tree Linux kernel modules built, packaged and installable. "
        "Without a command, opens the guided terminal UI.",
    )
    parser.add_argument("--version", action="version", version=f"kmodtui {__version__}")
    parser.add_argument("--demo", action="store_true", help="open the TUI on bundled sample data")
    parser.add_argument("--no-mouse", action="store_true", help="do not capture the mouse (slow links)")
    parser.add_argument("--root", default="/", help="TUI: look for kernels inside another root")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    wanted = argv[0] if argv and argv[0] in VERBS else None
    for name, (module, adder) in VERBS.items():
        if wanted in (None, name):
            getattr(importlib.import_module(f"kmodtui.cli.{module}"), adder)(sub)
    return parser


def run_tui(args: argparse.Namespace) -> int:
    from kmodtui.app import KmodApp, run_app

    return run_app(KmodApp(demo=args.demo, root=args.root), mouse=not args.no_mouse)


def main(argv: Sequence[str] | None = None) -> int:
    # what is printed goes out through shown(), argparse's errors quoting an argument included
    streams = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = TerminalText(sys.stdout), TerminalText(sys.stderr)
    try:
        return _run(list(sys.argv[1:] if argv is None else argv), streams)
    finally:
        sys.stdout, sys.stderr = streams


def _run(argv: list[str], streams: tuple[Any, Any]) -> int:
    parser = build_parser(argv)
    args, extras = parser.parse_known_args(argv)
    if extras:
        # argparse (3.11) takes a verb's list positional in its first run of words only, so
        # `matrix report --html a.jsonl` left a.jsonl over; a verb that names its list takes them
        tail = getattr(args, "positional_tail", None)
        if tail and not any(e.startswith("-") for e in extras):
            setattr(args, tail, list(getattr(args, tail) or []) + extras)
        else:
            parser.error(f"unrecognized arguments: {' '.join(extras)}")
    if getattr(args, "draws_its_output", False):  # a verb whose output Rich draws, colours and all
        sys.stdout, sys.stderr = streams
    try:
        if args.command is None:
            return run_tui(args)
        from kmodtui.cli.inputs import check_inputs

        check_inputs(parser, args)  # the verb's declared inputs, before it prints or makes anything
        return int(args.func(args))
    except KmodError as err:
        error_line(err)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return EXIT_OK
    except OSError as err:  # e.g. a full disk under the output: not an internal error, say where
        if os.environ.get("KMODTUI_DEBUG"):
            raise
        import errno

        from kmodtui.core.errors import printable

        where = printable(err.filename, name=True) if err.filename else "output"
        if err.errno in (errno.ENOSPC, errno.EDQUOT) and err.filename:
            error_line(f"no space left on the device (writing {where}); free some and run again")
        else:
            error_line(f"{where}: {err.strerror or err}")
        return EXIT_BAD_INPUT
    except Exception as err:  # never a traceback for a user; KMODTUI_DEBUG=1 shows it
        if os.environ.get("KMODTUI_DEBUG"):
            raise
        error_line(f"internal error: {type(err).__name__}: {err} (rerun with KMODTUI_DEBUG=1 for details)")
        return EXIT_BAD_INPUT


def entry() -> None:
    """The `kmodtui` command: main(), then out without tearing down the heap. After `resolve` on a
    distro tree that is ~40 ms of freeing objects one by one that the kernel reclaims at once;
    kmodtui registers no exit handlers, and its output is flushed here first."""
    code = main()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except BrokenPipeError:
        pass
    except OSError:
        code = code or EXIT_BAD_INPUT
    os._exit(code)

