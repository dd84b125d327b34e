"""Helpers for tests that run the real tools (kbuild, modprobe, depmod, rpm, dpkg).

Outside CI a missing tool skips the test with the command that installs it; with CI=true it fails.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import ParamSpec, TypeVar

import pytest

from tests.runlocks import locked

P = ParamSpec("P")
R = TypeVar("R")

IN_CI = os.environ.get("CI", "").lower() == "true"
REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "kmodtui" / "examples"

# tool -> Debian package that ships it
DEBIAN_PACKAGES = {
    "qemu-system-x86_64": "qemu-system-x86",  # tests/sbvm.py: a Secure Boot machine
    "mkfs.vfat": "dosfstools",
    "mmd": "mtools",
    "mcopy": "mtools",
    "sfdisk": "fdisk",
    "keyctl": "keyutils",
    "make": "build-essential",
    "gcc-12": "build-essential",
    "modprobe": "kmod",
    "modinfo": "kmod",
    "depmod": "kmod",
    "rpmbuild": "rpm",
    "rpm": "rpm",
    "rpm2cpio": "rpm2cpio",
    "dpkg-deb": "dpkg-dev",
    "xz": "xz-utils",
    "zstd": "zstd",
    "openssl": "openssl",
    "ar": "binutils",
    "as": "binutils",
    "apt-get": "apt",
    "dkms": "dkms",
    "dpkg": "dpkg",
    "tmux": "tmux",
    "grub-mkconfig": "grub-common",
    "grub-editenv": "grub-common",
    "bootctl": "systemd-boot",
    "kernel-install": "systemd",
    "bwrap": "bubblewrap",
    "aarch64-linux-gnu-gcc-12": "gcc-aarch64-linux-gnu",
}

TOOL_DIRS = ("/usr/sbin", "/sbin")


def missing(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"CI=true and {reason}")
    pytest.skip(reason)


def require_tool(name: str) -> str:
    path = shutil.which(name) or next(
        (os.path.join(d, name) for d in TOOL_DIRS if os.access(os.path.join(d, name), os.X_OK)), None
    )
    if path is None:
        package = DEBIAN_PACKAGES.get(name, name)
        missing(f"{name} is not installed: run `sudo apt-get install {package}` (or run the README's test command)")
    assert path is not None
    return path


def run(cmd: list[str], **kwargs) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LC_ALL": "C", "GCC_URLS": "no", **kwargs.pop("env", {})}
    kwargs.setdefault("text", True)
    return subprocess.run(cmd, capture_output=True, env=env, **kwargs)


def run_ok(cmd: list[str], **kwargs) -> subprocess.CompletedProcess[str]:
    result = run(cmd, **kwargs)
    assert result.returncode == 0, f"{cmd} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
    return result


def has_dwarf(path: str | Path) -> bool:
    """The ELF file has DWARF (a .debug_info section, as readelf lists them): what strip -g removes.
    False for what readelf cannot read (a compressed .ko.xz)."""
    return " .debug_info " in run([require_tool("readelf"), "-S", "-W", str(path)]).stdout


@dataclass(frozen=True)
class BuiltModules:
    """provider.ko and consumer.ko built by real kbuild against the installed headers."""

    kernel_release: str
    build_dir: str
    provider_dir: Path
    consumer_dir: Path

    @property
    def provider_ko(self) -> Path:
        return self.provider_dir / "provider.ko"

    @property
    def consumer_ko(self) -> Path:
        return self.consumer_dir / "consumer.ko"

    @property
    def provider_symvers(self) -> Path:
        return self.provider_dir / "Module.symvers"


def kbuild(build_dir: str, module_dir: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    require_tool("make")
    return run(["make", "-C", build_dir, f"M={module_dir}", *extra, "modules"])


def build_examples(build_dir: str, release: str, dest: Path) -> BuiltModules:
    for name in ("provider", "consumer"):
        shutil.copytree(EXAMPLES / name, dest / name)
    built = BuiltModules(release, build_dir, dest / "provider", dest / "consumer")
    result = kbuild(build_dir, built.provider_dir)
    assert result.returncode == 0, result.stdout + result.stderr
    result = kbuild(build_dir, built.consumer_dir, f"KBUILD_EXTRA_SYMBOLS={built.provider_symvers}")
    assert result.returncode == 0, result.stdout + result.stderr
    return built


DOWNLOAD_CACHE = Path(os.environ.get("KMODTUI_TEST_DOWNLOADS", Path.home() / ".cache" / "kmodtui-tests"))


def downloading(function: Callable[P, R]) -> Callable[P, R]:
    """One process at a time in the download cache (parallel test workers share it, and a .deb half
    written by apt-get must not be taken for a downloaded one)."""
    @functools.wraps(function)
    def one_at_a_time(*args: P.args, **kwargs: P.kwargs) -> R:
        with locked(DOWNLOAD_CACHE.with_name(DOWNLOAD_CACHE.name + ".lock")):
            return function(*args, **kwargs)
    return one_at_a_time


def apt_package_names(pattern: str) -> list[str]:
    """Package names in Debian's archive matching a regex (apt-cache search --names-only)."""
    out = run([require_tool("apt-cache"), "search", "--names-only", pattern]).stdout
    return sorted(line.split(" - ")[0] for line in out.splitlines() if " - " in line)


