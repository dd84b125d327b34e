"""The other out-of-tree modules a source uses (KBUILD_EXTRA_SYMBOLS, or the provider sources its
request records), and the packages kmodtui built from them: a package build's set is checked with them,
and a .deb of a consumer depends on them."""

from __future__ import annotations

import dataclasses
import glob
import os
import stat

from kmodtui.core.build import modes
from kmodtui.core.build import record as buildrecord
from kmodtui.core.build.inputs import BuildRequest
from kmodtui.core.build.request import load_request
from kmodtui.core.build.sources import extra_symbols_of
from kmodtui.core.errors import KmodError
from kmodtui.core.trees import find


def providers_for(request: BuildRequest) -> list[str]:
    """Other out-of-tree modules this source uses (KBUILD_EXTRA_SYMBOLS in the request or in the
    source's Kbuild/Makefile/dkms.conf): their module folders, and for a package build the packages
    kmodtui built from them (so the set is checked as rpm or apt would see it)."""
    out: list[str] = []
    recorded = [provider_build(s, request.kernel.release, request.mode) for s in request.providers]
    symvers_files = [symvers_of_build(r) for r in recorded if r]
    symvers_files += list(request.extra_symbols) + extra_symbols_of(request.source)
    built_as = modes.find(request.mode)
    symvers_files += named_provider_symvers(request, built_as.package_suffix if built_as is not None else "")
    for symvers in symvers_files:
        folder = os.path.dirname(os.path.abspath(symvers))
        if not os.path.isdir(folder):
            continue
        packages: list[str] = []
        work = _build_work_dir(folder)
        if built_as is not None and built_as.makes_packages and work:
            work = newest_rebuild(work)  # a remedy rebuilt the provider: its new packages are the ones to check
            kind = built_as.package_suffix
            packages = [p for p in sorted(find(os.path.join(work, "out"), f"*{kind}"))
                        if not p.endswith(".src.rpm")]
        for item in packages or [folder]:
            if item not in out:
                out.append(item)
    return out


def _build_work_dir(folder: str) -> str:
    """The build's work folder when `folder` is where a kmodtui build compiled (work/src, or
    work/dkms-layout/<name>/<version>/build for a dkms source); "" otherwise."""
    if folder.endswith(os.path.join("work", "src")):
        return os.path.dirname(folder)
    marker = os.sep + os.path.join("work", "dkms-layout") + os.sep
    if marker in folder + os.sep and folder.endswith(os.sep + "build"):
        return folder[: folder.index(marker)] + os.sep + "work"
    return ""


def newest_rebuild(work: str) -> str:
    """The work folder of the newest succeeded build made with the same request (source, kernel, mode)
    as the build whose work folder is `work`; `work` itself when there is none newer."""
    record = os.path.dirname(os.path.abspath(work))
    try:
        request = load_request(record)
    except KmodError:
        return work
    key = (request.source, request.kernel_spec, request.mode)
    for status in buildrecord.list_builds():  # newest first
        if os.path.abspath(status["dir"]) == record:
            break
        if status["state"] != buildrecord.SUCCEEDED:
            continue
        try:
            other = load_request(status["dir"])
        except KmodError:
            continue
        if (other.source, other.kernel_spec, other.mode) == key:
            return os.path.join(status["dir"], "work")
    return work


def provider_packages(request: BuildRequest) -> tuple[list[str], list[str]]:
    """The provider packages kmodtui built of the modules this source uses, as package-manager
    relations (`name (= version)`: the consumer was built against that very build's CRCs), and the
    provider folders with no such package (a .deb of the consumer cannot name what nobody packaged)."""
    from kmodtui.core.packages.read import read_package

    relations: list[str] = []
    unpackaged: list[str] = []
    built_as = modes.find(request.mode)
    suffix = built_as.package_suffix if built_as is not None else ""
    for item in providers_for(request):
        if os.path.isdir(item):
            unpackaged.append(item)
        elif suffix and item.endswith(suffix):
            package = read_package(item)
            relation = f"{package.name} (= {package.version})"
            if relation not in relations:
                relations.append(relation)
    return relations, unpackaged


_SYMVERS_IN_WORK = (("work", "src", "Module.symvers"),
                    ("work", "src", "module", "Module.symvers"),  # an autotools tree's kbuild build (OpenZFS)
                    ("work", "dkms-layout", "*", "*", "build", "Module.symvers"))
SYMVERS_LIMIT = 256 * 1024 * 1024  # bytes: a Module.symvers of every module of a distribution kernel is ~2 MiB


