"""One build as a job with a record on disk: run it here (the CLI, or a detached runner process)
or start it detached, so it keeps going when the terminal or SSH link goes away."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kmodtui.core.build import modes
from kmodtui.core.build import record as buildrecord
from kmodtui.core.build.confine import WALL_CLOCK, Confinement, confinement_for, release, warning
from kmodtui.core.build.locks import SourceLock
from kmodtui.core.build.logscan import LogFinding
from kmodtui.core.build.plan import BuildDirs, BuildPlan, ask_host, find_artifacts, plan_build, prepare_work
from kmodtui.core.build.providers import attach_provider_trees, attach_providers
from kmodtui.core.build.request import BuildRequest, load_request, make_request, save_request
from kmodtui.core.build.runner import BuildEvent, RunState, handle_line, run_steps
from kmodtui.core.build.sources import detect_source
from kmodtui.core.errors import KmodError
from kmodtui.core.paths import self_argv


@dataclass(frozen=True)
class JobResult:
    build_id: str
    record_dir: str
    log_path: str
    state: str
    exit_code: int
    artifacts: tuple[str, ...]
    findings: tuple[LogFinding, ...]
    primary: dict[str, Any] | None = None  # a failed build's root cause, as `diagnose --json` gives it
    confinement: dict[str, Any] | None = None  # how its source's steps ran (confine.Confinement.as_json)


def run_job(request: BuildRequest, record_dir: str, emit: Callable[[BuildEvent], None],
            timeout: float | None = None) -> JobResult:
    """Build `request` here, keeping its record (request.json, status.json, the log) in record_dir."""
    build_id = os.path.basename(record_dir)
    timeout = timeout or request.timeout
    save_request(record_dir, request)  # with its providers as sources: each kernel's build takes its own symvers
    try:
        request = attach_providers(request, os.path.join(record_dir, "work"))
        request = attach_provider_trees(request, os.path.join(record_dir, "work"))
        source = detect_source(request.source)  # a tarball or -dkms .deb is unpacked into the cache
        plan = plan_build(request, source, BuildDirs(os.path.join(record_dir, "work")), ask_host(request, source))
        prepare_work(plan)  # the copy of the source, the spec...: then the plan's steps run
        confinement = confine_plan(request, plan)
    except KmodError as err:  # nothing to run (no kbuild tools for that kernel here...): a failed build, said why
        return _failed_before_start(request, record_dir, build_id, err, emit)
    buildrecord.write_status(record_dir, id=build_id, state=buildrecord.RUNNING, runner_pid=os.getpid(),
                             kernel=request.kernel.release, source=request.source, mode=request.mode,
                             log=plan.log_path, started=time.time(), confinement=confinement.as_json())
    state = RunState()
    if not confinement.confined:  # said every time, in the log and to whoever follows it
        with open(plan.log_path, "a", encoding="utf-8") as log:
            handle_line(warning(confinement.reason), "sandbox", log, emit, state)
    elif not timeout:
        timeout = WALL_CLOCK

    async def main() -> int:
        loop = asyncio.get_running_loop()

        def cancel() -> None:
            state.cancelled = True
            if state.pgid:
                try:
                    os.killpg(state.pgid, signal.SIGTERM)
                except ProcessLookupError:
                    pass

        try:
            for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):  # SIGHUP: the terminal or SSH link closed
                loop.add_signal_handler(sig, cancel)
        except (RuntimeError, ValueError):  # not the main thread: the caller cancels through state
            pass
        return await run_steps(list(plan.steps), plan.log_path, emit, state, timeout, confinement)

    try:
        with SourceLock(request.source, f"{request.mode} build for {request.kernel.release}"):
            code = asyncio.run(main())
    except KmodError as err:
        with open(plan.log_path, "a") as log:  # a line of the log, and a finding, like the build's own
            handle_line(f"kmodtui: {err}", "lock", log, emit, state)
        code = 75  # EX_TEMPFAIL: try again when the other kmodtui is done
    finally:  # what the build made, ours again; its build user free for the next build
        release(confinement)
    if code not in (0, 75, 124, 130):  # the logs its tool only points to (dkms's make.log)
        _append_failure_logs(modes.get(plan.mode).failure_logs(plan.work_dir), plan.log_path, emit, state)
    artifacts = tuple(find_artifacts(plan)) if code == 0 else ()
    if confinement.confined:  # what the sandboxed build made is read outside it (installed, copied) as plain files only
        refused = [a for a in artifacts if not _plain_file_inside(a, plan.work_dir)]
        if refused:
            with open(plan.log_path, "a", encoding="utf-8", errors="replace") as log:
                for path in refused:
                    handle_line(f"kmodtui: {path}: refused as a build output: not a plain file inside the build's "
                                "folder (a link made by the build?)", "check", log, emit, state)
            artifacts = tuple(a for a in artifacts if a not in refused)
    if code == 0 and not artifacts:  # make exits 0 on a Makefile that builds nothing for this kernel
        with open(plan.log_path, "a", encoding="utf-8", errors="replace") as log:
            handle_line("kmodtui: the build finished without an error but made no module: the source's Makefile "
                        "built nothing here (check obj-m, the folder the modules are in, dkms.conf's "
                        "BUILT_MODULE_LOCATION)", "check", log, emit, state)
        code = 1
    outcome = {0: buildrecord.SUCCEEDED, 124: buildrecord.TIMED_OUT, 130: buildrecord.CANCELLED}.get(code, buildrecord.FAILED)
    primary = None
    if outcome == buildrecord.FAILED:  # the root cause, by the engine `kmodtui diagnose` uses
        from kmodtui.core.diagnose.engine import diagnose_log_file
        from kmodtui.core.diagnose.report import primary_json

        diagnosis = diagnose_log_file(plan.log_path)
        primary = primary_json(diagnosis) if diagnosis else None
    buildrecord.write_status(record_dir, state=outcome, exit_code=code, ended=time.time(), artifacts=list(artifacts),
                             findings=[{"rule": f.rule, "severity": f.severity, "line": f.line_number,
                                        "title": f.title, "fix": f.fix} for f in state.findings], primary=primary)
    return JobResult(build_id, record_dir, plan.log_path, outcome, code, artifacts, tuple(state.findings), primary,
                     confinement.as_json())


def _plain_file_inside(path: str, folder: str) -> bool:
    import stat

    try:
        plain = stat.S_ISREG(os.lstat(path).st_mode)
    except OSError:
        return False
    return plain and os.path.realpath(path).startswith(os.path.realpath(folder) + os.sep)


def _unpacked_root(build_dir: str) -> str:
    """A kernel unpacked from packages into the cache: its whole tree (its scripts/ links into it)."""
    from kmodtui.core.paths import cache_dir

    trees = os.path.join(os.path.realpath(cache_dir()), "kernels", "trees") + os.sep
    real = os.path.realpath(build_dir) if build_dir else ""
    if not real.startswith(trees):
        return ""
    return trees + real[len(trees):].split(os.sep)[0]


def confine_plan(request: BuildRequest, plan: BuildPlan) -> Confinement:
    """How this build's source-controlled steps run (confine.py): only its own folder writable (its log
    kept from it), the kernel's trees, the extra symvers and the source shown read-only."""
    from kmodtui.core.kernels.discover import kernel_source_dir

    if not os.path.exists(plan.log_path):
        open(plan.log_path, "a").close()  # the log exists before the folder is handed over, and stays ours
    kernel_dir = request.kernel.build_dir
    origin = request.kernel.origin  # a kernel in a root folder (its scripts/ link inside it): the whole root
    root = origin.removeprefix("root:") if origin.startswith("root:") else _unpacked_root(kernel_dir)
    readable = tuple(p for p in (kernel_dir, kernel_dir and kernel_source_dir(kernel_dir), root, request.source,
                                 *request.make_symvers) if p)
    # another release's chroot: its own kmodtui (root there) confines the steps and owns the folder it writes
    writable = () if all(step.outside for step in plan.steps) else (plan.work_dir,)
    return confinement_for(request.no_sandbox, writable, readable, (plan.log_path,))


