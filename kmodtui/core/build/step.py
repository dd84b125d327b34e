"""One step of a build, as its plan says and the runner runs it: a program with its arguments, the
folder it runs in and what it adds to the environment. Here, not in runner.py, so that what plans
steps (the modes) need not import asyncio."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class BuildStep:
    phase: str  # "build", "package", "dkms add", ...
    argv: tuple[str, ...]
    cwd: str
    env: tuple[tuple[str, str], ...] = ()  # added to the environment
    shown: str = ""  # how the log's "### phase:" line names the step (default: the argv)
    # why it runs outside the sandbox ("" = confined, the default: it may run the source's code or read
    # what the source's code made); only steps that need what the build must never have stay outside
    outside: str = ""
