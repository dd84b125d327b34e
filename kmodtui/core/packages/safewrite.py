"""Writing an archive's members below a folder, physically safely: every path is reached with
O_NOFOLLOW from the folder's descriptor, links are checked against the links on disk and again at
the end, members and bytes are capped, and a refused unpack removes what it made (see SECURITY.md).
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass

from kmodtui.core.compression import Readable
from kmodtui.core.errors import KmodError, printable
from kmodtui.core.packages.beneath import (
    DIR_FLAGS,
    HOST_KBUILD,
    MAX_DEPTH,
    LinkSteps,
    Through,
    leaves_root,
    lstat_in,
    open_dir,
)
from kmodtui.core.trees import walk_fd

MAX_TOTAL_BYTES = 2 * 1024 * 1024 * 1024  # a kernel-devel RPM or linux-headers .deb unpacks to ~100 MiB
MAX_MEMBERS = 100_000  # members of every type, and folders made on the way; Debian's headers-common has ~17,000
MEMBER_COST = 4096  # what a directory, link or empty file costs on disk, charged against MAX_TOTAL_BYTES


@dataclass(frozen=True)
class ExtractResult:
    root: str
    files: int
    total_bytes: int
    skipped: tuple[str, ...]  # "name: why", for members that were not written
    trees: tuple[str, ...] = ()  # usr/src/<tree> folders the archive wrote into (kernel headers)


def _split(name: str) -> list[str]:
    return [p for p in name.replace("\\", "/").split("/") if p not in ("", ".")]


class SafeWriter:
    """Writes archive members below `dest`; see the module's docstring for the rules."""

    def __init__(self, dest: str | os.PathLike[str], source: str, *, max_bytes: int = MAX_TOTAL_BYTES,
                 max_members: int = MAX_MEMBERS) -> None:
        self.dest = os.path.realpath(dest)
        os.makedirs(self.dest, exist_ok=True)
        self.root_fd = os.open(self.dest, DIR_FLAGS)
        self.source = source
        self.max_bytes = max_bytes
        self.max_members = max_members
        self.files = 0
        self.members = 0
        self.total_bytes = 0
        self.skipped: list[str] = []
        self.trees: set[str] = set()
        self.made: list[str] = []  # what this writer created, in order, for a clean-up
        self.link_steps = LinkSteps(source)

    # ---- life cycle ----------------------------------------------------------------------------

    def __enter__(self) -> SafeWriter:
        return self

    def __exit__(self, kind: object, value: object, tb: object) -> None:
        try:
            if kind is None:
                try:
                    self.check_links()
                except BaseException:
                    self.remove_made()  # an unpack whose links could not all be checked is not kept
                    raise
            else:
                self.remove_made()
        finally:
            os.close(self.root_fd)

    def result(self) -> ExtractResult:
        return ExtractResult(self.dest, self.files, self.total_bytes, tuple(self.skipped), tuple(sorted(self.trees)))

    def remove_made(self) -> None:
        """Undo this unpack: remove what it created (newest first); folders only once empty."""
        for relpath in reversed(self.made):
            parts = relpath.split("/")
            try:
                fd = open_dir(self.root_fd, parts[:-1])
            except (Through, OSError):
                continue
            try:
                st = os.stat(parts[-1], dir_fd=fd, follow_symlinks=False)
                if stat.S_ISDIR(st.st_mode):
                    os.rmdir(parts[-1], dir_fd=fd)
                else:
                    os.unlink(parts[-1], dir_fd=fd)
            except OSError:
                pass
            finally:
                os.close(fd)
        self.made.clear()

    def check_links(self) -> None:
        """Every symlink below the root, checked in the end state; one that now leads out is removed.
        The walk is iterative (a tree left by an older kmodtui may be deeper than MAX_DEPTH)."""
        for rel, dir_fd, _, others in walk_fd(self.root_fd):
            for entry in others:
                try:
                    if not stat.S_ISLNK(os.stat(entry, dir_fd=dir_fd, follow_symlinks=False).st_mode):
                        continue
                    target = os.readlink(entry, dir_fd=dir_fd)
                except OSError:
                    continue
                relpath = "/".join(rel + [entry])
                if HOST_KBUILD.fullmatch(relpath) and target == "/" + relpath:
                    continue
                if leaves_root(self.root_fd, rel, target, self.link_steps):
                    os.unlink(entry, dir_fd=dir_fd)
                    self.skipped.append(f"{relpath}: symlink to {target!r} leads outside {self.dest}; removed")

    # ---- members -------------------------------------------------------------------------------

    def _member(self, cost: int = MEMBER_COST) -> None:
        self.members += 1
        if self.members > self.max_members:
            raise KmodError(self.source, f"archive has more than {self.max_members} members; refusing to unpack")
        self._charge(cost)

    def _charge(self, size: int) -> None:
        self.total_bytes += size
        if self.total_bytes > self.max_bytes:
            raise KmodError(self.source, f"archive unpacks to more than {self.max_bytes} bytes; refusing")

    def _parts(self, name: str) -> list[str]:
        parts = _split(name)
        if not parts:
            raise KmodError(self.source, f"archive member with an empty name: {name!r}")
        if ".." in parts:
            raise KmodError(self.source, f"archive member {name!r} climbs out with '..'; refusing to unpack")
        if len(parts) > MAX_DEPTH:
            shown = printable(name if len(name) <= 120 else name[:100] + "...", name=True)
            raise KmodError(self.source, f"archive member {shown} is {len(parts)} folders deep (kmodtui unpacks at "
                                         f"most {MAX_DEPTH}; kernel headers go about 12); refusing to unpack")
        if len(parts) >= 4 and parts[:3] == ["usr", "src", "kernels"]:
            self.trees.add("/".join(parts[:4]))  # RHEL: /usr/src/kernels/<release>
        elif len(parts) >= 3 and parts[:2] == ["usr", "src"] and parts[2] != "kernels":
            self.trees.add("/".join(parts[:3]))  # Debian: /usr/src/linux-headers-<release>
        return parts

    def _parent(self, name: str, parts: list[str]) -> int | None:
        """The parent folder's descriptor, or None (member skipped) when it lies behind a link.
        Folders made on the way count as members (a 256-deep name makes up to 255 of them)."""
        before = len(self.made)
        try:
            fd = open_dir(self.root_fd, parts[:-1], create=True, made=self.made)
        except Through as through:
            self.skipped.append(f"{name}: would be written through {through}, which is a link or a file; skipped")
            return None
        try:
            for _ in range(len(self.made) - before):
                self._member()
        except BaseException:
            os.close(fd)
            raise
        return fd

    def _clear(self, parent: int, last: str) -> bool:
        """Remove a non-folder at parent/last; False when a folder is there."""
        try:
            st = os.stat(last, dir_fd=parent, follow_symlinks=False)
        except FileNotFoundError:
            return True
        if stat.S_ISDIR(st.st_mode):
            return False
        os.unlink(last, dir_fd=parent)
        return True

    def add_dir(self, name: str) -> None:
        parts = _split(name)
        if not parts:
            return  # the archive's own root, "./"
        parts = self._parts(name)
        self._member()
        parent = self._parent(name, parts)
        if parent is None:
            return
        try:
            st = os.stat(parts[-1], dir_fd=parent, follow_symlinks=False) if self._exists(parent, parts[-1]) else None
            if st is not None and not stat.S_ISDIR(st.st_mode):
                os.unlink(parts[-1], dir_fd=parent)
                st = None
            if st is None:
                os.mkdir(parts[-1], 0o755, dir_fd=parent)
                self.made.append("/".join(parts))
        finally:
            os.close(parent)

    @staticmethod
    def _exists(parent: int, last: str) -> bool:
        try:
            os.stat(last, dir_fd=parent, follow_symlinks=False)
            return True
        except FileNotFoundError:
            return False

    def add_file(self, name: str, content: Readable, mode: int = 0o644) -> None:
        parts = self._parts(name)
        self._member(0)
        parent = self._parent(name, parts)
        if parent is None:
            return
        try:
            if not self._clear(parent, parts[-1]):
                self.skipped.append(f"{name}: a folder of that name is already there; skipped")
                return
            fd = os.open(parts[-1], os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                         mode & 0o755 | 0o600, dir_fd=parent)
            self.made.append("/".join(parts))
            written = 0
            with os.fdopen(fd, "wb") as out:
                while chunk := content.read(1 << 20):
                    written += len(chunk)
                    self._charge(len(chunk))
                    out.write(chunk)
            if written < MEMBER_COST:
                self._charge(MEMBER_COST - written)
            self.files += 1
        finally:
            os.close(parent)

    def add_symlink(self, name: str, link_target: str) -> None:
        parts = self._parts(name)
        self._member()
        if not link_target or "\0" in link_target:
            self.skipped.append(f"{name}: symlink with an empty or invalid target; skipped")
            return
        if link_target.startswith("/"):
            # Re-root: "/usr/src/kernels/X" inside the package means <dest>/usr/src/kernels/X.
            wanted = _split(link_target)
            if ".." in wanted:
                self.skipped.append(f"{name}: symlink to {link_target!r} climbs out with '..'; skipped")
                return
            link_target = os.path.relpath("/" + "/".join(wanted), "/" + "/".join(parts[:-1])) if wanted else \
                "/".join([".."] * (len(parts) - 1)) or "."
        if leaves_root(self.root_fd, parts[:-1], link_target, self.link_steps):
            self.skipped.append(f"{name}: symlink to {link_target!r} points outside the archive; skipped")
            return
        parent = self._parent(name, parts)
        if parent is None:
            return
        try:
            if not self._clear(parent, parts[-1]):
                self.skipped.append(f"{name}: a folder of that name is already there; symlink skipped")
                return
            os.symlink(link_target, parts[-1], dir_fd=parent)
            self.made.append("/".join(parts))
        finally:
            os.close(parent)

    def add_hardlink(self, name: str, other: str) -> None:
        parts = self._parts(name)
        self._member()
        other_parts = _split(other)
        if ".." in other_parts:
            raise KmodError(self.source, f"archive member {name!r} is a hard link climbing out with '..'; refusing")
        st = lstat_in(self.root_fd, other_parts) if other_parts else None
        if st is None or not stat.S_ISREG(st.st_mode):
            self.skipped.append(f"{name}: hard link to {other!r}, which is not a file unpacked here")
            return
        parent = self._parent(name, parts)
        if parent is None:
            return
        try:
            source_dir = open_dir(self.root_fd, other_parts[:-1])
        except (Through, OSError):
            os.close(parent)
            self.skipped.append(f"{name}: hard link to {other!r}, which is not a file unpacked here")
            return
        try:
            if other_parts == parts:
                self.skipped.append(f"{name}: hard link to itself; skipped")
                return
            if not self._clear(parent, parts[-1]):
                self.skipped.append(f"{name}: a folder of that name is already there; hard link skipped")
                return
            try:
                os.link(other_parts[-1], parts[-1], src_dir_fd=source_dir, dst_dir_fd=parent, follow_symlinks=False)
            except FileNotFoundError:  # the file it names was itself replaced by this member
                self.skipped.append(f"{name}: hard link to {other!r}, which is not a file unpacked here")
                return
            self.made.append("/".join(parts))
        finally:
            os.close(parent)
            os.close(source_dir)

    def skip(self, name: str, why: str) -> None:
        self._member()
        self.skipped.append(f"{name}: {why}")


