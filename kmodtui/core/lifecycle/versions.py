"""Userspace and module from the same release? (OpenZFS's zfs-dkms and zfsutils must match: seed 002's
version lock.)
"""

from __future__ import annotations

import re
from dataclasses import dataclass


def upstream_version(version: str) -> str:
    """'1:2.1.11-1~bpo12+1' / '2.1.11-1.el9' -> '2.1.11': the part both sides are built from."""
    version = version.split(":", 1)[-1]
    return re.split(r"[-~+]", version, maxsplit=1)[0]


@dataclass(frozen=True)
class VersionLock:
    module_version: str
    tools_version: str
    matches: bool
    explanation: str


def check_userspace(module_version: str, module_label: str, tools_version: str, tools_label: str) -> VersionLock:
    a, b = upstream_version(module_version), upstream_version(tools_version)
    if not a or not b:
        return VersionLock(module_version, tools_version, False,
                           f"cannot tell: {module_label} has no version" if not a else f"{tools_label} has no version")
    if a == b:
        return VersionLock(module_version, tools_version, True,
                           f"{module_label} {a} and {tools_label} {b} come from the same release.")
    return VersionLock(module_version, tools_version, False,
                       f"{module_label} is {a} but {tools_label} is {b}: the tools talk to the module through "
                       "ioctls and on-disk formats that change between releases (the Guix ZFS thread's worry). "
                       f"Install {tools_label} {a}, or rebuild the module from the {b} source, before rebooting.")
