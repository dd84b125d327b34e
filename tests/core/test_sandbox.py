"""Builds run confined: a hostile source's Makefile writes nothing outside its build, reads nothing
only root may read, reaches no listener on this host and forks no bomb, while its module still builds
(real kbuild, real bwrap, the installed headers); --no-sandbox says so and the record says unconfined;
a host without bwrap is one line with the fix."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from kmodtui.core.build.buildusers import PREFIX
from kmodtui.core.build.confine import Confinement, unconfined
from kmodtui.core.model import Kernel
from tests.realtools import require_tool

# Each attempt prints what it tried and what happened, in the Kbuild pass (KERNELRELEASE set), where
# a source's $(shell ...) runs while kbuild compiles it.
HOSTILE_KBUILD = r"""
obj-m := hostile.o
ifneq ($(KERNELRELEASE),)
ifeq ($(HOSTILE_DONE),)
export HOSTILE_DONE := 1
$(info hostile: /etc: $(shell echo pwned > /etc/kmodtui-hostile-marker 2>&1 && echo WROTE))
$(info hostile: home: $(shell echo pwned > $(HOSTILE_HOME)/kmodtui-hostile-marker 2>&1 && echo WROTE))
$(info hostile: root home: $(shell echo pwned > /root/kmodtui-hostile-marker 2>&1 && echo WROTE))
$(info hostile: shadow: $(shell head -c 5 /etc/shadow >/dev/null 2>&1 && echo READ || echo refused))
$(info hostile: signing key: $(shell cat $(HOSTILE_KEY) 2>&1 | tail -c 60))
$(info hostile: net: $(shell python3 -c 'import socket,sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 3); print("CONNECTED")' $(HOSTILE_PORT) 2>&1 | tail -1))
$(info hostile: fork: $(shell python3 $(src)/bomb.py 2>&1))
endif
endif
"""

# Forks 3000 children that live a second: unconfined, every one starts; confined, fork is refused
# past the build user's process limit. The children are reaped before it prints.
BOMB = """
import os, time
children, refused = [], ""
for _ in range(3000):
    try:
        pid = os.fork()
    except OSError as err:
        refused = err.strerror
        break
    if pid == 0:
        time.sleep(1)
        os._exit(0)
    children.append(pid)
for pid in children:
    os.waitpid(pid, 0)
print(f"forked {len(children)}" + (f", then refused: {refused}" if refused else ""))
"""

HOSTILE_C = r"""
#include <linux/module.h>
#include <linux/init.h>
static int __init hostile_init(void) { return 0; }
static void __exit hostile_exit(void) { }
module_init(hostile_init);
module_exit(hostile_exit);
MODULE_LICENSE("GPL");
"""


def hostile_source(tmp_path: Path) -> Path:
    source = tmp_path / "hostile"
    source.mkdir()
    (source / "Kbuild").write_text(HOSTILE_KBUILD)
    (source / "Makefile").write_text("obj-m := hostile.o\n")
    (source / "hostile.c").write_text(HOSTILE_C)
    (source / "bomb.py").write_text(BOMB)
    return source


class Listener:
    """A TCP listener on 127.0.0.1 that counts who connected."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self.stop = False
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self) -> None:
        while not self.stop:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.connections += 1
            conn.close()

    def close(self) -> None:
        self.stop = True
        self.thread.join()
        self.sock.close()


def build(source: Path, kernel: Kernel, *extra: str, env: dict[str, str] | None = None) -> tuple[subprocess.CompletedProcess[str], list[dict]]:
    result = subprocess.run([sys.executable, "-m", "kmodtui", "build", "--kernel", kernel.release, "--source", str(source),
                             "--mode", "kbuild", "--json", *extra], capture_output=True, text=True,
                            env={**os.environ, **(env or {})}, timeout=600)
    return result, [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]


