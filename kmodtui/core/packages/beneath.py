"""Reaching paths below an unpack's target folder without ever following a link, in time that does
not grow with the path's depth: where the kernel has openat2 (Linux 5.6+), a path is resolved in one
call with RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS (it fails rather than follow a link or leave the
folder); elsewhere, or when that call fails, one component at a time with O_NOFOLLOW, as before. Both
give the same answer: the fast way only ever succeeds where every component is a real folder.

A member 256 folders deep used to cost 256 opens, and a link's target one open per component per
folder above it: 10 links made 6 s of work (see SECURITY.md). Now a position is found with a few
calls and a link's target is followed one call per component, each counted against a budget.
"""

from __future__ import annotations

import errno
import os
import re
import stat
from typing import Any

from kmodtui.core.errors import KmodError

DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
MAX_DEPTH = 256  # folders a member may lie below the target; kernel headers go ~12 deep
MAX_LINK_HOPS = 40  # as the kernel's MAXSYMLINKS
# components followed in all link targets of one unpack, each one or two system calls (~1 s here at
# most); Debian's headers and image packages use under 150
MAX_LINK_STEPS = 200_000
# make_buildable links an unpacked Debian headers tree to this host's kbuild tools (absolute, on purpose).
HOST_KBUILD = re.compile(r"usr/lib/linux-kbuild-[0-9][0-9A-Za-z.+~]*")  # 6.1, 6.12.118+deb13


class Through(Exception):
    """A path component is a symlink or not a folder: nothing is reached through it."""


# ---- openat2 ---------------------------------------------------------------------------------

_OPENAT2_NUMBER = {"x86_64": 437, "aarch64": 437, "riscv64": 437, "ppc64le": 437, "s390x": 437,
                   "i686": 437, "armv7l": 437, "armv8l": 437}
_RESOLVE = 0x02 | 0x04 | 0x08  # RESOLVE_NO_MAGICLINKS | RESOLVE_NO_SYMLINKS | RESOLVE_BENEATH
_openat2: Any = None  # the bound call once looked up; False where the kernel or libc has none


def _beneath(root_fd: int, parts: list[str]) -> int | None:
    """A descriptor of root/parts if every component is a real folder (one openat2 call); None when
    not, or when that cannot be told this way (no openat2, a path past PATH_MAX): walk instead."""
    global _openat2
    if not parts:
        return os.dup(root_fd)
    path = os.fsencode("/".join(parts))
    if b"\0" in path:
        return None  # a C string would end there: the walk refuses such a name
    if _openat2 is None:
        _openat2 = _load_openat2()
    if _openat2 is False:
        return None
    call, how = _openat2
    fd = call(root_fd, path, how)
    if fd >= 0:
        return int(fd)
    import ctypes

    if ctypes.get_errno() in (errno.ENOSYS, errno.EPERM, errno.EINVAL, errno.E2BIG):
        _openat2 = False  # not this kernel, or a seccomp filter forbids it: walk from now on
    return None


