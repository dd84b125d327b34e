"""Find kernel build trees (installed, inside another root, or unpacked from a headers package)."""

from __future__ import annotations

import functools
import glob
import os
import re

from kmodtui.core.errors import KmodError
from kmodtui.core.model import Kernel

# .config symbol -> (uname -m, ARCH=) ; checked in order, the first that is set wins.
_ARCHES = (
    ("CONFIG_X86_64", "x86_64", "x86"),
    ("CONFIG_X86_32", "i686", "x86"),
    ("CONFIG_ARM64", "aarch64", "arm64"),
    ("CONFIG_ARM", "armv7l", "arm"),
    ("CONFIG_PPC64", "ppc64le", "powerpc"),
    ("CONFIG_S390", "s390x", "s390"),
    ("CONFIG_RISCV", "riscv64", "riscv"),
    ("CONFIG_LOONGARCH", "loongarch64", "loongarch"),
    ("CONFIG_MIPS", "mips", "mips"),
)
_CONFIG_KEYS = {key for key, _, _ in _ARCHES} | {
    "CONFIG_MODVERSIONS",
    "CONFIG_MODULE_SIG",
    "CONFIG_MODULE_SIG_FORCE",
    "CONFIG_MODULE_COMPRESS",
    "CONFIG_MODULE_COMPRESS_NONE",
    "CONFIG_MODULE_COMPRESS_GZIP",
    "CONFIG_MODULE_COMPRESS_XZ",
    "CONFIG_MODULE_COMPRESS_ZSTD",
    "CONFIG_CC_VERSION_TEXT",
    "CONFIG_CPU_BIG_ENDIAN",
    "CONFIG_64BIT",
    "CONFIG_SMP",
    "CONFIG_PREEMPT",
    "CONFIG_PREEMPT_BUILD",
    "CONFIG_PREEMPT_RT",
    "CONFIG_MODULE_UNLOAD",
}

# Debian: 6.1.0-56-amd64 (an ABI number), and since trixie 6.12.117+deb13-amd64 or unstable's
# 7.2.13+deb14-amd64 (the upstream version and the release it is built for, no ABI number).
_DEBIAN_FLAVOR = re.compile(r"^\d+\.\d+(?:\.\d+)?(?:-\d+(?:\.\d+)*|\+deb\d+(?:u\d+)?)-(?P<flavor>[a-z][\w-]*)$")
_RPM_FLAVOR = re.compile(
    r"\.(?P<flavor>(?:el|fc|amzn|an|oe)\w*?\.(?:x86_64|aarch64|ppc64le|s390x|i686|noarch))(?P<variant>\+\w+)?$"
)
_LEADING_VERSION = re.compile(r"^\d+(?:\.\d+)+(?:[-.]\d+(?:\.\d+)*)?")
_COMMON_INCLUDE = re.compile(r"^include (/usr/src/(linux-headers-[^/\s]+-common))/Makefile$", re.M)
_UTS_RELEASE = re.compile(r'#define\s+UTS_RELEASE\s+"([^"]+)"')


def flavor_of(release: str) -> str:
    """`6.1.0-56-cloud-amd64` -> `cloud-amd64`; `6.12.117+deb13-amd64` -> `amd64`;
    `3.10.0-1160.el7.x86_64` -> `el7.x86_64`;
    `5.14.0-70.el9.x86_64+debug` -> `el9.x86_64+debug`; `2.4.18-14host108` -> `host108`."""
    if m := _DEBIAN_FLAVOR.match(release):
        return m.group("flavor")
    if m := _RPM_FLAVOR.search(release):
        return m.group("flavor") + (m.group("variant") or "")
    return _LEADING_VERSION.sub("", release).strip("-.+_")


def read_config(build_dir: str) -> dict[str, str] | None:
    """The few .config symbols kmodtui cares about; None when the tree has no .config."""
    path = os.path.join(build_dir, ".config")
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            lines = f.readlines()
    except OSError:
        return None
    config: dict[str, str] = {}
    for line in lines:
        if line.startswith("CONFIG_"):
            key, sep, value = line.rstrip("\n").partition("=")
            if sep and key in _CONFIG_KEYS:
                config[key] = value.strip('"')
    return config


