"""What a line means when that depends on the match or on what earlier lines said: the `refine` of a
rule (rules.py) gets the match, the log's context and the line number, and returns the cause and
tier, or None when the line only feeds the context."""

from __future__ import annotations

import re

from kmodtui.core.diagnose.rule import HARMLESS, ROOT, WEAK, Context
from kmodtui.core.vocabulary import Cause


def _release(vermagic: str) -> str:
    return vermagic.strip().split(" ", 1)[0]


def vermagic(match: re.Match[str], ctx: Context, _n: int) -> tuple[Cause, str]:
    have, want = _release(match["have"]), _release(match["want"])
    if have == want:  # same release, other flags: SMP, preempt, the CPU architecture
        return Cause.VERMAGIC_MISMATCH, ROOT
    if want in ctx.module_paths:  # installed in the new kernel's tree, yet built for another one
        return Cause.HEADERS_WRONG_KERNEL, ROOT
    return Cause.STALE_MODULE, ROOT


CLANG_HINT = ("The kernel was built with clang (its headers' .config has CONFIG_CC_IS_CLANG=y) and gcc rejects "
              "its flags: build with the kernel's toolchain, `make LLVM=1` (clang, lld and llvm installed). dkms "
              "3.0.11 and later add LLVM=1 by themselves; with an older dkms, upgrade it or add LLVM=1 to dkms.conf's "
              "MAKE line.")

SUBDIRS_HINT = ("The module's Makefile passes SUBDIRS=, which kbuild ignores since Linux 5.4 (it then builds the "
                "kernel tree itself): use M=$(PWD), in dkms.conf's MAKE too.")


def build_dir(match: re.Match[str], ctx: Context, _n: int) -> tuple[Cause, str] | None:
    """make -C /lib/modules/<rel>/build: fine, unless dkms asked for another kernel."""
    release = match["rel"]
    if ctx.target_kernel and release != ctx.target_kernel:
        return Cause.HEADERS_WRONG_KERNEL, ROOT
    return None


def _kernel_version(release: str) -> tuple[int, int]:
    match = re.match(r"(\d+)\.(\d+)", release)
    return (int(match[1]), int(match[2])) if match else (0, 0)


def make_command(match: re.Match[str], ctx: Context, _n: int) -> tuple[Cause, str] | None:
    """A `make ... -C /lib/modules/<rel>/build ...` line: SUBDIRS= on 5.4+ (5.3 still read it), an ARCH for another CPU."""
    release, line = match["rel"], match.string
    if "SUBDIRS=" in line and " M=" not in line and _kernel_version(release) >= (5, 4):
        return Cause.KERNEL_API_CHANGE, ROOT
    arch = re.search(r"\bARCH=(\S+)", line)
    if arch and _arch_family(arch[1]) and _arch_family(release) and _arch_family(arch[1]) != _arch_family(release):
        return Cause.WRONG_ARCH, ROOT
    return None


def _arch_family(name: str) -> str:
    """'arm64'/'arm'/'x86' from an ARCH value or what a kernel release says of its CPU (-v7+, -v8...)."""
    name = name.lower()
    if re.search(r"arm64|aarch64|-v8\b|-v8\+|-rpi-v8|2712", name):
        return "arm64"
    if re.search(r"^arm$|armv[67]|armhf|armel|-v7l?\+?$|-v6\+?$|-v7\b", name):
        return "arm"
    if re.search(r"x86|amd64|i[3-6]86", name):
        return "x86"
    return ""


def missing_build_dir(match: re.Match[str], ctx: Context, n: int) -> tuple[Cause, str] | tuple[Cause, str, str]:
    """make -C <dir> where <dir> does not exist: no headers, or dkms targets another kernel."""
    release = match["rel"] or ""
    if release and ctx.target_kernel and release != ctx.target_kernel:
        return Cause.HEADERS_WRONG_KERNEL, ROOT
    return headers_missing(match, ctx, n)


