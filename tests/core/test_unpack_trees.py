"""Security round 2, item 1: a headers package unpacked only to be listed must never reach a later
build against other packages. Each set of packages chosen together gets its own tree in the cache,
named by the sha256 of what was unpacked into it, written aside and renamed into place when whole.
The packages are made with dpkg-deb; the attack is the one reported (a planted
arch/x86/include/linux/module.h in the -common tree, which kbuild searches before include/)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from kmodtui.core.model import Kernel
from tests.realtools import apt_download, copy_source, other_abi_headers_package, require_tool, run_ok

MARKER = "planted-by-a-listed-package"
# what the hostile header adds to every module that includes <linux/module.h>, after the real one
PLANTED_HEADER = f'#include_next <linux/module.h>\nMODULE_INFO(kmodtui_planted, "{MARKER}");\n'


def kmodtui(*args: str, env: dict[str, str], timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-I", "-m", "kmodtui", *args], capture_output=True, text=True,
                          env={**os.environ, **env}, timeout=timeout)


def dpkg_deb(tmp_path: Path, package: str, files: dict[str, str]) -> Path:
    """A .deb made by dpkg-deb -b from a staging folder holding `files` (path below / -> text)."""
    stage = tmp_path / f"stage-{package}"
    for name, text in files.items():
        (stage / name).parent.mkdir(parents=True, exist_ok=True)
        (stage / name).write_text(text)
    (stage / "DEBIAN").mkdir(parents=True, exist_ok=True)
    (stage / "DEBIAN" / "control").write_text(
        f"Package: {package}\nVersion: 1\nArchitecture: all\nMaintainer: x <x@example.org>\nDescription: x\n")
    deb = tmp_path / f"{package}.deb"
    run_ok([require_tool("dpkg-deb"), "--root-owner-group", "-b", str(stage), str(deb)])
    return deb


def planted_header_deb(tmp_path: Path, abi: str, srcarch: str = "x86") -> Path:
    """The hostile package: only usr/src/linux-headers-<abi>-common/arch/<srcarch>/include/linux/module.h,
    a file Debian's -common package does not ship."""
    return dpkg_deb(tmp_path / "hostile", f"linux-headers-{abi}-common",
                    {f"usr/src/linux-headers-{abi}-common/arch/{srcarch}/include/linux/module.h": PLANTED_HEADER})


def split_headers(tmp_path: Path, abi: str) -> tuple[Path, Path]:
    """A Debian-style pair made by dpkg-deb: the -amd64 half (a build tree whose Makefile includes the
    -common half by absolute path) and the -common half."""
    common = dpkg_deb(tmp_path, f"linux-headers-{abi}-common",
                      {f"usr/src/linux-headers-{abi}-common/Makefile": "# the common half\n",
                       f"usr/src/linux-headers-{abi}-common/include/linux/module.h": "/* the real one */\n"})
    arch = dpkg_deb(tmp_path, f"linux-headers-{abi}-amd64",
                    {f"usr/src/linux-headers-{abi}-amd64/Makefile":
                         f"include /usr/src/linux-headers-{abi}-common/Makefile\n",
                     f"usr/src/linux-headers-{abi}-amd64/.config": "CONFIG_MODVERSIONS=y\n",
                     f"usr/src/linux-headers-{abi}-amd64/Module.symvers": "",
                     f"usr/src/linux-headers-{abi}-amd64/include/generated/utsrelease.h":
                         f'#define UTS_RELEASE "{abi}-amd64"\n'})
    return arch, common


def listed(tmp_path: Path, *debs: Path) -> list[dict]:
    cache = {"KMODTUI_CACHE_DIR": str(tmp_path / "cache")}
    args = [a for deb in debs for a in ("--from", str(deb))]
    result = kmodtui("kernels", "--json", "--root", str(tmp_path / "none"), *args, env=cache)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)["kernels"]


def planted_files(cache: Path) -> list[Path]:
    return sorted(p for p in cache.rglob("module.h") if p.read_text() == PLANTED_HEADER)


