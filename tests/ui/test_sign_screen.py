"""After a build, on a kernel that checks signatures: s on the build screen signs the modules with
the kernel's own sign-file and a key kmodtui makes on request; modinfo (the real tool) then reports
the signature, and the screen names the mokutil step."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

from kmodtui.app import KmodApp
from kmodtui.screens.sign import SignScreen
from tests.realtools import require_tool, run_ok
from tests.ui.test_kernel_screen import screen_text
from tests.ui.waiting import settle


def test_sign_makes_a_key_signs_and_modinfo_agrees(built, installed_kernel, tmp_path: Path, monkeypatch) -> None:
    # a state folder of its own: another test's `kmodtui sign` may already have made the session's key pair
    monkeypatch.setenv("KMODTUI_STATE_DIR", str(tmp_path / "state"))
    modinfo = require_tool("modinfo")
    require_tool("openssl")
    module = tmp_path / "consumer.ko"
    shutil.copy(built.consumer_ko, module)

    async def scenario() -> None:
        app = KmodApp()
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            app.push_screen(SignScreen([str(module)], installed_kernel))
            await settle(pilot)
            text = screen_text(app)
            assert "consumer.ko" in text and "not signed" in text and "n makes a new key pair" in text
            assert f"MODULE_SIG) {'yes' if installed_kernel.module_sig else 'no'}" in text
            await pilot.press("n")
            await settle(pilot)
            assert "A new key pair was made" in screen_text(app)
            await pilot.press("s")
            await settle(pilot)
            text = screen_text(app)
            assert "Signed 1 module(s)" in text and "sudo mokutil --import" in text
            assert "signed (PKCS#7)" in text
            await pilot.press("n")  # a second key is refused: kmodtui never overwrites keys
            await settle(pilot)
            assert any("never overwrites keys" in n.message for n in app._notifications)

    asyncio.run(scenario())
    assert run_ok([modinfo, "-F", "sig_id", str(module)]).stdout.strip() == "PKCS#7"
    assert run_ok([modinfo, "-F", "signer", str(module)]).stdout.strip() == "kmodtui module signing key"
