"""The one error type the core raises for bad input: it names the file and what is wrong."""

from __future__ import annotations

import os


class KmodError(Exception):
    """Bad input: `path` is the file, `reason` a plain sentence, `line`/`offset` where known."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        reason: str,
        *,
        line: int | None = None,
        offset: int | None = None,
    ) -> None:
        self.path = os.fspath(path)
        self.reason = reason
        self.line = line
        self.offset = offset
        super().__init__(str(self))

    def __str__(self) -> str:
        where = ""
        if self.line is not None:
            where = f" (line {self.line})"
        elif self.offset is not None:
            where = f" (at offset {self.offset:#x})"
        return f"{self.path}: {self.reason}{where}"