def test_a_listed_hostile_package_never_appears_in_a_tree_of_other_packages(tmp_path: Path) -> None:
    abi = "9.9.0-1"
    arch, common = split_headers(tmp_path, abi)
    assert listed(tmp_path, planted_header_deb(tmp_path, abi)) == []  # only a -common half: nothing to list
    [kernel] = listed(tmp_path, arch, common)
    tree = Path(kernel["build_dir"]).parent
    assert (tree / f"linux-headers-{abi}-common" / "include/linux/module.h").read_text() == "/* the real one */\n"
    assert not (tree / f"linux-headers-{abi}-common" / "arch").exists()  # before the fix: the planted header
    # the -amd64 half includes the -common half of its own tree, not another one's
    makefile = Path(kernel["build_dir"], "Makefile").read_text()
    assert makefile == f"include {tree}/linux-headers-{abi}-common/Makefile\n"
    [planted] = planted_files(tmp_path / "cache")  # it is still in the cache, in its own tree
    assert not planted.is_relative_to(tree.parent.parent)


def test_the_same_packages_reuse_their_tree_in_any_order_and_under_any_name(tmp_path: Path) -> None:
    arch, common = split_headers(tmp_path, "9.9.0-1")
    [first] = listed(tmp_path, arch, common)
    symvers = os.stat(first["symvers_path"])
    renamed = tmp_path / "renamed-common.deb"
    renamed.write_bytes(common.read_bytes())
    [again] = listed(tmp_path, renamed, arch)
    assert again["build_dir"] == first["build_dir"]
    assert os.stat(again["symvers_path"]).st_ino == symvers.st_ino  # not unpacked again
    assert again["origin"] == f"package:{arch.name}"
    [alone] = listed(tmp_path, arch)  # another set (the -amd64 half alone): another tree
    assert alone["build_dir"] != first["build_dir"]
    assert not Path(alone["build_dir"]).parent.joinpath("linux-headers-9.9.0-1-common").exists()


def test_a_failed_unpack_leaves_no_tree(tmp_path: Path) -> None:
    arch, common = split_headers(tmp_path, "9.9.0-1")
    broken = tmp_path / "broken.deb"
    broken.write_bytes(common.read_bytes()[:-200])  # a truncated data member
    cache = tmp_path / "cache"
    result = kmodtui("kernels", "--json", "--root", str(tmp_path / "none"), "--from", str(arch), "--from", str(broken),
                     env={"KMODTUI_CACHE_DIR": str(cache)})
    assert result.returncode == 2 and result.stderr.startswith(f"kmodtui: {broken}: "), result.stderr
    assert result.stderr.count("\n") == 1 and result.stdout == ""  # the CLI contract: nothing on stdout
    # nothing of the set stays in the cache: neither the -amd64 half unpacked first, nor a partial tree
    assert [p for p in cache.rglob("linux-headers-*")] == []
    [kernel] = listed(tmp_path, arch, common)  # the whole set, given again, unpacks and lists
    assert Path(kernel["build_dir"]).is_dir()


def test_a_tree_is_reused_only_when_its_record_names_exactly_the_same_packages(tmp_path: Path) -> None:
    from kmodtui.core.kernels.unpack import unpack_kernel_packages
    from kmodtui.core.paths import read_cache_file, write_cache_file

    arch, common = split_headers(tmp_path, "9.9.0-1")
    cache = tmp_path / "cache"
    [kernel] = unpack_kernel_packages([str(arch), str(common)], str(cache))
    tree = Path(kernel.build_dir).parents[3]  # trees/<key>/root/usr/src/<tree>
    record = tree / "manifest.json"
    recorded = json.loads(bytes(read_cache_file(str(record)) or b""))
    recorded["packages"][0]["sha256"] = "0" * 64  # a record of another set, sealed as kmodtui seals it
    write_cache_file(str(record), json.dumps(recorded).encode())
    (Path(kernel.build_dir) / "stale").write_text("")
    [again] = unpack_kernel_packages([str(common), str(arch)], str(cache))
    assert again.build_dir == kernel.build_dir and not (Path(again.build_dir) / "stale").exists()  # unpacked anew


