"""`kmodtui`: no verb opens the TUI wizard; verbs run headless (every one takes --json).

Exit codes: 0 fine, 1 problems found, 2 bad input (one line `kmodtui: <file>: <what is wrong>`).
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
from typing import Any, Callable, Sequence

from kmodtui import __version__
from kmodtui.core.errors import KmodError

EXIT_OK, EXIT_PROBLEMS, EXIT_BAD_INPUT = 0, 1, 2


def _print_json(payload: dict[str, Any]) -> None:
    import json  # here, not at the top: most runs print no JSON, and start-up counts

    from kmodtui.core.report.render import SCHEMA_VERSION

    json.dump({"schema_version": SCHEMA_VERSION, **payload}, sys.stdout, indent=2)
    sys.stdout.write("\n")


def _error_line(err: KmodError | str) -> None:
    from kmodtui.core.errors import printable

    print(f"kmodtui: {err if isinstance(err, KmodError) else printable(err)}", file=sys.stderr)


def cmd_kernels(args: argparse.Namespace) -> int:
    from kmodtui.core.kernels import discover as kmod_kernels
    from kmodtui.core.paths import cache_dir
    from kmodtui.core.report.render import kernel_json, kernel_text

    found = kmod_kernels.discover_kernels(args.root)
    errors: list[KmodError] = []
    for package in args.from_package or ():
        try:
            found += kmod_kernels.unpack_kernel_package(package, cache_dir())
        except KmodError as err:
            errors.append(err)
    if args.json:
        _print_json({
            "kernels": [kernel_json(k) for k in found],
            "errors": [{"path": e.path, "error": e.reason} for e in errors],
        })
    else:
        if not found:
            print("No kernel build trees found.", _headers_hint(), sep="\n")
        for kernel in found:
            print(kernel_text(kernel))
    for err in errors:
        _error_line(err)
    return EXIT_BAD_INPUT if errors else EXIT_OK


def _headers_hint() -> str:
    release = os.uname().release
    return (
        "Install the headers for your kernel, for example:\n"
        f"  Debian/Ubuntu: sudo apt-get install linux-headers-{release}\n"
        f"  Fedora/RHEL:   sudo dnf install kernel-devel-{release}\n"
        "or try the bundled demo: kmodtui --demo"
    )


def cmd_inspect(args: argparse.Namespace) -> int:
    from kmodtui.core.elf.module import read_module
    from kmodtui.core.model import is_package_path
    from kmodtui.core.packages.read import read_package
    from kmodtui.core.report.render import module_json, module_text, package_json, package_text

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
        _print_json({
            "modules": [module_json(m) for m in modules],
            "packages": [package_json(p) for p in packages],
            "errors": [{"path": e.path, "error": e.reason} for e in errors],
        })
    else:
        print("\n\n".join([module_text(m) for m in modules] + [package_text(p) for p in packages]))
    for err in errors:
        _error_line(err)
    return EXIT_BAD_INPUT if errors else EXIT_OK


def cmd_resolve(args: argparse.Namespace) -> int:
    from kmodtui.core.kernels.discover import find_kernel
    from kmodtui.core.paths import cache_dir
    from kmodtui.core.resolve.engine import resolve

    kernel = find_kernel(args.kernel or _default_kernel_release())
    if not args.tui:
        # A short-lived run making ~10^5 small tuples and no reference cycles: the cyclic garbage
        # collector would only rescan them, ~30% of the time on a distro tree. (The TUI keeps it.)
        gc.disable()
    full_listing = (args.json and not args.problems_only) or args.tui
    installed = None
    if args.installed:
        from kmodtui.core.packages.packageset import read_installed

        installed = read_installed(args.installed)
    elif any(t.endswith(".deb") for t in args.targets) and os.path.exists("/var/lib/dpkg/status"):
        from kmodtui.core.packages.packageset import read_installed

        installed = read_installed("/var/lib/dpkg/status")
    result = resolve(args.targets, kernel, args.with_ or [], jobs=args.jobs,
                     cache_dir=None if args.no_cache else cache_dir(), need_modules=full_listing,
                     installed=installed)
    if result.symvers is not None and result.symvers.problems:
        for problem in result.symvers.problems:
            _error_line(f"{kernel.symvers_path}: {problem} (skipped)")
    if args.tui:
        from kmodtui.app import KmodApp

        app = KmodApp(resolve_result=result)
        app.run(mouse=not args.no_mouse)
    elif args.json:
        from kmodtui.core.report.render import finding_json, resolve_summary

        _print_json({
            "summary": resolve_summary(result),
            "findings": [finding_json(f) for f in result.findings(problems_only=args.problems_only)],
        })
    elif args.markdown:
        from kmodtui.core.report.render import resolve_markdown

        _print_report(result, "md", resolve_markdown)
    else:
        from kmodtui.core.report.render import resolve_text

        _print_report(result, "txt", lambda r: resolve_text(r) + "\n")
    return EXIT_OK if result.ok else EXIT_PROBLEMS


def _print_report(result: Any, kind: str, render: Any) -> None:
    """Render a report, or reuse the one an earlier run rendered from identical inputs."""
    # Reports are UTF-8; on a UTF-8 stdout (the usual case) bytes go out as they are, with no
    # second encoding of what can be megabytes (a distro tree against another ABI).
    utf8 = (sys.stdout.encoding or "").lower().replace("-", "") == "utf8"
    cached = result.cached_report(kind)
    if cached is not None:
        if utf8:
            sys.stdout.flush()
            sys.stdout.buffer.write(cached)
        else:
            sys.stdout.write(cached.decode("utf-8", "replace"))
        return
    text = render(result)
    data = text.encode("utf-8", "surrogateescape")
    result.store_report(kind, data)
    if utf8:
        sys.stdout.flush()
        sys.stdout.buffer.write(data)
    else:
        sys.stdout.write(text)


def _default_kernel_release() -> str:
    return os.uname().release


def cmd_rpmdeps(args: argparse.Namespace) -> int:
    """Like rpm's %__find_provides/%__find_requires: a file list on stdin (or as arguments)."""
    from kmodtui.core.elf.module import read_module
    from kmodtui.core.kernels.discover import find_kernel
    from kmodtui.core.packages.rpmdeps import MODULE_FILE, module_provides, module_requires
    from kmodtui.core.symvers.parse import read_symvers

    paths = args.files or [line.strip() for line in sys.stdin if line.strip()]
    modules = [(p, read_module(p)) for p in paths if MODULE_FILE.search(p) and os.path.isfile(p)]
    if args.predict:
        from kmodtui.core.packages.rpmdeps import predict_dependencies

        symvers = read_symvers(find_kernel(args.kernel).symvers_path) if args.kernel else None
        predicted = predict_dependencies(modules, args.predict, symvers)
        if args.json:
            _print_json({"mode": predicted.mode, "provides": list(predicted.provides),
                         "requires": list(predicted.requires), "story": predicted.story})
        else:
            print(f"# built in mode {predicted.mode}: {predicted.story}")
            print("".join(f"Provides: {p}\n" for p in predicted.provides) +
                  "".join(f"Requires: {r}\n" for r in predicted.requires), end="")
        return EXIT_OK
    if args.provides:
        lines = module_provides(modules)
    else:
        symvers = None
        release = args.kernel or next((m.vermagic.split()[0] for _, m in modules if m.vermagic), None)
        if release:
            try:
                kernel = find_kernel(release)
                symvers = read_symvers(kernel.symvers_path) if kernel.symvers_path else None
            except KmodError as err:
                if args.kernel:
                    raise
                _error_line(f"{err} — every requirement becomes ksym() (pass --kernel)")
        lines = module_requires([m for _, m in modules], symvers)
    if args.json:
        _print_json({"provides" if args.provides else "requires": lines})
    else:
        sys.stdout.write("".join(line + "\n" for line in lines))
    return EXIT_OK


