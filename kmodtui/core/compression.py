"""The one capped decompressor: every compressed thing kmodtui reads (a .ko.xz, symvers.gz, a .deb's
data.tar.zst, an RPM's payload, a tarball) goes through `CappedReader`, which streams and stops at a
byte limit it sets itself. A package's own size fields are never trusted, and memory stays at the
size of the output asked for (plus the compressor's window), so a bomb is refused, not swallowed.
"""

from __future__ import annotations

import io
import os
import stat
import time
import zlib
from typing import Any, BinaryIO, Protocol

from kmodtui.core.errors import KmodError

# The largest real module we know of (amdgpu.ko with debug info) is ~60 MiB uncompressed.
MAX_DECOMPRESSED = 512 * 1024 * 1024
CHUNK = 1 << 20  # how much output one read makes at the most
_INPUT = 64 * 1024  # how much compressed input is fed at a time
# One input (a package) may make this much decompressed output in all, its payload and every module
# inside counted together: Debian 13's linux-image, the largest genuine case measured, makes 628 MB
# (112 MB of data.tar, 516 MB of .ko.xz), Debian 12's 411 MB. xz turns out ~175 MiB/s of zeros here,
# so a bomb that spends the whole budget costs ~6 s of CPU.
MAX_WORK = 1024 * 1024 * 1024
# Decompression CPU is counted too (that linux-image takes ~12 s of it here, a slow board several
# times that); the cap is a backstop for data slow to decode, far above what the byte budget allows.
MAX_WORK_CPU = 600.0


class Readable(Protocol):
    """Anything with read(size): a file, a member of a tar or an ar archive, a decompressed stream."""

    def read(self, size: int = ..., /) -> bytes: ...


MAGICS = (
    (b"\x1f\x8b", "gzip"),
    (b"\xfd7zXZ\x00", "xz"),
    (b"\x28\xb5\x2f\xfd", "zstd"),
    (b"BZh", "bzip2"),
    (b"\x5d\x00\x00", "lzma"),
)


def compression_of(head: bytes) -> str:
    for magic, name in MAGICS:
        if head.startswith(magic):
            return name
    return "none"


