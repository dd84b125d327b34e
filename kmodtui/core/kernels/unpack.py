"""A kernel from headers packages: linux-headers .debs or a kernel-devel .rpm unpacked into a tree of
their own in kmodtui's cache (never outside it; one tree per set of packages given together), then
made buildable (Debian's arch half pointed at its -common half and at this host's kbuild tools).
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Sequence

from kmodtui.core.errors import KmodError
from kmodtui.core.kernels.discover import (
    _COMMON_INCLUDE,
    is_build_tree,
    kernel_from_build_dir,
)
from kmodtui.core.model import Kernel
from kmodtui.core.trees import remove_tree


def unpack_kernel_package(package: str, cache_dir: str) -> list[Kernel]:
    """One headers package on its own: a set of one (see unpack_kernel_packages)."""
    return unpack_kernel_packages([package], cache_dir)


def unpack_kernel_packages(packages: Sequence[str], cache_dir: str) -> list[Kernel]:
    """Unpack headers packages chosen together (a Debian -amd64 .deb and its -common .deb, a
    kernel-devel .rpm) into a tree of their own in kmodtui's cache, never outside it, and return the
    build trees it holds, in the order the packages were given.

    The tree is named by the sha256 of each package, sorted, so the same packages (in any order,
    under any file name) reuse it, and what one set unpacked never appears in another's: a package
    only listed cannot add a header to a tree built from others (kbuild searches a tree's
    arch/<arch>/include before its include/). It is written in a temporary folder, renamed into place
    only when whole, and reused only when its record, sealed beside what the packages unpacked (which
    they cannot reach), names exactly the same packages."""
    import fcntl

    named: dict[str, tuple[str, Identity]] = {}  # sha256 -> the package as given here, and its file's identity
    for package in packages:
        digest, identity = _package_digest(package)
        named.setdefault(digest, (package, identity))
    digests = sorted(named)
    key = hashlib.sha256("\n".join(digests).encode()).hexdigest()[:32]  # the record holds the full digests
    kernels_dir = os.path.join(cache_dir, "kernels")
    tree = os.path.join(kernels_dir, "trees", key)
    os.makedirs(os.path.dirname(tree), exist_ok=True)
    with open(os.path.join(kernels_dir, ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one writer in the kernels cache at a time
        _remove_leftovers(kernels_dir)
        record = _read_record(os.path.join(tree, RECORD), digests)
        if record is None:
            record = _unpack_set(named, digests, tree, cache_dir)
        root = os.path.join(tree, "root")
        make_buildable(root)  # a reused tree too: this host may have gained the kbuild tools it links to
    kernels: list[Kernel] = []
    seen: set[str] = set()
    for digest, (package, _identity) in named.items():
        trees = record[digest]
        for name in trees:
            path = os.path.join(root, name)
            if name not in seen and not os.path.islink(path) and is_build_tree(path):
                seen.add(name)
                kernels.append(kernel_from_build_dir(path, f"package:{os.path.basename(package)}", root))
        if not any(is_build_tree(os.path.join(root, t)) or t.endswith("-common") for t in trees):
            raise KmodError(package, "holds no kernel build tree (expected usr/src/linux-headers-* or usr/src/kernels/*)")
    return kernels


RECORD = "manifest.json"  # beside the unpack root <tree>/root, which the packages cannot leave
_TREE = re.compile(r"usr/src/(kernels/)?[^/]+")


Identity = tuple[int, int, int, int, int]


def _identity(st: os.stat_result) -> Identity:
    """A file's device, inode, size, mtime and ctime: any write changes the ctime."""
    return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns


def _package_digest(package: str) -> tuple[str, Identity]:
    """The package's sha256, and the identity of the file it was read from."""
    from kmodtui.core.compression import open_regular

    with open_regular(package) as f:
        try:
            digest = hashlib.file_digest(f, "sha256").hexdigest()
            st = os.fstat(f.fileno())
        except OSError as err:
            raise KmodError(package, err.strerror or str(err)) from None
    return digest, _identity(st)


