"""Turn TARGET/--with arguments into module files and parse them, in parallel and with a cache.

The cache is keyed on file identity (device, inode, size, mtime): a module rebuilt in place is
parsed again, an untouched one is not.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from typing import NamedTuple

from kmodtui.core import columns
from kmodtui.core.elf import kscan
from kmodtui.core.elf.module import (
    ModuleSymbols,
    is_module_path,
    pack_module_symbols,
    read_module_symbols,
    unpack_module_symbols,
)
from kmodtui.core.errors import KmodError
from kmodtui.core.paths import read_cache_file, write_cache_file
from kmodtui.core.records import record

# The module cache entry (columns.py): each module's path, its identity, and what was read from it:
# kscan.c's output (kind 0) or the Python reader's packed module (kind 1, pack_module_symbols).
_CACHE_KINDS = "sQqBb"
_KSCAN_OUTPUT, _PACKED = 0, 1
# Below this many modules a process pool costs more than it saves.
PARALLEL_THRESHOLD = 256

FileIdentity = tuple[int, int, int, int]  # st_dev, st_ino, st_size, st_mtime_ns


@record
class LoadedModules:
    modules: list[ModuleSymbols]
    errors: list[KmodError]
    identities: dict[str, FileIdentity]
    parsed: int  # how many were parsed now (the rest came from the cache)
    # with load_modules(raw=True): the modules given without their needs, and where the C reader's
    # output for each is (checks.resolve_modules sieves it with kscan.doubtful_needs)
    raw: dict[str, kscan.RawOutput] | None = None


class Collected(NamedTuple):
    files: list[str]
    identities: dict[str, FileIdentity]
    errors: list[KmodError]
    fingerprint: bytes  # every file and its identity, for cache keys


def collect_module_files(args: list[str]) -> Collected:
    """Files as given, directories walked for *.ko[.gz|.xz|.zst]; sorted within each directory."""
    files: list[str] = []
    identities: dict[str, FileIdentity] = {}
    errors: list[KmodError] = []
    fingerprint: list[bytes] = []
    for arg in args:
        if os.path.isdir(arg):
            walked = kscan.collect(arg)  # the same walk in C: twice as fast (the rest is system calls)
            if walked is not None:
                found, found_ids, found_errors, listing = walked
                files += found
                identities.update(zip(found, found_ids))
                errors += found_errors
                fingerprint.append(listing)
                continue
            found = []
            stack = [arg]
            while stack:
                top = stack.pop()
                try:
                    with os.scandir(top) as it:
                        for entry in it:
                            if entry.is_dir(follow_symlinks=False):
                                stack.append(entry.path)
                            elif is_module_path(entry.name) and entry.is_file():
                                st = entry.stat()
                                identities[entry.path] = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
                                found.append(entry.path)
                except OSError as err:
                    errors.append(KmodError(top, err.strerror or str(err)))
            found.sort()
            files += found
            fingerprint.append(repr([(f, identities[f]) for f in found]).encode("utf-8", "surrogateescape"))
        else:
            try:
                st = os.stat(arg)
            except OSError as err:
                errors.append(KmodError(arg, err.strerror or str(err)))
                continue
            identities[arg] = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
            files.append(arg)
            fingerprint.append(repr((arg, identities[arg])).encode("utf-8", "surrogateescape"))
    fingerprint.append(repr([str(e) for e in errors]).encode("utf-8", "surrogateescape"))
    return Collected(files, identities, errors, b"\0".join(fingerprint))


def _parse_chunk(paths: list[str], pack: bool = True) -> list[tuple | bytes | ModuleSymbols]:
    """Packed modules (bytes) cross the process boundary: pickling 190k small tuples is what costs.
    The main process's own share stays unpacked (ModuleSymbols)."""
    out: list[tuple | bytes | ModuleSymbols] = []
    for path in paths:
        try:
            module = read_module_symbols(path)
        except KmodError as err:
            out.append((path, err.reason, err.line, err.offset))
            continue
        try:
            out.append(pack_module_symbols(module) if pack else module)
        except ValueError:  # not packable (a NUL in a name): sent whole, and not cached
            out.append(module)
    return out


def _cache_file(cache_dir: str, files: list[str]) -> str:
    key = hashlib.sha1("\0".join(files).encode("utf-8", "surrogateescape")).hexdigest()[:20]
    return os.path.join(cache_dir, "modules", f"{key}.columns")


def _read_cache(path: str) -> dict[str, tuple[FileIdentity, int, kscan.RawOutput]]:
    """The module cache entry at `path`: {module path: (identity, kind, what was read)}; empty when
    it is missing, damaged or not ours (paths.read_cache_file), or not of this layout."""
    blob = read_cache_file(path)
    try:
        return cache_entries(blob) if blob is not None else {}
    except columns.DamagedEntry:
        return {}


def cache_entries(blob: bytes | memoryview) -> dict[str, tuple[FileIdentity, int, kscan.RawOutput]]:
    """A module cache entry's content as {module path: (identity, kind, what was read)}; raises
    columns.DamagedEntry when it is not one."""
    paths, identities, mtimes, kinds, stored = columns.unpack(blob, _CACHE_KINDS)
    n = len(paths)
    if not (len(identities) == 3 * n and len(mtimes) == len(kinds) == len(stored) == n):
        raise columns.DamagedEntry("module columns of different sizes")
    triples = zip(*[iter(identities)] * 3)  # st_dev, st_ino, st_size; then st_mtime_ns apart (signed)
    return {p: ((dev, ino, size, mtime), kind, blob)
            for p, (dev, ino, size), mtime, kind, blob in zip(paths, triples, mtimes, kinds, stored)}


