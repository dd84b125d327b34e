"""`kmodtui gate`: does a kernel whose modules did not build stay out of the next boot? Show, or lift."""

from __future__ import annotations

import argparse
import time
from typing import Any

from kmodtui.cli.common import EXIT_OK, EXIT_PROBLEMS, print_json, say


def gate_line(gate: dict[str, Any]) -> str:
    """One line for a terminal: which kernel boots next and why, or that the gate lifted or cannot act."""
    message = gate.get("message", "")
    if not message:
        return ""
    return f"kmodtui gate: {message} (kmodtui gate{_root_flag(gate)} shows it; kmodtui builds lists the runs)"


def _root_flag(gate: dict[str, Any]) -> str:
    root = gate.get("root", "/")
    return "" if root in ("", "/") else f" --root {root}"


def cmd_gate(args: argparse.Namespace) -> int:
    from kmodtui.core.remedies.gate import gate_json, lift, read_state
    from kmodtui.core.report import contract

    state = lift(args.root) if args.action == "lift" else read_state(args.root)
    payload = gate_json(state)
    if args.json:
        print_json(contract.gate_payload(payload))
        return EXIT_PROBLEMS if payload["engaged"] else EXIT_OK
    if payload["engaged"]:
        since = time.strftime("%Y-%m-%d %H:%M", time.localtime(payload["since"]))
        say(f"Held: {payload['held_on']} boots next, not {payload['new_kernel']} (since {since}, {payload['loader']} "
            f"{payload['method']}={payload['entry']})")
        for r in payload["reasons"]:
            primary = r.get("primary") or {}
            say(f"  {r.get('name')}: {r.get('state')}: {primary.get('title') or '; '.join(r.get('notes', [])[:1])}")
            if primary.get("fix"):
                say(f"    what to do: {primary['fix']}")
            if r.get("log"):
                say(f"    log: {r['log']}")
        say(f"It lifts by itself when the hook succeeds for {payload['new_kernel']} "
            f"(kmodtui hook run --kernel {payload['new_kernel']} --source ...), or now: kmodtui gate lift{_root_flag(payload)}")
    else:
        say(payload.get("message") or "The kernel gate has not acted here: no hook run failed for a new kernel.")
    return EXIT_PROBLEMS if payload["engaged"] else EXIT_OK


def _verb_gate(sub: Any) -> None:
    p = sub.add_parser("gate", help="is a kernel whose modules did not build kept out of the next boot? (show, lift)")
    p.add_argument("action", nargs="?", choices=("show", "lift"), default="show",
                   help="show the gate (default), or lift it: the boot default back as it was before kmodtui")
    p.add_argument("--root", default="/", help="the root whose boot loader the hook steers (a scratch root, a test)")
    p.add_argument("--json", action="store_true", help="as JSON")
    p.set_defaults(func=cmd_gate, inputs={"root": "folder"})
