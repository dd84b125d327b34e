"""`kmodtui kernels` finds the build trees that kbuild would use, here, in another root, or in a package."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from kmodtui.core.errors import KmodError
from kmodtui.core.kernels.discover import discover_kernels, host_compiler_version
from kmodtui.core.kernels.unpack import unpack_kernel_package
from kmodtui.core.model import Kernel
from kmodtui.core.packages.archive import extract_package
from tests.realtools import (
    apt_download,
    other_abi_headers_package,
    require_tool,
    run_ok,
)


def kmodtui(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kmodtui", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})})


def config_value(kernel: Kernel, key: str) -> str | None:
    for line in Path(kernel.build_dir, ".config").read_text().splitlines():
        if line.startswith(key + "="):
            return line.split("=", 1)[1].strip('"')
    return None


def test_installed_headers_are_found_with_the_release_lib_modules_uses(installed_kernel: Kernel) -> None:
    # /lib/modules/<release>/build is how kbuild and dkms find a tree: its directory name is the truth.
    releases = {p.name for p in Path("/lib/modules").iterdir() if (p / "build").exists()}
    assert installed_kernel.release in releases
    assert os.path.realpath(installed_kernel.build_dir) == os.path.realpath(f"/lib/modules/{installed_kernel.release}/build")
    assert installed_kernel.symvers_path == os.path.join(installed_kernel.build_dir, "Module.symvers")


def test_config_flags_and_compiler_match_the_tree(installed_kernel: Kernel) -> None:
    assert installed_kernel.modversions == (config_value(installed_kernel, "CONFIG_MODVERSIONS") == "y")
    assert installed_kernel.module_sig == (config_value(installed_kernel, "CONFIG_MODULE_SIG") == "y")
    assert installed_kernel.compiler == config_value(installed_kernel, "CONFIG_CC_VERSION_TEXT")
    compiler = require_tool(installed_kernel.compiler_command)
    first_line = run_ok([compiler, "--version"]).stdout.splitlines()[0]
    assert installed_kernel.host_compiler == first_line
    assert installed_kernel.arch == run_ok(["uname", "-m"]).stdout.strip()


def test_cli_kernels_json_lists_the_installed_tree(installed_kernel: Kernel) -> None:
    result = kmodtui("kernels", "--json")
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)
    listed = {k["release"]: k for k in payload["kernels"]}
    assert listed[installed_kernel.release]["flavor"] == installed_kernel.flavor
    assert listed[installed_kernel.release]["modversions"] is True


def make_board_root(root: Path, kernel: Kernel, release: str) -> None:
    """A scratch root laid out like an unpacked board image, /lib/modules/X/build an absolute link."""
    tree = root / "usr" / "src" / f"linux-headers-{release}"
    (tree / "include" / "generated").mkdir(parents=True)
    config = Path(kernel.build_dir, ".config").read_text().replace("CONFIG_MODVERSIONS=y", "# CONFIG_MODVERSIONS is not set")
    (tree / ".config").write_text(config)
    (tree / "include" / "generated" / "utsrelease.h").write_text(f'#define UTS_RELEASE "{release}"\n')
    (tree / "Makefile").write_text("")
    (root / "lib" / "modules" / release).mkdir(parents=True)
    os.symlink(f"/usr/src/linux-headers-{release}", root / "lib" / "modules" / release / "build")


def test_root_looks_inside_another_root_only(tmp_path: Path, installed_kernel: Kernel) -> None:
    make_board_root(tmp_path, installed_kernel, "6.1.0-99-board")
    kernels = discover_kernels(str(tmp_path))
    assert [k.release for k in kernels] == ["6.1.0-99-board"]
    board = kernels[0]
    assert board.build_dir.startswith(str(tmp_path))
    assert board.flavor == "board" and board.modversions is False
    assert board.symvers_path is None and any("Module.symvers" in n for n in board.notes)
    result = kmodtui("kernels", "--json", "--root", str(tmp_path))
    assert [k["release"] for k in json.loads(result.stdout)["kernels"]] == ["6.1.0-99-board"]


@pytest.mark.network
def test_headers_deb_of_another_abi_is_unpacked_into_the_cache(installed_kernel: Kernel, tmp_path: Path) -> None:
    package = other_abi_headers_package(installed_kernel.release)
    deb = apt_download(package)
    cache = tmp_path / "cache"
    result = kmodtui("kernels", "--json", "--from", str(deb), env={"KMODTUI_CACHE_DIR": str(cache)})
    assert result.returncode == 0, result.stderr
    listed = json.loads(result.stdout)["kernels"]
    unpacked = [k for k in listed if k["origin"] == f"package:{deb.name}"]
    release = package.removeprefix("linux-headers-")
    assert [k["release"] for k in unpacked] == [release]
    assert unpacked[0]["symvers_path"].startswith(str(cache))
    assert unpacked[0]["flavor"] == "amd64" and unpacked[0]["modversions"] is True
    # the unpacked file is the one dpkg-deb would unpack
    listing = run_ok([require_tool("dpkg-deb"), "--fsys-tarfile", str(deb)], text=False).stdout
    with tarfile.open(fileobj=io.BytesIO(listing)) as tar:
        member = next(m for m in tar if m.name.endswith(f"linux-headers-{release}/Module.symvers"))
        expected = tar.extractfile(member).read()
    assert Path(unpacked[0]["symvers_path"]).read_bytes() == expected


def test_kernel_devel_rpm_is_unpacked(installed_kernel: Kernel, tmp_path: Path) -> None:
    """A kernel-devel-style RPM made by real rpmbuild: /usr/src/kernels/<rel> plus an absolute build link."""
    rpmbuild = require_tool("rpmbuild")
    release = "5.14.0-999.el9.x86_64"
    spec = tmp_path / "kernel-devel.spec"
    spec.write_text(f"""
