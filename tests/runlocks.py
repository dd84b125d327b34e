"""Locks for tests that run in parallel: pytest-xdist's workers are separate processes, so what they
share (the download cache, the debootstrap chroots, a user's process budget when not run as root,
inputs built once per run) is guarded with flock(2) on a file next to it. A lock dies with its process, so a
killed worker never leaves one held.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

_held: dict[str, int] = {}  # lock file -> how deep this process holds it (the helpers call each other)


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    """Only one process at a time between these lines, for this lock file (reentrant in a process)."""
    key = os.path.realpath(path)
    if key in _held:
        _held[key] += 1
        try:
            yield
        finally:
            _held[key] -= 1
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        _held[key] = 1
        yield
    finally:
        _held.pop(key, None)
        os.close(fd)  # closing releases the lock


def made_once(folder: Path, make: Callable[[Path], object], key: str = "") -> Path:
    """`folder`, made by `make(folder)` by the first process that asks; the others wait for it and
    reuse it. A stamp marks it complete: a half-made folder (its maker died) is made again, and so is
    one made for another `key` (what it was made from: a kept folder made again when that moves)."""
    stamp = folder / ".made"
    with locked(folder.with_name(folder.name + ".lock")):
        if not (stamp.exists() and stamp.read_text() == key):
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir(parents=True)
            make(folder)
            stamp.write_text(key)
    return folder


@contextlib.contextmanager
def turn(folder: Path, alone: bool) -> Iterator[None]:
    """A test's turn among the run's workers: tests run together (a shared lock), except one marked
    `alone`, which waits until no other test runs and keeps the others waiting until it is done.
    The gate lets a waiting `alone` test in first: new tests queue behind it instead of starving it."""
    folder.mkdir(parents=True, exist_ok=True)
    gate = os.open(folder / "gate.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    running = os.open(folder / "running.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(gate, fcntl.LOCK_EX)
        fcntl.flock(running, fcntl.LOCK_EX if alone else fcntl.LOCK_SH)
        if not alone:
            fcntl.flock(gate, fcntl.LOCK_UN)
        yield
    finally:
        os.close(running)
        os.close(gate)
