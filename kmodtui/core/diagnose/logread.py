"""Logs as `diagnose` reads them: files (a .gz/.xz/.zst make.log through the one capped decompressor)
or stdin, streamed and cut line by line before anything else sees them. A log is untrusted text: one
line may be megabytes (a minified file, a terminal escape never closed, a gzip bomb of one line), so
each line is cut to LINE_BYTES as it is read, the rest of it skipped unkept, and memory stays near one
line whatever the log's size. Reading a log never runs anything."""

from __future__ import annotations

import io
import os
import sys
from collections.abc import Iterable, Iterator
from typing import BinaryIO

from kmodtui.core.errors import KmodError

MAX_LINE = 4096  # characters of a cleaned line the rules see (engine.clean_line cuts there)
LINE_BYTES = 4 * MAX_LINE  # bytes kept of a line as read: room for its colours, which cleaning removes
# A file past this is refused, stdin read up to it. The rules read ~2-3 MB of log a second whatever it
# holds (a hostile one no slower: every regex is linear), so this bounds a run to ~15 s. Real failure
# logs (a dkms make.log, an apt run, dmesg) are kilobytes to a few megabytes.
MAX_LOG_BYTES = 32 * 1024 * 1024
_SKIP = 1 << 20  # the unkept rest of a long line is read in pieces this big
_BOM = b"\xef\xbb\xbf"


def decode_log(data: bytes) -> str:
    """Logs come in UTF-8, Latin-1 (old dpkg translations), or with a BOM."""
    if data.startswith(_BOM):
        data = data[3:]
    return decode_line(data)


def decode_line(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def _whole_characters(cut: bytes) -> bytes:
    """A cut UTF-8 line without the start of a character the cut split (at most 3 bytes)."""
    end = len(cut)
    while end > len(cut) - 3 and end > 0 and 0x80 <= cut[end - 1] < 0xC0:
        end -= 1
    if end > 0 and cut[end - 1] >= 0xC0:
        end -= 1
    return cut[:end]


def log_lines(stream: BinaryIO, limit: int | None = None) -> Iterator[str]:
    """The lines of a binary stream as str.splitlines() would give them, each decoded on its own and
    cut to LINE_BYTES; with `limit`, reading stops after that many bytes (stdin's cut)."""
    read = 0
    first = True
    while limit is None or read < limit:
        chunk = stream.readline(LINE_BYTES)
        if not chunk:
            return
        read += len(chunk)
        if len(chunk) == LINE_BYTES and not chunk.endswith(b"\n"):
            chunk = _whole_characters(chunk)
            while True:  # the rest of the line, read and dropped
                rest = stream.readline(_SKIP)
                read += len(rest)
                if not rest or rest.endswith(b"\n") or (limit is not None and read >= limit):
                    break
        if first and chunk.startswith(_BOM):
            chunk = chunk[3:]
        first = False
        if chunk:
            yield from decode_line(chunk).splitlines()


def _file_lines(path: str, raw: BinaryIO, stream: BinaryIO) -> Iterator[str]:
    with raw:
        try:
            yield from log_lines(stream)
        except OSError as err:
            raise KmodError(path, err.strerror or str(err)) from None


def read_logs(paths: list[str], stdin: BinaryIO | None = None) -> list[tuple[str, Iterable[str]]]:
    """(name, lines) of each log: a file (compressed ones too), or `-` for stdin. Only regular files
    are opened; each is checked for text as it is opened, and its lines come as the diagnosis reads
    them (a file decompressing past MAX_LOG_BYTES stops that reading with a KmodError)."""
    from kmodtui.core.compression import CHUNK, CappedReader, open_regular

    logs: list[tuple[str, Iterable[str]]] = []
    for path in paths:
        if path == "-":
            logs.append(("-", log_lines(stdin if stdin is not None else sys.stdin.buffer, MAX_LOG_BYTES)))
            continue
        raw = open_regular(path)
        try:
            reader = CappedReader(raw, path, MAX_LOG_BYTES)  # decompressed when it is, refused past the cap
            if reader.kind == "none" and os.fstat(raw.fileno()).st_size > MAX_LOG_BYTES:
                raise KmodError(path, f"is larger than {MAX_LOG_BYTES // (1024 * 1024)} MiB; kmodtui diagnoses logs "
                                      "up to that size (cut it to the part around the failure)")
            if reader.kind != "none":  # a bomb is refused before a line is read: decompressed once, unkept
                with open_regular(path) as again:
                    measure = CappedReader(again, path, MAX_LOG_BYTES, reader.kind)
                    while measure.read(CHUNK):
                        pass
            stream = io.BufferedReader(reader, CHUNK)
            if b"\0" in stream.peek(8192)[:8192]:
                raise KmodError(path, "is not a text log (it holds binary data)")
        except OSError as err:
            raw.close()
            raise KmodError(path, err.strerror or str(err)) from None
        except BaseException:
            raw.close()
            raise
        logs.append((path, _file_lines(path, raw, stream)))
    return logs
