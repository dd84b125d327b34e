"""Rewrite a .deb's control fields, keeping data.tar.* byte for byte.

python-debian reads .debs but cannot write them, and `dpkg-deb -R`/`-b` would repack the data
with new timestamps and compression; so the ar container is handled here (its format is 60-byte
member headers after `!<arch>\\n`), and only control.tar.* is replaced.
"""

from __future__ import annotations

import io
import lzma
import tarfile
import zlib

from kmodtui.core.compression import read_capped
from kmodtui.core.errors import KmodError
from kmodtui.core.packages.tarstream import DIR, HARDLINK, OTHER, SYMLINK, tar_members

AR_MAGIC = b"!<arch>\n"


def read_ar(data: bytes, path: str) -> list[tuple[str, bytes]]:
    if not data.startswith(AR_MAGIC):
        raise KmodError(path, "not a .deb (no ar archive magic)")
    members = []
    offset = len(AR_MAGIC)
    while offset < len(data):
        header = data[offset : offset + 60]
        if len(header) < 60 or header[58:60] != b"`\n":
            raise KmodError(path, "corrupt ar member header", offset=offset)
        name = header[:16].decode("ascii", "replace").strip().rstrip("/")
        try:
            size = int(header[48:58].decode("ascii").strip())
        except ValueError:
            raise KmodError(path, "corrupt ar member size", offset=offset) from None
        start = offset + 60
        if start + size > len(data):
            raise KmodError(path, f"ar member {name} is truncated", offset=offset)
        members.append((name, data[start : start + size]))
        offset = start + size + (size & 1)
    return members


def write_ar(members: list[tuple[str, bytes]]) -> bytes:
    out = bytearray(AR_MAGIC)
    for name, content in members:
        header = f"{name:<16}{0:<12}{0:<6}{0:<6}{100644:<8}{len(content):<10}`\n".encode("ascii")
        assert len(header) == 60
        out += header + content
        if len(content) & 1:
            out += b"\n"
    return bytes(out)


_KINDS = {".xz": ("xz", "xz"), ".gz": ("gzip", "gz"), ".zst": ("zstd", "zst")}
MAX_CONTROL = 64 * 1024 * 1024


def _decompress(name: str, blob: bytes) -> tuple[bytes, str]:
    """control.tar.* decompressed by the one capped decompressor (a .deb is input like any other)."""
    for suffix, (kind, short) in _KINDS.items():
        if name.endswith(suffix):
            data, _ = read_capped(io.BytesIO(blob), name, MAX_CONTROL, kind)
            return data, short
    return blob, ""


def _compress(kind: str, raw: bytes) -> bytes:
    if kind == "xz":
        return lzma.compress(raw)
    if kind == "gz":
        compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
        return compressor.compress(raw) + compressor.flush()
    if kind == "zst":
        import zstandard

        return zstandard.ZstdCompressor().compress(raw)
    return raw


def read_control(deb: bytes, path: str) -> str:
    for name, blob in read_ar(deb, path):
        if name.startswith("control.tar"):
            raw, _ = _decompress(name, blob)
            for member, body in tar_members(io.BytesIO(raw), path, "control.tar"):
                if member.name.lstrip("./") == "control" and member.isreg():
                    return body.read().decode("utf-8", "replace")
    raise KmodError(path, "no control file in control.tar")


def set_control_field(control: str, field: str, value: str | None) -> str:
    """Replace (or add, or with None remove) one field of a control paragraph."""
    lines = control.rstrip("\n").split("\n")
    out, replaced, skipping = [], False, False
    for line in lines:
        if skipping and line.startswith((" ", "\t")):
            continue
        skipping = False
        if line.split(":", 1)[0].strip().lower() == field.lower():
            skipping = True
            replaced = True
            if value is not None:
                out.append(f"{field}: {value}")
            continue
        out.append(line)
    if not replaced and value is not None:
        out.insert(max(1, len(out) - 1), f"{field}: {value}")
    return "\n".join(out) + "\n"


def rewrite_control(deb: bytes, path: str, new_control: str) -> bytes:
    """The same .deb with control replaced; every other member (data.tar.*) is kept byte for byte."""
    members = read_ar(deb, path)
    out = []
    for name, blob in members:
        if name.startswith("control.tar"):
            raw, kind = _decompress(name, blob)
            buffer = io.BytesIO()
            # read by tarstream (header records bounded), written by tarfile as before (pax format)
            with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as dst:
                for member, body in tar_members(io.BytesIO(raw), path, "control.tar"):
                    if member.kind == OTHER:
                        continue  # a device or FIFO has no place in control.tar (dpkg refuses one)
                    info = tarfile.TarInfo(member.name)
                    info.mode, info.uid, info.gid = member.mode, member.uid, member.gid
                    info.uname, info.gname, info.mtime = member.uname, member.gname, member.mtime
                    info.type = _TAR_TYPES.get(member.kind, tarfile.REGTYPE)
                    info.linkname = member.linkname
                    data = body.read() if member.isreg() else b""
                    if member.isreg() and member.name.lstrip("./") == "control":
                        data = new_control.encode("utf-8")
                    info.size = len(data)
                    dst.addfile(info, io.BytesIO(data) if member.isreg() else None)
            blob = _compress(kind, buffer.getvalue())
        out.append((name, blob))
    return write_ar(out)


_TAR_TYPES = {DIR: tarfile.DIRTYPE, SYMLINK: tarfile.SYMTYPE, HARDLINK: tarfile.LNKTYPE}
