"""One build user per confined build, when kmodtui runs as root: RLIMIT_NPROC counts every task of a
uid, so builds that shared one user shared one process budget (a fork bomb in one, or a few big
builds at once, made the others' fork() fail, which configure reads as "feature not there").

The users are a pool, kmodtui-build0, kmodtui-build1, ..., made (useradd --system, each its own group,
no home, no shell) the first time that many builds run at once. A build takes the first free one under
an flock(2) on its slot file, which dies with the process that holds it; the slot file names the
folders handed to that user, so a build that crashed (kmodtui killed) has them taken back by the next
build that takes the slot. A slot whose uid still runs a task is passed over. As Nix's nixbld1..N:
named users, not bare uids, so tools that ask who they are (rpmbuild's file owners, whoami) get an
answer and no other program is handed the same uid.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import stat
import subprocess
from dataclasses import dataclass, field

from kmodtui.core.errors import KmodError

PREFIX = "kmodtui-build"  # kmodtui-build0, kmodtui-build1, ...
POOL_SIZE = 32  # builds that may run confined at once on one host
SLOTS_DIR = "/run/kmodtui/build-users"  # root's; tmpfs: no slot outlives a reboot, nor any build


@dataclass
class BuildUser:
    """A pool user this process holds: its uid, and the folders handed to it."""

    name: str
    uid: int
    gid: int
    fd: int
    folders: list[str] = field(default_factory=list)

    def give(self, folder: str, kept: tuple[str, ...]) -> None:
        """The build's folder, owned by this user alone (0700; links changed themselves, never followed);
        the slot file names it first, so a crash between here and `release` cannot orphan it."""
        folder = os.path.realpath(folder)  # as `kept` is compared: the log stays kmodtui's
        self.folders.append(folder)
        _write_slot(self.fd, self.folders)
        keep = {os.path.realpath(k) for k in kept}
        os.lchown(folder, self.uid, self.gid)
        os.chmod(folder, 0o700)
        for root, dirs, files in os.walk(folder):
            for name in dirs + files:
                path = os.path.join(root, name)
                if path not in keep:
                    os.lchown(path, self.uid, self.gid)

    def release(self) -> None:
        """The folders back to kmodtui's own user, then the slot free for the next build."""
        try:
            for folder in self.folders:
                take_back(folder, self.uid)
            self.folders.clear()
            _write_slot(self.fd, [])
        finally:  # a folder not taken back stays named in the slot: the next build of this user takes it
            os.close(self.fd)
            _held.pop(self.name, None)


_held: dict[str, BuildUser] = {}  # this process's users, by name


def slot_name(slot: int) -> str:
    return f"{PREFIX}{slot}"


def take(slots_dir: str = SLOTS_DIR, size: int = POOL_SIZE) -> BuildUser:
    """The first free pool user, made when missing; its slot stays ours until `release` (or our exit)."""
    os.makedirs(slots_dir, mode=0o700, exist_ok=True)
    busy = _uids_running()
    for slot in range(size):
        name = slot_name(slot)
        fd = os.open(os.path.join(slots_dir, f"{name}.lock"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        try:
            uid, gid = _ensure_user(name)
        except BaseException:
            os.close(fd)
            raise
        if uid in busy:  # a task of a build that lost its kmodtui: its budget is not free
            os.close(fd)
            continue
        for folder in _read_slot(fd):  # a crashed build's: taken back before the uid builds anything else
            take_back(folder, uid)
        _write_slot(fd, [])
        user = BuildUser(name, uid, gid, fd)
        _held[name] = user
        return user
    raise KmodError(PREFIX, f"all {size} build users are busy ({size} confined builds are running on this host); "
                            "wait for one to finish (`kmodtui builds` lists them)")


def held(name: str) -> BuildUser | None:
    return _held.get(name)


def take_back(folder: str, uid: int) -> None:
    """What `uid` owns in `folder`, owned by kmodtui's own user again, without set-id bits (links
    changed themselves, never followed; nothing of that uid runs any more, so nothing moves meanwhile)."""
    if not os.path.isdir(folder) or os.path.islink(folder):
        return
    _own_again(folder, uid)
    for root, dirs, files in os.walk(folder):
        for name in dirs + files:
            _own_again(os.path.join(root, name), uid)


def _own_again(path: str, uid: int) -> None:
    try:
        info = os.lstat(path)
        if info.st_uid != uid:
            return
        os.lchown(path, os.geteuid(), os.getegid())
        if stat.S_ISREG(info.st_mode) and info.st_mode & (stat.S_ISUID | stat.S_ISGID):
            os.chmod(path, stat.S_IMODE(info.st_mode) & ~(stat.S_ISUID | stat.S_ISGID))
    except FileNotFoundError:  # gone meanwhile
        return


def _uids_running() -> set[int]:
    uids = set()
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                uids.add(os.stat(f"/proc/{pid}").st_uid)
            except OSError:
                continue
    return uids


def _read_slot(fd: int) -> list[str]:
    os.lseek(fd, 0, os.SEEK_SET)
    try:
        folders = json.loads(os.read(fd, 1 << 20) or b"{}").get("folders", [])
    except (ValueError, AttributeError):
        return []
    return [f for f in folders if isinstance(f, str) and os.path.isabs(f)] if isinstance(folders, list) else []


def _write_slot(fd: int, folders: list[str]) -> None:
    data = json.dumps({"pid": os.getpid(), "folders": folders}).encode()
    os.ftruncate(fd, 0)
    os.pwrite(fd, data, 0)
    os.fsync(fd)


def _ensure_user(name: str) -> tuple[int, int]:
    """The user's uid and gid, made (useradd --system, its own group, no home, no shell) when missing."""
    import pwd

    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        useradd = shutil.which("useradd") or "/usr/sbin/useradd"
        result = subprocess.run([useradd, "--system", "--user-group", "--no-create-home", "--home-dir", "/nonexistent",
                                 "--shell", "/usr/sbin/nologin", "--comment", "kmodtui confined builds", name],
                                capture_output=True, text=True)
        if result.returncode != 0 and "already exists" not in result.stderr:
            raise KmodError(name, f"cannot make the build user ({result.stderr.strip()[-200:]}); make it with "
                                  f"`useradd --system --user-group {name}` or pass --no-sandbox") from None
        entry = pwd.getpwnam(name)
    return entry.pw_uid, entry.pw_gid
