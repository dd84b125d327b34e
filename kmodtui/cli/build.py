"""Builds: `build` (here or detached), `builds` (the records), `attach` (follow one in the TUI)."""

from __future__ import annotations

import argparse
import os
from typing import Any

from kmodtui.cli.common import EXIT_OK, EXIT_PROBLEMS, print_json, print_json_line, say
from kmodtui.core.errors import KmodError, shown


def cmd_build(args: argparse.Namespace) -> int:
    from kmodtui.core.build import record as buildrecord
    from kmodtui.core.build.job import run_job, start_requests
    from kmodtui.core.build.request import load_request, make_request
    from kmodtui.core.build.runner import BuildEvent
    from kmodtui.core.report import contract

    if args.run_records:  # a detached runner: every record holds the request it builds
        pairs = [(load_request(record), record) for record in args.run_records]
    else:
        requests = [make_request(args.source, k, args.mode, extra_symbols=tuple(args.extra_symbols or ()),
                                 providers=tuple(args.provider or ()),
                                 arch=args.arch or "", deb_depends=args.deb_depends, version=args.version or "",
                                 sign=not args.no_sign, timeout=args.timeout, sign_modules=args.sign,
                                 no_sandbox=args.no_sandbox)
                    for k in args.kernel]
        from kmodtui.core.build.confine import require_bwrap, warning

        if requests[0].no_sandbox:  # said every time (a build run here says it in its log), and recorded
            if args.detach:
                import sys

                print(shown(warning(requests[0].no_sandbox)), file=sys.stderr)
        else:
            require_bwrap()  # a host that cannot confine: one line with the fix, before anything starts
        if args.detach:
            records = start_requests(requests)
            if args.json:
                print_json(contract.detached_payload(records))
            else:
                print("Build started in the background; `kmodtui builds` lists it. Logs:")
                say(*(f"  {os.path.join(r, 'work', 'build.log')}" for r in records))
            return EXIT_OK
        pairs = [(request, buildrecord.new_build_dir(f"{os.path.basename(request.source)}-{request.kernel.release}")[1])
                 for request in requests]
    results = []
    for request, record in pairs:
        kernel = request.kernel
        build_id = os.path.basename(record)

        def emit(event: BuildEvent, kernel_release: str = kernel.release, build_id: str = build_id) -> None:
            if args.json:
                payload = contract.build_event_payload(event, kernel_release, build_id)
                if payload is not None:  # the exit event is written below, with the artifacts
                    print_json_line(payload)
            elif event.kind == "line" and not args.quiet:
                print(shown(event.line), flush=True)  # a tool's output: nothing in it acts on the terminal
            elif event.kind == "phase" and not args.quiet:
                print(f"==> {event.phase} ({kernel_release})", flush=True)

        job = run_job(request, record, emit)
        results.append((kernel.release, job))
        if args.out_dir and job.artifacts:  # what was built, where the user wants it (the record keeps its own)
            import shutil

            target = os.path.join(args.out_dir, kernel.release) if len(pairs) > 1 else args.out_dir
            os.makedirs(target, exist_ok=True)
            for artifact in job.artifacts:
                shutil.copy2(artifact, os.path.join(target, os.path.basename(artifact)))
            if not args.json and not args.quiet:
                print(f"==> copied {len(job.artifacts)} file(s) to {target}", flush=True)
        if args.json:
            # the source as given (`--source provider` in every CI job, whatever folder the job runs in)
            print_json_line(contract.build_exit_payload(kernel.release, job, request.mode, request.arch,
                                                        args.source or request.source))
    if not args.json and not args.quiet:
        print()
        print(f"{'kernel':28} {'result':10} artifacts / first problem")
        for release, job in results:
            errors = [f for f in job.findings if f.severity == "error"]
            detail = (", ".join(os.path.basename(a) for a in job.artifacts)
                      or (job.primary["title"] if job.primary else errors[0].title if errors else f"exit {job.exit_code}"))
            say(f"{release:28} {job.state:10} {detail}")
        for release, job in results:  # what to do, as the TUI says it (kmodtui diagnose gives the same)
            if job.primary:
                p = job.primary
                say("", f"{release}: {p['cause']} ({p['title']})", f"  line {p['line_number']}: {p['line'].strip()}",
                    f"  What to do: {p['fix']}", *([f"  Remedies: {', '.join(p['remedies'])}"] if p["remedies"] else []))
    return EXIT_OK if all(job.exit_code == 0 for _, job in results) else EXIT_PROBLEMS


def cmd_builds(args: argparse.Namespace) -> int:
    from kmodtui.core.build.record import list_builds

    records = list_builds()
    if args.action == "stop":
        return _stop_build(args, records)
    if args.action:
        raise KmodError(args.action, "unknown builds action; use `kmodtui builds` or `kmodtui builds stop ID`")
    from kmodtui.core.remedies.hookrun import hook_reports
    from kmodtui.core.report import contract

    hooks = hook_reports()
    if args.json:
        print_json(contract.builds_payload(records, hooks))
        return EXIT_OK
    if not records:
        print("No builds recorded yet.")
    for r in records:
        say(f"{r['id']:56} {r.get('state', '?'):10} {r.get('mode', '')}  {r.get('kernel', '')}",
            f"    log: {r.get('log', '')}")
    for h in hooks:  # what the kernel hook did for each new kernel
        states = ", ".join(f"{o['name']} {o['state']}" for o in h.get("outcomes", []))
        say(f"hook for {h.get('kernel', '?')} ({h.get('mode', '')}, root {h.get('root', '')}): {states}")
        if h.get("initramfs"):
            say(f"    initramfs: {h['initramfs']}")
        if (h.get("gate") or {}).get("message"):
            say(f"    kernel gate: {h['gate']['message']}")
    return EXIT_OK


