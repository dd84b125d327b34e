"""Unpack .deb and .rpm payloads into a folder, never writing outside it.

Every member goes through SafeWriter: names with `..` or that land outside the target are refused,
absolute symlinks are re-rooted inside the target (as a chroot would see them), links that would
still point out are skipped, device nodes and FIFOs are skipped, and size and file count are capped.
"""

from __future__ import annotations

import os
import stat
import tarfile
from dataclasses import dataclass
from typing import BinaryIO

from kmodtui.core.errors import KmodError

MAX_TOTAL_BYTES = 4 * 1024 * 1024 * 1024
MAX_FILES = 200_000


@dataclass(frozen=True)
class ExtractResult:
    root: str
    files: int
    total_bytes: int
    skipped: tuple[str, ...]  # "name: why", for members that were not written
    trees: tuple[str, ...] = ()  # usr/src/<tree> folders the archive wrote into (kernel headers)


class SafeWriter:
    def __init__(self, dest: str | os.PathLike[str], source: str, *, max_bytes: int = MAX_TOTAL_BYTES,
                 max_files: int = MAX_FILES) -> None:
        self.dest = os.path.realpath(dest)
        os.makedirs(self.dest, exist_ok=True)
        self.source = source
        self.max_bytes = max_bytes
        self.max_files = max_files
        self.files = 0
        self.total_bytes = 0
        self.skipped: list[str] = []
        self.trees: set[str] = set()

    def result(self) -> ExtractResult:
        return ExtractResult(self.dest, self.files, self.total_bytes, tuple(self.skipped), tuple(sorted(self.trees)))

    def _inside(self, path: str) -> bool:
        return path == self.dest or path.startswith(self.dest + os.sep)

    def _target(self, name: str) -> str:
        parts = [p for p in name.replace("\\", "/").split("/") if p not in ("", ".")]
        if not parts:
            raise KmodError(self.source, f"archive member with an empty name: {name!r}")
        if ".." in parts:
            raise KmodError(self.source, f"archive member {name!r} climbs out with '..'; refusing to unpack")
        if len(parts) >= 4 and parts[:3] == ["usr", "src", "kernels"]:
            self.trees.add("/".join(parts[:4]))  # RHEL: /usr/src/kernels/<release>
        elif len(parts) >= 3 and parts[:2] == ["usr", "src"] and parts[2] != "kernels":
            self.trees.add("/".join(parts[:3]))  # Debian: /usr/src/linux-headers-<release>
        target = os.path.join(self.dest, *parts)
        parent = os.path.realpath(os.path.dirname(target))
        if not self._inside(parent):
            raise KmodError(self.source, f"archive member {name!r} would be written outside {self.dest} through a link")
        return os.path.join(parent, parts[-1])

    def _count(self, size: int) -> None:
        self.files += 1
        self.total_bytes += size
        if self.files > self.max_files:
            raise KmodError(self.source, f"archive has more than {self.max_files} members; refusing to unpack")
        if self.total_bytes > self.max_bytes:
            raise KmodError(self.source, f"archive unpacks to more than {self.max_bytes} bytes; refusing")

    def _clear(self, target: str) -> None:
        if os.path.lexists(target) and not (os.path.isdir(target) and not os.path.islink(target)):
            os.unlink(target)

    def add_dir(self, name: str) -> None:
        if not [p for p in name.split("/") if p not in ("", ".")]:
            return  # the archive's own root, "./"
        target = self._target(name)
        if os.path.islink(target):
            os.unlink(target)
        os.makedirs(target, exist_ok=True)

    def add_file(self, name: str, content: BinaryIO, mode: int = 0o644) -> None:
        target = self._target(name)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        target = self._target(name)  # the parent may have been created just now
        self._clear(target)
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode & 0o755 | 0o600)
        written = 0
        with os.fdopen(fd, "wb") as out:
            while chunk := content.read(1 << 20):
                written += len(chunk)
                if self.total_bytes + written > self.max_bytes:
                    raise KmodError(self.source, f"archive unpacks to more than {self.max_bytes} bytes; refusing")
                out.write(chunk)
        self._count(written)

    def add_symlink(self, name: str, link_target: str) -> None:
        target = self._target(name)
        link_dir = os.path.dirname(target)
        if os.path.isabs(link_target):
            # Re-root: "/usr/src/kernels/X" inside the package means <dest>/usr/src/kernels/X.
            resolved = os.path.normpath(os.path.join(self.dest, link_target.lstrip("/")))
            link_target = os.path.relpath(resolved, link_dir)
        else:
            resolved = os.path.normpath(os.path.join(link_dir, link_target))
        if not self._inside(resolved):
            self.skipped.append(f"{name}: symlink to {link_target!r} points outside the archive")
            return
        os.makedirs(link_dir, exist_ok=True)
        self._clear(target)
        os.symlink(link_target, target)
        self._count(0)

    def add_hardlink(self, name: str, other: str) -> None:
        source = self._target(other)
        if not os.path.isfile(source) or os.path.islink(source):
            self.skipped.append(f"{name}: hard link to {other!r}, which is not a file unpacked here")
            return
        target = self._target(name)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        self._clear(target)
        os.link(source, target)
        self._count(0)

    def skip(self, name: str, why: str) -> None:
        self.skipped.append(f"{name}: {why}")


