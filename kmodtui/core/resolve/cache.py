"""The result cache: a run whose inputs have the same identity reuses the problems (and the rendered
report) of the run before. Entries are sealed (paths.read_cache_file): damage is a miss, never an
answer.
"""

from __future__ import annotations

import hashlib
import os
import pickle
from array import array
from typing import TYPE_CHECKING

from kmodtui import __version__
from kmodtui.core.elf.module import ModuleSymbols
from kmodtui.core.model import (
    Finding,
    Kernel,
)
from kmodtui.core.paths import read_cache_file, write_cache_file
from kmodtui.core.resolve.checks import ProblemRow
from kmodtui.core.resolve.modset import Collected
from kmodtui.core.resolve.result import ResolveResult

if TYPE_CHECKING:
    pass


RESULT_CACHE_FORMAT = 6  # 4: Finding.requirement; 5: Provider as a NamedTuple; 6: reports kept beside it escape
# what a terminal would act on (a report cached by 5 may hold a symbol's raw ESC)


def result_cache_path(cache_dir: str, kernel: Kernel | None, *collections: Collected) -> str:
    digest = hashlib.sha1()
    digest.update(repr((RESULT_CACHE_FORMAT, __version__, kernel)).encode())
    if kernel is not None and kernel.symvers_path:
        try:
            st = os.stat(kernel.symvers_path)
            digest.update(repr((st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)).encode())
        except OSError:
            pass
    for collected in collections:
        digest.update(collected.fingerprint)
        digest.update(b"\1")
    return os.path.join(cache_dir, "results", digest.hexdigest())


def load_result(path: str, kernel: Kernel | None) -> ResolveResult | None:
    """The cached result for these inputs, or None: entries are sealed (paths.read_cache_file), so
    a damaged, truncated or foreign entry is a miss and the run resolves anew."""
    summary_blob = read_cache_file(path + ".summary")
    rows_blob = read_cache_file(path + ".rows") if summary_blob is not None else None
    if rows_blob is None:
        return None
    try:
        stored = pickle.loads(summary_blob)  # type: ignore[arg-type]
        if not isinstance(stored, dict) or stored.get("format") != RESULT_CACHE_FORMAT:
            return None
        module_problems = [Finding(*f) for f in stored["module_problems"]]
        counts, module_count = stored["counts"], stored["module_count"]
        if not isinstance(counts, dict) or not isinstance(module_count, int):
            return None
    except Exception:  # a cache from another version is only a slower run
        return None

    def load_rows() -> list[ProblemRow]:
        stored_rows = pickle.loads(rows_blob)
        stubs = {p: ModuleSymbols._make(t) for p, t in stored_rows["modules"].items()}
        if not stored_rows["path"]:
            return []
        return list(zip(map(stubs.__getitem__, stored_rows["path"]), stored_rows["symbol"].split("\0"),
                        stored_rows["status"], array("I", stored_rows["crc"]), stored_rows["provider"]))

    return ResolveResult(kernel, None, [], {}, load_rows, counts, module_problems,
                         module_count=module_count, from_cache=True, cache_path=path)


def store_result(path: str, result: ResolveResult) -> None:
    # Only what the problems need: a stub of each module involved, without its symbol lists, and
    # the rows as columns (a distro tree against another ABI has ~67k: zip() transposes them in C,
    # and pickle writes repeated objects, the same provider or status, as references). Rows are
    # kept apart from the summary: a warm run that prints a cached report never loads them.
    rows_stored: dict[str, object] = {"modules": {}, "path": [], "symbol": "", "status": (), "crc": b"", "provider": ()}
    if result.problem_rows:
        modules, symbols, statuses, crcs, providers = zip(*result.problem_rows)
        unique = {id(m): m for m in modules}
        no_symbols = ((), ())  # a stub: ModuleSymbols without its last two fields, needs and exports
        rows_stored = {
            "modules": {m.path: m[:-2] + no_symbols for m in unique.values()},
            "path": [m.path for m in modules], "symbol": "\0".join(symbols), "status": statuses,
            "crc": array("I", crcs).tobytes(), "provider": providers,
        }
    summary = {
        "format": RESULT_CACHE_FORMAT,
        "counts": result.counts,
        "module_count": result.module_count,
        "module_problems": [tuple(getattr(f, name) for name in Finding.__match_args__) for f in result.module_problems],
    }
    write_cache_file(path + ".rows", pickle.dumps(rows_stored, protocol=pickle.HIGHEST_PROTOCOL))
    write_cache_file(path + ".summary", pickle.dumps(summary, protocol=pickle.HIGHEST_PROTOCOL))
