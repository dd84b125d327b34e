"""Lustre 2.17.0, the first seed's project: `kmodtui source` on the files of a lustre-release tree it
reads (tests/lustre/, copied verbatim from the tag), and the resolve step on Lustre's real modules,
built by kmodtui against real OpenZFS 2.1.11 (tests/lustre/prebuilt/, how in its README: osd_zfs and the
Lustre modules it loads after, stripped of debug sections; the names of all 26 the build made): osd_zfs needs
ZFS's exports, and kmodtui names exactly the symbols real depmod names, against the kernel alone and
with OpenZFS's Module.symvers (what modpost wrote when kmodtui built OpenZFS)."""

from __future__ import annotations

import json
import lzma
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from kmodtui.core.build import treekinds
from kmodtui.core.build.sources import detect_source
from kmodtui.core.elf.module import read_module
from tests.realtools import depmod_problems, require_tool, run_ok

LUSTRE = Path(__file__).resolve().parent.parent / "lustre"
TREE = LUSTRE / "lustre-2.17.0"
PREBUILT = LUSTRE / "prebuilt"
RELEASE = "6.1.0-99-kmodtui"  # the scratch tree's name; depmod does not care
# what configure (with the options kmodtui gives a Lustre tree) leaves out: its conditionals off here
OFF = {"BUILD_GNILND", "BUILT_IN_KO2IBLND", "BUILD_KFILND", "BUILD_EFALND", "GSS", "TESTS", "LDISKFS_ENABLED"}


def test_a_lustre_tree_is_read_as_lustre_lays_it_out() -> None:
    source = detect_source(str(TREE))
    assert (source.name, source.version, source.tree) == ("lustre", "2.17.0", "lustre")
    assert {"libcfs", "lnet", "obdclass", "ptlrpc", "osd_zfs", "lustre", "ksocklnd"} <= set(source.modules)
    assert source.needs == {"zfs": ["osd_zfs"]}
    assert source.specs == {"lustre.spec.in": "redhat"}  # its %kernel_module_package
    assert any("kernels known to build from 4.4.0 to 6.12.0 (vanilla Linux 5.4.0 to 6.6.13)" in n for n in source.notes)
    assert "kbuild" in source.modes


def test_the_cli_says_what_a_lustre_tree_is() -> None:
    result = subprocess.run([sys.executable, "-m", "kmodtui", "source", str(TREE), "--json"], capture_output=True,
                            text=True)
    info = json.loads(result.stdout)
    assert (info["name"], info["version"], info["tree"], info["needs"]) == ("lustre", "2.17.0", "lustre",
                                                                           {"zfs": ["osd_zfs"]})
    text = subprocess.run([sys.executable, "-m", "kmodtui", "source", str(TREE)], capture_output=True, text=True).stdout
    assert "needs zfs's build: osd_zfs" in text and "%kernel_module_package" in text


def prebuilt(dest: Path) -> list[Path]:
    """The prebuilt Lustre modules, unpacked (tar.xz of `strip --strip-debug`ped .ko files)."""
    dest.mkdir(parents=True, exist_ok=True)
    run_ok([require_tool("tar"), "-C", str(dest), "-xJf", str(PREBUILT / "lustre-2.17.0-osd_zfs-chain.tar.xz")])
    return sorted(dest.rglob("*.ko"))


def test_the_modules_detection_names_are_those_the_real_build_made() -> None:
    """Every module the real build made (`find libcfs lnet lustre -name '*.ko'` in its tree, kept in
    built-modules.txt) is one detection names, and every module detection names that configure did not
    leave out (its conditionals off with kmodtui's options) was made: 26."""
    built = {Path(line).stem for line in (PREBUILT / "built-modules.txt").read_text().split()}
    assert len(built) == 26
    expected = {m for m, conds in treekinds.modules_of(str(TREE), treekinds.LUSTRE) if not set(conds) & OFF}
    assert built == expected


@pytest.fixture
def lustre_tree(tmp_path: Path) -> Path:
    extra = tmp_path / "root" / "lib" / "modules" / RELEASE / "extra"
    extra.mkdir(parents=True)
    for module in prebuilt(tmp_path / "unpacked"):
        shutil.copy(module, extra / module.name)
    return extra.parent


def problems_of_cli(tree: Path, symvers: str) -> set[tuple[str, str, str]]:
    result = subprocess.run([sys.executable, "-m", "kmodtui", "resolve", str(tree), "--kernel", symvers, "--json",
                             "--problems-only", "--no-cache"], capture_output=True, text=True)
    findings = json.loads(result.stdout)["findings"]
    return {(Path(f["module"]).name, f["status"], f["symbol"]) for f in findings
            if f["status"] in ("unknown_symbol", "crc_mismatch")}


