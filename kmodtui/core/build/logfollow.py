"""Follow a build log that another process is writing: new complete lines since the last read.
A line is kept to its first MAX_LINE characters: one without an end (a progress bar, a build that
prints megabytes of one line) is held only that far between reads, never whole."""

from __future__ import annotations

import os

MAX_READ = 4 * 1024 * 1024  # per poll: ~40k lines; bigger batches cost less per line
MAX_LINE = 64 * 1024  # characters kept of a line (logscan reads the first 4096 of them)


class LogFollower:
    def __init__(self, path: str) -> None:
        self.path = path
        self.offset = 0
        self._pending = b""

    def read_new_lines(self) -> list[str]:
        try:
            with open(self.path, "rb") as f:
                f.seek(self.offset)
                data = f.read(MAX_READ)
        except OSError:
            return []
        if not data:
            return []
        self.offset += len(data)
        data = self._pending + data
        cut = data.rfind(b"\n")
        if cut < 0:
            self._pending = data[:MAX_LINE]  # the start of a line still being written
            return []
        self._pending = data[cut + 1 :][:MAX_LINE]
        return [line[:MAX_LINE] for line in data[:cut].decode("utf-8", "replace").split("\n")]

    def at_end(self) -> bool:
        try:
            return os.path.getsize(self.path) <= self.offset
        except OSError:
            return True