def _unpack_set(named: dict[str, tuple[str, Identity]], digests: list[str], tree: str, cache_dir: str) -> dict[str, list[str]]:
    """Unpack every package (by digest, so the tree is the same whatever order they came in) into
    <tree>.partial-<pid>, make it buildable where it will be, seal its record, rename it into place.
    Anything going wrong removes the whole folder: no part of a set is ever left to be used."""
    import json

    from kmodtui.core.packages.archive import extract_package
    from kmodtui.core.packages.safewrite import cache_budget
    from kmodtui.core.paths import write_cache_file

    partial = f"{tree}.partial-{os.getpid()}"
    remove_tree(partial)
    try:
        root = os.path.join(partial, "root")
        os.makedirs(root)
        entries = []
        for digest in digests:
            package, identity = named[digest]
            _unchanged(package, identity)
            result = extract_package(package, root, cache_budget(cache_dir, package))
            _unchanged(package, identity)  # what was unpacked is what was hashed
            entries.append({"sha256": digest, "package": os.path.basename(package), "trees": sorted(result.trees)})
        make_buildable(root, as_root=os.path.join(tree, "root"))
        write_cache_file(os.path.join(partial, RECORD), json.dumps({"packages": entries}).encode())
        record = _read_record(os.path.join(partial, RECORD), digests)
        if record is None:
            raise KmodError(tree, "could not write the record of what was unpacked (disk full or read-only?)")
        if os.path.islink(tree):
            os.unlink(tree)
        elif os.path.lexists(tree):  # a tree of this name whose record is damaged or names other packages
            remove_tree(tree)
        os.rename(partial, tree)
    except BaseException:
        remove_tree(partial)
        raise
    return record


def _unchanged(package: str, identity: Identity) -> None:
    try:
        now = _identity(os.stat(package))
    except OSError as err:
        raise KmodError(package, err.strerror or str(err)) from None
    if now != identity:
        raise KmodError(package, "changed while kmodtui was reading it; give it again once it is complete")


def _read_record(path: str, digests: list[str]) -> dict[str, list[str]] | None:
    """sha256 -> the trees that package unpacked, when the sealed record at path is whole and names
    exactly these packages; None otherwise (the tree is then unpacked anew)."""
    import json

    from kmodtui.core.paths import read_cache_file

    blob = read_cache_file(path)
    if blob is None:
        return None
    try:
        entries = json.loads(bytes(blob))["packages"]
        record = {e["sha256"]: e["trees"] for e in entries} if isinstance(entries, list) else {}
    except (ValueError, KeyError, TypeError):
        return None
    if sorted(record) != digests or len(entries) != len(digests):
        return None
    for trees in record.values():
        if not isinstance(trees, list) or not all(isinstance(t, str) and _TREE.fullmatch(t) and ".." not in t
                                                  for t in trees):
            return None
    return record


def _remove_leftovers(kernels_dir: str) -> None:
    """Under the lock: folders half-written by a kmodtui that died, and the one shared root of
    earlier versions (kernels/root, kernels/unpacked), where any package listed may have left files."""

    for old in ("root", "unpacked"):
        remove_tree(os.path.join(kernels_dir, old))  # at any depth (an old tree may be 1,200 deep)
    trees = os.path.join(kernels_dir, "trees")
    for entry in os.listdir(trees):
        if ".partial-" in entry:
            remove_tree(os.path.join(trees, entry))


_KBUILD_LINK = re.compile(r"lib/(linux-kbuild-[0-9][0-9A-Za-z.+~]*)/")  # Debian 13+: 6.12.118+deb13


def kernel_from_headers(debs: Sequence[str], cache_dir: str, what: str) -> Kernel:
    """The build tree a kernel's headers packages make, unpacked together into a tree of their own
    (Debian's -amd64 and -common halves); `what` names the kernel in the error when they hold none."""
    kernels = unpack_kernel_packages(debs, cache_dir)
    if not kernels:
        raise KmodError(what, "its headers packages hold no kernel build tree")
    return kernels[0]


def make_buildable(root: str, as_root: str | None = None) -> None:
    """Debian's arch headers include their -common half by absolute path and reach kbuild's host
    tools through ../../lib/linux-kbuild-X.Y: inside an unpacked root, point the include at the
    unpacked -common tree and the kbuild link at this host's linux-kbuild of the same X.Y (its
    tools pick the right modpost by the target's ELF class, so this also serves cross builds).
    Every path is reached without following links (archive.open_dir), so a package's links can
    make it write nowhere but in its own real folders. `as_root` is where root will be once renamed
    into place (the include is written for that path)."""
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
                        _fix_common_include(as_root or root, root_fd, tree_fd)
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
