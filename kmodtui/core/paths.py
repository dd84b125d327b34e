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


def _digest_for(path: str) -> Any:
    import hashlib

    return hashlib.sha256(os.path.basename(path).encode("utf-8", "surrogateescape") + b"\0")


def _seal_digest(path: str, data: bytes | memoryview) -> bytes:
    digest = _digest_for(path)
    digest.update(data)
    return digest.digest()[:_DIGEST]


class SealedWriter:
    """A sealed cache entry written in pieces (a whole tree's JSON, as it goes to stdout), with no
    copy of the whole in memory: the digest goes into the header when it is closed. Best effort and
    atomic like write_cache_file: an error drops the entry, and close() reports nothing."""

    def __init__(self, path: str) -> None:
        self.path, self.tmp = path, f"{path}.{os.getpid()}.{id(self)}.tmp"
        self.digest = _digest_for(path)
        try:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            self.file: Any = open(self.tmp, "wb")  # noqa: SIM115 (closed in close())
            self.file.write(_SEAL + bytes(_DIGEST))
        except OSError:
            self.file = None

    def write(self, data: bytes | memoryview) -> None:
        if self.file is None:
            return
        self.digest.update(data)
        try:
            self.file.write(data)
        except OSError:
            self.abort()

    def abort(self) -> None:
        if self.file is not None:
            self.file.close()
            self.file = None
            try:
                os.unlink(self.tmp)
            except OSError:
                pass

    def close(self) -> None:
        if self.file is None:
            return
        try:
            self.file.seek(len(_SEAL))
            self.file.write(self.digest.digest()[:_DIGEST])
            self.file.close()
            self.file = None
            os.replace(self.tmp, self.path)
        except OSError:
            self.abort()


def write_cache_file(path: str, data: bytes) -> None:
    """Best-effort write of a sealed cache entry, atomically (temp + fsync-free rename): a read-only
    cache only makes kmodtui slower, never stops it."""
    writer = SealedWriter(path)
    writer.write(data)
    writer.close()


_MAP_FROM = 1 << 20  # entries this big are mapped, not read


def read_cache_file(path: str) -> memoryview | None:
    """A sealed entry's content, or None when it is missing, damaged, truncated or not ours. A view,
    not a copy: a big entry (a distro tree's cached report is ~25 MB) is mapped from the page cache,
    so it is neither copied nor given fresh memory (~6,000 page faults, more than reading it costs)."""
    blob: bytes | memoryview
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if size >= _MAP_FROM:
                import mmap

                blob = memoryview(mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ))
            else:
                blob = f.read()
    except (OSError, ValueError):
        return None
    head = len(_SEAL) + _DIGEST
    if len(blob) < head or bytes(blob[: len(_SEAL)]) != _SEAL:
        return None
    data = memoryview(blob)[head:]
    if _seal_digest(path, data) != bytes(blob[len(_SEAL):head]):
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
    from kmodtui.core.scriptnames import shell_words

    return shell_words(self_argv(module))


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
