"""As root, each confined build runs as a build user of its own (core/build/buildusers.py): RLIMIT_NPROC
counts a uid's tasks, so a fork bomb in one build (or a few big builds at once) fills that build's
budget only. Before, every build was `kmodtui-build`: the bomb below made the build beside it fail
at its first exec (configure's probes, in a real tree, read the refused fork as "feature not there")."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

from kmodtui.core.build import buildusers
from kmodtui.core.model import Kernel
from tests.core.test_sandbox import HOSTILE_C, build
from tests.realtools import require_tool

as_root = pytest.mark.skipif(os.geteuid() != 0, reason="as a user every build is that user's: one process "
                                                       "budget (build users are made as root)")

# Forks until the build user's process limit refuses, says so on stderr (make passes it to the log
# at once), holds every child until the test's release file appears in the (read-only) source, then
# lets them go and prints the count for the log.
HOG = """
import os, signal, sys, time
children, refused = [], ""
while len(children) < 5000:
    try:
        pid = os.fork()
    except OSError as err:
        refused = err.strerror
        break
    if pid == 0:
        signal.pause()
        os._exit(0)
    children.append(pid)
print(f"hog: holding {len(children)}, refused: {refused}", file=sys.stderr, flush=True)
deadline = time.monotonic() + 600
while not os.path.exists(sys.argv[1]) and time.monotonic() < deadline:
    time.sleep(0.2)
for pid in children:
    os.kill(pid, signal.SIGKILL)
for pid in children:
    os.waitpid(pid, 0)
