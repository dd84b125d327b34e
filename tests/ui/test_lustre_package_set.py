"""Seed 000's package set on Lustre's real modules in the TUI at 80x24 (the packages of
tests/core/test_lustre_rpm.py: kmod-lustre-osd-zfs and kmod-lustre with RHEL's ksym() Requires, OpenZFS
2.1.11's real modules packaged the generic way): the symbol browser names every ZFS export osd_zfs needs
not_packaged, r offers the generic-spec remedy first, t names the ZFS spec, a a applies it; the
spec rebuilt as the remedy screen says, the re-check resolves everything. (b rebuilds only packages a
kmodtui build made: bench/lustre_seed.py runs that on real builds.)"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from kmodtui.app import KmodApp
from kmodtui.core.resolve.engine import resolve
from kmodtui.screens.remedy import RemedyScreen
from kmodtui.screens.symbols import SymbolsScreen, problem_keys
from tests.core.test_lustre_rpm import BUILT_FOR, package_set
from tests.ui.waiting import screen_shown, settle


@pytest.mark.timeout(600)
def test_the_lustre_package_set_from_not_packaged_to_the_spec_remedy_at_80x24(installed_kernel, tmp_path: Path) -> None:
    s = package_set(tmp_path, installed_kernel.release, installed_kernel.symvers_path)
    before = resolve([str(s.osd_rpm)], installed_kernel, [str(s.lustre_rpm), str(s.zfs_rpm)])
    missing = {f.requirement.symbol for f in before.findings() if f.status == "not_packaged" and f.requirement}
    assert missing & s.zfs_exports == s.needs_of_zfs
    if installed_kernel.release == BUILT_FOR:
        assert missing == s.needs_of_zfs

    async def scenario() -> None:
        app = KmodApp(resolve_result=before)
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            assert isinstance(app.screen, SymbolsScreen)
            summary = str(app.screen.query_one("#symbols-summary").render())
            expected = len(s.needs_of_zfs) if installed_kernel.release == BUILT_FOR else len(missing)
            assert f"{expected} problem(s) against {installed_kernel.release}: NOTPKG {expected}," in summary, summary
            await pilot.press("r")
            remedy = await screen_shown(pilot, RemedyScreen, "remedy-text")
            assert isinstance(remedy, RemedyScreen)
            assert "spec-external-depgen" in str(remedy.query_one("#remedy-list").get_option_at_index(0).prompt)
            await pilot.press("t", *str(s.zfs_spec), "enter")
            await settle(pilot)
            assert "+%global _use_internal_dependency_generator 0" in str(remedy.query_one("#remedy-text").render())
            await pilot.press("a", "a")
            await settle(pilot)
            assert b"_use_internal_dependency_generator 0" in s.zfs_spec.read_bytes()

    asyncio.run(scenario())
    fixed = s.rebuild_zfs()  # `rpmbuild -ba` of the spec, the command the remedy screen shows
    after = resolve([str(s.osd_rpm)], installed_kernel, [str(s.lustre_rpm), str(fixed)])
    assert not {f for f in after.findings() if f.status == "not_packaged" and f.requirement
                and f.requirement.symbol in s.zfs_exports}

    async def recheck() -> None:
        app = KmodApp(resolve_result=after)
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            assert isinstance(app.screen, SymbolsScreen)
            if installed_kernel.release == BUILT_FOR:
                assert after.ok and not problem_keys(after)

    asyncio.run(recheck())
