"""Build plans: what each packaging mode runs, with which real tool, in a private work dir."""

from __future__ import annotations

import glob
import os
import shutil
from dataclasses import dataclass

from kmodtui.core import scriptnames
from kmodtui.core.build.request import BuildRequest
from kmodtui.core.build.runner import BuildStep
from kmodtui.core.build.sources import DKMS_MKCONF, KIND_AUTOTOOLS, KIND_KBUILD, ModuleSource, detect_source
from kmodtui.core.errors import KmodError
from kmodtui.core.kernels.discover import kernel_source_dir
from kmodtui.core.model import BUILD_MODES, Kernel
from kmodtui.core.packages.compressmod import suffix_for
from kmodtui.core.paths import self_argv
from kmodtui.core.trees import copy_tree, find, remove_tree

MODES = BUILD_MODES
CROSS_COMPILE = {"arm64": "aarch64-linux-gnu-", "arm": "arm-linux-gnueabihf-", "riscv": "riscv64-linux-gnu-",
                 "powerpc": "powerpc64le-linux-gnu-", "s390": "s390x-linux-gnu-", "x86": ""}
_IGNORE = shutil.ignore_patterns("*.o", "*.ko", "*.mod", "*.mod.c", ".*.cmd", "Module.symvers", "modules.order",
                                 ".tmp_versions", ".git")


@dataclass(frozen=True)
class BuildPlan:
    request: BuildRequest
    source_info: ModuleSource
    work_dir: str
    src_dir: str  # the copy that is built (kbuild writes objects next to the sources)
    out_dir: str
    log_path: str
    steps: tuple[BuildStep, ...]


HOST_KBUILD_ARCH = {"x86_64": "x86", "i686": "x86", "aarch64": "arm64", "armv7l": "arm", "ppc64le": "powerpc",
                    "s390x": "s390", "riscv64": "riscv"}


def cross_arch(request: BuildRequest) -> str:
    """ARCH= for this build: as asked, or the kernel's own when it is not this host's (a cross build)."""
    if request.arch:
        return request.arch
    host = HOST_KBUILD_ARCH.get(os.uname().machine, "")
    kernel_arch = request.kernel.kbuild_arch
    return kernel_arch if kernel_arch and host and kernel_arch != host else ""


def _kbuild_step(request: BuildRequest, src_dir: str) -> BuildStep:
    kernel = request.kernel
    if not kernel.build_dir or not os.path.isdir(kernel.build_dir):
        raise KmodError(kernel.build_dir or kernel.release, "this kernel has no build tree to compile against")
    argv = ["make", "-C", kernel.build_dir, f"M={src_dir}"]
    if request.extra_symbols:
        argv.append("KBUILD_EXTRA_SYMBOLS=" + " ".join(os.path.abspath(s) for s in request.extra_symbols))
    arch = cross_arch(request)
    if arch:
        argv += [f"ARCH={arch}", f"CROSS_COMPILE={CROSS_COMPILE.get(arch, '')}"]
    argv.append("modules")
    return BuildStep("build", tuple(argv), src_dir)


def dkms_variables(request: BuildRequest, source: ModuleSource, src_dir: str) -> dict[str, str]:
    """The variables dkms defines when it runs dkms.conf's commands (dkms 3.0's names)."""
    kernel = request.kernel
    # src_dir is <dkms_tree>/<module>/<module_version>/build (dkms_src_dir), as in dkms's own tree:
    # dkms.conf commands name it from these variables, and some `find` it (a symlink would not do)
    version_dir = os.path.dirname(src_dir)
    layout = os.path.dirname(os.path.dirname(version_dir))
    build_dir = kernel.build_dir or ""
    # dkms names the tree /lib/modules/<release>/build, and dkms.conf files derive from that name
    # (zfs-dkms: ${kernel_source_dir/%build/source}, the source half of Debian's split headers)
    standard = f"/lib/modules/{kernel.release}/build"
    if build_dir and os.path.realpath(standard) == os.path.realpath(build_dir):
        build_dir = standard
    return {"kernelver": kernel.release, "kernel_source_dir": build_dir, "arch": kernel.arch or "",
            "dkms_tree": layout, "source_tree": layout,
            "PACKAGE_NAME": os.path.basename(os.path.dirname(version_dir)),
            "PACKAGE_VERSION": os.path.basename(version_dir),
            "module": os.path.basename(os.path.dirname(version_dir)), "module_version": os.path.basename(version_dir)}