def _write_cache(path: str, entries: dict[str, tuple[FileIdentity, int, kscan.RawOutput]]) -> None:
    paths = list(entries)
    values = entries.values()
    try:
        write_cache_file(path, *columns.pieces((
            ("s", paths),
            ("Q", [n for identity, _, _ in values for n in identity[:3]]),
            ("q", [identity[3] for identity, _, _ in values]),
            ("B", [kind for _, kind, _ in values]),
            ("b", [memoryview(blob)[start:end] for _, _, (blob, start, end) in values]),
        )))
    except (ValueError, OverflowError):  # a path with a NUL, an identity out of range: not cached
        pass


def load_modules(args: list[str], *, jobs: int = 0, cache_dir: str | None = None,
                 collected: Collected | None = None,
                 meanwhile: Callable[[], object] | None = None, raw: bool = False) -> LoadedModules:
    """`meanwhile`, if given, is called once while the C scanner's threads read the files (or first).
    `raw`: modules the C reader read (now or in the cache) come without their needs, and the result's
    `raw` says where each one's output is: only the problems are wanted, and the C sieve finds them."""
    raw_outputs: dict[str, kscan.RawOutput] | None = {} if raw and kscan.available() else None
    files, identities, errors, _ = collected if collected is not None else collect_module_files(args)
    errors = list(errors)
    cache_path = _cache_file(cache_dir, files) if cache_dir else None
    cached = _read_cache(cache_path) if cache_path else {}
    results: dict[str, ModuleSymbols] = {}
    outputs: dict[str, kscan.RawOutput] = {}  # kscan.c's output for each module it read
    packed: dict[str, kscan.RawOutput] = {}  # the Python reader's modules, packed
    todo: list[str] = []
    for path in files:
        hit = cached.get(path)
        if hit is not None and hit[0] == identities[path]:
            identity, kind, stored = hit
            blob, start, end = stored
            try:
                if kind == _KSCAN_OUTPUT:
                    # kscan.c's sieve checks an output's sizes itself; decode() raises on bad ones
                    results[path] = kscan.decode(path, blob, start, with_needs=raw_outputs is None)
                    if raw_outputs is not None:
                        raw_outputs[path] = stored
                    outputs[path] = stored
                    continue
                if kind == _PACKED:
                    results[path] = unpack_module_symbols(memoryview(blob)[start:end])
                    packed[path] = stored
                    continue
            except Exception:  # a damaged entry is only a slower run
                results.pop(path, None)
                if raw_outputs is not None:
                    raw_outputs.pop(path, None)
        todo.append(path)
    jobs = jobs or min(os.cpu_count() or 1, 8)
    parsed_lists: list[list] = []
    if kscan.available():
        # The C scanner: threads, no pool, nothing pickled.
        for item in kscan.scan_files(todo, jobs if len(todo) >= PARALLEL_THRESHOLD else 1,
                                     outputs=outputs if cache_path else None, meanwhile=meanwhile,
                                     raw=raw_outputs):
            if isinstance(item, KmodError):
                errors.append(item)
            else:
                results[item.path] = item
    else:
        if meanwhile is not None:
            meanwhile()
        if len(todo) >= PARALLEL_THRESHOLD and jobs > 1:
            # The main process takes a share too: with two cores a third process only adds overhead.
            from concurrent.futures import (
                ProcessPoolExecutor,  # ~15 ms to import; only for big sets
            )

            chunks = [todo[i::jobs] for i in range(jobs)]
            with ProcessPoolExecutor(max_workers=jobs - 1) as pool:
                futures = [pool.submit(_parse_chunk, chunk) for chunk in chunks[1:]]
                parsed_lists = [_parse_chunk(chunks[0], pack=False)] + [f.result() for f in futures]
        elif todo:
            parsed_lists = [_parse_chunk(todo, pack=False)]
    for parsed in parsed_lists:
        for item in parsed:
            if isinstance(item, ModuleSymbols):
                results[item.path] = item
            elif isinstance(item, bytes):
                module = unpack_module_symbols(item)
                results[module.path] = module
                packed[module.path] = (item, 0, len(item))
            else:
                errors.append(KmodError(item[0], item[1], line=item[2], offset=item[3]))
    modules = [results[p] for p in files if p in results]
    if cache_path and todo:
        _write_cache(cache_path, _cache_entries(modules, identities, outputs, packed))
    return LoadedModules(modules, errors, identities, len(todo), raw_outputs)


def _cache_entries(modules: list[ModuleSymbols], identities: dict[str, FileIdentity],
                   outputs: dict[str, kscan.RawOutput], packed: dict[str, kscan.RawOutput],
                   ) -> dict[str, tuple[FileIdentity, int, kscan.RawOutput]]:
    entries: dict[str, tuple[FileIdentity, int, kscan.RawOutput]] = {}
    for module in modules:
        path = module.path
        output = outputs.get(path)
        if output is not None:
            entries[path] = (identities[path], _KSCAN_OUTPUT, output)
            continue
        stored = packed.get(path)
        if stored is None:
            try:
                blob = pack_module_symbols(module)
            except ValueError:  # a name with a NUL: read again next time
                continue
            stored = (blob, 0, len(blob))
        entries[path] = (identities[path], _PACKED, stored)
    return entries
