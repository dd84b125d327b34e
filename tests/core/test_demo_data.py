"""The bundled demo is real: its modules resolve against its kernel, as a fresh build does."""

from __future__ import annotations

from kmodtui.core.elf.module import read_module
from kmodtui.core.kernels.discover import discover_kernels
from kmodtui.core.paths import package_data
from kmodtui.core.resolve.engine import resolve
from tests.realtools import BuiltModules


def test_demo_modules_resolve_cleanly_against_the_demo_kernel() -> None:
    [kernel] = discover_kernels(package_data("data", "demo", "root"), origin="demo")
    result = resolve([package_data("data", "demo", "modules")], kernel)
    assert result.ok and result.counts["ok"] > 10


def test_demo_modules_match_a_fresh_build_on_the_same_headers(built: BuiltModules) -> None:
    demo = read_module(package_data("data", "demo", "modules", "consumer.ko"))
    fresh = read_module(built.consumer_ko)
    if demo.vermagic != fresh.vermagic:
        return  # other headers installed here than the demo was made with: nothing to compare
    assert demo.needs == fresh.needs and demo.srcversion == fresh.srcversion


def test_demo_packages_are_seed_000_as_real_rpm_sees_it(tmp_path) -> None:
    """The demo's package pair: real rpm refuses the consumer exactly where kmodtui says not_packaged."""
    import glob
    import os

    from tests.pkgtools import RpmRoot, build_kernel_provides_rpm

    [kernel] = discover_kernels(package_data("data", "demo", "root"), origin="demo")
    packages = package_data("data", "demo", "packages")
    [consumer] = glob.glob(os.path.join(packages, "kmod-consumer-*.rpm"))
    [provider] = glob.glob(os.path.join(packages, "kmod-provider-*.rpm"))
    stub = build_kernel_provides_rpm(tmp_path / "k", kernel.release, kernel.symvers_path)
    root = RpmRoot(tmp_path / "root")
    root.install_justdb(stub, provider)
    from pathlib import Path
    code, failed = root.test_install(Path(consumer))
    result = resolve([consumer], kernel, [provider])
    assert code != 0
    assert {(f.symbol, f.module) for f in result.package_findings if f.status != "ok"} == failed
    assert {f.status for f in result.problems} == {"not_packaged"}
