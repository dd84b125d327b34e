"""`kmodtui follow`: keep an apt repository with the module built for a target's newest kernel."""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from kmodtui.cli.common import EXIT_OK, EXIT_PROBLEMS, print_json
from kmodtui.core.errors import KmodError

TIMER = """[Unit]
Description=kmodtui follow {target}: the module for its newest kernel, published to {repo}

[Timer]
OnBootSec=15min
OnUnitActiveSec={every}
RandomizedDelaySec=10min
Persistent=true

[Install]
WantedBy=timers.target
"""
SERVICE = """[Unit]
Description=kmodtui follow {target} (one check-build-publish cycle)
Wants=network-online.target
After=network-online.target

[Service]
Type=oneshot
ExecStart={command}
Nice=10
"""


def cmd_follow(args: argparse.Namespace) -> int:
    from kmodtui.core.lifecycle.follow import follow_once, parse_target
    from kmodtui.core.report import contract

    target = parse_target(args.target)
    if args.timer:
        return _timer(args, target)
    while True:
        result = follow_once(args.source, target, args.repo, url=args.url, apt_sources=args.apt_source)
        if args.json:
            print_json(contract.follow_payload(result))
        else:
            print(f"{target.name}: {result.result} ({result.seconds:.0f} s): {result.message}")
            if result.cause:
                print(f"  cause: {result.cause.get('cause')} ({result.cause.get('title')})")
            if result.sources_line:
                print(f"  on the board: {result.sources_line}")
        if args.once:
            return EXIT_OK if result.result in ("published", "up-to-date") else EXIT_PROBLEMS
        sys.stdout.flush()
        time.sleep(args.every)


def _timer(args: argparse.Namespace, target: Any) -> int:
    """A systemd timer running one cycle every --every seconds: shown, installed on confirmation
    (--yes), undone like a remedy."""
    import os

    from kmodtui.core import scriptnames
    from kmodtui.core.paths import self_argv
    from kmodtui.core.remedies.edits import FileEdit, apply_edits
    from kmodtui.core.report import contract

    safe = "".join(c if c.isalnum() else "-" for c in f"{target.suite}-{target.arch}-{os.path.basename(args.source.rstrip('/'))}")
    base = os.path.join(args.root, "etc", "systemd", "system", f"kmodtui-follow-{safe}")
    repo = os.path.abspath(args.repo)
    words = [*self_argv(), "follow", "--once", "--source", os.path.abspath(args.source), "--target", target.name,
             "--repo", repo, "--url", args.url]
    command = " ".join(scriptnames.systemd_word(word, word, "a word of the timer's command") for word in words)
    service = SERVICE.format(target=scriptnames.systemd_text(target.name, "--target", "the target"), command=command)
    timer = TIMER.format(target=scriptnames.systemd_text(target.name, "--target", "the target"),
                         repo=scriptnames.systemd_text(repo, "--repo", "the repository path"), every=f"{int(args.every)}s")
    edits = [FileEdit(base + ".service", b"", service.encode(), create=True, mode=0o644),
             FileEdit(base + ".timer", b"", timer.encode(), create=True, mode=0o644)]
    for edit in edits:
        if os.path.lexists(edit.path):
            raise KmodError(edit.path, "already exists: undo the timer kmodtui installed before (kmodtui remedy history)")
    if args.timer == "show" or not args.yes:
        if args.json:
            print_json(contract.timer_payload(edits))
        else:
            for e in edits:
                print(f"New file {e.path}:\n\n{e.after.decode()}")
            print(f"Install with --timer install --yes, then: systemctl daemon-reload && systemctl enable --now "
                  f"{os.path.basename(base)}.timer")
        return EXIT_OK
    undo_id = apply_edits("follow-timer", edits)
    if args.json:
        print_json(contract.timer_payload(edits, undo_id))
    else:
        print(f"Installed {base}.service and .timer. Start it: systemctl daemon-reload && systemctl enable --now "
              f"{os.path.basename(base)}.timer. Remove it with: kmodtui remedy undo {undo_id}")
    return EXIT_OK


def _verb_follow(sub: Any) -> None:
    p = sub.add_parser("follow", help="publish the module for a target's newest kernel to an apt repository")
    p.add_argument("--source", required=True, help="the module source folder")
    p.add_argument("--target", required=True, help="debian:<release>:<arch>[:<flavor>], e.g. debian:bookworm:arm64")
    p.add_argument("--repo", required=True, help="the repository folder kmodtui keeps (new or empty the first time)")
    p.add_argument("--url", default="http://BUILD-HOST/", help="where the board reaches the repository (for the "
                   "sources.list line shown)")
    p.add_argument("--apt-source", action="append", metavar="LINE",
                   help="a sources.list line of the target (repeatable; default: Debian's <release>, -updates, -security)")
    p.add_argument("--once", action="store_true", help="one check-build-publish cycle, then exit")
    p.add_argument("--every", type=float, default=6 * 3600, help="seconds between cycles (default 6 h)")
    p.add_argument("--timer", choices=("show", "install"), help="show or install a systemd timer running --once")
    p.add_argument("--root", default="/", help="--timer: install into another root")
    p.add_argument("--yes", action="store_true", help="--timer install: without asking")
    p.add_argument("--json", action="store_true", help="as JSON")
    p.set_defaults(func=cmd_follow, inputs={"source": "folder", "repo": "new-folder"})
