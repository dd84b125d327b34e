"""The strip step of the package modes (kmodtui.core.packages.stripmod), on modules assembled with
DWARF by the real `as -g`: stripped as `strip -g` strips them (the same bytes), kept where dkms.conf's
STRIP[#] says no, and, as dkms does, a module strip cannot read or a missing strip is said and packaged
as built, never a failed build. The build-level agreement with real dkms is in test_dkms_agreement."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from tests.realtools import has_dwarf, require_tool, run_ok
from tests.synthetic import Assembled, ExportSpec


def _with_dwarf(dest: Path, name: str) -> Path:
    source = dest / f"{name}.s"
    # code to describe: `as -g` writes DWARF for the exported functions' instructions
    source.write_text(Assembled(name, versions=(("module_layout", 0x1234),),
                                exports=(ExportSpec(f"{name}_function", 0x5678),)).assembly())
    ko = dest / f"{name}.ko"
    run_ok([require_tool("as"), "--64", "-g", "-o", str(ko), str(source)])
    return ko


def _stripmod(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kmodtui.core.packages.stripmod", *args], capture_output=True,
                          text=True)


def test_modules_are_stripped_as_strip_g_strips_them_and_strip_no_keeps_one(tmp_path: Path) -> None:
    stripped, kept = _with_dwarf(tmp_path, "first"), _with_dwarf(tmp_path, "second")
    assert has_dwarf(stripped) and has_dwarf(kept)
    reference = tmp_path / "reference.ko"
    shutil.copy(stripped, reference)
    run_ok([require_tool("strip"), "-g", str(reference)])
    kept_before = kept.read_bytes()
    listed = tmp_path / "built"
    listed.write_text(f"{stripped}\n{tmp_path}/./second.ko\n")
    unstripped = tmp_path / "unstripped"
    unstripped.write_text(f"{kept}\n")
    done = _stripmod("--keep", f"@{unstripped}", f"@{listed}")
    assert done.returncode == 0, done.stderr
    assert stripped.read_bytes() == reference.read_bytes() and not has_dwarf(stripped)
    assert kept.read_bytes() == kept_before
    assert f"stripped {stripped}" in done.stdout and f"(STRIP=no): {kept}" in done.stdout


def test_what_strip_cannot_read_and_a_missing_strip_are_said_and_packaged_as_built(tmp_path: Path) -> None:
    module = _with_dwarf(tmp_path, "module")
    hostile = tmp_path / "not-elf.ko"
    hostile.write_bytes(b"\x7fELF\x02\x01\x01" + b"\xff" * 4096)
    before = hostile.read_bytes()
    done = _stripmod(str(hostile), str(module))
    assert done.returncode == 0 and hostile.read_bytes() == before
    [said] = done.stderr.splitlines()
    assert said.startswith(f"kmodtui: strip -g could not strip {hostile} (") and said.endswith("packaged as built")
    assert not has_dwarf(module)  # the next one is stripped all the same

    again = _with_dwarf(tmp_path, "again")
    missing = _stripmod("--strip", "kmodtui-no-such-strip", str(again))
    assert missing.returncode == 0 and has_dwarf(again)
    assert "kmodtui-no-such-strip not found" in missing.stderr