def dkms_src_dir(work_dir: str, source: ModuleSource, version: str) -> str:
    """Where a dkms source is built without dkms: dkms's own layout, under the build's folder."""
    def clean(word: str) -> str:
        return word.replace("/", "_").replace("..", "_") or "module"

    return os.path.join(work_dir, "dkms-layout", clean(source.name), clean(source.version or version), "build")


BUILT_LIST = ".kmodtui-built-modules"  # written by the dkms.conf build step: the .ko files dkms.conf names

# dkms 3.0's build, without dkms: source dkms.conf in bash with dkms's variables set, run PRE_BUILD
# from the build folder (its failure does not stop dkms either), then MAKE[0] (default: kbuild) as dkms
# runs it (make -jN KERNELRELEASE=<target> ...), and list where dkms.conf says the modules are.
_DKMS_BUILD = r"""
cd "$dkms_tree/$module/$module_version/build" || exit 1
# dkms 3.0's safe_source: source dkms.conf in a subshell, write each variable back out with echo
# (word splitting turns newlines into spaces) and source that (quotes in values are read as quoting)
conf_vars="PACKAGE_NAME PACKAGE_VERSION MAKE PRE_BUILD BUILT_MODULE_NAME BUILT_MODULE_LOCATION"
tmpfile=$(mktemp) || exit 1
( exec >"$tmpfile"
  . ./dkms.conf >/dev/null
  for _export_env in $conf_vars; do
      for _i in $(eval echo \${!$_export_env[@]}); do
          eval echo '$_export_env[$_i]=\"${'$_export_env'[$_i]}\"'
      done
  done )
unset $conf_vars
. "$tmpfile"
rm -f "$tmpfile"
if [ -n "${PRE_BUILD:-}" ]; then  # dkms's run_build_script
    run="$PWD/$PRE_BUILD"
    if [[ -x ${run%% *} ]]; then
        echo "Running the pre_build script: $PRE_BUILD"
        ( exec $run )
    else
        echo "kmodtui: the pre_build script is not executable: ${run%% *}"
    fi
fi
make_command="${MAKE[0]:-make -C $kernel_source_dir M=$dkms_tree/$module/$module_version/build}"
case "$make_command" in
    make|"make "*) make_command="make -j$KMODTUI_JOBS KERNELRELEASE=$kernelver${make_command#make}" ;;
esac
for i in "${!BUILT_MODULE_NAME[@]}"; do
    printf '%s/%s/%s.ko\n' "$KMODTUI_SRC" "${BUILT_MODULE_LOCATION[$i]:-.}" "${BUILT_MODULE_NAME[$i]}"
done > "$KMODTUI_BUILT_LIST"
echo "$make_command"
eval "$make_command"
"""


