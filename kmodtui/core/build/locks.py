"""One kmodtui at a time per source: a build and a remedy (or two builds) on the same folder
take an exclusive lock, and the second one says who holds it."""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import time

from kmodtui.core.errors import KmodError
from kmodtui.core.paths import state_dir


class SourceLock:
    def __init__(self, path: str, what: str) -> None:
        self.path = os.path.realpath(path)
        self.what = what
        key = hashlib.sha1(self.path.encode("utf-8", "surrogateescape")).hexdigest()[:20]
        self.lock_file = os.path.join(state_dir(), "locks", f"{key}.lock")
        self._fd: int | None = None

    def __enter__(self) -> SourceLock:
        os.makedirs(os.path.dirname(self.lock_file), exist_ok=True)
        fd = os.open(self.lock_file, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(fd)
            os.close(fd)
            since = time.strftime("%H:%M:%S", time.localtime(holder.get("since", 0))) if holder else "?"
            raise KmodError(self.path, f"is in use by another kmodtui (pid {holder.get('pid', '?')}, "
                                       f"{holder.get('what', '?')}, since {since}); wait for it, or stop it "
                                       "(`kmodtui builds` lists it, `kmodtui builds stop ID` stops it)") from None
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps({"pid": os.getpid(), "what": self.what, "since": time.time(), "path": self.path}).encode())
        self._fd = fd
        return self

    def __exit__(self, *exc: object) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


def _read_holder(fd: int) -> dict:
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        data = json.loads(os.read(fd, 4096) or b"{}")
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}
