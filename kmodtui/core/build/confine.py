"""Builds run confined: every step that runs code from the source (make/kbuild, configure, dkms.conf's
PRE_BUILD, dkms, rpmbuild's %build) runs under bubblewrap, as an unprivileged user with no
capabilities (as root: a build user of its own, buildusers.py, so no build shares another's process
budget), in its own mount, pid, ipc, uts, cgroup and (empty) network namespaces: the system and
the kernel headers read-only, only the build's own folder writable, a private /tmp, homes, kmodtui's
state (its signing key) and dkms's key hidden, with limits on processes, memory, CPU time and file size.

`Confinement` is the value (`wrap` turns a step's argv into the bwrap command line; pure);
`confinement_for` asks this host (bwrap present, user namespaces usable, the build user made when run
as root) and says in one line why not, with the fix: it never falls back silently. `--no-sandbox` (or
KMODTUI_NO_SANDBOX=<why>) is the only way to build unconfined, and the record says so.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass

from kmodtui.core.build import buildusers
from kmodtui.core.errors import KmodError

NO_SANDBOX_SETTING = "KMODTUI_NO_SANDBOX"  # a reason: builds on this host run unconfined, saying so
INSTALL_FIX = "install bubblewrap (Debian/Ubuntu: apt-get install bubblewrap; Fedora/RHEL: dnf install bubblewrap)"
# Per process: RLIMIT_NPROC counts every task of the build's uid, its own as root (a fork bomb stops there
# and starves no other build), AS bounds one
# compiler's address space, CPU one process's seconds, FSIZE one file (a disk-filling loop stops there).
LIMITS = {"nproc": 1024, "as": 8 << 30, "cpu": 3600, "fsize": 8 << 30}
WALL_CLOCK = 4 * 3600.0  # seconds a confined build may take when the request sets no timeout
REFUSED = ("writes outside the build's folder", "homes, kmodtui's state and signing keys",
           "files only root can read", "the network (its own empty namespace)", "capabilities",
           f"more than {LIMITS['nproc']} processes")


@dataclass(frozen=True)
class Confinement:
    """How a build's source-controlled steps run. bwrap == "": unconfined, `reason` says why."""

    bwrap: str = ""
    user: str = ""  # whom the steps run as
    uid: int = -1  # -1: the caller's own (not root); else the build user's, dropped to before bwrap
    gid: int = -1
    writable: tuple[str, ...] = ()  # the build's own folder
    readable: tuple[str, ...] = ()  # kernel trees, extra symvers, the source, kmodtui itself: re-shown read-only
    hidden: tuple[str, ...] = ()  # an empty tmpfs over each: homes, state (keys), cache, dkms's key
    kept: tuple[str, ...] = ()  # files inside `writable` the build may not change (its log)
    reason: str = ""
    setpriv: str = ""  # as root: util-linux's setpriv, which drops to the build user inside
    # RLIMIT_NPROC counts every task of the uid: as a user, the build gets LIMITS["nproc"] above what
    # that user already runs (a browser's threads must not starve the build)
    nproc: int = LIMITS["nproc"]

    @property
    def confined(self) -> bool:
        return bool(self.bwrap)

    def describe(self) -> str:
        """One line for the log's header, the build screen and --json."""
        if not self.confined:
            return f"unconfined: {self.reason}"
        return f"confined: bwrap, uid {self.user}, no network, read-only system"

    def as_json(self) -> dict[str, object]:
        return {"confined": self.confined, "tool": "bwrap" if self.confined else "", "user": self.user,
                "network": not self.confined, "reason": self.reason, "summary": self.describe()}

    def wrap(self, argv: tuple[str, ...], cwd: str) -> tuple[str, ...]:
        """The command line that runs argv confined: what it may touch is listed one bind at a time."""
        if not self.confined:
            return argv
        if self.uid >= 0:
            # as root: bwrap makes the namespaces (no user namespace: one mapping root to root would let
            # root-owned files be read), then setpriv drops to the build user, every capability gone
            out = [self.bwrap, "--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts",
                   "--unshare-cgroup-try"]
            inner = [self.setpriv or "setpriv", "--reuid", str(self.uid), "--regid", str(self.gid), "--clear-groups",
                     "--inh-caps=-all", "--bounding-set=-all", "--"]
        else:  # as a user: bwrap's own user namespace maps the caller to itself
            out = [self.bwrap, "--unshare-all", "--cap-drop", "ALL"]
            inner = []
        out += ["--die-with-parent", "--new-session", "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc",
                "--perms", "1777", "--tmpfs", "/tmp", "--perms", "1777", "--tmpfs", "/var/tmp"]
        covered = ["/tmp", "/var/tmp"]  # empty tmpfs mounts so far: a mount inside one needs its folders made there
        mounts = [("--tmpfs", p) for p in self.hidden] + [("--ro-bind", p) for p in self.readable] + \
            [("--bind", p) for p in self.writable] + [("--ro-bind", p) for p in self.kept]
        for option, path in mounts:
            out += _folders_to(path, covered)
            out += [option, path] if option == "--tmpfs" else [option, path, path]
            if option == "--tmpfs":
                covered.append(path)
        out += ["--chdir", cwd, "--", *inner, *argv]
        return tuple(out)

    def preexec(self) -> Callable[[], None] | None:
        """Run in the child before bwrap: the limits (RLIMIT_NPROC counts the build user's tasks once
        setpriv or bwrap's namespace made them theirs)."""
        if not self.confined:
            return None
        nproc = self.nproc

        def limit() -> None:
            import resource

            for name, value in (("NPROC", nproc), ("AS", LIMITS["as"]), ("CPU", LIMITS["cpu"]),
                                ("FSIZE", LIMITS["fsize"])):
                kind = getattr(resource, f"RLIMIT_{name}")
                hard = resource.getrlimit(kind)[1]
                value = value if hard == resource.RLIM_INFINITY else min(value, hard)
                resource.setrlimit(kind, (value, value))

        return limit