def _module_build_steps(request: BuildRequest, source: ModuleSource, src_dir: str) -> list[BuildStep]:
    """How the modules are compiled without dkms: for a source with a dkms.conf, as dkms would build it
    (_DKMS_BUILD: the project's own dkms.conf, PRE_BUILD and MAKE run in the build's copy, as any build
    runs the project's Makefile); else plain kbuild (make -C <build dir> M=<source> modules)."""
    if source.dkms is None:
        return [_kbuild_step(request, src_dir)]
    kernel = request.kernel
    if not kernel.build_dir or not os.path.isdir(kernel.build_dir):
        raise KmodError(kernel.build_dir or kernel.release, "this kernel has no build tree to compile against")
    variables = dkms_variables(request, source, src_dir)
    env = {**variables, "KMODTUI_JOBS": str(os.cpu_count() or 1),
           "KMODTUI_BUILT_LIST": os.path.join(src_dir, BUILT_LIST), "KMODTUI_SRC": src_dir}
    # what kmodtui adds to a plain kbuild command line goes through the environment here (make reads it)
    if request.extra_symbols:
        env["KBUILD_EXTRA_SYMBOLS"] = " ".join(os.path.abspath(s) for s in request.extra_symbols)
    arch = cross_arch(request)
    if arch:
        env.update(ARCH=arch, CROSS_COMPILE=CROSS_COMPILE.get(arch, ""))
    return [BuildStep("build", ("bash", "-c", _DKMS_BUILD, "kmodtui-dkms-build"), src_dir, tuple(env.items()),
                      shown="dkms.conf's PRE_BUILD and MAKE, as dkms 3 runs them (without dkms)")]


def dkms_built_modules(src_dir: str) -> list[str]:
    """The modules dkms.conf names, as the build step listed them (existing or not), in src_dir."""
    try:
        with open(os.path.join(src_dir, BUILT_LIST), encoding="utf-8", errors="replace") as f:
            listed = [os.path.normpath(line.strip()) for line in f if line.strip()]
    except OSError:
        return []
    root = os.path.normpath(src_dir) + os.sep
    return [path for path in listed if path.startswith(root)]  # only inside the build's copy


def plan_build(request: BuildRequest, work_dir: str) -> BuildPlan:
    if request.mode not in MODES:
        raise KmodError(request.mode, f"unknown build mode; choose one of {', '.join(MODES)}")
    source = detect_source(request.source)
    if request.kernel.release:  # in make command lines, a package's maintainer scripts, a spec
        scriptnames.check(scriptnames.KERNEL_RELEASE, request.kernel.release,
                          request.kernel.build_dir or request.kernel_spec or request.kernel.release)
    src_dir = os.path.join(work_dir, "src")
    if source.dkms is not None and request.mode in ("kbuild", "deb", "rpm-generic", "rpm-redhat") \
            and not is_autotools_module_tree(source):
        src_dir = dkms_src_dir(work_dir, source, request.version or "1.0")
    out_dir = os.path.join(work_dir, "out")
    remove_tree(src_dir)
    if os.path.isdir(source.path):  # the folder, or what a tarball or -dkms .deb unpacked to in the cache
        copy_tree(source.path, src_dir, ignore=_IGNORE)
    else:
        os.makedirs(src_dir)
    os.makedirs(out_dir, exist_ok=True)
    if request.mode == "srpm" or "srpm" in source.kinds:
        if "srpm" not in source.kinds:
            raise KmodError(request.source, "srpm mode needs a .src.rpm")
        step = _srpm_step(request, work_dir, out_dir)
        return BuildPlan(request, source, work_dir, src_dir, out_dir, os.path.join(work_dir, "build.log"), (step,))
    kernel = request.kernel
    scripts = os.path.join(kernel.build_dir, "scripts") if kernel.build_dir else ""
    if scripts and os.path.islink(scripts) and not os.path.isdir(scripts):
        from kmodtui.core.build.chroot import can_chroot

        why = can_chroot() if request.kernel_spec.startswith("debian:") else ""
        if request.kernel_spec.startswith("debian:") and not why:
            return _chroot_plan(request, source, work_dir, src_dir, out_dir)
        raise KmodError(kernel.build_dir, f"its kbuild tools ({os.readlink(scripts)}) are not on this machine: "
                                          "build it in a container or chroot of its own release"
                                          + (f" ({why})" if why else " (build --kernel debian:<release> makes one)"))
    version = request.version or source.version or "1.0"
    if request.mode in ("deb", "rpm-generic", "rpm-redhat"):  # kmodtui writes the package's control or spec
        scriptnames.check(scriptnames.PACKAGE, source.name, source.name_file or source.path)
        scriptnames.check(scriptnames.VERSION, version, source.name_file or source.path)
    steps: list[BuildStep] = []
    if is_autotools_module_tree(source):
        steps += _autotools_plan(request, source, work_dir, src_dir, out_dir, version)
    elif request.mode == "kbuild":
        steps += _module_build_steps(request, source, src_dir)
        steps += _compress_steps(request, source, src_dir, out_dir)
    elif request.mode == "deb":
        steps += _module_build_steps(request, source, src_dir)
        steps += _sign_steps(request, source, src_dir)
        steps.append(_deb_step(request, source, work_dir, src_dir, out_dir, version))
    elif request.mode == "dkms":
        if source.dkms is None:
            raise KmodError(request.source, "dkms mode needs a dkms.conf in the source")
        steps += _dkms_steps(request, source, work_dir, version)
    else:
        # a dkms.conf source builds as dkms builds it (its MAKE, its modules' locations), as in deb mode
        steps += _module_build_steps(request, source, src_dir) if source.dkms is not None else \
            [_kbuild_step(request, src_dir)]
        steps += _sign_steps(request, source, src_dir)
        steps.append(_rpm_step(request, source, work_dir, src_dir, out_dir, version))
    return BuildPlan(request, source, work_dir, src_dir, out_dir, os.path.join(work_dir, "build.log"), tuple(steps))


