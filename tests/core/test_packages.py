"""Seeds 000 and 002 reproduced with real rpmbuild, rpm, dpkg-deb and dpkg, then explained and fixed."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from kmodtui.core.errors import KmodError
from kmodtui.core.model import Kernel
from kmodtui.core.packages.packageset import read_installed
from kmodtui.core.packages.read import read_package
from kmodtui.core.packages.rpmvercmp import rpmvercmp
from kmodtui.core.resolve.engine import resolve
from tests.pkgtools import (
    DpkgRoot,
    RpmRoot,
    build_deb,
    build_kernel_provides_rpm,
    build_kmod_rpm,
)
from tests.realtools import BuiltModules, require_tool, run_ok


def kmodtui(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kmodtui", *args], capture_output=True, text=True, input=stdin)


@pytest.fixture(scope="module")
def rpms(built: BuiltModules, installed_kernel: Kernel, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    top = tmp_path_factory.mktemp("rpmbuild")
    release = installed_kernel.release
    return {
        # seed 000: kmod-zfs from the generic spec, kmod-lustre-osd-zfs with RHEL-style ksym Requires
        "provider_generic": build_kmod_rpm(top / "generic", "kmod-provider", [built.provider_ko], release,
                                           generator="internal"),
        "provider_fixed": build_kmod_rpm(top / "fixed", "kmod-provider", [built.provider_ko], release,
                                         generator="kmodtui"),
        "consumer": build_kmod_rpm(top / "consumer", "kmod-consumer", [built.consumer_ko], release,
                                   generator="kmodtui"),
        "kernel": build_kernel_provides_rpm(top / "kernel", release, installed_kernel.symvers_path),
    }


def test_rpmvercmp_matches_rpm_itself() -> None:
    rpm = require_tool("rpm")
    pairs = [("0x037a0cba", "0x37a0cba"), ("0x0abc1234", "0xabc1234"), ("1.0", "1.0.1"), ("1.0~rc1", "1.0"),
             ("2.0", "10"), ("1.0a", "1.0"), ("1.0^git1", "1.0"), ("0xf96caa5e", "0xf96caa5f"), ("a", "1")]
    lua = ", ".join(f'rpm.vercmp("{a}", "{b}")' for a, b in pairs)
    theirs = run_ok([rpm, "--eval", f"%{{lua: print({lua})}}"]).stdout.split()
    assert [rpmvercmp(a, b) for a, b in pairs] == [int(x) for x in theirs]


def test_rpmdeps_provides_and_requires_as_rpm_records_them(rpms: dict[str, Path], built: BuiltModules,
                                                          installed_kernel: Kernel) -> None:
    """`rpm -qp --provides/--requires` of packages built with kmodtui as the generator carry exactly the
    ksym()/kernel() lines the modules' Module.symvers and modprobe --dump-modversions imply."""
    rpm = require_tool("rpm")
    provides = run_ok([rpm, "-qp", "--provides", str(rpms["provider_fixed"])]).stdout.split("\n")
    symvers_rows = [line.split("\t") for line in built.provider_symvers.read_text().splitlines()]
    expected = {f"ksym({cols[1]}) = 0x{int(cols[0], 16):08x}" for cols in symvers_rows}
    assert {p for p in provides if p.startswith("ksym(")} == expected
    assert "kmod(provider.ko)" in provides
    requires = set(run_ok([rpm, "-qp", "--requires", str(rpms["consumer"])]).stdout.split("\n"))
    dump = run_ok([require_tool("modprobe"), "--dump-modversions", str(built.consumer_ko)]).stdout.splitlines()
    kernel_rows = {(c[1], int(c[0], 16)) for c in (line.split("\t") for line in Path(installed_kernel.symvers_path).read_text().splitlines())}
    for line in dump:
        crc, symbol = line.split("\t")
        kind = "kernel" if (symbol, int(crc, 16)) in kernel_rows else "ksym"
        assert f"{kind}({symbol}) = {crc}" in requires
    assert "ksym(provider_fn) = 0xf96caa5e" in requires


