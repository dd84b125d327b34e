"""The result cache: a run whose inputs have the same identity reuses the problems (and the rendered
report) of the run before. Entries are sealed (paths.read_cache_file): damage is a miss, never an
answer.
"""

from __future__ import annotations

import hashlib
import os
from array import array
from collections.abc import Callable, Hashable, Sequence
from functools import partial
from itertools import chain, islice, repeat
from operator import itemgetter

from kmodtui import __version__
from kmodtui.core import columns
from kmodtui.core.elf.module import ModuleSymbols
from kmodtui.core.model import (
    Finding,
    Kernel,
)
from kmodtui.core.paths import read_cache_file, write_cache_file
from kmodtui.core.resolve.checks import ProblemRow, Provider
from kmodtui.core.resolve.modset import Collected
from kmodtui.core.resolve.result import ResolveResult
from kmodtui.core.vocabulary import RemedyId

RESULT_CACHE_FORMAT = 7  # 4: Finding.requirement; 5: Provider as a NamedTuple; 6: columns, not pickles;
# 7: reports kept beside it escape what a terminal would act on (one cached by 5 may hold a symbol's raw ESC)


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


# The two entries' columns (columns.py). The summary: the counts, the module count, and each
# per-module finding (vermagic, unreadable) field by field. The rows: a stub of each module involved,
# each provider once, the statuses once, then the rows as indexes into those.
SUMMARY_KINDS = "sqq" + "sssqqsss" + "IsIs"
ROWS_KINDS = "sssssBIs" + "ssqBs" + "s" + "IsIII"


def load_result(path: str, kernel: Kernel | None, recompute: Callable[[], list[ProblemRow]]) -> ResolveResult | None:
    """The cached result for these inputs, or None: entries are sealed and ours (paths.read_cache_file)
    and data only (columns.py), so a damaged, truncated, foreign or planted entry is a miss and the
    run resolves anew. The rows are read only when asked for (a warm run printing its cached report
    never needs them); if they turn out damaged then, `recompute` gives them."""
    summary_blob = read_cache_file(path + ".summary")
    if summary_blob is None or not os.path.isfile(path + ".rows"):
        return None
    try:
        counts, module_count, module_problems = summary_of(columns.unpack(summary_blob, SUMMARY_KINDS))
    except columns.DamagedEntry:
        return None

    def rows() -> list[ProblemRow]:
        rows_blob = read_cache_file(path + ".rows")
        try:
            if rows_blob is not None:
                return rows_of(columns.unpack(rows_blob, ROWS_KINDS))
        except (columns.DamagedEntry, IndexError):
            pass
        return recompute()

    return ResolveResult(kernel, None, [], {}, rows, counts, module_problems,
                         module_count=module_count, from_cache=True, cache_path=path)


def store_result(path: str, result: ResolveResult) -> None:
    """Only what the problems need: a stub of each module involved (without its symbol lists), each
    provider once, and the rows as columns of indexes into those (a distro tree against another ABI
    has ~67k rows: zip() transposes them in C). Rows are kept apart from the summary: a warm run that
    prints a cached report never makes them into objects. What columns cannot hold (a NUL in a name,
    a package requirement) is not cached."""
    try:
        rows = _rows_entry(result.problem_rows)
        summary = _summary_entry(result)
    except (ValueError, OverflowError):
        return
    write_cache_file(path + ".rows", *rows)
    write_cache_file(path + ".summary", summary)


def _flat(groups: Sequence[tuple[str, ...]]) -> tuple[array, list[str]]:
    """A column of tuples of strings, as their sizes and their strings one after another."""
    return array("I", map(len, groups)), [item for group in groups for item in group]


def _grouped(sizes: array, items: list[str]) -> list[tuple[str, ...]]:
    it = iter(items)
    return [tuple(islice(it, n)) for n in sizes]


def _summary_entry(result: ResolveResult) -> bytes:
    problems = result.module_problems
    if any(f.requirement is not None or (f.crc or 0) < 0 or (f.provided_crc or 0) < 0 for f in problems):
        raise ValueError("a finding the summary's columns cannot hold")
    remedy_sizes, remedies = _flat([f.remedies for f in problems])
    field_sizes, fields = _flat([tuple(item for pair in f.fields for item in pair) for f in problems])
    return columns.pack((
        ("s", list(result.counts)), ("q", list(result.counts.values())), ("q", [result.module_count]),
        ("s", [f.module for f in problems]), ("s", [f.symbol for f in problems]),
        ("s", [f.status for f in problems]),
        ("q", [-1 if f.crc is None else f.crc for f in problems]),
        ("q", [-1 if f.provided_crc is None else f.provided_crc for f in problems]),
        ("s", [f.provider for f in problems]), ("s", [f.explanation for f in problems]),
        ("s", [f.explanation_id for f in problems]),
        ("I", remedy_sizes), ("s", remedies), ("I", field_sizes), ("s", fields),
    ))


