"""Where kmodtui keeps its files (XDG dirs; overridable for tests and sandboxes)."""

from __future__ import annotations

import os

TYPE_CHECKING = False  # as typing's, without importing typing (~8 ms) on every start
if TYPE_CHECKING:
    import subprocess  # imported where a tool runs, not on every start
    from typing import Any


def _xdg(variable: str, default: str) -> str:
    """The XDG Base Directory rule: the variable if it holds an absolute path, else the default.
    Written out rather than imported from platformdirs (which kmodtui used before): that import
    cost ~10 ms of every command's start-up, and kmodtui only runs on Linux."""
    base = os.environ.get(variable, "")
    if not os.path.isabs(base):
        base = os.path.expanduser(default)
    return os.path.join(base, "kmodtui")


def cache_dir() -> str:
    return os.environ.get("KMODTUI_CACHE_DIR") or _xdg("XDG_CACHE_HOME", "~/.cache")


def state_dir() -> str:
    return os.environ.get("KMODTUI_STATE_DIR") or _xdg("XDG_STATE_HOME", "~/.local/state")


# Every cache entry is sealed: a magic, then a digest of (the entry's name, its content), then the
# content. The name is itself derived from the inputs' identity, so an entry answers only for the
# inputs it was made from; a flipped byte, a truncation or an entry copied under another name is a
# miss (a slower run), never an answer. sha256 runs at ~2 GB/s here (SHA extensions), the fastest
# digest hashlib has on this machine after crc32, which is no digest.
_SEAL = b"KMTC\x01\x00\x00\x00"
_DIGEST = 16


def _seal_digest(path: str, data: bytes | memoryview) -> bytes:
    import hashlib

    digest = hashlib.sha256(os.path.basename(path).encode("utf-8", "surrogateescape") + b"\0")
    digest.update(data)
    return digest.digest()[:_DIGEST]


def write_cache_file(path: str, data: bytes) -> None:
    """Best-effort write of a sealed cache entry, atomically (temp + fsync-free rename): a read-only
    cache only makes kmodtui slower, never stops it."""
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = f"{path}.{os.getpid()}.tmp"
        with open(tmp, "wb") as f:
            f.write(_SEAL + _seal_digest(path, data))
            f.write(data)
        os.replace(tmp, path)
    except OSError:
        pass


def read_cache_file(path: str) -> memoryview | None:
    """A sealed entry's content, or None when it is missing, damaged, truncated or not ours. A view
    into the bytes read, not a copy (a cached report of a distro tree is ~13 MB)."""
    try:
        with open(path, "rb") as f:
            blob = f.read()
    except OSError:
        return None
    head = len(_SEAL) + _DIGEST
    if len(blob) < head or not blob.startswith(_SEAL):
        return None
    data = memoryview(blob)[head:]
    if _seal_digest(path, data) != blob[len(_SEAL):head]:
        return None
    return data


def self_argv(module: str = "kmodtui") -> list[str]:
    """How kmodtui runs itself (detached builds, hooks, serve, spec generators): `python -I -m`, so
    the folder the command starts in is never on sys.path (a `kmodtui/` folder there, or a hostile
    `kmodtui/__main__.py`, would otherwise run instead) and PYTHON* variables are ignored."""
    import sys

    return [sys.executable, "-I", "-m", module]


def self_command(module: str = "kmodtui") -> str:
    """self_argv() as one shell word list."""
    import shlex

    return " ".join(shlex.quote(word) for word in self_argv(module))


def package_data(*parts: str) -> str:
    """A file shipped inside the kmodtui package (demo data, example modules)."""
    return os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), *parts)


def existing_listed_files(items: list[str]) -> list[str]:
    """The files among `items` that exist, where an item `@FILE` stands for the paths listed in FILE,
    one per line (a build step writes the list of modules known only once the build ran)."""
    listed: list[str] = []
    for item in items:
        if item.startswith("@"):
            try:
                with open(item[1:], encoding="utf-8") as f:
                    listed += [line.strip() for line in f if line.strip()]
            except OSError:
                pass
        else:
            listed.append(item)
    return [path for path in listed if os.path.isfile(path)]


def run_captured(argv: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    """A tool run for its answer: output captured as text, messages in the C locale (rules and
    parsers read English), the rest of the environment as it is."""
    import subprocess

    return subprocess.run(argv, capture_output=True, text=True, env={**os.environ, "LC_ALL": "C"},
                          **kwargs)
