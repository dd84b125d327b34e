"""Build plans: what a build runs, with which real tool, in a private work dir.

Three steps, each its own function: `ask_host` asks this host what the plan depends on (the package
owning the kernel image, RHEL's rpm macros, whether a chroot can be made); `plan_build` computes the
plan from the request, the source as read and those facts, as a value (argv, env, and the trees and
files to put in place), reading nothing it would write and running nothing; `prepare_work` puts
those in place. What each mode runs is the mode's own (kmodtui/core/build/modes/).
"""

from __future__ import annotations

import dataclasses
import glob
import os
import shutil
from dataclasses import dataclass

from kmodtui.core import scriptnames
from kmodtui.core.build import modes
from kmodtui.core.build.inputs import BuildRequest, HostFacts, ModuleSource
from kmodtui.core.build.modes import FileWrite, Planning, TreeCopy
from kmodtui.core.build.step import BuildStep
from kmodtui.core.errors import KmodError
from kmodtui.core.model import Kernel
from kmodtui.core.paths import self_argv
from kmodtui.core.trees import copy_tree, remove_tree

_IGNORE = shutil.ignore_patterns("*.o", "*.ko", "*.mod", "*.mod.c", ".*.cmd", "Module.symvers", "modules.order",
                                 ".tmp_versions", ".git")
INNER_STATE = "inner-state"  # a chroot build's own records, under the outer build's work dir


@dataclass(frozen=True)
class BuildDirs:
    """Where one build works: its folder, and in it the output folder and the log."""

    work: str

    @property
    def out(self) -> str:
        return os.path.join(self.work, "out")

    @property
    def log(self) -> str:
        return os.path.join(self.work, "build.log")


@dataclass(frozen=True)
class BuildPlan:
    request: BuildRequest
    source_info: ModuleSource
    work_dir: str
    src_dir: str  # the copy that is built (kbuild writes objects next to the sources)
    out_dir: str
    log_path: str
    steps: tuple[BuildStep, ...]
    mode: str = ""  # the mode that builds it (a source RPM is rebuilt in srpm mode whatever was asked)
    trees: tuple[TreeCopy, ...] = ()  # put in place by prepare_work, in this order
    dirs: tuple[str, ...] = ()
    files: tuple[FileWrite, ...] = ()
    in_chroot: bool = False  # built by the kmodtui of another release's chroot


def _kbuild_tools_elsewhere(kernel: Kernel) -> bool:
    """The kernel's scripts/ points at kbuild tools this machine does not have (Debian's
    linux-kbuild-X.Y of another release)."""
    scripts = os.path.join(kernel.build_dir, "scripts") if kernel.build_dir else ""
    return bool(scripts) and os.path.islink(scripts) and not os.path.isdir(scripts)


NOTHING_ASKED = HostFacts()


def ask_host(request: BuildRequest, source: ModuleSource) -> HostFacts:
    """What the plan for `request` needs to know about this host, asked now (it may read the package
    database or run rpm), so that plan_build itself runs nothing."""
    mode = modes.for_source(request.mode, source)
    if mode.needs_kbuild_tools and _kbuild_tools_elsewhere(request.kernel):
        if not request.kernel_spec.startswith("debian:"):
            return NOTHING_ASKED  # no build here: the plan says where to build it
        from kmodtui.core.build.chroot import can_chroot

        return HostFacts(chroot_unavailable=can_chroot())  # the chroot's own kmodtui asks its own host
    facts = mode.ask_host(request, source)
    if mode.depends_on_provider_packages:
        from kmodtui.core.build.providers import provider_packages

        relations, unpackaged = provider_packages(request)
        facts = dataclasses.replace(facts, provider_packages=tuple(relations), unpackaged_providers=tuple(unpackaged))
    return facts


