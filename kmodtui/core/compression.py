"""Read a possibly compressed file (.ko.gz/.ko.xz/.ko.zst, symvers.gz) with a size cap."""

from __future__ import annotations

import os
import zlib

from kmodtui.core.errors import KmodError

# The largest real module we know of (amdgpu.ko with debug info) is ~60 MiB uncompressed.
MAX_DECOMPRESSED = 512 * 1024 * 1024

MAGICS = (
    (b"\x1f\x8b", "gzip"),
    (b"\xfd7zXZ\x00", "xz"),
    (b"\x28\xb5\x2f\xfd", "zstd"),
)


def compression_of(head: bytes) -> str:
    for magic, name in MAGICS:
        if head.startswith(magic):
            return name
    return "none"


def read_maybe_compressed(path: str | os.PathLike[str], limit: int = MAX_DECOMPRESSED) -> tuple[bytes, str]:
    """Return (content, compression), judging by magic bytes rather than the file name."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as err:
        raise KmodError(path, err.strerror or str(err)) from None
    return decompress_bytes(raw, path, limit)


def decompress_bytes(raw: bytes, path: str | os.PathLike[str], limit: int = MAX_DECOMPRESSED) -> tuple[bytes, str]:
    """(content, compression) of bytes that may be gzip, xz or zstd; `path` names them in errors."""
    kind = compression_of(raw[:6])
    if kind == "none":
        return raw, kind
    import lzma  # imported here: most modules are not compressed, and start-up time matters

    import zstandard

    try:
        if kind == "gzip":
            d = zlib.decompressobj(wbits=31)
            out = d.decompress(raw, limit + 1)
            if not d.eof and len(out) <= limit:
                raise KmodError(path, "truncated gzip data")
        elif kind == "xz":
            d = lzma.LZMADecompressor()
            out = d.decompress(raw, max_length=limit + 1)
            if not d.eof and len(out) <= limit:
                raise KmodError(path, "truncated xz data")
        else:
            out = _zstd_capped(path, raw, limit)
    except (zlib.error, lzma.LZMAError, zstandard.ZstdError, EOFError) as err:
        raise KmodError(path, f"corrupt {kind} data: {err}") from None
    if len(out) > limit:
        raise KmodError(path, f"decompresses to more than {limit} bytes; refusing")
    return out, kind


def _zstd_capped(path: str | os.PathLike[str], raw: bytes, limit: int) -> bytes:
    import zstandard

    # zstandard's decompressobj has no output cap, so feed it small input chunks: one 1 KiB
    # chunk of RLE blocks expands to at most a few tens of MiB before we can check the size.
    d = zstandard.ZstdDecompressor().decompressobj()
    parts: list[bytes] = []
    total = 0
    for start in range(0, len(raw), 1024):
        chunk = d.decompress(raw[start : start + 1024])
        total += len(chunk)
        if total > limit:
            raise KmodError(path, f"decompresses to more than {limit} bytes; refusing")
        parts.append(chunk)
        if d.eof:
            break
    if not d.eof:
        raise KmodError(path, "truncated zstd data")
    return b"".join(parts)