def test_generic_spec_provider_lacks_ksym_provides_and_rpm_refuses_the_consumer(rpms: dict[str, Path], tmp_path: Path,
                                                                                installed_kernel: Kernel) -> None:
    """Seed 000, for real: rpm refuses the consumer; kmodtui says not_packaged for exactly rpm's list."""
    root = RpmRoot(tmp_path / "root")
    root.install_justdb(rpms["kernel"], rpms["provider_generic"])
    code, failed = root.test_install(rpms["consumer"])
    assert code != 0 and failed
    assert {req.split("(")[1].split(")")[0] for req, _ in failed} == {"provider_fn", "provider_gpl_fn", "provider_ns_fn"}
    result = resolve([str(rpms["consumer"])], installed_kernel, [str(rpms["provider_generic"]), str(rpms["kernel"])])
    ours = {(f.symbol, f.module) for f in result.package_findings if f.status != "ok"}
    assert ours == failed
    assert {f.status for f in result.package_findings if f.status != "ok"} == {"not_packaged"}
    finding = next(f for f in result.package_findings if f.status == "not_packaged")
    assert "internal dependency generator" in finding.explanation
    assert "spec-external-depgen" in finding.remedies


def test_provider_rebuilt_with_the_external_generator_is_accepted_by_rpm(rpms: dict[str, Path], tmp_path: Path,
                                                                          installed_kernel: Kernel) -> None:
    root = RpmRoot(tmp_path / "root")
    root.install_justdb(rpms["kernel"], rpms["provider_fixed"])
    code, failed = root.test_install(rpms["consumer"])
    assert code == 0 and not failed
    result = resolve([str(rpms["consumer"])], installed_kernel, [str(rpms["provider_fixed"]), str(rpms["kernel"])])
    assert result.ok, [f for f in result.problems]


def test_consumer_built_against_another_provider_build_is_a_crc_mismatch(rpms: dict[str, Path], tmp_path: Path,
                                                                        built: BuiltModules, installed_kernel: Kernel) -> None:
    """The ZFS 0.7.13 vs 0.8.2 case: the provider package Provides the symbol, with another CRC."""
    from tests.realtools import copy_source, kbuild

    source = copy_source("provider", tmp_path, {"int provider_fn(int x)": "long provider_fn(long x)"})
    assert kbuild(built.build_dir, source).returncode == 0
    other = build_kmod_rpm(tmp_path / "top", "kmod-provider", [source / "provider.ko"], installed_kernel.release,
                           generator="kmodtui")
    root = RpmRoot(tmp_path / "root")
    root.install_justdb(rpms["kernel"], other)
    code, failed = root.test_install(rpms["consumer"])
    assert {req for req, _ in failed} == {"ksym(provider_fn) = 0xf96caa5e"}
    result = resolve([str(rpms["consumer"])], installed_kernel, [str(other), str(rpms["kernel"])])
    problems = [f for f in result.package_findings if f.status != "ok"]
    assert {(f.symbol, f.module) for f in problems} == failed
    assert [f.status for f in problems] == ["crc_mismatch"]


def test_spec_mode_prediction_says_generic_gives_no_ksym_provides(built: BuiltModules, installed_kernel: Kernel,
                                                                 rpms: dict[str, Path]) -> None:
    from kmodtui.core.elf.module import read_module
    from kmodtui.core.packages.rpmdeps import (
        MODE_GENERIC,
        MODE_KMODTUI,
        predict_dependencies,
    )

    modules = [(f"/lib/modules/{installed_kernel.release}/extra/provider.ko", read_module(built.provider_ko))]
    generic = predict_dependencies(modules, MODE_GENERIC, None)
    assert generic.provides == () and "no ksym() Provides" in generic.story
    rpm = require_tool("rpm")
    for mode, package in ((MODE_GENERIC, rpms["provider_generic"]), (MODE_KMODTUI, rpms["provider_fixed"])):
        predicted = predict_dependencies(modules, mode, None)
        actual = {p for p in run_ok([rpm, "-qp", "--provides", str(package)]).stdout.split("\n")
                  if p.startswith(("ksym(", "kernel(", "kmod("))}
        assert set(predicted.provides) == actual, mode


