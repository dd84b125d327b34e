"""`serve`: the TUI in a browser, on 127.0.0.1, behind a token."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from kmodtui.cli.common import EXIT_OK
from kmodtui.core.errors import KmodError


def cmd_serve(args: argparse.Namespace) -> int:
    """The TUI in a browser, for people who prefer one through an SSH tunnel. Bound to 127.0.0.1
    only: reach it with `ssh -L 8000:127.0.0.1:8000 buildhost`."""
    from kmodtui.core.scriptnames import shell

    try:
        from kmodtui.serve import TokenServer
    except ImportError:
        raise KmodError("textual-serve", "is not installed: pip install 'kmodtui[serve]' (or textual-serve)") from None
    # -I: the app must be this kmodtui, whatever folder `serve` was started in (no cwd on sys.path)
    command = f"{shell(sys.executable)} -I -m kmodtui" + (" --demo" if args.demo else "")
    TokenServer(command, host="127.0.0.1", port=args.port, title="kmodtui").serve()
    return EXIT_OK


def _verb_serve(sub: Any) -> None:
    p = sub.add_parser("serve", help="the TUI in a browser, on 127.0.0.1 only (for an SSH tunnel)")
    p.add_argument("--port", type=int, default=8000, help="TCP port on localhost (default 8000)")
    p.add_argument("--demo", action="store_true", help="serve the demo")
    p.set_defaults(func=cmd_serve, draws_its_output=True)  # textual-serve logs through Rich

