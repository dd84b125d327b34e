"""srpm mode: a kmod source RPM rebuilt for the chosen kernel with its own spec (rpmbuild --rebuild),
whatever mode was asked: a source RPM is built no other way."""

from __future__ import annotations

import os

from kmodtui.core.build.inputs import KIND_SRPM, ModuleSource
from kmodtui.core.build.modes._base import Mode, Planning
from kmodtui.core.build.step import BuildStep
from kmodtui.core.errors import KmodError


class SrpmMode(Mode):
    name = label = "srpm"
    rank = 60
    programs = ("rpmbuild", "make", "gcc")
    package_suffix = ".rpm"
    needs_kbuild_tools = False  # rpmbuild runs the spec's own build, with the kernel's defines
    story = ("rpmbuild --rebuild of the kmod source RPM for this kernel (its own spec, with the kernel's "
             "defines), then the binary kmod RPMs it makes are checked as a package set.")

    @property
    def hook_installs_packages(self) -> bool:
        # as before the registry: the kernel hook installs an srpm build's modules (it has none, so the
        # hook says the build left nothing to install); rpm -U of its packages is not wired yet
        return False

    def claims(self, source: ModuleSource) -> bool:
        return KIND_SRPM in source.kinds

    def offered_for(self, source: ModuleSource) -> bool:
        return self.claims(source)

    def planned_for(self, source: ModuleSource) -> bool:
        return True

    def steps(self, planning: Planning) -> list[BuildStep]:
        """Rebuild a kmod SRPM for this kernel without editing its spec: the defines both spec styles
        read (RHEL %kernel_module_package: kernel_version; kmodtool/generic: kernels; hand-written
        specs: ksrc/kobj), pointing at this kernel's build tree."""
        request, kernel = planning.request, planning.kernel
        if not self.claims(planning.source):
            raise KmodError(request.source, "srpm mode needs a .src.rpm")
        defines = {
            "_topdir": os.path.join(planning.work_dir, "rpmbuild"),
            "_rpmdir": planning.out_dir,
            "_build_id_links": "none",
            "kernel_version": kernel.release,
            "kernels": kernel.release,
            "kverrel": kernel.release,
            "ksrc": kernel.build_dir,
            "kobj": kernel.build_dir,
        }
        argv = ["rpmbuild", "--rebuild"]
        for key, value in defines.items():
            argv += ["--define", f"{key} {value}"]
        return [BuildStep("rpmbuild --rebuild", (*argv, os.path.abspath(request.source)), planning.work_dir)]


MODES = (SrpmMode(),)