print(f"held {len(children)}")
"""


def module(tmp_path: Path, name: str, kbuild: str = "") -> Path:
    source = tmp_path / name
    source.mkdir()
    (source / "Kbuild").write_text(f"obj-m := {name}.o\n{kbuild}")
    (source / f"{name}.c").write_text(HOSTILE_C)
    return source


class Streamed:
    """`kmodtui build --json` running, its events read as they come."""

    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                                     env={**os.environ, **env})
        self.events: list[dict] = []
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.startswith("{"):
                self.events.append(json.loads(line))

    def wait_for_line(self, start: str, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            said = [e["text"] for e in list(self.events) if e["event"] == "line" and e["text"].startswith(start)]
            if said:
                return said[0]
            if self.proc.poll() is not None and not self.thread.is_alive():
                break
            time.sleep(0.2)
        raise AssertionError(f"no line {start!r} within {timeout} s: {self.events[-20:]}")

    def finish(self, timeout: float) -> dict:
        self.proc.wait(timeout=timeout)
        self.thread.join(timeout=10)
        return self.events[-1]


@as_root
def test_a_fork_bomb_in_one_build_does_not_starve_a_build_beside_it(installed_kernel: Kernel, tmp_path: Path) -> None:
    require_tool("bwrap")
    hog = module(tmp_path, "hog", "ifneq ($(KERNELRELEASE),)\n"
                                  "$(info $(shell python3 $(src)/hog.py $(HOG_RELEASE)))\nendif\n")
    (hog / "hog.py").write_text(HOG)
    release = hog / "release"
    bomb = Streamed([sys.executable, "-m", "kmodtui", "build", "--kernel", installed_kernel.release, "--source",
                     str(hog), "--mode", "kbuild", "--json"], {"HOG_RELEASE": str(release)})
    try:
        holding = bomb.wait_for_line("hog: holding", 300)
        held = int(holding.split()[2].rstrip(","))
        assert "Resource temporarily unavailable" in holding and held < 5000, holding
        # the bomb's build user is at its limit now: a real kbuild build beside it forks hundreds of times
        result, events = build(module(tmp_path, "beside"), installed_kernel)
        beside = events[-1]
        assert beside["state"] == "succeeded", result.stdout[-3000:] + result.stderr
        assert [os.path.basename(a) for a in beside["artifacts"]] == ["beside.ko"]
    finally:
        release.write_text("")
        exit_event = bomb.finish(600)
    assert exit_event["state"] == "succeeded", bomb.events[-30:]
    users = {exit_event["confinement"]["user"], beside["confinement"]["user"]}
    assert len(users) == 2 and all(u.startswith(buildusers.PREFIX) for u in users), users
    # what each build made is root's again, and neither build user is held any more
    for event in (exit_event, beside):
        work = Path(event["log"]).parent
        assert {p.lstat().st_uid for p in [work, *work.rglob("*")]} == {0}


@as_root
def test_two_build_users_at_once_cannot_read_each_other_and_hand_everything_back() -> None:
    setpriv = require_tool("setpriv")
    with tempfile.TemporaryDirectory(prefix="kmodtui-users-") as top:  # pytest's own folders are 0700
        os.chmod(top, 0o755)  # passable by anyone: only the work folders' own modes keep the users apart
        two_users_apart(setpriv, Path(top))


def two_users_apart(setpriv: str, shared: Path) -> None:
    folders = []
    for name in ("a", "b"):
        work = shared / name
        (work / "src").mkdir(parents=True)
        (work / "src" / "secret.c").write_text(f"/* {name}'s source */\n")
        (work / "build.log").write_text("")
        folders.append(work)
    first, second = buildusers.take(), buildusers.take()
    try:
        assert first.uid != second.uid and first.gid != second.gid
        first.give(str(folders[0]), (str(folders[0] / "build.log"),))
        second.give(str(folders[1]), (str(folders[1] / "build.log"),))
        assert (folders[0] / "src" / "secret.c").stat().st_uid == first.uid
        assert (folders[0] / "build.log").stat().st_uid == 0  # the log stays kmodtui's
        # a file the build made set-uid: it must not come back as root's set-uid file
        made = folders[1] / "src" / "made"
        made.write_text("#!/bin/sh\n")
        os.chown(made, second.uid, second.gid)
        os.chmod(made, 0o4755)

        def as_user(user: buildusers.BuildUser, *argv: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run([setpriv, "--reuid", str(user.uid), "--regid", str(user.gid), "--clear-groups",
                                   *argv], capture_output=True, text=True)

        assert as_user(first, "cat", str(folders[0] / "src" / "secret.c")).returncode == 0
        other = as_user(second, "cat", str(folders[0] / "src" / "secret.c"))
        assert other.returncode != 0 and "Permission denied" in other.stderr
        assert "Permission denied" in as_user(first, "ls", str(folders[1])).stderr
    finally:
        first.release()
        second.release()
    for work in folders:
        assert {p.lstat().st_uid for p in [work, *work.rglob("*")]} == {0}
    assert (folders[1] / "src" / "made").stat().st_mode & 0o7777 == 0o755
    assert buildusers.held(first.name) is None and buildusers.held(second.name) is None


TAKE_AND_DIE = """
import os, sys
from kmodtui.core.build import buildusers
user = buildusers.take(sys.argv[1])
user.give(sys.argv[2], ())
print(user.name, flush=True)
os.kill(os.getpid(), 9)
"""


@as_root
def test_a_build_user_left_by_a_killed_kmodtui_is_recovered_with_its_folder(tmp_path: Path) -> None:
    slots = tmp_path / "slots"  # a pool of this test's own: which slot is free is then known
    work = tmp_path / "work"
    (work / "src").mkdir(parents=True)
    (work / "src" / "x.c").write_text("")
    died = subprocess.run([sys.executable, "-c", TAKE_AND_DIE, str(slots), str(work)], capture_output=True, text=True)
    assert died.returncode == -signal.SIGKILL, died.stderr
    name = died.stdout.strip()
    assert (work / "src" / "x.c").stat().st_uid != 0  # still the dead build's user's
    taken = []
    try:
        while not taken or taken[-1].name != name:  # the same slot again: its lock died with its holder
            taken.append(buildusers.take(str(slots)))
        assert {p.lstat().st_uid for p in [work, *work.rglob("*")]} == {0}
    finally:
        for user in taken:
            user.release()