def release_of(build_dir: str) -> str:
    """The real release: Debian's include/config/kernel.release says `6.1.192`, utsrelease.h the truth."""
    try:
        with open(os.path.join(build_dir, "include/generated/utsrelease.h"), encoding="utf-8") as f:
            if m := _UTS_RELEASE.search(f.read()):
                return m.group(1)
    except OSError:
        pass
    base = os.path.basename(os.path.normpath(build_dir))
    for prefix in ("linux-headers-", "linux-"):
        if base.startswith(prefix):
            return base[len(prefix) :]
    return base


def _compiler_command(build_dir: str, cc_text: str) -> str:
    # Debian's headers name the exact compiler in .kernelvariables: `CC = ... $(CROSS_COMPILE)gcc-12`.
    # From Debian 13 on, CROSS_COMPILE is always set (`override CROSS_COMPILE = x86_64-linux-gnu-`),
    # and unstable installs only that triplet-prefixed gcc-16; up to 12 it is set only when cross-building.
    try:
        with open(os.path.join(build_dir, ".kernelvariables"), encoding="utf-8") as f:
            lines = f.read().splitlines()
    except OSError:
        lines = []
    cross, depth = "", 0
    for line in lines:
        stripped = line.strip()
        if stripped.startswith(("ifneq", "ifeq", "ifdef", "ifndef")):
            depth += 1
        elif stripped == "endif":
            depth = max(0, depth - 1)
        elif depth == 0 and stripped.startswith("override CROSS_COMPILE") and "=" in stripped:
            cross = stripped.split("=", 1)[1].strip()
    for line in lines:
        if line.startswith("CC ") and "=" in line:
            word = line.split("=", 1)[1].split()[-1]
            return word.replace("$(CROSS_COMPILE)", cross if "$" not in cross else "")
    if "clang" in cc_text:
        return "clang"
    return cc_text.split(" ", 1)[0] if cc_text else "gcc"


@functools.lru_cache(maxsize=16)
def host_compiler_version(command: str) -> str:
    """First line of `<command> --version`, or "" when it is not installed here."""
    import shutil
    import subprocess  # here: `resolve` on a symvers file never runs a compiler, and start-up counts

    exe = shutil.which(command)
    if exe is None:
        return ""
    try:
        out = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=10,
                             env={**os.environ, "LC_ALL": "C"})
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return out.stdout.splitlines()[0].strip() if out.stdout else ""


def is_build_tree(path: str) -> bool:
    """A tree modules can be built or checked against; Debian's -common half has neither .config
    nor generated headers, so it is not one on its own."""
    if not os.path.isdir(path):
        return False
    return any(
        os.path.exists(os.path.join(path, name))
        for name in (".config", "include/generated/utsrelease.h", "Module.symvers")
    )