def hostile_lines(events: list[dict]) -> dict[str, str]:
    lines = [e["text"] for e in events if e["event"] == "line" and e["text"].startswith("hostile: ")]
    return {line.split(":")[1].strip(): line.split(":", 2)[2].strip() for line in lines}


@pytest.fixture
def hostile_env(tmp_path: Path):
    home = tmp_path / "home"
    home.mkdir()
    key_dir = Path(os.environ["KMODTUI_STATE_DIR"]) / "mok"
    key_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = key_dir / "MOK.priv"
    if not key.exists():
        key.write_text("PRIVATE KEY MATERIAL\n")
        key.chmod(0o600)
    listener = Listener()
    markers = [Path("/etc/kmodtui-hostile-marker"), home / "kmodtui-hostile-marker", Path("/root/kmodtui-hostile-marker")]
    for marker in markers:
        marker.unlink(missing_ok=True)
    yield {"HOSTILE_HOME": str(home), "HOSTILE_KEY": str(key), "HOSTILE_PORT": str(listener.port),
           "HOME": str(home)}, markers, listener
    listener.close()
    for marker in markers:
        marker.unlink(missing_ok=True)


def alone_as_a_user(test):
    """As root each confined build has a build user, and a process budget, of its own (test_build_users.py);
    as a user every build is that user's, so a fork bomb fills the budget the others share: alone then."""
    return pytest.mark.alone(test) if os.geteuid() != 0 else test


@alone_as_a_user
def test_a_hostile_makefile_is_refused_everything_and_its_module_still_builds(
        installed_kernel: Kernel, tmp_path: Path, hostile_env) -> None:
    require_tool("bwrap")
    env, markers, listener = hostile_env
    result, events = build(hostile_source(tmp_path), installed_kernel, env=env)
    exit_event = events[-1]
    assert exit_event["event"] == "exit" and exit_event["state"] == "succeeded", result.stdout[-3000:] + result.stderr
    assert [os.path.basename(a) for a in exit_event["artifacts"]] == ["hostile.ko"]
    said = hostile_lines(events)
    assert set(said) == {"/etc", "home", "root home", "shadow", "signing key", "net", "fork"}, said
    assert not any(m.exists() for m in markers), "a write outside the build's folder succeeded"
    assert "WROTE" not in " ".join(said.values())
    assert said["shadow"] == "refused"
    assert "KEY MATERIAL" not in said["signing key"] and "No such file" in said["signing key"]
    assert listener.connections == 0 and "CONNECTED" not in said["net"]
    assert "refused" in said["fork"], said["fork"]
    assert int(said["fork"].split()[1].rstrip(",")) < 3000
    # the log says where the step ran and what the sandbox refused it
    log = Path(exit_event["log"]).read_text()
    assert "### confined: bwrap" in log and "refused: writes outside the build's folder" in log
    assert "the network" in log and "processes" in log
    assert exit_event["confinement"]["confined"] is True and exit_event["confinement"]["network"] is False
    phases = [e for e in events if e["event"] == "phase"]
    assert phases and all(e["confinement"].startswith("confined: bwrap") for e in phases)
    if os.geteuid() == 0:
        assert exit_event["confinement"]["user"].startswith(PREFIX)


def test_no_sandbox_says_why_every_time_and_the_record_says_unconfined(installed_kernel: Kernel, tmp_path: Path) -> None:
    source = tmp_path / "plain"
    source.mkdir()
    (source / "Makefile").write_text("obj-m := plain.o\n")
    (source / "plain.c").write_text(HOSTILE_C)
    result, events = build(source, installed_kernel, "--no-sandbox")
    exit_event = events[-1]
    assert exit_event["state"] == "succeeded", result.stdout[-2000:]
    warnings = [e["text"] for e in events if e["event"] == "line" and "UNCONFINED" in e["text"]]
    assert warnings and "--no-sandbox" in warnings[0]
    assert exit_event["confinement"] == {**exit_event["confinement"], "confined": False, "reason": "--no-sandbox"}
    record = Path(exit_event["log"]).parent.parent / "status.json"
    assert json.loads(record.read_text())["confinement"]["summary"] == "unconfined: --no-sandbox"
    # the host's setting does the same, naming itself
    result, events = build(source, installed_kernel, env={"KMODTUI_NO_SANDBOX": "no user namespaces on this VM"})
    assert events[-1]["confinement"]["reason"] == "KMODTUI_NO_SANDBOX=no user namespaces on this VM"


