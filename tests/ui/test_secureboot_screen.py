"""The Secure Boot doctor in the TUI, at 80x24: the sign screen says each module's verdict before and
after signing, b opens the doctor with the facts and the next step, and a diagnosis whose cause is
module_signature_rejected offers it too. Esc goes back each time."""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path

import pytest

from kmodtui.app import KmodApp
from kmodtui.screens.diagnose import DiagnoseScreen
from kmodtui.screens.secureboot import SecureBootScreen
from kmodtui.screens.sign import SignScreen
from tests.realtools import require_tool, run_ok
from tests.ui.test_kernel_screen import screen_text
from tests.ui.waiting import settle


def test_the_sign_screen_shows_the_verdict_before_and_after_signing(built, installed_kernel, tmp_path: Path,
                                                                    monkeypatch) -> None:
    monkeypatch.setenv("KMODTUI_STATE_DIR", str(tmp_path / "state"))
    require_tool("openssl")
    modinfo = require_tool("modinfo")
    module = tmp_path / "consumer.ko"
    shutil.copy(built.consumer_ko, module)

    async def scenario() -> None:
        app = KmodApp()
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            app.push_screen(SignScreen([str(module)], installed_kernel))
            await settle(pilot)
            before = screen_text(app)
            assert "not signed" in before and "Will it load here? " in before and "b: the facts behind this" in before
            assert "Before signing" not in before
            await pilot.press("n")
            await settle(pilot)
            await pilot.press("s")
            await settle(pilot)
            after = screen_text(app)
            assert "signed (PKCS#7)" in after and "Will it load here? " in after
            assert "Before signing: " in after and "it is not signed." in after  # the verdict before signing stays
            assert after.index("Signed 1 module(s)") < after.index("consumer.ko")  # the mokutil step above the fold
            await pilot.press("b")
            await settle(pilot)
            assert isinstance(app.screen, SecureBootScreen)
            text = screen_text(app)
            key_id = run_ok([modinfo, "-F", "sig_key", str(module)]).stdout.strip()
            assert "consumer.ko: signed by 'kmodtui module signing key' (kmodtui's key)" in text
            assert key_id[:20] in text and "by the kernel's rules applied to the facts read" in text
            if not os.path.isdir("/sys/firmware/efi"):
                await pilot.press("end")
                await settle(pilot)
                assert "no EFI" in screen_text(app)
            await pilot.press("escape")
            await settle(pilot)
            assert isinstance(app.screen, SignScreen)

    asyncio.run(scenario())


@pytest.mark.heavy  # seconds: not in --quick (README)
def test_a_rejected_key_in_a_log_offers_the_doctor() -> None:
    log = Path(__file__).resolve().parent.parent / "logs" / "005-gasket-systemd-key-rejected.log"  # a public log, verbatim

    async def scenario() -> None:
        app = KmodApp()
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            app.push_screen(DiagnoseScreen())
            await settle(pilot)
            await pilot.click("#diagnose-path")
            for ch in str(log):
                await pilot.press(ch)
            await pilot.press("enter")
            await settle(pilot)
            assert "module_signature_rejected" in screen_text(app) and "Secure Boot doctor" in screen_text(app)
            await pilot.press("b")
            await settle(pilot)
            assert isinstance(app.screen, SecureBootScreen)
            assert "Facts read" in screen_text(app) or "No module named" in screen_text(app)
            await pilot.press("escape")
            await settle(pilot)
            assert isinstance(app.screen, DiagnoseScreen)

    asyncio.run(scenario())