def is_needed_by(match: re.Match[str], ctx: Context, _n: int) -> tuple[Cause, str]:
    dep = match["dep"]
    if "ksym(" in dep:
        return Cause.KSYM_NOT_PROVIDED, ROOT
    if dep.startswith("kernel("):
        return Cause.KABI_MISMATCH, ROOT
    if ctx.rpm_section == "build":
        return Cause.BUILD_DEPENDENCY_MISSING, ROOT
    return Cause.PACKAGE_DEPENDS_UNMET, ROOT


def compiler_differs(_m: re.Match[str], ctx: Context, number: int) -> None:
    ctx.compiler_notice, ctx.compiler_versions = number, []
    return None  # decided once both versions are read (compiler_version)


def compiler_version(match: re.Match[str], ctx: Context, number: int) -> tuple[Cause, str] | tuple[Cause, str, str] | None:
    if not ctx.compiler_notice or number - ctx.compiler_notice > 3:
        return None
    ctx.compiler_versions.append(match["cc"].strip())
    if len(ctx.compiler_versions) < 2:
        return None
    ctx.compiler_notice = 0
    built, using = ctx.compiler_versions
    major = re.compile(r"(?<!\d)(\d+)\.\d+(?:\.\d+)?\s*$")  # from a number's first digit: one try per number
    a, b = major.search(built), major.search(using)
    if a and b and a[1] == b[1] and ("clang" in built) == ("clang" in using):
        return Cause.HARMLESS, HARMLESS  # same compiler, same major version: the kernel's notice only
    if "clang" in built and "clang" not in using:
        return Cause.COMPILER_MISMATCH, WEAK, CLANG_HINT
    return Cause.COMPILER_MISMATCH, WEAK


def package_not_installed(_m: re.Match[str], _ctx: Context, _n: int) -> tuple[Cause, str]:
    return Cause.PACKAGE_DEPENDS_UNMET, ROOT


_KERNEL_HEADER = re.compile(r"(?:linux|asm|asm-generic|uapi|net|drm|media|sound|crypto|trace|acpi|scsi|rdma|xen|kvm)/")
_LIBRARY_HEADER = re.compile(r"openssl/|gelf\.h|libelf\.h|zstd\.h|lz4\.h|elfutils/")


def missing_header(match: re.Match[str], _ctx: Context, _n: int) -> tuple[Cause, str]:
    """A header the compiler cannot find: a library's (libelf, openssl...) is a build dependency, the
    kernel's own (linux/, asm/...) an API that moved, any other a weak sign of the same."""
    header = match["header"] or match["header2"]
    if _LIBRARY_HEADER.match(header):
        return Cause.BUILD_DEPENDENCY_MISSING, ROOT
    if _KERNEL_HEADER.match(header):
        return Cause.KERNEL_API_CHANGE, ROOT
    return Cause.KERNEL_API_CHANGE, WEAK


def missing_object(match: re.Match[str], _ctx: Context, _n: int) -> tuple[Cause, str] | None:
    """make has no rule for a module's object (`x.o', needed by ...`): its source file is missing, or the
    headers lack objtool. Any other target (`modules` in a tree without kbuild) adds nothing to the
    build's own failure: the build screen shows the line, diagnose names no cause for it."""
    if match["target2"]:  # Japanese: "'all' に必要なターゲット 'x.o' を make するルールがありません"
        return (Cause.HEADERS_INCOMPLETE, WEAK) if match["target2"].endswith(".o") and "に必要な" in match.string else None
    target, text = match["target"], match.string
    before, after = text[: match.start("target")].rstrip(" "), text[match.end("target"):].lstrip(" ")
    # "needed by" follows the object, in English and translated: `', needed by`, German `', ` at the line's
    # end, Chinese `'，由`
    if before[-1:] in "`'" and after.startswith(("',", "'，")) and target.endswith(".o"):
        return Cause.HEADERS_INCOMPLETE, WEAK
    return None


