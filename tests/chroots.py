"""Debian releases other than this machine's, as debootstrap chroots: Debian 13 (trixie) and
unstable (sid), each with that release's kernel headers, compiler, dkms, kmod, dpkg and rpm from
Debian's archive. kmodtui runs inside them with the release's own Python, installed the way
kmodtui installs itself into the chroots it makes for `--kernel debian:<release>`
(core/build/chroot.py).

A chroot is made once and kept in the download cache (about 1 minute each from Debian's archive);
kmodtui's current files are copied in on every run. Mounts happen in a private mount namespace
(unshare -m): nothing is left mounted if a test dies.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from kmodtui.core.build.chroot import APT, MIRROR, VENV, install_kmodtui
from kmodtui.core.build.chroot import in_chroot as run_in_chroot
from tests.realtools import DOWNLOAD_CACHE, missing, require_tool, run
from tests.runlocks import locked

BASE_PACKAGES = "make,libc6-dev,kmod,xz-utils,zstd,bc,libelf-dev,python3,dpkg-dev,ca-certificates"
RELEASE_PACKAGES = "linux-headers-amd64 dkms rpm bubblewrap"  # bwrap: the chroot's kmodtui confines its builds


def in_chroot(root: Path, command: str, timeout: int = 1800, **env: str) -> subprocess.CompletedProcess[str]:
    """A shell command in the chroot, its output captured (kmodtui's own chroot runner: /proc mounted
    in a private mount namespace)."""
    return run_in_chroot(str(root), command, env=env, capture=True, timeout=timeout)


def debian_chroot(suite: str) -> Path:
    """The suite's chroot with its headers, dkms and rpm, made once (a stamp marks it complete), by one
    process at a time (parallel test workers share the download cache)."""
    if os.geteuid() != 0:
        missing("debootstrap chroots need root (CI runs as root)")
    root = DOWNLOAD_CACHE / f"chroot-{suite}"
    with locked(root.with_name(root.name + ".lock")):
        return _made(suite, root)


def _made(suite: str, root: Path) -> Path:
    stamp = root / ".kmodtui-ready"
    if not stamp.exists():
        shutil.rmtree(root, ignore_errors=True)
        DOWNLOAD_CACHE.mkdir(parents=True, exist_ok=True)
        result = run([require_tool("debootstrap"), "--variant=minbase", f"--include={BASE_PACKAGES}", suite,
                      str(root), MIRROR])
        if result.returncode != 0:
            missing(f"debootstrap {suite} failed: {(result.stdout + result.stderr).strip()[-300:]}")
        shutil.copy("/etc/resolv.conf", root / "etc" / "resolv.conf")
        # unstable splits the kernel: linux-binary-<release> ships its image (/usr/lib/modules/<release>/vmlinuz)
        release = "$(ls /usr/src | sed -n 's/^linux-headers-\\(.*-amd64\\)$/\\1/p' | head -1)"
        result = in_chroot(root, f"{APT} update -q && {APT} install -y -q --no-install-recommends {RELEASE_PACKAGES} "
                                 f"&& ({APT} install -y -q --no-install-recommends linux-binary-{release} || true)")
        if result.returncode != 0:
            missing(f"apt-get in the {suite} chroot failed: {(result.stdout + result.stderr).strip()[-300:]}")
        stamp.write_text(suite + "\n")
    if not (root / "usr" / "bin" / "bwrap").exists():  # a chroot made before builds were confined
        result = in_chroot(root, f"{APT} update -q && {APT} install -y -q --no-install-recommends bubblewrap")
        if result.returncode != 0:
            missing(f"apt-get could not add bubblewrap to the {suite} chroot: {(result.stdout + result.stderr)[-300:]}")
    install_kmodtui(str(root))
    return root


def kmodtui_in(root: Path, args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """`kmodtui ARGS` inside the chroot (ARGS is shell text: paths inside the chroot)."""
    return in_chroot(root, f"{VENV}/bin/python -m kmodtui {args}", **env)
