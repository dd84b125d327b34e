"""May kmodtui write this file? One answer for applying a remedy and for undoing it: never system
files, package-owned files, read-only files or anything but regular files, and only the files the
remedy itself edits (a spec for the spec remedies, a kernel hook for `hook install`...). Undo asks
again because its paths come from a manifest in the state folder, which kmodtui did not
necessarily write."""

from __future__ import annotations

import os
import re
import stat

from kmodtui.core.errors import KmodError
from kmodtui.core.vocabulary import RemedyId

# Files kmodtui must never edit (seed 000's advice edits /usr/lib/rpm/redhat/*: we offer the
# equivalent in the user's own spec instead).
SYSTEM_PREFIXES = ("/usr/lib/", "/usr/lib64/", "/usr/libexec/", "/usr/share/", "/usr/bin/", "/usr/sbin/",
                   "/usr/include/", "/usr/local/lib/rpm/", "/etc/", "/boot/", "/lib/", "/lib64/", "/bin/", "/sbin/",
                   "/var/lib/dpkg/", "/var/lib/rpm/", "/var/lib/dkms/", "/proc/", "/sys/", "/dev/",
                   # kernel headers and the sources dkms builds from (/usr/src/<pkg>-<ver>, owned by a package)
                   "/usr/src/")

# What each remedy edits, by file name (the planners of catalogue.py): an application or a manifest
# naming any other file is refused. Anchored with \A...\Z (fullmatch alike), so that a search over a
# long name tries one start, not every one: linear in the name's length.
_SPEC = re.compile(r"\A.+\.spec(\.in)?\Z")
EDITED_FILES: dict[str, tuple[re.Pattern[str], str]] = {
    RemedyId.SPEC_EXTERNAL_DEPGEN: (_SPEC, "a .spec or .spec.in file"),
    RemedyId.DROP_KSYM_REQUIRES: (_SPEC, "a .spec or .spec.in file"),
    RemedyId.KBUILD_EXTRA_SYMBOLS: (re.compile(r"\A(?:dkms\.conf|Kbuild|Makefile)\Z"), "a dkms.conf, Kbuild or Makefile"),
    RemedyId.IMPORT_NAMESPACE: (re.compile(r"\A.+\.c\Z"), "a .c file"),
    RemedyId.KERNEL_COMPAT: (re.compile(r"\A.+\.[ch]\Z"), "a .c or .h file"),
    RemedyId.DEB_FIX_DEPENDS: (re.compile(r"\A.+\.deb\Z"), "a .deb"),
}

# The files kmodtui creates in system folders, and only when asked: the kernel hook (`hook
# install`) and the follow timer's units, under a root ("/" or a scratch root). Each is judged by
# its folder, its name, and how what kmodtui wrote there begins.
CREATED_FILES: dict[str, tuple[tuple[tuple[str, re.Pattern[str]], ...], bytes]] = {
    "hook-install": ((("etc/kernel/postinst.d", re.compile(r"\Azz-kmodtui-[A-Za-z0-9._-]+\Z")),
                      ("etc/kernel/install.d", re.compile(r"\A90-kmodtui-[A-Za-z0-9._-]+\.install\Z"))),
                     b"#!/bin/sh\n# kmodtui: "),
    "follow-timer": ((("etc/systemd/system", re.compile(r"\Akmodtui-follow-[A-Za-z0-9-]+\.(service|timer)\Z")),),
                     b"[Unit]\nDescription=kmodtui follow "),
}


def is_system_path(path: str) -> bool:
    real = os.path.realpath(path)
    return _under_system_prefix(real) or package_owner(real) is not None


def _under_system_prefix(real: str) -> bool:
    return any(real.startswith(prefix) or real + "/" == prefix for prefix in SYSTEM_PREFIXES)


