"""Issue 31: a binary-module .deb depends on the kernel's own package (found here, in the kernel's root
or in Debian's archive, never guessed and never left out) and on its provider's package; whether a
package set would install is asked of the package manager itself, in a scratch root."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from kmodtui.core.kernels.debian_archive import Archive, Target
from kmodtui.core.kernels.kernelpkg import from_root, in_archive
from kmodtui.core.packages.verdict import Installed, ask_apt, ask_rpm
from tests.pkgtools import DpkgRoot, build_deb
from tests.realtools import require_tool, run_ok

RELEASE = "9.9.9-1-amd64"  # a kernel no archive serves: the tests make their own


def kmodtui(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kmodtui", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})})


def local_archive(tmp_path: Path, debs: list[Path]) -> Archive:
    """A flat apt repository of real .debs (dpkg-scanpackages), read through kmodtui's private apt list."""
    repo = tmp_path / "repo"
    repo.mkdir()
    for deb in debs:
        deb.rename(repo / deb.name)
    packages = run_ok([require_tool("dpkg-scanpackages"), "."], cwd=repo).stdout
    (repo / "Packages").write_text(packages)
    for compressor in ("gzip", "xz"):  # apt tries them before the plain list ("Method gave a blank filename")
        run_ok([require_tool(compressor), "-k", str(repo / "Packages")])
    archive = Archive(Target("debian", "local", "amd64", "amd64"), [f"deb [trusted=yes] file:{repo} ./"],
                      base=str(tmp_path / "cache"))
    archive.update()
    return archive


def test_the_archive_names_the_package_that_ships_a_kernel_image_not_installed_here(tmp_path: Path) -> None:
    """Bookworm: linux-image-<rel> (signed) and linux-image-<rel>-unsigned both ship /boot/vmlinuz-<rel>;
    unstable's 7.x: linux-binary-<rel> ships it, linux-image-<rel> is a metapackage depending on it."""
    made = tmp_path / "made"
    made.mkdir()
    image = {f"/boot/vmlinuz-{RELEASE}": b"kernel"}
    split = "9.9.9-2-amd64"
    debs = [build_deb(made, f"linux-image-{RELEASE}", "9.9.9-1", image),
            build_deb(made, f"linux-image-{RELEASE}-unsigned", "9.9.9-1", image),
            build_deb(made, f"linux-binary-{split}", "9.9.9-2", {f"/usr/lib/modules/{split}/vmlinuz": b"k"}),
            build_deb(made, f"linux-image-{split}", "9.9.9-2", {}, depends=f"linux-binary-{split}")]
    archive = local_archive(tmp_path, debs)
    found = in_archive(RELEASE, archive.options, "the local archive")
    assert found is not None
    assert found.depends == f"linux-image-{RELEASE} | linux-image-{RELEASE}-unsigned"
    assert (found.version, found.arch, found.found) == ("9.9.9-1", "amd64", "the local archive")
    unstable = in_archive(split, archive.options, "the local archive")
    assert unstable is not None and unstable.depends == f"linux-binary-{split}"
    assert in_archive("9.9.9-3-amd64", archive.options, "the local archive") is None  # never a guess


def test_a_boards_root_names_its_own_kernel_package(tmp_path: Path) -> None:
    root = DpkgRoot(tmp_path / "root")
    kernel = build_deb(tmp_path, "board-kernel", "5.10.1-7", {f"/boot/vmlinuz-{RELEASE}": b"kernel"})
    assert root.install(kernel).returncode == 0
    found = from_root(str(tmp_path / "root"), RELEASE)
    assert found is not None and (found.depends, found.version) == ("board-kernel", "5.10.1-7")
    assert from_root(str(tmp_path / "root"), "9.9.9-3-amd64") is None


# ---- the package manager's own answer -----------------------------------------------------------

