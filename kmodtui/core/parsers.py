"""Every parser of untrusted input, by name, for fuzzing: each takes bytes and a path and either
returns or raises KmodError. Anything else escaping is a bug (tests/core/test_fuzz.py, bench/fuzz.py)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable

from kmodtui.core.compression import decompress_bytes
from kmodtui.core.errors import KmodError


def _module(data: bytes, path: str) -> object:
    from kmodtui.core.elf.module import parse_module

    content, kind = decompress_bytes(data, path, 64 * 1024 * 1024)
    return parse_module(content, path, kind)


def _module_symbols(data: bytes, path: str) -> object:
    from kmodtui.core.elf.module import read_module_symbols

    return _via_file(data, path, read_module_symbols)


def _module_symbols_c(data: bytes, path: str) -> object:
    """The C scanner (kscan.c) on the same bytes; where it declines, the Python reader."""
    from kmodtui.core.elf.kscan import scan_bytes

    return scan_bytes(path, data) or _module_symbols(data, path)


def _symvers(data: bytes, path: str) -> object:
    from kmodtui.core.symvers.parse import read_symvers

    return _via_file(data, path, read_symvers)


def _dkms_conf(data: bytes, path: str) -> object:
    from kmodtui.core.build.dkmsconf import parse_dkms_conf

    return _via_file(data, path, parse_dkms_conf)


def _spec(data: bytes, path: str) -> object:
    from kmodtui.core.packages.specfile import read_spec

    return _via_file(data, path, read_spec)


def _package(data: bytes, path: str) -> object:
    from kmodtui.core.packages.read import read_package

    return _via_file(data, path, read_package)


def _log_lines(data: bytes, path: str) -> object:
    from kmodtui.core.build.logscan import scan_text
    from kmodtui.core.build.runner import LineAssembler

    lines = LineAssembler().feed(data) + LineAssembler().close()
    return scan_text("\n".join(lines))


def _installed(data: bytes, path: str) -> object:
    from kmodtui.core.packages.packageset import read_installed

    return _via_file(data, path, read_installed)


def _json(data: bytes, path: str) -> object:
    """JSON kmodtui reads back: build status records."""
    from kmodtui.core.build.record import read_status

    with tempfile.TemporaryDirectory() as tmp:
        with open(os.path.join(tmp, "status.json"), "wb") as f:
            f.write(data)
        status = read_status(tmp)
    if status is not None and not isinstance(status, dict):
        raise KmodError(path, "status is not an object")
    return status


def _cached(read: Callable[[bytes], object]) -> Callable[[bytes, str], object]:
    """A cache entry's reader (its content, the seal already checked): data only (columns.py), so
    at worst a damaged entry, which kmodtui takes as a miss."""

    def parse(data: bytes, path: str) -> object:
        from kmodtui.core.columns import DamagedEntry

        try:
            return read(data)
        except (DamagedEntry, IndexError) as err:  # IndexError: an index past its table
            raise KmodError(path, f"not a cache entry of this kmodtui ({err}): a miss") from None

    return parse


def _cached_modules(data: bytes) -> object:
    """As modset.load_modules reads them: a module whose stored output does not decode is read
    again from its file (a miss for that one)."""
    from kmodtui.core.elf.kscan import decode
    from kmodtui.core.elf.module import unpack_module_symbols
    from kmodtui.core.resolve.modset import cache_entries

    modules = []
    for path, (_, kind, (blob, start, end)) in cache_entries(data).items():
        try:
            modules.append(decode(path, blob, start) if kind == 0 else unpack_module_symbols(memoryview(blob)[start:end]))
        except Exception:  # noqa: BLE001 (load_modules' rule: a damaged entry is only a slower run)
            pass
    return modules


def _cached_summary(data: bytes) -> object:
    from kmodtui.core import columns
    from kmodtui.core.resolve.cache import SUMMARY_KINDS, summary_of

    return summary_of(columns.unpack(data, SUMMARY_KINDS))


def _cached_rows(data: bytes) -> object:
    from kmodtui.core import columns
    from kmodtui.core.resolve.cache import ROWS_KINDS, rows_of

    return rows_of(columns.unpack(data, ROWS_KINDS))


def _via_file(data: bytes, path: str, parse: Callable[[str], object]) -> object:
    suffix = os.path.splitext(path)[1]
    with tempfile.NamedTemporaryFile(suffix=suffix) as f:
        f.write(data)
        f.flush()
        try:
            return parse(f.name)
        except KmodError as err:
            raise KmodError(path, err.reason, line=err.line, offset=err.offset) from None


def _meta(data: bytes, path: str) -> object:
    """An autotools tree's META (OpenZFS, Lustre-style trees)."""
    from kmodtui.core.build.sources import read_meta

    return _via_file(data, path, read_meta)


def _diagnose(data: bytes, path: str) -> object:
    """`kmodtui diagnose` on a log file, as given (compressed ones decompressed, capped)."""
    from kmodtui.core.diagnose.engine import diagnose_sources
    from kmodtui.core.diagnose.logread import read_logs

    # the lines are streamed from the file: diagnosed while it is still there
    return _via_file(data, path, lambda p: diagnose_sources(read_logs([p])))


def _decompressed(data: bytes, path: str) -> object:
    """gzip, xz and zstd streams through the one capped decompressor (a module's limit)."""
    from kmodtui.core.compression import decompress_bytes

    return decompress_bytes(data, path, 64 * 1024 * 1024)[1]


def _tar(data: bytes, path: str) -> object:
    """A tar stream (ustar, GNU long names and links, pax headers) read member by member, as a
    .deb's data.tar and a source tarball are."""
    import io

    from kmodtui.core.packages.tarstream import tar_members

    total = 0
    for _member, reader in tar_members(io.BytesIO(data), path):
        total += len(reader.read())
    return total


def _cpio(data: bytes, path: str) -> object:
    """An RPM payload (newc cpio) read member by member."""
    import io

    from kmodtui.core.packages.streams import cpio_members

    total = 0
    for _member, reader in cpio_members(io.BytesIO(data), path):
        total += len(reader.read())
    return total


def _ar(data: bytes, path: str) -> object:
    """A .deb's ar container: its members' names and places, bounds-checked."""
    import io

    from kmodtui.core.packages.streams import ar_members

    return list(ar_members(io.BytesIO(data), path))


PARSERS: dict[str, Callable[[bytes, str], object]] = {
    "ko": _module,
    "ko-resolver": _module_symbols,
    "ko-resolver-c": _module_symbols_c,
    "symvers": _symvers,
    "dkms.conf": _dkms_conf,
    "spec": _spec,
    "rpm": _package,
    "deb": _package,
    "log": _log_lines,
    "diagnose": _diagnose,
    "meta": _meta,
    "gzip": _decompressed,
    "xz": _decompressed,
    "zstd": _decompressed,
    "tar": _tar,
    "cpio": _cpio,
    "ar": _ar,
    "dpkg-status": _installed,
    "json": _json,
    "cache-modules": _cached(_cached_modules),
    "cache-summary": _cached(_cached_summary),
    "cache-rows": _cached(_cached_rows),
}
