"""kbuild mode: the modules, compiled against the kernel's build tree; nothing packaged."""

from __future__ import annotations

from kmodtui.core.build.inputs import KIND_AUTOTOOLS, KIND_DKMS, KIND_KBUILD, ModuleSource
from kmodtui.core.build.modes._base import Mode, Planning
from kmodtui.core.build.modes._steps import autotools_module_steps, compress_steps, module_build_steps
from kmodtui.core.build.step import BuildStep


def builds_modules(source: ModuleSource) -> bool:
    """A source whose modules kmodtui compiles: a Kbuild/Makefile with obj-m, a dkms.conf, or an
    autotools tree (OpenZFS) whose modules are known before configure."""
    return KIND_KBUILD in source.kinds or KIND_DKMS in source.kinds or (KIND_AUTOTOOLS in source.kinds
                                                                          and bool(source.modules))


class KbuildMode(Mode):
    """The modules only: a dkms.conf source builds as dkms builds it (without dkms), an autotools
    tree by its own configure and Makefiles."""

    name = label = "kbuild"
    rank = 10
    programs: tuple[str, ...] = ("make", "gcc")
    story = ("make -C <kernel build dir> M=<source> modules. Just the .ko files; the quickest way to see "
             "whether the module builds and resolves for this kernel.")
    tree_story = ("./configure --with-config=kernel against this kernel's headers, then kbuild in module/ (what the "
                  "tree's dkms.conf does). Just the .ko files.")
    builds_dkms_conf_itself = True

    def listed_for(self, source: ModuleSource) -> bool:
        return builds_modules(source)

    def steps(self, planning: Planning) -> list[BuildStep]:
        if planning.autotools:
            return autotools_module_steps(planning)
        return module_build_steps(planning) + compress_steps(planning)


MODES = (KbuildMode(),)
