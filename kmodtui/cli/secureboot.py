"""`kmodtui secureboot`: the Secure Boot doctor: why a module will or will not load."""

from __future__ import annotations

import argparse
from typing import Any

from kmodtui.cli.common import EXIT_OK, EXIT_PROBLEMS, print_json, say


def cmd_secureboot(args: argparse.Namespace) -> int:
    from kmodtui.core.elf.module import read_module
    from kmodtui.core.lifecycle.signing import default_signing_key
    from kmodtui.core.report import contract
    from kmodtui.core.report.secureboot import boot_lines, verdict_lines
    from kmodtui.core.secureboot import judge, read_cert, read_signer, read_state

    modules = args.module or []
    release = ""
    if modules:  # the kernel config of the kernel the first module was built for, when it is here
        vermagic = read_module(modules[0]).vermagic
        release = vermagic.split()[0] if vermagic else ""
    state = read_state(args.sb_root, release)
    own = read_cert(default_signing_key()[1])
    verdicts = [judge(read_signer(m), state, own) for m in modules]
    if args.json:
        print_json(contract.secureboot_payload(state, verdicts))
    else:
        for line in boot_lines(state):
            say(line)
        for verdict in verdicts:
            say("")
            for line in verdict_lines(verdict):
                say(line)
    return EXIT_PROBLEMS if any(v.outcome != "will load" for v in verdicts) else EXIT_OK


def _verb_secureboot(sub: Any) -> None:
    p = sub.add_parser("secureboot", help="Secure Boot doctor: will these signed modules load, and why not?")
    p.add_argument("--module", action="append", metavar="M.ko", help="a module to judge (repeat for more)")
    p.add_argument("--root", dest="sb_root", default="/", metavar="DIR",
                   help="read a recorded state from DIR (its sys/, proc/, boot/ and outputs/) instead of this machine")
    p.add_argument("--json", action="store_true", help="as JSON")
    p.set_defaults(func=cmd_secureboot, inputs={"module": "module", "sb_root": "folder"})
