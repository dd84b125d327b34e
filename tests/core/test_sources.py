"""`kmodtui source` on every kind of module source: folders, OpenZFS-style autotools trees with
generic and redhat spec templates, SRPMs made by rpmbuild, tarballs made by tar. Read, never run."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from kmodtui.core.build.sources import detect_source
from tests.pkgtools import write_kmod_spec
from tests.realtools import EXAMPLES, BuiltModules, require_tool, run_ok

GENERIC_SPEC = """%define module zfs
%if !%{defined kernels} && !%{defined build_src_rpm}
%define kernels %(kmodtool ...)
%endif
Name: %{module}-kmod
Version: 2.1.11
Release: 1
%{expand:%(kmodtool --target %{_target_cpu} --repo %{repo} --kmodname %{name} %{?kernels:--for-kernels "%{?kernels}"})}
%prep
"""
REDHAT_SPEC = """Name: zfs-kmod
Version: 2.1.11
Release: 1
%kernel_module_package -n zfs
%prep
"""


def kmodtui(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kmodtui", *args], capture_output=True, text=True)


def test_openzfs_layout_shows_both_spec_modes(tmp_path: Path) -> None:
    tree = tmp_path / "zfs-2.1.11"
    (tree / "rpm" / "generic").mkdir(parents=True)
    (tree / "rpm" / "redhat").mkdir(parents=True)
    (tree / "configure.ac").write_text("AC_INIT([zfs], [2.1.11])\n")
    (tree / "rpm" / "generic" / "zfs-kmod.spec.in").write_text(GENERIC_SPEC)
    (tree / "rpm" / "redhat" / "zfs-kmod.spec.in").write_text(REDHAT_SPEC)
    info = json.loads(kmodtui("source", str(tree), "--json").stdout)
    assert "autotools" in info["kinds"] and "spec" in info["kinds"]
    assert info["specs"] == {"rpm/generic/zfs-kmod.spec.in": "generic", "rpm/redhat/zfs-kmod.spec.in": "redhat"}
    notes = " ".join(info["build_time_only"])
    assert "--with-spec=generic|redhat" in notes and "no ksym() Provides" in notes


def test_srpm_made_by_rpmbuild_is_read_in_memory(built: BuiltModules, installed_kernel, tmp_path: Path) -> None:
    spec = write_kmod_spec(tmp_path / "kmod-provider.spec", "kmod-provider", [built.provider_ko], installed_kernel.release,
                           generator="internal")
    run_ok([require_tool("rpmbuild"), "-bs", "--define", f"_topdir {tmp_path / 'top'}", str(spec)])
    srpm = next((tmp_path / "top" / "SRPMS").glob("*.src.rpm"))
    source = detect_source(str(srpm))
    assert source.kinds == ["srpm"] and source.name == "kmod-provider"
    assert source.specs == {"kmod-provider.spec": "plain"}
    assert any("no ksym() Provides" in n for n in source.notes)


def test_tarball_is_unpacked_safely_and_detected(tmp_path: Path) -> None:
    tarball = tmp_path / "provider-1.0.tar.gz"
    run_ok(["tar", "-C", str(EXAMPLES), "-czf", str(tarball), "provider"])
    source = detect_source(str(tarball), cache_dir=str(tmp_path / "cache"))
    assert source.kinds[:2] == ["dkms", "kbuild"] and source.name == "kmodtui-provider"
    assert source.path.startswith(str(tmp_path / "cache"))
    hostile = tmp_path / "evil.tar"
    (tmp_path / "payload").write_text("x")
    run_ok(["tar", "-C", str(tmp_path), "-cf", str(hostile), "--transform", "s,^payload,../../escaped,", "payload"])
    result = kmodtui("source", str(hostile))
    assert result.returncode == 2 and ".." in result.stderr
    assert not (tmp_path.parent / "escaped").exists()


def test_a_spec_is_read_without_running_its_shell_macros(tmp_path: Path) -> None:
    marker = tmp_path / "EXECUTED"
    spec = tmp_path / "x.spec"
    spec.write_text(f"Name: x\n%define v %(touch {marker})\n%kernel_module_package\n%prep\n")
    info = json.loads(kmodtui("source", str(spec), "--json").stdout)
    assert info["specs"] == {str(spec): "redhat"} and not marker.exists()
