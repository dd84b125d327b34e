"""Debian's archive as a source of kernels: which kernel a release's flavor metapackage points at
now, and its headers, through a private apt list of that release and architecture (this machine's
apt is never touched). `build --kernel debian:trixie`, matrix cells and `kmodtui follow` use it."""

from __future__ import annotations

import functools
import glob
import os
from dataclasses import dataclass

from kmodtui.core import scriptnames
from kmodtui.core.errors import KmodError
from kmodtui.core.paths import cache_dir, run_captured

# The kernel flavor Debian builds for an architecture (linux-image-<flavor> is its metapackage).
DEBIAN_FLAVORS = {"arm64": "arm64", "amd64": "amd64", "armhf": "armmp", "i386": "686-pae", "ppc64el": "powerpc64le",
                  "s390x": "s390x", "riscv64": "riscv64", "armel": "marvell", "mips64el": "mips64r2el",
                  "loong64": "loong64"}
GNU_ARCH = {"arm64": "aarch64", "amd64": "x86_64", "armhf": "arm", "i386": "i686", "ppc64el": "ppc64le",
            "s390x": "s390x", "riscv64": "riscv64"}


@dataclass(frozen=True)
class Target:
    distro: str
    suite: str
    arch: str
    flavor: str

    @property
    def name(self) -> str:
        return f"{self.distro}:{self.suite}:{self.arch}:{self.flavor}"


def parse_target(text: str) -> Target:
    """debian:bookworm:arm64[:flavor]."""
    parts = text.split(":")
    if len(parts) not in (3, 4) or parts[0] != "debian" or not all(parts):
        raise KmodError(text, "a target is debian:<release>:<arch>[:<flavor>], e.g. debian:bookworm:arm64 "
                              "(RPM targets: not yet)")
    flavor = parts[3] if len(parts) == 4 else DEBIAN_FLAVORS.get(parts[2], "")
    if not flavor:
        raise KmodError(text, f"no known Debian kernel flavor for {parts[2]}: name it (debian:<release>:<arch>:<flavor>)")
    # each becomes part of package names, apt lists, unit files and commands
    scriptnames.check(scriptnames.DEBIAN_PACKAGE, parts[1], text)  # a suite is named as a package is
    scriptnames.check(scriptnames.ARCH, parts[2], text)
    scriptnames.check(scriptnames.DEBIAN_PACKAGE, flavor, text)
    return Target(parts[0], parts[1], parts[2], flavor)


@dataclass(frozen=True)
class KernelVersion:
    release: str  # 6.1.0-42-arm64
    image: str  # linux-image-6.1.0-42-arm64
    version: str  # 6.1.159-1, the Debian version of that package
    meta_version: str  # the version of linux-image-<flavor> that points at it


KEYRING = "[signed-by=/usr/share/keyrings/debian-archive-keyring.gpg]"


def default_sources(suite: str) -> list[str]:
    """What a Debian board's sources.list has: a stable release gets its kernels from the release, its
    -updates and its -security suites (bookworm's newest kernels come from bookworm-security)."""
    lines = [f"deb {KEYRING} http://deb.debian.org/debian {suite} main"]
    if suite not in ("sid", "unstable", "experimental"):
        lines += [f"deb {KEYRING} http://deb.debian.org/debian {suite}-updates main",
                  f"deb {KEYRING} http://deb.debian.org/debian-security {suite}-security main"]
    return lines


