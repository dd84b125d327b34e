"""`diagnose`: the root cause of a failure log people have in hand."""

from __future__ import annotations

import argparse
import textwrap
from typing import Any

from kmodtui.cli.common import EXIT_OK, EXIT_PROBLEMS, print_json
from kmodtui.core.errors import shown


def cmd_diagnose(args: argparse.Namespace) -> int:
    from kmodtui.core.diagnose import diagnose_sources, read_logs
    from kmodtui.core.report import contract

    diagnosis = diagnose_sources(read_logs(args.logs))
    payload = contract.diagnose_payload(diagnosis)
    if args.json:
        print_json(payload)
    else:
        print(diagnosis_text(payload, verbose=args.all))
    return EXIT_OK if payload["primary"] is None else EXIT_PROBLEMS


def _where(finding: dict[str, Any]) -> str:
    return (f"{shown(finding['file'])}:" if finding.get("file") else "line ") + str(finding["line_number"])


def _line(finding: dict[str, Any], width: int | None = None) -> str:
    """The log line a finding read: a line from anywhere, shown as text (colours, OSC 52 and the
    rest a log may carry are escaped, not sent to the terminal)."""
    return shown(finding["line"].strip()[:width])


def diagnosis_text(payload: dict[str, Any], verbose: bool = False) -> str:
    primary = payload["primary"]
    wrap = textwrap.TextWrapper(width=100, initial_indent="  ", subsequent_indent="  ")
    if primary is None:
        harmless = [f for f in payload["findings"] if f["cause"] == "harmless"]
        text = f"Nothing wrong found in {payload['lines']} lines."
        if harmless:
            text += f" {len(harmless)} harmless notice(s), e.g. {_where(harmless[0])}: {_line(harmless[0])}"
        return text
    lines = [f"Cause: {primary['cause']} ({primary['title']})",
             f"  {_where(primary)}: {_line(primary)}", "", "What it means:",
             wrap.fill(primary["explanation"]), "What to do:", wrap.fill(primary["fix"])]
    if primary["remedies"]:
        lines.append(f"Remedies: {', '.join(primary['remedies'])} (kmodtui remedy show ID)")
    if primary["knock_on"]:
        first = primary["knock_on"][0]
        lines.append(f"Because of it: {len(primary['knock_on'])} later line(s) only report the failure "
                     f"(first: {_where(first)}: {_line(first, 80)})")
    others = [f for f in payload["findings"] if f["tier"] in ("root", "weak") and f is not primary
              and (f["line_number"], f.get("file")) != (primary["line_number"], primary.get("file"))]
    if others:
        lines.append(f"Other findings: {len(others)}" + ("" if verbose else " (--all lists them)"))
        for finding in others if verbose else others[:3]:
            lines.append(f"  {_where(finding)} {finding['cause']}: {_line(finding, 90)}")
    return "\n".join(lines)


def _verb_diagnose(sub: Any) -> None:
    p = sub.add_parser("diagnose", help="name the root cause of a failure log (dkms make.log, apt, dnf, dmesg...)",
                       description="Reads build and install logs (dkms's make.log, apt/dpkg output, yum/dnf/rpm "
                       "errors, akmods logs, dmesg or journal lines, rpmbuild and kbuild output; compressed ones "
                       "too) and names the first real error as one cause from a published vocabulary (README, "
                       "'Causes'), with what it means and what to do. Exit status 1 when a cause is found, 0 "
                       "when nothing is wrong. Nothing in the log is run.")
    p.add_argument("logs", nargs="+", metavar="LOG", help="log files, read in order as one story; - for stdin")
    p.add_argument("--json", action="store_true", help="the diagnosis as JSON (see schema/diagnose.json)")
    p.add_argument("--all", action="store_true", help="text: list every other finding, not the first three")
    p.set_defaults(func=cmd_diagnose)
