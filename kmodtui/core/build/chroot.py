"""Building for another Debian release's kernel here: in a chroot of that release, made with debootstrap
(its compiler, its kbuild tools, its dkms and rpm), as a CI runner would use that release's container.
Debian's headers reach kbuild's host tools through linux-kbuild-X.Y, built for their release's C
library, so a trixie kernel cannot be built with bookworm's userland.

The chroot is made once per release in kmodtui's cache (about a minute from Debian's archive) and
holds a copy of this kmodtui (its dependencies as wheels for that release's Python, fetched by this
machine's pip). A build runs the chroot's kmodtui in a private mount namespace (unshare -m) with /proc,
the source and the build's record folder mounted at the same paths, so its log, status and
artifacts are where the outer build expects them; nothing stays mounted.

Runs as `python -m kmodtui.core.build.chroot prepare|build ...` inside a build, so its output is the
build's log.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import zipfile

from kmodtui.core import scriptnames
from kmodtui.core.errors import KmodError
from kmodtui.core.paths import cache_dir
from kmodtui.core.trees import remove_tree

MIRROR = "http://deb.debian.org/debian"
BASE = "make,libc6-dev,kmod,xz-utils,zstd,bc,libelf-dev,python3,dpkg-dev,ca-certificates,build-essential,bubblewrap"
# unstable's Release file can be past its Valid-Until on a mirror that is not refreshed
APT = "apt-get -o Acquire::Check-Valid-Until=false"
VENV = "/opt/kmodtui-venv"
CROSS = {"arm64": "gcc-aarch64-linux-gnu", "armhf": "gcc-arm-linux-gnueabihf", "amd64": "gcc-x86-64-linux-gnu"}


def chroot_dir(suite: str) -> str:
    return os.path.join(cache_dir(), "chroots", suite)


def can_chroot() -> str:
    """"" when chroot builds are possible here, else why not (one line)."""
    if os.geteuid() != 0:
        return "building in a chroot of another release needs root"
    from kmodtui.core.build.tools import find_program

    for tool in ("debootstrap", "unshare", "chroot"):
        if find_program(tool) is None:
            return f"building in a chroot of another release needs {tool} (apt-get install {tool})"
    return ""


def _q(text: str) -> str:
    return scriptnames.shell(text)


def in_chroot(root: str, command: str, binds: tuple[str, ...] = (), env: dict[str, str] | None = None, *,
              capture: bool = False, timeout: float | None = None) -> subprocess.CompletedProcess[str]:
    """Run a shell command in the chroot (private mount namespace: /proc, and `binds` at the same
    paths); its output goes to ours (a build's log), or is captured."""
    # the chroot's / a mount point of its own: bwrap, which confines the chroot's builds, makes it a slave
    mounts = [f"mount --bind {_q(root)} {_q(root)}", f"mount -t proc proc {_q(os.path.join(root, 'proc'))}"]
    for path in binds:
        inside = os.path.join(root, path.lstrip("/"))
        mounts.append(f"mkdir -p {_q(inside)} && mount --bind {_q(path)} {_q(inside)}")
    variables = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HOME": "/root", "LC_ALL": "C.UTF-8",
                 "DEBIAN_FRONTEND": "noninteractive", **(env or {})}
    script = " && ".join(mounts) + f" && exec chroot {_q(root)} env -i " + \
        " ".join(f"{k}={_q(v)}" for k, v in variables.items()) + f" sh -c {_q(command)}"
    sys.stdout.flush()
    return subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", script], capture_output=capture,
                          text=True, timeout=timeout)