@pytest.fixture
def module_debs(tmp_path: Path) -> dict[str, Path]:
    """A provider's and a consumer's binary-module .debs as deb mode now makes them (real dpkg-deb)."""
    kernel = f"linux-image-{RELEASE}"
    provider = build_deb(tmp_path, f"provider-modules-{RELEASE}", "1.0", {}, depends=kernel)
    consumer = build_deb(tmp_path, f"consumer-modules-{RELEASE}", "1.0", {},
                         depends=f"{kernel}, provider-modules-{RELEASE} (= 1.0)")
    (tmp_path / "old").mkdir()
    old_provider = build_deb(tmp_path / "old", f"provider-modules-{RELEASE}", "0.9", {}, depends=kernel)
    return {"provider": provider, "consumer": consumer, "old_provider": old_provider}


KERNEL_INSTALLED = [Installed(f"linux-image-{RELEASE}", "9.9.9-1", "amd64")]


def test_apt_refuses_a_consumer_alone_naming_the_providers_package(module_debs: dict[str, Path]) -> None:
    verdict = ask_apt([str(module_debs["consumer"])], KERNEL_INSTALLED)
    assert verdict.asked and not verdict.accepted
    assert f"Depends: provider-modules-{RELEASE} (= 1.0) but it is not installable" in verdict.words
    assert verdict.summary.startswith("apt-get refuses them: ")


def test_apt_accepts_provider_and_consumer_together(module_debs: dict[str, Path]) -> None:
    verdict = ask_apt([str(module_debs["consumer"]), str(module_debs["provider"])], KERNEL_INSTALLED)
    assert verdict.asked and verdict.accepted, verdict.words
    assert f"Conf consumer-modules-{RELEASE} (1.0" in verdict.words
    assert verdict.summary == "apt-get would accept them"


def test_apt_compares_versions_as_dpkg_does(module_debs: dict[str, Path]) -> None:
    """The consumer was built against provider 1.0's CRCs: 0.9 does not do."""
    verdict = ask_apt([str(module_debs["consumer"]), str(module_debs["old_provider"])], KERNEL_INSTALLED)
    assert not verdict.accepted and f"provider-modules-{RELEASE} (= 1.0)" in verdict.words


def test_apt_refuses_without_the_kernels_package(module_debs: dict[str, Path]) -> None:
    verdict = ask_apt([str(module_debs["provider"])], [])
    assert not verdict.accepted and f"Depends: linux-image-{RELEASE} but it is not installable" in verdict.words


def test_the_installed_packages_provides_reach_apt(module_debs: dict[str, Path], tmp_path: Path) -> None:
    """A status file's packages go into the scratch root with their (versioned) Provides: a board kernel
    that Provides linux-image-<rel> satisfies the provider's Depends, as it would for dpkg."""
    from kmodtui.core.packages.packageset import read_installed
    from kmodtui.core.packages.verdict import installed_from

    status = tmp_path / "status"
    status.write_text(f"Package: board-kernel\nStatus: install ok installed\nVersion: 5.10.1-7\nArchitecture: amd64\n"
                      f"Provides: linux-image-{RELEASE} (= 9.9.9-1), board-kernel-abi\n")
    verdict = ask_apt([str(module_debs["provider"])], installed_from(read_installed(str(status))))
    assert verdict.accepted, verdict.words


def test_the_real_dpkg_agrees_with_apt(module_debs: dict[str, Path], tmp_path: Path) -> None:
    """What apt --simulate says is what dpkg does in a scratch root holding the kernel's package."""
    root = DpkgRoot(tmp_path / "root")
    kernel = build_deb(tmp_path, f"linux-image-{RELEASE}", "9.9.9-1", {f"/boot/vmlinuz-{RELEASE}": b"kernel"})
    assert root.install(kernel).returncode == 0
    alone = root.install(module_debs["consumer"])
    assert alone.returncode != 0
    assert f"depends on provider-modules-{RELEASE} (= 1.0); however:" in alone.stderr
    assert root.install(module_debs["provider"], module_debs["consumer"]).returncode == 0


