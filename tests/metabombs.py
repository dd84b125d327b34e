"""Hostile tar streams whose *metadata* is the weapon, made by hand block by block: pax and GNU
long-name records too big or too slow to parse, chains of extension headers, lying number fields,
folder chains deeper than any walk should recurse, and many small module bombs. Shared by
tests/core/test_archive_bounds.py (the reported shapes) and tests/archivefuzz.py (random ones, for
bench/fuzz.py --archives)."""

from __future__ import annotations

import random
import tarfile
from collections.abc import Iterable, Iterator

MiB = 1 << 20
END = b"\0" * 1024


def header(name: str, size: int, kind: bytes = tarfile.REGTYPE) -> bytes:
    """One 512-byte GNU tar header of any type (an 'L' or 'x' record's header is just this)."""
    info = tarfile.TarInfo(name)
    info.size, info.type = size, kind
    return info.tobuf(format=tarfile.GNU_FORMAT)


def padded(data: bytes) -> bytes:
    return data + b"\0" * (-len(data) % 512)


def file_member(name: str, body: bytes) -> bytes:
    return header(name, len(body)) + padded(body)


def zstd_stream(parts: Iterable[bytes]) -> bytes:
    """The parts compressed as one zstd stream, without holding them all (a bomb never is whole)."""
    import zstandard

    c = zstandard.ZstdCompressor(level=3).compressobj()
    return b"".join(c.compress(part) for part in parts) + c.flush()