def test_a_host_without_bwrap_is_one_line_with_the_fix(tmp_path: Path, installed_kernel: Kernel) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("make", "gcc", "sh", "bash"):
        found = shutil.which(tool)
        if found:
            (bin_dir / tool).symlink_to(found)
    source = tmp_path / "plain"
    source.mkdir()
    (source / "Makefile").write_text("obj-m := plain.o\n")
    (source / "plain.c").write_text(HOSTILE_C)
    result = subprocess.run([sys.executable, "-m", "kmodtui", "build", "--kernel", installed_kernel.release,
                             "--source", str(source)], capture_output=True, text=True,
                            env={**os.environ, "PATH": str(bin_dir)}, timeout=120)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("kmodtui: bwrap: not found"), result.stderr
    assert "apt-get install bubblewrap" in lines[0] and "--no-sandbox" in lines[0]


# ---- the command line itself says what a build may touch -----------------------------------------

def test_wrapped_argv_lists_every_mount_and_drops_everything() -> None:
    confinement = Confinement("/usr/bin/bwrap", "someone", writable=("/srv/b/work",),
                              readable=("/usr/src/linux-headers-x",), hidden=("/root", "/home"),
                              kept=("/srv/b/work/build.log",))
    argv = confinement.wrap(("make", "modules"), "/srv/b/work/src")
    text = " ".join(argv)
    assert argv[0] == "/usr/bin/bwrap" and argv[-2:] == ("make", "modules")
    for part in ("--unshare-all", "--cap-drop ALL", "--die-with-parent", "--new-session", "--ro-bind / /",
                 "--tmpfs /tmp", "--tmpfs /root", "--tmpfs /home", "--bind /srv/b/work /srv/b/work",
                 "--ro-bind /usr/src/linux-headers-x /usr/src/linux-headers-x",
                 "--ro-bind /srv/b/work/build.log /srv/b/work/build.log", "--chdir /srv/b/work/src"):
        assert part in text, part
    # the log is re-bound read-only after the build's folder, so the build cannot rewrite it
    assert text.index("--bind /srv/b/work ") < text.index("--ro-bind /srv/b/work/build.log")


def test_as_root_the_step_drops_to_the_build_user_without_a_user_namespace() -> None:
    confinement = Confinement("/usr/bin/bwrap", f"{PREFIX}0", 990, 991, writable=("/root/.local/state/kmodtui/builds/x/work",),
                              hidden=("/root", "/root/.local/state/kmodtui"), setpriv="/usr/bin/setpriv")
    argv = confinement.wrap(("make",), "/")
    text = " ".join(argv)
    assert "--unshare-all" not in text and "--unshare-user" not in text and "--unshare-net" in text
    assert "/usr/bin/setpriv --reuid 990 --regid 991 --clear-groups --inh-caps=-all --bounding-set=-all -- make" in text
    # folders bwrap makes inside a tmpfs are made passable for the build user
    assert "--perms 0755 --dir /root/.local" in text and "--perms 0755 --dir /root/.local/state/kmodtui/builds/x" in text


def test_unconfined_runs_the_argv_as_it_is() -> None:
    assert unconfined("--no-sandbox").wrap(("make",), "/") == ("make",)
    assert unconfined("--no-sandbox").describe() == "unconfined: --no-sandbox"


# ---- the runner, with a real confinement ------------------------------------------------------------

