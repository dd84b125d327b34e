"""kmodtui in a real terminal: tmux at 80x24 with TERM=linux, keys sent like a user, the screen read
back with capture-pane. Walks kernel -> bundled example -> kbuild -> failure -> remedy -> rebuild ->
symbol browser."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from kmodtui.core.model import Kernel
from tests.realtools import EXAMPLES, require_tool, run_ok


class Tmux:
    def __init__(self, command: str, env: dict[str, str]) -> None:
        self.tmux = require_tool("tmux")
        self.name = f"kmodtui-{uuid.uuid4().hex[:8]}"
        exports = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items())
        run_ok([self.tmux, "new-session", "-d", "-s", self.name, "-x", "80", "-y", "24",
                f"env {exports} TERM=linux {command}"])

    def screen(self) -> str:
        return subprocess.run([self.tmux, "capture-pane", "-p", "-t", self.name], capture_output=True, text=True).stdout

    def keys(self, *keys: str) -> None:
        """Typed in this order (the app reads them in order: no pause needed, and no Esc among them that
        a key right after it could make Alt+key); the caller then waits for what they make appear."""
        run_ok([self.tmux, "send-keys", "-t", self.name, *keys])

    def wait_for(self, text: str, timeout: float = 90) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            screen = self.screen()
            if text in screen:
                return screen
            time.sleep(0.2)
        raise AssertionError(f"{text!r} never appeared; the screen was:\n{self.screen()}")

    def close(self) -> None:
        subprocess.run([self.tmux, "kill-session", "-t", self.name], capture_output=True)


@pytest.fixture
def state(tmp_path: Path) -> dict[str, str]:
    return {"KMODTUI_STATE_DIR": str(tmp_path / "state"), "KMODTUI_CACHE_DIR": str(tmp_path / "cache"),
            "PYTHONPATH": str(Path(__file__).resolve().parents[2])}


@pytest.mark.parametrize("mode", ["kbuild", "deb", "rpm-generic"])
def test_newcomer_walk_in_a_real_terminal(mode: str, installed_kernel: Kernel, state: dict[str, str],
                                          tmp_path: Path) -> None:
    """The consumer story in each packaging mode: the build fails on the provider's symbols, the
    remedy (no CLI flag typed) records the provider in the request (nothing written into the source),
    the rebuild with it succeeds, and the symbol browser re-checks it: 3 fixed, 0 still broken."""
    from kmodtui.core.build.sources import detect_source
    from kmodtui.screens.mode import ModeScreen

    # an earlier build of the provider in the same mode (a package consumer's set needs its package), as a
    # user who built it before would have
    subprocess.run([sys.executable, "-m", "kmodtui", "build", "-k", installed_kernel.release, "-s", str(EXAMPLES / "provider"),
                    "--mode", mode], env={**os.environ, **state}, capture_output=True, check=True)
    modes = ModeScreen(detect_source(str(EXAMPLES / "consumer")), installed_kernel).modes
    term = Tmux(f"{sys.executable} -m kmodtui", state)
    try:
        screen = term.wait_for("Architecture")  # the details pane, once the kernels are found
        assert installed_kernel.release in screen
        term.keys("Enter")
        screen = term.wait_for("example: consumer")
        term.keys("Enter")  # the consumer, which needs the provider's symbols
        term.wait_for("Packaging mode")
        term.keys(*["Down"] * modes.index(mode), "Enter")
        screen = term.wait_for("failed", timeout=180)
        assert "provider_fn is undefined" in screen.replace("\n", " ") or "undefined" in screen
        term.keys("r")
        screen = term.wait_for("KBUILD_EXTRA_SYMBOLS")
        assert "[safe]" in screen or "safe" in screen
        term.wait_for("b rebuilds")  # nothing to edit: the rebuild's request records the provider
        term.keys("b")
        term.wait_for("succeeded", timeout=180)
        term.keys("Enter")
        screen = term.wait_for("after the remedy")
        flat = screen.replace("\n", "")
        assert "3 fixed, 0 still broken" in flat, screen
        for line in screen.splitlines():
            assert len(line) <= 80
    finally:
        term.close()


@pytest.mark.heavy  # seconds: not in --quick (README)
def test_the_demo_seed_000_story_in_a_real_terminal(state: dict[str, str]) -> None:
    """The demo's ksym() error, to a rebuilt provider RPM, with keys only; what rpm says of it then is
    rpm's own answer (rpm -i --test in a scratch rpmdb: test_remedy_screen compares it with rpm)."""
    require_tool("rpmbuild")
    term = Tmux(f"{sys.executable} -m kmodtui --demo", state)
    try:
        term.wait_for("Architecture")
        term.keys("Enter")
        term.wait_for("rpm refuses")
        term.keys("r")
        term.wait_for("Generate ksym() Provides")
        term.keys("a")
        term.wait_for("Press a again")
        term.keys("a")
        term.wait_for("Applied")
        term.keys("b")
        screen = term.wait_for("3 fixed, 0 still broken", timeout=180)
        assert "; rpm " in screen.replace("\n", ""), screen
        for line in screen.splitlines():
            assert len(line) <= 80
    finally:
        term.close()


def test_ctrl_c_exits_cleanly_and_a_running_build_goes_on(installed_kernel: Kernel, state: dict[str, str], tmp_path: Path) -> None:
    source = tmp_path / "slow"
    source.mkdir()
    (source / "Kbuild").write_text("obj-m := slow.o\n$(shell sleep 8)\n")
    (source / "slow.c").write_text("#error never compiled\n")
    from kmodtui.core.build.job import start_detached
    os.environ["KMODTUI_STATE_DIR"] = state["KMODTUI_STATE_DIR"]
    try:
        [record] = start_detached(str(source), [installed_kernel.release], "kbuild")
    finally:
        del os.environ["KMODTUI_STATE_DIR"]
    term = Tmux(f"sh -c '{sys.executable} -m kmodtui attach; echo KMODTUI-EXITED-$?; sleep 30'", state)
    try:
        term.wait_for("running")
        term.keys("C-c")
        screen = term.wait_for("KMODTUI-EXITED-")
        assert "KMODTUI-EXITED-0" in screen and "Traceback" not in screen
        from kmodtui.core.build.record import read_status
        assert read_status(record)["state"] == "running"  # the build did not stop with the terminal
    finally:
        term.close()