def repeated(unit: bytes, size: int) -> Iterator[bytes]:
    """`size` bytes of `unit` repeated, in 1 MiB pieces, then padding to a tar block."""
    chunk = unit * (MiB // len(unit))
    left = size
    while left:
        piece = chunk[:min(left, len(chunk))]
        left -= len(piece)
        yield piece
    yield b"\0" * (-size % 512)


def pax_of_digits(count: int) -> Iterator[bytes]:
    """CVE-2024-6232's shape: a pax header that is only digits; tarfile before 3.11.10/3.12.6
    searches it with a backtracking regular expression, in time quadratic in its length."""
    yield header("././@PaxHeader", count, tarfile.XHDTYPE)
    yield from repeated(b"1", count)
    yield file_member("./usr/share/doc/x", b"x")
    yield END


def gnu_long_record(size: int, flag: bytes = tarfile.GNUTYPE_LONGNAME) -> Iterator[bytes]:
    """A GNU long-name ('L') or long-link ('K') record claiming `size` bytes, all there:
    tarfile reads it whole into memory."""
    yield header("././@LongLink", size, flag)
    yield from repeated(b"a", size)
    yield file_member("./usr/share/doc/x", b"x")
    yield END


def pax_of_distinct_keys(size: int) -> Iterator[bytes]:
    """A pax header of `size` bytes of distinct keys: tarfile keeps every one in a dict."""
    records = bytearray()
    i = 0
    while len(records) < size:
        records += b"14 k%08d=v\n" % i  # every record here is 14 bytes long, its length included
        i += 1
    yield header("././@PaxHeader", len(records), tarfile.XHDTYPE)
    yield padded(bytes(records))
    yield file_member("./usr/share/doc/x", b"x")
    yield END


def deep_chain(levels: int, escape_levels: int) -> Iterator[bytes]:
    """At the bottom of a folder chain `levels` deep, a link x that climbs back to usr/src and then
    goes d1/.../dN/s/../(N+3 times)/etc: inside while s is missing. Then s -> / (re-rooted to the
    cache's root), so x now climbs from there to the host's /etc. Only the end-of-unpack link check
    can see that, and it has to walk the whole chain to find x."""
    folders = "/".join(f"d{i}" for i in range(1, escape_levels + 1))
    link = tarfile.TarInfo("./usr/src/deep/" + "d/" * levels + "x")
    link.type = tarfile.SYMTYPE
    link.linkname = "../" * (levels + 3) + f"usr/src/{folders}/s/" + "../" * (escape_levels + 3) + "etc"
    yield link.tobuf(format=tarfile.GNU_FORMAT)
    s = tarfile.TarInfo(f"./usr/src/{folders}/s")
    s.type, s.linkname = tarfile.SYMTYPE, "/"
    yield s.tobuf(format=tarfile.GNU_FORMAT)
    yield END


def xz_module(module: bytes, size: int) -> bytes:
    """A .ko.xz: a real module followed by zeros up to `size` bytes (~40 KB for 250 MiB)."""
    import lzma

    c = lzma.LZMACompressor(preset=0)
    return c.compress(module) + b"".join(c.compress(piece) for piece in repeated(b"\0", size - len(module))) + c.flush()


def module_bombs(blob: bytes, count: int) -> Iterator[bytes]:
    """`count` copies of one .ko.xz under lib/modules: each under the per-module cap."""
    for i in range(count):
        yield file_member(f"./lib/modules/6.1.0-bomb/kernel/m{i}.ko.xz", blob)
    yield END


# ---- random shapes for the fuzzer ------------------------------------------------------------

def _set_checksum(block: bytearray) -> bytes:
    block[148:156] = b" " * 8
    block[148:156] = b"%06o\0 " % sum(block)
    return bytes(block)


def lying_numbers(rng: random.Random) -> Iterator[bytes]:
    """A member whose size or checksum field lies: base-256 sizes (huge or negative), octal with
    junk, a bad checksum, a pax size that is not a number or is enormous, a NUL in a pax path, a
    name past PATH_MAX, a sparse member."""
    trick = rng.randrange(8)
    if trick < 3:
        block = bytearray(header("./usr/share/doc/lie", 0))
        block[124:136] = [b"\x80" + b"\xff" * 11, b"\xff" * 12, b"0000001X777\0"][trick]
        yield _set_checksum(block)
        yield b"y" * 4096
    elif trick == 3:
        block = bytearray(header("./usr/share/doc/lie", 1))
        block[148:156] = b"0000000\0"
        yield bytes(block) + padded(b"z")
    elif trick in (4, 5, 6):
        value = [b"size=-1", b"size=99999999999999999999999999", b"path=a\0b"][trick - 4]
        record = b"%d %s\n" % (len(value) + 4 if len(value) + 4 < 100 else len(value) + 5, value)
        yield header("././@PaxHeader", len(record), tarfile.XHDTYPE) + padded(record)
        yield file_member("./usr/share/doc/x", b"x")
    else:
        long_name = b"n/" * 2100 + b"f"  # 4201 bytes
        yield header("././@LongLink", len(long_name) + 1, tarfile.GNUTYPE_LONGNAME) + padded(long_name + b"\0")
        yield file_member("./usr/share/doc/x", b"x")
    yield END


def extension_chain(rng: random.Random) -> Iterator[bytes]:
    """1-20 extension headers (pax, global pax, GNU long name and link) before one member."""
    for _ in range(rng.randrange(1, 21)):
        flag = rng.choice([tarfile.XHDTYPE, tarfile.XGLTYPE, tarfile.GNUTYPE_LONGNAME, tarfile.GNUTYPE_LONGLINK])
        if flag in (tarfile.XHDTYPE, tarfile.XGLTYPE):
            data = b"30 path=./usr/share/doc/chain\n"
        else:
            data = b"./usr/share/doc/chain\0"
        yield header("././@Ext", len(data), flag) + padded(data)
    yield file_member("./usr/share/doc/plain", b"x")
    yield END


def many_pax_records(rng: random.Random) -> Iterator[bytes]:
    """A pax header of many tiny records, under the size bound but over the record-count one."""
    count = rng.choice([50, 200, 5000])
    records = b"".join(b"10 k%04d=\n" % i for i in range(count))
    yield header("././@PaxHeader", len(records), tarfile.XHDTYPE) + padded(records)
    yield file_member("./usr/share/doc/x", b"x")
    yield END


_CACHE: dict[tuple[str, int], bytes] = {}


def _cached(key: tuple[str, int], make: Iterator[bytes]) -> bytes:
    if key not in _CACHE:
        _CACHE[key] = zstd_stream(make)
    return _CACHE[key]


def metadata_bomb(rng: random.Random, module: bytes | None) -> tuple[str, bytes]:
    """(shape, a zstd data.tar) of one random metadata shape; the big ones are made once per size."""
    shapes = ["pax-digits", "pax-keys", "long-name", "long-link", "chain", "deep", "numbers", "records"]
    if module is not None:
        shapes.append("modules")
    shape = rng.choice(shapes)
    if shape == "pax-digits":
        count = rng.choice([10, 1000, 60_000, 100_000, 4_000_000])
        return shape, _cached((shape, count), pax_of_digits(count))
    if shape == "pax-keys":
        size = rng.choice([1024, 60_000, MiB, 64 * MiB])
        return shape, _cached((shape, size), pax_of_distinct_keys(size))
    if shape in ("long-name", "long-link"):
        size = rng.choice([100, 5000, 70_000, 600 * MiB])
        flag = tarfile.GNUTYPE_LONGNAME if shape == "long-name" else tarfile.GNUTYPE_LONGLINK
        return shape, _cached((shape, size), gnu_long_record(size, flag))
    if shape == "deep":
        levels = rng.choice([100, 255, 257, 1200, 1300])
        return shape, _cached((shape, levels), deep_chain(levels, rng.choice([3, 20])))
    if shape == "modules":
        assert module is not None
        size = rng.choice([1, 8, 64]) * MiB
        count = rng.choice([1, 10, 40])
        if ("module", size) not in _CACHE:
            _CACHE["module", size] = xz_module(module, size)
        blob = _CACHE["module", size]
        return shape, _cached((f"modules-{count}", size), module_bombs(blob, count))
    make = {"chain": extension_chain, "numbers": lying_numbers, "records": many_pax_records}[shape]
    return shape, zstd_stream(make(rng))