def test_cli_inspect_rpm_and_resolve_json(rpms: dict[str, Path], installed_kernel: Kernel) -> None:
    result = kmodtui("inspect", "--json", str(rpms["provider_generic"]))
    package = json.loads(result.stdout)["packages"][0]
    assert package["name"] == "kmod-provider" and not [p for p in package["provides"] if p.startswith("ksym(")]
    assert package["modules"][0]["name"] == "provider"
    result = kmodtui("resolve", str(rpms["consumer"]), "--with", str(rpms["provider_generic"]), "--with",
                     str(rpms["kernel"]), "--kernel", installed_kernel.release, "--json", "--problems-only")
    assert result.returncode == 1
    statuses = {(f["module"], f["status"]) for f in json.loads(result.stdout)["findings"]}
    assert statuses == {("kmod-consumer-1.0-1.x86_64", "not_packaged")}


def test_seed_002_deb_depends_on_a_kernel_package_name_that_does_not_exist(built: BuiltModules, tmp_path: Path,
                                                                           installed_kernel: Kernel) -> None:
    release = "6.1.0-99-custom"
    kernel_deb = build_deb(tmp_path, "linux-image", "6.1.999-2", {f"/boot/vmlinuz-{release}": b"not a kernel"})
    module_deb = build_deb(tmp_path, f"zfs-modules-{release}", "2.1.11-1",
                           {f"/lib/modules/{release}/updates/dkms/provider.ko": built.provider_ko},
                           depends=f"linux-image-{release}")
    root = DpkgRoot(tmp_path / "root")
    assert root.install(kernel_deb).returncode == 0
    refused = root.install(module_deb)
    assert refused.returncode != 0
    assert f"dependency problems prevent configuration of zfs-modules-{release}" in refused.stderr
    dpkg_missing = set(re.findall(r"depends on (\S+?);", refused.stderr))
    assert dpkg_missing == {f"linux-image-{release}"}
    installed = read_installed(str(root.status))
    result = resolve([str(module_deb)], installed_kernel, installed=installed)
    problems = [f for f in result.package_findings if f.status != "ok"]
    assert {f.symbol for f in problems} == dpkg_missing
    assert problems[0].status == "unsatisfied_requires" and problems[0].provider == "linux-image"
    assert "as package 'linux-image'" in problems[0].explanation and "deb-fix-depends" in problems[0].remedies


def test_a_shim_that_provides_the_name_satisfies_dpkg_and_kmodtui(built: BuiltModules, tmp_path: Path,
                                                                 installed_kernel: Kernel) -> None:
    release = "6.1.0-99-custom"
    shim = build_deb(tmp_path, "linux-image-shim", "1", {}, provides=f"linux-image-{release}")
    module_deb = build_deb(tmp_path, f"zfs-modules-{release}", "2.1.11-1",
                           {f"/lib/modules/{release}/updates/dkms/provider.ko": built.provider_ko},
                           depends=f"linux-image-{release}")
    root = DpkgRoot(tmp_path / "root")
    assert root.install(shim).returncode == 0
    assert root.install(module_deb).returncode == 0
    result = resolve([str(module_deb)], installed_kernel, installed=read_installed(str(root.status)))
    assert not [f for f in result.package_findings if f.status != "ok"]


