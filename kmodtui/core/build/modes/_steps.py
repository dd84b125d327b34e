"""Steps several modes share: compiling with kbuild (or as dkms.conf says), an autotools tree's
configure and module build, stripping, signing and compressing the modules. A step that runs kmodtui's own code
names the module it runs by the module itself (`run_module`), so the import-linter layers see it."""

from __future__ import annotations

import os
from types import ModuleType

from kmodtui.core import scriptnames
from kmodtui.core.build.inputs import BuildRequest, ModuleSource, is_autotools_module_tree
from kmodtui.core.build.modes._base import COMPRESSED_DIR, Planning
from kmodtui.core.build.modes._dkms import BUILT_LIST, UNSTRIPPED_LIST, dkms_conf_build_step
from kmodtui.core.build.step import BuildStep
from kmodtui.core.build.treekinds import built_module_folders
from kmodtui.core.errors import KmodError
from kmodtui.core.kernels.discover import kernel_source_dir
from kmodtui.core.model import Kernel
from kmodtui.core.packages.compressmod import suffix_for
from kmodtui.core.paths import self_argv

CROSS_COMPILE = {"arm64": "aarch64-linux-gnu-", "arm": "arm-linux-gnueabihf-", "riscv": "riscv64-linux-gnu-",
                 "powerpc": "powerpc64le-linux-gnu-", "s390": "s390x-linux-gnu-", "x86": ""}
HOST_KBUILD_ARCH = {"x86_64": "x86", "i686": "x86", "aarch64": "arm64", "armv7l": "arm", "ppc64le": "powerpc",
                    "s390x": "s390", "riscv64": "riscv"}


def run_module(module: ModuleType, *args: str) -> tuple[str, ...]:
    """The argv running one of kmodtui's modules as a build step (`python -I -m <module> ...`)."""
    return (*self_argv(module.__name__), *args)


def cross_arch(request: BuildRequest) -> str:
    """ARCH= for this build: as asked, or the kernel's own when it is not this host's (a cross build)."""
    if request.arch:
        return request.arch
    host = HOST_KBUILD_ARCH.get(os.uname().machine, "")
    kernel_arch = request.kernel.kbuild_arch
    return kernel_arch if kernel_arch and host and kernel_arch != host else ""


def require_build_tree(kernel: Kernel) -> None:
    if not kernel.build_dir or not os.path.isdir(kernel.build_dir):
        raise KmodError(kernel.build_dir or kernel.release, "this kernel has no build tree to compile against")


def kbuild_step(request: BuildRequest, src_dir: str) -> BuildStep:
    """make -C <build dir> M=<source> modules."""
    kernel = request.kernel
    require_build_tree(kernel)
    argv = ["make", "-C", kernel.build_dir, f"M={src_dir}"]
    if request.make_symvers:
        argv.append("KBUILD_EXTRA_SYMBOLS=" + " ".join(os.path.abspath(s) for s in request.make_symvers))
    arch = cross_arch(request)
    if arch:
        argv += [f"ARCH={arch}", f"CROSS_COMPILE={CROSS_COMPILE.get(arch, '')}"]
    argv.append("modules")
    return BuildStep("build", tuple(argv), src_dir)


def module_build_steps(planning: Planning) -> list[BuildStep]:
    """How the modules are compiled without dkms: for a source with a dkms.conf, as dkms would build it
    (its PRE_BUILD and MAKE run in the build's copy, as any build runs the project's Makefile); else
    plain kbuild (make -C <build dir> M=<source> modules)."""
    request, source, src_dir = planning.request, planning.source, planning.src_dir
    if source.dkms is None:
        return [kbuild_step(request, src_dir)]
    require_build_tree(request.kernel)
    arch = cross_arch(request)
    return [dkms_conf_build_step(request, source, src_dir, arch, CROSS_COMPILE.get(arch, ""))]


def check_package_words(planning: Planning) -> None:
    """The name and version go into the package's control file or spec that kmodtui writes."""
    source = planning.source
    scriptnames.check(scriptnames.PACKAGE, source.name, source.name_file or source.path)
    scriptnames.check(scriptnames.VERSION, planning.version, source.name_file or source.path)


def built_modules(source: ModuleSource, src_dir: str) -> list[str]:
    """The .ko files a build makes (an @FILE list for a dkms.conf source or an autotools tree: known
    once the build ran)."""
    if source.dkms is not None or is_autotools_module_tree(source):
        return ["@" + os.path.join(src_dir, BUILT_LIST)]
    return [os.path.join(src_dir, f"{m}.ko") for m in (source.modules or [source.name])]


def compress_steps(planning: Planning) -> list[BuildStep]:
    """For a kernel with CONFIG_MODULE_COMPRESS_*: the built modules compressed as its own are, into
    out/modules/ (kbuild leaves the plain .ko in the source copy, as it does)."""
    from kmodtui.core.packages import compressmod

    kind = planning.kernel.module_compression
    if not suffix_for(kind):
        return []
    modules = built_modules(planning.source, planning.src_dir)
    return [BuildStep("compress", run_module(compressmod, "--kind", str(kind), "--out",
                                             os.path.join(planning.out_dir, COMPRESSED_DIR), *modules),
                      planning.src_dir, shown=f"compress as the kernel does ({kind})")]


def package_ready_steps(planning: Planning) -> list[BuildStep]:
    """What a package build does to every built module before packaging it, in dkms 3's order: strip
    its debugging sections (strip_steps), then sign it (sign_steps; a signature appended before a strip
    would be cut off)."""
    return [*strip_steps(planning), *sign_steps(planning)]


