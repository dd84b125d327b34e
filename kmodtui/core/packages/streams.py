"""Reading .deb and .rpm files as streams: the ar container, control and data members (tar, read by
tarstream with every header record bounded), an RPM's headers and its cpio payload, all through the one
capped decompressor (a package's own size fields are never trusted).
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO

from kmodtui.core.compression import WorkBudget, capped_stream, compression_of, open_regular
from kmodtui.core.errors import KmodError
from kmodtui.core.packages.safewrite import MAX_TOTAL_BYTES
from kmodtui.core.packages.tarstream import MAX_HEADER_RECORD, MemberData, TarMember, tar_members

MAX_CONTROL = 64 * 1024 * 1024
MAX_AR_MEMBERS = 64  # a .deb has three (debian-binary, control.tar, data.tar), signed ones a few more


class Window(io.RawIOBase):
    """`size` bytes of `f` from `offset` (a member of an ar archive, an RPM payload)."""

    def __init__(self, f: BinaryIO, offset: int, size: int | None = None) -> None:
        super().__init__()
        self._f = f
        self._pos = offset
        self._left = size

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        want = len(buffer) if self._left is None else min(len(buffer), self._left)
        if want <= 0:
            return 0
        self._f.seek(self._pos)
        data = self._f.read(want)
        buffer[: len(data)] = data
        self._pos += len(data)
        if self._left is not None:
            self._left -= len(data)
        return len(data)


AR_MAGIC = b"!<arch>\n"


def ar_members(f: BinaryIO, path: str) -> Iterator[tuple[str, int, int]]:
    """(name, offset, size) of each member of an ar archive (a .deb), without reading their data."""
    f.seek(0, os.SEEK_END)
    end = f.tell()
    f.seek(0)
    if f.read(8) != AR_MAGIC:
        raise KmodError(path, "not a .deb (no ar archive magic)")
    offset = 8
    count = 0
    while offset < end:
        count += 1
        if count > MAX_AR_MEMBERS:
            raise KmodError(path, f"more than {MAX_AR_MEMBERS} ar members; not a .deb", offset=offset)
        f.seek(offset)
        header = f.read(60)
        if len(header) < 60 or header[58:60] != b"`\n":
            raise KmodError(path, "corrupt ar member header", offset=offset)
        name = header[:16].decode("ascii", "replace").strip().rstrip("/")
        size_text = header[48:58].decode("ascii", "replace").strip()
        if not size_text.isdigit():
            raise KmodError(path, "corrupt ar member size", offset=offset)
        size = int(size_text)
        if offset + 60 + size > end:
            raise KmodError(path, f"ar member {name} is truncated", offset=offset)
        yield name, offset + 60, size
        offset += 60 + size + (size & 1)


def _member_kind(name: str, f: BinaryIO, offset: int) -> str | None:
    """The compression of a control.tar*/data.tar* member, by its name and checked by its magic."""
    suffix = name.rsplit(".tar", 1)[-1]
    wanted = {"": "none", ".gz": "gzip", ".xz": "xz", ".zst": "zstd", ".bz2": "bzip2", ".lzma": "lzma"}.get(suffix)
    f.seek(offset)
    actual = compression_of(f.read(6))
    if wanted is None or (wanted != "none" and actual != wanted) or (wanted == "none" and actual != "none"):
        return None
    return wanted


class DebReader:
    """A .deb read as streams: its control file as text, its data.tar as a streaming TarFile."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._f = open_regular(path)
        self._members = {}
        for name, offset, size in ar_members(self._f, path):
            if name.startswith(("control.tar", "data.tar")):
                self._members[name.split(".tar")[0]] = (name, offset, size)
        if "data" not in self._members:
            raise KmodError(path, "corrupt .deb: no data.tar member")

    def __enter__(self) -> DebReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self._f.close()

    def _tar(self, which: str, limit: int, budget: WorkBudget | None) -> Iterator[tuple[TarMember, MemberData]]:
        if which not in self._members:
            raise KmodError(self.path, f"corrupt .deb: no {which}.tar member")
        name, offset, size = self._members[which]
        kind = _member_kind(name, self._f, offset)
        if kind is None:
            raise KmodError(self.path, f"corrupt .deb: {name} is not compressed as its name says")
        stream = capped_stream(Window(self._f, offset, size), self.path, limit, kind, budget)
        return tar_members(stream, self.path, f"{which}.tar")

    def control_text(self, budget: WorkBudget | None = None) -> str:
        for member, body in self._tar("control", MAX_CONTROL, budget):
            if member.name.lstrip("./") == "control" and member.isreg():
                if member.size > 1024 * 1024:
                    raise KmodError(self.path, "control file larger than 1 MiB")
                return body.read().decode("utf-8", "replace")
        raise KmodError(self.path, "no control file in control.tar")

    def data(self, limit: int = MAX_TOTAL_BYTES, budget: WorkBudget | None = None
             ) -> Iterator[tuple[TarMember, MemberData]]:
        """Each member of data.tar and a reader of its data (read it, or not, before the next)."""
        return self._tar("data", limit, budget)