def build_exclusive(match: re.Match[str], _ctx: Context, _n: int) -> tuple[Cause, str] | None:
    """dkms's own words that it skipped the module; a line that only names BUILD_EXCLUSIVE_KERNEL (a
    dkms.conf shown in the log) is worth a look on the build screen, and no cause."""
    if "BUILD_EXCLUSIVE directive which" in match.string or "does not match this kernel/arch" in match.string:
        return Cause.DKMS_BUILD_EXCLUSIVE, ROOT
    return None


_HOST_FIX = {
    "ostree": "This is an rpm-ostree system (Fedora Silverblue/Kinoite, Bazzite...): /usr is the image and a "
              "layered package's scripts cannot write there. Install the kmod package (`rpm-ostree install "
              "kmod-<name>` or akmod-<name>, which builds at the next boot), or build the module into the image "
              "(a Containerfile running akmods, e.g. ublue-os/akmods); dkms cannot work on it.",
    "steamos": "This is SteamOS: its root is read-only until `sudo steamos-readonly disable` (then `sudo "
               "pacman-key --init && sudo pacman-key --populate archlinux` and the headers of the running kernel, "
               "linux-neptune-<N>-headers); an update restores the image, so the module needs rebuilding after "
               "each one.",
    "nixos": "This is NixOS: /nix/store and the module tree are read-only by design. Add the module to "
             "`boot.extraModulePackages` (or build it with `config.boot.kernelPackages.callPackage`) and rebuild "
             "the system.",
}


def read_only(_m: re.Match[str], ctx: Context, _n: int) -> tuple[Cause, str] | tuple[Cause, str, str]:
    """In kmodtui's sandbox the system is read-only by design: the build wrote outside its folder. Else
    the system is read-only: its own fix where the log says which system it is."""
    if ctx.confined:
        return Cause.SANDBOX_REFUSED, ROOT
    return (Cause.IMMUTABLE_HOST, ROOT, _HOST_FIX[ctx.host]) if ctx.host in _HOST_FIX else (Cause.IMMUTABLE_HOST, ROOT)


def no_write_access(_m: re.Match[str], ctx: Context, _n: int) -> tuple[Cause, str] | tuple[Cause, str, str]:
    """dkms cannot write its tree: not root, or (on an image-based system) a read-only /var/lib/dkms."""
    if ctx.host in _HOST_FIX:
        return Cause.IMMUTABLE_HOST, ROOT, _HOST_FIX[ctx.host]
    return Cause.PERMISSION_DENIED, WEAK  # a "Read-only file system" line after it is the deeper cause


def _headers_hint(release: str) -> str:
    """Where the headers of this kernel come from, when its release says whose kernel it is."""
    if "neptune" in release or "valve" in release:
        flavour = re.search(r"-neptune-?(\d+)", release)
        package = f"linux-neptune-{flavour[1]}-headers" if flavour else "linux-neptune-headers"
        return (f"SteamOS: the headers of {release} are {package} (not linux-headers, and not linux-neptune-headers "
                f"for a newer kernel): `sudo steamos-readonly disable`, `sudo pacman -S {package}`.")
    if release.endswith("+") or "-rpi" in release or "raspi" in release:
        return ("If this is a Raspberry Pi kernel (their releases end in '+' or -rpi-*): a kernel installed by "
                "rpi-update has no headers package. Go back to the packaged kernel and its headers (`sudo apt "
                "install --reinstall raspberrypi-kernel raspberrypi-kernel-headers`, on Raspberry Pi OS 12 "
                "linux-image-rpi-* with linux-headers-rpi-*) and reboot, or get that kernel's tree with rpi-source.")
    return ""


def headers_missing(match: re.Match[str], _ctx: Context, _n: int) -> tuple[Cause, str] | tuple[Cause, str, str]:
    hint = _headers_hint(match["rel"] or "")
    return (Cause.HEADERS_MISSING, ROOT, hint) if hint else (Cause.HEADERS_MISSING, ROOT)


def in_sandbox(_m: re.Match[str], ctx: Context, _n: int) -> tuple[Cause, str] | None:
    """No network in kmodtui's sandbox: a failed lookup there is the sandbox refusing it."""
    return (Cause.SANDBOX_REFUSED, ROOT) if ctx.confined else None