def tree_size(path: str) -> int:
    """Bytes under `path` (files' sizes, plus a block for each entry), never following links, at
    any depth (a tree left by an older kmodtui may be deeper than MAX_DEPTH)."""
    total = 0
    try:
        top = os.open(path, DIR_FLAGS)
    except OSError:
        return 0
    try:
        for _, dir_fd, dirnames, others in walk_fd(top):
            for entry in others:
                try:
                    total += os.stat(entry, dir_fd=dir_fd, follow_symlinks=False).st_size
                except OSError:
                    pass
            total += MEMBER_COST * (len(dirnames) + len(others))
    except OSError:
        pass
    finally:
        os.close(top)
    return total


def cache_budget(cache_dir: str, what: str) -> int:
    """Bytes an unpack into the cache may still write: the cache is capped as a whole
    (KMODTUI_CACHE_MAX_BYTES, default 8 GiB), so repeated unpacks cannot fill the disk."""
    text = os.environ.get("KMODTUI_CACHE_MAX_BYTES", "")
    limit = int(text) if text.isdigit() else 8 * 1024 * 1024 * 1024
    used = sum(tree_size(os.path.join(cache_dir, part)) for part in ("kernels", "sources"))
    left = limit - used
    if left <= 0:
        raise KmodError(what, f"kmodtui's cache ({cache_dir}) already holds {used} bytes of unpacked packages "
                              f"and sources (limit {limit}); remove {os.path.join(cache_dir, 'kernels')} or "
                              f"{os.path.join(cache_dir, 'sources')}, or raise KMODTUI_CACHE_MAX_BYTES")
    return min(left, MAX_TOTAL_BYTES)
