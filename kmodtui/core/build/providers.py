"""The other out-of-tree modules a source uses (KBUILD_EXTRA_SYMBOLS), and the packages kmodtui built
from them: a package build's set is checked with them, and a .deb of a consumer depends on them."""

from __future__ import annotations

import os

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
    symvers_files = list(request.extra_symbols) + extra_symbols_of(request.source)
    built_as = modes.find(request.mode)
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
