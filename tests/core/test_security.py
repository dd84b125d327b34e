"""Issue 20: hostile packages, tarballs and bombs. The archives are made with the real tools a
packager uses (`ln -s`, `dpkg-deb -b`, `tar`), the bombs with real compressors; each test failed
on the code before the fix (the note in SECURITY.md says how)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
import zlib
from pathlib import Path

import pytest

from kmodtui.core.errors import KmodError
from kmodtui.core.packages.archive import extract_package
from kmodtui.core.packages.safewrite import SafeWriter
from tests.archivefuzz import ar, control_tar
from tests.realtools import require_tool


def kmodtui(*args: str, env: dict[str, str] | None = None, cwd: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-I", "-m", "kmodtui", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, cwd=cwd)


def snapshot(folder: Path, skip: Path) -> dict[str, bytes | str]:
    """Every entry below folder (but skip), with its content or link target."""
    out: dict[str, bytes | str] = {}
    for dirpath, dirnames, filenames in os.walk(folder):
        if Path(dirpath).is_relative_to(skip):
            continue
        for name in dirnames + filenames:
            path = Path(dirpath, name)
            if path.is_relative_to(skip):
                continue
            if path.is_symlink():
                out[str(path)] = "-> " + os.readlink(path)
            elif path.is_file():
                out[str(path)] = path.read_bytes()
            else:
                out[str(path)] = "dir"
    return out


def deep_escape_link(levels: int, climb: int, rest: str) -> str:
    return "/".join(f"d{i}" for i in range(1, levels + 1)) + "/s/" + "../" * climb + rest


def build_evil_headers_deb(tmp_path: Path) -> Path:
    """The defect as reported: usr/src/d1/../d10/s -> / (re-rooted to the cache root), then
    usr/src/linux-headers-evil -> d1/../d10/s/../../../../../victim: lexically inside, physically out."""
    require_tool("dpkg-deb")
    stage = tmp_path / "stage"
    src = stage / "usr/src"
    deep = src.joinpath(*[f"d{i}" for i in range(1, 11)])
    deep.mkdir(parents=True)
    subprocess.run(["ln", "-s", "/", str(deep / "s")], check=True)
    # unpack root = <tmp>/cache/kernels/trees/<key>.partial-<pid>/root: five levels up is <tmp>, the victim's
    subprocess.run(["ln", "-s", deep_escape_link(10, 5, "victim"), str(src / "linux-headers-evil")], check=True)
    (src / "linux-headers-evil-common").mkdir()
    (src / "linux-headers-evil-common" / "Makefile").write_text("$(error hostile make code ran)\n")
    (stage / "DEBIAN").mkdir()
    (stage / "DEBIAN" / "control").write_text(
        "Package: linux-headers-evil\nVersion: 1\nArchitecture: all\nMaintainer: x <x@example.org>\nDescription: x\n")
    deb = tmp_path / "evil.deb"
    subprocess.run(["dpkg-deb", "--root-owner-group", "-b", str(stage), str(deb)], check=True, capture_output=True)
    return deb


def test_hostile_headers_deb_cannot_write_outside_the_cache(tmp_path: Path) -> None:
    deb = build_evil_headers_deb(tmp_path)
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "Makefile").write_text("include /usr/src/linux-headers-evil-common/Makefile\n")
    os.symlink("../../lib/linux-kbuild-6.1/scripts", victim / "scripts")
    cache = tmp_path / "cache"
    before = snapshot(tmp_path, cache)
    result = kmodtui("kernels", "--from", str(deb), "--json", env={"KMODTUI_CACHE_DIR": str(cache)})
    assert "Traceback" not in result.stderr
    assert snapshot(tmp_path, cache) == before  # the victim's Makefile untouched, nothing created out there
    [root] = (cache / "kernels" / "trees").glob("*/root")  # the tree of this package, renamed into place
    # the escaping link was never created; every link left in the cache resolves inside it
    assert not (root / "usr/src/linux-headers-evil").is_symlink()
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath, name)
            if path.is_symlink() and not name.startswith("linux-kbuild-"):
                assert Path(os.path.realpath(path)).is_relative_to(root.resolve()), path


def test_link_created_later_cannot_change_an_earlier_one_into_an_escape(tmp_path: Path) -> None:
    """Order reversed: the escaping path is written while its middle is still a missing folder,
    the link that makes it escape comes later. The end-of-unpack check removes it."""
    members = []
    first = tarfile.TarInfo("./usr/src/linux-headers-evil")
    first.type, first.linkname = tarfile.SYMTYPE, deep_escape_link(3, 3, "victim")
    members.append(first)
    for i in range(1, 4):
        d = tarfile.TarInfo("./usr/src/" + "/".join(f"d{j}" for j in range(1, i + 1)))
        d.type = tarfile.DIRTYPE
        members.append(d)
    s = tarfile.TarInfo("./usr/src/d1/d2/d3/s")
    s.type, s.linkname = tarfile.SYMTYPE, "/"
    members.append(s)
    from tests.core.test_kernels import hostile_deb

    result = extract_package(hostile_deb(tmp_path / "late.deb", members), tmp_path / "out")
    out = tmp_path / "out"
    assert not (out / "usr/src/linux-headers-evil").is_symlink()
    assert any("leads outside" in line for line in result.skipped)


def test_nothing_is_written_through_a_link(tmp_path: Path) -> None:
    from tests.core.test_kernels import hostile_deb

    outside = tmp_path / "outside"
    outside.mkdir()
    link = tarfile.TarInfo("./usr/inside")
    link.type, link.linkname = tarfile.SYMTYPE, "."
    through = tarfile.TarInfo("./usr/inside/file")
    through.size = 2
    result = extract_package(hostile_deb(tmp_path / "through.deb", [link, (through, b"hi")]), tmp_path / "out")
    assert any("written through" in line for line in result.skipped)
    assert not (tmp_path / "out/usr/file").exists()


def test_a_refused_unpack_leaves_nothing_behind(tmp_path: Path) -> None:
    from tests.core.test_kernels import hostile_deb

    ok = tarfile.TarInfo("./usr/src/linux-headers-x/Makefile")
    ok.size = 3
    bad = tarfile.TarInfo("./usr/../../escape")
    bad.size = 1
    out = tmp_path / "out"
    out.mkdir()
    (out / "kept").write_text("from before")
    with pytest.raises(KmodError, match=r"\.\."):
        extract_package(hostile_deb(tmp_path / "half.deb", [(ok, b"all"), (bad, b"x")]), out)
    assert sorted(p.name for p in out.rglob("*")) == ["kept"]


def test_members_of_every_type_count_against_the_cap(tmp_path: Path) -> None:
    writer = SafeWriter(tmp_path / "out", "dirs.deb", max_members=50)
    with pytest.raises(KmodError, match="more than 50 members"):
        for i in range(100):
            writer.add_dir(f"d{i}")
    writer = SafeWriter(tmp_path / "out2", "fifos.deb", max_members=50)
    with pytest.raises(KmodError, match="more than 50 members"):
        for i in range(100):
            writer.skip(f"f{i}", "FIFO")


def test_hostile_tarball_source_cannot_read_outside(tmp_path: Path) -> None:
    """`kmodtui source evil.tar.gz` used to print module names from a Makefile outside the tarball."""
    secret = tmp_path / "secret"
    secret.mkdir()
    (secret / "Makefile").write_text("obj-m += secretmodule.o\n")
    stage = tmp_path / "stage" / "evil"
    deep = stage.joinpath("a", "b")
    deep.mkdir(parents=True)
    subprocess.run(["ln", "-s", "/", str(deep / "s")], check=True)
    (stage / "Kbuild").write_text("obj-m += mine.o\n")
    # <cache>/sources/evil.tar.gz-<digest>.partial-<pid>/evil/a/b/s -> that folder; 3 up is <tmp>
    subprocess.run(["ln", "-s", "a/b/s/../../../secret/Makefile", str(stage / "Makefile")], check=True)
    tarball = tmp_path / "evil.tar.gz"
    subprocess.run(["tar", "-C", str(stage.parent), "-czf", str(tarball), "evil"], check=True)
    result = kmodtui("source", str(tarball), "--json", env={"KMODTUI_CACHE_DIR": str(tmp_path / "cache")})
    assert "secretmodule" not in result.stdout + result.stderr
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["modules"] == ["mine"]


# ---- bombs -----------------------------------------------------------------------------------

def zeros_compressed(kind: str, size: int) -> bytes:
    """`size` zero bytes through a real compressor, streamed (the bomb is never held whole)."""
    chunk = b"\0" * (1 << 20)
    if kind == "zstd":
        import zstandard

        c = zstandard.ZstdCompressor(level=1).compressobj()
        return b"".join(c.compress(chunk) for _ in range(size >> 20)) + c.flush()
    if kind == "xz":
        import lzma

        c = lzma.LZMACompressor(preset=0)
        return b"".join(c.compress(chunk) for _ in range(size >> 20)) + c.flush()
    c = zlib.compressobj(1, zlib.DEFLATED, 31)
    return b"".join(c.compress(chunk) for _ in range(size >> 20)) + c.flush()


def tar_header(name: str, size: int) -> bytes:
    info = tarfile.TarInfo(name)
    info.size = size
    return info.tobuf(format=tarfile.GNU_FORMAT)


def streamed(kind: str, head: bytes, zeros: int) -> bytes:
    """head then `zeros` zero bytes, compressed as one stream."""
    chunk = b"\0" * (1 << 20)
    if kind == "zstd":
        import zstandard

        c = zstandard.ZstdCompressor(level=1).compressobj()
    else:
        c = zlib.compressobj(1, zlib.DEFLATED, 31)
    parts = [c.compress(head)] + [c.compress(chunk) for _ in range(zeros >> 20)]
    return b"".join(parts) + c.flush()


def peak_rss_mib(*args: str, env: dict[str, str] | None = None) -> tuple[int, subprocess.CompletedProcess[str]]:
    """Run kmodtui in a fresh child and return its peak resident memory (MiB) and result."""
    probe = ("import resource, subprocess, sys, json\n"
             "r = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
             "print(json.dumps([resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024, r.returncode, "
             "r.stdout[-2000:], r.stderr]))\n")
    out = subprocess.run([sys.executable, "-c", probe, sys.executable, "-I", "-m", "kmodtui", *args],
                         capture_output=True, text=True, env={**os.environ, **(env or {})}, check=True)
    peak, code, stdout, stderr = json.loads(out.stdout)
    return peak, subprocess.CompletedProcess(args, code, stdout, stderr)


@pytest.mark.heavy
@pytest.mark.parametrize("kind", ["zstd", "gzip"])
def test_deb_bomb_is_refused_with_bounded_memory(kind: str, tmp_path: Path) -> None:
    """A .deb whose data.tar expands to 4 GiB (a file that is not a module, so it is skipped,
    which means decompressing through it): refused at the payload cap, memory stays small."""
    data = streamed(kind, tar_header("./usr/share/zeros", (4 << 30) - 1024), 4 << 30)
    suffix = {"zstd": ".zst", "gzip": ".gz"}[kind]
    deb = tmp_path / f"bomb-{kind}.deb"
    deb.write_bytes(ar([("debian-binary", b"2.0\n"), ("control.tar.gz", control_tar("bomb")), (f"data.tar{suffix}", data)]))
    peak, result = peak_rss_mib("inspect", str(deb))
    print(f"{kind} .deb bomb: {deb.stat().st_size} bytes, peak {peak} MiB: {result.stderr.strip()}")
    assert result.returncode == 2 and "decompresses to more than" in result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert peak < 300


@pytest.mark.heavy
@pytest.mark.parametrize("kind", ["xz", "gzip"])
def test_module_bomb_is_refused_below_twice_the_cap(kind: str, tmp_path: Path) -> None:
    bomb = tmp_path / ("bomb.ko." + {"xz": "xz", "gzip": "gz"}[kind])
    bomb.write_bytes(zeros_compressed(kind, 640 << 20))
    peak, result = peak_rss_mib("inspect", str(bomb))
    print(f"{kind} module bomb: {bomb.stat().st_size} bytes, peak {peak} MiB: {result.stderr.strip()}")
    assert result.returncode == 2 and "decompresses to more than" in result.stderr
    assert peak < 2 * 512 * 0.75  # was 1.1 GiB before; now about the cap, well under twice it


def test_headers_package_bomb_is_refused_by_the_cache_budget(tmp_path: Path) -> None:
    data = streamed("zstd", tar_header("./usr/src/linux-headers-bomb/zeros", 256 << 20), 256 << 20)
    deb = tmp_path / "bomb-headers.deb"
    deb.write_bytes(ar([("debian-binary", b"2.0\n"), ("control.tar.gz", control_tar("bomb")), ("data.tar.zst", data)]))
    cache = tmp_path / "cache"
    result = kmodtui("kernels", "--from", str(deb), env={"KMODTUI_CACHE_DIR": str(cache),
                                                         "KMODTUI_CACHE_MAX_BYTES": str(64 << 20)})
    assert result.returncode == 2 and "more than" in result.stderr and "refus" in result.stderr, result.stderr
    assert list((cache / "kernels" / "trees").iterdir()) == []  # the refused unpack was removed


def test_special_files_are_refused_with_one_line(tmp_path: Path) -> None:
    fifo = tmp_path / "m.ko"
    os.mkfifo(fifo)
    for path in (str(fifo), "/dev/zero"):
        result = subprocess.run([sys.executable, "-I", "-m", "kmodtui", "inspect", path], capture_output=True,
                                text=True, timeout=30)
        assert result.returncode == 2 and "kmodtui reads only regular files" in result.stderr, result.stderr
        assert result.stderr.count("\n") == 1
