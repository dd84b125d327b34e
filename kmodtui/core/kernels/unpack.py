"""A kernel from a headers package: a linux-headers .deb or kernel-devel .rpm unpacked into kmodtui's
cache (never outside it), then made buildable (Debian's arch half pointed at its -common half and at
this host's kbuild tools).
"""

from __future__ import annotations

import os
import re

from kmodtui.core.errors import KmodError
from kmodtui.core.kernels.discover import (
    _COMMON_INCLUDE,
    is_build_tree,
    kernel_from_build_dir,
)
from kmodtui.core.model import Kernel


def unpack_kernel_package(package: str, cache_dir: str) -> list[Kernel]:
    """Unpack a linux-headers .deb or kernel-devel .rpm into kmodtui's cache (never outside it) and
    return the build trees it holds. All packages share one root, so a Debian arch headers package
    and its -common package unpacked one after the other make a tree kbuild can build against.
    What each package unpacked is remembered outside that root (a package cannot forge it)."""
    import fcntl
    import hashlib
    import json

    from kmodtui.core.compression import open_regular
    from kmodtui.core.packages.archive import extract_package
    from kmodtui.core.packages.safewrite import cache_budget
    from kmodtui.core.paths import write_cache_file

    with open_regular(package) as f:
        try:
            digest = hashlib.file_digest(f, "sha256").hexdigest()[:16]
        except OSError as err:
            raise KmodError(package, err.strerror or str(err)) from None
    base = os.path.basename(package)
    kernels_dir = os.path.join(cache_dir, "kernels")
    root = os.path.join(kernels_dir, "root")
    marker = os.path.join(kernels_dir, "unpacked", f"{digest}.json")
    os.makedirs(root, exist_ok=True)
    with open(os.path.join(kernels_dir, ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one unpack into the shared root at a time
        trees = _read_marker(marker)
        if trees is None:
            result = extract_package(package, root, cache_budget(cache_dir, package))
            trees = list(result.trees)
            write_cache_file(marker, json.dumps({"package": base, "trees": trees}).encode())
        make_buildable(root)
    kernels = []
    for tree in trees:
        path = os.path.join(root, tree)
        if not os.path.islink(path) and is_build_tree(path):
            kernels.append(kernel_from_build_dir(path, f"package:{base}", root))
    if not kernels and not any(t.endswith("-common") for t in trees):
        raise KmodError(package, "holds no kernel build tree (expected usr/src/linux-headers-* or usr/src/kernels/*)")
    return kernels


_TREE = re.compile(r"usr/src/(kernels/)?[^/]+")


def _read_marker(path: str) -> list[str] | None:
    import json

    from kmodtui.core.paths import read_cache_file

    blob = read_cache_file(path)
    try:
        trees = json.loads(bytes(blob))["trees"] if blob is not None else None
    except (ValueError, KeyError, TypeError):
        return None
    if not isinstance(trees, list) or not all(isinstance(t, str) and _TREE.fullmatch(t) and ".." not in t for t in trees):
        return None
    return trees




_KBUILD_LINK = re.compile(r"lib/(linux-kbuild-[0-9][0-9A-Za-z.+~]*)/")  # Debian 13+: 6.12.118+deb13


def kernel_from_headers(debs: list[str] | tuple[str, ...], cache_dir: str, what: str) -> Kernel:
    """The build tree a kernel's headers packages make, unpacked in order into one root (Debian's
    -common half first); `what` names the kernel in the error when they hold none."""
    kernels: list[Kernel] = []
    for deb in debs:
        kernels = unpack_kernel_package(deb, cache_dir) or kernels
    if not kernels:
        raise KmodError(what, "its headers packages hold no kernel build tree")
    return kernels[0]


def make_buildable(root: str) -> None:
    """Debian's arch headers include their -common half by absolute path and reach kbuild's host
    tools through ../../lib/linux-kbuild-X.Y: inside an unpacked root, point the include at the
    unpacked -common tree and the kbuild link at this host's linux-kbuild of the same X.Y (its
    tools pick the right modpost by the target's ELF class, so this also serves cross builds).
    Every path is reached without following links (archive.open_dir), so a package's links can
    make it write nowhere but in its own real folders."""
    from kmodtui.core.packages.beneath import DIR_FLAGS, Through, open_dir

    root_fd = os.open(root, DIR_FLAGS)
    try:
        try:
            src_fd = open_dir(root_fd, ["usr", "src"])
        except (Through, OSError):
            return
        try:
            for entry in sorted(os.listdir(src_fd)):
                try:
                    tree_fd = os.open(entry, DIR_FLAGS, dir_fd=src_fd)  # a link is not followed
                except OSError:
                    continue
                try:
                    if entry.startswith("linux-headers-"):
                        _fix_common_include(root, root_fd, tree_fd)
                    _link_host_kbuild(root_fd, tree_fd)
                finally:
                    os.close(tree_fd)
        finally:
            os.close(src_fd)
    finally:
        os.close(root_fd)


def _fix_common_include(root: str, root_fd: int, tree_fd: int) -> None:
    import stat

    from kmodtui.core.packages.beneath import Through, open_dir

    try:
        fd = os.open("Makefile", os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=tree_fd)
    except OSError:
        return
    if not stat.S_ISREG(os.fstat(fd).st_mode):  # a folder or FIFO named Makefile: not ours to touch
        os.close(fd)
        return
    with os.fdopen(fd, "rb") as f:
        text = f.read(1024 * 1024).decode("utf-8", "replace")
    match = _COMMON_INCLUDE.search(text)
    if not match:
        return
    try:
        os.close(open_dir(root_fd, match.group(1).lstrip("/").split("/")))  # a real folder, no link on the way
    except (Through, OSError):
        return
    fixed = text.replace(f"include {match.group(1)}/Makefile",
                         f"include {os.path.join(root, match.group(1).lstrip('/'))}/Makefile")
    tmp = ".Makefile.kmodtui.tmp"
    try:
        os.unlink(tmp, dir_fd=tree_fd)
    except FileNotFoundError:
        pass
    out = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644, dir_fd=tree_fd)
    with os.fdopen(out, "w", encoding="utf-8") as f:
        f.write(fixed)
    os.replace(tmp, "Makefile", src_dir_fd=tree_fd, dst_dir_fd=tree_fd)


def _link_host_kbuild(root_fd: int, tree_fd: int) -> None:
    from kmodtui.core.packages.beneath import Through, open_dir

    for name in ("scripts", "tools"):
        try:
            target = os.readlink(name, dir_fd=tree_fd)
        except OSError:
            continue
        kbuild = _KBUILD_LINK.search(target)
        if kbuild is None or not os.path.isdir(os.path.join("/usr/lib", kbuild.group(1))):
            continue
        host = os.path.join("/usr/lib", kbuild.group(1))
        try:
            lib_fd = open_dir(root_fd, ["usr", "lib"], create=True)
        except (Through, OSError):
            continue
        try:
            os.symlink(host, kbuild.group(1), dir_fd=lib_fd)
        except FileExistsError:
            pass
        finally:
            os.close(lib_fd)
