"""Turn TARGET/--with arguments into module files and parse them, in parallel and with a cache.

The cache is keyed on file identity (device, inode, size, mtime): a module rebuilt in place is
parsed again, an untouched one is not.
"""

from __future__ import annotations

import hashlib
import os
import pickle
from collections.abc import Callable
from typing import NamedTuple

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

CACHE_FORMAT = 3
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


def _parse_chunk(paths: list[str], pack: bool = True) -> list[tuple]:
    """Packed tuples cross the process boundary: pickling 190k small tuples is what costs.
    The main process's own share stays unpacked (ModuleSymbols)."""
    out: list[tuple] = []
    for path in paths:
        try:
            module = read_module_symbols(path)
            out.append(pack_module_symbols(module) if pack else module)
        except KmodError as err:
            out.append((path, err.reason, err.line, err.offset))
    return out


def _cache_file(cache_dir: str, files: list[str]) -> str:
    key = hashlib.sha1("\0".join(files).encode("utf-8", "surrogateescape")).hexdigest()[:20]
    return os.path.join(cache_dir, "modules", f"{key}.pickle")


def load_modules(args: list[str], *, jobs: int = 0, cache_dir: str | None = None,
                 collected: Collected | None = None,
                 meanwhile: Callable[[], object] | None = None, raw: bool = False) -> LoadedModules:
    """`meanwhile`, if given, is called once while the C scanner's threads read the files (or first).
    `raw`: modules the C reader read (now or in the cache) come without their needs, and the result's
    `raw` says where each one's output is: only the problems are wanted, and the C sieve finds them."""
    raw_outputs: dict[str, kscan.RawOutput] | None = {} if raw and kscan.available() else None
    files, identities, errors, _ = collected if collected is not None else collect_module_files(args)
    errors = list(errors)
    cached: dict[str, tuple[FileIdentity, tuple | bytes]] = {}
    cache_path = _cache_file(cache_dir, files) if cache_dir else None
    blob = read_cache_file(cache_path) if cache_path else None  # sealed: damaged or foreign = None
    if blob is not None:
        try:
            stored = pickle.loads(blob)
            if isinstance(stored, dict) and stored.get("format") == CACHE_FORMAT and isinstance(stored["modules"], dict):
                cached = stored["modules"]
        except Exception:  # a cache from another version is only a slower run
            cached = {}
    results: dict[str, ModuleSymbols] = {}
    packed: dict[str, tuple | bytes] = {}  # what goes into the cache for each module
    todo: list[str] = []
    for path in files:
        hit = cached.get(path)
        if hit is not None and hit[0] == identities[path]:
            try:
                # bytes: the C scanner's output for the file; a tuple: the Python reader's, packed.
                stored = hit[1]
                if isinstance(stored, bytes):
                    results[path] = kscan.decode(path, stored, with_needs=raw_outputs is None)
                    if raw_outputs is not None:
                        raw_outputs[path] = (stored, 0, len(stored))
                else:
                    results[path] = unpack_module_symbols(stored)
                packed[path] = stored
                continue
            except Exception:  # a damaged entry is only a slower run
                pass
        todo.append(path)
    jobs = jobs or min(os.cpu_count() or 1, 8)
    parsed_lists: list[list] = []
    if kscan.available():
        # The C scanner: threads, no pool, nothing pickled.
        for item in kscan.scan_files(todo, jobs if len(todo) >= PARALLEL_THRESHOLD else 1,
                                     outputs=packed if cache_path else None, meanwhile=meanwhile,
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
            elif len(item) == 4:
                errors.append(KmodError(item[0], item[1], line=item[2], offset=item[3]))
            else:
                module = unpack_module_symbols(item)
                results[module.path] = module
                packed[module.path] = item
    modules = [results[p] for p in files if p in results]
    if cache_path and todo:
        write_cache_file(cache_path, pickle.dumps(
            {"format": CACHE_FORMAT,
             "modules": {m.path: (identities[m.path], packed.get(m.path) or pack_module_symbols(m)) for m in modules}},
            protocol=pickle.HIGHEST_PROTOCOL))
    return LoadedModules(modules, errors, identities, len(todo), raw_outputs)
