"""Real dkms and kmodtui on Debian's own `*-dkms` packages (a handful of small ones; the whole set
is bench/dkms_agreement.py): where dkms builds, kmodtui builds in dkms, kbuild, deb and rpm-generic modes and
makes the same .ko files (names, vermagic, __versions entries); where dkms fails, kmodtui fails too
and names the cause."""

from __future__ import annotations

from pathlib import Path

import pytest

from kmodtui.core.model import Kernel
from tests.dkmsagree import MODES, compare, run_kmodtui, run_real_dkms, run_real_dkms_on
from tests.realtools import apt_download_from, copy_source, require_tool

# small and fast; real dkms fails on two: openrazer 3.5.1 does not compile against 6.1.x any more
# (hid_report_raw_event gained a parameter), and ipt-netflow's configure (dkms's PRE_BUILD) finds no
# iptables (libxtables-dev, its unmet Depends) and writes no Makefile
# ddcci's modules are in subfolders (BUILT_MODULE_LOCATION): rpm modes failed at %install on it
PACKAGES = {"acpi-call-dkms": "main", "vpoll-dkms": "main", "v4l2loopback-dkms": "main", "ddcci-dkms": "main",
            "openrazer-driver-dkms": "main", "iptables-netflow-dkms": "main", "west-chamber-dkms": "main"}
# west-chamber's dkms.conf builds against xtables-addons' dkms tree (/var/lib/dkms/xtables-addons)
CAUSES = {"openrazer-driver-dkms": "kernel_api_change", "iptables-netflow-dkms": "build_dependency_missing",
          "west-chamber-dkms": "dkms_dependency_missing"}


@pytest.mark.network
@pytest.mark.parametrize("package", sorted(PACKAGES))
def test_kmodtui_agrees_with_real_dkms(package: str, installed_kernel: Kernel, tmp_path: Path) -> None:
    require_tool("dkms")
    deb = apt_download_from(package, "bookworm", PACKAGES[package])
    reference = run_real_dkms(deb, installed_kernel.release)
    for mode in MODES:
        outcome = run_kmodtui(deb, installed_kernel.release, mode, tmp_path / mode)
        assert compare(reference, outcome) == "", f"{package} in {mode} mode"
        if not reference.ok:
            assert outcome.cause == CAUSES[package], (mode, outcome.cause, outcome.detail)
    if reference.ok:
        assert reference.modules and all(m.versions for m in reference.modules.values())


@pytest.mark.realtool
def test_strip_no_in_dkms_conf_keeps_the_debugging_sections_as_dkms_does(installed_kernel: Kernel,
                                                                           tmp_path: Path) -> None:
    """dkms strips every module it builds (strip -g) unless dkms.conf's STRIP[#] says no; deb mode
    packages them as dkms left them: with their DWARF here, where real dkms kept it (the packages above
    check the default: stripped)."""
    require_tool("dkms")
    source = copy_source("provider", tmp_path)
    conf = source / "dkms.conf"
    conf.write_text(conf.read_text() + 'STRIP[0]="no"\n')
    reference = run_real_dkms_on(source, installed_kernel.release)
    assert reference.ok and all(m.debug for m in reference.modules.values()), reference
    outcome = run_kmodtui(source, installed_kernel.release, "deb", tmp_path / "deb")
    assert compare(reference, outcome) == ""
