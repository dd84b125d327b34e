"""dkms.conf read as bash assigns and as dkms's read_conf judges, without dkms: the shapes dkms's test
suite does not hold (array literals over lines, a scalar given an index, values only the shell
knows, a million-record index), and where kmodtui says 'dkms would refuse this file'."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from kmodtui.core.build.dkmsconf import parse_dkms_conf
from kmodtui.core.build.dkmsread import DEBIAN_12, NEWEST, excluded, ignored_exclusive, read_as_dkms

HEAD = 'PACKAGE_NAME="p"\nPACKAGE_VERSION="1"\n'


def _conf(tmp_path: Path, text: str, newline: str = "\n") -> Path:
    path = tmp_path / "dkms.conf"
    path.write_bytes(text.replace("\n", newline).encode())
    return path


def test_scalar_and_index_0_are_one_variable_and_literals_fill_arrays(tmp_path: Path) -> None:
    conf = parse_dkms_conf(str(_conf(tmp_path, HEAD + 'BUILT_MODULE_NAME="a"\nBUILT_MODULE_NAME[2]=c\n'
                                     'DEST_MODULE_LOCATION=(/extra [2]="/updates/x y")\n'
                                     'PATCH=(\n  one.patch  # first\n  "two three.patch"\n)\nMAKE[0]="make"\nMAKE=other\n')))
    assert conf.elements("BUILT_MODULE_NAME") == {0: "a", 2: "c"}
    assert conf.elements("DEST_MODULE_LOCATION") == {0: "/extra", 2: "/updates/x y"}
    assert conf.array("PATCH") == ["one.patch", "two three.patch"]
    assert conf.values["MAKE"] == "other" and conf.array("MAKE") == ["other"]
    assert conf.build_time_only == []


def test_carriage_returns_are_kept_as_dkms_3_0_10_keeps_them(tmp_path: Path) -> None:
    conf = parse_dkms_conf(str(_conf(tmp_path, HEAD + 'BUILT_MODULE_NAME[0]="m"\nDEST_MODULE_LOCATION[0]="/extra"\n',
                                     "\r\n")))
    old, new = read_as_dkms(conf, DEBIAN_12), read_as_dkms(conf, NEWEST)
    assert (old.name, old.modules[0].built_name) == ("p\r", "m\r") and not old.refused
    assert (new.name, new.modules[0].built_name) == ("p", "m")
    assert "3.1.5" in old.warnings[-1] and "newer dkms" in old.newer
    assert conf.modules == ["m"]  # what the author meant: kmodtui's own builds look for m.ko


def test_a_key_only_the_shell_knows_gives_no_verdict(tmp_path: Path) -> None:
    conf = parse_dkms_conf(str(_conf(tmp_path, 'PACKAGE_NAME="p"\nPACKAGE_VERSION=$(cat VERSION)\n'
                                     'DEST_MODULE_LOCATION[0]="/extra"\n')))
    reading = read_as_dkms(conf, DEBIAN_12)
    assert reading.errors and not reading.refused and reading.verdict == ""
    assert reading.undecided == ("PACKAGE_VERSION",)


def test_a_million_record_index_is_bounded(tmp_path: Path) -> None:
    conf = parse_dkms_conf(str(_conf(tmp_path, HEAD + 'BUILT_MODULE_NAME[999999]="x"\n' * 2000)))
    start = time.monotonic()
    newest = read_as_dkms(conf, NEWEST)  # records run to index 999999: past 1024 kmodtui gives no verdict
    assert len(newest.modules) == 1024 and newest.verdict == "" and newest.undecided == ("records past #1023",)
    debian = read_as_dkms(conf, DEBIAN_12)  # 3.0.10 counts elements: one record, #0, which names nothing
    assert len(debian.modules) == 1 and "record #0" in debian.verdict and debian.newer == ""
    assert time.monotonic() - start < 2


def test_build_exclusive_directives_3_0_10_ignores_are_named(tmp_path: Path) -> None:
    conf = parse_dkms_conf(str(_conf(tmp_path, HEAD + 'BUILT_MODULE_NAME[0]=a\nBUILT_MODULE_NAME[1]=b\n'
                                     'DEST_MODULE_LOCATION[0]=/extra\nDEST_MODULE_LOCATION[1]=/extra\n'
                                     'BUILD_EXCLUSIVE_KERNEL_MIN="7.0"\nBUILD_EXCLUSIVE_ARCH[1]="none"\n')))
    assert ignored_exclusive(conf, DEBIAN_12) == ["BUILD_EXCLUSIVE_KERNEL_MIN", "BUILD_EXCLUSIVE_ARCH[1]"]
    assert ignored_exclusive(conf, NEWEST) == []
    assert excluded(conf, DEBIAN_12, "6.1.0-9-amd64", "x86_64") == ""
    assert "BUILD_EXCLUSIVE_KERNEL_MIN=7.0" in excluded(conf, NEWEST, "6.1.0-9-amd64", "x86_64")


def test_source_says_dkms_would_refuse_and_dkms_mode_stops(tmp_path: Path) -> None:
    source = tmp_path / "src"
    source.mkdir()
    (source / "Kbuild").write_text("obj-m := m.o\n")
    (source / "dkms.conf").write_text(HEAD + 'BUILT_MODULE_NAME[0]="m.ko"\nDEST_MODULE_LOCATION[0]="/lib"\n')
    from kmodtui.core.build.dkmsread import read_for_installed

    verdict = read_for_installed(parse_dkms_conf(str(source / "dkms.conf"))).verdict
    assert verdict.startswith("dkms ") and " would refuse this file: 'BUILT_MODULE_NAME' directive ends in" in verdict
    assert "\n" not in verdict
    done = subprocess.run([sys.executable, "-m", "kmodtui", "source", str(source), "--json"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert f"dkms.conf: {verdict}" in json.loads(done.stdout)["build_time_only"]
    (source / "dkms.conf").write_text(HEAD + 'BUILT_MODULE_NAME[0]="m"\nDEST_MODULE_LOCATION[0]="/extra"\n')
    done = subprocess.run([sys.executable, "-m", "kmodtui", "source", str(source), "--json"],
                          capture_output=True, text=True, timeout=60)
    assert not any("would refuse" in note for note in json.loads(done.stdout)["build_time_only"])
