"""Read many modules for the resolver with the C reader (kscan_module.c, kscan_walk.c) on all cores.

The C files are built at install time as an optional extension (no Python header needed, so any C
compiler will do) and loaded with ctypes, which releases the GIL during each call: threads then
scan in parallel with no process pool to start and nothing to pickle. When it was not built, or
on any file it does not take (compressed, malformed), the pure-Python reader in module.py is used,
and that one words the errors. Set KMODTUI_PURE_PYTHON=1 to use only the Python reader.
"""

from __future__ import annotations

import ctypes
import os
import struct
import threading
from array import array
from collections.abc import Callable
from importlib.machinery import EXTENSION_SUFFIXES
from itertools import accumulate

from kmodtui.core.compression import read_maybe_compressed
from kmodtui.core.elf.elffile import MACHINES
from kmodtui.core.elf.module import (
    ModuleSymbols,
    _name_from_path,
    exports_of,
    read_module_symbols,
)
from kmodtui.core.errors import KmodError

KS_FALLBACK = -1
KS_TOO_SMALL = -2
CHUNKS = 12
# the chunks of a module's output, in kscan.h's order (CH_*)
(_NAME, _VERMAGIC, _LICENSE, _IMPORT_NS, _NEED_NAMES, _NEED_CRCS, _CRC_NAMES, _CRC_VALUES, _NS_NAMES, _NS_VALUES,
 _KSYMTAB_NAMES, _KSYMTAB_GPL) = range(CHUNKS)
# e_machine, elf_class, has_versions, then (count, nbytes) per chunk; see kscan.c
_HEADER = struct.Struct("=3I" + "2I" * CHUNKS)
_BUFFER_SIZE = 1 << 20

ScanResult = ModuleSymbols | KmodError

ABI = 1  # kscan.h's KMODTUI_KSCAN_ABI: the argument and output layout this file was written for

_library: ctypes.CDLL | None | bool = False  # False: not looked for yet
_why_not = ""


def library_path() -> str:
    """The one file this interpreter's build of the scanner can be: `_kscan` with the suffix this
    Python builds extensions with (a copy built for another Python, or left by an older install
    under another name, is never loaded)."""
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), "_kscan" + EXTENSION_SUFFIXES[0])


def library() -> ctypes.CDLL | None:
    """The built scanner, or None (not built here, built for another layout, or switched off)."""
    global _library, _why_not
    if _library is False:
        _library = None
        if os.environ.get("KMODTUI_PURE_PYTHON") == "1":
            _why_not = "KMODTUI_PURE_PYTHON=1"
        else:
            lib = _load(library_path())
            if lib is not None:
                _declare(lib)
                _library = lib
    return _library if isinstance(_library, ctypes.CDLL) else None


def why_not() -> str:
    """Why the C scanner is not used (empty when it is, or was not looked for yet)."""
    return _why_not


def _load(candidate: str) -> ctypes.CDLL | None:
    global _why_not
    if not os.path.isfile(candidate):
        _why_not = f"{os.path.basename(candidate)} was not built (no C compiler at install time)"
        return None
    try:
        lib = ctypes.CDLL(candidate)
        abi = ctypes.CFUNCTYPE(ctypes.c_uint)(("kmodtui_kscan_abi", lib))()
    except (OSError, AttributeError):
        _why_not = f"{os.path.basename(candidate)} cannot be loaded or predates the ABI check: reinstall kmodtui"
        return None
    if abi != ABI:
        _why_not = f"{os.path.basename(candidate)} speaks ABI {abi}, this kmodtui {ABI}: reinstall kmodtui"
        return None
    return lib