def plan_build(request: BuildRequest, source: ModuleSource, dirs: BuildDirs,
               host: HostFacts = NOTHING_ASKED) -> BuildPlan:
    """The plan, as a value: the same request, source and host facts give the same plan, and making
    it writes nothing and runs nothing (prepare_work puts its trees and files in place)."""
    mode = modes.for_source(request.mode, source)
    if request.kernel.release:  # in make command lines, a package's maintainer scripts, a spec
        scriptnames.check(scriptnames.KERNEL_RELEASE, request.kernel.release,
                          request.kernel.build_dir or request.kernel_spec or request.kernel.release)
    src_dir = mode.src_dir(dirs.work, source, request)
    planning = Planning(request, source, host, dirs.work, src_dir, dirs.out)
    # the folder, or what a tarball or -dkms .deb unpacked to in the cache; a source RPM: an empty folder
    planning.copy_tree(source.path if os.path.isdir(source.path) else "", src_dir)
    planning.make_dir(dirs.out)
    if mode.needs_kbuild_tools and _kbuild_tools_elsewhere(request.kernel):
        kernel = request.kernel
        if request.kernel_spec.startswith("debian:"):
            if host.chroot_unavailable is None:
                raise ValueError("a build in a chroot plans from whether one can be made here: ask_host first")
            if not host.chroot_unavailable:
                return _plan(planning, mode, _chroot_steps(request, dirs.work), in_chroot=True)
        why = host.chroot_unavailable or ""
        raise KmodError(kernel.build_dir, f"its kbuild tools ({os.readlink(os.path.join(kernel.build_dir, 'scripts'))}) "
                                          "are not on this machine: build it in a container or chroot of its own release"
                                          + (f" ({why})" if why else " (build --kernel debian:<release> makes one)"))
    planning.version = request.version or source.version or "1.0"
    return _plan(planning, mode, tuple(mode.steps(planning)))


def _plan(planning: Planning, mode: modes.Mode, steps: tuple[BuildStep, ...], in_chroot: bool = False) -> BuildPlan:
    return BuildPlan(planning.request, planning.source, planning.work_dir, planning.src_dir, planning.out_dir,
                     os.path.join(planning.work_dir, "build.log"), steps, mode.name, tuple(planning.trees),
                     tuple(planning.dirs), tuple(planning.files), in_chroot)


def _chroot_steps(request: BuildRequest, work_dir: str) -> tuple[BuildStep, ...]:
    """Another Debian release's kernel: the build runs in a chroot of that release (its compiler and
    kbuild tools), made or updated by the first step; the chroot's kmodtui writes its record under
    this build's work dir, where find_artifacts reads what it made."""
    from kmodtui.core.build import chroot

    spec = request.kernel_spec
    parts = spec.split(":")
    chroot_argv = self_argv(chroot.__name__)
    prepare = [*chroot_argv, "prepare", parts[1]] + (["--arch", parts[2]] if len(parts) > 2 else [])
    build = [*chroot_argv, "build", parts[1], "--kernel", spec, "--source", request.source, "--mode", request.mode,
             "--state", os.path.join(work_dir, INNER_STATE)]
    for extra in request.make_symvers:
        build += ["--extra-symbols", extra]
    # debootstrap and chroot need root: these run outside, and the chroot's kmodtui confines the build's own
    # steps with the chroot's bwrap
    return (BuildStep("chroot", tuple(prepare), work_dir, shown=f"a {parts[1]} chroot (debootstrap, once)",
                      outside="debootstrap makes the release's root (root, Debian's archive)"),
            BuildStep("build", tuple(build), work_dir, shown=f"kmodtui in the {parts[1]} chroot: {request.mode} build",
                      outside="enters the chroot (root); the chroot's kmodtui confines the source's steps"))


def prepare_work(plan: BuildPlan) -> BuildPlan:
    """Put the plan's trees, folders and files in place (copies of the source without build
    leftovers, a spec, a marker), so its steps can run."""
    for tree in plan.trees:
        remove_tree(tree.dest)
        if tree.source:  # at any depth, links copied as links (kmodtui.core.trees)
            copy_tree(tree.source, tree.dest, ignore=_IGNORE)
        else:
            os.makedirs(tree.dest)
    for folder in plan.dirs:
        os.makedirs(folder, exist_ok=True)
    for item in plan.files:
        os.makedirs(os.path.dirname(item.path), exist_ok=True)
        with open(item.path, "w") as f:
            f.write(item.content)
    return plan


def planned(request: BuildRequest, work_dir: str) -> BuildPlan:
    """The whole way from a request to a work folder ready to run: the source read, the host asked,
    the plan made and put in place."""
    from kmodtui.core.build.sources import detect_source

    source = detect_source(request.source)
    return prepare_work(plan_build(request, source, BuildDirs(work_dir), ask_host(request, source)))


def find_artifacts(plan: BuildPlan) -> list[str]:
    """What the build made, where its mode puts it."""
    if plan.in_chroot:
        return _chroot_artifacts(plan.work_dir)
    mode = modes.get(plan.mode or plan.request.mode)
    return mode.artifacts(plan.work_dir, plan.src_dir, plan.out_dir, plan.source_info)


def _chroot_artifacts(work_dir: str) -> list[str]:
    from kmodtui.core.build.record import read_status

    found: list[str] = []
    for status in sorted(glob.glob(os.path.join(work_dir, INNER_STATE, "builds", "*", "status.json"))):
        found += [a for a in (read_status(os.path.dirname(status)) or {}).get("artifacts") or [] if isinstance(a, str)]
    return found