def run_confined(tmp_path: Path, argv: tuple[str, ...]) -> tuple[int, str]:
    import asyncio

    from kmodtui.core.build.confine import confinement_for
    from kmodtui.core.build.runner import run_steps
    from kmodtui.core.build.step import BuildStep

    require_tool("bwrap")
    work = tmp_path / "work"
    work.mkdir()
    log = work / "build.log"
    log.touch()
    confinement = confinement_for("", (str(work),), kept=(str(log),))
    code = asyncio.run(run_steps([BuildStep("build", argv, str(work))], str(log), lambda _e: None,
                                 confinement=confinement))
    return code, log.read_text()


def test_a_confined_step_runs_with_the_limits_as_another_user(tmp_path: Path) -> None:
    code, log = run_confined(tmp_path, ("bash", "-c", "echo uid=$(id -u) nproc=$(ulimit -u) as=$(ulimit -v) "
                                                     "caps=$(grep CapEff /proc/self/status | cut -f2); "
                                                     "ls /sys/class/net"))
    assert code == 0, log
    [said] = [line for line in log.splitlines() if line.startswith("uid=")]
    fields = dict(part.split("=") for part in said.split())
    assert fields["as"] == str(8 << 20) and fields["caps"] == "0000000000000000"
    if os.geteuid() == 0:  # the build user's own count; a user's build gets 1024 above what that user runs
        assert fields["uid"] != "0" and fields["nproc"] == "1024"
    else:
        assert int(fields["nproc"]) > 1024
    assert log.splitlines()[-1] == "lo"  # an empty network namespace: loopback only


def test_a_missing_program_in_a_confined_step_is_the_same_clear_line(tmp_path: Path) -> None:
    code, log = run_confined(tmp_path, ("kmodtui-no-such-tool", "--version"))
    assert code == 127 and "kmodtui: cannot run kmodtui-no-such-tool: No such file or directory (install it:" in log


def test_installing_the_kernel_hook_on_a_host_without_bwrap_says_so_now(tmp_path: Path) -> None:
    """The hook builds confined at every kernel upgrade: a host that cannot is told when the hook is
    installed, not months later in a hook log."""
    from tests.realtools import copy_source

    root = tmp_path / "root"
    (root / "etc" / "kernel" / "postinst.d").mkdir(parents=True)
    result = subprocess.run([sys.executable, "-m", "kmodtui", "hook", "install", "--source",
                             str(copy_source("provider", tmp_path / "p")), "--root", str(root), "--yes"],
                            capture_output=True, text=True, env={**os.environ, "PATH": str(tmp_path / "empty")})
    assert result.returncode == 2 and result.stderr.startswith("kmodtui: bwrap: not found"), result.stderr
    assert not list((root / "etc" / "kernel" / "postinst.d").iterdir())


def test_a_build_that_fails_writing_outside_its_folder_is_diagnosed_as_the_sandbox_refusing_it(
        installed_kernel: Kernel, tmp_path: Path) -> None:
    """Not "the system is read-only (rpm-ostree)": the log says the build ran confined, so a write
    the sandbox refused is named as such, with --no-sandbox as the way out for a trusted source."""
    require_tool("bwrap")
    source = tmp_path / "installs-itself"
    source.mkdir()
    (source / "Kbuild").write_text("obj-m := plain.o\n"
                                   "$(info $(shell mkdir -p /usr/lib/kmodtui-sandbox-test 2>&1))\n"
                                   "ifeq ($(wildcard /usr/lib/kmodtui-sandbox-test),)\n"
                                   "$(error could not install the helper)\nendif\n")
    (source / "plain.c").write_text(HOSTILE_C)
    result, events = build(source, installed_kernel)
    exit_event = events[-1]
    assert exit_event["state"] == "failed" and not os.path.exists("/usr/lib/kmodtui-sandbox-test")
    primary = exit_event["primary"]
    assert primary["cause"] == "sandbox_refused" and "Read-only file system" in primary["line"], primary
    assert "--no-sandbox" in primary["fix"]
