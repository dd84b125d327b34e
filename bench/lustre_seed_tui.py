"""Seed 000's remedy on real Lustre in the TUI at 80x24 (bench/lustre_seed.py's step 4): the finished
Lustre build attached, Enter (the package set checked with OpenZFS's packages), r on a not_packaged
finding (the spec-external-depgen remedy on OpenZFS's rpm/generic/zfs-kmod.spec.in), a, a, b (OpenZFS
rebuilt from it), Enter (the re-check). Without a Lustre build (--prebuilt-lustre): the symbol browser
on the package set (`kmodtui resolve PKG --with ... --tui`), r, a, a, b; the re-check is the caller's.
Returns the rebuilt OpenZFS build's artifacts."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

ZFS_REBUILD_TIMEOUT = 3600.0


def remedy_in_tui(lustre_record: str, zfs_record: str, spec: Path, refused: set[str], package_set: list[str],
                  release: str) -> list[str]:
    from kmodtui.app import KmodApp
    from kmodtui.core.kernels.discover import find_kernel
    from kmodtui.core.resolve.engine import resolve
    from kmodtui.screens.build import BuildScreen
    from kmodtui.screens.remedy import RemedyScreen
    from kmodtui.screens.symbols import SymbolsScreen
    from tests.ui.waiting import screen_ready, settle, wait_for

    out: list[str] = []

    async def scenario() -> None:
        app = KmodApp(attach=lustre_record) if lustre_record else \
            KmodApp(resolve_result=resolve(package_set[:1], find_kernel(release), package_set[1:]))
        async with app.run_test(size=(80, 24)) as pilot:
            if lustre_record:
                screen = app.screen
                await wait_for(pilot, lambda: screen.finished, 120)
                await pilot.press("enter")
            await wait_for(pilot, lambda: screen_ready(app, SymbolsScreen, "symbols-explanation"), 600)
            await settle(pilot)
            symbols = app.screen
            assert isinstance(symbols, SymbolsScreen)
            named = {str(f.requirement) for f in symbols.result.findings() if f.status == "not_packaged"}
            print(f"TUI, the package set: {len(named)} not_packaged, the ksym() rpm refused: {named == refused}",
                  flush=True)
            assert named == refused, sorted(named ^ refused)[:10]
            await pilot.press("r")
            await wait_for(pilot, lambda: screen_ready(app, RemedyScreen, "remedy-text"), 120)
            await settle(pilot)
            remedy = app.screen
            assert isinstance(remedy, RemedyScreen)
            assert remedy.context.target == str(spec) and remedy.context.provider_record == zfs_record, remedy.context
            await pilot.press("a", "a")
            await settle(pilot)
            assert b"_use_internal_dependency_generator 0" in spec.read_bytes()
            await pilot.press("b")
            await wait_for(pilot, lambda: isinstance(app.screen, BuildScreen), 120)
            rebuild = app.screen
            assert isinstance(rebuild, BuildScreen) and rebuild.record_dir != zfs_record
            await wait_for(pilot, lambda: rebuild.finished, ZFS_REBUILD_TIMEOUT)
            assert rebuild.status["state"] == "succeeded", rebuild.status
            out.extend(rebuild.status["artifacts"])
            if not lustre_record:
                return
            await pilot.press("enter")
            await wait_for(pilot, lambda: screen_ready(app, SymbolsScreen, "symbols-explanation")
                           and app.screen is not symbols, 600)
            await settle(pilot)
            after = app.screen
            assert isinstance(after, SymbolsScreen)
            summary = str(after.query_one("#symbols-summary").render())
            print(f"TUI, the re-check: {summary.strip()!r}; ok: {after.result.ok}", flush=True)
            assert after.result.ok, summary

    asyncio.run(scenario())
    return out