def _load_openat2() -> Any:
    import ctypes

    number = _OPENAT2_NUMBER.get(os.uname().machine)
    if number is None:
        return False
    try:
        syscall = ctypes.CDLL(None, use_errno=True).syscall
    except (OSError, AttributeError):
        return False
    syscall.restype = ctypes.c_long
    syscall.argtypes = (ctypes.c_long, ctypes.c_int, ctypes.c_char_p, ctypes.c_void_p, ctypes.c_size_t)

    class OpenHow(ctypes.Structure):
        _fields_ = (("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64), ("resolve", ctypes.c_uint64))

    how = OpenHow(os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC, 0, _RESOLVE)

    def call(dir_fd: int, path: bytes, how: OpenHow) -> int:
        return int(syscall(number, dir_fd, path, ctypes.byref(how), ctypes.sizeof(how)))

    return call, how


# ---- reaching a folder -----------------------------------------------------------------------

def reach(root_fd: int, parts: list[str]) -> tuple[int, int]:
    """(k, fd): a descriptor of root/parts[:k] for the largest k whose components are all real
    folders (no link, no file, nothing missing). Exact whichever way it is found."""
    fd = _beneath(root_fd, parts)
    if fd is not None:
        return len(parts), fd
    low, fd = 0, os.dup(root_fd)
    if _openat2 is not False:  # binary search: a prefix resolves iff each shorter one does
        high = len(parts) - 1
        while low < high:
            middle = (low + high + 1) // 2
            found = _beneath(root_fd, parts[:middle])
            if found is None:
                high = middle - 1
            else:
                os.close(fd)
                low, fd = middle, found
    while low < len(parts):  # and one component at a time from there: the exact answer
        try:
            next_fd = os.open(parts[low], DIR_FLAGS, dir_fd=fd)
        except OSError:
            break
        os.close(fd)
        low, fd = low + 1, next_fd
    return low, fd


def open_dir(root_fd: int, parts: list[str], create: bool = False, made: list[str] | None = None) -> int:
    """A descriptor of root/parts, reached without following any symlink (create folders if asked,
    listing them in `made`). Raises Through when a component is a link or not a folder,
    FileNotFoundError when missing."""
    done, fd = reach(root_fd, parts)
    try:
        for i in range(done, len(parts)):
            part = parts[i]
            try:
                next_fd = os.open(part, DIR_FLAGS, dir_fd=fd)
            except FileNotFoundError:
                if not create:
                    raise
                os.mkdir(part, 0o755, dir_fd=fd)
                if made is not None:
                    made.append("/".join(parts[: i + 1]))
                next_fd = os.open(part, DIR_FLAGS, dir_fd=fd)
            except OSError as err:
                if err.errno in (errno.ELOOP, errno.ENOTDIR):
                    raise Through("/".join(parts[: i + 1])) from None
                raise
            os.close(fd)
            fd = next_fd
        return fd
    except BaseException:
        os.close(fd)
        raise


def lstat_in(root_fd: int, parts: list[str]) -> os.stat_result | None:
    if not parts:
        return os.fstat(root_fd)
    try:
        fd = open_dir(root_fd, parts[:-1])
    except (Through, OSError):
        return None
    try:
        return os.stat(parts[-1], dir_fd=fd, follow_symlinks=False)
    except OSError:
        return None
    finally:
        os.close(fd)


# ---- where a link leads ----------------------------------------------------------------------

class LinkSteps:
    """The components followed in all link targets of one unpack, against MAX_LINK_STEPS: each is
    one system call, so the check of 100,000 links of 4 KiB targets ends in seconds."""

    def __init__(self, source: str, limit: int = MAX_LINK_STEPS) -> None:
        self.source = source
        self.limit = limit
        self.used = 0

    def charge(self, steps: int = 1) -> None:
        self.used += steps
        if self.used > self.limit:
            raise KmodError(self.source, f"its links take more than {self.limit} steps to follow; refusing to unpack")


class _Position:
    """Where a walk along a link's target is: `current` (names below the root) and a descriptor of
    its longest prefix made of real folders (the rest is missing, or lies behind a file)."""

    def __init__(self, root_fd: int, start: list[str]) -> None:
        self.current = list(start)
        self.depth, self.fd = reach(root_fd, start)

    def down(self, part: str) -> str | None:
        """Step into `part`; its target if it is a link (then nothing moves)."""
        if self.depth == len(self.current):
            try:
                st = os.stat(part, dir_fd=self.fd, follow_symlinks=False)
            except OSError:
                st = None
            if st is not None and stat.S_ISLNK(st.st_mode):
                return os.readlink(part, dir_fd=self.fd)
            if st is not None and stat.S_ISDIR(st.st_mode):
                try:
                    child = os.open(part, DIR_FLAGS, dir_fd=self.fd)
                except OSError:
                    child = -1
                if child >= 0:
                    os.close(self.fd)
                    self.fd, self.depth = child, self.depth + 1
        self.current.append(part)
        return None

    def up(self) -> None:
        if self.depth == len(self.current):  # a real folder reached without links: '..' is its parent
            parent = os.open("..", DIR_FLAGS, dir_fd=self.fd)
            os.close(self.fd)
            self.fd, self.depth = parent, self.depth - 1
        self.current.pop()


def leaves_root(root_fd: int, start: list[str], target: str, steps: LinkSteps | None = None) -> bool:
    """Would `target`, read in folder root/start, lead outside root on the real filesystem? Links
    already on disk are followed; `..` climbs from where a link led (as the kernel does), so
    `a/b/../..` through a link to / is caught. A link with an absolute target inside root leads to
    the host and so out, except make_buildable's link to the host's kbuild tools, below which no
    `..` may follow. A missing component is taken as a folder (the final check sees the end state);
    a walk deeper than MAX_DEPTH is taken as leading out (nothing unpacked can be there)."""
    if target.startswith("/") or len(start) > MAX_DEPTH:
        return True
    if steps is not None:
        steps.charge()
    position = _Position(root_fd, start)
    try:
        pending = target.split("/")[::-1]  # a stack: the next component last
        hops = 0
        while pending:
            part = pending.pop()
            if part in ("", "."):
                continue
            if steps is not None:
                steps.charge()
            if part == "..":
                if not position.current:
                    return True
                position.up()
                continue
            if len(position.current) >= MAX_DEPTH:
                return True
            link = position.down(part)
            if link is None:
                continue
            hops += 1
            if hops > MAX_LINK_HOPS:
                return True  # a loop: refused like the kernel's ELOOP
            if link.startswith("/"):
                relpath = "/".join(position.current + [part])
                if HOST_KBUILD.fullmatch(relpath) and link == "/" + relpath:
                    return ".." in pending
                return True
            pending += link.split("/")[::-1]
        return False
    finally:
        os.close(position.fd)
