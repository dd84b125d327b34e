"""What a packaging mode is: the class every mode module makes its modes from, and what a mode is
given to plan with. A mode answers every question the rest of kmodtui has about it (which programs,
which sources, which steps, which artifacts, which words); nobody else compares its name."""

from __future__ import annotations

import glob
import os
import shutil
from dataclasses import dataclass, field

from kmodtui.core.build.inputs import (
    BuildRequest,
    HostFacts,
    ModuleSource,
    is_autotools_module_tree,
)
from kmodtui.core.build.modes._dkms import dkms_built_modules, dkms_src_dir
from kmodtui.core.build.step import BuildStep
from kmodtui.core.build.treekinds import built_module_folders
from kmodtui.core.model import Kernel
from kmodtui.core.trees import find

COMPRESSED_DIR = "modules"  # out/modules/: kbuild mode's modules compressed as the kernel's modules_install would


@dataclass(frozen=True)
class TreeCopy:
    """A folder the build works in, made fresh before it runs: a copy of `source` (without build
    leftovers), or empty when `source` is ""."""

    dest: str
    source: str = ""


@dataclass(frozen=True)
class FileWrite:
    """A file the build needs written before it runs (a spec, a marker), with its whole content."""

    path: str
    content: str


@dataclass
class Planning:
    """What a mode plans from, and what it asks to be put in place before its steps run. Planning
    writes nothing: trees, dirs and files are data until `plan.prepare_work` makes them."""

    request: BuildRequest
    source: ModuleSource
    host: HostFacts
    work_dir: str
    src_dir: str  # the copy that is built (kbuild writes objects next to the sources)
    out_dir: str
    version: str = ""
    trees: list[TreeCopy] = field(default_factory=list)
    dirs: list[str] = field(default_factory=list)
    files: list[FileWrite] = field(default_factory=list)

    @property
    def kernel(self) -> Kernel:
        return self.request.kernel

    @property
    def autotools(self) -> bool:
        return is_autotools_module_tree(self.source)

    def copy_tree(self, source: str, dest: str) -> None:
        self.trees.append(TreeCopy(dest, source))

    def make_dir(self, path: str) -> None:
        self.dirs.append(path)

    def write_file(self, path: str, content: str) -> None:
        self.files.append(FileWrite(path, content))


class Mode:
    """One packaging mode. A mode module makes one or more (rpm.py: rpm-generic and rpm-redhat) and
    lists them in MODES; the registry (this folder's __init__) finds them."""

    name: str = ""
    label: str = ""  # how the mode screen names it
    story: str = ""  # one paragraph for the mode screen: what it runs, what the result carries
    tree_story: str = ""  # the same, for an OpenZFS/Lustre-style tree built by its own build system
    rank: int = 100  # where it comes in lists (the mode screen, --help, a source's modes)
    programs: tuple[str, ...] = ()  # what it runs, for "needs ..." and the install command
    package_suffix: str = ""  # ".deb", ".rpm": it makes packages, checked as a package set
    spec_layout: str = ""  # rpm/<layout>/ of an autotools tree's own kmod specs (./configure --with-spec=)
    signs_before_packaging = False  # --sign signs each module before it goes into the package
    builds_dkms_conf_itself = False  # a dkms.conf source is built as dkms would, without dkms
    needs_kbuild_tools = True  # compiles with the kernel's kbuild tools (or in a chroot that has them)
    # its package depends on the packages kmodtui built of the modules it uses (plan.ask_host finds them);
    # rpm modes need not: their ksym() Requires name the symbols themselves
    depends_on_provider_packages = False

    @property
    def makes_packages(self) -> bool:
        return bool(self.package_suffix)

    @property
    def hook_installs_packages(self) -> bool:
        """The kernel hook installs its packages (dpkg, rpm), else the modules it built."""
        return self.makes_packages

    # ---- which sources ----------------------------------------------------------------------------

    def listed_for(self, source: ModuleSource) -> bool:
        """The source's own build supports this mode (`kmodtui source` lists it)."""
        return False

    def offered_for(self, source: ModuleSource) -> bool:
        """The mode screen offers it for this source."""
        return self.listed_for(source)

    def planned_for(self, source: ModuleSource) -> bool:
        """A build matrix builds this mode's cells for this source (else they are skipped, saying why)."""
        return self.listed_for(source)

    def claims(self, source: ModuleSource) -> bool:
        """This source is built this way whatever mode was asked (a source RPM is rebuilt)."""
        return False

    # ---- this host ---------------------------------------------------------------------------------

    def missing_programs(self) -> list[str]:
        """The programs this mode runs that are not on PATH."""
        return [program for program in self.programs if shutil.which(program) is None]

    def unavailable_here(self, source: ModuleSource) -> str:
        """Why this host cannot build `source` this way whatever is installed ("" when it can)."""
        return ""

    def ask_host(self, request: BuildRequest, source: ModuleSource) -> HostFacts:
        """What its plan needs to know about this host, asked before planning."""
        return HostFacts(unavailable=self.unavailable_here(source))

    # ---- the plan ----------------------------------------------------------------------------------

    def src_dir(self, work_dir: str, source: ModuleSource, request: BuildRequest) -> str:
        """Where the source's copy is built: for a dkms.conf source built without dkms, dkms's own
        layout (its commands name the folder from dkms's variables)."""
        if source.dkms is not None and self.builds_dkms_conf_itself:
            return dkms_src_dir(work_dir, source, request.version or "1.0")
        return os.path.join(work_dir, "src")

    def steps(self, planning: Planning) -> list[BuildStep]:
        raise NotImplementedError(self.name)

    def artifacts(self, work_dir: str, src_dir: str, out_dir: str, source: ModuleSource) -> list[str]:
        """What a build that succeeded made: its modules (as they would be installed), then its packages."""
        listed = dkms_built_modules(src_dir) if source.dkms is not None and self.builds_dkms_conf_itself else []
        if listed:
            # what dkms would install: the modules dkms.conf names (a Makefile may make more, xtables-addons' xt_asn)
            found = sorted(os.path.normpath(m) for m in listed if os.path.isfile(m))
        else:
            found = sorted(glob.glob(os.path.join(src_dir, "*.ko")))
        if is_autotools_module_tree(source):
            found += sorted(m for folder in built_module_folders(source) for m in find(os.path.join(src_dir, folder), "*.ko"))
        compressed = sorted(glob.glob(os.path.join(out_dir, COMPRESSED_DIR, "*.ko.*")))
        if compressed:  # what would be installed: the kernel's modules are compressed, so are these
            found = compressed
        if self.package_suffix:
            found += sorted(find(out_dir, f"*{self.package_suffix}"))
        return found

    def failure_logs(self, work_dir: str) -> list[tuple[str, str]]:
        """Logs of a failed build that hold what its own log only points to, each as (what it is, its
        path): the build's log gets them appended (dkms's make.log)."""
        return []

    # ---- words -------------------------------------------------------------------------------------

    def story_for(self, source: ModuleSource) -> str:
        return self.tree_story if self.tree_story and is_autotools_module_tree(source) else self.story
