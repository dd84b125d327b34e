"""Caches hold data, never code, and kmodtui reads only cache and state folders of its own.

Root running `kmodtui resolve` with another user's HOME (sudo keeping HOME, `sudo -E`, a shared
XDG_CACHE_HOME, a CI cache restored from another branch) used to unpickle that user's entries:
a planted pickle ran as root. The seal is no defence there, since anyone can compute it."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest

from kmodtui.core.model import Kernel
from kmodtui.core.paths import read_cache_file, write_cache_file
from kmodtui.core.resolve.engine import resolve
from tests.core.test_resolve import altered_provider, scratch_tree  # noqa: F401 (a fixture)
from tests.realtools import BuiltModules

NOBODY = 65534


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


def test_a_cache_entry_owned_by_someone_else_is_never_read(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root to give a file to another user (os.chown)")
    entry = tmp_path / "entry"
    write_cache_file(str(entry), b"an answer")
    assert bytes(read_cache_file(str(entry)) or b"") == b"an answer"
    os.chown(entry, NOBODY, NOBODY)
    assert read_cache_file(str(entry)) is None


def kmodtui(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-I", "-m", "kmodtui", *args], capture_output=True, text=True, env=env)


def plain_env(**changes: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("KMODTUI_CACHE_DIR", "KMODTUI_STATE_DIR", "XDG_CACHE_HOME", "XDG_STATE_HOME")}
    return {**env, **changes}


def assert_refused(result: subprocess.CompletedProcess[str], folder: Path, *words: str) -> None:
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    line = result.stderr.strip()
    assert "\n" not in line and line.startswith(f"kmodtui: {folder}: "), line
    for word in words:
        assert word in line, line


def resolve_args(built: BuiltModules, kernel: Kernel) -> list[str]:
    return ["resolve", str(built.consumer_ko), "--kernel", kernel.symvers_path or kernel.release]


def test_a_cache_folder_others_can_write_is_refused(built: BuiltModules, installed_kernel: Kernel, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    cache.mkdir()
    cache.chmod(0o777)
    result = kmodtui(*resolve_args(built, installed_kernel), env=plain_env(KMODTUI_CACHE_DIR=str(cache)))
    assert_refused(result, cache, "writable", "chmod go-w")
    assert list(cache.iterdir()) == []


def test_a_state_folder_others_can_write_is_refused(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    state.chmod(0o777)
    result = kmodtui("builds", env=plain_env(KMODTUI_STATE_DIR=str(state)))
    assert_refused(result, state, "writable")


def test_a_cache_folder_of_another_user_is_refused(built: BuiltModules, installed_kernel: Kernel, tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root to give a folder to another user (os.chown)")
    cache = tmp_path / "cache"
    cache.mkdir(mode=0o700)
    os.chown(cache, NOBODY, NOBODY)
    result = kmodtui(*resolve_args(built, installed_kernel), env=plain_env(KMODTUI_CACHE_DIR=str(cache)))
    assert_refused(result, cache, "owned by", f"uid {NOBODY}", "KMODTUI_CACHE_DIR")


def test_root_with_another_users_home_is_refused_and_told_the_fix(built: BuiltModules, installed_kernel: Kernel,
                                                                  tmp_path: Path) -> None:
    """`sudo -E kmodtui resolve` (HOME kept): the user's ~/.cache/kmodtui is theirs, not root's."""
    if os.geteuid() != 0:
        pytest.skip("needs root to give a folder to another user (os.chown)")
    home = tmp_path / "home"
    ours = home / ".cache" / "kmodtui"
    ours.mkdir(parents=True, mode=0o700)
    for folder in (home, home / ".cache", ours):
        os.chown(folder, NOBODY, NOBODY)
    result = kmodtui(*resolve_args(built, installed_kernel), env=plain_env(HOME=str(home)))
    assert_refused(result, ours, "owned by", "sudo -H", "XDG_CACHE_HOME")
    assert sorted(p.name for p in ours.iterdir()) == []
    # their ~/.cache without a kmodtui folder yet: root would make one inside a folder they own
    ours.rmdir()
    result = kmodtui(*resolve_args(built, installed_kernel), env=plain_env(HOME=str(home)))
    assert_refused(result, home / ".cache", "owned by", "sudo -H")
    assert not ours.exists()
    # what the message says to do works: the cache goes to a folder of root's own
    result = kmodtui(*resolve_args(built, installed_kernel),
                     env=plain_env(HOME=str(home), XDG_CACHE_HOME=str(tmp_path / "root-cache")))
    assert result.returncode == 1 and result.stderr == "", result.stderr
    assert (tmp_path / "root-cache" / "kmodtui").stat().st_mode & 0o777 == 0o700


def test_a_fresh_cache_folder_is_private_and_accepted(built: BuiltModules, installed_kernel: Kernel,
                                                      tmp_path: Path) -> None:
    cache = tmp_path / "fresh" / "kmodtui"
    env = plain_env(KMODTUI_CACHE_DIR=str(cache))
    old_umask = os.umask(0)  # what makes a folder others can write, unless its mode is chosen
    try:
        first = kmodtui(*resolve_args(built, installed_kernel), env=env)
    finally:
        os.umask(old_umask)
    assert first.returncode == 1 and first.stderr == "", first.stderr
    assert cache.stat().st_mode & 0o777 == 0o700
    second = kmodtui(*resolve_args(built, installed_kernel), env=env)
    assert (second.returncode, second.stdout) == (first.returncode, first.stdout)
