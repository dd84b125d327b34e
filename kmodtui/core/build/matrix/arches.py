"""Whether a matrix cell's arch is its kernel's: a kernel's headers (its .config, its kbuild host
tools, its compiler) build modules for that kernel's arch only, so `--arch arm64` with an amd64
kernel's headers can only fail (as `compiler_mismatch`). Such a cell is refused at plan time, saying
which headers to use instead."""

from __future__ import annotations

import os

# uname -m -> every name an arch goes by (kbuild's ARCH=, Debian's, uname's)
_NAMES = {
    "x86_64": {"x86_64", "x86", "amd64"},
    "i686": {"i686", "x86", "i386"},
    "aarch64": {"aarch64", "arm64"},
    "armv7l": {"armv7l", "arm", "armhf", "armel"},
    "ppc64le": {"ppc64le", "powerpc", "ppc64el"},
    "s390x": {"s390x", "s390"},
    "riscv64": {"riscv64", "riscv"},
    "loongarch64": {"loongarch64", "loongarch", "loong64"},
}
_DEBIAN = {"x86_64": "amd64", "i686": "i386", "aarch64": "arm64", "armv7l": "armhf", "ppc64le": "ppc64el",
           "s390x": "s390x", "riscv64": "riscv64", "loongarch64": "loong64"}
# a Debian release's last word (its flavor) or an RPM kernel's last dotted word -> uname -m
_RELEASE_WORDS = {"amd64": "x86_64", "arm64": "aarch64", "armmp": "armv7l", "lpae": "armv7l", "686": "i686",
                  "pae": "i686", "powerpc64le": "ppc64le", "s390x": "s390x", "riscv64": "riscv64",
                  "loong64": "loongarch64", "x86_64": "x86_64", "aarch64": "aarch64", "ppc64le": "ppc64le"}
_DEBIAN_RELEASES = {"11": "bullseye", "12": "bookworm", "13": "trixie", "14": "forky"}


def uname_arch(name: str) -> str:
    """The uname -m name of an arch given by any of its names ("" when unknown; x86 is x86_64)."""
    return next((uname for uname, names in _NAMES.items() if name in names), "")


def is_kernel_arch(requested: str, kernel_arch: str) -> bool:
    """Whether `requested` (as --arch takes it) names the kernel's own arch (uname -m style)."""
    return requested in _NAMES.get(kernel_arch, {kernel_arch})


def release_arch(release: str) -> str:
    """A kernel's arch as its release says it (6.1.0-56-amd64, 5.14.0-427.el9.x86_64), "" when it
    does not: a CI plan finds no headers to read it from."""
    for word in (release.rsplit("-", 1)[-1], release.rsplit(".", 1)[-1]):
        if word in _RELEASE_WORDS:
            return _RELEASE_WORDS[word]
    return ""


def _debian_codename(spec: str, release: str, build_dir: str) -> str:
    if spec.startswith("debian:"):
        return spec.split(":")[1]
    for number, name in _DEBIAN_RELEASES.items():
        if f"+deb{number}" in release:
            return name
    if build_dir.startswith("/usr/src/"):  # installed here: this machine's release, when it is Debian's
        try:
            with open("/etc/os-release", encoding="utf-8") as f:
                fields = dict(line.rstrip("\n").split("=", 1) for line in f if "=" in line)
        except OSError:
            return ""
        if fields.get("ID", "").strip('"') == "debian":
            return fields.get("VERSION_CODENAME", "").strip('"')
    return ""


def wrong_arch_reason(spec: str, release: str, kernel_arch: str, requested: str, build_dir: str = "") -> str:
    """Why the cell is refused, and the headers that would build it."""
    from kmodtui.core.kernels.debian_archive import DEBIAN_FLAVORS

    target = _DEBIAN.get(uname_arch(requested), requested)
    codename = _debian_codename(spec, release, build_dir)
    use = [f"debian:{codename or '<release>'}:{target} (Debian {codename or '<release>'}'s current {target} kernel)"]
    word = release.rsplit("-", 1)
    if len(word) == 2 and word[1] in _RELEASE_WORDS and target in DEBIAN_FLAVORS:  # a Debian release
        use.append(f"linux-headers-{word[0]}-{DEBIAN_FLAVORS[target]} (the same kernel's {target} headers)")
    return (f"wrong_arch: the headers of {os.path.basename(release)} are for {kernel_arch}, not {requested}, and "
            f"modules for {requested} build only against {requested} headers: use {' or '.join(use)}")