def cmd_build(args: argparse.Namespace) -> int:
    import json

    from kmodtui.core.build import record as buildrecord
    from kmodtui.core.build.plan import BuildRequest
    from kmodtui.core.build.job import run_job, start_detached
    from kmodtui.core.kernels.discover import find_kernel
    from kmodtui.core.build.runner import BuildEvent

    if not os.path.isdir(args.source) and not args.source.endswith(".src.rpm"):
        raise KmodError(args.source, "no such module source directory (or .src.rpm)")
    if not os.path.exists(args.source):
        raise KmodError(args.source, "no such file")
    kernels = [find_kernel(k) for k in args.kernel]
    if args.detach:
        records = start_detached(args.source, args.kernel, args.mode, _passthrough(args))
        if args.json:
            _print_json({"detached": True, "records": records})
        else:
            print("Build started in the background; `kmodtui builds` lists it. Logs:")
            print("\n".join(f"  {os.path.join(r, 'work', 'build.log')}" for r in records))
        return EXIT_OK
    record_dirs = args.record_dir or []
    if record_dirs and len(record_dirs) != len(kernels):
        raise KmodError("--record-dir", "give one --record-dir per --kernel")
    results = []
    for index, kernel in enumerate(kernels):
        if record_dirs:
            record = record_dirs[index]
        else:
            _, record = buildrecord.new_build_dir(f"{os.path.basename(os.path.abspath(args.source))}-{kernel.release}")
        request = BuildRequest(os.path.abspath(args.source), kernel, args.mode, tuple(args.extra_symbols or ()),
                               args.arch or "", args.deb_depends, args.version or "", sign=not args.no_sign)
        build_id = os.path.basename(record)

        def emit(event: BuildEvent, kernel_release: str = kernel.release, build_id: str = build_id) -> None:
            if args.json:
                payload: dict[str, Any] = {"event": event.kind, "kernel": kernel_release, "build": build_id}
                if event.kind == "phase":
                    payload["phase"] = event.phase
                elif event.kind == "line":
                    payload.update(n=event.line_number, text=event.line)
                elif event.kind == "finding" and event.finding:
                    payload.update(rule=event.finding.rule, severity=event.finding.severity,
                                   line=event.finding.line_number, title=event.finding.title,
                                   cause=event.finding.cause, fix=event.finding.fix,
                                   remedies=list(event.finding.remedies))
                elif event.kind == "exit":
                    return  # written below, with the artifacts
                print(json.dumps(payload), flush=True)
            elif event.kind == "line" and not args.quiet:
                print(event.line, flush=True)
            elif event.kind == "phase" and not args.quiet:
                print(f"==> {event.phase} ({kernel_release})", flush=True)

        job = run_job(request, record, emit, args.timeout)
        results.append((kernel.release, job))
        if args.json:
            print(json.dumps({"event": "exit", "kernel": kernel.release, "build": job.build_id, "code": job.exit_code,
                              "state": job.state, "artifacts": list(job.artifacts), "log": job.log_path}), flush=True)
    if not args.json and not args.quiet:
        print()
        print(f"{'kernel':28} {'result':10} artifacts / first problem")
        for release, job in results:
            errors = [f for f in job.findings if f.severity == "error"]
            detail = ", ".join(os.path.basename(a) for a in job.artifacts) or (errors[0].title if errors else f"exit {job.exit_code}")
            print(f"{release:28} {job.state:10} {detail}")
    return EXIT_OK if all(job.exit_code == 0 for _, job in results) else EXIT_PROBLEMS