INNER_STATE = "inner-state"  # a chroot build's own records, under the outer build's work dir


def _chroot_plan(request: BuildRequest, source: ModuleSource, work_dir: str, src_dir: str, out_dir: str) -> BuildPlan:
    """Another Debian release's kernel: the build runs in a chroot of that release (its compiler and
    kbuild tools), made or updated by the first step; the chroot's kmodtui writes its record under
    this build's work dir, where find_artifacts reads what it made."""
    spec = request.kernel_spec
    parts = spec.split(":")
    chroot = self_argv("kmodtui.core.build.chroot")
    prepare = [*chroot, "prepare", parts[1]] + (["--arch", parts[2]] if len(parts) > 2 else [])
    build = [*chroot, "build", parts[1], "--kernel", spec, "--source", request.source, "--mode", request.mode,
             "--state", os.path.join(work_dir, INNER_STATE)]
    for extra in request.extra_symbols:
        build += ["--extra-symbols", extra]
    steps = (BuildStep("chroot", tuple(prepare), work_dir, shown=f"a {parts[1]} chroot (debootstrap, once)"),
             BuildStep("build", tuple(build), work_dir, shown=f"kmodtui in the {parts[1]} chroot: {request.mode} build"))
    return BuildPlan(request, source, work_dir, src_dir, out_dir, os.path.join(work_dir, "build.log"), steps)


def _chroot_artifacts(work_dir: str) -> list[str]:
    from kmodtui.core.build.record import read_status

    found: list[str] = []
    for status in sorted(glob.glob(os.path.join(work_dir, INNER_STATE, "builds", "*", "status.json"))):
        found += [a for a in (read_status(os.path.dirname(status)) or {}).get("artifacts") or [] if isinstance(a, str)]
    return found


def _deb_step(request: BuildRequest, source: ModuleSource, work_dir: str, src_dir: str, out_dir: str,
              version: str) -> BuildStep:
    """kmodtui's binary-module .deb of what the build made, depending on the package that owns the kernel."""
    from kmodtui.core.packages.debpack import kernel_package_owner, modules_dir_for

    kernel = request.kernel
    depends = request.deb_depends if request.deb_depends is not None else (kernel_package_owner(kernel.release) or "")
    compress = kernel.module_compression if suffix_for(kernel.module_compression) else ""
    return BuildStep("package", (
        *self_argv("kmodtui.core.packages.debpack"), "--release", kernel.release, "--name", source.name,
        "--version", version, "--arch", kernel.arch or "amd64", "--depends", depends, "--out", out_dir,
        "--compress", compress or "", "--modules-dir", modules_dir_for(kernel.release, _tree_dirs(kernel)),
        *_built_modules(source, src_dir),
    ), work_dir)


