"""The one error type the core raises for bad input: it names the file and what is wrong."""

from __future__ import annotations

import os
import re


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


# What a terminal would act on rather than show: C0 controls (ESC starts every escape sequence,
# OSC 52 writes the clipboard), DEL, C1 controls (0x9b is CSI on its own), and the bidi overrides
# and isolates that reorder what follows them (U+202A-202E, U+2066-2069).
_SHOWN = {c: f"\\x{c:02x}" for c in (*range(32), 127, *range(0x80, 0xA0))}
_SHOWN.update({c: f"\\u{c:04x}" for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A))})
# A byte that was not UTF-8 is carried as a lone surrogate (U+DC80-U+DCFF, Python's
# surrogateescape): it is shown as the byte it was; any other lone surrogate by its code point.
_SHOWN.update({c: f"\\x{c - 0xDC00:02x}" for c in range(0xDC80, 0xDD00)})
_SHOWN.update({c: f"\\u{c:04x}" for c in (*range(0xD800, 0xDC80), *range(0xDD00, 0xE000))})
_SURROGATES = {c: e for c, e in _SHOWN.items() if 0xD800 <= c < 0xE000}
# runs of them: a sparse one costs a match, a text made of nothing else one translate (10 MB: 0.4 s)
_UNSHOWN = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]+")
_UNSHOWN_LINES = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]+")


def _escape(match: re.Match[str]) -> str:
    return match[0].translate(_SHOWN)


def shown(text: object, *, lines: bool = False) -> str:
    """The one way text from an input (a file name, a module's modinfo or symbol, a package's
    field or member name, a log line, a results file) is shown on a terminal: everything a
    terminal would act on becomes a visible escape (ESC as `\\x1b`, CSI 0x9b as `\\x9b`, an
    RTL override as `\\u202e`), and so does an undecodable byte (`\\xff`). A field stays on its
    line (a newline is `\\x0a`); `lines=True` keeps newlines and tabs, for text that is many lines."""
    text = str(text)
    if text.isprintable():  # nearly always: str.isprintable is false for every character above
        return text
    if lines and text.replace("\n", "").replace("\t", "").isprintable():  # C speed: a 67k-line report
        return text
    return (_UNSHOWN_LINES if lines else _UNSHOWN).sub(_escape, text)


def printable(text: object, *, name: bool = False) -> str:
    """One line of plain text for a terminal, for a message. In a message (a tool's, several lines
    long) runs of white space become one space; in a file name (`name=True`) every control
    character is escaped (`\\x0a`, `\\x1b`), as is everything else shown() escapes, so a hostile
    name can neither forge a `kmodtui:` line nor move the cursor or clear the screen."""
    text = str(text)
    if text.isprintable():
        return text
    if not name and any(c in text for c in "\n\r\t\v\f"):
        text = " ".join(text.split())
    return shown(text)


def json_name(text: str) -> str:
    """A string for JSON output, which is UTF-8: undecodable bytes become the text shown() gives
    them (`\\xff`); everything else is left to the JSON encoder, which escapes control characters."""
    if text.isascii():  # O(1) in CPython: nearly every string, kept as it is
        return text
    try:
        text.encode()
    except UnicodeEncodeError:  # a lone surrogate
        return text.translate(_SURROGATES)
    return text
