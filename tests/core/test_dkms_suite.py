"""kmodtui reads every dkms.conf of dkms's own test suite (tests/dkms_suite/) as the installed dkms
reads it: the same verdict (added, or refused with the same "dkms.conf: Error!" lines in the same
order), PACKAGE_NAME, PACKAGE_VERSION, module records (BUILT_MODULE_NAME defaulted from
PACKAGE_NAME, BUILT_MODULE_LOCATION, DEST_MODULE_NAME, DEST_MODULE_LOCATION per index) and
BUILD_EXCLUSIVE_* verdict. The referee is real dkms (`dkms add` in throw-away trees:
tests/dkmsreferee.py). Where the newest dkms reads a file otherwise (its own test suite's expected
output, run_test.sh), kmodtui's reading for the installed dkms says the file needs a newer dkms."""

from __future__ import annotations

from pathlib import Path

import pytest

from kmodtui.core.build.dkmsconf import parse_dkms_conf
from kmodtui.core.build.dkmsread import NEWEST, excluded, read_as_dkms, read_for_installed
from tests.dkmsreferee import dkms_reads, dkms_version
from tests.realtools import require_tool

SUITE = Path(__file__).resolve().parent.parent / "dkms_suite"
CONFS = sorted(str(p.parent.relative_to(SUITE)) for p in SUITE.rglob("dkms.conf"))

# (release, arch, the kernel's .config or None): kernels to ask each BUILD_EXCLUSIVE file about
KERNELS = [("6.1.0-99-amd64", "x86_64", "CONFIG_MODULES=y\n"),
           ("99.1.0", "x86_64", None),
           ("3.10.0-1160.el7.x86_64", "none", "CONFIG_MODULES=y\nCONFIG_NONEXISTENT_CONFIG=m\n")]

# what the newest dkms says where it differs from Debian 12's 3.0.10: dkms's own test suite's expected
# output (run_test.sh of dkms-project/dkms, the line of each `dkms add`); None = added
NEWEST_ERRORS: dict[str, list[str] | None] = {
    "dkms_conf_test_empty": [  # run_test.sh:3099
        "dkms.conf: Error! No 'PACKAGE_NAME' directive specified.",
        "dkms.conf: Error! No 'PACKAGE_VERSION' directive specified."],
    "dkms_conf_test_invalid": [  # run_test.sh:3108
        "dkms.conf: Error! No 'BUILT_MODULE_NAME' directive specified for record #0.",
        "dkms.conf: Error! 'DEST_MODULE_NAME' directive ends in '.o' or '.ko' in record #0.",
        "dkms.conf: Error! Directive 'DEST_MODULE_LOCATION' does not begin with\n"
        "'/kernel', '/updates', or '/extra' in record #0.",
        "dkms.conf: Error! 'BUILT_MODULE_NAME' directive ends in '.o' or '.ko' in record #1.",
        "dkms.conf: Error! No 'DEST_MODULE_LOCATION' directive specified for record #1.",
        "dkms.conf: Error! Unsupported AUTOINSTALL value 'maybe'"],
    "dkms_conf_test_zero_modules": None,  # run_test.sh:3124, "Warning! Zero modules specified."
    "dkms_conf_test_sparse_arrays": [  # run_test.sh:3194
        "dkms.conf: Error! No 'BUILT_MODULE_NAME' directive specified for record #0.",
        "dkms.conf: Error! No 'DEST_MODULE_LOCATION' directive specified for record #0.",
        "dkms.conf: Error! No 'BUILT_MODULE_NAME' directive specified for record #2.",
        "dkms.conf: Error! No 'DEST_MODULE_LOCATION' directive specified for record #2.",
        "dkms.conf: Error! No 'BUILT_MODULE_NAME' directive specified for record #4.",
        "dkms.conf: Error! Directive 'DEST_MODULE_LOCATION' does not begin with\n"
        "'/kernel', '/updates', or '/extra' in record #4."],
    "dkms_duplicate_test": [  # run_test.sh:3292
        "dkms.conf: Error! Duplicate module 'dkms_duplicate_test' in 'BUILT_MODULE_NAME[1]'.",
        "dkms.conf: Error! Duplicate module 'dkms_duplicate_test' in 'DEST_MODULE_NAME[1]'."],
    "dkms_duplicate_built_test-1.0": [  # run_test.sh:3308
        "dkms.conf: Error! Duplicate module 'dkms_duplicate_built_test' in 'BUILT_MODULE_NAME[1]'."],
    "dkms_duplicate_dest_test-1.0": [  # run_test.sh:3323
        "dkms.conf: Error! Duplicate module 'dkms_duplicate_dest_test' in 'DEST_MODULE_NAME[1]'."],
    "dkms_crlf_test-1.0": None,  # run_test.sh:3338, installs dkms_dos_test.ko
}