def _built_modules(source: ModuleSource, src_dir: str) -> list[str]:
    """The .ko files a build makes (an @FILE list for a dkms.conf source or an autotools tree: known
    once the build ran)."""
    if source.dkms is not None or is_autotools_module_tree(source):
        return ["@" + os.path.join(src_dir, BUILT_LIST)]
    return [os.path.join(src_dir, f"{m}.ko") for m in (source.modules or [source.name])]


def _tree_dirs(kernel: Kernel) -> tuple[str, ...]:
    """Where the kernel's own module tree is, when it came from an unpacked root."""
    if not kernel.origin.startswith("root:"):
        return ()
    root = kernel.origin.removeprefix("root:")
    return tuple(d for d in (os.path.join(root, "usr", "lib", "modules", kernel.release),
                             os.path.join(root, "lib", "modules", kernel.release))
                 if os.path.isdir(d) and not os.path.islink(os.path.dirname(os.path.dirname(d))))


COMPRESSED_DIR = "modules"  # out/modules/: kbuild mode's modules compressed as the kernel's modules_install would


def _compress_steps(request: BuildRequest, source: ModuleSource, src_dir: str, out_dir: str) -> list[BuildStep]:
    """For a kernel with CONFIG_MODULE_COMPRESS_*: the built modules compressed as its own are, into
    out/modules/ (kbuild leaves the plain .ko in the source copy, as it does)."""
    kind = request.kernel.module_compression
    if not suffix_for(kind):
        return []
    return [BuildStep("compress", (*self_argv("kmodtui.core.packages.compressmod"), "--kind", str(kind), "--out",
                                   os.path.join(out_dir, COMPRESSED_DIR), *_built_modules(source, src_dir)),
                      src_dir, shown=f"compress as the kernel does ({kind})")]


def _sign_steps(request: BuildRequest, source: ModuleSource, src_dir: str) -> list[BuildStep]:
    """--sign on a package build: every module signed (the kernel's sign-file, kmodtui's key pair)
    before it is packaged, so the .ko inside the .deb or .rpm is the signed one."""
    if not request.sign_modules:
        return []
    modules = _built_modules(source, src_dir)
    return [BuildStep("sign", (*self_argv("kmodtui.core.lifecycle.signing"), "--build-dir",
                               request.kernel.build_dir, *modules), src_dir)]


def is_autotools_module_tree(source: ModuleSource) -> bool:
    """An OpenZFS-style tree without a dkms.conf (a release tarball, a git checkout): its modules are
    built after ./configure, from module/. With a dkms.conf (zfs-dkms), dkms.conf says how to build."""
    return (KIND_AUTOTOOLS in source.kinds and KIND_KBUILD not in source.kinds and bool(source.modules)
            and source.dkms is None)


