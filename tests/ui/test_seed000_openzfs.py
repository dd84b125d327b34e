"""Seed 000 on the real OpenZFS source, as a newcomer meets it, finished inside the TUI.

OpenZFS 2.1.11 (Debian 12's zfs-linux release tarball) is built the generic way, with its own
`make rpm-kmod` and rpm/generic/zfs-kmod.spec.in. A small module that uses ZFS exports the way
Lustre's osd-zfs does (kmodtui/examples/zfs-consumer) fails modpost until it names ZFS's
Module.symvers; then its kmod RPM Requires ksym(dmu_tx_commit) = 0x... and real rpm refuses it, as
seed 000's yum did. kmodtui names not_packaged for each symbol, the remedy edits the tree's
zfs-kmod.spec.in, one key rebuilds OpenZFS's packages with the tree's own build and re-checks the
package set, and real rpm accepts. The story's keys at 80x24: r, a, a, b, Enter; twice.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import pytest

from kmodtui.app import KmodApp
from kmodtui.core.build.job import start_detached
from kmodtui.core.build.request import load_request
from kmodtui.screens.build import BuildScreen
from kmodtui.screens.remedy import RemedyScreen
from kmodtui.screens.symbols import SymbolsScreen
from tests.pkgtools import RpmRoot, build_kernel_provides_rpm
from tests.realtools import copy_source, openzfs_release_tree, require_tool, run_ok
from tests.ui.waiting import apply_then_rebuild, build_done, rebuilt_then_checked, screen_ready, settle, wait_for

ZFS_BUILD_TIMEOUT = 1800.0  # the spec's kernel configure and nine modules (the tree's srpm configure: seconds)
NINE = {"spl", "zavl", "icp", "zlua", "znvpair", "zunicode", "zcommon", "zfs", "zzstd"}
USED = {"dmu_tx_commit", "txg_wait_synced", "dmu_objset_space"}  # what the consumer names


def packages_of(status: dict) -> list[Path]:
    return [Path(a) for a in status["artifacts"] if a.endswith(".rpm") and not a.endswith(".src.rpm")]


def ksym_refusals(root: RpmRoot, package: Path) -> tuple[int, set[str]]:
    code, failed = root.test_install(package)
    return code, {requirement for requirement, _ in failed if requirement.startswith("ksym(")}


@pytest.mark.slow
@pytest.mark.network
@pytest.mark.timeout(3600)  # two OpenZFS builds
def test_seed_000_on_real_openzfs_from_refusal_to_rpm_accepting(installed_kernel, monkeypatch, tmp_path: Path) -> None:
    require_tool("rpmbuild")
    monkeypatch.setenv("KMODTUI_STATE_DIR", str(tmp_path / "state"))
    release = installed_kernel.release
    tree = openzfs_release_tree(tmp_path)

    # What kmodtui reads from the release tree, before anything runs
    info = json.loads(run_ok([sys.executable, "-m", "kmodtui", "source", str(tree), "--json"]).stdout)
    assert (info["name"], info["version"], set(info["modules"])) == ("zfs", tree.name.removeprefix("zfs-"), NINE)
    assert {"kbuild", "deb", "dkms", "rpm-generic", "rpm-redhat"} <= set(info["modes"])
    assert info["linux_range"]["minimum"] and info["linux_range"]["maximum"]
    spec = tree / "rpm" / "generic" / "zfs-kmod.spec.in"
    original_spec = spec.read_bytes()

    # OpenZFS's own generic kmod RPMs: no ksym() Provides (rpm's internal generator)
    [zfs_record] = start_detached(str(tree), [release], "rpm-generic")
    zfs = build_done(zfs_record, ZFS_BUILD_TIMEOUT)
    assert zfs["state"] == "succeeded", Path(zfs["log"]).read_text()[-3000:]
    zfs_packages = packages_of(zfs)
    assert any(p.name.startswith(f"kmod-zfs-{release}-") for p in zfs_packages)
    provides = run_ok([require_tool("rpm"), "-qp", "--provides", *map(str, zfs_packages)]).stdout
    assert "ksym(" not in provides
    symvers = Path(zfs_record) / "work" / "src" / "Module.symvers"  # from kmod-zfs-devel, for consumers
    assert USED <= {line.split("\t")[1] for line in symvers.read_text().splitlines()}
    assert spec.read_bytes() == original_spec  # the build ran in its copy

    # the consumer, packaged the RHEL way (ksym() Requires); it first fails modpost: ZFS's symbols unknown
    consumer = copy_source("zfs-consumer", tmp_path)
    [consumer_record] = start_detached(str(consumer), [release], "rpm-redhat")
    assert build_done(consumer_record, 300)["state"] == "failed"
    kernel_stub = build_kernel_provides_rpm(tmp_path / "kernel-stub", release, installed_kernel.symvers_path)

    async def scenario() -> None:
        app = KmodApp(attach=consumer_record)
        async with app.run_test(size=(80, 24)) as pilot:
            screen = app.screen
            await wait_for(pilot, lambda: screen.finished)
            # 1. KBUILD_EXTRA_SYMBOLS from the OpenZFS build kmodtui made: no CLI flag
            await pilot.press("r")
            await wait_for(pilot, lambda: screen_ready(app, RemedyScreen, "remedy-text"))
            await settle(pilot)  # its preview is read in a worker: on a busy machine it comes later
            text = str(app.screen.query_one("#remedy-text").render())
            # recorded as the consumer's provider (its packages join the set), not written into its Kbuild
            assert "KBUILD_EXTRA_SYMBOLS" in text and zfs_record.rsplit("/", 1)[-1] in text, text
            rebuild = await apply_then_rebuild(pilot)
            assert isinstance(rebuild, BuildScreen)
            await wait_for(pilot, lambda: rebuild.finished, 300)
            assert rebuild.status["state"] == "succeeded", rebuild.status
            [consumer_rpm] = packages_of(rebuild.status)
            await pilot.press("enter")
            await wait_for(pilot, lambda: screen_ready(app, SymbolsScreen, "symbols-explanation"), 300)
            symbols = app.screen
            assert isinstance(symbols, SymbolsScreen)

            # 2. real rpm refuses the consumer next to OpenZFS's generic packages, as seed 000's yum did ...
            root = RpmRoot(tmp_path / "rpmroot-before")
            root.install_justdb(kernel_stub, *zfs_packages)
            code, refused = ksym_refusals(root, consumer_rpm)
            assert code != 0 and {r.split("(")[1].split(")")[0] for r in refused} == USED, refused
            # ... and kmodtui names not_packaged for exactly those requirements
            not_packaged = {str(f.requirement) for f in symbols.result.findings() if f.status == "not_packaged"}
            assert not_packaged == refused
            assert all(f.status == "ok" for f in symbols.result.findings() if f.status != "not_packaged")

            # 3. the remedy on the tree's rpm/generic/zfs-kmod.spec.in, then one key: the tree's own build
            await pilot.press("r")
            await wait_for(pilot, lambda: screen_ready(app, RemedyScreen, "remedy-text"))
            await settle(pilot)  # its preview is read in a worker: on a busy machine it comes later
            remedy = app.screen
            assert isinstance(remedy, RemedyScreen)
            assert remedy.context.target == str(spec) and remedy.context.provider_record == zfs_record
            assert "+%global _use_internal_dependency_generator 0" in str(remedy.query_one("#remedy-text").render())
            await pilot.press("a", "a")
            await app.workers.wait_for_complete()
            await pilot.pause()
            assert b"_use_internal_dependency_generator 0" in spec.read_bytes()
            await pilot.press("b")
            await pilot.pause()
            zfs_rebuild = app.screen
            assert isinstance(zfs_rebuild, BuildScreen) and zfs_rebuild.record_dir != zfs_record
            assert load_request(zfs_rebuild.record_dir) == load_request(zfs_record)
            after = await rebuilt_then_checked(pilot, zfs_rebuild, symbols, ZFS_BUILD_TIMEOUT)
            summary = str(after.query_one("#symbols-summary").render())
            assert f"after the remedy: {len(USED)} fixed, 0 still broken" in summary, summary
            assert after.result.ok
            new_packages = packages_of(zfs_rebuild.status)
            assert {p.path for p in after.result.packages} >= {str(p) for p in new_packages if "devel" not in p.name}

            # 4. real rpm agrees: the rebuilt packages Provide ksym(), and the consumer installs
            root = RpmRoot(tmp_path / "rpmroot-after")
            root.install_justdb(kernel_stub, *new_packages)
            code, refused = ksym_refusals(root, consumer_rpm)
            assert code == 0 and not refused

    asyncio.run(scenario())
    # the remedy kept a backup: undo restores the tree's spec byte for byte
    undone = subprocess.run([sys.executable, "-m", "kmodtui", "remedy", "undo", "spec-external-depgen", "--target",
                             str(spec)], capture_output=True, text=True)
    assert undone.returncode == 0 and spec.read_bytes() == original_spec, undone.stderr
