"""A source with a dkms.conf built as dkms 3 builds it, without dkms (kbuild, deb and rpm modes): in
dkms's own layout under the build's folder, with dkms's variables, its PRE_BUILD and MAKE."""

from __future__ import annotations

import os

from kmodtui.core.build.inputs import BuildRequest, ModuleSource
from kmodtui.core.build.step import BuildStep

# the .ko files a dkms.conf build (and an autotools tree's module build) made, one per line
BUILT_LIST = ".kmodtui-built-modules"
# of those, the ones dkms.conf's STRIP[#] says dkms leaves unstripped, one per line
UNSTRIPPED_LIST = ".kmodtui-unstripped-modules"


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


# dkms 3.0's build, without dkms: source dkms.conf in bash with dkms's variables set, run PRE_BUILD
# from the build folder (its failure does not stop dkms either), then MAKE[0] (default: kbuild) as dkms
# runs it (make -jN KERNELRELEASE=<target> ...), and list where dkms.conf says the modules are.
_DKMS_BUILD = r"""
cd "$dkms_tree/$module/$module_version/build" || exit 1
# dkms 3.0's safe_source: source dkms.conf in a subshell, write each variable back out with echo
# (word splitting turns newlines into spaces) and source that (quotes in values are read as quoting)
conf_vars="PACKAGE_NAME PACKAGE_VERSION MAKE PRE_BUILD BUILT_MODULE_NAME BUILT_MODULE_LOCATION STRIP"
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
# each module dkms.conf names, and those dkms 3.0 leaves unstripped: its strip[] is STRIP[#] n* no,
# y* yes, empty: strip[0] (itself yes when empty), anything else unset (which strips)
strip_0=yes
case ${STRIP[0]:-} in [nN]*) strip_0=no ;; [yY]*|'') ;; *) strip_0="" ;; esac
: > "$KMODTUI_UNSTRIPPED_LIST"
for i in "${!BUILT_MODULE_NAME[@]}"; do
    printf -v built '%s/%s/%s.ko' "$KMODTUI_SRC" "${BUILT_MODULE_LOCATION[$i]:-.}" "${BUILT_MODULE_NAME[$i]}"
    printf '%s\n' "$built"
    case ${STRIP[$i]:-} in [nN]*) strip_i=no ;; [yY]*) strip_i=yes ;; '') strip_i=${strip_0:-yes} ;; *) strip_i="" ;; esac
    if [[ $strip_i == no ]]; then printf '%s\n' "$built" >> "$KMODTUI_UNSTRIPPED_LIST"; fi
done > "$KMODTUI_BUILT_LIST"
echo "$make_command"
eval "$make_command"
"""


def dkms_conf_build_step(request: BuildRequest, source: ModuleSource, src_dir: str, arch: str,
                         cross_compile: str) -> BuildStep:
    """dkms.conf's PRE_BUILD and MAKE in the build's copy (_DKMS_BUILD), with dkms's variables."""
    variables = dkms_variables(request, source, src_dir)
    env = {**variables, "KMODTUI_JOBS": str(os.cpu_count() or 1),
           "KMODTUI_BUILT_LIST": os.path.join(src_dir, BUILT_LIST),
           "KMODTUI_UNSTRIPPED_LIST": os.path.join(src_dir, UNSTRIPPED_LIST), "KMODTUI_SRC": src_dir}
    # what kmodtui adds to a plain kbuild command line goes through the environment here (make reads it)
    if request.make_symvers:
        env["KBUILD_EXTRA_SYMBOLS"] = " ".join(os.path.abspath(s) for s in request.make_symvers)
    if arch:
        env.update(ARCH=arch, CROSS_COMPILE=cross_compile)
    return BuildStep("build", ("bash", "-c", _DKMS_BUILD, "kmodtui-dkms-build"), src_dir, tuple(env.items()),
                     shown="dkms.conf's PRE_BUILD and MAKE, as dkms 3 runs them (without dkms)")


def dkms_built_modules(src_dir: str) -> list[str]:
    """The modules dkms.conf names, as the build step listed them (existing or not), in src_dir."""
    try:
        with open(os.path.join(src_dir, BUILT_LIST), encoding="utf-8", errors="replace") as f:
            listed = [os.path.normpath(line.strip()) for line in f if line.strip()]
    except OSError:
        return []
    root = os.path.normpath(src_dir) + os.sep
    return [path for path in listed if path.startswith(root)]  # only inside the build's copy
