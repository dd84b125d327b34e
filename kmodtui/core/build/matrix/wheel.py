"""The wheel of the running kmodtui, for an exported CI pipeline to install: no package index has
kmodtui, so a job installs exactly the kmodtui that wrote it.

The wheel is packed from the files this interpreter imports kmodtui from (the source tree of an
editable install, or site-packages after a wheel install) and the installed distribution's metadata,
so both cases are one mechanism, and a kmodtui installed from the wheel packs the same bytes again
(sorted members, fixed timestamps). It is pure Python (`py3-none-any`): the optional C scanner
(`_kscan*.so`, loaded with ctypes, built for this interpreter) is left out, so the wheel installs on
any CPython kmodtui supports (a debian:trixie container has 3.13); kmodtui falls back to its Python
reader there.
"""

from __future__ import annotations

import base64
import hashlib
import os
import zipfile

from kmodtui.core.errors import KmodError

# what the running package holds that a wheel must not: bytecode, this interpreter's C scanner, build
# leftovers of the bundled example modules, editor backups
_LEFT_OUT_DIRS = {"__pycache__"}
_LEFT_OUT_SUFFIXES = (".pyc", ".pyo", ".so", ".o", "~", ".orig", ".rej", ".swp")
_STAMP = (1980, 1, 1, 0, 0, 0)  # the oldest time a zip can hold: the same files make the same wheel
INSTALL_HINT = "give --install SPEC (a wheel in the repository, a git URL: what the jobs `pip install`)"


def _digest(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def _package_files(package_dir: str) -> list[tuple[str, str]]:
    """(path in the wheel, file) for every file of the running package, sorted. Symbolic links are
    left out: a wheel cannot hold one (the demo's lib/modules/<abi>/build points at this machine's
    headers)."""
    found = []
    for folder, dirs, files in os.walk(package_dir):
        dirs[:] = sorted(d for d in dirs if d not in _LEFT_OUT_DIRS and not os.path.islink(os.path.join(folder, d)))
        for name in files:
            path = os.path.join(folder, name)
            if name.endswith(_LEFT_OUT_SUFFIXES) or os.path.islink(path):
                continue
            inside = os.path.relpath(path, os.path.dirname(package_dir)).replace(os.sep, "/")
            found.append((inside, path))
    return sorted(found)


def _metadata() -> tuple[str, str, str]:
    """(version, METADATA, entry_points.txt) of the installed kmodtui that is running."""
    from importlib.metadata import PackageNotFoundError, distribution

    import kmodtui

    try:
        dist = distribution("kmodtui")
    except PackageNotFoundError:
        raise KmodError("kmodtui", f"is not installed as a package here (no metadata to make its wheel of); "
                                   f"{INSTALL_HINT}") from None
    if dist.version != kmodtui.__version__:
        raise KmodError(os.path.dirname(kmodtui.__file__), f"is kmodtui {kmodtui.__version__}, but the installed "
                        f"metadata says {dist.version} (another kmodtui is installed); {INSTALL_HINT}")
    metadata = dist.read_text("METADATA") or dist.read_text("PKG-INFO")  # PKG-INFO: a source tree's egg-info
    if not metadata:
        raise KmodError("kmodtui", f"its installed metadata has no METADATA or PKG-INFO file; {INSTALL_HINT}")
    return dist.version, metadata, dist.read_text("entry_points.txt") or ""


def wheel_name(version: str) -> str:
    return f"kmodtui-{version}-py3-none-any.whl"


def write_running_wheel(folder: str) -> str:
    """Write the running kmodtui's wheel into `folder`; returns its path."""
    import kmodtui

    version, metadata, entry_points = _metadata()
    info = f"kmodtui-{version}.dist-info"
    members: list[tuple[str, bytes]] = []
    for inside, path in _package_files(os.path.dirname(os.path.abspath(kmodtui.__file__))):
        try:
            with open(path, "rb") as f:
                members.append((inside, f.read()))
        except OSError as err:
            raise KmodError(path, f"cannot be read into kmodtui's wheel: {err.strerror or err}") from None
    members.append((f"{info}/METADATA", metadata.encode()))
    members.append((f"{info}/WHEEL", b"Wheel-Version: 1.0\nGenerator: kmodtui\nRoot-Is-Purelib: true\n"
                                     b"Tag: py3-none-any\n"))
    if entry_points:
        members.append((f"{info}/entry_points.txt", entry_points.encode()))
    record = "".join(f"{name},{_digest(data)},{len(data)}\n" for name, data in members) + f"{info}/RECORD,,\n"
    members.append((f"{info}/RECORD", record.encode()))
    path = os.path.join(folder, wheel_name(version))
    tmp = path + ".tmp"
    try:
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as archive:
            for name, data in members:
                entry = zipfile.ZipInfo(name, _STAMP)
                entry.external_attr = 0o644 << 16
                entry.compress_type = zipfile.ZIP_DEFLATED
                archive.writestr(entry, data)
        os.replace(tmp, path)
    except OSError as err:
        raise KmodError(path, f"the wheel cannot be written: {err.strerror or err}") from None
    return path