def package_format(path: str) -> str:
    """'rpm' or 'deb', judged by the file's first bytes (not its name)."""
    try:
        with open(path, "rb") as f:
            head = f.read(8)
    except OSError as err:
        raise KmodError(path, err.strerror or str(err)) from None
    if head.startswith(b"\xed\xab\xee\xdb"):
        return "rpm"
    if head.startswith(b"!<arch>\n"):
        return "deb"
    raise KmodError(path, "neither an .rpm (lead magic ed ab ee db) nor a .deb (ar archive)")


def extract_package(path: str | os.PathLike[str], dest: str | os.PathLike[str]) -> ExtractResult:
    path = os.fspath(path)
    return extract_rpm(path, dest) if package_format(path) == "rpm" else extract_deb(path, dest)


def extract_deb(path: str, dest: str | os.PathLike[str]) -> ExtractResult:
    from debian.debfile import DebFile  # imported here: python-debian is slow to import

    writer = SafeWriter(dest, path)
    try:
        deb = DebFile(path)
        tar = deb.data.tgz()
        for member in tar:
            write_tar_member(writer, tar, member)
    except KmodError:
        raise
    except (OSError, EOFError, tarfile.TarError, ValueError, KeyError) as err:
        raise KmodError(path, f"corrupt .deb: {err}") from None
    except Exception as err:  # python-debian raises its own DebError/ArError types
        raise KmodError(path, f"corrupt .deb: {type(err).__name__}: {err}") from None
    return writer.result()


def write_tar_member(writer: SafeWriter, tar: tarfile.TarFile, member: tarfile.TarInfo) -> None:
    if member.isdir():
        writer.add_dir(member.name)
    elif member.isreg():
        content = tar.extractfile(member)
        assert content is not None
        writer.add_file(member.name, content, member.mode)
    elif member.issym():
        writer.add_symlink(member.name, member.linkname)
    elif member.islnk():
        writer.add_hardlink(member.name, member.linkname)
    else:
        writer.skip(member.name, "device node or FIFO; not unpacked")


def extract_rpm(path: str, dest: str | os.PathLike[str]) -> ExtractResult:
    import rpmfile

    writer = SafeWriter(dest, path)
    try:
        with rpmfile.open(path) as rpm:
            # rpmfile masks the cpio mode to permission bits and drops directories; the header's
            # file modes still say what each member is (a device node must not become a file).
            modes = _rpm_file_modes(rpm.headers)
            for member in rpm.getmembers():
                mode = modes.get(member.name.lstrip("."), stat.S_IFLNK if member.issymlink else stat.S_IFREG)
                if stat.S_ISLNK(mode) or member.issymlink:
                    target = rpm.extractfile(member).read().decode("utf-8", "replace")
                    writer.add_symlink(member.name, target)
                elif stat.S_ISREG(mode):
                    writer.add_file(member.name, rpm.extractfile(member), member.mode)
                elif not stat.S_ISDIR(mode):
                    writer.skip(member.name, "device node or FIFO; not unpacked")
    except KmodError:
        raise
    except Exception as err:  # rpmfile raises at least six unrelated types on corrupt input
        raise KmodError(path, f"corrupt .rpm: {type(err).__name__}: {err}") from None
    return writer.result()


def _rpm_file_modes(headers: dict) -> dict[str, int]:
    from kmodtui.core.packages import _as_list as as_list

    basenames = as_list(headers.get("basenames"))
    dirnames = as_list(headers.get("dirnames"))
    dirindexes = as_list(headers.get("dirindexes"))
    modes = as_list(headers.get("filemodes"))
    result: dict[str, int] = {}
    for base, index, mode in zip(basenames, dirindexes, modes):
        if isinstance(index, int) and 0 <= index < len(dirnames):
            name = (dirnames[index] + base).decode("utf-8", "replace")
            result[name] = mode & 0xFFFF
    return result
