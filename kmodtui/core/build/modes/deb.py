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
    package_ready_steps,
    run_module,
)
from kmodtui.core.build.modes.kbuild import KbuildMode
from kmodtui.core.build.step import BuildStep
from kmodtui.core.errors import KmodError
from kmodtui.core.model import Kernel
from kmodtui.core.packages.compressmod import suffix_for


class DebMode(KbuildMode):
    name = label = "deb"
    rank = 20
    programs = ("make", "gcc", "dpkg-deb")
    package_suffix = ".deb"
    signs_before_packaging = True
    story = ("kbuild, then a binary-module .deb: <name>-modules-<release>, modules (stripped as dkms strips them) in "
             "/lib/modules/<release>/updates, "
             "depmod in postinst. Its Depends names the package that really ships this kernel, found here, in "
             "the kernel's root or in Debian's archive (never a guessed linux-image-<release>, the dkms mkbmdeb "
             "trap), and the packages kmodtui built of the modules it uses.")
    tree_story = ("./configure and the module build, then a binary-module .deb of every .ko it made, depending on the "
                  "package that really owns this kernel.")

    depends_on_provider_packages = True  # a consumer's .deb depends on its provider's package

    def ask_host(self, request: BuildRequest, source: ModuleSource) -> HostFacts:
        if request.deb_depends is not None:  # the request says what the kernel's package is
            return HostFacts()
        from kmodtui.core.kernels.kernelpkg import kernel_package

        found = kernel_package(request.kernel, request.kernel_spec)
        return HostFacts(kernel_image_package=found.depends if found else "", kernel_image_found=found.found if found else "")

    def steps(self, planning: Planning) -> list[BuildStep]:
        check_package_words(planning)
        if planning.autotools:
            steps = [*autotools_module_steps(planning), list_built_modules_step(planning)]
        else:
            steps = module_build_steps(planning)
        return [*steps, *package_ready_steps(planning), self.package_step(planning)]

    def package_step(self, planning: Planning) -> BuildStep:
        """kmodtui's binary-module .deb of what the build made, depending on the package that owns the kernel."""
        from kmodtui.core.packages import debpack

        request, kernel, host = planning.request, planning.kernel, planning.host
        if request.deb_depends is not None:
            kernel_package, found = request.deb_depends, "--deb-depends"
        elif host.kernel_image_package is not None:
            kernel_package, found = host.kernel_image_package, host.kernel_image_found
        else:
            raise ValueError("deb mode plans from the kernel image's package: ask_host first")
        if host.provider_packages is None:
            raise ValueError("deb mode plans from the provider modules' packages: ask_host first")
        if not kernel_package and request.deb_depends is None:
            raise KmodError(kernel.release, "no package ships this kernel's image here, in the kernel's root or in the "
                                            f"archive (linux-image-{kernel.release}, linux-binary-{kernel.release}): a "
                                            ".deb without the kernel's package in Depends installs on any kernel; name "
                                            "it with --deb-depends")
        depends = ", ".join(d for d in (kernel_package, *host.provider_packages) if d)
        notes = [f"the kernel's package: {kernel_package} ({found})" if kernel_package else
                 "the kernel's package: none (--deb-depends '')"]
        notes += [f"the provider's package: {p}" for p in host.provider_packages]
        notes += [f"no kmodtui deb build packaged the provider in {d}: the .deb cannot depend on its package"
                  for d in host.unpackaged_providers]
        compress = kernel.module_compression if suffix_for(kernel.module_compression) else ""
        return BuildStep("package", run_module(
            debpack, "--release", kernel.release, "--name", planning.source.name, "--version", planning.version,
            "--arch", kernel.arch or "amd64", "--depends", depends, "--out", planning.out_dir,
            "--compress", compress or "", *(a for note in notes for a in ("--note", note)), "--modules-dir", debpack.modules_dir_for(kernel.release, _tree_dirs(kernel)),
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
