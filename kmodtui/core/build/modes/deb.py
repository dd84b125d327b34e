"""deb mode: the modules kbuild mode makes, as a binary-module .deb (dkms 3 dropped `mkbmdeb`),
depending on the package that really owns the kernel."""

from __future__ import annotations

import os

from kmodtui.core.build.inputs import BuildRequest, HostFacts, ModuleSource
from kmodtui.core.build.modes._base import Planning
from kmodtui.core.build.modes._steps import (
    autotools_module_steps,
    built_modules,
    check_package_words,
    list_built_modules_step,
    module_build_steps,
    run_module,
    sign_steps,
)
from kmodtui.core.build.modes.kbuild import KbuildMode
from kmodtui.core.build.step import BuildStep
from kmodtui.core.model import Kernel
from kmodtui.core.packages.compressmod import suffix_for


class DebMode(KbuildMode):
    name = label = "deb"
    rank = 20
    programs = ("make", "gcc", "dpkg-deb")
    package_suffix = ".deb"
    signs_before_packaging = True
    story = ("kbuild, then a binary-module .deb: <name>-modules-<release>, modules in /lib/modules/<release>/updates, "
             "depmod in postinst. Its Depends names the package that really owns this kernel "
             "(never a guessed linux-image-<release>, the dkms mkbmdeb trap).")
    tree_story = ("./configure and the module build, then a binary-module .deb of every .ko it made, depending on the "
                  "package that really owns this kernel.")

    def ask_host(self, request: BuildRequest, source: ModuleSource) -> HostFacts:
        if request.deb_depends is not None:  # the request says what to depend on
            return HostFacts()
        from kmodtui.core.packages.debpack import kernel_package_owner

        return HostFacts(kernel_image_package=kernel_package_owner(request.kernel.release) or "")

    def steps(self, planning: Planning) -> list[BuildStep]:
        check_package_words(planning)
        if planning.autotools:
            steps = [*autotools_module_steps(planning), list_built_modules_step(planning)]
        else:
            steps = module_build_steps(planning)
        return [*steps, *sign_steps(planning), self.package_step(planning)]

    def package_step(self, planning: Planning) -> BuildStep:
        """kmodtui's binary-module .deb of what the build made, depending on the package that owns the kernel."""
        from kmodtui.core.packages import debpack

        request, kernel = planning.request, planning.kernel
        if request.deb_depends is not None:
            depends = request.deb_depends
        elif planning.host.kernel_image_package is not None:
            depends = planning.host.kernel_image_package
        else:
            raise ValueError("deb mode plans from the kernel image's package: ask_host first")
        compress = kernel.module_compression if suffix_for(kernel.module_compression) else ""
        return BuildStep("package", run_module(
            debpack, "--release", kernel.release, "--name", planning.source.name, "--version", planning.version,
            "--arch", kernel.arch or "amd64", "--depends", depends, "--out", planning.out_dir,
            "--compress", compress or "", "--modules-dir", debpack.modules_dir_for(kernel.release, _tree_dirs(kernel)),
            *built_modules(planning.source, planning.src_dir),
        ), planning.work_dir)


def _tree_dirs(kernel: Kernel) -> tuple[str, ...]:
    """Where the kernel's own module tree is, when it came from an unpacked root."""
    if not kernel.origin.startswith("root:"):
        return ()
    root = kernel.origin.removeprefix("root:")
    return tuple(d for d in (os.path.join(root, "usr", "lib", "modules", kernel.release),
                             os.path.join(root, "lib", "modules", kernel.release))
                 if os.path.isdir(d) and not os.path.islink(os.path.dirname(os.path.dirname(d))))


MODES = (DebMode(),)