def test_corrupt_packages_are_one_clear_line(rpms: dict[str, Path], tmp_path: Path) -> None:
    good = rpms["provider_generic"].read_bytes()
    cases = {"truncated.rpm": good[: len(good) // 2], "header.rpm": good[:200], "junk.deb": b"!<arch>\njunk",
             "empty.rpm": b"", "text.deb": b"hello"}
    for name, content in cases.items():
        path = tmp_path / name
        path.write_bytes(content)
        with pytest.raises(KmodError):
            read_package(path)
        result = kmodtui("inspect", str(path))
        assert result.returncode == 2 and result.stderr.count("\n") == 1, (name, result.stderr)
        assert result.stderr.startswith(f"kmodtui: {path}: ") and "Traceback" not in result.stderr


@pytest.mark.heavy  # a bomb: seconds, with a time bound a loaded machine misses; not in --quick (README)
def test_a_module_that_decompresses_without_end_is_refused(tmp_path: Path) -> None:
    """A .deb carrying a zstd 'module' of 300 MiB of zeros (a few KiB compressed): capped, one line."""
    import zstandard

    bomb = zstandard.ZstdCompressor(level=3).compress(b"\0" * (300 * 1024 * 1024))
    deb = build_deb(tmp_path, "bomb-modules", "1", {"/lib/modules/6.1.0-1-amd64/extra/bomb.ko.zst": bomb})
    result = kmodtui("inspect", str(deb))
    assert result.returncode == 2
    assert "decompresses to more than" in result.stderr and result.stderr.count("\n") == 1


def test_rpm_bomb_is_refused_with_bounded_memory(rpms: dict[str, Path], tmp_path: Path) -> None:
    """A real kmod RPM's headers with a payload that expands to ~4 GiB: the size headers are not trusted."""
    from rpmfile.headers import get_headers

    from tests.core.test_security import peak_rss_mib, streamed

    good = rpms["provider_generic"]
    with open(good, "rb") as f:
        (_, offset), _ = get_headers(f)
        f.seek(0)
        head = f.read(offset)
    cpio = (b"070701" + b"".join(f"{v:08x}".encode() for v in (1, 0o100644, 0, 0, 1, 0, 0xF0000000, 0, 0, 0, 0, 13, 0))
            + b"./usr/zeros\0" + b"\0" * ((-(110 + 12)) % 4))
    bomb = tmp_path / "bomb.rpm"
    bomb.write_bytes(head + streamed("zstd", cpio, 0xF0000000))
    peak, result = peak_rss_mib("inspect", str(bomb))
    print(f"zstd .rpm bomb: {bomb.stat().st_size} bytes, peak {peak} MiB: {result.stderr.strip()}")
    assert result.returncode == 2 and "decompresses to more than" in result.stderr
    assert peak < 300


def test_inspect_warns_of_missing_ksym_provides_only_when_the_modules_export_something(
        built: BuiltModules, installed_kernel: Kernel, tmp_path: Path) -> None:
    exporting = build_kmod_rpm(tmp_path / "p", "kmod-provider", [built.provider_ko], installed_kernel.release,
                               generator="internal")
    silent = build_kmod_rpm(tmp_path / "c", "kmod-consumer", [built.consumer_ko], installed_kernel.release,
                            generator="internal")
    assert "no ksym() Provides" in kmodtui("inspect", str(exporting)).stdout
    out = kmodtui("inspect", str(silent)).stdout
    assert "0 exports" in out and "no ksym() Provides" not in out


def test_suse_ksym_form_follows_suses_generators_on_real_modules(built: BuiltModules, installed_kernel: Kernel) -> None:
    """SUSE's find-requires.ksyms turns each `modprobe --dump-modversions` line into
    ksym(<flavor>:<sym>) = <crc without 0x and leading zeros>; ksym-provides prints exports with
    "%lx". No SUSE tool runs here: the form is predicted from SUSE's generator sources; the symbols
    and CRCs come from modprobe and modpost's Module.symvers."""
    from kmodtui.core.elf.module import read_module
    from kmodtui.core.packages.rpmdeps import MODE_SUSE, predict_dependencies

    flavor = installed_kernel.release.rsplit("-", 1)[-1]
    consumer = [(f"/lib/modules/{installed_kernel.release}/updates/consumer.ko", read_module(built.consumer_ko))]
    predicted = predict_dependencies(consumer, MODE_SUSE, None)
    dumped = run_ok([require_tool("modprobe"), "--dump-modversions", str(built.consumer_ko)]).stdout.split("\n")
    expected = {f"ksym({flavor}:{line.split()[1]}) = {line.split()[0].removeprefix('0x').lstrip('0') or '0'}"
                for line in dumped if line.strip()}
    assert set(predicted.requires) == expected
    provider = [(f"/lib/modules/{installed_kernel.release}/updates/provider.ko", read_module(built.provider_ko))]
    provides = set(predict_dependencies(provider, MODE_SUSE, None).provides)
    symvers = [line.split("\t") for line in built.provider_symvers.read_text().splitlines()]
    assert provides == {f"ksym({flavor}:{row[1]}) = {int(row[0], 16):x}" for row in symvers} | {"kmod(provider.ko)"}