def _passthrough(args: argparse.Namespace) -> list[str]:
    """The options a detached runner needs besides source, kernels and mode."""
    argv: list[str] = []
    for extra in args.extra_symbols or ():
        argv += ["--extra-symbols", os.path.abspath(extra)]
    if args.arch:
        argv += ["--arch", args.arch]
    if args.deb_depends is not None:
        argv += ["--deb-depends", args.deb_depends]
    if args.version:
        argv += ["--version", args.version]
    if args.timeout:
        argv += ["--timeout", str(args.timeout)]
    if args.no_sign:
        argv.append("--no-sign")
    return argv


def cmd_builds(args: argparse.Namespace) -> int:
    from kmodtui.core.build.record import list_builds

    records = list_builds()
    if args.json:
        _print_json({"builds": records})
        return EXIT_OK
    if not records:
        print("No builds recorded yet.")
    for r in records:
        print(f"{r['id']:56} {r.get('state', '?'):10} {r.get('mode', '')}  {r.get('kernel', '')}")
        print(f"    log: {r.get('log', '')}")
    return EXIT_OK


def cmd_remedy(args: argparse.Namespace) -> int:
    from kmodtui.core.remedies import edits
    from kmodtui.core.remedies.catalogue import CATALOGUE, RISKY, RemedyOptions, get_remedy

    if args.action == "list":
        if args.json:
            _print_json({"remedies": [{"id": r.id, "title": r.title, "risk": r.risk, "explanation": r.explanation,
                                       "target": r.target, "applies_to": list(r.applies_to)} for r in CATALOGUE]})
        else:
            for r in CATALOGUE:
                print(f"{r.id:24} {r.risk:6} {r.title}\n{'':31} target: {r.target}; for: {', '.join(r.applies_to)}")
        return EXIT_OK
    if args.action == "history":
        records = edits.history()
        if args.json:
            _print_json({"applied": records})
        for r in records if not args.json else ():
            print(f"{r['id']:48} {'undone' if r['undone'] else 'applied':8} {', '.join(r['files'])}")
        return EXIT_OK
    if not args.id:
        raise KmodError("remedy", f"{args.action} needs an id (see `kmodtui remedy list`)")
    if args.action == "undo":
        restored = edits.undo(args.id)
        if args.json:
            _print_json({"undone": args.id, "restored": restored})
        else:
            print("Restored, byte for byte: " + ", ".join(restored))
        return EXIT_OK
    remedy = get_remedy(args.id)
    plan = remedy.plan(RemedyOptions(
        target=args.target or "", symbol=args.symbol or "", namespace=args.namespace or "",
        symvers=tuple(args.with_symvers or ()), depends=args.depends or "", kernel_release=args.kernel or "",
        generator=args.generator or ""))
    payload = {"remedy": plan.remedy, "title": plan.title, "risk": plan.risk, "explanation": plan.explanation,
               "warning": plan.warning, "diff": plan.diff(), "files": [e.path for e in plan.edits],
               "commands": list(plan.commands)}
    if args.action == "show":
        if args.json:
            _print_json(payload)
        else:
            print(_plan_text(plan))
        return EXIT_OK
    # apply
    if plan.risk == RISKY and not args.accept_risk:
        raise KmodError(remedy.id, f"is risky: {plan.warning} Re-run with --accept-risk to apply it anyway")
    if not plan.edits:
        if args.json:
            _print_json({**payload, "applied": None})
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
        _print_json({**payload, "applied": undo_id})
    else:
        print(f"Applied {remedy.id} to {', '.join(e.path for e in plan.edits)}. Undo: kmodtui remedy undo {undo_id}")
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


