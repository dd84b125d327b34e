"""What a build is planned from, as values: the request (what to build), the module source as it was
read, and the facts about this host asked before planning. Nothing here reads a file or runs a program:
`request.py` makes and stores requests, `sources.py` reads sources, `plan.py` asks the host
(`ask_host`) and plans."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from kmodtui.core.build.dkmsconf import DkmsConf
from kmodtui.core.model import Kernel

KIND_DKMS, KIND_KBUILD, KIND_AUTOTOOLS, KIND_SPEC, KIND_SRPM = "dkms", "kbuild", "autotools", "spec", "srpm"
DKMS_MKCONF = ("scripts", "dkms.mkconf")  # OpenZFS: writes the dkms.conf its dkms packages ship


@dataclass(frozen=True)
class BuildRequest:
    source: str
    kernel: Kernel
    mode: str = "kbuild"
    extra_symbols: tuple[str, ...] = ()  # Module.symvers of other out-of-tree modules (KBUILD_EXTRA_SYMBOLS)
    # the sources of the out-of-tree modules this one uses, recorded once: each build takes the Module.symvers
    # of their newest build for its own kernel (providers.attach_providers), a package build their packages
    providers: tuple[str, ...] = ()
    # their Module.symvers for this build's kernel, copied into its own folder when it starts (never stored:
    # the next kernel's build takes its own providers' builds)
    attached_symvers: tuple[str, ...] = ()
    # a tree kmodtui knows by name (treekinds): (name, folder) of the providers' built trees its configure
    # is pointed at, copied into this build's folder when it starts (never stored)
    attached_trees: tuple[tuple[str, str], ...] = ()
    arch: str = ""  # ARCH= for cross builds ("arm64"); "" builds for the kernel's own arch on this host
    deb_depends: str | None = None  # None: the package owning /boot/vmlinuz-<release> here, if any
    version: str = ""
    sign: bool = True  # dkms mode: let dkms sign with its MOK (it creates /var/lib/dkms/mok.key if missing)
    # deb and rpm modes: sign every module with kmodtui's key pair before it is packaged (the key the
    # TUI's s and `kmodtui sign` use; made on first use)
    sign_modules: bool = False
    timeout: float | None = None  # seconds; the build is stopped past it
    kernel_spec: str = ""  # how the kernel was named (release, build dir, headers package); stored
    # why this build runs unconfined ("--no-sandbox", "KMODTUI_NO_SANDBOX=<why>"); "" = confined (confine.py)
    no_sandbox: str = ""

    @property
    def make_symvers(self) -> tuple[str, ...]:
        """What make gets as KBUILD_EXTRA_SYMBOLS: the named Module.symvers and the providers' copies."""
        return self.extra_symbols + self.attached_symvers


@dataclass
class ModuleSource:
    path: str
    kinds: list[str] = field(default_factory=list)  # most specific first
    modules: list[str] = field(default_factory=list)  # module names (obj-m, BUILT_MODULE_NAME)
    name: str = ""
    name_file: str = ""  # the file the name was read from (dkms.conf, META, a spec, Kbuild), "" = the folder's name
    version: str = ""
    dkms: DkmsConf | None = None
    specs: dict[str, str] = field(default_factory=dict)  # spec path -> detected mode
    notes: list[str] = field(default_factory=list)
    linux_range: tuple[str, str] = ("", "")  # the kernels the source declares it supports (META), "" = open
    # the packaging modes the source's own build supports, in the registry's order (detect_source asks
    # each mode: kmodtui/core/build/modes/)
    modes: list[str] = field(default_factory=list)
    tree: str = ""  # a tree kmodtui knows by name (treekinds.TREES: "lustre"), "" = none
    # the modules that need another out-of-tree module's build, by its name ({"zfs": ["osd_zfs"]})
    needs: dict[str, list[str]] = field(default_factory=dict)

    def kmod_spec(self, layout: str) -> str:
        """The tree's own kmod spec for `./configure --with-spec=<layout>` (OpenZFS's
        rpm/generic/zfs-kmod.spec.in, what `make rpm-kmod` builds), relative to the tree; "" if none."""
        return next((p for p in self.specs if p.startswith(f"rpm/{layout}/") and "kmod" in os.path.basename(p)), "")


def is_autotools_module_tree(source: ModuleSource) -> bool:
    """An OpenZFS-style tree without a dkms.conf (a release tarball, a git checkout): its modules are
    built after ./configure, from module/. With a dkms.conf (zfs-dkms), dkms.conf says how to build."""
    return (KIND_AUTOTOOLS in source.kinds and KIND_KBUILD not in source.kinds and bool(source.modules)
            and source.dkms is None)


@dataclass(frozen=True)
class HostFacts:
    """What a plan needs to know about this host, asked before planning (`plan.ask_host`) so that
    planning itself reads no package database and runs nothing. None: not asked (the mode did not
    need it); a plan that needs a fact nobody asked raises ValueError."""

    # the kernel's own package(s), as a Depends entry ("a | b"), and where that was found ("" = nobody knows it)
    kernel_image_package: str | None = None
    kernel_image_found: str = ""
    # the packages kmodtui built of the modules the source uses, as relations ("name (= version)"), and the
    # provider folders nobody packaged
    provider_packages: tuple[str, ...] | None = None
    unpackaged_providers: tuple[str, ...] = ()
    unavailable: str | None = None  # why this host cannot build the mode whatever is installed ("" = it can)
    chroot_unavailable: str | None = None  # why no chroot of another release can be made here ("" = it can)
