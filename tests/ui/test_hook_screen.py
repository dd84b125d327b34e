"""After a build: h shows the kernel post-install hook that would rebuild this source for every new
kernel; a twice installs it (here into a scratch root), and `kmodtui remedy undo` takes it back."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

from kmodtui.app import KmodApp
from kmodtui.core.remedies.hooks import hook_plan
from kmodtui.screens.hook import HookScreen
from tests.realtools import copy_source
from tests.ui.test_kernel_screen import screen_text
from tests.ui.waiting import settle


def test_hook_is_shown_installed_in_a_scratch_root_and_undone(tmp_path: Path) -> None:
    source = copy_source("provider", tmp_path)
    root = tmp_path / "root"
    (root / "etc" / "kernel" / "postinst.d").mkdir(parents=True)
    expected = hook_plan(str(source), "kbuild", str(root))

    async def scenario() -> str:
        app = KmodApp(demo=True)
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            app.push_screen(HookScreen(str(source), "kbuild", str(root)))
            await settle(pilot)
            text = screen_text(app)
            assert f"New file {expected.path} (mode 755)" in text and "hook run --kernel" in text
            assert not os.listdir(root / "etc" / "kernel" / "postinst.d")  # shown, nothing written
            await pilot.press("a")
            await pilot.pause()
            assert "Press a again" in screen_text(app) and not os.path.exists(expected.path)
            await pilot.press("a")
            await settle(pilot)  # written by a worker (backup, fsync, rename)
            undo_id = app.screen.installed
            assert f"Installed {expected.path}. Remove it with: kmodtui remedy undo {undo_id}" in screen_text(app)
            return undo_id

    undo_id = asyncio.run(scenario())
    hook = Path(expected.path)
    assert hook.read_bytes() == expected.after and os.access(hook, os.X_OK)
    undone = subprocess.run([sys.executable, "-m", "kmodtui", "remedy", "undo", undo_id],
                            capture_output=True, text=True)
    assert undone.returncode == 0, undone.stderr
    assert not hook.exists()
