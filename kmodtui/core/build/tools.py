"""Programs: whether they are here, and the command that installs them on this distribution (read
from /etc/os-release; nothing is run to find out). Which programs a build mode runs is the mode's own
(kmodtui/core/build/modes/)."""

from __future__ import annotations

import functools
import shutil

# program -> package that ships it, per package manager
_PACKAGES = {
    "apt": {"make": "make", "gcc": "gcc", "dkms": "dkms", "dpkg-deb": "dpkg", "rpmbuild": "rpm",
            "rpm": "rpm", "openssl": "openssl", "depmod": "kmod", "modinfo": "kmod"},
    "dnf": {"make": "make", "gcc": "gcc", "dkms": "dkms", "dpkg-deb": "dpkg", "rpmbuild": "rpm-build",
            "rpm": "rpm", "openssl": "openssl", "depmod": "kmod", "modinfo": "kmod"},
}


def os_release(path: str = "/etc/os-release") -> dict[str, str]:
    values: dict[str, str] = {}
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f.read(65536).splitlines():
                key, sep, value = line.partition("=")
                if sep:
                    values[key.strip()] = value.strip().strip("\"'")
    except OSError:
        pass
    return values


def package_manager(release: dict[str, str] | None = None) -> str:
    """"apt" (Debian, Ubuntu and derivatives), "dnf" (Fedora, RHEL and derivatives), or "" (unknown)."""
    release = os_release() if release is None else release
    ids = f"{release.get('ID', '')} {release.get('ID_LIKE', '')}".split()
    if any(i in ("debian", "ubuntu") for i in ids):
        return "apt"
    if any(i in ("fedora", "rhel", "centos", "suse", "opensuse") for i in ids):
        return "dnf"
    return ""


def install_command(programs: list[str] | tuple[str, ...], manager: str | None = None) -> str:
    """The command that installs these programs here, e.g. `sudo apt-get install dkms`."""
    manager = package_manager() if manager is None else manager
    table = _PACKAGES.get(manager or "apt", _PACKAGES["apt"])
    packages = list(dict.fromkeys(table.get(p, p) for p in programs))
    if manager == "dnf":
        return "sudo dnf install " + " ".join(packages)
    if manager == "apt":
        return "sudo apt-get install " + " ".join(packages)
    return ("Debian/Ubuntu: sudo apt-get install " + " ".join(packages)
            + "; Fedora/RHEL: sudo dnf install " + " ".join(_PACKAGES["dnf"].get(p, p) for p in programs))


def find_program(name: str) -> str | None:
    """A program on PATH, or in /usr/sbin or /sbin (depmod, debootstrap, dpkg: a user's PATH may
    not name them)."""
    import os

    return shutil.which(name) or next((os.path.join(d, name) for d in ("/usr/sbin", "/sbin")
                                       if os.access(os.path.join(d, name), os.X_OK)), None)


@functools.lru_cache(maxsize=1)
def redhat_macros_missing() -> str:
    """Why rpm/redhat specs cannot build here ("" when they can): they use RHEL's
    %kernel_module_package (redhat-rpm-config) and kernel-devel's /usr/src/kernels/<release>. Asked
    of rpm once per process: the plan, the mode step and the remedy preview all need it."""
    import subprocess

    try:
        out = subprocess.run(["rpm", "--eval", "%{?kernel_module_package:yes}"], capture_output=True, text=True,
                             timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        out = ""
    if out == "yes":
        return ""
    return ("rpm/redhat specs need RHEL's %kernel_module_package macro (redhat-rpm-config, on RHEL, Fedora and "
            "their rebuilds), which this host's rpm does not define: build rpm-generic here and let the "
            "spec-external-depgen remedy give its packages ksym() Provides")