def _failed_before_start(request: BuildRequest, record_dir: str, build_id: str, err: KmodError,
                         emit: Callable[[BuildEvent], None]) -> JobResult:
    from kmodtui.core.diagnose.engine import diagnose_log_file
    from kmodtui.core.diagnose.report import primary_json

    work = os.path.join(record_dir, "work")
    os.makedirs(work, exist_ok=True)
    log_path = os.path.join(work, "build.log")
    line = f"kmodtui: {err}"
    with open(log_path, "a", encoding="utf-8") as log:
        log.write(line + "\n")
    emit(BuildEvent("line", line=line))
    diagnosis = diagnose_log_file(log_path)
    primary = primary_json(diagnosis) if diagnosis else None
    now = time.time()
    buildrecord.write_status(record_dir, id=build_id, state=buildrecord.FAILED, exit_code=2, kernel=request.kernel.release,
                             source=request.source, mode=request.mode, log=log_path, started=now, ended=now,
                             artifacts=[], findings=[], primary=primary)
    return JobResult(build_id, record_dir, log_path, buildrecord.FAILED, 2, (), (), primary)


def _append_failure_logs(logs: list[tuple[str, str]], log_path: str, emit: Callable[[BuildEvent], None], state: RunState) -> None:
    """dkms 3.0 only says "Consult .../make.log": the compiler's own errors are in that file. Add such
    logs to the build's log (the screen, --json and the diagnosis all read them there)."""
    from kmodtui.core.compression import read_maybe_compressed

    for what, make_log in logs:
        try:
            data, _ = read_maybe_compressed(make_log, 64 * 1024 * 1024)
        except KmodError:
            return
        with open(log_path, "a", encoding="utf-8", errors="replace") as log:
            log.write(f"### {what}: {make_log}\n")
            for line in data.decode("utf-8", "replace").splitlines():
                handle_line(line, what, log, emit, state)