def cmd_source(args: argparse.Namespace) -> int:
    from kmodtui.core.build.sources import detect_source

    source = detect_source(args.path)
    payload = {"path": source.path, "kinds": source.kinds, "name": source.name, "version": source.version,
               "modules": source.modules, "modes": source.modes, "specs": source.specs,
               "build_time_only": source.notes, "dkms": None}
    if source.dkms is not None:
        payload["dkms"] = {"values": source.dkms.values, "arrays": {k: source.dkms.array(k) for k in source.dkms.arrays}}
    if args.json:
        _print_json(payload)
    else:
        print(f"{source.path}: {', '.join(source.kinds)}; {source.name} {source.version}".rstrip())
        print(f"  modules: {', '.join(source.modules) or '-'}; modes: {', '.join(source.modes)}")
        for spec, mode in source.specs.items():
            print(f"  spec {spec}: {mode} mode")
        for note in source.notes:
            print(f"  known only at build time: {note}")
    return EXIT_OK


def _kernel_from_spec(spec: str) -> Any:
    """A release, build dir, symvers file, or a headers package (.deb/.rpm, unpacked into the cache)."""
    from kmodtui.core.kernels.discover import find_kernel, unpack_kernel_package
    from kmodtui.core.paths import cache_dir

    if spec.endswith((".deb", ".rpm")) and os.path.isfile(spec):
        return unpack_kernel_package(spec, cache_dir())[0]
    return find_kernel(spec)


