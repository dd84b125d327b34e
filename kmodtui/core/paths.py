"""Where kmodtui keeps its files (XDG dirs; overridable for tests and sandboxes)."""

from __future__ import annotations

import os
import stat  # already loaded by os.path

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
    """kmodtui's cache folder, made private (0700) if new; KmodError if it is not ours alone."""
    return own_folder(os.environ.get("KMODTUI_CACHE_DIR") or _xdg("XDG_CACHE_HOME", "~/.cache"),
                      _setting("KMODTUI_CACHE_DIR", "XDG_CACHE_HOME"))


def state_dir() -> str:
    """kmodtui's state folder (builds, locks, remedies, keys), checked as cache_dir() is."""
    return own_folder(os.environ.get("KMODTUI_STATE_DIR") or _xdg("XDG_STATE_HOME", "~/.local/state"),
                      _setting("KMODTUI_STATE_DIR", "XDG_STATE_HOME"))


def _setting(ours: str, xdg: str) -> str:
    """What to tell a user whose folder is refused: the variable that chose it, or how to choose."""
    if os.environ.get(ours):
        return f"set {ours} to a folder of your own"
    if os.path.isabs(os.environ.get(xdg, "")):
        return f"set {xdg} to a folder of your own"
    return f"if you ran kmodtui with sudo, use `sudo -H`, or set {xdg} to a folder of your own"


def own_folder(path: str, fix: str = "choose a folder of your own") -> str:
    """`path`, a folder kmodtui reads back what it wrote (cache entries, build records, remedy
    manifests), once it is sure nobody else could have written there: it must be owned by this
    user and writable by nobody else, and so must the folder holding it, which could otherwise
    swap it (that one may also be root's, or shared with the sticky bit, as /tmp). Root running
    with another user's HOME (sudo keeping HOME, `sudo -E`) would otherwise read what that user
    planted. A missing folder is made, mode 0700; KmodError (one line, with `fix`) otherwise."""
    path = os.path.abspath(path)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        _check_trusted(_existing_ancestor(path), fix, holder=True)
        try:
            os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
            os.mkdir(path, 0o700)
        except FileExistsError:
            pass
        except OSError:  # a read-only home: kmodtui works without a cache, only slower
            return path
        st = os.stat(path)
    except OSError:
        return path
    _refuse_unless_ours(path, st, fix, holder=False)
    _check_trusted(os.path.dirname(path), fix, holder=True)
    return path


def _existing_ancestor(path: str) -> str:
    while not os.path.lexists(path) and os.path.dirname(path) != path:
        path = os.path.dirname(path)
    return path


def _check_trusted(path: str, fix: str, *, holder: bool) -> None:
    try:
        st = os.stat(path)
    except OSError:
        return
    _refuse_unless_ours(path, st, fix, holder=holder)


def _refuse_unless_ours(path: str, st: os.stat_result, fix: str, *, holder: bool) -> None:
    """KmodError unless `st` is a folder only this user can write to; `holder`: the folder that
    holds kmodtui's, which may also be root's, or shared with the sticky bit (as /tmp)."""
    from shlex import quote

    from kmodtui.core.errors import KmodError

    euid = os.geteuid()
    if not stat.S_ISDIR(st.st_mode):
        raise KmodError(path, f"not a folder; {fix}")
    if st.st_uid != euid and not (holder and st.st_uid == 0):
        harm = "they could replace kmodtui's folder in it" if holder else "kmodtui would read back what they put there"
        raise KmodError(path, f"owned by {_user(st.st_uid)}, not by you ({_user(euid)}): {harm}; {fix}")
    if holder and st.st_mode & stat.S_ISVTX:
        return  # others can add to it, but not rename or remove what is ours
    if st.st_mode & 0o002 or (st.st_mode & 0o020 and not _private_group(st.st_gid, euid)):
        who = "others" if st.st_mode & 0o002 else "its group"
        raise KmodError(path, f"writable by {who} (mode {stat.S_IMODE(st.st_mode):04o}): they could plant what "
                              f"kmodtui reads back; run `chmod go-w {quote(path)}`")


def _user(uid: int) -> str:
    import pwd

    try:
        return f"{pwd.getpwuid(uid).pw_name}, uid {uid}"
    except KeyError:
        return f"uid {uid}"


def _private_group(gid: int, uid: int) -> bool:
    """A group whose only member is this user (a user private group: with umask 002, as Fedora sets
    it, every folder is group-writable). The rule of Debian's OpenSSH for StrictModes: every
    account with it as primary group is this user's, and no one else is listed in it."""
    import grp
    import pwd

    try:
        group = grp.getgrgid(gid)
        name = pwd.getpwuid(uid).pw_name
    except KeyError:
        return False
    primary = [account.pw_uid for account in pwd.getpwall() if account.pw_gid == gid]
    return bool(primary or group.gr_mem) and all(u == uid for u in primary) and set(group.gr_mem) <= {name}


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
            os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
            # a new file of ours alone, never one found there (O_EXCL) nor one a link points at
            fd = os.open(self.tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
            self.file: Any = open(fd, "wb")  # noqa: SIM115 (closed in close())
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


def write_cache_file(path: str, *data: bytes | memoryview) -> None:
    """Best-effort write of a sealed cache entry (its content, or its pieces one after the other),
    atomically (temp + fsync-free rename): a read-only cache only makes kmodtui slower, never stops it."""
    writer = SealedWriter(path)
    for piece in data:
        writer.write(piece)
    writer.close()


_MAP_FROM = 1 << 20  # entries this big are mapped, not read


def read_cache_file(path: str) -> memoryview | None:
    """A sealed entry's content, or None when it is missing, damaged, truncated or not ours: a file
    this user does not own, or others could write, is never read (the seal is no defence there:
    anyone can compute it). A view, not a copy: a big entry (a distro tree's cached report is
    ~25 MB) is mapped from the page cache, so it is neither copied nor given fresh memory (~6,000
    page faults, more than reading it costs)."""
    blob: bytes | memoryview
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        with open(fd, "rb") as f:
            st = os.fstat(fd)
            if st.st_uid != os.geteuid() or st.st_mode & 0o022 or not stat.S_ISREG(st.st_mode):
                return None
            size = st.st_size
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