def _stop_build(args: argparse.Namespace, records: list[dict[str, Any]]) -> int:
    """`builds stop ID`: SIGTERM a running build's runner; it stops its process group and records
    'cancelled'."""
    from kmodtui.core.build.record import RUNNING, effective_state, stop
    from kmodtui.core.report import contract

    if not args.build:
        running = [r["id"] for r in records if effective_state(r) == RUNNING]
        raise KmodError("builds stop", "needs a build id: " + (", ".join(running) if running else
                                                               "none is running (`kmodtui builds` lists them)"))
    chosen = [r for r in records if args.build in (r["id"], r["dir"])]
    if not chosen:
        raise KmodError(args.build, "no such build recorded (see `kmodtui builds`)")
    stopped = effective_state(chosen[0]) == RUNNING and stop(chosen[0])
    if args.json:
        print_json(contract.build_stopped_payload(chosen[0]["id"], stopped))
    else:
        print(f"Stopping {chosen[0]['id']}: it records 'cancelled' once its processes are gone." if stopped
              else f"{chosen[0]['id']} is not running ({effective_state(chosen[0])}).")
    return EXIT_OK if stopped else EXIT_PROBLEMS


def cmd_attach(args: argparse.Namespace) -> int:
    from kmodtui.app import KmodApp, run_app
    from kmodtui.core.build.record import RUNNING, list_builds

    records = list_builds()
    if args.build:
        chosen = [r for r in records if r["id"] == args.build or r["dir"] == args.build]
    else:
        chosen = [r for r in records if r.get("state") == RUNNING] or records[:1]
    if not chosen:
        raise KmodError(args.build or "builds", "no such build recorded (see `kmodtui builds`)")
    run_app(KmodApp(attach=chosen[0]["dir"]), mouse=not args.no_mouse)
    return EXIT_OK


def _verb_build(sub: Any) -> None:
    from kmodtui.core.build import modes

    p = sub.add_parser("build", help="build a module source for one or more kernels, streaming the log")
    p.add_argument("--kernel", "-k", action="append",
                   help="a release, build dir or headers .deb/.rpm (required; repeat for a build matrix)")
    p.add_argument("--source", "-s", help="module source: a folder, a source tarball, a Debian *-dkms .deb, or a "
                   "kmod .src.rpm (mode srpm) (required)")
    p.add_argument("--mode", "-m", default="kbuild", choices=modes.names(), metavar="MODE",
                   help="how to build and package: " + ", ".join(modes.names()) + " (kbuild: the .ko files)")
    p.add_argument("--extra-symbols", action="append", metavar="MODULE_SYMVERS",
                   help="Module.symvers of another out-of-tree module this one uses (KBUILD_EXTRA_SYMBOLS)")
    p.add_argument("--provider", action="append", metavar="SOURCE",
                   help="the source of another out-of-tree module this one uses, recorded in the request: the "
                   "build takes the Module.symvers of its newest build for the same kernel (repeatable)")
    p.add_argument("--arch", help="cross-build for this ARCH (arm64, ...)")
    p.add_argument("--deb-depends", help="deb mode: the Depends to write (default: the package owning the kernel here)")
    p.add_argument("--version", help="package version (default: dkms.conf's, else 1.0)")
    p.add_argument("--timeout", type=float, help="stop the build after this many seconds")
    p.add_argument("--no-sign", action="store_true", help="dkms mode: do not let dkms sign (or create its MOK key)")
    p.add_argument("--sign", action="store_true", help="deb and rpm modes: sign every module before it is packaged, "
                   "with kmodtui's key pair (made on first use; enroll it with mokutil --import)")
    p.add_argument("--no-sandbox", action="store_true", help="run the source's Makefile, configure and dkms.conf "
                   "commands unconfined, as you, with the network (for a host where bubblewrap cannot work; said "
                   "every time, and recorded); KMODTUI_NO_SANDBOX=<why> does it for every build")
    p.add_argument("--detach", action="store_true", help="run in the background, surviving the terminal")
    p.add_argument("--out-dir", metavar="DIR", help="also copy what each build made here (a folder per kernel when "
                   "there are several); the build record keeps its own copy")
    p.add_argument("--quiet", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--run-records", nargs="+", help=argparse.SUPPRESS)  # the detached runner
    p.add_argument("--json", action="store_true", help="events as JSON lines (phase, line, finding, exit)")
    p.set_defaults(func=cmd_build, required=("source", "kernel"), required_unless="run_records",
                   inputs={"source": "source", "kernel": "kernel", "extra_symbols": "file-or-folder", "out_dir": "new-folder"})


def _verb_builds(sub: Any) -> None:
    p = sub.add_parser("builds", help="running and past builds, with their logs; `builds stop ID` stops one")
    p.add_argument("action", nargs="?", choices=["stop"], help="stop: cancel the running build ID")
    p.add_argument("build", nargs="?", help="the build id (or folder) to act on, from `kmodtui builds`")
    p.add_argument("--json", action="store_true", help="the records as JSON")
    p.set_defaults(func=cmd_builds)


def _verb_attach(sub: Any) -> None:
    p = sub.add_parser("attach", help="follow a build in the TUI (default: the running one, else the last)")
    p.add_argument("build", nargs="?", help="build id or folder from `kmodtui builds`")
    p.add_argument("--no-mouse", action="store_true", help=argparse.SUPPRESS)
    p.set_defaults(func=cmd_attach)