def _autotools_plan(request: BuildRequest, source: ModuleSource, work_dir: str, src_dir: str, out_dir: str,
                    version: str) -> list[BuildStep]:
    """An OpenZFS/Lustre-style tree, built by its own build system in the build's copy.
    kbuild: what zfs-dkms's PRE_BUILD and MAKE do, without dkms (./configure for the kernel only,
    against the kernel's source half, Debian's -common tree, and its build half; then kbuild in module/).
    deb: that, then kmodtui's binary-module .deb of the modules it made.
    rpm-generic / rpm-redhat: ./configure --with-spec=generic|redhat and the tree's own `make rpm-kmod`
    (its rpm/<spec>/*-kmod.spec.in with the kernel defines configure found), as OpenZFS documents it."""
    kernel = request.kernel
    if not kernel.build_dir or not os.path.isdir(kernel.build_dir):
        raise KmodError(kernel.build_dir or kernel.release, "this kernel has no build tree to compile against")
    if not os.path.isfile(os.path.join(src_dir, "configure")):
        raise KmodError(request.source, "has configure.ac but no configure script: run ./autogen.sh in it first "
                                        "(it needs autoconf, automake and libtool)")
    if request.mode == "dkms":
        if not os.path.isfile(os.path.join(src_dir, *DKMS_MKCONF)):
            raise KmodError(request.source, "dkms mode needs a dkms.conf, or the scripts/dkms.mkconf that makes one "
                                            "(OpenZFS's); this tree has neither")
        return _dkms_steps(request, source, work_dir, version)
    if request.mode not in ("kbuild", "deb", "rpm-generic", "rpm-redhat"):
        raise KmodError(request.source, f"an autotools module tree (OpenZFS style) builds in kbuild, deb, dkms and "
                                        f"rpm modes, not {request.mode}")
    configure = ["sh", "./configure", "--with-config=kernel", f"--with-linux={kernel_source_dir(kernel.build_dir)}",
                 f"--with-linux-obj={kernel.build_dir}"]
    arch = cross_arch(request)
    collect = (*self_argv("kmodtui.core.build.collect"), "--src", src_dir)
    if request.mode.startswith("rpm-"):
        spec_dir = request.mode.removeprefix("rpm-")
        if arch:
            raise KmodError(request.source, f"{request.mode} builds with the tree's own rpmbuild for this host's "
                                            f"architecture; cross-build it (--arch {arch}) in kbuild or deb mode")
        if not source.kmod_spec(spec_dir):
            raise KmodError(request.source, f"has no rpm/{spec_dir}/*-kmod.spec.in, so `./configure --with-spec="
                                            f"{spec_dir}` has no kmod spec to build")
        why = unavailable_here(source, request.mode)
        if why:
            raise KmodError(request.source, why)
        tmp = os.path.join(work_dir, "tmp")  # `make rpm-kmod` makes its rpmbuild tree with mktemp -t
        os.makedirs(tmp, exist_ok=True)
        return [BuildStep("configure", (*configure, f"--with-spec={spec_dir}"), src_dir),
                BuildStep("make rpm-kmod", ("make", "rpm-kmod"), src_dir, (("TMPDIR", tmp),)),
                BuildStep("collect", (*collect, "--out", out_dir), src_dir,
                          shown="collect the packages and the Module.symvers they carry")]
    make = ["make", "-C", "module", f"-j{os.cpu_count() or 1}"]
    if arch:
        configure.append(f"--host={CROSS_COMPILE.get(arch, '').rstrip('-')}")
        make += [f"ARCH={arch}", f"CROSS_COMPILE={CROSS_COMPILE.get(arch, '')}"]
    steps = [BuildStep("configure", tuple(configure), src_dir), BuildStep("build", tuple(make), src_dir)]
    if request.mode == "deb":
        listed = os.path.join(src_dir, BUILT_LIST)
        steps.append(BuildStep("collect", (*collect, "--list", listed), src_dir,
                               shown="list the modules the build made"))
        steps += _sign_steps(request, source, src_dir)
        steps.append(_deb_step(request, source, work_dir, src_dir, out_dir, version))
    return steps


def unavailable_here(source: ModuleSource, mode: str) -> str:
    """Why this host cannot build `source` in `mode` whatever is installed ("" when it can): an
    autotools tree's rpm/redhat spec needs RHEL's rpm macros. The plan refuses, the mode step says so."""
    if mode == "rpm-redhat" and is_autotools_module_tree(source):
        from kmodtui.core.build.tools import redhat_macros_missing

        return redhat_macros_missing()
    return ""


