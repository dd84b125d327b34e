"""Walking and removing folder trees without recursion, at any depth.

Python 3.11's os.walk, os.fwalk, glob('**') and shutil.rmtree recurse once per level and raise
RecursionError past ~1,000 levels (an archive can make 1,200 with 2 KB of names); os.fwalk and
shutil.rmtree also hold a descriptor per level. These walks keep an explicit stack: `walk`, `find` and
`copy_tree` by path (for trees kmodtui reads or copies), `walk_fd` and `remove_tree` by descriptor, holding two at a time
whatever the depth and never following a link, so no path ever grows past PATH_MAX.
"""

from __future__ import annotations

import fnmatch
import os
import stat
from collections.abc import Callable, Iterable, Iterator

DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def walk(top: str, *, follow_links: bool = False) -> Iterator[tuple[str, list[str], list[str]]]:
    """os.walk(top, followlinks=follow_links), top-down, without recursion: (dirpath, dirnames,
    filenames), and removing names from dirnames prunes them. Unreadable folders are skipped.
    Following links, a folder that is its own ancestor (a link loop) is not entered again."""
    stack: list[tuple[str, tuple[tuple[int, int], ...]]] = [(top, ())]
    while stack:
        path, ancestors = stack.pop()
        dirnames: list[str] = []
        filenames: list[str] = []
        entered: dict[str, bool] = {}
        try:
            with os.scandir(path) as entries:
                for entry in entries:
                    try:
                        is_dir = entry.is_dir()
                    except OSError:
                        is_dir = False
                    (dirnames if is_dir else filenames).append(entry.name)
                    if is_dir:
                        entered[entry.name] = follow_links or not entry.is_symlink()
        except OSError:
            continue
        if follow_links:
            try:
                st = os.stat(path)
                ancestors = ancestors + ((st.st_dev, st.st_ino),)
            except OSError:
                continue
        yield path, dirnames, filenames
        for name in reversed(dirnames):
            if not entered.get(name, True):
                continue
            sub = os.path.join(path, name)
            if follow_links:
                try:
                    st = os.stat(sub)
                except OSError:
                    continue
                if (st.st_dev, st.st_ino) in ancestors:
                    continue
            stack.append((sub, ancestors))


def find(top: str, pattern: str) -> list[str]:
    """What glob(top/**/pattern, recursive=True) finds (names starting with '.' skipped, links to
    folders followed), without recursion."""
    found = []
    for dirpath, dirnames, filenames in walk(top, follow_links=True):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        found += [os.path.join(dirpath, name) for name in dirnames + filenames
                  if not name.startswith(".") and fnmatch.fnmatch(name, pattern)]
    return found


def copy_tree(src: str, dst: str, ignore: Callable[[str, list[str]], Iterable[str]] | None = None) -> None:
    """shutil.copytree(src, dst, symlinks=True, ignore=ignore) without recursion: links are copied
    as links, never followed; folders get their source's mode and times once filled."""
    import shutil

    os.makedirs(dst)
    filled: list[tuple[str, str]] = []
    for dirpath, dirnames, filenames in walk(src):
        names = dirnames + filenames
        skipped = set(ignore(dirpath, names)) if ignore is not None else set()
        out = os.path.normpath(os.path.join(dst, os.path.relpath(dirpath, src)))
        for name in names:
            if name in skipped:
                continue
            source, target = os.path.join(dirpath, name), os.path.join(out, name)
            if os.path.islink(source):
                os.symlink(os.readlink(source), target)
            elif name in dirnames:
                os.mkdir(target)
            else:
                shutil.copy2(source, target)
        dirnames[:] = [d for d in dirnames if d not in skipped and not os.path.islink(os.path.join(dirpath, d))]
        filled.append((dirpath, out))
    for source, target in reversed(filled):
        shutil.copystat(source, target)


def _listing(fd: int) -> tuple[list[str], list[str]]:
    """(folders, everything else) in the folder open at fd; a link is never a folder here."""
    dirnames: list[str] = []
    others: list[str] = []
    with os.scandir(fd) as entries:
        for entry in entries:
            try:
                is_dir = entry.is_dir(follow_symlinks=False)
            except OSError:
                is_dir = False
            (dirnames if is_dir else others).append(entry.name)
    return dirnames, others


def _identity(fd: int) -> tuple[int, int]:
    st = os.fstat(fd)
    return st.st_dev, st.st_ino


class MovedDuringWalk(OSError):
    """A folder's '..' is no longer the folder the walk came from: something moved it meanwhile."""


def walk_fd(top_fd: int, leave: Callable[[int, str], None] | None = None
            ) -> Iterator[tuple[list[str], int, list[str], list[str]]]:
    """Every folder below the one open at top_fd, top-down: (relative parts, its descriptor,
    sub-folder names, other names), the descriptor valid until the next step; removing names from
    the sub-folders prunes them. Links are never followed (a link is listed with the files). Two
    descriptors are open at a time at any depth: the walk goes down by name (O_NOFOLLOW) and back
    up by '..', checking that '..' is the very folder it came from (raises MovedDuringWalk if not).
    `leave(parent_fd, name)` is called after a sub-folder and everything below it was walked."""
    fd = os.dup(top_fd)
    parts: list[str] = []
    # one frame per level: (the folder's identity, the sub-folders still to enter)
    frames: list[tuple[tuple[int, int], list[str]]] = []
    try:
        current = _identity(fd)
        while True:
            try:
                dirnames, others = _listing(fd)
            except OSError:
                dirnames, others = [], []
            yield list(parts), fd, dirnames, others
            frames.append((current, list(reversed(dirnames))))
            while True:
                identity, pending = frames[-1]
                if pending:
                    name = pending.pop()
                    try:
                        child = os.open(name, DIR_FLAGS, dir_fd=fd)
                    except OSError:
                        continue
                    os.close(fd)
                    fd = child
                    parts.append(name)
                    current = _identity(fd)
                    break
                frames.pop()
                if not frames:
                    return
                parent = os.open("..", DIR_FLAGS, dir_fd=fd)
                os.close(fd)
                fd = parent
                if _identity(fd) != frames[-1][0]:
                    raise MovedDuringWalk(f"{'/'.join(parts)} moved while it was walked")
                name = parts.pop()
                if leave is not None:
                    leave(fd, name)
    finally:
        os.close(fd)


def remove_tree(path: str | os.PathLike[str]) -> None:
    """Remove path and everything below it, like shutil.rmtree(path, ignore_errors=True) but at
    any depth: never following a link (a link is removed, not what it leads to), two descriptors
    open at a time. What cannot be removed is left; nothing is raised."""
    path = os.fspath(path)
    parent, name = os.path.split(os.path.normpath(path))
    try:
        parent_fd = os.open(parent or ".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return
    try:
        try:
            st = os.stat(name, dir_fd=parent_fd, follow_symlinks=False)
        except OSError:
            return
        if not stat.S_ISDIR(st.st_mode):
            _quietly(os.unlink, name, parent_fd)
            return
        try:
            top = os.open(name, DIR_FLAGS, dir_fd=parent_fd)
        except OSError:
            return
        try:
            for _, fd, _, others in walk_fd(top, leave=lambda fd, sub: _quietly(os.rmdir, sub, fd)):
                for other in others:
                    _quietly(os.unlink, other, fd)
        except OSError:
            pass
        finally:
            os.close(top)
        _quietly(os.rmdir, name, parent_fd)
    finally:
        os.close(parent_fd)


def _quietly(remove: Callable[..., None], name: str, dir_fd: int) -> None:
    try:
        remove(name, dir_fd=dir_fd)
    except OSError:
        pass