def summary_of(stored: list) -> tuple[dict[str, int], int, list[Finding]]:
    (statuses, numbers, module_count, modules, symbols, status, crcs, provided, providers, explanations,
     explanation_ids, remedy_sizes, remedies, field_sizes, fields) = stored
    n = len(modules)
    if len(statuses) != len(numbers) or len(module_count) != 1 or not n == len(symbols) == len(status) == len(crcs) == len(provided) \
            == len(providers) == len(explanations) == len(explanation_ids) == len(remedy_sizes) == len(field_sizes) \
            or sum(remedy_sizes) != len(remedies) or sum(field_sizes) != len(fields) or any(k % 2 for k in field_sizes):
        raise columns.DamagedEntry("summary columns of different sizes")
    remedy_of = RemedyId._value2member_map_
    problems = [
        Finding(module, symbol, one_status, None if crc < 0 else crc, None if provided_crc < 0 else provided_crc,
                provider, explanation, tuple(remedy_of.get(r, r) for r in remedy_group),
                None, explanation_id, tuple(zip(field_group[::2], field_group[1::2])))
        for module, symbol, one_status, crc, provided_crc, provider, explanation, explanation_id, remedy_group,
        field_group in zip(modules, symbols, status, crcs, provided, providers, explanations, explanation_ids,
                           _grouped(remedy_sizes, remedies), _grouped(field_sizes, fields))
    ]
    return dict(zip(statuses, numbers)), module_count[0], problems


def _indexed(keys: Sequence[Hashable], first: tuple = ()) -> tuple[list, array]:
    """Repeated values (a module's path, a provider, a status) as a table of the distinct ones, in
    the order first seen after `first`, and an "I" column of indexes into it."""
    at = {key: i for i, key in enumerate(dict.fromkeys(chain(first, keys)))}
    return list(at), array("I", map(at.__getitem__, keys))


def _rows_entry(rows: list[ProblemRow]) -> list[bytes]:
    row_modules, symbols, statuses, crcs, row_providers = zip(*rows) if rows else ((), (), (), (), ())
    paths = list(map(itemgetter(0), row_modules))  # by path: hashing a module with its symbols costs
    module_of = dict(zip(paths, row_modules))
    table, module_column = _indexed(paths)
    providers, provider_column = _indexed(row_providers, first=(None,))  # index 0: no provider
    status_table, status_column = _indexed(statuses)
    # the tables transposed in C: a column per field
    _, names, vermagics, licenses, import_ns, machines, has_versions, _, _ = (
        zip(*map(module_of.__getitem__, table)) if table else ((),) * 9)
    kinds, owners, provider_crcs, gpl_only, namespaces = zip(*providers[1:]) if len(providers) > 1 else ((),) * 5
    import_sizes, import_flat = _flat(import_ns)
    return columns.pieces((
        ("s", table), ("s", names), ("s", vermagics), ("s", licenses), ("s", machines),
        ("B", has_versions), ("I", import_sizes), ("s", import_flat),
        ("s", kinds), ("s", owners), ("q", provider_crcs), ("B", gpl_only), ("s", namespaces),
        ("s", status_table),
        ("I", module_column), ("s", symbols), ("I", status_column), ("I", crcs), ("I", provider_column),
    ))


def rows_of(stored: list) -> list[ProblemRow]:
    """The rows of a rows entry. Raises DamagedEntry when columns of one table differ in size, and
    IndexError when an index points past its table (an "I" column is never negative)."""
    (paths, names, vermagics, licenses, machines, has_versions, import_sizes, import_ns,
     kinds, owners, crcs, gpl_only, namespaces, statuses, module_column, symbols, status_column,
     row_crcs, provider_column) = stored
    if not len(paths) == len(names) == len(vermagics) == len(licenses) == len(machines) == len(has_versions) \
            == len(import_sizes) or sum(import_sizes) != len(import_ns) \
            or not len(kinds) == len(owners) == len(crcs) == len(gpl_only) == len(namespaces) \
            or not len(module_column) == len(symbols) == len(status_column) == len(row_crcs) == len(provider_column):
        raise columns.DamagedEntry("row columns of different sizes")
    # Named tuples made by tuple.__new__ over zip(), all in C: their own __new__ is Python, ~1 us each.
    stubs = list(map(partial(tuple.__new__, ModuleSymbols), zip(
        paths, names, vermagics, licenses, _grouped(import_sizes, import_ns) if import_ns else repeat(()),
        machines, map(bool, has_versions), repeat(()), repeat(()))))
    providers: list[Provider | None] = [None]
    providers += map(partial(tuple.__new__, Provider), zip(kinds, owners, crcs, map(bool, gpl_only), namespaces))
    return list(zip(map(stubs.__getitem__, module_column), symbols, map(statuses.__getitem__, status_column),
                    row_crcs, map(providers.__getitem__, provider_column)))
