"""core/trees.py: walks and removals without recursion give what os.walk, glob('**'), shutil.copytree
and shutil.rmtree give on an ordinary tree, and still work where those raise RecursionError (Python
3.11, ~1,000 levels) or need a descriptor per level."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from kmodtui.core.trees import MovedDuringWalk, copy_tree, find, remove_tree, walk, walk_fd


def ordinary_tree(top: Path, loop: bool = True) -> Path:
    (top / "a" / "b" / ".hidden").mkdir(parents=True)
    (top / "a" / "b" / "m.ko").write_bytes(b"1")
    (top / "a" / "b" / ".hidden" / "n.ko").write_bytes(b"2")
    (top / "a" / ".x.ko").write_bytes(b"3")
    (top / "c").mkdir()
    (top / "c" / "Module.symvers").write_text("x\n")
    (top / "c" / "x.o").write_bytes(b"o")
    os.symlink("../a", top / "c" / "to-a")  # a link to a folder
    os.symlink("missing", top / "c" / "dangling.ko")
    if loop:
        os.symlink(".", top / "a" / "b" / "loop")  # os.walk lists it; glob('**') follows it 40 times
    return top


def test_walk_is_os_walk(tmp_path: Path) -> None:
    top = str(ordinary_tree(tmp_path / "t"))

    def norm(walker):
        return sorted((d, sorted(ds), sorted(fs)) for d, ds, fs in walker)

    assert norm(walk(top)) == norm(os.walk(top))
    pruned = []
    for dirpath, dirnames, _ in walk(top):
        dirnames[:] = [d for d in dirnames if d != "b"]
        pruned.append(dirpath)
    assert not any(p.endswith("/b") for p in pruned)


def test_find_is_glob_double_star(tmp_path: Path) -> None:
    top = str(ordinary_tree(tmp_path / "t", loop=False))
    for pattern in ("*.ko", "Module.symvers", "*.o"):
        assert set(find(top, pattern)) == set(glob.glob(os.path.join(top, "**", pattern), recursive=True)), pattern
    os.symlink(".", tmp_path / "t" / "a" / "b" / "loop")
    assert sorted(find(top, "m.ko")) == [f"{top}/a/b/m.ko", f"{top}/c/to-a/b/m.ko"]  # a loop is not followed


def test_copy_tree_is_copytree_with_links(tmp_path: Path) -> None:
    top = ordinary_tree(tmp_path / "t")
    ignore = shutil.ignore_patterns("*.o", ".hidden")
    shutil.copytree(top, tmp_path / "theirs", symlinks=True, ignore=ignore)
    copy_tree(str(top), str(tmp_path / "ours"), ignore=ignore)

    def listing(root: Path) -> list[tuple[str, str]]:
        out = []
        for dirpath, dirnames, filenames in os.walk(root):
            for name in dirnames + filenames:
                path = Path(dirpath, name)
                kind = "-> " + os.readlink(path) if path.is_symlink() else "dir" if path.is_dir() else path.read_text()
                out.append((str(path.relative_to(root)), kind, oct(path.lstat().st_mode)))
        return sorted(out)

    assert listing(tmp_path / "ours") == listing(tmp_path / "theirs")


def deep_tree(top: Path, levels: int, name: str) -> None:
    fd = os.open(top, os.O_RDONLY | os.O_DIRECTORY)
    for _ in range(levels):
        os.mkdir(name, dir_fd=fd)
        with open(os.open("f", os.O_WRONLY | os.O_CREAT, dir_fd=fd), "w") as f:
            f.write("x")
        os.symlink("/etc", "l", dir_fd=fd)
        next_fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
        os.close(fd)
        fd = next_fd
    os.close(fd)


SMALL_FD_LIMIT = """\
import os, resource, sys
resource.setrlimit(resource.RLIMIT_NOFILE, (24, 24))
from kmodtui.core.trees import remove_tree, walk_fd
top = sys.argv[1]
fd = os.open(top, os.O_RDONLY | os.O_DIRECTORY)
levels = sum(1 for _ in walk_fd(fd))
links = sum(len(others) for _, _, _, others in walk_fd(fd))
os.close(fd)
remove_tree(top)
print(levels, links, os.path.exists(top))
"""


def test_a_1200_deep_tree_of_long_names_is_walked_and_removed_with_few_descriptors(tmp_path: Path) -> None:
    """240 KB of path: past PATH_MAX for any path-based walk, past the recursion limit for
    os.fwalk and shutil.rmtree, past a descriptor limit of 24 for anything holding one per level."""
    top = tmp_path / "deep"
    top.mkdir()
    deep_tree(top, 1200, "d" * 200)
    with pytest.raises(RecursionError):  # the old way, on Python 3.11
        for _ in os.fwalk(top):
            pass
    result = subprocess.run([sys.executable, "-c", SMALL_FD_LIMIT, str(top)], capture_output=True, text=True)
    assert result.stdout.split() == ["1201", str(2 * 1200), "False"], result.stderr


def test_a_folder_moved_during_the_walk_stops_it(tmp_path: Path) -> None:
    """The walk climbs by '..': if a folder was moved away meanwhile, '..' is somewhere else, and
    the walk says so instead of walking a tree outside the one it was given."""
    top = tmp_path / "top"
    (top / "a" / "b").mkdir(parents=True)
    fd = os.open(top, os.O_RDONLY | os.O_DIRECTORY)
    try:
        with pytest.raises(MovedDuringWalk):
            for parts, _, _, _ in walk_fd(fd):
                if parts == ["a", "b"]:
                    os.rename(top / "a", tmp_path / "elsewhere")
    finally:
        os.close(fd)


def test_remove_tree_removes_links_not_what_they_lead_to(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep").write_text("kept")
    top = tmp_path / "top"
    (top / "sub").mkdir(parents=True)
    os.symlink(outside, top / "sub" / "out")
    os.symlink(outside, tmp_path / "link-to-outside")
    remove_tree(top)
    remove_tree(tmp_path / "link-to-outside")
    assert not top.exists() and not (tmp_path / "link-to-outside").is_symlink()
    assert (outside / "keep").read_text() == "kept"