def kernel_from_build_dir(build_dir: str, origin: str = "installed", root: str = "/") -> Kernel:
    build_dir = os.path.normpath(build_dir)
    if not os.path.isdir(build_dir):
        raise KmodError(build_dir, "no such kernel build directory")
    release = release_of(build_dir)
    config = read_config(build_dir)
    notes: list[str] = []
    arch, kbuild_arch = "", ""
    if config is None:
        notes.append("no .config: configuration flags unknown")
        config = {}
    for key, uname, karch in _ARCHES:
        if config.get(key) == "y":
            arch, kbuild_arch = uname, karch
            if karch == "powerpc" and config.get("CONFIG_CPU_BIG_ENDIAN") == "y":
                arch = "ppc64"
            break
    if not arch:
        arch, kbuild_arch = _arch_from_release_or_tree(release, build_dir)

    def flag(key: str) -> bool | None:
        if not config:
            return None
        return config.get(key) == "y"

    compression: str | None = None
    if config:
        compression = "none"
        for kind in ("GZIP", "XZ", "ZSTD"):
            if config.get(f"CONFIG_MODULE_COMPRESS_{kind}") == "y":
                compression = kind.lower()
    makefile_text = ""
    try:
        with open(os.path.join(build_dir, "Makefile"), encoding="utf-8", errors="replace") as f:
            makefile_text = f.read(4096)
    except OSError:
        pass
    common = _COMMON_INCLUDE.search(makefile_text)
    if common and not os.path.isdir(common.group(1)):
        notes.append(f"to build against it, unpack it together with {common.group(2)} "
                     "(kmodtui kernels --from this .deb --from that one's .deb)")
    scripts = os.path.join(build_dir, "scripts")
    if os.path.islink(scripts) and not os.path.isdir(scripts):
        # Debian's headers reach kbuild's host tools (fixdep, modpost) through linux-kbuild-X.Y, built
        # for that release's C library: another release's kernel builds in that release's userland
        target = os.readlink(scripts)
        kbuild = next((part for part in target.split("/") if part.startswith("linux-kbuild-")), target)
        notes.append(f"its kbuild tools ({kbuild}) are not on this machine: build it where they are, e.g. in "
                     "a container or chroot of its own release (kmodtui matrix export gives each cell its "
                     "release's container)")
    symvers = _find_symvers(build_dir, release, root)
    if symvers is None:
        notes.append("no Module.symvers: symbol CRCs of this kernel are unknown")
    cc_text = config.get("CONFIG_CC_VERSION_TEXT", "")
    command = _compiler_command(build_dir, cc_text)
    return Kernel(
        release=release,
        arch=arch,
        kbuild_arch=kbuild_arch,
        flavor=flavor_of(release),
        build_dir=build_dir,
        symvers_path=symvers,
        modversions=flag("CONFIG_MODVERSIONS"),
        module_sig=flag("CONFIG_MODULE_SIG"),
        module_sig_force=flag("CONFIG_MODULE_SIG_FORCE"),
        module_compression=compression,
        compiler=cc_text,
        compiler_command=command,
        host_compiler=host_compiler_version(command),
        origin=origin,
        notes=tuple(notes),
        vermagic_flags=vermagic_flags(config) if config else None,
    )


def vermagic_flags(config: dict[str, str]) -> tuple[str, ...]:
    """The words include/linux/vermagic.h puts after the release, for the options we read."""
    flags = []
    if config.get("CONFIG_SMP") == "y":
        flags.append("SMP")
    if config.get("CONFIG_PREEMPT_RT") == "y":
        flags.append("preempt_rt")
    elif config.get("CONFIG_PREEMPT_BUILD") == "y" or config.get("CONFIG_PREEMPT") == "y":
        flags.append("preempt")
    if config.get("CONFIG_MODULE_UNLOAD") == "y":
        flags.append("mod_unload")
    if config.get("CONFIG_MODVERSIONS") == "y":
        flags.append("modversions")
    return tuple(flags)


def _arch_from_release_or_tree(release: str, build_dir: str) -> tuple[str, str]:
    for uname, karch in (("x86_64", "x86"), ("aarch64", "arm64"), ("ppc64le", "powerpc"), ("s390x", "s390")):
        if release.endswith(uname):
            return uname, karch
    if release.endswith("-amd64"):
        return "x86_64", "x86"
    if release.endswith("-arm64"):
        return "aarch64", "arm64"
    arch_dirs = sorted(os.listdir(os.path.join(build_dir, "arch"))) if os.path.isdir(os.path.join(build_dir, "arch")) else []
    if len(arch_dirs) == 1:
        return "", arch_dirs[0]
    return "", ""


def _find_symvers(build_dir: str, release: str, root: str) -> str | None:
    for candidate in (
        os.path.join(build_dir, "Module.symvers"),
        os.path.join(root, "boot", f"symvers-{release}.gz"),  # EL <= 8
        os.path.join(root, "lib/modules", release, "symvers.gz"),  # EL9
        os.path.join(root, "usr/lib/modules", release, "symvers.gz"),
    ):
        if os.path.isfile(candidate):
            return candidate
    return None