def package_owner(path: str) -> str | None:
    """The dpkg or rpm package that owns this file, if any (a file a package manager will overwrite
    is a system file wherever it lives). Asks `dpkg-query -S` / `rpm -qf` when they have a database."""
    import shutil
    import subprocess

    queries = []
    if shutil.which("dpkg-query") and os.path.isdir("/var/lib/dpkg/info"):
        queries.append(["dpkg-query", "-S", path])
    if shutil.which("rpm") and any(os.path.exists(p) for p in ("/var/lib/rpm/rpmdb.sqlite", "/var/lib/rpm/Packages",
                                                                   "/usr/lib/sysimage/rpm/rpmdb.sqlite")):
        queries.append(["rpm", "-qf", "--qf", "%{NAME}\\n", path])
    for argv in queries:
        try:
            result = subprocess.run(argv, capture_output=True, text=True, timeout=20, stdin=subprocess.DEVNULL)
        except (OSError, subprocess.TimeoutExpired):
            continue
        if result.returncode == 0 and result.stdout.strip():
            first = result.stdout.strip().splitlines()[0]
            if argv[0] == "dpkg-query":  # "pkg1, pkg2: /path" (diversions: "diversion by ...")
                owner, _, owned = first.partition(": ")
                if owned.strip() == path and not first.startswith("diversion"):
                    return owner
            elif "not owned" not in first:
                return first
    return None


def created_kind(real: str) -> str:
    """Which of kmodtui's own system files this path is ("hook-install", "follow-timer"), or ""."""
    folder, name = os.path.split(real)
    for kind, (places, _start) in CREATED_FILES.items():
        for where, pattern in places:
            if (folder == "/" + where or folder.endswith("/" + where)) and pattern.fullmatch(name):
                return kind
    return ""


def check_editable(path: str, allow_hooks: bool = False) -> None:
    """May kmodtui edit this file? A link is judged (and later edited) at its target. Refused: system
    and package-owned files, read-only files (by their mode bits too: root passes every access()
    check, so a 0444 file would be edited), anything that is not a regular file. allow_hooks: the
    kernel hook and the follow timer's units (CREATED_FILES) may be written in /etc."""
    real = os.path.realpath(path)
    hook = allow_hooks and created_kind(real) != ""
    if (_under_system_prefix(real) and not hook) or package_owner(real) is not None:
        raise KmodError(path, "is a system file; kmodtui never edits system files (it edits your project's "
                              "own files instead)")
    directory = os.path.dirname(real) or "."
    if os.path.lexists(real):
        st = os.stat(real)
        if not stat.S_ISREG(st.st_mode):
            raise KmodError(path, "is not a regular file; kmodtui edits only regular files")
        if not st.st_mode & 0o222:
            raise KmodError(path, "is read-only (no write permission bits): nothing was changed")
    if (os.path.exists(real) and not os.access(real, os.W_OK)) or not os.access(directory, os.W_OK):
        raise KmodError(path, "is read-only (or its folder is): nothing was changed"
                              + (" (writing here needs root: run with sudo)" if os.geteuid() != 0 else ""))


def check_target(remedy: str, path: str, created: bool) -> None:
    """May `remedy` write `path`: check_editable, and is it a file the remedy edits (or, `created`,
    one it creates)? Applying and undoing both ask."""
    check_editable(path, allow_hooks=remedy in CREATED_FILES)
    real = os.path.realpath(path)
    if remedy in CREATED_FILES:
        if not created or created_kind(real) != remedy:
            raise KmodError(path, f"is not a file {remedy} creates; refusing to touch it")
        return
    rule = EDITED_FILES.get(remedy)
    if rule is None:
        raise KmodError(path, f"no remedy {remedy!r} edits files (see `kmodtui remedy list`); refusing to touch it")
    if created or not rule[0].fullmatch(os.path.basename(real)):
        raise KmodError(path, f"is not {rule[1]}, the file {remedy} edits; refusing to touch it")


def created_by_kmodtui(remedy: str, content: bytes) -> bool:
    """Does a file `remedy` created still begin the way kmodtui wrote it?"""
    kind = CREATED_FILES.get(remedy)
    return kind is not None and content.startswith(kind[1])
