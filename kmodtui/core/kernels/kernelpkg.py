"""Which Debian package is a kernel's own: the one that ships its image. A binary-module .deb depends
on it, and a scratch root that asks dpkg or apt about a package set has it installed.

Asked, in this order, of: the root the kernel came from (its own dpkg database), this machine
(`dpkg-query -S` on the image), and Debian's archive (the `debian:<release>` kernel's own private apt
lists, else this machine's apt lists). Never guessed: a `linux-image-<release>` nobody has seen is
the dkms mkbmdeb trap (seed 002).
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass

from kmodtui.core.model import Kernel
from kmodtui.core.paths import run_captured


@dataclass(frozen=True)
class KernelPackage:
    names: tuple[str, ...]  # the packages that ship the image, any one of them will do (signed, -unsigned)
    version: str  # the first one's Debian version ("" when nobody said)
    arch: str  # the first one's Debian architecture ("" when nobody said)
    found: str  # where it was found, in words for the build log

    @property
    def depends(self) -> str:
        """The Depends entry: the image's packages as alternatives (`a | b`)."""
        return " | ".join(self.names)


def image_paths(release: str) -> tuple[str, ...]:
    """Where a Debian kernel package puts the image: /boot/vmlinuz-<release> (linux-image-<release> up to
    Debian 13), or /usr/lib/modules/<release>/vmlinuz (unstable's 7.x: linux-binary-<release> ships the
    image, linux-image-<release> is a metapackage)."""
    return (f"/boot/vmlinuz-{release}", f"/usr/lib/modules/{release}/vmlinuz", f"/lib/modules/{release}/vmlinuz")


def from_root(root: str, release: str) -> KernelPackage | None:
    """The package of an unpacked root's dpkg database that owns the image (a board's root knows its own)."""
    from kmodtui.core.errors import KmodError
    from kmodtui.core.packages.packageset import read_installed

    admin = os.path.join(root, "var", "lib", "dpkg")
    if not os.path.isfile(os.path.join(admin, "status")):
        return None
    try:
        db = read_installed(admin)
    except KmodError:
        return None
    for path in image_paths(release):
        owner = db.owner_of(path)
        if owner:
            return KernelPackage((owner,), db.packages[owner].version, "", f"the dpkg database of {root}")
    return None


def installed_here(release: str) -> KernelPackage | None:
    """The installed package that owns the image on this machine (dpkg-query -S), if any."""
    if not shutil.which("dpkg-query"):
        return None
    out = run_captured(["dpkg-query", "-S", *image_paths(release)])  # one answer line per path found
    for line in out.stdout.splitlines():
        owners, _, path = line.partition(": ")
        owner = owners.split(",")[0].strip()
        if owner and path:
            shown = run_captured(["dpkg-query", "-W", "-f", "${Version}\t${Architecture}", owner]).stdout
            version, _, arch = shown.partition("\t")
            return KernelPackage((owner,), version.strip(), arch.strip(), f"installed here (it owns {path.strip()})")
    return None


def in_archive(release: str, apt_options: list[str], where: str) -> KernelPackage | None:
    """The archive's package of the image (apt-cache with `apt_options`: a private list, or none for
    this machine's): linux-binary-<release> where the archive splits the kernel (unstable), else
    linux-image-<release> and its -unsigned twin (both ship /boot/vmlinuz-<release>)."""
    if not shutil.which("apt-cache"):
        return None
    binary, image, unsigned = f"linux-binary-{release}", f"linux-image-{release}", f"linux-image-{release}-unsigned"
    shown = _show([binary, image, unsigned], apt_options)
    for candidates in ((binary,), (image, unsigned)):
        names = tuple(name for name in candidates if name in shown)
        if names:
            first = shown[names[0]]
            return KernelPackage(names, first.get("Version", ""), first.get("Architecture", ""), where)
    return None


def _show(packages: list[str], apt_options: list[str]) -> dict[str, dict[str, str]]:
    """The candidate stanza apt-cache shows for each real (not virtual) package the archive has, by name
    (one apt-cache run: each reads the whole package cache)."""
    result = run_captured(["apt-cache", *apt_options, "show", "--no-all-versions", *packages])
    found: dict[str, dict[str, str]] = {}
    for stanza in result.stdout.split("\n\n"):
        fields: dict[str, str] = {}
        for line in stanza.splitlines():
            key, _, value = line.partition(": ")
            if key and not key.startswith(" "):
                fields[key] = value
        name = fields.get("Package", "")
        if name in packages and name not in found:
            found[name] = fields
    return found


def kernel_package(kernel: Kernel, spec: str = "") -> KernelPackage | None:
    """The kernel's own package, from the first that knows: the root it came from, this machine, the
    archive (`spec` debian:<release>[:<arch>]: that release's; otherwise this machine's apt lists)."""
    release = kernel.release
    if kernel.origin.startswith("root:"):
        found = from_root(kernel.origin.removeprefix("root:"), release)
        if found is not None:
            return found
    found = installed_here(release)
    if found is not None:
        return found
    if spec.startswith("debian:"):
        from kmodtui.core.kernels.debian_archive import Archive, parse_distro_kernel

        target = parse_distro_kernel(spec)
        archive = Archive(target)
        if not any(name.endswith("_Packages") for name in os.listdir(os.path.join(archive.dir, "lists"))):
            archive.update()  # read when the kernel's headers were fetched; once more if they were not
        return in_archive(release, archive.options, f"the {target.suite} {target.arch} archive")
    return in_archive(release, [], "this machine's apt lists")
