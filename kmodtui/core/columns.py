"""The format of cache entries: typed columns of plain data, which a loader can only read.

Cache entries used to be pickles, and unpickling runs whatever the pickle names: an entry planted
where kmodtui looks (root running with another user's HOME, a shared XDG_CACHE_HOME, a CI cache
restored from another branch) ran as whoever read it. An entry here is a header and a few columns,
each a kind letter, a count and a size, then its bytes; reading one checks every size against what
is left and every count against its column, and makes only strings, integers and byte strings.
Columns, not records: a distro tree's 67k problem rows are five columns, each made with one call
in C (str.split, array.frombytes), which is what makes it as fast to load as the pickle was.

Kinds:
  "s"  strings without NUL (paths, symbol names, modinfo values), UTF-8 joined by NUL; the count
       is checked against the NULs
  "I"  unsigned 32-bit integers (CRCs, indexes into another column), an array('I')
  "Q"  unsigned 64-bit integers (device and inode numbers, sizes), an array('Q')
  "q"  signed 64-bit integers (mtimes, export CRCs with -1 for none), an array('q')
  "B"  bytes, one per item (flags), as bytes
  "b"  byte strings (a module's scan output): their sizes, then their bytes; read back as one
       bytes object and where each item is in it, a list of (bytes, start, end)
"""

from __future__ import annotations

import struct
import sys
from array import array
from itertools import accumulate, repeat

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence
    from typing import Any

# The byte order is part of the magic: an entry made on another machine (a cache folder on NFS)
# is a miss, not misread numbers.
MAGIC = b"KMCOL1" + (b"<<" if sys.byteorder == "little" else b">>")
_COLUMN = struct.Struct("=cQQ")  # kind, count, size of the payload that follows
_COUNT = struct.Struct("=I")
# surrogateescape both ways: a path with undecodable bytes comes back as the same str, and no
# bytes make decoding fail (a string the encoder refuses is simply not cached).
_TEXT = ("utf-8", "surrogateescape")


class DamagedEntry(ValueError):
    """An entry that is not what its reader expects: a miss, never an answer."""


def pack(columns: Iterable[tuple[str, Sequence[Any]]]) -> bytes:
    """The entry holding `columns`, each (kind, values), as one bytes object (see pieces())."""
    return b"".join(pieces(columns))


def pieces(columns: Iterable[tuple[str, Sequence[Any]]]) -> list[bytes]:
    """The entry holding `columns`, each (kind, values), in pieces to write one after the other
    (a module cache entry is ~6 MB: joining it whole would be one more copy at the peak). Raises
    ValueError when a value cannot be stored as its kind (a NUL in a string, a number out of
    range): the caller then caches nothing."""
    columns = list(columns)
    parts = [MAGIC + _COUNT.pack(len(columns))]
    for kind, values in columns:
        payload: list[bytes]
        if kind == "s":
            text = "\0".join(values)
            if values and text.count("\0") != len(values) - 1:
                raise ValueError("a string holds a NUL")
            payload = [text.encode(*_TEXT)]
        elif kind in ("I", "Q", "q"):
            payload = [(values if isinstance(values, array) and values.typecode == kind
                        else array(kind, values)).tobytes()]
        elif kind == "B":
            payload = [bytes(values)]
        elif kind == "b":  # bytes-like items: bytes, memoryview slices
            payload = [array("Q", map(len, values)).tobytes(), b"".join(values)]
        else:
            raise ValueError(f"no column kind {kind!r}")
        parts += [_COLUMN.pack(kind.encode(), len(values), sum(map(len, payload))), *payload]
    return parts


def unpack(blob: bytes | memoryview, kinds: str) -> list:
    """The columns of an entry made by pack() with these kinds, in order: list[str] for "s",
    array for "I"/"Q"/"q", bytes for "B", list[(bytes, start, end)] for "b". Raises DamagedEntry on anything else
    (another layout, a size past the end, a count that does not match its column)."""
    view = memoryview(blob)
    if bytes(view[: len(MAGIC)]) != MAGIC:
        raise DamagedEntry("not a column entry of this machine")
    pos = len(MAGIC) + _COUNT.size
    if len(view) < pos or _COUNT.unpack_from(view, len(MAGIC))[0] != len(kinds):
        raise DamagedEntry("another set of columns")
    out: list = []
    for kind in kinds:
        if len(view) - pos < _COLUMN.size:
            raise DamagedEntry("cut short")
        stored, count, size = _COLUMN.unpack_from(view, pos)
        pos += _COLUMN.size
        if stored != kind.encode() or size > len(view) - pos:
            raise DamagedEntry("another column, or cut short")
        payload = view[pos : pos + size]
        pos += size
        out.append(_column(kind, count, payload))
    if pos != len(view):
        raise DamagedEntry("bytes after the last column")
    return out


def _column(kind: str, count: int, payload: memoryview) -> object:
    if kind == "s":
        if not count:
            if len(payload):
                raise DamagedEntry("an empty string column with bytes")
            return []
        if count - 1 > len(payload):
            raise DamagedEntry("a string column of another count")
        strings = str(payload, *_TEXT).split("\0")
        if len(strings) != count:
            raise DamagedEntry("a string column of another count")
        return strings
    if kind in ("I", "Q", "q"):
        numbers = array(kind)
        if len(payload) != count * numbers.itemsize:
            raise DamagedEntry("a number column of another count")
        numbers.frombytes(payload)
        return numbers
    if kind == "B":
        if len(payload) != count:
            raise DamagedEntry("a flag column of another count")
        return bytes(payload)
    if kind == "b":
        sizes = array("Q")
        if count > len(payload) // sizes.itemsize:
            raise DamagedEntry("a byte-string column of another count")
        head = count * sizes.itemsize
        sizes.frombytes(payload[:head])
        ends = list(accumulate(sizes))
        if (ends[-1] if ends else 0) != len(payload) - head:
            raise DamagedEntry("byte strings of another size")
        data = bytes(payload[head:])  # one copy for all; each item says where it is in it
        return list(zip(repeat(data), [0, *ends], ends))
    raise DamagedEntry(f"no column kind {kind!r}")

