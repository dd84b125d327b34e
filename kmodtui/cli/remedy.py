"""Remedies: list, preview, apply with a backup, undo; and the kernel hook, installed like one."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from kmodtui.cli.common import EXIT_OK, EXIT_PROBLEMS, print_json, say
from kmodtui.core.errors import KmodError


def cmd_remedy(args: argparse.Namespace) -> int:
    from kmodtui.core.remedies import edits
    from kmodtui.core.remedies.catalogue import (
        CATALOGUE,
        RISKY,
        RemedyOptions,
        TargetNeeded,
        get_remedy,
    )
    from kmodtui.core.report import contract

    if args.action == "list":
        if args.json:
            print_json(contract.catalogue_payload(CATALOGUE))
        else:
            for r in CATALOGUE:
                print(f"{r.id:24} {r.risk:6} {r.title}\n{'':31} target: {r.target}; for: {', '.join(r.applies_to)}")
        return EXIT_OK
    if args.action == "history":
        records = edits.history()
        if args.json:
            print_json(contract.history_payload(records))
        for record in records if not args.json else ():
            say(f"{record['id']:48} {'undone' if record['undone'] else 'applied':8} {', '.join(record['files'])}")
        return EXIT_OK
    if args.action == "undo":  # an application id, a remedy id (+ --target), or nothing: the last one
        undo_id = edits.find_application(args.id or "", args.target or "")
        restored = edits.undo(undo_id)
        if args.json:
            print_json(contract.undone_payload(undo_id, restored))
        else:
            say("Restored, byte for byte: " + ", ".join(restored))
        return EXIT_OK
    if not args.id:
        raise KmodError("remedy", f"{args.action} needs an id (see `kmodtui remedy list`)")
    remedy = get_remedy(args.id)
    try:
        plan = remedy.plan(RemedyOptions(
            target=args.target or "", symbol=args.symbol or "", namespace=args.namespace or "",
            symvers=tuple(args.with_symvers or ()), depends=args.depends or "", kernel_release=args.kernel or "",
            generator=args.generator or "", change=args.change or ""))
    except TargetNeeded:  # the remedy needed a target and none was given
        raise KmodError(f"remedy {args.action} {remedy.id}", f"needs --target: {remedy.target} "
                        f"(e.g. `kmodtui remedy {args.action} {remedy.id} --target ./mymodule`)") from None
    if args.action == "show":
        if args.json:
            print_json(contract.plan_payload(plan))
        else:
            print(_plan_text(plan))
        return EXIT_OK
    # apply
    if plan.risk == RISKY and not args.accept_risk:
        raise KmodError(remedy.id, f"is risky: {plan.warning} Re-run with --accept-risk to apply it anyway")
    if not plan.edits:
        if args.json:
            print_json(contract.applied_payload(plan, None))
        else:
            print(_plan_text(plan))
            print("\nThis remedy changes no file: run the commands above.")
        return EXIT_OK
    if not args.yes:
        if not sys.stdin.isatty():
            raise KmodError(remedy.id, "apply asks for confirmation; pass --yes when not at a terminal")
        print(_plan_text(plan))
        if input("\nApply these changes? (a backup is kept; `kmodtui remedy undo` restores) [y/N] ").strip().lower() != "y":
            print("Nothing was changed.")
            return EXIT_OK
    undo_id = edits.apply_edits(remedy.id, list(plan.edits))
    if args.json:
        print_json(contract.applied_payload(plan, undo_id))
    else:
        say(f"Applied {remedy.id} to {', '.join(e.path for e in plan.edits)}. Undo: kmodtui remedy undo {undo_id}")
        if plan.commands:
            print("Next: " + "; ".join(plan.commands))
    return EXIT_OK


def _plan_text(plan: Any) -> str:
    lines = [f"{plan.remedy}: {plan.title}  [{plan.risk}]", "", plan.explanation]
    if plan.warning:
        lines += ["", f"WARNING: {plan.warning}"]
    diff = plan.diff()
    if diff:
        lines += ["", diff.rstrip("\n")]
    if plan.commands:
        lines += ["", "Then run:"] + [f"  {c}" for c in plan.commands]
    return "\n".join(lines)


def cmd_hook(args: argparse.Namespace) -> int:
    from kmodtui.core.remedies.edits import apply_edits
    from kmodtui.core.remedies.hooks import hook_plan
    from kmodtui.core.report import contract

    if args.action == "run":
        return _hook_run(args)
    if args.action == "install":
        from kmodtui.core.build.confine import no_sandbox_reason, require_bwrap

        if not no_sandbox_reason(False):  # the hook builds confined: a host without bwrap hears it now, not at the next kernel
            require_bwrap()
    edit = hook_plan(args.source, args.mode, args.root, args.style or "")
    shown = f"New file {edit.path} (mode 755):\n\n{edit.after.decode()}"
    if args.action == "show" or not (args.yes or sys.stdin.isatty()):
        if args.action == "install" and not args.yes:
            raise KmodError(edit.path, "installing a hook asks for confirmation; pass --yes when not at a terminal")
        print(shown) if not args.json else print_json(contract.hook_script_payload(edit))
        return EXIT_OK
    if not args.yes:
        print(shown)
        if input("Install this hook? [y/N] ").strip().lower() != "y":
            print("Nothing was written.")
            return EXIT_OK
    undo_id = apply_edits("hook-install", [edit])
    if args.json:
        print_json(contract.hook_installed_payload(edit, undo_id))
    else:
        print(f"Installed {edit.path}. Remove it with: kmodtui remedy undo {undo_id}")
    return EXIT_OK


def _hook_run(args: argparse.Namespace) -> int:
    """What the installed hook runs: every source built for the new kernel and installed (a report in
    the state dir, and here as text or JSON); exit 1 when any source did not make it."""
    from kmodtui.cli.gate import gate_line
    from kmodtui.core.remedies.gate import run_gated
    from kmodtui.core.remedies.hookrun import run_hook
    from kmodtui.core.report import contract

    if not args.kernel:
        raise KmodError("hook run", "needs --kernel (the new kernel's release)")
    if args.gate == "off":
        report = run_hook(args.kernel, args.source, args.mode, args.root)
    else:
        report = run_gated(args.kernel, args.source, args.mode, args.root, args.gate)
    if args.json:
        print_json(contract.hook_run_payload(report))
    else:
        say(f"kmodtui hook for {report.kernel} ({report.mode}, root {report.root}):")
        for o in report.outcomes:
            where = ", ".join(i.get("package") or i.get("path", "") for i in o.installed)
            detail = f"installed {where}" if o.state == "succeeded" else (
                (o.primary or {}).get("title") or "; ".join(o.notes) or o.state)
            say(f"  {o.name:24} {o.state:14} {detail}")
            if o.log:
                say(f"  {'':24} log: {o.log}")
        if report.initramfs:
            say(f"  initramfs: {report.initramfs}")
    line = gate_line(report.gate) if report.gate else ""
    if line:  # what the terminal that ran `apt upgrade` shows (the hook script passes this line on)
        if not args.json:
            say(line)
        print(line, file=sys.stderr)
    return EXIT_OK if report.ok else EXIT_PROBLEMS


def _verb_remedy(sub: Any) -> None:
    p = sub.add_parser("remedy", help="list, preview (diff), apply with a backup, or undo a fix")
    p.add_argument("action", choices=("list", "show", "apply", "undo", "history"),
                   help="list the catalogue, show a diff, apply it, undo it, or the history of applications")
    p.add_argument("id", nargs="?", help="a remedy id (see list); for undo also the id `apply` printed, or "
                   "nothing for the last remedy applied")
    p.add_argument("--target", help="what to fix: a spec, a module source folder, a .deb (see `remedy list`)")
    p.add_argument("--symbol", help="the symbol the finding names (import-namespace, kbuild-extra-symbols)")
    p.add_argument("--namespace", help="import-namespace: the namespace the finding names")
    p.add_argument("--extra-symbols", "--with-symvers", dest="with_symvers", action="append", metavar="MODULE_SYMVERS",
                   help="kbuild-extra-symbols: the Module.symvers of the module that exports the symbol "
                   "(repeatable; --with-symvers is the old name)")
    p.add_argument("--depends", help="deb-fix-depends: the package to depend on")
    p.add_argument("--kernel", help="kernel release, for remedies that name one")
    p.add_argument("--change", help="kernel-compat: the kernel API change diagnose named (primary.api_change.id)")
    p.add_argument("--generator", help=argparse.SUPPRESS)
    p.add_argument("--yes", action="store_true", help="apply without asking")
    p.add_argument("--accept-risk", action="store_true", help="needed to apply a risky remedy")
    p.add_argument("--json", action="store_true", help="as JSON")
    p.set_defaults(func=cmd_remedy, inputs={"target": "file-or-folder", "with_symvers": "file-or-folder"})


def _verb_hook(sub: Any) -> None:
    from kmodtui.core.build import modes

    p = sub.add_parser("hook", help="build and install sources for every new kernel (kernel post-install hook)")
    p.add_argument("action", choices=("show", "install", "run"),
                   help="show what the hook would run, install it, or run it now for --kernel (what the hook calls)")
    p.add_argument("--source", required=True, action="append",
                   help="a module source folder; repeat for several, providers before their consumers")
    p.add_argument("--kernel", help="run: the new kernel's release")
    p.add_argument("--mode", default="kbuild", choices=modes.names(), metavar="MODE",
                   help="the build mode the hook uses: " + ", ".join(modes.names()))
    p.add_argument("--root", default="/", help="install into another root (a board image, a test)")
    p.add_argument("--style", choices=("postinst.d", "install.d"), help="default: what the root has")
    p.add_argument("--gate", choices=("saved", "once", "off"), default="saved",
                   help="run: when a source fails for the new kernel, keep booting the newest kernel whose modules "
                   "are all installed: saved (until it succeeds; default), once (GRUB's next boot only), off")
    p.add_argument("--yes", action="store_true", help="install without asking")
    p.add_argument("--json", action="store_true", help="as JSON")
    p.set_defaults(func=cmd_hook, inputs={"source": "folder"})