class Archive:
    """The target's Debian archive, through a private apt list (this machine's apt is not touched)."""

    def __init__(self, target: Target, sources: list[str] | None = None, base: str | None = None) -> None:
        self.target = target
        self.dir = os.path.join(base or cache_dir(), "follow", f"apt-{target.suite}-{target.arch}")
        for sub in ("lists/partial", "cache/archives/partial"):
            os.makedirs(os.path.join(self.dir, sub), exist_ok=True)
        with open(os.path.join(self.dir, "sources.list"), "w", encoding="utf-8") as f:
            f.write("".join(f"{line}\n" for line in (sources or default_sources(target.suite))))
        self.options = ["-o", f"Dir::Etc::SourceList={self.dir}/sources.list", "-o", "Dir::Etc::SourceParts=-",
                        "-o", f"Dir::State::Lists={self.dir}/lists", "-o", f"Dir::Cache={self.dir}/cache",
                        "-o", f"APT::Architecture={target.arch}", "-o", "APT::Get::List-Cleanup=0",
                        "-o", "Acquire::Check-Valid-Until=false"]

    def update(self) -> None:
        result = run_captured(["apt-get", "-q", *self.options, "update"])
        if result.returncode != 0 or "Err:" in result.stdout:
            raise KmodError(f"{self.target.suite}/{self.target.arch}", "the archive could not be read: "
                            + (result.stderr.strip() or result.stdout.strip()).splitlines()[-1][:200])

    def _show(self, package: str) -> dict[str, str]:
        result = run_captured(["apt-cache", *self.options, "show", package])
        if result.returncode != 0:
            raise KmodError(package, f"not in the {self.target.suite} {self.target.arch} archive")
        fields: dict[str, str] = {}
        for line in result.stdout.split("\n\n", 1)[0].splitlines():  # the first (candidate) stanza
            key, _, value = line.partition(": ")
            if key and not key.startswith(" "):
                fields[key] = value
        return fields

    def latest_kernel(self) -> KernelVersion:
        meta = self._show(f"linux-image-{self.target.flavor}")
        depends = [d.strip().split(" ")[0] for d in meta.get("Depends", "").split(",")]
        image = next((d for d in depends if d.startswith("linux-image-") and d != f"linux-image-{self.target.flavor}"), "")
        if not image:
            raise KmodError(f"linux-image-{self.target.flavor}", "names no kernel package in its Depends")
        return KernelVersion(image.removeprefix("linux-image-"), image, self._show(image)["Version"],
                             meta.get("Version", ""))

    def download(self, package: str, into: str) -> str:
        os.makedirs(into, exist_ok=True)
        found = sorted(glob.glob(os.path.join(into, f"{package}_*.deb")))
        if found:
            return found[-1]
        result = run_captured(["apt-get", "-q", *self.options, "download", package], cwd=into)
        found = sorted(glob.glob(os.path.join(into, f"{package}_*.deb")))
        if not found:
            raise KmodError(package, "could not be downloaded: " + result.stderr.strip()[-200:])
        return found[-1]

    def headers(self, release: str) -> list[str]:
        """The kernel's headers, downloaded into the cache: the -common half first, then the
        architecture's (unpacked together into a tree of their own)."""
        downloads = os.path.join(self.dir, "debs")
        debs = [self.download(f"linux-headers-{release}", downloads)]
        common = self.headers_common(release)
        if common:
            debs.insert(0, self.download(common, downloads))
        return debs

    def headers_common(self, release: str) -> str:
        depends = self._show(f"linux-headers-{release}").get("Depends", "")
        return next((d.strip().split(" ")[0] for d in depends.split(",") if d.strip().split(" ")[0].endswith("-common")), "")




def parse_distro_kernel(spec: str) -> Target:
    """debian:<release>[:<arch>[:<flavor>]] (arch default: this machine's, as Debian names it)."""
    parts = spec.split(":")
    if len(parts) == 2:
        machine = os.uname().machine
        arch = {v: k for k, v in GNU_ARCH.items()}.get(machine, machine)
        spec = f"{spec}:{arch}"
    return parse_target(spec)


@functools.lru_cache(maxsize=16)
def headers_of_latest(spec: str) -> tuple[str, ...]:
    """The .deb files of the headers of the kernel the release's metapackage points at now, asked of
    the archive once per process (a matrix names the same release for every mode and arch)."""
    archive = Archive(parse_distro_kernel(spec))
    archive.update()
    return tuple(archive.headers(archive.latest_kernel().release))