Name: kernel-devel
Version: 5.14.0
Release: 999.el9
Summary: kmodtui test kernel-devel
License: GPLv2
BuildArch: x86_64
%description
test
%install
d=%{{buildroot}}/usr/src/kernels/{release}
mkdir -p $d/include/generated %{{buildroot}}/lib/modules/{release}
cp {installed_kernel.build_dir}/.config {installed_kernel.build_dir}/Module.symvers $d/
echo '#define UTS_RELEASE "{release}"' > $d/include/generated/utsrelease.h
touch $d/Makefile
ln -s /usr/src/kernels/{release} %{{buildroot}}/lib/modules/{release}/build
%files
/usr/src/kernels/{release}
/lib/modules/{release}
""")
    top = tmp_path / "rpmbuild"
    run_ok([rpmbuild, "-bb", "--define", f"_topdir {top}", "--define", "__os_install_post %{nil}",
            "--define", "_build_id_links none", str(spec)])
    rpm = next(top.rglob("*.rpm"))
    kernels = unpack_kernel_package(str(rpm), str(tmp_path / "cache"))
    assert [k.release for k in kernels] == [release]
    assert kernels[0].flavor == "el9.x86_64" and kernels[0].origin == f"package:{rpm.name}"
    assert Path(kernels[0].symvers_path).read_bytes() == Path(installed_kernel.symvers_path).read_bytes()


def hostile_deb(path: Path, members: list[tarfile.TarInfo | tuple[tarfile.TarInfo, bytes]]) -> Path:
    """An ar archive made by the real `ar`, with a data.tar.xz whose members we choose."""
    work = path.parent / (path.name + ".d")
    work.mkdir()
    (work / "debian-binary").write_text("2.0\n")
    with tarfile.open(work / "control.tar.xz", "w:xz") as tar:
        info = tarfile.TarInfo("./control")
        body = b"Package: hostile\nVersion: 1\nArchitecture: all\nMaintainer: x <x@y>\nDescription: x\n"
        info.size = len(body)
        tar.addfile(info, io.BytesIO(body))
    with tarfile.open(work / "data.tar.xz", "w:xz") as tar:
        for member in members:
            if isinstance(member, tuple):
                info, body = member
                info.size = len(body)
                tar.addfile(info, io.BytesIO(body))
            else:
                tar.addfile(member)
    run_ok([require_tool("ar"), "rc", str(path), "debian-binary", "control.tar.xz", "data.tar.xz"], cwd=work)
    return path


def symlink(name: str, target: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = tarfile.SYMTYPE, target
    return info


def test_archive_member_climbing_out_is_refused(tmp_path: Path) -> None:
    deb = hostile_deb(tmp_path / "climb.deb", [(tarfile.TarInfo("./usr/../../escaped"), b"pwned")])
    with pytest.raises(KmodError, match=r"\.\."):
        extract_package(deb, tmp_path / "out")
    assert not (tmp_path / "escaped").exists()


def test_a_symlink_pointing_out_is_skipped_and_nothing_is_written_through_it(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    deb = hostile_deb(tmp_path / "link.deb", [
        symlink("./usr/evil", "../../outside"),
        (tarfile.TarInfo("./usr/evil/file"), b"pwned"),
    ])
    result = extract_package(deb, tmp_path / "out")
    assert list(outside.iterdir()) == []
    assert any("usr/evil: symlink" in s for s in result.skipped)
    assert not os.path.islink(tmp_path / "out" / "usr" / "evil")


def test_absolute_symlinks_are_rerooted_and_devices_skipped(tmp_path: Path) -> None:
    device = tarfile.TarInfo("./dev/sda")
    device.type = tarfile.BLKTYPE
    deb = hostile_deb(tmp_path / "abs.deb", [
        (tarfile.TarInfo("./usr/src/kernels/x/Makefile"), b""),
        symlink("./lib/modules/x/build", "/usr/src/kernels/x"),
        symlink("./etc/shadow-link", "/etc/shadow"),
        device,
    ])
    result = extract_package(deb, tmp_path / "out")
    build = tmp_path / "out" / "lib" / "modules" / "x" / "build"
    assert os.path.realpath(build) == os.path.realpath(tmp_path / "out" / "usr" / "src" / "kernels" / "x")
    assert os.path.realpath(tmp_path / "out" / "etc" / "shadow-link").startswith(os.path.realpath(tmp_path / "out"))
    assert not (tmp_path / "out" / "dev" / "sda").exists()
    assert any("dev/sda" in s for s in result.skipped)


def test_corrupt_headers_package_is_one_line_exit_2(tmp_path: Path, installed_kernel: Kernel) -> None:
    cases = {
        "truncated.deb": b"!<arch>\ndebian-binary   0           0     0     100644  4         `\n2.0\n",
        "garbage.rpm": b"\xed\xab\xee\xdb" + b"\0" * 200,
        "random.deb": os.urandom(300),
    }
    for name, content in cases.items():
        path = tmp_path / name
        path.write_bytes(content)
        result = kmodtui("kernels", "--from", str(path), env={"KMODTUI_CACHE_DIR": str(tmp_path / "cache")})
        assert result.returncode == 2, (name, result.stdout, result.stderr)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"kmodtui: {path}: "), (name, result.stderr)


def test_missing_compiler_is_reported_not_hidden() -> None:
    assert host_compiler_version("kmodtui-no-such-compiler") == ""


@pytest.mark.network
def test_debian_13_headers_are_read_with_their_flavor(tmp_path: Path) -> None:
    """Debian 13's kernel naming drops the ABI number: 6.12.x+deb13-amd64. Its headers, downloaded
    from trixie through a private apt list and unpacked by kmodtui, are flavor amd64 (kmodtui said
    'deb13-amd64'), with xz-compressed modules (CONFIG_MODULE_COMPRESS)."""
    from tests.realtools import apt_depends_of, apt_download_from

    [arch_headers] = [d for d in apt_depends_of("linux-headers-amd64", "trixie") if d.startswith("linux-headers-")]
    common = next(d for d in apt_depends_of(arch_headers, "trixie") if d.endswith("-common"))
    debs = [apt_download_from(common, "trixie"), apt_download_from(arch_headers, "trixie")]
    result = subprocess.run([sys.executable, "-m", "kmodtui", "kernels", "--root", str(tmp_path / "none"), "--json",
                             *[a for deb in debs for a in ("--from", str(deb))]],
                            capture_output=True, text=True, env={**os.environ, "KMODTUI_CACHE_DIR": str(tmp_path / "c")})
    assert result.returncode == 0, result.stderr
    [kernel] = json.loads(result.stdout)["kernels"]
    assert "+deb13-" in kernel["release"] and kernel["flavor"] == "amd64"
    assert kernel["module_compression"] == "xz" and kernel["symvers_path"]