def prepare(suite: str, arches: list[str]) -> str:
    """The release's chroot, made or brought up to date; raises KmodError saying what failed."""
    why = can_chroot()
    if why:
        raise KmodError(suite, why)
    root = chroot_dir(suite)
    stamp = os.path.join(root, ".kmodtui-ready")
    if os.path.exists(stamp):  # the release's newest headers, whose kbuild tools the build needs
        _sources(root, suite)
        print(f"kmodtui: bringing the {suite} chroot's kernel headers up to date", flush=True)
        if in_chroot(root, f"{APT} update -q >/dev/null && {APT} install -y -q --no-install-recommends "
                           "linux-headers-$(dpkg --print-architecture) >/dev/null").returncode:
            raise KmodError(suite, "apt-get could not update the chroot's kernel headers")
    else:
        print(f"kmodtui: making a {suite} chroot with debootstrap in {root} (once; about a minute)", flush=True)
        remove_tree(root)
        os.makedirs(os.path.dirname(root), exist_ok=True)
        if subprocess.run(["debootstrap", "--variant=minbase", f"--include={BASE}", suite, root, MIRROR]).returncode:
            raise KmodError(suite, "debootstrap could not make the chroot (see the lines above)")
        shutil.copy("/etc/resolv.conf", os.path.join(root, "etc", "resolv.conf"))
        _sources(root, suite)
        if in_chroot(root, f"{APT} update -q && {APT} install -y -q --no-install-recommends "
                           "linux-headers-$(dpkg --print-architecture) dkms rpm").returncode:
            raise KmodError(suite, "apt-get in the chroot failed (see the lines above)")
        with open(stamp, "w", encoding="utf-8") as f:
            f.write(suite + "\n")
    # the chroot's kmodtui confines its builds with the chroot's bwrap (chroots made before that lack it)
    wanted = ["bubblewrap", *(CROSS[a] for a in arches if a in CROSS and a != _deb_arch())]
    if wanted and in_chroot(root, f"dpkg -s {' '.join(wanted)} >/dev/null 2>&1 || "
                                  f"({APT} update -q && {APT} install -y -q --no-install-recommends "
                                  f"{' '.join(wanted)})").returncode:
        raise KmodError(suite, f"could not install {' '.join(wanted)} in the chroot")
    install_kmodtui(root)
    return root


def _sources(root: str, suite: str) -> None:
    """The release, its -updates and -security (a stable release's newest kernel comes from there),
    as kmodtui reads the archive for `--kernel debian:<release>`."""
    from kmodtui.core.kernels.debian_archive import default_sources

    with open(os.path.join(root, "etc", "apt", "sources.list"), "w", encoding="utf-8") as f:
        f.write("".join(line + "\n" for line in default_sources(suite)))


def _deb_arch() -> str:
    return {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "armhf"}.get(os.uname().machine, os.uname().machine)


def _runtime_requirements() -> list[str]:
    """kmodtui's own dependencies, as its installed metadata lists them (not the extras)."""
    from importlib.metadata import PackageNotFoundError, requires

    try:
        return [r for r in requires("kmodtui") or [] if "extra ==" not in r]
    except PackageNotFoundError:
        raise KmodError("kmodtui", "is not installed as a package here, so its dependencies are unknown "
                                   "(install it with pip)") from None