@downloading
def apt_download(package: str) -> Path:
    """A real .deb from Debian's archive, downloaded once and kept between runs."""
    DOWNLOAD_CACHE.mkdir(parents=True, exist_ok=True)
    found = sorted(DOWNLOAD_CACHE.glob(f"{package}_*.deb"))
    if found:
        return found[-1]
    result = run([require_tool("apt-get"), "download", package], cwd=DOWNLOAD_CACHE)
    found = sorted(DOWNLOAD_CACHE.glob(f"{package}_*.deb"))
    if result.returncode != 0 or not found:
        missing(f"could not download {package} from Debian's archive (`apt-get update` first?): {result.stderr.strip()[-200:]}")
    return found[-1]


def other_abi_headers_package(installed_release: str) -> str:
    """A linux-headers-6.1.0-N-amd64 of another ABI than the installed one."""
    names = apt_package_names(r"^linux-headers-[0-9.]+-[0-9]+-amd64$")
    others = [n for n in names if n != f"linux-headers-{installed_release}"]
    if not others:
        missing("Debian's archive lists no linux-headers package of another ABI (run `apt-get update`)")
    return others[0]


def copy_source(name: str, dest: Path, edit: dict[str, str] | None = None) -> Path:
    """A fresh copy of an example module's source (no build products), optionally edited."""
    target = dest / name
    shutil.copytree(EXAMPLES / name, target, ignore=shutil.ignore_patterns("*.ko", "*.o", "*.mod*", ".*.cmd", "Module.symvers", "modules.order"))
    if edit:
        source = target / f"{name}.c"
        text = source.read_text()
        for old, new in edit.items():
            assert old in text, f"{old!r} not in {source}"
            text = text.replace(old, new)
        source.write_text(text)
    return target


def depmod_problems(tree_root: Path, release: str, symvers: str) -> set[tuple[str, str, str]]:
    """Real depmod's verdict: {(module path, 'unknown_symbol'|'crc_mismatch', symbol)} from its
    'needs unknown symbol' and 'disagrees about version of symbol' warnings (depmod exits 0)."""
    depmod = require_tool("depmod")
    confdir = tree_root / "depmod.d"
    confdir.mkdir(exist_ok=True)
    moddir = tree_root / "lib" / "modules" / release
    for name in ("modules.order", "modules.builtin", "modules.builtin.modinfo"):
        if not (moddir / name).exists():
            (moddir / name).write_text("")
    result = run([depmod, "-b", str(tree_root), "-C", str(confdir), "-e", "-E", symvers, "-n", release])
    problems = set()
    prefix = "depmod: WARNING: "
    for line in result.stderr.splitlines():
        if not line.startswith(prefix):
            continue
        rest = line[len(prefix):]
        for marker, status in ((" needs unknown symbol ", "unknown_symbol"),
                               (" disagrees about version of symbol ", "crc_mismatch")):
            if marker in rest:
                path, symbol = rest.split(marker, 1)
                problems.add((path, status, symbol.strip()))
    return problems


def modpost_errors(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith("ERROR: modpost:")]


@downloading
def apt_download_foreign(package: str, arch: str) -> Path:
    """A package of another architecture (e.g. arm64 headers), without adding the architecture to
    dpkg: apt is told about it for this update and this download only."""
    DOWNLOAD_CACHE.mkdir(parents=True, exist_ok=True)
    found = sorted(DOWNLOAD_CACHE.glob(f"{package}_*_{arch}.deb"))
    if found:
        return found[-1]
    host = run(["dpkg", "--print-architecture"]).stdout.strip() or "amd64"
    options = ["-o", f"APT::Architectures::={host}", "-o", f"APT::Architectures::={arch}"]
    result = run([require_tool("apt-get"), *options, "download", f"{package}:{arch}"], cwd=DOWNLOAD_CACHE)
    if result.returncode != 0 and os.geteuid() == 0:
        run([require_tool("apt-get"), "-q", *options, "update"])
        result = run([require_tool("apt-get"), *options, "download", f"{package}:{arch}"], cwd=DOWNLOAD_CACHE)
    found = sorted(DOWNLOAD_CACHE.glob(f"{package}_*_{arch}.deb"))
    if not found:
        missing(f"could not download {package}:{arch} from Debian's archive: {result.stderr.strip()[-200:]}")
    return found[-1]