def test_not_asked_when_the_tool_is_not_here(module_debs: dict[str, Path], tmp_path: Path, monkeypatch) -> None:
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    verdict = ask_apt([str(module_debs["consumer"])], KERNEL_INSTALLED)
    assert (verdict.asked, verdict.words) == (False, "not asked: apt-get is not installed")
    assert verdict.summary == "not asked: apt-get is not installed"
    assert ask_rpm(["x.rpm"]).words == "not asked: rpm is not installed"


def test_resolve_cli_says_what_apt_says(module_debs: dict[str, Path], tmp_path: Path) -> None:
    """`kmodtui resolve` of a package set: the package manager's answer in its own words, in the text
    report and the JSON summary (--installed: the target's packages; here, its kernel's)."""
    status = tmp_path / "status"
    status.write_text(f"Package: linux-image-{RELEASE}\nStatus: install ok installed\nVersion: 9.9.9-1\n"
                      "Architecture: amd64\n")
    symvers = tmp_path / "Module.symvers"
    symvers.write_text("0x12345678\tprintk\tvmlinux\tEXPORT_SYMBOL\t\n")
    alone = kmodtui("resolve", str(module_debs["consumer"]), "--kernel", str(symvers), "--installed", str(status))
    assert alone.returncode == 1
    assert f"apt-get refuses them: consumer-modules-{RELEASE} : Depends: provider-modules-{RELEASE} (= 1.0) but " \
           "it is not installable" in alone.stdout, alone.stdout + alone.stderr
    both = kmodtui("resolve", str(module_debs["consumer"]), "--with", str(module_debs["provider"]),
                   "--kernel", str(symvers), "--installed", str(status), "--json")
    manager = json.loads(both.stdout)["summary"]["package_manager"]
    assert manager["tool"] == "apt-get" and manager["asked"] and manager["accepted"], manager
    assert f"Conf provider-modules-{RELEASE}" in manager["words"]


def rpm_with(topdir: Path, name: str, relations: list[str]) -> Path:
    """A real noarch RPM (rpmbuild) with the given Provides:/Requires: lines."""
    rpmbuild = require_tool("rpmbuild")
    topdir.mkdir(parents=True)
    spec = topdir / f"{name}.spec"
    spec.write_text("\n".join([f"Name: {name}", "Version: 1.0", "Release: 1", "Summary: test", "License: GPL",
                               "BuildArch: noarch", *relations, "%description", "test", "%files", ""]))
    run_ok([rpmbuild, "-bb", "--define", f"_topdir {topdir}", str(spec)])
    return next((topdir / "RPMS").rglob(f"{name}-1.0-1.noarch.rpm"))


@pytest.mark.realtool
def test_rpm_answers_in_its_own_words_against_the_kernels_provides(tmp_path: Path) -> None:
    """rpm -i --test in a scratch rpmdb holding a package that Provides kernel(<sym>) = <crc> for the
    kernel's symvers, as a RHEL kernel package does."""
    require_tool("rpm")
    provider = rpm_with(tmp_path / "p", "kmod-provider", ["Provides: ksym(provider_fn) = 0x0000abcd"])
    consumer = rpm_with(tmp_path / "c", "kmod-consumer", ["Requires: ksym(provider_fn) = 0x0000abcd",
                                                          "Requires: kernel(printk) = 0x12345678"])
    symvers = tmp_path / "Module.symvers"
    symvers.write_text("0x12345678\tprintk\tvmlinux\tEXPORT_SYMBOL\t\n")
    alone = ask_rpm([str(consumer)], str(symvers))
    assert alone.asked and not alone.accepted
    assert alone.summary == "rpm refuses them: ksym(provider_fn) = 0x0000abcd is needed by kmod-consumer-1.0-1.noarch"
    together = ask_rpm([str(consumer), str(provider)], str(symvers))
    assert together.accepted, together.words
    other_kernel = ask_rpm([str(consumer), str(provider)], "")  # no kernel package: kernel(printk) is unmet
    assert not other_kernel.accepted and "kernel(printk) = 0x12345678 is needed by" in other_kernel.words
