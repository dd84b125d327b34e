"""Check what a build made, like with like: a kbuild or dkms build's modules against the kernel, a
package build's packages as a package set (rpm Requires/Provides, deb Depends) — the check a user
of rpm or apt would meet — with the other out-of-tree modules the source names as providers."""

from __future__ import annotations

import os
from dataclasses import dataclass

from kmodtui.core.build import modes
from kmodtui.core.build import record as buildrecord
from kmodtui.core.build.providers import providers_for
from kmodtui.core.build.request import BuildRequest, load_request
from kmodtui.core.errors import KmodError
from kmodtui.core.model import Kernel
from kmodtui.core.resolve.engine import resolve
from kmodtui.core.resolve.result import ResolveResult


def built_targets(mode: str, artifacts: list[str]) -> list[str]:
    """What to check: the packages of a package build (not source RPMs), else the modules."""
    built_as = modes.find(mode)
    if built_as is not None and built_as.makes_packages:
        packages = [a for a in artifacts if a.endswith((".rpm", ".deb")) and not a.endswith(".src.rpm")]
        if packages:
            return packages
    return [a for a in artifacts if a.endswith((".ko", ".ko.xz", ".ko.gz", ".ko.zst"))]


def record_of(path: str) -> str:
    """The kmodtui build record a file (a package it made) lives in, or ""."""
    root = os.path.abspath(buildrecord.builds_dir()) + os.sep
    path = os.path.abspath(path)
    if not path.startswith(root):
        return ""
    record = root + path[len(root):].split(os.sep, 1)[0]
    return record if os.path.isfile(os.path.join(record, "status.json")) else ""


def provider_spec_of(package: str) -> tuple[str, str]:
    """For a package a kmodtui build made from a tree that ships its own kmod spec (OpenZFS's
    rpm/generic/zfs-kmod.spec.in, built by `make rpm-kmod`): (that spec in the user's tree, the build's
    record). A remedy edits the spec there, and rebuilding the record regenerates the packages from it.
    ("", "") when the package did not come from such a build."""
    from kmodtui.core.build.sources import detect_source

    record = record_of(package)
    if not record:
        return "", ""
    try:
        request = load_request(record)
        layout = modes.get(request.mode).spec_layout  # the tree's rpm/<layout>/ spec the mode builds
        if not layout or not os.path.isdir(request.source):
            return "", ""
        source = detect_source(request.source)
    except KmodError:
        return "", ""
    spec = source.kmod_spec(layout)
    return (os.path.join(source.path, spec), record) if spec else ("", "")


def recheck(record_dir: str) -> tuple[BuildRequest, ResolveResult]:
    """The check of what the build in `record_dir` made (its stored request says how it was made)."""
    request = load_request(record_dir)
    targets = _built_by(record_dir, request.mode)
    if not targets:
        raise KmodError(record_dir, "this build made nothing to check (see its log)")
    return request, _checked(targets, request.kernel, providers_for(request), request.kernel_spec)


@dataclass(frozen=True)
class PackageSet:
    """A package set the user checked that is not one build's packages (`kmodtui resolve a.rpm --with
    b.rpm --tui`): what resolve was given, so that it is checked again after one of its providers is
    rebuilt."""

    targets: tuple[str, ...]
    providers: tuple[str, ...]
    kernel: Kernel | None


def recheck_set(package_set: PackageSet, old_record: str, new_record: str) -> ResolveResult:
    """The same package set checked again with the packages the build `old_record` made swapped for
    those its rebuild `new_record` made: the set the user sees is the set that is checked."""
    request = load_request(new_record)
    new = _built_by(new_record, request.mode)
    if not new:
        raise KmodError(new_record, "this build made nothing to check (see its log)")
    replaced = os.path.realpath(old_record) + os.sep

    def kept(paths: tuple[str, ...]) -> list[str]:
        return [p for p in paths if not os.path.realpath(p).startswith(replaced)]

    targets, providers = kept(package_set.targets), kept(package_set.providers)
    if len(targets) < len(package_set.targets) and len(providers) == len(package_set.providers):
        targets += new  # the rebuilt packages were among the targets, not the providers
    else:
        providers += new
    return _checked(targets, package_set.kernel, providers, "")


def _built_by(record_dir: str, mode: str) -> list[str]:
    status = buildrecord.read_status(record_dir) or {}
    return built_targets(mode, list(status.get("artifacts") or []))


def _checked(targets: list[str], kernel: Kernel | None, providers: list[str], kernel_spec: str) -> ResolveResult:
    installed = None
    if any(t.endswith(".deb") for t in targets) and os.path.exists("/var/lib/dpkg/status"):
        from kmodtui.core.packages.packageset import read_installed

        installed = read_installed("/var/lib/dpkg/status")
    result = resolve(targets, kernel, providers, installed=installed)
    if result.packages:  # and the package manager's own answer, in a scratch root (the screen shows its words)
        from kmodtui.core.resolve.asktool import ask_package_manager

        ask_package_manager(result, installed, kernel_spec)
    return result