def symvers_of_build(record: str) -> str:
    """The Module.symvers a kmodtui build made (its copy of the source, or dkms's layout), or ""."""
    for parts in _SYMVERS_IN_WORK:
        found = sorted(glob.glob(os.path.join(record, *parts)))
        if found:
            return found[0]
    return ""


def provider_build(source: str, release: str, mode: str, exact: bool = False) -> str:
    """The record of the newest succeeded kmodtui build of the provider `source` for kernel `release`
    that made a Module.symvers: one in `mode` first, then one that made packages of the same kind (a
    package build's set needs the provider's packages: OpenZFS's rpm-generic kmod next to an rpm-redhat
    consumer), then (unless `exact`) one in any mode. "" when there is none."""
    source = os.path.abspath(source)
    wanted = modes.find(mode)
    suffix = wanted.package_suffix if wanted is not None and wanted.makes_packages else ""
    best, best_rank = "", 3
    for status in buildrecord.list_builds():  # newest first
        if status["state"] != buildrecord.SUCCEEDED or status.get("kernel") != release:
            continue
        if not isinstance(status.get("source"), str) or os.path.abspath(status["source"]) != source:
            continue
        if not symvers_of_build(status["dir"]):
            continue
        built_as = modes.find(str(status.get("mode") or ""))
        if status.get("mode") == mode:
            rank = 0
        elif suffix and built_as is not None and built_as.makes_packages and built_as.package_suffix == suffix:
            rank = 1
        else:
            rank = 2
        if rank < best_rank:
            best, best_rank = str(status["dir"]), rank
    return "" if exact and best_rank > 1 else best


def attach_providers(request: BuildRequest, work_dir: str) -> BuildRequest:
    """The request with its providers' Module.symvers for its kernel copied into its own work folder
    (the sandbox hides kmodtui's state, where the providers' builds are; and the copy is this build's,
    whatever is rebuilt later) and named on make's command line. A provider with no build for this
    kernel is one clear error: build it first (the kernel hook builds providers first)."""
    if not request.providers:
        return request
    attached: list[str] = []
    for index, source in enumerate(request.providers):
        record = provider_build(source, request.kernel.release, request.mode)
        if not record:
            raise KmodError(source, f"this provider has no succeeded build for {request.kernel.release} yet: "
                                    "build it first (the kernel hook builds providers first)")
        path = symvers_of_build(record)
        target = os.path.join(work_dir, "providers", str(index), "Module.symvers")
        os.makedirs(os.path.dirname(target), exist_ok=True)
        _copy_plain(path, os.path.join(record, "work"), target)
        attached.append(target)
    return dataclasses.replace(request, attached_symvers=tuple(attached))


def _copy_plain(path: str, work: str, target: str) -> None:
    """A provider's Module.symvers, made by a confined build: copied only as a plain file of bounded
    size inside that build's folder, never through a link the build may have left there."""
    inside = os.path.realpath(work) + os.sep
    if not os.path.realpath(path).startswith(inside):
        raise KmodError(path, "the provider's Module.symvers leads outside its build's folder (a link made by "
                              "the build?): refused")
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as err:
        raise KmodError(path, f"cannot read the provider's Module.symvers: {err.strerror}") from None
    with os.fdopen(fd, "rb") as f:
        info = os.fstat(f.fileno())
        if not stat.S_ISREG(info.st_mode) or info.st_size > SYMVERS_LIMIT:
            raise KmodError(path, "the provider's Module.symvers is not a plain file of a sane size")
        data = f.read(SYMVERS_LIMIT + 1)
    with open(target + ".part", "wb") as out:
        out.write(data[:SYMVERS_LIMIT])
    os.replace(target + ".part", target)


def source_of_build(record: str) -> str:
    """The source a kmodtui build was made from, as its stored request names it ("" if unreadable);
    read without looking its kernel up."""
    import json

    try:
        with open(os.path.join(record, "request.json"), encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, ValueError, RecursionError):
        return ""
    source = data.get("source") if isinstance(data, dict) else None
    return source if isinstance(source, str) and os.path.isdir(source) else ""


