"""Security round 2: archives whose *metadata* is the weapon. Tar header records (pax, GNU long
names) too big or too slow for Python's tarfile, folder chains too deep for a recursive walk, and
packages whose small modules decompress, in all, to far more than any one cap allows. Each hostile
input is made here by hand, wrapped in a .deb by the real `ar`, and given to `kmodtui inspect` or
`kmodtui kernels --from` in a fresh process whose wall time and peak memory are measured."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from kmodtui.core.errors import KmodError
from kmodtui.core.trees import remove_tree
from tests.archivefuzz import control_tar
from tests.metabombs import (
    END,
    MiB,
    deep_chain,
    gnu_long_record,
    module_bombs,
    pax_of_digits,
    pax_of_distinct_keys,
    xz_module,
    zstd_stream,
)
from tests.realtools import BuiltModules, require_tool, run_ok


@dataclass
class Measured:
    seconds: float  # wall
    cpu: float  # user+sys: what a loaded machine does not stretch
    peak_mib: int
    returncode: int | None  # None: still running at the timeout, killed
    stdout: str
    stderr: str

    def __str__(self) -> str:
        ended = "killed at the timeout" if self.returncode is None else f"exit {self.returncode}"
        return f"{self.seconds:.1f} s ({self.cpu:.1f} s of CPU), peak {self.peak_mib} MiB, {ended}: {self.stderr.strip()[-300:]}"


PROBE = """\
import json, resource, subprocess, sys, time
start = time.monotonic()
with open(sys.argv[2], "w") as out:
    child = subprocess.Popen(sys.argv[3:], stdout=out, stderr=subprocess.PIPE, text=True)
    try:
        _, err = child.communicate(timeout=float(sys.argv[1]))
        code = child.returncode
    except subprocess.TimeoutExpired:
        child.kill()
        _, err = child.communicate()
        code = None
used = resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps([time.monotonic() - start, used.ru_utime + used.ru_stime, used.ru_maxrss // 1024, code, err[-4000:]]))
"""


def measured(*args: str, timeout: float = 60, env: dict[str, str] | None = None) -> Measured:
    """`kmodtui ARGS` in a fresh process: wall time, peak resident memory, and what it said."""
    import tempfile

    with tempfile.NamedTemporaryFile("r") as stdout:
        out = subprocess.run([sys.executable, "-c", PROBE, str(timeout), stdout.name, sys.executable, "-I", "-m",
                              "kmodtui", *args], capture_output=True, text=True, env={**os.environ, **(env or {})},
                             check=True)
        seconds, cpu, peak, code, stderr = json.loads(out.stdout)
        return Measured(seconds, cpu, peak, code, stdout.read(), stderr)


def assert_refused_quickly(result: Measured, words: str, *, seconds: float = 5, peak_mib: int = 100) -> None:
    print(result)
    assert result.returncode == 2, result
    assert result.stderr.startswith("kmodtui: ") and result.stderr.count("\n") == 1, result.stderr
    assert "Traceback" not in result.stderr and words in result.stderr, result.stderr
    # the bound is on CPU time (a loaded CI machine stretched a 1 s refusal past 5 s of wall time); wall
    # time only has to show it did not hang
    assert result.cpu < seconds and result.seconds < 6 * seconds and result.peak_mib < peak_mib, result


# ---- the hostile inputs of the report ---------------------------------------------------------

def as_deb(path: Path, data_tar_zst: bytes) -> Path:
    """A .deb as dpkg-deb lays it out (debian-binary, control.tar.gz, data.tar.zst), made by the real `ar`."""
    work = path.parent / (path.name + ".d")
    work.mkdir()
    (work / "debian-binary").write_text("2.0\n")
    (work / "control.tar.gz").write_bytes(control_tar("hostile"))
    (work / "data.tar.zst").write_bytes(data_tar_zst)
    run_ok([require_tool("ar"), "rc", str(path), "debian-binary", "control.tar.gz", "data.tar.zst"], cwd=work)
    return path


HEADER_BOMBS = {
    "pax-100k-digits": lambda: pax_of_digits(100_000),
    "pax-4m-digits": lambda: pax_of_digits(4_000_000),
    "gnu-longname-600mib": lambda: gnu_long_record(600 * MiB),
    "pax-64mib-distinct-keys": lambda: pax_of_distinct_keys(64 * MiB),
}


@pytest.mark.heavy  # a bomb: seconds, with a time bound a loaded machine misses; not in --quick (README)
@pytest.mark.parametrize("shape", sorted(HEADER_BOMBS))
@pytest.mark.parametrize("verb", ["inspect", "kernels --from"])
def test_tar_header_bombs_are_refused_before_tarfile_parsing(shape: str, verb: str, tmp_path: Path) -> None:
    """Before: 100k digits took 10-15 s, 4 MB of digits hours (CVE-2024-6232 in the tarfile of
    Python 3.11.7), the 600 MiB long name took inspect to 1.88 GB and the 64 MiB pax header to
    680 MB. Now each header record is bounded before anything parses it."""
    deb = as_deb(tmp_path / f"{shape}.deb", zstd_stream(HEADER_BOMBS[shape]()))
    print(f"{shape}: {deb.stat().st_size} bytes")
    cache = tmp_path / "cache"
    result = measured(*verb.split(), str(deb), env={"KMODTUI_CACHE_DIR": str(cache)})
    assert_refused_quickly(result, "header record")
    assert not any((cache / "kernels" / "trees").glob("*"))  # a refused unpack leaves nothing


# ---- depth -----------------------------------------------------------------------------------

def headers_deb(tmp_path: Path, built: BuiltModules) -> Path:
    """A small genuine headers package made by dpkg-deb: the installed tree's .config and
    Module.symvers under a release of its own."""
    release = "6.1.0-999-amd64"
    stage = tmp_path / "headers-stage"
    tree = stage / "usr/src" / f"linux-headers-{release}"
    (tree / "include/generated").mkdir(parents=True)
    build = Path(built.build_dir)
    (tree / ".config").write_bytes((build / ".config").read_bytes())
    (tree / "Module.symvers").write_bytes((build / "Module.symvers").read_bytes())
    (tree / "Makefile").write_text("# test headers\n")
    (tree / "include/generated/utsrelease.h").write_text(f'#define UTS_RELEASE "{release}"\n')
    (stage / "DEBIAN").mkdir()
    (stage / "DEBIAN/control").write_text(f"Package: linux-headers-{release}\nVersion: 1\nArchitecture: all\n"
                                          "Maintainer: x <x@example.org>\nDescription: x\n")
    deb = tmp_path / "headers.deb"
    run_ok([require_tool("dpkg-deb"), "--root-owner-group", "-b", str(stage), str(deb)])
    return deb


def deepest(folder: Path) -> int:
    """How deep the deepest folder below `folder` goes, without recursion or path lengths."""
    most, stack = 0, [(str(folder), 0)]
    while stack:
        path, depth = stack.pop()
        most = max(most, depth)
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
        try:
            for entry in os.scandir(fd):
                if entry.is_dir(follow_symlinks=False):
                    stack.append((f"{path}/{entry.name}", depth + 1))
        finally:
            os.close(fd)
    return most


def test_a_1200_deep_chain_is_refused_and_the_cache_still_works(tmp_path: Path, built: BuiltModules) -> None:
    """Before: RecursionError in the end-of-unpack link check, so the unpack was neither checked
    nor removed (x stayed, leading to /etc), and every later unpack into that cache failed with a
    traceback (the cache budget's os.fwalk). Now the chain is refused at its member and removed,
    and a genuine package unpacks next."""
    deb = as_deb(tmp_path / "deep.deb", zstd_stream(deep_chain(1200, 20)))
    cache = tmp_path / "cache"
    env = {"KMODTUI_CACHE_DIR": str(cache)}
    result = measured("kernels", "--from", str(deb), env=env)
    assert_refused_quickly(result, "folders deep")
    assert not any((cache / "kernels" / "trees").glob("*"))  # nothing left, x least of all
    assert deepest(cache / "kernels") <= 1
    after = measured("kernels", "--from", str(headers_deb(tmp_path, built)), "--json", env=env)
    print("then a genuine headers package:", after)
    assert after.returncode == 0 and "Traceback" not in after.stderr, after
    assert "6.1.0-999-amd64" in after.stdout


def make_deep_tree(top: Path, levels: int, name: str = "d") -> None:
    """`levels` nested folders below top, made relative to each one (no path grows with depth)."""
    fd = os.open(top, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for _ in range(levels):
            os.mkdir(name, dir_fd=fd)
            next_fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = next_fd
        os.symlink("../" * (levels + 12) + "etc", "escape", dir_fd=fd)
    finally:
        os.close(fd)


def test_a_too_deep_tree_left_in_the_cache_is_removed_without_recursion(tmp_path: Path, built: BuiltModules) -> None:
    """An older kmodtui left a 1,200-deep tree (with a link to /etc at its bottom) in the shared
    root. Before: every unpack into that cache ended in a RecursionError traceback. Now the old
    shared root is removed (never used: see test_unpack_trees), at any depth, and the genuine package
    unpacks into a tree of its own."""
    root = tmp_path / "cache" / "kernels" / "root"
    (root / "usr/src/old").mkdir(parents=True)
    make_deep_tree(root / "usr/src/old", 1200)
    result = measured("kernels", "--from", str(headers_deb(tmp_path, built)), "--json",
                      env={"KMODTUI_CACHE_DIR": str(tmp_path / "cache")})
    print(result)
    try:
        assert result.returncode == 0 and "Traceback" not in result.stderr, result
        assert "6.1.0-999-amd64" in result.stdout
        assert not root.exists()
    finally:
        remove_tree(root)  # pytest's own clean-up (shutil.rmtree) would recurse


def test_a_too_deep_partial_unpack_left_by_an_older_version_is_removed(tmp_path: Path) -> None:
    """`kmodtui source x.tar.gz` first removes a partial unpack of the same file; one 1,200 deep
    (an older version's) made shutil.rmtree raise RecursionError, which ignore_errors does not catch."""
    from kmodtui.core.build.sources import _unpack_tarball

    stage = tmp_path / "stage" / "mod"
    stage.mkdir(parents=True)
    (stage / "Kbuild").write_text("obj-m += mine.o\n")
    tarball = tmp_path / "mod.tar.gz"
    run_ok(["tar", "-C", str(stage.parent), "-czf", str(tarball), "mod"])
    import hashlib

    digest = hashlib.sha256(tarball.read_bytes()).hexdigest()[:16]
    cache = tmp_path / "cache"
    partial = cache / "sources" / f"mod.tar.gz-{digest}.partial-{os.getpid()}"
    partial.mkdir(parents=True)
    make_deep_tree(partial, 1200, "d" * 200)  # 240 KB of path: deeper than PATH_MAX allows by name
    top = _unpack_tarball(str(tarball), str(cache))
    assert Path(top, "Kbuild").is_file()
    assert not partial.exists()


# ---- total decompression work ----------------------------------------------------------------

def test_many_small_module_bombs_share_one_budget(tmp_path: Path, built: BuiltModules) -> None:
    """2,000 members, each a 250 MiB .ko.xz (under the 256 MiB per-module cap). Before: ~1.4 s of
    CPU each, about 45 minutes in all (9.6 h within the caps). Now the whole input has one budget
    of decompressed bytes (1 GiB), payload and modules together."""
    blob = xz_module(built.provider_ko.read_bytes(), 250 * MiB)
    deb = as_deb(tmp_path / "bombs.deb", zstd_stream(module_bombs(blob, 2000)))
    print(f"{deb.stat().st_size} bytes")
    result = measured("inspect", str(deb), timeout=120)
    # one module is held to be parsed (up to 256 MiB, twice while it is joined): that is the per-module cap
    assert_refused_quickly(result, "in all", seconds=20, peak_mib=600)


@pytest.mark.network
def test_the_largest_genuine_package_fits_the_budget(tmp_path: Path) -> None:
    """Debian 13's linux-image (4,230 .ko.xz: 112 MB of data.tar, 516 MB of modules) is read whole."""
    from tests.realtools import apt_depends_of, apt_download_from

    image = next(d for d in apt_depends_of("linux-image-amd64", "trixie") if d.startswith("linux-image-"))
    deb = apt_download_from(image, "trixie")
    result = measured("inspect", "--json", str(deb), timeout=600)
    print(f"{deb.name}: {result.seconds:.1f} s, peak {result.peak_mib} MiB")
    assert result.returncode in (0, 1), result
    package = json.loads(result.stdout)["packages"][0]
    assert len(package["modules"]) > 4000


# ---- the cost of depth -----------------------------------------------------------------------

def links_with_long_targets(count: int, depth: int) -> Iterator[bytes]:
    """`count` links at the bottom of a `depth`-deep chain, each target 800 times `a/..`: every
    component had to be looked up from the root (10 of them took 6.3 s)."""
    folder = tarfile.TarInfo("./" + "a/" * depth)
    folder.type = tarfile.DIRTYPE
    yield folder.tobuf(format=tarfile.GNU_FORMAT)
    for i in range(count):
        link = tarfile.TarInfo("./" + "a/" * (depth - 1) + f"l{i}")
        link.type, link.linkname = tarfile.SYMTYPE, "a/../" * 800 + "y"
        yield link.tobuf(format=tarfile.GNU_FORMAT)
    yield END


@pytest.mark.heavy  # seconds, and a time bound a loaded machine misses: not in --quick (README)
def test_following_links_has_a_budget(tmp_path: Path) -> None:
    """Before: each link's target was followed from the root one component at a time (0.6 s a link
    250 folders down: 100,000 of them, 17 hours). Now each step is one system call and one unpack
    has 200,000 of them: refused in about a second."""
    deb = as_deb(tmp_path / "links.deb", zstd_stream(links_with_long_targets(2000, 250)))
    result = measured("kernels", "--from", str(deb), env={"KMODTUI_CACHE_DIR": str(tmp_path / "cache")})
    assert_refused_quickly(result, "steps to follow")


def test_folders_made_on_the_way_count_as_members(tmp_path: Path) -> None:
    """A name 200 folders deep makes 199 folders nobody listed: they count against the member cap
    (before, 100,000 such members could make 25 million folders)."""
    from kmodtui.core.packages.safewrite import SafeWriter

    with pytest.raises(KmodError, match="more than 50 members"):
        with SafeWriter(tmp_path / "out", "deep.deb", max_members=50) as writer:
            writer.add_dir("d/" * 200)
    assert not any((tmp_path / "out").iterdir())


@pytest.mark.heavy  # seconds: not in --quick (README)
def test_openat2_and_the_walk_one_component_at_a_time_agree(tmp_path: Path) -> None:
    """The same 300 generated hostile tars unpacked twice: with openat2 (one call per path) and
    with it turned off (the O_NOFOLLOW walk older kernels get): the same trees, the same skips."""
    import random

    from kmodtui.core.packages import beneath
    from kmodtui.core.packages.archive import write_tar_member
    from kmodtui.core.packages.safewrite import SafeWriter
    from kmodtui.core.packages.tarstream import tar_members
    from tests.archivefuzz import make_case

    def unpack(data: bytes, dest: Path) -> tuple[object, ...]:
        try:
            with SafeWriter(dest, "case.tar") as writer:
                for member, body in tar_members(io.BytesIO(data), "case.tar"):
                    write_tar_member(writer, member, body)
        except KmodError as err:
            return ("refused", str(err))
        listing = sorted((str(p.relative_to(dest)), os.readlink(p) if p.is_symlink() else p.is_dir())
                         for p in dest.rglob("*"))
        return tuple(line.replace(str(dest), "<dest>") for line in writer.skipped), tuple(listing)

    (tmp_path / "probe").mkdir()
    top = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    probe = beneath._beneath(top, ["probe"])
    os.close(top)
    print("openat2 here:", probe is not None)
    if probe is not None:
        os.close(probe)
    rng = random.Random("openat2")
    for i in range(300):
        data = make_case(rng)
        fast = unpack(data, tmp_path / f"fast{i}")
        saved = beneath._openat2
        beneath._openat2 = False
        try:
            walked = unpack(data, tmp_path / f"walk{i}")
        finally:
            beneath._openat2 = saved
        assert fast == walked, i


def test_a_deb_of_many_ar_members_is_refused(tmp_path: Path) -> None:
    from tests.archivefuzz import ar

    deb = tmp_path / "many.deb"
    deb.write_bytes(ar([("debian-binary", b"2.0\n")] + [(f"_junk{i}", b"x") for i in range(100)]))
    result = measured("inspect", str(deb))
    assert_refused_quickly(result, "ar members")