def cmd_check_update(args: argparse.Namespace) -> int:
    from kmodtui.core.lifecycle.checks import check_update, installed_out_of_tree_modules

    kernel = _kernel_from_spec(args.new_kernel)
    modules = args.modules or installed_out_of_tree_modules()
    if not modules:
        raise KmodError(f"/lib/modules/{os.uname().release}", "has no out-of-tree modules (updates/, extra/) to "
                                                              "check; name them with --modules")
    result, verdicts = check_update(modules, kernel)
    if args.json:
        _print_json({"new_kernel": kernel.release, "symvers": kernel.symvers_path,
                     "modules": [{"module": v.module, "loads": v.loads, "problems": v.problems,
                                  "reasons": list(v.reasons)} for v in verdicts]})
    else:
        print(f"Will these modules load on {kernel.release}?")
        for v in verdicts:
            verdict = "yes" if v.loads else f"NO ({v.problems} problem(s): {', '.join(v.reasons[:3])})"
            print(f"  {os.path.basename(v.module):32} {verdict}")
        if not all(v.loads for v in verdicts):
            print("Rebuild the modules for the new kernel before rebooting into it "
                  f"(kmodtui build --kernel {kernel.release} --source DIR), or keep the old kernel as default.")
    return EXIT_OK if all(v.loads for v in verdicts) else EXIT_PROBLEMS


def cmd_sign(args: argparse.Namespace) -> int:
    from kmodtui.core.elf.module import read_module
    from kmodtui.core.lifecycle.checks import make_signing_key, sign_modules

    modules = args.modules
    first = read_module(modules[0])
    kernel = _kernel_from_spec(args.kernel or (first.vermagic.split()[0] if first.vermagic else os.uname().release))
    key, cert = args.key, args.cert
    if args.new_key:
        key, cert = make_signing_key(args.new_key)
    if not (key and cert):
        raise KmodError("sign", "name a key and certificate (--key, --cert) or make a new pair with --new-key DIR")
    sign_modules(modules, kernel, key, cert)
    checked = [read_module(m) for m in modules]
    if args.json:
        _print_json({"signed": [{"path": m.path, "sig_id": m.signature.id_type if m.signature else None} for m in checked],
                     "key": key, "cert": cert})
    else:
        for m in checked:
            print(f"signed {m.path} ({m.signature.id_type if m.signature else 'NOT signed'})")
        print("On a Secure Boot machine, trust the key once: sudo mokutil --import " + cert +
              " (then reboot and enroll it in the blue MOK manager screen).")
    return EXIT_OK


def cmd_check_userspace(args: argparse.Namespace) -> int:
    from kmodtui.core.elf.module import read_module
    from kmodtui.core.lifecycle.checks import check_userspace
    from kmodtui.core.model import is_package_path
    from kmodtui.core.packages.read import read_package

    def version_of(path: str, module: bool) -> tuple[str, str]:
        if is_package_path(path):
            package = read_package(path)
            version = package.version + (f"-{package.release}" if package.release else "")
            if module and package.modules:
                return (dict(package.modules[0].modinfo).get("version") or version), package.name
            return version, package.name
        image = read_module(path)
        return dict(image.modinfo).get("version", ""), image.name

    module_version, module_label = version_of(args.module, True)
    tools_version, tools_label = version_of(args.tools, False)
    lock = check_userspace(module_version, module_label, tools_version, tools_label)
    if args.json:
        _print_json({"module_version": lock.module_version, "tools_version": lock.tools_version,
                     "matches": lock.matches, "explanation": lock.explanation})
    else:
        print(("OK: " if lock.matches else "MISMATCH: ") + lock.explanation)
    return EXIT_OK if lock.matches else EXIT_PROBLEMS


