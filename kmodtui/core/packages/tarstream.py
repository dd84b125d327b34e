"""Reading a tar stream (a .deb's control.tar and data.tar, a source tarball) with every header record
bounded before it is parsed. Python's tarfile is not used on untrusted input: before 3.11.10/3.12.6
it parses pax headers in quadratic time (CVE-2024-6232: 4 MB of digits takes hours), it reads a GNU
long-name or pax record of any size into memory (600 MiB from a 20 KB .deb), keeps every pax key, and
follows a chain of extension headers by recursion. Here a pax or GNU long-name/long-link record
larger than 64 KiB is refused from its header alone, names are at most PATH_MAX, a pax header holds
at most 128 records, and at most 8 extension headers may precede a member.

Formats read: v7, ustar (with its name prefix), GNU (long names and links, base-256 numbers) and
pax (path, linkpath, size; global headers too), as GNU tar, dpkg-deb and git archive write them.
Sparse members (GNU tar --sparse) are refused: no kernel or module package has one.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO

from kmodtui.core.compression import Readable
from kmodtui.core.errors import KmodError

BLOCK = 512
MAX_HEADER_RECORD = 64 * 1024  # a pax or GNU long-name record; real ones are < 4 KiB (PATH_MAX)
MAX_NAME = 4096  # PATH_MAX: no longer name or link target can be created or opened by the kernel
MAX_PAX_RECORDS = 128  # GNU tar and git archive write a handful; xattrs make a few dozen at most
MAX_EXTENSIONS = 8  # headers before one member: GNU writes L and K, pax writes x (and g once)

FILE, DIR, SYMLINK, HARDLINK, OTHER = "file", "dir", "symlink", "hardlink", "other"
_KINDS = {b"0": FILE, b"\0": FILE, b"7": FILE, b"5": DIR, b"2": SYMLINK, b"1": HARDLINK,
          b"3": OTHER, b"4": OTHER, b"6": OTHER}  # 3, 4, 6: devices and FIFOs, never unpacked
_NO_DATA = (DIR, SYMLINK, HARDLINK, b"3", b"4", b"6")  # their size field is ignored, as tarfile does
_HIGH = bytes(range(128, 256))
_POSIX_MAGIC = b"ustar\x0000"


@dataclass(frozen=True)
class TarMember:
    name: str
    kind: str  # FILE, DIR, SYMLINK, HARDLINK or OTHER (a device, FIFO or a type kmodtui does not know)
    mode: int
    size: int  # bytes of data that follow (0 for folders and links)
    linkname: str = ""
    uid: int = 0
    gid: int = 0
    uname: str = ""
    gname: str = ""
    mtime: int = 0

    def isreg(self) -> bool:
        return self.kind == FILE

    def isdir(self) -> bool:
        return self.kind == DIR

    def issym(self) -> bool:
        return self.kind == SYMLINK

    def islnk(self) -> bool:
        return self.kind == HARDLINK


class MemberData(io.RawIOBase):
    """The data of the current member: at most its size, from the stream (a tar archive's, an RPM
    payload's cpio), in reads of at most 1 MiB."""

    def __init__(self, stream: Readable, size: int) -> None:
        super().__init__()
        self._s = stream
        self.left = size

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._s.read(min(len(buffer), self.left, 1 << 20))
        buffer[: len(data)] = data
        self.left -= len(data)
        return len(data)


class _Reader:
    def __init__(self, stream: Readable, path: str, what: str) -> None:
        self.stream = stream
        self.path = path
        self.what = what
        self.offset = 0
        self.globals: dict[str, str] = {}

    def fail(self, reason: str, at: int | None = None) -> KmodError:
        return KmodError(self.path, f"corrupt {self.what}: {reason}", offset=self.offset if at is None else at)

    def read(self, size: int) -> bytes:
        parts = []
        left = size
        while left:
            chunk = self.stream.read(min(left, 1 << 20))
            if not chunk:
                raise self.fail("it ends inside a member")
            parts.append(chunk)
            left -= len(chunk)
        self.offset += size
        return b"".join(parts)

    def skip(self, size: int) -> None:
        left = size
        while left:
            chunk = self.stream.read(min(left, 1 << 20))
            if not chunk:
                raise self.fail("it ends inside a member")
            left -= len(chunk)
        self.offset += size

    def number(self, field: bytes, at: int) -> int:
        if field[:1] in (b"\x80", b"\xff"):  # GNU base-256: sizes past 8 GiB, large ids, dates before 1970
            value = int.from_bytes(field[1:], "big")
            return value - (1 << (8 * len(field) - 8)) if field[:1] == b"\xff" else value
        text = field.split(b"\0", 1)[0].strip(b" ")
        if not text:
            return 0
        if text.strip(b"01234567"):
            raise self.fail("bad number in a tar header", at)
        return int(text, 8)

    def record(self, size: int, kind: str, at: int) -> bytes:
        if size > MAX_HEADER_RECORD:
            raise KmodError(self.path, f"{self.what}: a {kind} header record of {size} bytes (real ones are under "
                                       f"4 KiB; kmodtui reads at most {MAX_HEADER_RECORD}); refusing", offset=at)
        data = self.read(size)
        self.skip(-size % BLOCK)
        return data

    def pax(self, data: bytes, at: int) -> dict[str, str]:
        """The records of a pax header that kmodtui uses (path, linkpath, size), in one linear pass."""
        found: dict[str, str] = {}
        pos = 0
        count = 0
        while pos < len(data) and data[pos] != 0:
            count += 1
            if count > MAX_PAX_RECORDS:
                raise KmodError(self.path, f"{self.what}: a pax header record with more than {MAX_PAX_RECORDS} "
                                           "entries; refusing", offset=at)
            space = data.find(b" ", pos, pos + 12)
            digits = data[pos:space]
            if space < 0 or not digits.isdigit():
                raise self.fail("bad pax header record", at)
            length = int(digits)
            end = pos + length
            if length < 5 or end > len(data) or data[end - 1] != 0x0A:
                raise self.fail("bad pax header record", at)
            key, equals, value = data[space + 1:end - 1].partition(b"=")
            if not key or not equals:
                raise self.fail("bad pax header record", at)
            if key.startswith(b"GNU.sparse."):
                raise KmodError(self.path, f"{self.what}: holds a sparse file (GNU tar --sparse); kmodtui does not "
                                           "read sparse archives", offset=at)
            if key in (b"path", b"linkpath", b"size"):
                found[key.decode()] = value.decode("utf-8", "surrogateescape")
            pos = end
        return found

    def members(self) -> Iterator[tuple[TarMember, MemberData]]:
        long_name: str | None = None
        long_link: str | None = None
        local: dict[str, str] = {}
        extensions = 0
        while True:
            at = self.offset
            block = self.stream.read(BLOCK)
            if not block:
                return  # no end-of-archive blocks: tarfile and GNU tar accept that too
            while len(block) < BLOCK:
                more = self.stream.read(BLOCK - len(block))
                if not more:
                    raise self.fail("it ends inside a tar header", at)
                block += more
            self.offset += BLOCK
            if block.count(0) == BLOCK:
                return  # end of archive
            stored = self.number(block[148:156], at)
            outside = block[:148] + block[156:]  # the checksum field counts as eight spaces
            unsigned = 256 + sum(outside)
            if stored != unsigned:  # some old tars summed signed chars
                high = len(outside) - len(outside.translate(None, _HIGH))
                if stored != unsigned - 256 * high:
                    raise self.fail("bad tar header checksum", at)
            flag = block[156:157]
            size = self.number(block[124:136], at)
            if size < 0:
                raise self.fail("negative size in a tar header", at)
            if flag in (b"L", b"K", b"x", b"g"):
                extensions += 1
                if extensions > MAX_EXTENSIONS:
                    raise KmodError(self.path, f"{self.what}: more than {MAX_EXTENSIONS} extension headers in a row; "
                                               "refusing", offset=at)
                kind = {b"L": "GNU long-name", b"K": "GNU long-link", b"x": "pax", b"g": "pax global"}[flag]
                data = self.record(size, kind, at)
                if flag == b"L":
                    long_name = self.name(data.split(b"\0", 1)[0], at)
                elif flag == b"K":
                    long_link = self.name(data.split(b"\0", 1)[0], at)
                elif flag == b"x":
                    local.update(self.pax(data, at))
                else:
                    self.globals.update(self.pax(data, at))
                continue
            if flag == b"S":
                raise KmodError(self.path, f"{self.what}: holds a sparse file (GNU tar --sparse); kmodtui does not "
                                           "read sparse archives", offset=at)
            pax = {**self.globals, **local}
            name = self.name(block[0:100].split(b"\0", 1)[0], at)
            if block[257:265] == _POSIX_MAGIC and block[345] != 0:
                name = self.name(block[345:500].split(b"\0", 1)[0] + b"/" + block[0:100].split(b"\0", 1)[0], at)
            if long_name is not None:
                name = long_name
            linkname = long_link if long_link is not None else self.name(block[157:257].split(b"\0", 1)[0], at)
            if "path" in pax:
                name = self.name(pax["path"].encode("utf-8", "surrogateescape"), at)
            if "linkpath" in pax:
                linkname = self.name(pax["linkpath"].encode("utf-8", "surrogateescape"), at)
            if "size" in pax:
                if not (pax["size"].isascii() and pax["size"].isdigit() and len(pax["size"]) <= 20):
                    raise self.fail("bad size in a pax header", at)
                size = int(pax["size"])
            kind = _KINDS.get(flag, OTHER)
            if flag == b"\0" and name.endswith("/"):
                kind = DIR  # v7 tar: a folder is a file whose name ends with '/'
            if kind == DIR:
                name = name.rstrip("/")
            data_size = 0 if kind in _NO_DATA or flag in _NO_DATA else size
            member = TarMember(name, kind, self.number(block[100:108], at) & 0o7777, data_size, linkname,
                               self.number(block[108:116], at), self.number(block[116:124], at),
                               block[265:297].split(b"\0", 1)[0].decode("utf-8", "surrogateescape"),
                               block[297:329].split(b"\0", 1)[0].decode("utf-8", "surrogateescape"),
                               self.number(block[136:148], at))
            long_name = long_link = None
            local = {}
            extensions = 0
            body = MemberData(self.stream, data_size)
            yield member, body
            self.offset += data_size - body.left
            self.skip(body.left + (-data_size % BLOCK))

    def name(self, raw: bytes, at: int) -> str:
        if len(raw) > MAX_NAME:
            raise KmodError(self.path, f"{self.what}: a member name of {len(raw)} bytes (the kernel's limit is "
                                       f"{MAX_NAME}); refusing", offset=at)
        if b"\0" in raw:
            raise self.fail("a member name holds a NUL byte", at)
        return raw.decode("utf-8", "surrogateescape")


def tar_members(stream: Readable | BinaryIO, path: str, what: str = "tar archive") -> Iterator[tuple[TarMember, MemberData]]:
    """Each member of a tar stream and a reader of its data (read it, or not, before asking for the
    next). Raises KmodError naming `path` (and `what`, e.g. "data.tar") for anything malformed or
    past the bounds above."""
    return _Reader(stream, path, what).members()