def named(problems: set[tuple[str, str, str]], symvers: str) -> set[tuple[str, str, str]]:
    """depmod's problems by module name, less the symbols the kernel's own modules export (sunrpc's
    rpc_pton, crc-t10dif's crc_t10dif): the scratch tree lacks those modules, so depmod cannot find
    them, while the kernel's Module.symvers, which kmodtui reads, lists them."""
    in_tree_modules = {f[1] for f in (line.split("\t") for line in Path(symvers).read_text().splitlines())
                       if len(f) > 2 and f[2] != "vmlinux" and not f[2].startswith("/")}
    in_tree_modules -= {f[1] for f in (line.split("\t") for line in Path(symvers).read_text().splitlines())
                        if len(f) > 2 and f[2] == "vmlinux"}
    return {(Path(path).name, status, symbol) for path, status, symbol in problems if symbol not in in_tree_modules}


def test_osd_zfs_needs_zfs_exports_as_depmod_says(installed_kernel, lustre_tree: Path, tmp_path: Path) -> None:
    """Against the kernel alone, osd_zfs.ko's needs that only ZFS exports are unknown, for kmodtui as for
    depmod (the rest of Lustre resolves among its own modules: osd_zfs -> obdclass -> libcfs/lnet); with
    OpenZFS's Module.symvers added to the kernel's, none is left and no CRC disagrees. The ones left
    out are exactly the ZFS exports osd_zfs's __versions lists, with the CRCs modpost wrote for ZFS."""
    require_tool("depmod")
    kernel_symvers = installed_kernel.symvers_path
    root = lustre_tree.parent.parent.parent
    alone = named(depmod_problems(root, RELEASE, kernel_symvers), kernel_symvers)
    assert problems_of_cli(lustre_tree, kernel_symvers) == alone
    zfs_symvers = tmp_path / "zfs.symvers"
    zfs_symvers.write_bytes(lzma.decompress((PREBUILT / "openzfs-2.1.11-Module.symvers.xz").read_bytes()))
    combined = tmp_path / "Module.symvers"
    combined.write_bytes(Path(kernel_symvers).read_bytes() + zfs_symvers.read_bytes())
    # depmod takes only vmlinux's exports from -E (the providers of the rest are the modules in its tree,
    # and ZFS's are not in this one): with ZFS, kmodtui is compared with what modpost wrote of ZFS
    with_zfs = problems_of_cli(lustre_tree, str(combined))
    unknown_alone = {s for m, status, s in alone if m == "osd_zfs.ko" and status == "unknown_symbol"}
    unknown_with = {s for m, status, s in with_zfs if status == "unknown_symbol"}
    zfs_crcs = {f[1]: int(f[0], 16) for f in (line.split("\t") for line in zfs_symvers.read_text().splitlines())}
    osd_zfs = read_module(str(lustre_tree / "extra" / "osd_zfs.ko"))
    assert {n.name: n.crc for n in osd_zfs.needs if n.name in zfs_crcs} == {s: zfs_crcs[s] for s in unknown_alone}
    zfs_exports = {line.split("\t")[1] for line in zfs_symvers.read_text().splitlines() if "\t" in line}
    needs = {need.name for need in osd_zfs.needs}
    assert unknown_with == set() and not {p for p in with_zfs if p[0] == "osd_zfs.ko" and p[2] in zfs_crcs}
    assert unknown_alone == needs & zfs_exports
    assert len(unknown_alone) == ZFS_SYMBOLS_OSD_ZFS_NEEDS
    assert not {m for m, status, _ in alone if status == "unknown_symbol"} - {"osd_zfs.ko"}


ZFS_SYMBOLS_OSD_ZFS_NEEDS = 109  # its __versions records of ZFS's exports (kmodtui and depmod alike)


def test_modinfo_reads_the_prebuilt_modules_as_kmodtui_does(tmp_path: Path) -> None:
    modinfo = require_tool("modinfo")
    for module in prebuilt(tmp_path):
        depends = run_ok([modinfo, "-F", "depends", str(module)]).stdout.strip()
        assert sorted(filter(None, depends.split(","))) == sorted(read_module(str(module)).depends)


def test_a_configure_error_after_the_zfs_options_is_not_read_as_a_missing_zfs_build() -> None:
    """kmodtui's own step line names --with-zfs-obj=; only Lustre's and OpenZFS's quoted hint
    ('--with-zfs-obj=PATH') means the provider's build is missing. Lustre's configure lines as it printed
    them here, when libmount's headers were missing."""
    from kmodtui.core.diagnose.engine import diagnose_lines

    lines = ["### configure: sh ./configure --with-linux=/usr/src/linux-headers-6.1.0-57-common --disable-ldiskfs "
             "--with-zfs=/b/work/providers/zfs --with-zfs-obj=/b/work/providers/zfs",
             "checking zfs build directory... /b/work/providers/zfs",
             "configure: error: libmount development package is required"]
    primary = diagnose_lines(lines).primary
    assert primary is not None and primary.cause == "build_dependency_missing"