def apt_download_contrib(package: str, suite: str = "bookworm") -> Path:
    """A package of Debian's contrib section (zfs-dkms), through a private apt list."""
    return apt_download_from(package, suite, "contrib")


def _private_apt(suite: str, component: str, kind: str = "deb") -> list[str]:
    """apt options for a private list of one Debian release and section (binary packages, or the
    source packages with kind "deb-src"), updated once per cache."""
    apt = DOWNLOAD_CACHE / f"apt-{suite}-{component}" if kind == "deb" else DOWNLOAD_CACHE / f"apt-{suite}-{component}-src"
    for sub in ("lists/partial", "cache/archives/partial"):
        (apt / sub).mkdir(parents=True, exist_ok=True)
    (apt / "sources.list").write_text(f"{kind} [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] "
                                      f"http://deb.debian.org/debian {suite} {component}\n")
    options = ["-o", f"Dir::Etc::SourceList={apt / 'sources.list'}", "-o", "Dir::Etc::SourceParts=-",
               "-o", f"Dir::State::Lists={apt / 'lists'}", "-o", f"Dir::Cache={apt / 'cache'}",
               "-o", "APT::Get::List-Cleanup=0"]
    if not any((apt / "lists").glob("*Packages*" if kind == "deb" else "*Sources*")):
        result = run([require_tool("apt-get"), "-q", *options, "update"])
        if result.returncode != 0:
            missing(f"could not read Debian {suite} {component}'s package list: {result.stderr.strip()[-200:]}")
    return options


@downloading
def apt_download_from(package: str, suite: str, component: str = "main") -> Path:
    """A package of another Debian release or section (trixie's kernel headers, bookworm's contrib),
    through a private apt list kept under the download cache: the machine's own sources are not
    touched."""
    DOWNLOAD_CACHE.mkdir(parents=True, exist_ok=True)
    found = sorted(DOWNLOAD_CACHE.glob(f"{package}_*.deb"))
    if found:
        return found[-1]
    options = _private_apt(suite, component)
    result = run([require_tool("apt-get"), *options, "download", package], cwd=DOWNLOAD_CACHE)
    found = sorted(DOWNLOAD_CACHE.glob(f"{package}_*.deb"))
    if not found:
        missing(f"could not download {package} from Debian {suite} {component}: {result.stderr.strip()[-200:]}")
    return found[-1]


@downloading
def apt_source_tarball(package: str, suite: str = "bookworm", component: str = "contrib") -> Path:
    """The upstream release tarball of a Debian source package (`apt-get source --download-only`:
    nothing unpacked, no dpkg-source run), e.g. zfs-linux's OpenZFS release tree with its rpm/ specs."""
    DOWNLOAD_CACHE.mkdir(parents=True, exist_ok=True)
    found = sorted(DOWNLOAD_CACHE.glob(f"{package}_*.orig.tar.*"))
    if found:
        return found[-1]
    options = _private_apt(suite, component, "deb-src")
    result = run([require_tool("apt-get"), *options, "source", "--download-only", package], cwd=DOWNLOAD_CACHE)
    found = sorted(DOWNLOAD_CACHE.glob(f"{package}_*.orig.tar.*"))
    if not found:
        missing(f"could not download the source of {package} from Debian {suite} {component}: "
                f"{result.stderr.strip()[-200:]}")
    return found[-1]


def openzfs_release_tree(dest: Path) -> Path:
    """OpenZFS's release tree as a user unpacks it: Debian 12's zfs-linux upstream tarball, in `dest`."""
    run_ok(["tar", "-C", str(dest), "-xzf", str(apt_source_tarball("zfs-linux"))])
    [tree] = dest.glob("zfs-2.*")
    return tree


@downloading
def apt_depends_of(package: str, suite: str, component: str = "main") -> list[str]:
    """What a package of another release depends on (apt-cache depends on the private list)."""
    DOWNLOAD_CACHE.mkdir(parents=True, exist_ok=True)
    out = run([require_tool("apt-cache"), *_private_apt(suite, component), "depends", package]).stdout
    return [line.split(":", 1)[1].strip() for line in out.splitlines()
            if line.strip().startswith(("Depends:", "|Depends:"))]