def _declare(lib: ctypes.CDLL) -> None:
    lib.kmodtui_scan_files.restype = ctypes.c_size_t
    lib.kmodtui_scan_files.argtypes = [ctypes.POINTER(ctypes.c_char_p), ctypes.c_size_t,
                                       ctypes.c_void_p, ctypes.c_size_t,
                                       ctypes.POINTER(ctypes.c_int64), ctypes.POINTER(ctypes.c_size_t)]
    lib.kmodtui_collect.restype = ctypes.c_long
    lib.kmodtui_collect.argtypes = [ctypes.c_char_p, ctypes.c_void_p, ctypes.c_size_t,
                                    ctypes.POINTER(ctypes.c_size_t)]
    lib.kmodtui_parse_symvers.restype = ctypes.c_long
    lib.kmodtui_parse_symvers.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_void_p,
                                          ctypes.c_size_t, ctypes.POINTER(ctypes.c_size_t)]
    lib.kmodtui_doubtful_needs.restype = ctypes.c_long
    lib.kmodtui_doubtful_needs.argtypes = [
        ctypes.c_char_p, ctypes.c_size_t, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_size_t,
        ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p,
        ctypes.c_size_t, ctypes.c_void_p, ctypes.c_size_t, ctypes.POINTER(ctypes.c_size_t)]
    lib.kmodtui_scan_buffer.restype = ctypes.c_long
    lib.kmodtui_scan_buffer.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_void_p,
                                        ctypes.c_size_t, ctypes.POINTER(ctypes.c_size_t)]


def available() -> bool:
    return library() is not None


def _names(blob: bytes, at: int, count: int, size: int, encoding: str = "latin-1") -> list[str]:
    return blob[at : at + size].decode(encoding, "replace").split("\0") if count else []


def _text(blob: bytes, at: int, size: int) -> str:
    return blob[at : at + size].decode("utf-8", "replace")


def decode(path: str, blob: bytes, start: int = 0, with_needs: bool = True) -> ModuleSymbols:
    """Turn kscan.c's output for one file (at `start` in `blob`) into the ModuleSymbols the
    Python reader makes; without its needs (an empty tuple) when `with_needs` is false: the
    resolver can ask kscan.c for only the ones worth a look (doubtful_needs). A module usually
    exports nothing: only the chunks with something in them are read."""
    header = _HEADER.unpack_from(blob, start)
    e_machine, has_versions = header[0], header[2]
    counts = header[3::2]
    sizes = header[4::2]
    at = list(accumulate(sizes, initial=start + _HEADER.size))
    needs: tuple = ()
    if counts[_NEED_NAMES] and with_needs:
        needs = tuple(zip(_names(blob, at[_NEED_NAMES], counts[_NEED_NAMES], sizes[_NEED_NAMES]),
                          array("I", blob[at[_NEED_CRCS] : at[_NEED_CRCS] + sizes[_NEED_CRCS]])))
    exports: tuple = ()
    if counts[_CRC_NAMES] or counts[_KSYMTAB_NAMES]:
        gpl = blob[at[_KSYMTAB_GPL] : at[_KSYMTAB_GPL] + sizes[_KSYMTAB_GPL]]
        exports = tuple(exports_of(
            dict(zip(_names(blob, at[_KSYMTAB_NAMES], counts[_KSYMTAB_NAMES], sizes[_KSYMTAB_NAMES]),
                     (flag == 1 for flag in gpl))),
            dict(zip(_names(blob, at[_CRC_NAMES], counts[_CRC_NAMES], sizes[_CRC_NAMES]),
                     array("I", blob[at[_CRC_VALUES] : at[_CRC_VALUES] + sizes[_CRC_VALUES]]))),
            dict(zip(_names(blob, at[_NS_NAMES], counts[_NS_NAMES], sizes[_NS_NAMES]),
                     _names(blob, at[_NS_VALUES], counts[_NS_VALUES], sizes[_NS_VALUES], "utf-8"))),
        ))
    return ModuleSymbols(
        path, _text(blob, at[_NAME], sizes[_NAME]) or _name_from_path(path),
        _text(blob, at[_VERMAGIC], sizes[_VERMAGIC]).strip(), _text(blob, at[_LICENSE], sizes[_LICENSE]),
        tuple(_names(blob, at[_IMPORT_NS], counts[_IMPORT_NS], sizes[_IMPORT_NS], "utf-8")),
        MACHINES.get(e_machine, f"e_machine {e_machine}"), bool(has_versions), needs, exports,
    )


_BATCH = 128  # files per C call: ~5 ms with the GIL released