def cmd_hook(args: argparse.Namespace) -> int:
    from kmodtui.core.remedies.edits import apply_edits
    from kmodtui.core.remedies.hooks import hook_plan

    edit = hook_plan(args.source, args.mode, args.root, args.style or "")
    shown = f"New file {edit.path} (mode 755):\n\n{edit.after.decode()}"
    if args.action == "show" or not (args.yes or sys.stdin.isatty()):
        if args.action == "install" and not args.yes:
            raise KmodError(edit.path, "installing a hook asks for confirmation; pass --yes when not at a terminal")
        print(shown) if not args.json else _print_json({"path": edit.path, "script": edit.after.decode()})
        return EXIT_OK
    if not args.yes:
        print(shown)
        if input("Install this hook? [y/N] ").strip().lower() != "y":
            print("Nothing was written.")
            return EXIT_OK
    undo_id = apply_edits("hook-install", [edit], allow_hooks=True)
    if args.json:
        _print_json({"path": edit.path, "applied": undo_id})
    else:
        print(f"Installed {edit.path}. Remove it with: kmodtui remedy undo {undo_id}")
    return EXIT_OK


def cmd_serve(args: argparse.Namespace) -> int:
    """The TUI in a browser, for people who prefer one through an SSH tunnel. Bound to 127.0.0.1
    only: reach it with `ssh -L 8000:127.0.0.1:8000 buildhost`."""
    import shlex

    try:
        from kmodtui.serve import TokenServer
    except ImportError:
        raise KmodError("textual-serve", "is not installed: pip install 'kmodtui[serve]' (or textual-serve)") from None
    # -I: the app must be this kmodtui, whatever folder `serve` was started in (no cwd on sys.path)
    command = f"{shlex.quote(sys.executable)} -I -m kmodtui" + (" --demo" if args.demo else "")
    TokenServer(command, host="127.0.0.1", port=args.port, title="kmodtui").serve()
    return EXIT_OK


def cmd_attach(args: argparse.Namespace) -> int:
    from kmodtui.app import KmodApp
    from kmodtui.core.build.record import RUNNING, list_builds

    records = list_builds()
    if args.build:
        chosen = [r for r in records if r["id"] == args.build or r["dir"] == args.build]
    else:
        chosen = [r for r in records if r.get("state") == RUNNING] or records[:1]
    if not chosen:
        raise KmodError(args.build or "builds", "no such build recorded (see `kmodtui builds`)")
    app = KmodApp(attach=chosen[0]["dir"])
    app.run(mouse=not args.no_mouse)
    return EXIT_OK


def _verb_kernels(sub: Any) -> None:
    p = sub.add_parser("kernels", help="list kernel build trees found here")
    p.add_argument("--root", default="/", help="look inside another root (an unpacked board image)")
    p.add_argument("--from", dest="from_package", action="append", metavar="FILE",
                   help="unpack a linux-headers .deb or kernel-devel .rpm into the cache and list it too")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_kernels)


def _verb_inspect(sub: Any) -> None:
    p = sub.add_parser("inspect", help="facts about modules (.ko[.gz|.xz|.zst]) and packages (.rpm, .deb)")
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_inspect)


def _verb_resolve(sub: Any) -> None:
    p = sub.add_parser("resolve", help="for every symbol a module needs: who provides it, does the CRC match")
    p.add_argument("targets", nargs="+", metavar="TARGET", help=".ko files, module directories, .rpm or .deb packages")
    p.add_argument("--kernel", "-k", help="kernel release (see `kmodtui kernels`), build dir, or Module.symvers/symvers.gz "
                   "(default: the running kernel)")
    p.add_argument("--with", dest="with_", action="append", metavar="FILE_OR_DIR",
                   help="more modules that provide symbols (other out-of-tree modules)")
    out = p.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true", help="every finding as JSON (see README for the schema)")
    out.add_argument("--markdown", action="store_true", help="a report to paste into a bug tracker")
    out.add_argument("--tui", action="store_true", help="open the symbol browser on the result")
    p.add_argument("--problems-only", action="store_true", help="with --json: leave out the ok findings")
    p.add_argument("--installed", metavar="FILE",
                   help="for .deb targets: installed packages, a dpkg status file or admin dir, or `dpkg -l` output "
                   "(default: this machine's dpkg database)")
    p.add_argument("--jobs", "-j", type=int, default=0, help="threads reading modules (default: all cores)")
    p.add_argument("--no-cache", action="store_true", help="do not use or write kmodtui's parse cache")
    p.add_argument("--no-mouse", action="store_true", help=argparse.SUPPRESS)
    p.set_defaults(func=cmd_resolve)


