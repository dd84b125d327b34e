"""One key from a finding to a fix, at 80x24, on real artifacts; the real tools confirm it."""

from __future__ import annotations

import asyncio
import dataclasses
import os
from pathlib import Path

import pytest

from kmodtui.app import KmodApp
from kmodtui.core.build.job import start_detached
from kmodtui.core.build.request import load_request
from kmodtui.core.resolve.engine import resolve
from kmodtui.screens.build import BuildScreen
from kmodtui.screens.remedy import RemedyScreen
from kmodtui.screens.symbols import SymbolsScreen
from tests.pkgtools import build_kmod_rpm
from tests.realtools import EXAMPLES, copy_source, run
from tests.ui.waiting import (
    apply_then_rebuild,
    build_done,
    open_demo_symbols,
    screen_ready,
    screen_shown,
    settle,
    wait_for,
)


def preview(app: KmodApp) -> str:
    return str(app.screen.query_one("#remedy-text").render())


def test_seed_000_from_not_packaged_to_the_spec_fix_and_back(built, installed_kernel, tmp_path: Path) -> None:
    provider = build_kmod_rpm(tmp_path / "p", "kmod-provider", [built.provider_ko], installed_kernel.release, generator="internal")
    consumer = build_kmod_rpm(tmp_path / "c", "kmod-consumer", [built.consumer_ko], installed_kernel.release, generator="kmodtui")
    provider_spec = tmp_path / "p" / "kmod-provider.spec"  # the spec the provider was built from
    original = provider_spec.read_bytes()
    result = resolve([str(consumer)], installed_kernel, [str(provider)])

    async def scenario() -> None:
        app = KmodApp(resolve_result=result)
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            await pilot.press("r")
            await screen_shown(pilot, RemedyScreen, "remedy-text")
            assert isinstance(app.screen, RemedyScreen)
            assert "spec-external-depgen" in str(app.screen.query_one("#remedy-list").get_option_at_index(0).prompt)
            # kmodtui does not know where the spec is, and says so (not ": is not a regular file")
            assert "Cannot preview yet: the provider's .spec is not known yet" in preview(app), preview(app)
            await pilot.press("t", *str(provider_spec), "enter")
            await settle(pilot)  # the preview is planned by a worker
            assert "+%global _use_internal_dependency_generator 0" in preview(app)
            await pilot.press("a")
            await pilot.pause()
            assert provider_spec.read_bytes() == original  # a single key never writes
            await pilot.press("a")
            await app.workers.wait_for_complete()
            await pilot.pause()
            assert b"_use_internal_dependency_generator 0" in provider_spec.read_bytes()
            await pilot.press("u")
            await app.workers.wait_for_complete()
            await pilot.pause()
            assert provider_spec.read_bytes() == original

    asyncio.run(scenario())