def _scan_batch(lib: ctypes.CDLL, paths: list[str]) -> list[tuple[bytes, int, int] | None]:
    """(blob, start, end) of each file's output, or None where the Python reader must do it."""
    out: list[tuple[bytes, int, int] | None] = []
    size = _BUFFER_SIZE
    needed = ctypes.c_size_t(0)
    while len(out) < len(paths):
        rest = paths[len(out):]
        encoded = (ctypes.c_char_p * len(rest))(*[os.fsencode(p) for p in rest])
        buffer = ctypes.create_string_buffer(size)
        ends = (ctypes.c_int64 * len(rest))()
        done = lib.kmodtui_scan_files(encoded, len(rest), buffer, size, ends, ctypes.byref(needed))
        last = max([e for e in ends[:done] if e >= 0], default=0)
        blob = ctypes.string_at(buffer, last)
        start = 0
        for path, end in zip(rest, ends[:done]):
            if end < 0:
                out.append(_scan_compressed(path))
            else:
                out.append((blob, start, end))
                start = end
        if done == 0:
            size = max(size * 2, needed.value)
    return out


def _scan_compressed(path: str) -> tuple[bytes, int, int] | None:
    """A .ko.xz/.gz/.zst decompressed here, in the scan thread (the decompressors release the GIL),
    then read in C; None for anything else, which the Python reader then explains."""
    try:
        data, compression = read_maybe_compressed(path)
    except KmodError:
        return None
    if compression == "none":
        return None
    blob = _scan_buffer(data)
    return None if blob is None else (blob, 0, len(blob))


def into_buffer(call: Callable[[ctypes.Array, int, ctypes.c_size_t], int], size: int) -> bytes | None:
    """Run a kscan.c function that writes into a buffer, again with a bigger one when it says
    KS_TOO_SMALL; its output, or None when it declined."""
    needed = ctypes.c_size_t(0)
    while True:
        buffer = _scratch(size)
        n = call(buffer, size, needed)
        if n != KS_TOO_SMALL:
            return None if n < 0 else ctypes.string_at(buffer, n)
        size = needed.value


def _scratch(size: int) -> ctypes.Array:
    """A buffer for kscan.c to write into. A big one is an anonymous mapping: its pages are given
    only as they are written (ctypes' own buffers are zeroed whole first, a page fault per 4 KiB,
    which here costs more than what kscan.c writes into them)."""
    if size < 1 << 20:
        return ctypes.create_string_buffer(size)
    import mmap

    return (ctypes.c_char * size).from_buffer(mmap.mmap(-1, size))


def _scan_buffer(data: bytes) -> bytes | None:
    lib = library()
    if lib is None:
        return None
    return into_buffer(lambda buf, size, needed: lib.kmodtui_scan_buffer(data, len(data), buf, size,
                                                                        ctypes.byref(needed)), _BUFFER_SIZE)


def scan_files(paths: list[str], jobs: int, outputs: dict[str, RawOutput] | None = None,
               meanwhile: Callable[[], object] | None = None,
               raw: dict[str, RawOutput] | None = None) -> list[ScanResult]:
    """Every path's ModuleSymbols or error, in order. With the C scanner, `jobs` threads scan
    batches (the GIL released) while this thread turns finished batches into ModuleSymbols.
    `outputs` receives where the C scanner's output for each path is: what the module cache keeps.
    `meanwhile` is run by this thread once the scan threads are started (other work to overlap).
    With `raw`, modules the C scanner read come without their needs, and `raw` receives where
    their output is (for doubtful_needs)."""
    lib = library()
    results: list[ScanResult] = []
    if lib is None:
        if meanwhile is not None:
            meanwhile()
        for path in paths:
            try:
                results.append(read_module_symbols(path))
            except KmodError as err:
                results.append(err)
        return results
    batches = [paths[i : i + _BATCH] for i in range(0, len(paths), _BATCH)]
    scanned: list[list[tuple[bytes, int, int] | None] | None] = [None] * len(batches)
    ready = [threading.Event() for _ in batches]
    claim = iter(range(len(batches)))  # next() on it is atomic under the GIL
    lock = threading.Lock()

    def work() -> None:
        while True:
            with lock:
                index = next(claim, None)
            if index is None:
                return
            try:
                scanned[index] = _scan_batch(lib, batches[index])
            finally:
                ready[index].set()

    workers = [threading.Thread(target=work, daemon=True) for _ in range(max(1, min(jobs, len(batches))))]
    for worker in workers:
        worker.start()
    if meanwhile is not None:
        meanwhile()
    for index, batch in enumerate(batches):
        ready[index].wait()
        for path, item in zip(batch, scanned[index] or [None] * len(batch)):
            try:
                if item is None:
                    results.append(read_module_symbols(path))
                else:
                    blob, start, end = item
                    results.append(decode(path, blob, start, with_needs=raw is None))
                    if raw is not None:
                        raw[path] = item
                    if outputs is not None:
                        outputs[path] = item
            except KmodError as err:
                results.append(err)
        scanned[index] = None
    return results