def recorded_providers(source: str) -> list[str]:
    """The provider sources the newest kmodtui build of `source` records in its request (a remedy put
    them there), providers of providers first: what the kernel hook builds before `source`."""
    import json

    def of(folder: str) -> list[str]:
        folder = os.path.abspath(folder)
        for status in buildrecord.list_builds():  # newest first
            if status.get("source") != folder:
                continue
            try:
                with open(os.path.join(status["dir"], "request.json"), encoding="utf-8") as f:
                    data = json.load(f)
            except (OSError, ValueError, RecursionError):
                continue
            found = data.get("providers") if isinstance(data, dict) else None
            return [p for p in found if isinstance(p, str) and os.path.isdir(p)] if isinstance(found, list) else []
        return []

    ordered: list[str] = []
    pending = [(p, 0) for p in reversed(of(source))]
    while pending:  # depth-first, bounded: a cycle or a deep chain stops at 16 levels
        provider, depth = pending.pop()
        if provider in ordered or os.path.abspath(provider) == os.path.abspath(source):
            continue
        deeper = [p for p in of(provider) if p not in ordered] if depth < 16 else []
        if deeper:
            pending.append((provider, depth + 1))
            pending += [(p, depth + 1) for p in reversed(deeper)]
            continue
        ordered.append(provider)
    return ordered


def provider_tree_dir(work_dir: str, name: str) -> str:
    return os.path.join(work_dir, "providers", name)


def build_of_named(name: str, release: str, suffix: str = "") -> str:
    """The newest succeeded kmodtui build for `release`, of a source named `name` (META Name: "zfs"),
    that made a Module.symvers (and, with `suffix`, packages of that kind: ".rpm"); "" when there is none."""
    from kmodtui.core.build.sources import detect_source

    names: dict[str, str] = {}
    for status in buildrecord.list_builds():  # newest first
        source = status.get("source")
        if status["state"] != buildrecord.SUCCEEDED or status.get("kernel") != release or not isinstance(source, str):
            continue
        if source not in names:
            try:
                names[source] = detect_source(source).name if os.path.isdir(source) else ""
            except KmodError:
                names[source] = ""
        if suffix and not any(str(a).endswith(suffix) for a in status.get("artifacts") or ()):
            continue
        if names[source] == name and symvers_of_build(status["dir"]) and \
                os.path.isdir(os.path.join(status["dir"], "work", "src")):
            return str(status["dir"])
    return ""


def named_provider_symvers(request: BuildRequest, suffix: str) -> list[str]:
    """For a tree kmodtui knows by name (Lustre): the Module.symvers of the provider builds its configure
    is given (OpenZFS's, found by name), a build that made packages of `suffix` first: their packages
    join a package build's set (Lustre's osd-zfs RPM is checked next to OpenZFS's kmod RPMs)."""
    from kmodtui.core.build import treekinds

    tree = treekinds.match(request.source) if os.path.isdir(request.source) else None
    found: list[str] = []
    for use in tree.providers if tree is not None else ():
        record = build_of_named(use.name, request.kernel.release, suffix) if suffix else ""
        record = record or build_of_named(use.name, request.kernel.release)
        if record:
            found.append(symvers_of_build(record))
    return found


def attach_provider_trees(request: BuildRequest, work_dir: str) -> BuildRequest:
    """A tree kmodtui knows by name (Lustre) is configured against its providers' built trees (OpenZFS's):
    the newest succeeded build of each for this kernel, found by the provider's name (no flag), copied
    into this build's folder without its objects (the sandbox hides kmodtui's state; the copy is this
    build's), with its Module.symvers at the top, where the tree's configure looks. A provider with no
    build for this kernel is left out: configure then searches on its own, and says what it found."""
    from kmodtui.core.build import treekinds
    from kmodtui.core.trees import copy_tree, remove_tree

    tree = treekinds.match(request.source) if os.path.isdir(request.source) else None
    if tree is None:
        return request
    attached: list[tuple[str, str]] = []
    for use in tree.providers:
        record = build_of_named(use.name, request.kernel.release)
        if not record:
            continue
        dest = provider_tree_dir(work_dir, use.name)
        remove_tree(dest)
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        copy_tree(os.path.join(record, "work", "src"), dest, ignore=_TREE_IGNORE)
        if use.symvers_at_top:
            _copy_plain(symvers_of_build(record), os.path.join(record, "work"), os.path.join(dest, "Module.symvers"))
        attached.append((use.name, dest))
    return dataclasses.replace(request, attached_trees=tuple(attached))


def _tree_ignore(folder: str, names: list[str]) -> list[str]:
    """A provider's built tree without its objects and modules (what the consumer's configure reads:
    headers, its config header, the sources it greps, Module.symvers)."""
    suffixes = (".o", ".ko", ".a", ".mod", ".mod.c", ".cmd", ".lo", ".la")
    return [n for n in names if n.endswith(suffixes) or n in (".git", ".libs", ".deps")]


_TREE_IGNORE = _tree_ignore
