"""Run build commands: own process group, output assembled into lines, every line persisted.

Lines: bytes are decoded incrementally (a UTF-8 character split across reads stays whole), `\\r`
progress redraws keep only their last state, other control bytes become '?', and a line longer
than 16 KiB is cut, so binary junk in the output cannot hurt the log or the screen.
"""

from __future__ import annotations

import asyncio
import codecs
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TextIO

from kmodtui.core.build.confine import Confinement
from kmodtui.core.build.logscan import LogFinding, scan_line
from kmodtui.core.build.step import BuildStep

MAX_LINE = 16 * 1024
_CONTROL = {c: "?" for c in range(32) if c not in (9,)}
_CONTROL[127] = "?"


@dataclass(frozen=True)
class BuildEvent:
    kind: str  # "phase", "line", "finding", "exit"
    phase: str = ""
    line: str = ""
    line_number: int = 0
    finding: LogFinding | None = None
    exit_code: int | None = None
    confinement: str = ""  # phase: where the step runs ("confined: bwrap, ..." / "outside the sandbox: ...")


class LineAssembler:
    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._pending = ""

    def feed(self, data: bytes) -> list[str]:
        text = self._pending + self._decoder.decode(data)
        parts = text.split("\n")
        self._pending = parts.pop()
        if len(self._pending) > MAX_LINE:
            parts.append(self._pending[:MAX_LINE])
            self._pending = ""
        return [self._clean(p) for p in parts]

    def close(self) -> list[str]:
        rest = self._pending + self._decoder.decode(b"", final=True)
        self._pending = ""
        return [self._clean(rest)] if rest else []

    @staticmethod
    def _clean(line: str) -> str:
        if "\r" in line:
            line = line.rstrip("\r").rsplit("\r", 1)[-1]  # a progress redraw: keep what was shown last
        return line[:MAX_LINE].translate(_CONTROL)


@dataclass
class RunState:
    """Shared with whoever may cancel: the process group of the step being run."""

    pgid: int | None = None
    cancelled: bool = False
    line_count: int = 0
    findings: list[LogFinding] = field(default_factory=list)


def kill_group(pgid: int, grace: float = 3.0) -> None:
    """SIGTERM the whole group, SIGKILL whatever is left after `grace` seconds."""
    try:
        os.killpg(pgid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        pass


async def run_steps(
    steps: list[BuildStep],
    log_path: str,
    emit: Callable[[BuildEvent], None],
    state: RunState | None = None,
    timeout: float | None = None,
    confinement: Confinement | None = None,
) -> int:
    """Run steps in order, stop at the first failure; returns the exit code (124 on timeout,
    130 when cancelled). Every line goes to `log_path` (flushed as it comes) and to `emit`. With a
    confinement, every step not marked `outside` runs in it (confine.py); None runs them as they are
    (tests of the runner itself)."""
    state = state or RunState()
    deadline = time.monotonic() + timeout if timeout else None
    os.makedirs(os.path.dirname(log_path) or ".", exist_ok=True)
    with open(log_path, "a", encoding="utf-8", errors="replace", buffering=1) as log:
        for step in steps:
            if state.cancelled:  # cancelled between two steps: the next one never starts
                emit(BuildEvent("exit", phase=step.phase, exit_code=130))
                return 130
            where = _confinement_line(step, confinement) if confinement is not None else ""
            emit(BuildEvent("phase", phase=step.phase, confinement=where.split("; refused:")[0]))
            log.write(f"### {step.phase}: {step.shown or ' '.join(step.argv)}\n")
            if where:
                log.write(f"### {where}\n")
            code = await _run_one(step, log, emit, state, deadline, confinement)
            if code != 0:
                if code == 124:
                    log.write(f"### timed out after {timeout} s\n")
                emit(BuildEvent("exit", phase=step.phase, exit_code=code))
                return code
        emit(BuildEvent("exit", exit_code=0))
        return 0


def _confinement_line(step: BuildStep, confinement: Confinement) -> str:
    """What the log says of where a step runs: what the sandbox refuses it, or why it is outside."""
    from kmodtui.core.build.confine import REFUSED

    if step.outside:
        return f"outside the sandbox: {step.outside}"
    if not confinement.confined:
        return confinement.describe()
    return f"{confinement.describe()}; refused: {', '.join(REFUSED)}"


async def _run_one(step: BuildStep, log: TextIO, emit: Callable[[BuildEvent], None], state: RunState,
                   deadline: float | None, confinement: Confinement | None = None) -> int:
    env = {**os.environ, "LC_ALL": "C", "GCC_URLS": "no", "GCC_COLORS": "", **dict(step.env)}
    argv, cwd, preexec = step.argv, step.cwd, None
    if confinement is not None and confinement.confined and not step.outside:
        import shutil

        if shutil.which(step.argv[0], path=env.get("PATH")) is None:  # bwrap would only say "execvp"
            return _cannot_run(step, FileNotFoundError(2, "No such file or directory"), log, emit, state)
        # its own /tmp inside (a TMPDIR the step sets, inside the build's folder, is kept)
        env = {**env, "TMPDIR": dict(step.env).get("TMPDIR", "/tmp"), "HOME": "/tmp"}
        argv, cwd, preexec = confinement.wrap(step.argv, step.cwd), "/", confinement.preexec()
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv, cwd=cwd, env=env, stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, start_new_session=True,
            preexec_fn=preexec,  # the limits, before bwrap
        )
    except OSError as err:
        return _cannot_run(step, err, log, emit, state)
    state.pgid = proc.pid
    if state.cancelled:  # cancelled while the step was starting: cancel() had no group to stop yet
        await asyncio.get_running_loop().run_in_executor(None, kill_group, proc.pid)
    assembler = LineAssembler()
    assert proc.stdout is not None
    timed_out = False
    try:
        while True:
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                timed_out = True
                break
            try:
                chunk = await asyncio.wait_for(proc.stdout.read(65536), timeout=remaining)
            except TimeoutError:
                timed_out = True
                break
            lines = assembler.feed(chunk) if chunk else assembler.close()
            for line in lines:
                handle_line(line, step.phase, log, emit, state)
            if not chunk:
                break
    finally:
        if timed_out or state.cancelled:
            await asyncio.get_running_loop().run_in_executor(None, kill_group, proc.pid)
    code = await proc.wait()
    state.pgid = None
    if timed_out:
        return 124
    if state.cancelled:
        return 130
    return code


def _cannot_run(step: BuildStep, err: OSError, log: TextIO, emit: Callable[[BuildEvent], None], state: RunState) -> int:
    from kmodtui.core.build.tools import install_command

    message = (f"kmodtui: cannot run {step.argv[0]}: {err.strerror or err} "
               f"(install it: {install_command([os.path.basename(step.argv[0])])})")
    handle_line(message, step.phase, log, emit, state)  # a line of the log, and a finding
    return 127


def handle_line(line: str, phase: str, log: TextIO, emit: Callable[[BuildEvent], None], state: RunState) -> None:
    state.line_count += 1
    log.write(line + "\n")
    emit(BuildEvent("line", phase=phase, line=line, line_number=state.line_count))
    finding = scan_line(line, state.line_count)
    if finding is not None:
        state.findings.append(finding)
        emit(BuildEvent("finding", phase=phase, finding=finding, line_number=state.line_count))