def strip_steps(planning: Planning) -> list[BuildStep]:
    """`strip -g` on every built module, as dkms 3 does before signing (unless dkms.conf's STRIP[#] is
    no) and rpm's brp-strip does in a package: a distribution kernel's modules carry its DWARF, ten
    times their code. Confined like the build: strip reads what the source's build made."""
    from kmodtui.core.packages import stripmod

    keep = ("--keep", "@" + os.path.join(planning.src_dir, UNSTRIPPED_LIST)) if planning.source.dkms is not None else ()
    strip = CROSS_COMPILE.get(cross_arch(planning.request), "") + "strip"
    return [BuildStep("strip", run_module(stripmod, "--strip", strip, *keep,
                                          *built_modules(planning.source, planning.src_dir)),
                      planning.src_dir, shown="strip -g, as dkms does before it signs")]


def sign_steps(planning: Planning) -> list[BuildStep]:
    """--sign on a package build: every module signed (the kernel's sign-file, kmodtui's key pair)
    before it is packaged, so the .ko inside the .deb or .rpm is the signed one."""
    from kmodtui.core.build import signing

    if not planning.request.sign_modules:
        return []
    modules = built_modules(planning.source, planning.src_dir)
    return [BuildStep("sign", run_module(signing, "--build-dir", planning.kernel.build_dir, "--inside",
                                         planning.work_dir, *modules), planning.work_dir, outside=SIGN_OUTSIDE)]


SIGN_OUTSIDE = "signs with a key the build never sees"


# ---- an OpenZFS/Lustre-style tree, built by its own build system in the build's copy ---------------

def autotools_checks(planning: Planning) -> None:
    """What every mode needs of an autotools tree before planning its steps."""
    require_build_tree(planning.kernel)
    if planning.source.tree:  # a tree kmodtui knows by name runs its own autogen first when it has no configure
        return
    # the copy is made from the source as it is (configure is no build leftover)
    if not os.path.isfile(os.path.join(planning.source.path, "configure")):
        raise KmodError(planning.request.source, "has configure.ac but no configure script: run ./autogen.sh in it "
                                                 "first (it needs autoconf, automake and libtool)")


def configure_argv(kernel: Kernel) -> list[str]:
    """./configure for the kernel only (what zfs-dkms's PRE_BUILD runs), against the kernel's source
    half (Debian's -common tree) and its build half."""
    return ["sh", "./configure", "--with-config=kernel", f"--with-linux={kernel_source_dir(kernel.build_dir)}",
            f"--with-linux-obj={kernel.build_dir}"]


def collect_argv(src_dir: str, *args: str) -> tuple[str, ...]:
    from kmodtui.core.build import collect

    return run_module(collect, "--src", src_dir, *args)


def tree_module_steps(planning: Planning) -> list[BuildStep]:
    """A tree kmodtui knows by name (treekinds: Lustre): its autogen when it has no configure, its configure
    against this kernel with the options that build the kernel modules only and its providers' built
    trees (copied into the build's folder when it started: providers.attach_provider_trees), then its
    own make target for the modules."""
    from kmodtui.core.build import treekinds

    tree = treekinds.by_name(planning.source.tree)
    if tree is None:
        raise KmodError(planning.source.path, f"no tree kind {planning.source.tree!r}")
    if cross_arch(planning.request):
        raise KmodError(planning.source.path, f"a {tree.name} tree is built for this host's architecture only here")
    missing = treekinds.missing_requirements(tree)
    if missing:
        raise KmodError(planning.source.path, f"its autogen and configure need what this host lacks: {missing}")
    steps = []
    if not os.path.isfile(os.path.join(planning.source.path, "configure")):
        steps.append(BuildStep("autogen", tree.autogen, planning.src_dir))
    kernel = planning.kernel
    configure = ["sh", "./configure", f"--with-linux={kernel_source_dir(kernel.build_dir)}",
                 f"--with-linux-obj={kernel.build_dir}", *tree.configure]
    attached = dict(planning.request.attached_trees)
    for use in tree.providers:
        if use.name in attached:
            configure += [option.replace("{tree}", attached[use.name]) for option in use.configure]
    make = [*tree.make, f"-j{os.cpu_count() or 1}"]
    return steps + [BuildStep("configure", tuple(configure), planning.src_dir),
                    BuildStep("build", tuple(make), planning.src_dir)]


def autotools_module_steps(planning: Planning) -> list[BuildStep]:
    """./configure, then kbuild in module/ (what zfs-dkms's MAKE does), cross-building when asked."""
    autotools_checks(planning)
    if planning.source.tree:
        return tree_module_steps(planning)
    configure = configure_argv(planning.kernel)
    arch = cross_arch(planning.request)
    make = ["make", "-C", "module", f"-j{os.cpu_count() or 1}"]
    if arch:
        configure.append(f"--host={CROSS_COMPILE.get(arch, '').rstrip('-')}")
        make += [f"ARCH={arch}", f"CROSS_COMPILE={CROSS_COMPILE.get(arch, '')}"]
    return [BuildStep("configure", tuple(configure), planning.src_dir),
            BuildStep("build", tuple(make), planning.src_dir)]


def list_built_modules_step(planning: Planning) -> BuildStep:
    """After an autotools module build: the .ko files it made, listed where packaging reads them."""
    listed = os.path.join(planning.src_dir, BUILT_LIST)
    under = tuple(a for folder in built_module_folders(planning.source) for a in ("--under", folder)) \
        if planning.source.tree else ()
    return BuildStep("collect", collect_argv(planning.src_dir, "--list", listed, *under), planning.src_dir,
                     shown="list the modules the build made")
