"""Caches hold data, never code, and kmodtui reads only cache and state folders of its own.

Root running `kmodtui resolve` with another user's HOME (sudo keeping HOME, `sudo -E`, a shared
XDG_CACHE_HOME, a CI cache restored from another branch) used to unpickle that user's entries:
a planted pickle ran as root. The seal is no defence there, since anyone can compute it."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from kmodtui.core.model import Kernel
from kmodtui.core.paths import write_cache_file
from kmodtui.core.resolve.engine import resolve
from tests.core.test_resolve import altered_provider, scratch_tree  # noqa: F401 (a fixture)
from tests.realtools import BuiltModules


class Planted:
    """What an attacker pickles: loading it opens (creates) the marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self) -> tuple:
        return (open, (self.marker, "w"))


def entry_paths(cache: Path) -> dict[str, Path]:
    """The module cache entry and the result cache's two entries, as the code names them."""
    entries = {p for p in cache.rglob("*") if p.is_file()}
    [modules] = [p for p in entries if p.parent.name == "modules"]
    [summary] = [p for p in entries if p.name.endswith(".summary")]
    [rows] = [p for p in entries if p.name.endswith(".rows")]
    return {"modules": modules, "summary": summary, "rows": rows}


def answer(tree: Path, kernel: Kernel, cache: Path | None) -> tuple:
    result = resolve([str(tree)], kernel, cache_dir=str(cache) if cache else None)
    return (tuple(sorted((f.module, f.status, f.symbol, f.crc, f.provided_crc) for f in result.problems)),
            tuple(sorted(result.counts.items())))


@pytest.mark.parametrize("entry", ["modules", "summary", "rows"])
def test_a_planted_pickle_in_the_cache_never_runs(entry: str, built: BuiltModules, installed_kernel: Kernel,
                                                  altered_provider: Path, tmp_path: Path) -> None:  # noqa: F811
    """The attacker writes a pickle under the name kmodtui reads, sealed as kmodtui seals (the seal
    is an unkeyed digest: anyone can compute it). Before, loading it created the marker; now it is
    not code, so it is a miss and the answer is the uncached one."""
    tree = scratch_tree(tmp_path / "root", altered_provider, built.consumer_ko)
    cache = tmp_path / "cache"
    truth = answer(tree, installed_kernel, None)
    assert any(p[1] == "crc_mismatch" for p in truth[0])
    answer(tree, installed_kernel, cache)  # fills the module cache and the result cache
    target = entry_paths(cache)[entry]
    marker = tmp_path / "marker"
    write_cache_file(str(target), pickle.dumps(Planted(marker)))
    if entry == "modules":
        for other in cache.glob("results/*"):
            other.unlink()  # the result cache would answer first; the module cache is read on its miss
    assert answer(tree, installed_kernel, cache) == truth
    assert not marker.exists(), f"the planted {entry} pickle ran"