def test_failed_build_to_remedy_to_rebuild_to_symbols(built, installed_kernel, monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("KMODTUI_STATE_DIR", str(tmp_path / "state"))
    [provider_record] = start_detached(str(EXAMPLES / "provider"), [installed_kernel.release], "kbuild")
    build_done(provider_record)
    source = copy_source("consumer", tmp_path)
    original = (source / "Kbuild").read_bytes()
    [record] = start_detached(str(source), [installed_kernel.release], "kbuild")

    async def scenario() -> None:
        app = KmodApp(attach=record)
        async with app.run_test(size=(80, 24)) as pilot:
            screen = app.screen
            await wait_for(pilot, lambda: screen.finished)
            await pilot.press("r")  # the build's kernel is read from its request first
            await screen_shown(pilot, RemedyScreen, "remedy-text")
            assert isinstance(app.screen, RemedyScreen)
            text = preview(app)
            assert "KBUILD_EXTRA_SYMBOLS" in text and "provider" in text  # found the provider's build
            await pilot.press("a", "a")  # nothing to edit: the provider is recorded in the rebuild's request
            await app.workers.wait_for_complete()
            await pilot.pause()
            assert (source / "Kbuild").read_bytes() == original  # no build folder's path in the user's tree
            remedy = app.screen
            await pilot.press("b")  # the rebuild is started by a worker; its screen comes after
            await wait_for(pilot, lambda: app.screen is not remedy and app.screen.is_mounted)
            rebuild = app.screen
            assert isinstance(rebuild, BuildScreen)
            await wait_for(pilot, lambda: rebuild.finished)
            assert rebuild.status["state"] == "succeeded"  # modpost agrees
            await pilot.press("enter")
            await wait_for(pilot, lambda: screen_ready(app, SymbolsScreen, "symbols-explanation"))
            summary = str(app.screen.query_one("#symbols-summary").render())
            assert "all symbols resolve" in summary
            assert "after the remedy: 3 fixed, 0 still broken" in summary  # the 3 modpost errors

    asyncio.run(scenario())


@pytest.mark.parametrize("mode", ["kbuild", "deb", "rpm-generic"])
def test_rebuild_after_a_remedy_reruns_the_builds_own_request_and_rechecks_like_with_like(
        mode, built, installed_kernel, monkeypatch, tmp_path: Path) -> None:
    """Issue 13's bug: `b` after a remedy always rebuilt in kbuild mode, so a deb or rpm build was
    never re-made or re-checked as a package. Now the rebuild is the build's own stored request."""
    monkeypatch.setenv("KMODTUI_STATE_DIR", str(tmp_path / "state"))
    # the provider built the same way (a package build's set needs the provider's package)
    [provider_record] = start_detached(str(EXAMPLES / "provider"), [installed_kernel.release], mode)
    build_done(provider_record)
    source = copy_source("consumer", tmp_path)
    [record] = start_detached(str(source), [installed_kernel.release], mode)

    async def scenario() -> None:
        app = KmodApp(attach=record)
        async with app.run_test(size=(80, 24)) as pilot:
            screen = app.screen
            await wait_for(pilot, lambda: screen.finished)
            assert screen.status["state"] == "failed"  # modpost: the provider's symbols are unknown
            await pilot.press("r")
            await screen_shown(pilot, RemedyScreen, "remedy-text")
            assert isinstance(app.screen, RemedyScreen)
            rebuild = await apply_then_rebuild(pilot)
            assert isinstance(rebuild, BuildScreen) and rebuild.record_dir != record
            await wait_for(pilot, lambda: rebuild.finished)
            assert rebuild.status["mode"] == mode and rebuild.status["state"] == "succeeded", rebuild.status
            # the very same request, now recording the provider
            assert load_request(rebuild.record_dir) == dataclasses.replace(
                load_request(record), providers=(str(EXAMPLES / "provider"),))
            await pilot.press("enter")
            await wait_for(pilot, lambda: screen_ready(app, SymbolsScreen, "symbols-explanation"))
            symbols = app.screen
            assert isinstance(symbols, SymbolsScreen)
            summary = str(symbols.query_one("#symbols-summary").render())
            assert "after the remedy: 3 fixed, 0 still broken" in summary, summary
            if mode == "kbuild":
                assert not symbols.result.packages
            else:  # checked as a package set: the package is what was resolved
                suffix = ".deb" if mode == "deb" else ".rpm"
                assert [p.path.endswith(suffix) for p in symbols.result.packages] == [True, True]  # and the provider's
                said = symbols.result.package_manager  # asked of apt-get/rpm, in a scratch root
                assert said is not None and said.asked and said.tool == ("apt-get" if mode == "deb" else "rpm")
                assert (f"{said.tool} would now accept" in summary) == said.accepted, (summary, said.words)

    asyncio.run(scenario())


@pytest.mark.heavy  # seconds: not in --quick (README)
def test_demo_seed_000_story_ends_with_rpm_accepting_the_consumer(tmp_path: Path, monkeypatch) -> None:
    """The demo, no CLI flag: not_packaged -> r -> spec remedy (a, a) -> b rebuilds the provider RPM
    from the edited spec with the real rpmbuild -> the package set re-checked: 3 fixed."""
    from tests.realtools import require_tool

    require_tool("rpmbuild")
    monkeypatch.setenv("KMODTUI_STATE_DIR", str(tmp_path / "state"))

    async def scenario() -> None:
        app = KmodApp(demo=True)
        async with app.run_test(size=(80, 24)) as pilot:
            await open_demo_symbols(pilot)
            before = app.screen
            assert before.result.problem_count == 3
            await pilot.press("r")
            await screen_shown(pilot, RemedyScreen, "remedy-text")
            assert isinstance(app.screen, RemedyScreen)
            assert "+%global _use_internal_dependency_generator 0" in preview(app)
            await pilot.press("a", "a")
            await app.workers.wait_for_complete()
            await pilot.pause()
            await pilot.press("b")
            await wait_for(pilot, lambda: isinstance(app.screen, SymbolsScreen) and app.screen is not before
                           and bool(app.screen.query("#symbols-summary")), 120)  # composed (a busy machine is slow to)
            after = app.screen
            try:  # mounted and summarised (the comparison is computed on mount)
                await wait_for(pilot, lambda: "after the remedy" in str(after.query_one("#symbols-summary").render()),
                               10)
            except AssertionError:
                pass  # the assertion below shows what the summary says
            summary = str(after.query_one("#symbols-summary").render())
            assert "after the remedy: 3 fixed, 0 still broken; rpm " in summary, summary
            assert app.screen.result.problem_count == 0
            said.append((summary, app.screen.result.package_manager))

    said: list = []
    asyncio.run(scenario())
    # and the real rpm agrees: before, the bundled provider leaves the consumer's ksym() Requires unmet;
    # the provider the demo rebuilt satisfies them (a kernel package providing the demo kernel's symbols
    # is in the scratch rpm database, as on a real system)
    import glob

    from kmodtui.core.build.demo import demo_packages
    from kmodtui.core.paths import package_data
    from tests.pkgtools import RpmRoot, build_kernel_provides_rpm

    [consumer], [bundled] = demo_packages()
    [rebuilt] = glob.glob(str(tmp_path / "state" / "demo" / "rpmbuild" / "RPMS" / "*" / "kmod-provider-*.rpm"))
    symvers = package_data("data", "demo", "root", "usr", "src", "linux-headers-6.1.0-56-amd64", "Module.symvers")
    kernel = build_kernel_provides_rpm(tmp_path / "kernel", "6.1.0-56-amd64", symvers)
    for provider, refused in ((bundled, True), (rebuilt, False)):
        root = RpmRoot(tmp_path / f"root-{refused}")
        root.install_justdb(kernel, Path(provider))
        code, failed = root.test_install(Path(consumer))
        assert (code != 0) is refused
        assert {r for r, _ in failed} == ({"ksym(provider_fn) = 0xf96caa5e", "ksym(provider_gpl_fn) = 0x333c3782",
                                           "ksym(provider_ns_fn) = 0x90b96df5"} if refused else set())
    # what the screen said is what rpm -i --test says of the consumer and the rebuilt provider together,
    # against that kernel package: 'would now accept' only when rpm accepts them
    [(summary, verdict)] = said
    root = RpmRoot(tmp_path / "root-together")
    root.install_justdb(kernel)
    together = run([root.rpm, "--root", str(root.root), "--dbpath", "/var/lib/rpm", "-i", "--test", "--ignorearch",
                    "--ignoreos", consumer, rebuilt])
    assert verdict is not None and verdict.asked and verdict.accepted == (together.returncode == 0)
    # the story's end: the rebuilt provider's own Requires are met by the kernel's kernel() Provides
    # (its generator resolved them against the demo kernel, not as ksym() of an unknown kernel)
    assert together.returncode == 0, together.stderr
    assert "rpm would now accept kmod-consumer, kmod-provider" in summary, summary


@pytest.mark.parametrize("mode", ["kbuild", pytest.param("rpm-generic", marks=pytest.mark.slow),
                                  pytest.param("rpm-redhat", marks=pytest.mark.slow)])
def test_consumer_fails_and_the_provider_is_built_from_the_remedy_screen(mode, installed_kernel, monkeypatch,
                                                                          tmp_path: Path) -> None:
    """No provider built yet, no CLI flag: r, then p lists the bundled provider source that exports
    provider_fn; picking it builds it (same kernel, the consumer's mode: an rpm consumer gets the
    provider's package); Esc back, the remedy is the rebuild with the provider recorded in its request
    (nothing written into the source); a, a, b: the consumer builds and re-checks clean, in rpm-generic
    and rpm-redhat as a package set with the provider's package in it, and real rpm agrees.
    Before: in the rpm modes the provider was built with kbuild, so the package set said UNKNOWN x3
    for ksym(provider_*) with no remedy, and the Kbuild got one build folder's absolute path."""
    from kmodtui.screens.remedy import ProviderScreen

    monkeypatch.setenv("KMODTUI_STATE_DIR", str(tmp_path / "state"))
    source = copy_source("consumer", tmp_path)
    original = {p.name: p.read_bytes() for p in source.iterdir() if p.is_file()}
    [record] = start_detached(str(source), [installed_kernel.release], mode)
    packages: list[str] = []

    async def scenario() -> None:
        app = KmodApp(attach=record)
        async with app.run_test(size=(80, 24)) as pilot:
            screen = app.screen
            await wait_for(pilot, lambda: screen.finished)
            await pilot.press("r")
            remedy = await screen_shown(pilot, RemedyScreen, "remedy-text")
            assert isinstance(remedy, RemedyScreen)
            assert "press p to pick" in preview(app)
            await pilot.press("p")  # the sources that export the symbol are read first
            await screen_shown(pilot, ProviderScreen)
            assert isinstance(app.screen, ProviderScreen)
            assert [kind for kind, _ in app.screen.choices] == ["source"]  # the bundled provider example
            await pilot.press("enter")
            await wait_for(pilot, lambda: isinstance(app.screen, BuildScreen) and app.screen is not screen)
            provider = app.screen
            await wait_for(pilot, lambda: provider.finished)
            assert provider.status["state"] == "succeeded" and provider.status["mode"] == mode
            await pilot.press("escape")
            await settle(pilot)  # back on the remedy: its preview is planned again (the provider's build)
            assert app.screen is remedy
            assert "KBUILD_EXTRA_SYMBOLS on make's command line" in preview(app), preview(app)
            rebuild = await apply_then_rebuild(pilot)
            assert isinstance(rebuild, BuildScreen)
            await wait_for(pilot, lambda: rebuild.finished)
            assert rebuild.status["state"] == "succeeded", rebuild.status
            [recorded] = load_request(rebuild.record_dir).providers  # the bundled example, as the state keeps it
            assert recorded.endswith(os.path.join("examples", "provider")), recorded
            await pilot.press("enter")
            await wait_for(pilot, lambda: screen_ready(app, SymbolsScreen, "symbols-explanation"))
            symbols = app.screen
            assert isinstance(symbols, SymbolsScreen)
            summary = str(symbols.query_one("#symbols-summary").render())
            assert "after the remedy: 3 fixed, 0 still broken" in summary, summary
            packages.extend(p.path for p in symbols.result.packages)

    asyncio.run(scenario())
    assert {p.name: p.read_bytes() for p in source.iterdir() if p.is_file()} == original  # the user's tree as it was
    if mode != "kbuild":  # real rpm agrees: with the provider's package installed, nothing of it is missing
        from tests.pkgtools import RpmRoot

        [consumer] = [p for p in packages if "consumer" in os.path.basename(p)]
        [provider_rpm] = [p for p in packages if "provider" in os.path.basename(p)]
        if mode == "rpm-redhat":  # its consumer Requires the provider's ksym(): alone, rpm refuses it
            _code, failed = RpmRoot(tmp_path / "alone").test_install(Path(consumer))
            assert {r.split(" ")[0] for r, _ in failed if "provider_" in r} == \
                {"ksym(provider_fn)", "ksym(provider_gpl_fn)", "ksym(provider_ns_fn)"}, failed
        root = RpmRoot(tmp_path / "with-provider")
        root.install_justdb(Path(provider_rpm))
        _code, failed = root.test_install(Path(consumer))
        assert not [r for r, _ in failed if "provider_" in r], failed


def test_a_long_target_path_shows_its_file_name_at_80_columns(tmp_path: Path, monkeypatch) -> None:
    """The target field showed the start of a long path (the part every path shares) and cut off
    the file's name; it now shows the end."""
    state = tmp_path / "a-rather-long-state-directory-name" / "that-keeps-going" / "and-going" / "state"
    monkeypatch.setenv("KMODTUI_STATE_DIR", str(state))

    async def scenario() -> None:
        app = KmodApp(demo=True)
        async with app.run_test(size=(80, 24)) as pilot:
            await open_demo_symbols(pilot)
            await pilot.press("r")
            await screen_shown(pilot, RemedyScreen, "remedy-target")
            target = app.screen.query_one("#remedy-target")
            assert len(target.value) > target.content_region.width and target.value.endswith("kmod-provider.spec")
            shown = target.value[int(target.scroll_offset.x):][: target.content_region.width]
            assert shown.endswith("kmod-provider.spec"), shown

    asyncio.run(scenario())


@pytest.mark.slow
def test_an_rpm_package_sets_unknown_ksym_offers_to_build_the_providers_package(installed_kernel, monkeypatch,
                                                                                tmp_path: Path) -> None:
    """The rpm dead end: a consumer built in rpm-redhat mode against a provider that only has a kbuild
    build gets through modpost, but its package set says UNKNOWN x3 for ksym(provider_*): no package in
    the set provides them. Before: 'No remedy in the catalogue'. Now r offers kbuild-extra-symbols,
    p builds the provider's package (rpm-redhat, same kernel), and b ends in 3 fixed."""
    from kmodtui.screens.remedy import ProviderScreen

    monkeypatch.setenv("KMODTUI_STATE_DIR", str(tmp_path / "state"))
    provider = copy_source("provider", tmp_path / "p")
    [provider_record] = start_detached(str(provider), [installed_kernel.release], "kbuild")
    build_done(provider_record)
    source = copy_source("consumer", tmp_path)
    [record] = start_detached(str(source), [installed_kernel.release], "rpm-redhat", providers=(str(provider),))

    async def scenario() -> None:
        app = KmodApp(attach=record)
        async with app.run_test(size=(80, 24)) as pilot:
            screen = app.screen
            await wait_for(pilot, lambda: screen.finished)
            assert screen.status["state"] == "succeeded", screen.status  # modpost had the kbuild provider's symvers
            await pilot.press("enter")
            await wait_for(pilot, lambda: screen_ready(app, SymbolsScreen, "symbols-explanation"))
            symbols = app.screen
            assert isinstance(symbols, SymbolsScreen)
            unknown = [f for f in symbols.result.findings() if f.status == "unknown_symbol"]
            assert sorted(f.requirement.symbol for f in unknown if f.requirement) == \
                ["provider_fn", "provider_gpl_fn", "provider_ns_fn"], unknown  # ksym(provider_*): no package has it
            assert all(f.remedies == ("kbuild-extra-symbols",) for f in unknown)
            await pilot.press("r")
            remedy = await screen_shown(pilot, RemedyScreen, "remedy-text")
            assert "with .rpm packages" in preview(app) and "press p" in preview(app), preview(app)
            await pilot.press("p")
            await screen_shown(pilot, ProviderScreen)
            assert isinstance(app.screen, ProviderScreen)
            kinds = [kind for kind, _ in app.screen.choices]
            await pilot.press(*["down"] * kinds.index("source"), "enter")  # build the source (the kbuild one is there)
            await wait_for(pilot, lambda: isinstance(app.screen, BuildScreen) and app.screen is not screen)
            built = app.screen
            await wait_for(pilot, lambda: built.finished)
            assert built.status["state"] == "succeeded" and built.status["mode"] == "rpm-redhat"
            await pilot.press("escape")
            await settle(pilot)
            assert app.screen is remedy
            rebuild = await apply_then_rebuild(pilot)
            assert isinstance(rebuild, BuildScreen)
            await wait_for(pilot, lambda: rebuild.finished)
            assert rebuild.status["state"] == "succeeded", rebuild.status
            await pilot.press("enter")
            await wait_for(pilot, lambda: screen_ready(app, SymbolsScreen, "symbols-explanation")
                           and app.screen is not symbols)
            summary = str(app.screen.query_one("#symbols-summary").render())
            assert "after the remedy: 3 fixed, 0 still broken" in summary, summary

    asyncio.run(scenario())