def _verb_rpmdeps(sub: Any) -> None:
    from kmodtui.core.packages.rpmdeps import MODES

    p = sub.add_parser("rpmdeps", help="ksym()/kernel()/kmod() Provides or Requires, like RHEL's generators",
                       description="Reads a file list on stdin (like rpm's %%__find_provides) or as arguments. "
                       "In a spec: %%global _use_internal_dependency_generator 0, "
                       "%%global __find_provides kmodtui rpmdeps --provides, "
                       "%%global __find_requires kmodtui rpmdeps --requires")
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--provides", action="store_true")
    which.add_argument("--requires", action="store_true")
    which.add_argument("--predict", metavar="MODE", choices=MODES,
                       help=f"what a package of these modules gets when built in MODE: {', '.join(MODES)}")
    p.add_argument("files", nargs="*", metavar="FILE")
    p.add_argument("--kernel", "-k", help="target kernel for --requires (default: the modules' vermagic)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_rpmdeps)


def _verb_build(sub: Any) -> None:
    from kmodtui.core.model import BUILD_MODES

    p = sub.add_parser("build", help="build a module source for one or more kernels, streaming the log")
    p.add_argument("--kernel", "-k", action="append", required=True, help="repeat for a build matrix")
    p.add_argument("--source", "-s", required=True, help="module source directory, or a kmod .src.rpm (mode srpm)")
    p.add_argument("--mode", "-m", default="kbuild", choices=BUILD_MODES)
    p.add_argument("--extra-symbols", action="append", metavar="MODULE_SYMVERS",
                   help="Module.symvers of another out-of-tree module this one uses (KBUILD_EXTRA_SYMBOLS)")
    p.add_argument("--arch", help="cross-build for this ARCH (arm64, ...)")
    p.add_argument("--deb-depends", help="deb mode: the Depends to write (default: the package owning the kernel here)")
    p.add_argument("--version", help="package version (default: dkms.conf's, else 1.0)")
    p.add_argument("--timeout", type=float, help="stop the build after this many seconds")
    p.add_argument("--no-sign", action="store_true", help="dkms mode: do not let dkms sign (or create its MOK key)")
    p.add_argument("--detach", action="store_true", help="run in the background, surviving the terminal")
    p.add_argument("--quiet", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--record-dir", action="append", help=argparse.SUPPRESS)
    p.add_argument("--json", action="store_true", help="events as JSON lines (phase, line, finding, exit)")
    p.set_defaults(func=cmd_build)


def _verb_builds(sub: Any) -> None:
    p = sub.add_parser("builds", help="running and past builds, with their logs")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_builds)


def _verb_check_update(sub: Any) -> None:
    p = sub.add_parser("check-update", help="will these out-of-tree modules load on a new kernel?")
    p.add_argument("--new-kernel", required=True, help="release, build dir, symvers file, or headers .deb/.rpm")
    p.add_argument("--modules", nargs="+", help="modules or folders (default: updates/ and extra/ of the running kernel)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_check_update)


def _verb_sign(sub: Any) -> None:
    p = sub.add_parser("sign", help="sign modules for Secure Boot with the kernel's sign-file")
    p.add_argument("modules", nargs="+", metavar="MODULE.ko")
    p.add_argument("--key")
    p.add_argument("--cert")
    p.add_argument("--new-key", metavar="DIR", help="make a new MOK key pair in DIR and sign with it")
    p.add_argument("--kernel", help="whose sign-file to use (default: the modules' vermagic)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_sign)


def _verb_check_userspace(sub: Any) -> None:
    p = sub.add_parser("check-userspace", help="do the module and its userspace tools come from the same release?")
    p.add_argument("--module", required=True, help="the module (.ko) or its package")
    p.add_argument("--tools", required=True, help="the userspace tools' package (.deb/.rpm)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_check_userspace)


def _verb_hook(sub: Any) -> None:
    from kmodtui.core.model import BUILD_MODES

    p = sub.add_parser("hook", help="rebuild a source for every new kernel (kernel post-install hook)")
    p.add_argument("action", choices=("show", "install"))
    p.add_argument("--source", required=True)
    p.add_argument("--mode", default="kbuild", choices=BUILD_MODES)
    p.add_argument("--root", default="/", help="install into another root (a board image, a test)")
    p.add_argument("--style", choices=("postinst.d", "install.d"), help="default: what the root has")
    p.add_argument("--yes", action="store_true")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_hook)


def _verb_source(sub: Any) -> None:
    p = sub.add_parser("source", help="what kind of module source this is (read, never executed)")
    p.add_argument("path", help="a folder, a tarball, a .src.rpm or a .spec")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_source)


def _verb_remedy(sub: Any) -> None:
    p = sub.add_parser("remedy", help="list, preview (diff), apply with a backup, or undo a fix")
    p.add_argument("action", choices=("list", "show", "apply", "undo", "history"))
    p.add_argument("id", nargs="?", help="remedy id (list), or for undo the id `apply` printed")
    p.add_argument("--target", help="what to fix: a spec, a module source folder, a .deb (see `remedy list`)")
    p.add_argument("--symbol")
    p.add_argument("--namespace")
    p.add_argument("--with-symvers", action="append", metavar="MODULE_SYMVERS")
    p.add_argument("--depends", help="deb-fix-depends: the package to depend on")
    p.add_argument("--kernel", help="kernel release, for remedies that name one")
    p.add_argument("--generator", help=argparse.SUPPRESS)
    p.add_argument("--yes", action="store_true", help="apply without asking")
    p.add_argument("--accept-risk", action="store_true", help="needed to apply a risky remedy")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_remedy)


def _verb_serve(sub: Any) -> None:
    p = sub.add_parser("serve", help="the TUI in a browser, on 127.0.0.1 only (for an SSH tunnel)")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--demo", action="store_true", help="serve the demo")
    p.set_defaults(func=cmd_serve)


def _verb_attach(sub: Any) -> None:
    p = sub.add_parser("attach", help="follow a build in the TUI (default: the running one, else the last)")
    p.add_argument("build", nargs="?", help="build id or folder from `kmodtui builds`")
    p.add_argument("--no-mouse", action="store_true", help=argparse.SUPPRESS)
    p.set_defaults(func=cmd_attach)


VERBS: dict[str, Callable[[Any], None]] = {
    "kernels": _verb_kernels,
    "inspect": _verb_inspect,
    "resolve": _verb_resolve,
    "rpmdeps": _verb_rpmdeps,
    "build": _verb_build,
    "builds": _verb_builds,
    "check-update": _verb_check_update,
    "sign": _verb_sign,
    "check-userspace": _verb_check_userspace,
    "hook": _verb_hook,
    "source": _verb_source,
    "remedy": _verb_remedy,
    "serve": _verb_serve,
    "attach": _verb_attach,
}


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The whole CLI; given the command line, only the verb it names gets its subparser built
    (building all fifteen costs ~20 ms of every start)."""

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
    for name, add in VERBS.items():
        if wanted in (None, name):
            add(sub)
    return parser


def run_tui(args: argparse.Namespace) -> int:
    from kmodtui.app import KmodApp

    app = KmodApp(demo=args.demo, root=args.root)
    app.run(mouse=not args.no_mouse)
    return app.return_code or 0


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    try:
        if args.command is None:
            return run_tui(args)
        return int(args.func(args))
    except KmodError as err:
        _error_line(err)
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
            _error_line(f"no space left on the device (writing {where}); free some and run again")
        else:
            _error_line(f"{where}: {err.strerror or err}")
        return EXIT_BAD_INPUT
    except Exception as err:  # never a traceback for a user; KMODTUI_DEBUG=1 shows it
        if os.environ.get("KMODTUI_DEBUG"):
            raise
        _error_line(f"internal error: {type(err).__name__}: {err} (rerun with KMODTUI_DEBUG=1 for details)")
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

