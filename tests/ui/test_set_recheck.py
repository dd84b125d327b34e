"""A package set the user checked (`kmodtui resolve consumer.rpm --with provider.rpm --tui`), not one
build's packages: after `b` rebuilds the provider (a remedy on its spec), the same set is checked
again with the rebuild's packages in place of the old ones. Before, only the provider's rebuild was
checked, on its own: the consumer that showed the problem was gone from the re-check.

Real builds of the example provider and consumer, real rpm asked; the provider rebuilt in
rpm-redhat mode stands for a spec remedied to give ksym() Provides (seed 000 on OpenZFS's own spec
runs in tests/ui/test_seed000_openzfs.py, from a consumer's build)."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from kmodtui.app import KmodApp
from kmodtui.core.build.job import rebuild, start_detached
from kmodtui.core.build.recheck import PackageSet, recheck_set
from kmodtui.core.resolve.engine import resolve
from kmodtui.screens.build import BuildScreen
from kmodtui.screens.remedy import RemedyContext, RemedyScreen
from kmodtui.screens.symbols import SymbolsScreen, problem_keys
from tests.pkgtools import RpmRoot, build_kernel_provides_rpm
from tests.realtools import copy_source, require_tool
from tests.ui.waiting import build_done, rebuilt_then_checked, settle, wait_for

PROVIDER_SYMBOLS = {"provider_fn", "provider_gpl_fn", "provider_ns_fn"}


def packages(record: str) -> list[str]:
    from kmodtui.core.build.record import read_status

    status = read_status(record) or {}
    return [a for a in status.get("artifacts") or [] if a.endswith(".rpm") and not a.endswith(".src.rpm")]


@pytest.fixture()
def package_set(installed_kernel, monkeypatch, tmp_path: Path):
    """The provider packaged the generic way (no ksym() Provides), the consumer the RHEL way."""
    require_tool("rpmbuild")
    monkeypatch.setenv("KMODTUI_STATE_DIR", str(tmp_path / "state"))
    release = installed_kernel.release
    provider = copy_source("provider", tmp_path / "p")
    [old] = start_detached(str(provider), [release], "rpm-generic")
    assert build_done(old)["state"] == "succeeded"  # the consumer's modpost reads its Module.symvers
    consumer = copy_source("consumer", tmp_path)
    [consumer_record] = start_detached(str(consumer), [release], "rpm-redhat", providers=(str(provider),))
    assert build_done(consumer_record)["state"] == "succeeded"
    [consumer_rpm] = packages(consumer_record)
    before = resolve([consumer_rpm], installed_kernel, packages(old))
    assert {f.requirement.symbol for f in before.findings() if f.status == "not_packaged" and f.requirement} \
        == PROVIDER_SYMBOLS
    return old, consumer_rpm, before


def test_the_set_is_checked_again_with_the_rebuilt_providers_packages_and_rpm_agrees(
        package_set, installed_kernel, tmp_path: Path) -> None:
    old, consumer_rpm, before = package_set
    new = rebuild(old, mode="rpm-redhat")
    assert build_done(new)["state"] == "succeeded"
    after = recheck_set(PackageSet(*before.inputs, before.kernel), old, new)
    checked = {p.path for p in after.packages}
    assert checked == {consumer_rpm, *packages(new)}  # the old provider packages left the set
    assert after.ok and not after.problems
    said = after.package_manager
    assert said is not None and said.asked and said.tool == "rpm" and said.accepted, said
    # real rpm, asked here too, in a scratch database with a kernel package providing the kernel's symbols
    kernel_stub = build_kernel_provides_rpm(tmp_path / "kernel-stub", installed_kernel.release,
                                            installed_kernel.symvers_path)
    root = RpmRoot(tmp_path / "rpmroot")
    root.install_justdb(kernel_stub, *packages(new))
    code, failed = root.test_install(Path(consumer_rpm))
    assert code == 0 and not failed, failed


def test_b_from_a_checked_set_rebuilds_the_provider_then_shows_the_whole_set_again(
        package_set, installed_kernel) -> None:
    old, consumer_rpm, before = package_set

    async def scenario() -> None:
        app = KmodApp(resolve_result=before)
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            symbols = app.screen
            assert isinstance(symbols, SymbolsScreen) and symbols.package_set() == PackageSet(*before.inputs,
                                                                                                 before.kernel)
            # the remedy screen as the symbol browser opens it for a provider a kmodtui build made from a spec
            await app.push_screen(RemedyScreen(RemedyContext(
                ("spec-external-depgen",), kernel=before.kernel, provider_record=old,
                package_set=symbols.package_set(), problems_before=problem_keys(before))))
            await settle(pilot)
            await pilot.press("b")
            await wait_for(pilot, lambda: isinstance(app.screen, BuildScreen))
            built = app.screen
            assert isinstance(built, BuildScreen) and built.record_dir != old
            after = await rebuilt_then_checked(pilot, built, symbols, 300)
            # the consumer is still what is checked, next to the provider's new packages, not the old ones
            assert {p.path for p in after.result.packages} == {consumer_rpm, *packages(built.record_dir)}
            assert not any(p.path.startswith(old + os.sep) for p in after.result.packages)
            summary = str(after.query_one("#symbols-summary").render())
            # the same generic packaging again (no remedy was applied here): the same three still broken
            assert "after the remedy: 0 fixed, 3 still broken" in summary, summary

    asyncio.run(scenario())