def _records(real: dict[str, dict[int, str]], count: int) -> list[tuple[str, str, str, str]]:
    return [(real.get("built_module_name", {}).get(i, ""), real.get("built_module_location", {}).get(i, ""),
             real.get("dest_module_name", {}).get(i, ""), real.get("DEST_MODULE_LOCATION", {}).get(i, ""))
            for i in range(count)]


@pytest.mark.realtool
@pytest.mark.parametrize("name", CONFS)
def test_kmodtui_reads_dkms_suite_conf_as_installed_dkms(name: str) -> None:
    require_tool("dkms")
    installed = dkms_version()
    conf = parse_dkms_conf(str(SUITE / name / "dkms.conf"))
    ours = read_as_dkms(conf, installed)
    assert read_for_installed(conf) == ours  # kmodtui answers for the dkms installed here
    real = dkms_reads(SUITE / name)
    assert (ours.refused, ours.errors) == (real.refused, tuple(real.errors)), name
    assert bool(ours.verdict) == real.refused and ours.verdict.startswith(
        ("", f"dkms {'.'.join(map(str, installed))} would refuse this file: "))
    assert [w for w in ours.warnings if w.startswith("dkms.conf: Warning!")] == real.warnings
    assert (ours.name, ours.version) == (real.value("PACKAGE_NAME"), real.value("PACKAGE_VERSION"))
    count = len(real.arrays.get("built_module_name", {}))
    assert [(m.built_name, m.built_location, m.dest_name, m.dest_location) for m in ours.modules] == \
        _records(real.arrays, count), name


@pytest.mark.realtool
@pytest.mark.parametrize("name", [n for n in CONFS if "BUILD_EXCLUSIVE" in (SUITE / n / "dkms.conf").read_text()
                                  or "OBSOLETE_BY" in (SUITE / n / "dkms.conf").read_text()])
@pytest.mark.parametrize("kernel", KERNELS, ids=lambda k: f"{k[0]}-{k[1]}")
def test_build_exclusive_verdict_is_installed_dkms(name: str, kernel: tuple[str, str, str | None]) -> None:
    require_tool("dkms")
    release, arch, config = kernel
    conf = parse_dkms_conf(str(SUITE / name / "dkms.conf"))
    real = dkms_reads(SUITE / name, release, arch, config)
    assert bool(excluded(conf, dkms_version(), release, arch, config)) == real.build_exclude, (name, kernel)


@pytest.mark.parametrize("name", CONFS)
def test_a_file_that_needs_a_newer_dkms_says_so(name: str) -> None:
    """The newest dkms's reading matches its own test suite's expectations; where Debian 12's 3.0.10
    reads a file otherwise, the 3.0.10 reading names the newer dkms's answer."""
    conf = parse_dkms_conf(str(SUITE / name / "dkms.conf"))
    newest, debian = read_as_dkms(conf, NEWEST), read_as_dkms(conf, (3, 0, 10))
    if name in NEWEST_ERRORS:
        assert list(newest.errors) == (NEWEST_ERRORS[name] or []), name
    differs = (newest.refused, newest.errors, newest.name, newest.modules) != \
        (debian.refused, debian.errors, debian.name, debian.modules)
    # 3.0.10 and 3.4.3 refuse empty, invalid and sparse alike, with other lines: only a different
    # verdict, name or module list is a different reading
    assert bool(debian.newer) == ((newest.refused, newest.name, newest.modules) !=
                                  (debian.refused, debian.name, debian.modules)), (name, debian.newer)
    if differs and name in NEWEST_ERRORS and (newest.refused != debian.refused):
        assert "newer dkms" in debian.newer, (name, debian.newer)
    assert newest.newer == ""