def install_kmodtui(root: str) -> None:
    """This kmodtui in a venv of the chroot's Python, with its dependencies as wheels for that Python
    (fetched once by this machine's pip: the chroot has none)."""
    import kmodtui

    result = subprocess.run(["chroot", root, "python3", "-c", "import sys; print('%d%d' % sys.version_info[:2])"],
                            capture_output=True, text=True)
    version = result.stdout.strip()
    if result.returncode or not version.isdigit():
        raise KmodError(root, "the chroot has no working python3")
    venv = os.path.join(root, VENV.lstrip("/"))
    if not os.path.exists(os.path.join(venv, "bin", "python")):
        if subprocess.run(["chroot", root, "python3", "-m", "venv", "--without-pip", VENV]).returncode:
            raise KmodError(root, "python3 -m venv failed in the chroot")
    site = next((os.path.join(venv, "lib", d, "site-packages") for d in os.listdir(os.path.join(venv, "lib"))
                 if d.startswith("python3")), "")
    stamp = os.path.join(site, ".kmodtui-wheels")
    if not os.path.exists(stamp):
        wheels = os.path.join(cache_dir(), "chroots", f"wheels-cp{version}")
        os.makedirs(wheels, exist_ok=True)
        if not any(w.endswith(".whl") for w in os.listdir(wheels)):
            fetched = subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--only-binary=:all:",
                                      "--implementation", "cp", "--python-version", f"{version[0]}.{version[1:]}",
                                      "--abi", f"cp{version}", "--platform", "manylinux_2_17_x86_64",
                                      "--platform", "manylinux2014_x86_64", "--platform", "manylinux_2_28_x86_64",
                                      "-d", wheels, *_runtime_requirements()])
            if fetched.returncode:
                remove_tree(wheels)
                raise KmodError(wheels, "pip could not fetch kmodtui's dependencies for the chroot's Python")
        for name in sorted(os.listdir(wheels)):
            if name.endswith(".whl"):
                with zipfile.ZipFile(os.path.join(wheels, name)) as archive:
                    for member in archive.namelist():  # a wheel from PyPI: its members stay in site-packages
                        if member.startswith("/") or ".." in member.split("/"):
                            raise KmodError(name, f"member {member} would land outside site-packages")
                    archive.extractall(site)
        with open(stamp, "w", encoding="utf-8") as f:
            f.write(version + "\n")
    target = os.path.join(site, "kmodtui")
    digest, digest_file = _package_digest(os.path.dirname(kmodtui.__file__)), os.path.join(site, ".kmodtui-digest")
    if os.path.isdir(target) and _read_small(digest_file) == digest:
        return  # this very kmodtui is there: left alone, so a kmodtui running in the chroot is never swapped
    fresh = target + ".new"
    remove_tree(fresh)
    # symlinks=True: the demo root's lib/modules/<abi>/build is an absolute link that dangles wherever
    # that ABI's headers are not installed (most hosts): copied as a link, never followed
    shutil.copytree(os.path.dirname(kmodtui.__file__), fresh, symlinks=True,
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    # swapped by two renames, not removed then replaced: a kmodtui running in the chroot (another test's,
    # another build's) finds its package at every moment but the instant between them
    old = target + ".old"
    remove_tree(old)
    if os.path.exists(target):
        os.replace(target, old)
    os.replace(fresh, target)
    remove_tree(old)
    with open(digest_file, "w", encoding="utf-8") as f:
        f.write(digest)


def _package_digest(package: str) -> str:
    """What install_kmodtui would copy, as one sha256: each file's path and bytes (no caches)."""
    digest = hashlib.sha256()
    for folder, dirs, files in os.walk(package):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for name in sorted(files):
            path = os.path.join(folder, name)
            if name.endswith(".pyc"):
                continue
            digest.update(os.path.relpath(path, package).encode() + b"\0")
            if os.path.islink(path):  # copied as a link (copytree's symlinks=True): its target is what counts
                digest.update(b"link:" + os.readlink(path).encode())
            elif os.path.isfile(path):
                with open(path, "rb") as f:
                    digest.update(hashlib.sha256(f.read()).digest())
    return digest.hexdigest()


def _read_small(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as f:
            return f.read(128)
    except OSError:
        return ""


def build(suite: str, kernel_spec: str, source: str, mode: str, state: str, extra: list[str]) -> int:
    """The chroot's kmodtui builds the source for the kernel; its record lands in `state`."""
    root = chroot_dir(suite)
    os.makedirs(state, exist_ok=True)
    binds = tuple(dict.fromkeys([os.path.abspath(source), os.path.abspath(state),
                                 *(os.path.dirname(os.path.abspath(e)) for e in extra)]))
    command = " ".join([f"{VENV}/bin/python", "-m", "kmodtui", "build", "--kernel", _q(kernel_spec),
                        "--source", _q(os.path.abspath(source)), "--mode", _q(mode), "--no-sign",
                        *(f"--extra-symbols {_q(os.path.abspath(e))}" for e in extra)])
    return in_chroot(root, command, binds, {"KMODTUI_STATE_DIR": os.path.abspath(state),
                                            "KMODTUI_CACHE_DIR": "/var/cache/kmodtui"}).returncode


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="kmodtui.core.build.chroot")
    sub = parser.add_subparsers(dest="action", required=True)
    p = sub.add_parser("prepare")
    p.add_argument("suite")
    p.add_argument("--arch", action="append", default=[])
    b = sub.add_parser("build")
    b.add_argument("suite")
    b.add_argument("--kernel", required=True)
    b.add_argument("--source", required=True)
    b.add_argument("--mode", required=True)
    b.add_argument("--state", required=True)
    b.add_argument("--extra-symbols", action="append", default=[])
    args = parser.parse_args(argv)
    try:
        if args.action == "prepare":
            prepare(args.suite, args.arch)
            return 0
        return build(args.suite, args.kernel, args.source, args.mode, args.state, args.extra_symbols)
    except KmodError as err:
        print(f"kmodtui: {err}", flush=True)
        return 1


if __name__ == "__main__":
    sys.exit(main())