def _dkms_steps(request: BuildRequest, source: ModuleSource, work_dir: str, version: str) -> list[BuildStep]:
    """Real dkms 3 with private trees: nothing under /var/lib/dkms or /usr/src is touched."""
    trees = {name: os.path.join(work_dir, "dkms", name) for name in ("tree", "source", "install")}
    for tree in trees.values():
        os.makedirs(tree, exist_ok=True)
    source_copy = os.path.join(trees["source"], f"{source.name}-{version}")
    remove_tree(source_copy)
    copy_tree(source.path, source_copy, ignore=_IGNORE)
    common = ["dkms", "--dkmstree", trees["tree"], "--sourcetree", trees["source"], "--installtree", trees["install"]]
    mkconf: list[BuildStep] = []
    if source.dkms is None:  # a release tree: its own script writes the dkms.conf, as zfs-dkms's packaging does
        mkconf.append(BuildStep("dkms.mkconf", ("sh", os.path.join(*DKMS_MKCONF), "-n", source.name, "-v", version,
                                                "-f", "dkms.conf"), source_copy))
    suffix = suffix_for(request.kernel.module_compression)
    if suffix:
        # dkms compresses a built module when it finds *.ko<suffix> in the install tree's
        # <release>/ (in /lib/modules, the kernel's own); the private tree gets one empty marker
        kernel_tree = os.path.join(trees["install"], request.kernel.release, "kernel")
        os.makedirs(kernel_tree, exist_ok=True)
        open(os.path.join(kernel_tree, f"kmodtui-compression-marker.ko{suffix}"), "wb").close()
    # the tree by the name dkms itself gives it (/lib/modules/<release>/build) when that is where it
    # is: dkms.conf files derive paths from it (zfs-dkms: ${kernel_source_dir/%build/source})
    kernel_dir = dkms_variables(request, source, os.path.join(work_dir, "x", "y", "z", "build"))["kernel_source_dir"]
    build = [*common, "build", "-m", source.name, "-v", version, "-k", request.kernel.release,
             "--kernelsourcedir", kernel_dir]
    if request.arch:
        build += ["-a", request.arch]
    # dkms reads sign_file from the environment before its framework.conf; a path that does not
    # exist makes it skip signing (and skip creating a MOK key pair under /var/lib/dkms).
    env = () if request.sign else (("sign_file", "/nonexistent/kmodtui-no-signing"),)
    return [
        *mkconf,
        BuildStep("dkms add", (*common, "add", "-m", source.name, "-v", version), work_dir, env),
        BuildStep("dkms build", tuple(build), work_dir, env),
    ]


