"""`diagnose`: the root cause of a failure log people have in hand."""

from __future__ import annotations

import argparse
from typing import Any

from kmodtui.cli.common import EXIT_OK, EXIT_PROBLEMS, print_json


def cmd_diagnose(args: argparse.Namespace) -> int:
    from kmodtui.core.diagnose import diagnose_sources, read_logs
    from kmodtui.core.report import contract
    from kmodtui.core.report.render import diagnosis_text

    diagnosis = diagnose_sources(read_logs(args.logs))
    payload = contract.diagnose_payload(diagnosis)
    if args.json:
        print_json(payload)
    else:
        print(diagnosis_text(payload, verbose=args.all))
    return EXIT_OK if payload["primary"] is None else EXIT_PROBLEMS


def _verb_diagnose(sub: Any) -> None:
    p = sub.add_parser("diagnose", help="name the root cause of a failure log (dkms make.log, apt, dnf, dmesg...)",
                       description="Reads build and install logs (dkms's make.log, apt/dpkg output, yum/dnf/rpm "
                       "errors, akmods logs, dmesg or journal lines, rpmbuild and kbuild output; compressed ones "
                       "too) and names the first real error as one cause from a published vocabulary (README, "
                       "'Causes'), with what it means and what to do. Exit status 1 when the log records a failure "
                       "(unrecognised_failure when no rule names its cause), 0 only when nothing failed, 2 when a "
                       "log cannot be read. Nothing in the log is run.")
    p.add_argument("logs", nargs="+", metavar="LOG", help="log files, read in order as one story; - for stdin")
    p.add_argument("--json", action="store_true", help="the diagnosis as JSON (see schema/diagnose.json)")
    p.add_argument("--all", action="store_true", help="text: list every other finding, not the first three")
    p.set_defaults(func=cmd_diagnose, inputs={"logs": "log"})