def resolve_in_root(root: str, path: str, max_links: int = 40) -> str:
    """Follow symlinks as if `root` were `/`: absolute link targets are re-rooted under it."""
    root = os.path.abspath(root)
    pending = [p for p in path.split("/") if p]
    current = root
    for _ in range(max_links * 16):
        if not pending:
            return current
        part = pending.pop(0)
        if part == ".":
            continue
        if part == "..":
            current = os.path.dirname(current) if current != root else root
            continue
        candidate = os.path.join(current, part)
        if os.path.islink(candidate):
            max_links -= 1
            if max_links < 0:
                break
            target = os.readlink(candidate)
            if target.startswith("/"):
                current = root
            pending = [p for p in target.split("/") if p] + pending
        else:
            current = candidate
    raise KmodError(path, f"too many symbolic links inside {root}")


def discover_kernels(root: str = "/", origin: str | None = None) -> list[Kernel]:
    """Every build tree under root: Debian /usr/src/linux-headers-*, RHEL /usr/src/kernels/*,
    and whatever /lib/modules/*/build points at (resolved inside root)."""
    root = os.path.abspath(root)
    if origin is None:
        origin = "installed" if root == "/" else f"root:{root}"
    candidates: list[str] = []
    candidates += sorted(glob.glob(os.path.join(root, "usr/src/linux-headers-*")))
    candidates += sorted(glob.glob(os.path.join(root, "usr/src/kernels/*")))
    for modules_dir in ("lib/modules", "usr/lib/modules"):
        for rel in sorted(glob.glob(os.path.join(root, modules_dir, "*"))):
            build = os.path.join(rel, "build")
            if os.path.lexists(build):
                try:
                    candidates.append(resolve_in_root(root, os.path.relpath(build, root)))
                except KmodError:
                    continue
    seen: set[str] = set()
    kernels: list[Kernel] = []
    for candidate in candidates:
        real = os.path.realpath(candidate)
        if real in seen or not is_build_tree(candidate):
            continue
        seen.add(real)
        try:
            kernels.append(kernel_from_build_dir(candidate, origin, root))
        except KmodError:
            continue
    kernels.sort(key=lambda k: (_version_key(k.release), k.flavor), reverse=True)
    return kernels


def _version_key(release: str) -> tuple[int, ...]:
    return tuple(int(n) for n in re.findall(r"\d+", release)[:6])


_INCLUDE_LINE = re.compile(r"^include (\S+)/Makefile\s*$", re.M)


def kernel_source_dir(build_dir: str) -> str:
    """The kernel's source half for configure scripts that ask for it (--with-linux): Debian splits
    headers into an arch half whose Makefile includes the -common half; elsewhere they are one tree."""
    try:
        with open(os.path.join(build_dir, "Makefile"), encoding="utf-8", errors="replace") as f:
            text = f.read(64 * 1024)
    except OSError:
        return build_dir
    match = _INCLUDE_LINE.search(text)
    if match and os.path.isdir(match.group(1)) and os.path.isfile(os.path.join(match.group(1), "Makefile")):
        return match.group(1)
    return build_dir


def find_kernel(spec: str, root: str = "/") -> Kernel:
    """A kernel named by release (as `kernels` lists it), by build dir, or by a symvers file."""
    if os.path.isdir(spec):
        return kernel_from_build_dir(spec, "installed" if root == "/" else f"root:{root}", root)
    # A release never holds a slash: a path to a file needs no look at the installed kernels.
    if "/" not in spec:
        for kernel in discover_kernels(root):
            if kernel.release == spec:
                return kernel
    if os.path.isfile(spec):
        return Kernel(
            release=os.path.basename(spec), arch="", kbuild_arch="", flavor="", build_dir="",
            symvers_path=spec, modversions=None, module_sig=None, module_sig_force=None,
            module_compression=None, compiler="", compiler_command="", host_compiler="",
            origin="symvers", notes=("only a symvers file: no build tree",),
        )
    raise KmodError(spec, "no kernel build tree with this release, directory or symvers file (see `kmodtui kernels`)")