def _folders_to(path: str, covered: list[str]) -> list[str]:
    """The folders between the innermost tmpfs holding `path` and `path`, made searchable by anyone
    (bwrap makes them 0700 as root's, which the build user could not pass)."""
    inside = [c for c in covered if path.startswith(c.rstrip("/") + "/")]
    if not inside:
        return []
    top = max(inside, key=len)
    parts = path[len(top.rstrip("/")) + 1:].split("/")[:-1]
    out, current = [], top.rstrip("/")
    for part in parts:
        current = f"{current}/{part}"
        out += ["--perms", "0755", "--dir", current]
    return out


def unconfined(reason: str) -> Confinement:
    return Confinement(reason=reason)


def no_sandbox_reason(flag: bool) -> str:
    """Why this build runs unconfined ("" = it does not): --no-sandbox, or the host's setting."""
    if flag:
        return "--no-sandbox"
    setting = os.environ.get(NO_SANDBOX_SETTING, "").strip()
    return f"{NO_SANDBOX_SETTING}={setting[:200]}" if setting else ""


def warning(reason: str) -> str:
    """What is said every time a build runs unconfined."""
    return (f"kmodtui: warning: this build runs UNCONFINED ({reason}): the source's Makefile, configure and "
            f"dkms.conf commands run as uid {os.geteuid()} with the network and every file that user can reach")


def _hidden_folders() -> tuple[str, ...]:
    from kmodtui.core.paths import cache_dir, state_dir

    candidates = ["/root", "/home", os.path.expanduser("~"), state_dir(), cache_dir(), "/var/lib/dkms",
                  "/var/lib/shim-signed", "/etc/ssh", "/run/user"]
    seen: list[str] = []
    for path in candidates:
        path = os.path.realpath(path)
        if path != "/" and os.path.isdir(path) and path not in seen and not path.startswith("/tmp/"):
            seen.append(path)
    return tuple(seen)


