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
        return f"{printable(self.path, name=True)}: {printable(self.reason)}{self._where()}"

    def _where(self) -> str:
        where = ""
        if self.line is not None:
            where = f" (line {self.line})"
        elif self.offset is not None:
            where = f" (at offset {self.offset:#x})"
        return where


_CONTROL = {c: f"\\x{c:02x}" for c in (*range(32), 127, *range(0x80, 0xA0))}


def printable(text: object, *, name: bool = False) -> str:
    """One line of plain text for a terminal. In a message (a tool's, several lines long) runs of
    white space become one space; in a file name (`name=True`) every control character is escaped
    (`\\x0a`, `\\x1b`), and undecodable bytes too (`\\xff`), so a hostile name can neither forge a
    `kmodtui:` line nor move the cursor or clear the screen."""
    text = str(text)
    if text.isprintable():
        return text
    if not name:
        text = " ".join(text.split()) if any(c in text for c in "\n\r\t\v\f") else text
    text = text.translate(_CONTROL)
    if any(0xD800 <= ord(c) <= 0xDFFF for c in text):
        text = text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return text