def test_the_cache_budget_counts_every_tree_and_a_reused_tree_costs_nothing(tmp_path: Path) -> None:
    from kmodtui.core.packages.safewrite import tree_size

    arch, common = split_headers(tmp_path, "9.9.0-1")
    [first] = listed(tmp_path, arch, common)
    cache = tmp_path / "cache"
    full = {"KMODTUI_CACHE_DIR": str(cache), "KMODTUI_CACHE_MAX_BYTES": str(tree_size(str(cache / "kernels")))}
    other = kmodtui("kernels", "--json", "--root", str(tmp_path / "none"), "--from", str(arch), env=full)
    assert other.returncode == 2 and "already holds" in other.stderr and str(cache / "kernels") in other.stderr
    assert len(list((cache / "kernels" / "trees").iterdir())) == 1  # the refused set left nothing
    again = kmodtui("kernels", "--json", "--root", str(tmp_path / "none"), "--from", str(common), "--from", str(arch),
                    env=full)
    assert again.returncode == 0 and json.loads(again.stdout)["kernels"] == [first]


def test_an_old_shared_root_is_removed_not_used(tmp_path: Path) -> None:
    """Earlier versions unpacked every package into kernels/root; what is there may be poisoned."""
    from kmodtui.core.kernels.unpack import unpack_kernel_packages

    abi = "9.9.0-1"
    cache = tmp_path / "cache"
    old = cache / "kernels" / "root" / "usr/src" / f"linux-headers-{abi}-common" / "arch/x86/include/linux"
    old.mkdir(parents=True)
    (old / "module.h").write_text(PLANTED_HEADER)
    (cache / "kernels" / "unpacked").mkdir()
    arch, common = split_headers(tmp_path, abi)
    [kernel] = unpack_kernel_packages([str(arch), str(common)], str(cache))
    assert not (cache / "kernels" / "root").exists() and not (cache / "kernels" / "unpacked").exists()
    assert planted_files(cache) == [] and kernel.build_dir.startswith(str(cache / "kernels" / "trees"))


@pytest.mark.network
def test_genuine_debian_headers_build_without_a_header_planted_by_a_listed_package(
        installed_kernel: Kernel, tmp_path: Path) -> None:
    """The attack as reported: `kernels --from` lists a hostile .deb planting
    linux-headers-<abi>-common/arch/x86/include/linux/module.h, then Debian's own headers of that ABI
    (-amd64 and -common, from the archive) are listed and a module is built against them by kmodtui.
    Before the fix modinfo showed the planted MODULE_INFO in the built module."""
    package = other_abi_headers_package(installed_kernel.release)  # linux-headers-<abi>-amd64
    abi = package.removeprefix("linux-headers-").removesuffix("-amd64")
    genuine = [apt_download(package), apt_download(f"linux-headers-{abi}-common")]
    env = {"KMODTUI_CACHE_DIR": str(tmp_path / "cache"), "KMODTUI_STATE_DIR": str(tmp_path / "state")}
    assert listed(tmp_path, planted_header_deb(tmp_path, abi)) == []
    [kernel] = listed(tmp_path, *genuine)
    assert kernel["release"] == f"{abi}-amd64"
    source = copy_source("provider", tmp_path)
    result = kmodtui("build", "-k", kernel["build_dir"], "-s", str(source), "--json", env=env)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr
    [exit_event] = [e for e in (json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")) if e["event"] == "exit"]
    ko = next(a for a in exit_event["artifacts"] if a.endswith(".ko"))
    modinfo = require_tool("modinfo")
    assert run_ok([modinfo, "-F", "vermagic", ko]).stdout.startswith(f"{abi}-amd64 ")
    assert run_ok([modinfo, "-F", "kmodtui_planted", ko]).stdout.strip() == ""  # before the fix: the marker