def _rpm_step(request: BuildRequest, source: ModuleSource, work_dir: str, src_dir: str, out_dir: str,
              version: str) -> BuildStep:
    """A kmod RPM of the built modules. rpm-generic: rpm's internal dependency generator (no ksym()
    Provides, like OpenZFS's generic spec); rpm-redhat: the ksyms dependencies RHEL's
    %kernel_module_package gives, produced by `kmodtui rpmdeps` so any host can build it."""
    release = request.kernel.release
    spec = os.path.join(work_dir, f"kmod-{source.name}.spec")
    generators = ""
    if request.mode == "rpm-redhat":
        symvers = request.kernel.symvers_path or release
        # rpm 6 writes v6 packages and refuses an external generator there ("External dependency
        # generator is incompatible with v6 packages"): v4 packages, as every RHEL kmod is; older rpm
        # ignores the macro
        generators = (
            "%global _rpmformat 4\n"
            "%global _use_internal_dependency_generator 0\n"
            f"%global __find_provides {_spec_words([*self_argv(), 'rpmdeps', '--provides'], spec)}\n"
            f"%global __find_requires {_spec_words([*self_argv(), 'rpmdeps', '--requires', '--kernel', symvers], spec)}\n"
        )
    modules = source.modules or [source.name]
    # Naming follows each style: RPM Fusion's kmodtool (generic) makes one package per kernel,
    # kmod-<name>-<release>; RHEL's %kernel_module_package makes kmod-<name> for %{kernel_version}.
    package = f"kmod-{source.name}-{release}" if request.mode == "rpm-generic" else f"kmod-{source.name}"
    if source.dkms is not None:  # the modules dkms.conf names, listed by the build step once it ran
        copies = (f"while read -r module; do install -m 0644 \"$module\" %{{buildroot}}/lib/modules/{release}/extra/; "
                  f"done < {_spec_words([os.path.join(src_dir, BUILT_LIST)], spec)}")
    else:  # module names from Kbuild (dkms.conf's may hold $PACKAGE_NAME: the build step expands them)
        scriptnames.check_all(scriptnames.MODULE, modules, source.name_file or source.path)
        copies = "\n".join(f"install -m 0644 {_spec_words([os.path.join(src_dir, m) + '.ko'], spec)} "
                            f"%{{buildroot}}/lib/modules/{release}/extra/" for m in modules)
    with open(spec, "w") as f:
        f.write(f"""{generators}%global debug_package %{{nil}}
%global __os_install_post %{{nil}}
Name: {package}
Version: {version}
Release: 1
Summary: {source.name} kernel modules for {release}
License: GPL
%description
{source.name} kernel modules built by kmodtui against {release} ({request.mode}).
%install
mkdir -p %{{buildroot}}/lib/modules/{release}/extra
{copies}
%files
/lib/modules/{release}/extra/*.ko
""")
    topdir = os.path.join(work_dir, "rpmbuild")
    return BuildStep("package", ("rpmbuild", "-bb", "--define", f"_topdir {topdir}", "--define", f"_rpmdir {out_dir}",
                                 "--define", "_build_id_links none", "--define", f"kernel_version {release}", spec), work_dir)


def _spec_words(words: list[str], spec: str) -> str:
    """Shell words in a spec's scriptlet or macro: quoted for sh, then % written %% for rpm."""
    return scriptnames.rpm_text(scriptnames.shell_words(words), spec, "a path")


def _srpm_step(request: BuildRequest, work_dir: str, out_dir: str) -> BuildStep:
    """Rebuild a kmod SRPM for this kernel without editing its spec: the defines both spec styles
    read (RHEL %kernel_module_package: kernel_version; kmodtool/generic: kernels; hand-written
    specs: ksrc/kobj), pointing at this kernel's build tree."""
    kernel = request.kernel
    defines = {
        "_topdir": os.path.join(work_dir, "rpmbuild"),
        "_rpmdir": out_dir,
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
    return BuildStep("rpmbuild --rebuild", (*argv, os.path.abspath(request.source)), work_dir)


def find_artifacts(plan: BuildPlan) -> list[str]:
    if plan.steps and plan.steps[0].phase == "chroot":
        return _chroot_artifacts(plan.work_dir)
    source = plan.source_info
    listed = dkms_built_modules(plan.src_dir) if source.dkms is not None else []
    if listed and plan.request.mode in ("kbuild", "deb", "rpm-generic", "rpm-redhat"):
        # what dkms would install: the modules dkms.conf names (a Makefile may make more, xtables-addons' xt_asn)
        found = sorted(os.path.normpath(m) for m in listed if os.path.isfile(m))
    else:
        found = sorted(glob.glob(os.path.join(plan.src_dir, "*.ko")))
    if is_autotools_module_tree(plan.source_info):
        found += sorted(find(os.path.join(plan.src_dir, "module"), "*.ko"))
    compressed = sorted(glob.glob(os.path.join(plan.out_dir, COMPRESSED_DIR, "*.ko.*")))
    if compressed:  # what would be installed: the kernel's modules are compressed, so are these
        found = compressed
    found += sorted(find(os.path.join(plan.work_dir, "dkms", "tree"), "*.ko*"))
    found += sorted(find(plan.out_dir, "*.deb"))
    found += sorted(find(plan.out_dir, "*.rpm"))
    return found