# A module's scan output: (blob, start, end), the part of `blob` kscan.c wrote for it.
RawOutput = tuple[bytes, int, int]


def doubtful_needs(fine: tuple[list[str], list[int], bytes], outputs: list[RawOutput], gpl: bytes,
                   ) -> tuple[int, dict[int, list[tuple[str, int]]]] | None:
    """kscan_needs.c's sieve: of the needs in each module's output, those whose (name, CRC) pair
    is not fine for it (fine: names, CRCs and flags, 1 = fine for any module, 2 = for GPL-compatible
    ones, bit 0 and 1 as checks.resolve_modules sets them; gpl: a byte per output). Returns the
    number of needs seen and, by output index, the doubtful (name, CRC) pairs in the module's order;
    None when there is no C reader or it declines an output (then decide every need in Python)."""
    lib = library()
    if lib is None:
        return None
    names, crcs, flags = fine
    encoded_names = "\0".join(names).encode("latin-1", "replace")
    blob_index: dict[int, int] = {}
    blobs: list[bytes] = []
    blob_of = array("I")
    starts, ends = array("Q"), array("Q")
    for blob, start, end in outputs:
        index = blob_index.get(id(blob))
        if index is None:
            index = blob_index[id(blob)] = len(blobs)
            blobs.append(blob)
        blob_of.append(index)
        starts.append(start)
        ends.append(end)
    blob_array = (ctypes.c_char_p * max(1, len(blobs)))(*blobs)
    bound = 16 + sum(end - start + 8 for _, start, end in outputs)  # at most every need, and no retry
    out = into_buffer(lambda buf, size, needed: lib.kmodtui_doubtful_needs(
        encoded_names, len(encoded_names), array("I", crcs).tobytes(), flags, len(names), blob_array,
        blob_of.tobytes(), starts.tobytes(), ends.tobytes(), gpl, len(outputs), buf, size, ctypes.byref(needed)),
        bound)
    if out is None:
        return None
    total, records, count = struct.unpack_from("=QII", out, 0)
    pos = 16
    which = array("I", out[pos : pos + 4 * records])
    pos += 4 * records
    counts = array("I", out[pos : pos + 4 * records])
    pos += 4 * records
    pairs = list(zip(out[pos + 4 * count :].decode("latin-1").split("\0") if count else [],
                     array("I", out[pos : pos + 4 * count])))
    doubtful: dict[int, list[tuple[str, int]]] = {}
    at = 0
    for module, n in zip(which, counts):
        doubtful[module] = pairs[at : at + n]
        at += n
    return total, doubtful


def scan_bytes(path: str, data: bytes) -> ModuleSymbols | None:
    """One module already in memory through the C scanner; None when it declines the input
    (no scanner, or anything the Python reader should explain)."""
    blob = _scan_buffer(data)
    return None if blob is None else decode(path, blob)


def collect(directory: str) -> tuple[list[str], list[tuple[int, int, int, int]], list[KmodError], bytes] | None:
    """The module files under `directory` as modset.collect_module_files finds them (sorted
    bytewise), their identities, the directories that could not be read, and the raw listing (a
    cheap fingerprint for the result cache); None when the C scanner is not there."""
    lib = library()
    if lib is None:
        return None
    encoded = os.fsencode(directory)
    blob = into_buffer(lambda buf, size, needed: lib.kmodtui_collect(encoded, buf, size, ctypes.byref(needed)),
                        4 << 20)
    if blob is None:
        return None
    nfiles, nerrors = struct.unpack_from("=II", blob, 0)
    pos = 8
    ids = array("q", blob[pos : pos + 32 * nfiles]).tolist()
    pos += 32 * nfiles
    errnos = array("i", blob[pos : pos + 4 * nerrors]).tolist()
    pos += 4 * nerrors
    names = os.fsdecode(blob[pos:]).split("\0")
    it = iter(ids)
    identities = list(zip(it, it, it, it))
    errors = [KmodError(path, os.strerror(code)) for path, code in zip(names[nfiles:], errnos)]
    return names[:nfiles], identities, errors, blob