def _kmodtui_itself() -> tuple[str, ...]:
    """What running kmodtui's own steps inside needs: its package and its Python environment."""
    import kmodtui

    return (os.path.dirname(os.path.dirname(os.path.realpath(kmodtui.__file__))), os.path.realpath(sys.prefix),
            os.path.realpath(sys.base_prefix), os.path.dirname(os.path.realpath(sys.executable)))


def require_bwrap() -> str:
    """bwrap's path; KmodError (one line, with the fix) when it is not on PATH."""
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        raise KmodError("bwrap", f"not found: builds run confined by bubblewrap; {INSTALL_FIX}, or build unconfined "
                                 f"with --no-sandbox ({NO_SANDBOX_SETTING}=<why> for every build on this host)")
    return bwrap


def confinement_for(no_sandbox: str, writable: tuple[str, ...], readable: tuple[str, ...] = (),
                    kept: tuple[str, ...] = ()) -> Confinement:
    """Ask this host how a build runs: confined (bwrap found and working), or unconfined because the
    caller said so. A host that cannot confine raises KmodError: one line, with the fix."""
    if no_sandbox:
        return unconfined(no_sandbox)
    bwrap = require_bwrap()
    uid = gid = -1
    user = _user_name(os.geteuid())
    setpriv = ""
    lease: buildusers.BuildUser | None = None
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv") or ""
        if not setpriv:
            raise KmodError("setpriv", "not found: as root, builds drop to the build user with util-linux's setpriv "
                                       "(apt-get install util-linux), or build unconfined with --no-sandbox")
        lease = buildusers.take()
        uid, gid, user = lease.uid, lease.gid, lease.name
    try:
        if lease is not None:
            for folder in writable:
                lease.give(folder, kept)
        hidden = _hidden_folders()
        shown = tuple(dict.fromkeys(os.path.realpath(p) for p in (*readable, *_kmodtui_itself()) if os.path.exists(p)))
        nproc = LIMITS["nproc"] + (0 if uid >= 0 else _tasks_of(os.getuid()))
        confinement = Confinement(bwrap, user, uid, gid, tuple(os.path.realpath(w) for w in writable), shown, hidden,
                                  tuple(k for k in kept if os.path.exists(k)), setpriv=setpriv, nproc=nproc)
        _probe(confinement)
    except BaseException:
        if lease is not None:
            lease.release()
        raise
    return confinement


def release(confinement: Confinement) -> None:
    """After the build: its folder back to kmodtui's own user, its build user free for the next build."""
    lease = buildusers.held(confinement.user) if confinement.uid >= 0 else None
    if lease is not None:
        lease.release()


def _tasks_of(uid: int) -> int:
    """How many tasks (threads) this uid runs now, as RLIMIT_NPROC counts them."""
    count = 0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            if os.stat(f"/proc/{pid}").st_uid == uid:
                count += len(os.listdir(f"/proc/{pid}/task"))
        except OSError:
            continue
    return count


def _user_name(uid: int) -> str:
    import pwd

    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def _probe(confinement: Confinement) -> None:
    """Run `true` the way a step runs: a host without usable user namespaces says so in one line."""
    argv = confinement.wrap(("true",), "/")
    result = subprocess.run(argv, capture_output=True, text=True, preexec_fn=confinement.preexec(), timeout=30)
    if result.returncode != 0:
        why = result.stderr.strip().splitlines()[-1:] or [f"exit {result.returncode}"]
        raise KmodError("bwrap", f"cannot confine a build on this host ({why[0][:200]}): allow unprivileged user "
                                 "namespaces (sysctl kernel.unprivileged_userns_clone=1, user.max_user_namespaces > 0), "
                                 "or build unconfined with --no-sandbox")