def start_detached(source: str, kernels: list[str], mode: str, **options: Any) -> list[str]:
    """Start building `source` for each kernel (as `build --kernel` names one) in the background."""
    return start_requests([make_request(source, kernel, mode, **options) for kernel in kernels])


def start_requests(requests: list[BuildRequest]) -> list[str]:
    """Start these builds in their own session, so they keep going when the terminal or SSH link
    goes away; returns their record dirs, created here (with each request stored) so the caller
    can follow the logs at once. One runner builds them one after another."""
    records = []
    for request in requests:
        _, record = buildrecord.new_build_dir(f"{os.path.basename(request.source)}-{request.kernel.release}")
        os.makedirs(os.path.join(record, "work"), exist_ok=True)
        save_request(record, request)
        buildrecord.write_status(record, state=buildrecord.RUNNING, kernel=request.kernel.release,
                                 source=request.source, mode=request.mode,
                                 log=os.path.join(record, "work", "build.log"), started=time.time(),
                                 launcher_pid=os.getpid())
        records.append(record)
    # -I and cwd: the runner is this kmodtui, whatever folder the TUI was started in. It reads
    # each record's request.json: nothing is re-assembled from command-line words.
    argv = [*self_argv(), "build", "--quiet", "--run-records", *records]
    # The runner's own stderr goes to the first build's log: a runner that dies says why there.
    with open(os.path.join(records[0], "work", "build.log"), "ab") as log:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log,
                                start_new_session=True, cwd=records[0])
    for record in records:
        buildrecord.write_status(record, runner_pid=proc.pid)
    return records


def rebuild(record_dir: str, **changes: Any) -> str:
    """Start the build `record_dir` recorded again, from its stored request (same source, kernel,
    mode and options, but for `changes`, e.g. sign_modules=True): what `b` does after a remedy and
    `s` on a package build. Returns the new build's record dir."""
    import dataclasses

    request = load_request(record_dir)
    if "providers" in changes:  # a remedy adds a provider to the ones the request records
        changes["providers"] = tuple(dict.fromkeys(request.providers + tuple(changes["providers"])))
    return start_requests([dataclasses.replace(request, **changes)])[0]
