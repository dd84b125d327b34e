"""Debian releases other than this machine's, as debootstrap chroots: Debian 13 (trixie) and
unstable (sid), each with that release's kernel headers, compiler, dkms, kmod, dpkg and rpm from
Debian's archive. kmodtui runs inside them with the release's own Python: its dependencies come as
wheels fetched for that Python by this machine's pip (the chroot has no pip), unpacked into a venv.

A chroot is made once and kept in the download cache (about 1 minute each from Debian's archive);
kmodtui's current files are copied in on every run. Mounts happen in a private mount namespace
(unshare -m): nothing is left mounted if a test dies.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

from tests.realtools import DOWNLOAD_CACHE, REPO, missing, require_tool, run

MIRROR = "http://deb.debian.org/debian"
BASE_PACKAGES = "make,libc6-dev,kmod,xz-utils,zstd,bc,libelf-dev,python3,dpkg-dev,ca-certificates"
RELEASE_PACKAGES = "linux-headers-amd64 dkms rpm"
VENV = "/opt/kmodtui-venv"
# The archive's unstable Release file can be past its Valid-Until on a mirror that is not refreshed.
APT = "apt-get -o Acquire::Check-Valid-Until=false"


def in_chroot(root: Path, command: str, timeout: int = 1800, **env: str) -> subprocess.CompletedProcess[str]:
    """Run a shell command inside the chroot, with /proc mounted in a private namespace."""
    variables = " ".join(f"{k}={shlex_quote(v)}" for k, v in {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
                                                             "HOME": "/root", "LC_ALL": "C.UTF-8",
                                                             "DEBIAN_FRONTEND": "noninteractive", **env}.items())
    script = f"mount -t proc proc {shlex_quote(str(root / 'proc'))} && exec chroot {shlex_quote(str(root))} " \
             f"env -i {variables} sh -c {shlex_quote(command)}"
    return subprocess.run([require_tool("unshare"), "-m", "sh", "-c", script], capture_output=True, text=True,
                          timeout=timeout)


def shlex_quote(text: str) -> str:
    import shlex

    return shlex.quote(text)


def debian_chroot(suite: str) -> Path:
    """The suite's chroot with its headers, dkms and rpm, made once (a stamp marks it complete)."""
    if os.geteuid() != 0:
        missing("debootstrap chroots need root (CI runs as root)")
    root = DOWNLOAD_CACHE / f"chroot-{suite}"
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
    install_kmodtui(root)
    return root


def _chroot_python(root: Path) -> str:
    result = in_chroot(root, "python3 -c 'import sys; print(\"%d%d\" % sys.version_info[:2])'")
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def install_kmodtui(root: Path) -> None:
    """A venv made by the chroot's python3 (without pip), kmodtui's dependencies unpacked from wheels
    for that Python, and kmodtui's package (with its C reader, loaded by ctypes) copied in."""
    version = _chroot_python(root)
    wheels = DOWNLOAD_CACHE / f"wheels-cp{version}"
    requirements = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    if not any(wheels.glob("*.whl")):
        wheels.mkdir(parents=True, exist_ok=True)
        result = run([sys.executable, "-m", "pip", "download", "-q", "--only-binary=:all:", "--implementation", "cp",
                      "--python-version", f"{version[0]}.{version[1:]}", "--abi", f"cp{version}",
                      "--platform", "manylinux_2_17_x86_64", "--platform", "manylinux2014_x86_64",
                      "--platform", "manylinux_2_28_x86_64", "-d", str(wheels), *requirements])
        if result.returncode != 0:
            shutil.rmtree(wheels, ignore_errors=True)
            missing(f"pip could not fetch kmodtui's dependencies for Python {version}: {result.stderr.strip()[-300:]}")
    venv = root / VENV.lstrip("/")
    if not (venv / "bin" / "python").exists():
        result = in_chroot(root, f"python3 -m venv --without-pip {VENV}")
        assert result.returncode == 0, result.stderr
    [site] = list((venv / "lib").glob("python3*/site-packages"))
    stamp = site / ".kmodtui-wheels"
    if not stamp.exists():
        for wheel in sorted(wheels.glob("*.whl")):
            with zipfile.ZipFile(wheel) as archive:
                archive.extractall(site)  # wheels from PyPI for this Python: their members stay inside site
        stamp.write_text("\n".join(w.name for w in sorted(wheels.glob("*.whl"))) + "\n")
    target = site / "kmodtui"
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(REPO / "kmodtui", target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))


def kmodtui_in(root: Path, args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """`kmodtui ARGS` inside the chroot (ARGS is shell text: paths inside the chroot)."""
    return in_chroot(root, f"{VENV}/bin/python -m kmodtui {args}", **env)