# cpio "newc", as rpm writes its payload: 110-byte ASCII header, name, data, each padded to 4.
_CPIO_FIELDS = ("ino", "mode", "uid", "gid", "nlink", "mtime", "filesize", "devmajor", "devminor",
                "rdevmajor", "rdevminor", "namesize", "check")


@dataclass
class CpioMember:
    name: str
    mode: int
    size: int
    nlink: int


def _read_exact(stream: BinaryIO, size: int, path: str) -> bytes:
    data = stream.read(size)
    if len(data) != size:
        raise KmodError(path, "corrupt .rpm: payload ends inside a member")
    return data


def cpio_members(stream: BinaryIO, path: str) -> Iterator[tuple[CpioMember, BinaryIO]]:
    """Each member and a reader of its data (read it, or not, before asking for the next)."""
    while True:
        header = stream.read(110)
        if not header:
            raise KmodError(path, "corrupt .rpm: payload ends without a cpio trailer")
        if len(header) < 110 or header[:6] != b"070701":
            if header[:6] == b"07070X":
                raise KmodError(path, "payload in rpm's large-file cpio format (files over 4 GiB); not read")
            raise KmodError(path, "corrupt .rpm: bad cpio header in the payload")
        try:
            fields = {k: int(header[6 + 8 * i : 14 + 8 * i], 16) for i, k in enumerate(_CPIO_FIELDS)}
        except ValueError:
            raise KmodError(path, "corrupt .rpm: bad cpio header in the payload") from None
        namesize = fields["namesize"]
        if not 1 <= namesize <= MAX_HEADER_RECORD:  # bounded like a tar header record; rpm's are < 4 KiB
            raise KmodError(path, "corrupt .rpm: cpio name size out of range")
        name = _read_exact(stream, namesize, path).rstrip(b"\0").decode("utf-8", "surrogateescape")
        _read_exact(stream, (-(110 + namesize)) % 4, path)
        if name == "TRAILER!!!":
            return
        size = fields["filesize"]
        body = MemberData(stream, size)  # the same bounded reader as a tar member's data
        yield CpioMember(name, fields["mode"], size, fields["nlink"]), body  # type: ignore[misc]
        while body.left:
            if not body.read(min(body.left, 1 << 20)):
                raise KmodError(path, "corrupt .rpm: payload ends inside a member")
        _read_exact(stream, (-size) % 4, path)


class RpmReader:
    """An .rpm's headers (rpmfile) and its payload as a stream of cpio members."""

    def __init__(self, path: str) -> None:
        from rpmfile.headers import get_headers

        self.path = path
        self._f = open_regular(path)
        try:
            (_, self.data_offset), self.headers = get_headers(self._f)
        except KmodError:
            raise
        except Exception as err:  # rpmfile raises at least six unrelated types on corrupt input
            self._f.close()
            raise KmodError(path, f"corrupt or truncated .rpm: {type(err).__name__}: {err}") from None

    def __enter__(self) -> RpmReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self._f.close()

    def members(self, limit: int = MAX_TOTAL_BYTES, budget: WorkBudget | None = None
                ) -> Iterator[tuple[CpioMember, BinaryIO]]:
        stream = capped_stream(Window(self._f, self.data_offset), self.path, limit, budget=budget)
        return cpio_members(stream, self.path)
