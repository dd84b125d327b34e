"""The kernels people run today, from Debian's archive (private apt lists, nothing of this machine's
apt touched): Debian 13's 6.12 and unstable's 7.x. Their whole module trees (.ko.xz under
/usr/lib/modules) against their own Module.symvers, with depmod as the referee; and what the loader
checks besides symbols (struct module size, vermagic) when a module built for Debian 12's 6.1
meets them."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from kmodtui.core.model import Kernel
from tests.realtools import BuiltModules, require_tool, run_ok

pytestmark = pytest.mark.network

SUITES = {"trixie": "Debian 13", "sid": "unstable"}


def _unpacked_root(suite: str) -> tuple[Path, str]:
    """The suite's current amd64 kernel: its modules (linux-image-* on trixie, linux-modules-* on
    unstable, which splits the kernel into -binary, -modules and a metapackage) and headers,
    unpacked with dpkg-deb into one root, kept in the download cache beside the .debs (the tests only
    read it; it is unpacked again when the .debs it came from are not the archive's any more)."""
    from tests.realtools import DOWNLOAD_CACHE, apt_depends_of, apt_download_from
    from tests.runlocks import made_once

    [image] = [d for d in apt_depends_of("linux-image-amd64", suite) if d.startswith("linux-image-")]
    release = image.removeprefix("linux-image-")
    parts = [f"linux-modules-{release}"] if suite == "sid" else [image]
    headers = f"linux-headers-{release}"
    parts.append(headers)
    common = [d for d in apt_depends_of(headers, suite) if d.endswith("-common")]
    debs = [apt_download_from(package, suite) for package in [*parts, *common]]

    def unpack(root: Path) -> None:
        for deb in debs:
            run_ok([require_tool("dpkg-deb"), "-x", str(deb), str(root)])

    root = made_once(DOWNLOAD_CACHE / f"unpacked-{suite}", unpack, key="".join(f"{deb.name}\n" for deb in debs))
    return root, release


@pytest.fixture(scope="module")
def roots() -> dict[str, tuple[Path, str]]:
    return {suite: _unpacked_root(suite) for suite in SUITES}


def _kmodtui(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kmodtui", *args], capture_output=True, text=True)


@pytest.mark.parametrize("suite", list(SUITES))
def test_the_whole_tree_resolves_against_its_own_symvers_as_depmod_says(
        roots: dict[str, tuple[Path, str]], suite: str, tmp_path: Path) -> None:
    """0 problems from kmodtui, and depmod -e -E on the same files (copied into a /lib/modules
    layout, since depmod -b looks there) prints no unknown symbol or disagreement either."""
    root, release = roots[suite]
    tree = root / "usr" / "lib" / "modules" / release
    symvers = root / "usr" / "src" / f"linux-headers-{release}" / "Module.symvers"
    result = _kmodtui("resolve", str(tree), "--kernel", str(symvers), "--no-cache", "--json")
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr
    report = json.loads(result.stdout)
    assert report["findings"] == [] and report["summary"]["modules"] > 4000
    depmod_root = tmp_path / "depmod"
    (depmod_root / "lib" / "modules").mkdir(parents=True)
    run_ok(["cp", "-al", str(tree), str(depmod_root / "lib" / "modules" / release)])
    depmod = run_ok([require_tool("depmod"), "-a", "-e", "-E", str(symvers), "-b", str(depmod_root), release])
    assert not re.search(r"needs unknown symbol|disagrees about version", depmod.stdout + depmod.stderr)


def _this_module_size(path: Path) -> int:
    """What readelf says the module's .gnu.linkonce.this_module section holds (its struct module)."""
    out = run_ok([require_tool("readelf"), "-SW", str(path)]).stdout
    line = next(line for line in out.splitlines() if re.search(r"\] \.gnu\.linkonce\.this_module ", line))
    return int(line.split("]", 1)[1].split()[4], 16)


def test_a_6_1_module_on_debian_13_fails_on_struct_module_size_as_readelf_shows(
        roots: dict[str, tuple[Path, str]], built: BuiltModules, installed_kernel: Kernel, tmp_path: Path) -> None:
    """weak-modules passed modules whose symbols matched and which then failed with '.gnu.linkonce.
    this_module section size must match the kernel's built struct module size': check-update
    compares the module's section with one of the new kernel's own modules."""
    root, release = roots["trixie"]
    result = _kmodtui("check-update", "--new-kernel", str(root / "usr" / "src" / f"linux-headers-{release}"),
                      "--modules", str(built.provider_ko), "--json")
    assert result.returncode == 1, result.stderr
    report = json.loads(result.stdout)
    reference = report["reference"]
    assert reference["path"].startswith(str(root)) and release in reference["vermagic"]
    decompressed = tmp_path / "reference.ko"
    decompressed.write_bytes(subprocess.run([require_tool("xz"), "-dc", reference["path"]], capture_output=True,
                                            check=True).stdout)
    theirs, ours = _this_module_size(decompressed), _this_module_size(built.provider_ko)
    assert theirs != ours and reference["struct_module_size"] == theirs
    [module] = report["modules"]
    assert not module["loads"] and report["loads"] is False
    assert f"struct module is {ours} bytes in it and {theirs} in {release}" in module["reasons"][0]


def test_a_6_1_module_on_unstable_is_judged_by_name_and_whole_vermagic_not_crcs(
        roots: dict[str, tuple[Path, str]], built: BuiltModules, installed_kernel: Kernel) -> None:
    """Unstable's kernel has no MODVERSIONS: the loader reads no __versions, so CRCs say nothing
    (no crc_mismatch, no module_layout) and the whole vermagic string must match."""
    root, release = roots["sid"]
    headers = root / "usr" / "src" / f"linux-headers-{release}"
    result = _kmodtui("check-update", "--new-kernel", str(headers), "--modules", str(built.provider_ko), "--json")
    report = json.loads(result.stdout)
    [module] = report["modules"]
    reasons = " | ".join(module["reasons"])
    assert "crc_mismatch" not in reasons and "module_layout" not in reasons
    assert f"is not {release}'s '{release} " in reasons and "whole string must match" in reasons
    resolved = json.loads(_kmodtui("resolve", str(built.provider_ko), "--kernel", str(headers), "--json").stdout)
    statuses = {f["status"] for f in resolved["findings"]}
    assert "crc_mismatch" not in statuses and "vermagic_mismatch" in statuses


def test_a_source_whose_meta_stops_before_the_new_kernel_is_said_so(
        roots: dict[str, tuple[Path, str]], built: BuiltModules, installed_kernel: Kernel) -> None:
    """Debian 12's zfs-dkms (OpenZFS 2.1.11, META Linux-Maximum 6.2) against Debian 13's 6.12."""
    from tests.realtools import apt_download_contrib

    root, release = roots["trixie"]
    zfs = apt_download_contrib("zfs-dkms")
    result = _kmodtui("check-update", "--new-kernel", str(root / "usr" / "src" / f"linux-headers-{release}"),
                      "--modules", str(built.provider_ko), "--source", str(zfs), "--json")
    report = json.loads(result.stdout)
    assert result.returncode == 1 and report["source_range"] and "Linux-Maximum" in report["source_range"]