def open_regular(path: str | os.PathLike[str]) -> io.BufferedReader:
    """Open a file for reading only if it is a regular file: a FIFO would block, /dev/zero never ends.
    The check is on the opened descriptor (O_NONBLOCK so that opening a FIFO cannot hang)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as err:
        raise KmodError(path, err.strerror or str(err)) from None
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            kind = ("a FIFO" if stat.S_ISFIFO(mode) else "a directory" if stat.S_ISDIR(mode)
                    else "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "a socket" if stat.S_ISSOCK(mode)
                    else "not a regular file")
            raise KmodError(path, f"is {kind}; kmodtui reads only regular files")
        os.set_blocking(fd, True)
        return open(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


class WorkBudget:
    """What decompressing one input may cost in all, whatever its layers: a package's payload and
    every module inside it draw from one budget, so 2,000 modules each under the per-module cap
    cost what the budget allows, not 2,000 times the cap. Counts output bytes and the CPU time of
    the thread that decompresses (both cheap: one clock read per MiB)."""

    def __init__(self, name: str | os.PathLike[str], limit: int = MAX_WORK, cpu_limit: float = MAX_WORK_CPU) -> None:
        self.name = os.fspath(name)
        self.limit = limit
        self.cpu_limit = cpu_limit
        self.produced = 0
        self.cpu = 0.0

    def charge(self, produced: int, cpu: float) -> None:
        self.produced += produced
        self.cpu += cpu
        if self.produced > self.limit:
            raise KmodError(self.name, f"decompresses to more than {self.limit} bytes in all (its payload and the "
                                       f"files inside it together, {self.cpu:.1f} s of CPU so far); refusing")
        if self.cpu > self.cpu_limit:
            raise KmodError(self.name, f"decompressing it took more than {self.cpu_limit:.0f} s of CPU in all; refusing")


class CappedReader(io.RawIOBase):
    """A read-only stream of `raw` decompressed (gzip, xz, lzma, bzip2, zstd; concatenated streams
    too) or passed through ("none"), that raises KmodError once more than `limit` bytes come out
    and when the compressed data ends early. `kind=None` judges by the first bytes. What it
    decompresses (not what it passes through) is also charged to `budget`, when given."""

    def __init__(self, raw: Readable, name: str | os.PathLike[str], limit: int, kind: str | None = None,
                 budget: WorkBudget | None = None) -> None:
        super().__init__()
        self.name = os.fspath(name)
        self.limit = limit
        self.produced = 0
        head = b""
        if kind is None:
            head = raw.read(6)
            kind = compression_of(head)
        self.kind = kind
        self._budget = budget if kind != "none" else None
        self._raw = raw
        self._pending = head  # compressed input not yet fed
        self._eof = False
        self._decoder: Any = None
        self._surplus = b""  # zstd output past what was asked for
        if kind != "none":
            self._decoder = self._new_decoder()
        self._tail = b""  # input the decoder did not consume yet (its unconsumed_tail)

    def _new_decoder(self) -> Any:
        if self.kind == "gzip":
            return zlib.decompressobj(wbits=31)
        if self.kind in ("xz", "lzma"):
            import lzma

            return lzma.LZMADecompressor(lzma.FORMAT_AUTO)
        if self.kind == "bzip2":
            import bz2

            return bz2.BZ2Decompressor()
        if self.kind == "zstd":
            import zstandard

            return zstandard.ZstdDecompressor().decompressobj()
        raise KmodError(self.name, f"unknown compression {self.kind}")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._produce(min(len(buffer), CHUNK))
        buffer[: len(data)] = data
        return len(data)

    def _produce(self, size: int) -> bytes:
        if size <= 0 or self._eof:
            return b""
        started = time.thread_time() if self._budget is not None else 0.0
        try:
            data = self._produce_raw(size)
        except KmodError:
            raise
        except (zlib.error, EOFError, OSError, ValueError) as err:
            raise KmodError(self.name, f"corrupt {self.kind} data: {err}") from None
        except Exception as err:  # lzma.LZMAError, zstandard.ZstdError: imported lazily
            raise KmodError(self.name, f"corrupt {self.kind} data: {err}") from None
        self.produced += len(data)
        if self.produced > self.limit:
            raise KmodError(self.name, f"decompresses to more than {self.limit} bytes; refusing")
        if self._budget is not None:
            self._budget.charge(len(data), time.thread_time() - started)
        if not data:
            self._eof = True
        return data

    def _produce_raw(self, size: int) -> bytes:
        want = min(size, self.limit + 1 - self.produced) if self.produced <= self.limit else 1
        want = max(want, 1)
        if self.kind == "none":
            data = self._pending[:want]
            self._pending = self._pending[want:]
            return data + (self._raw.read(want - len(data)) if len(data) < want else b"")
        if self.kind == "zstd":
            return self._zstd_produce(want)
        while True:
            d = self._decoder
            if d.eof:  # one stream ended: another may follow (pigz, pxz and xz -T write several)
                rest = (d.unused_data + self._tail + self._pending).lstrip(b"\0")  # stream padding
                self._tail = self._pending = b""
                while not rest:
                    more = self._raw.read(_INPUT)
                    if not more:
                        return b""
                    rest = more.lstrip(b"\0")
                self._decoder = d = self._new_decoder()
                self._pending = rest
            if self._tail:  # zlib keeps what max_length stopped it short of
                source, self._tail = self._tail, b""
            elif self.kind != "gzip" and not d.needs_input:
                source = b""
            else:
                source, self._pending = self._pending or self._raw.read(_INPUT), b""
                if not source:
                    raise KmodError(self.name, f"truncated {self.kind} data")
            if self.kind == "gzip":
                out = d.decompress(source, want)
                self._tail = d.unconsumed_tail
            else:
                out = d.decompress(source, max_length=want)
            if out:
                return out


    def _zstd_produce(self, want: int) -> bytes:
        # zstandard's decompressobj has no output cap, so it is fed 512 bytes at a time: that much
        # input of RLE blocks makes at most ~16 MiB, which is checked before more goes in.
        while not self._surplus:
            d = self._decoder
            if d.eof:
                rest = d.unused_data + self._pending
                self._pending = b""
                if not rest:
                    rest = self._raw.read(_INPUT)
                if not rest:
                    return b""
                self._decoder = d = self._new_decoder()
                self._pending = rest
            if not self._pending:
                self._pending = self._raw.read(_INPUT)
                if not self._pending:
                    raise KmodError(self.name, "truncated zstd data")
            source, self._pending = self._pending[:512], self._pending[512:]
            self._surplus = d.decompress(source)
        out, self._surplus = self._surplus[:want], self._surplus[want:]
        return out


def capped_stream(raw: Readable, name: str | os.PathLike[str], limit: int, kind: str | None = None,
                  budget: WorkBudget | None = None) -> BinaryIO:
    """A buffered, capped, decompressed view of `raw` (see CappedReader)."""
    return io.BufferedReader(CappedReader(raw, name, limit, kind, budget), CHUNK)


def read_capped(raw: Readable, name: str | os.PathLike[str], limit: int, kind: str | None = None,
                budget: WorkBudget | None = None) -> tuple[bytes, str]:
    """All of `raw`, decompressed, refused past `limit` bytes; memory peaks near the output's size."""
    reader = CappedReader(raw, name, limit, kind, budget)
    parts: list[bytes] = []
    while chunk := reader._produce(CHUNK):
        parts.append(chunk)
    return b"".join(parts), reader.kind


def read_maybe_compressed(path: str | os.PathLike[str], limit: int = MAX_DECOMPRESSED) -> tuple[bytes, str]:
    """Return (content, compression), judging by magic bytes rather than the file name."""
    with open_regular(path) as f:
        try:
            head = f.read(6)
            kind = compression_of(head)
            if kind == "none":
                rest = f.read(limit + 1 - len(head))
                if len(head) + len(rest) > limit:
                    raise KmodError(path, f"is larger than {limit} bytes; refusing")
                return head + rest, kind
            f.seek(0)
            return read_capped(f, path, limit, kind)
        except OSError as err:
            raise KmodError(path, err.strerror or str(err)) from None


def decompress_bytes(raw: bytes, path: str | os.PathLike[str], limit: int = MAX_DECOMPRESSED) -> tuple[bytes, str]:
    """(content, compression) of bytes that may be gzip, xz, zstd, bzip2 or lzma; `path` names them."""
    kind = compression_of(raw[:6])
    if kind == "none":
        return raw, kind
    return read_capped(io.BytesIO(raw), path, limit, kind)
