"""Issue 20: hostile packages, tarballs and bombs. The archives are made with the real tools a
packager uses (`ln -s`, `dpkg-deb -b`, `tar`), the bombs with real compressors; each test failed
on the code before the fix (the note in SECURITY.md says how)."""

from __future__ import annotations

import io
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
    usr/src/linux-headers-evil -> d1/../d10/s/../../../victim: lexically inside, physically out."""
    require_tool("dpkg-deb")
    stage = tmp_path / "stage"
    src = stage / "usr/src"
    deep = src.joinpath(*[f"d{i}" for i in range(1, 11)])
    deep.mkdir(parents=True)
    subprocess.run(["ln", "-s", "/", str(deep / "s")], check=True)
    # cache root = <tmp>/cache/kernels/root: three levels up from it is <tmp>, where the victim is
    subprocess.run(["ln", "-s", deep_escape_link(10, 3, "victim"), str(src / "linux-headers-evil")], check=True)
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
    root = cache / "kernels" / "root"
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


def ar(members: list[tuple[str, bytes]]) -> bytes:
    out = bytearray(b"!<arch>\n")
    for name, content in members:
        out += f"{name:<16}{0:<12}{0:<6}{0:<6}{100644:<8}{len(content):<10}`\n".encode()
        out += content + (b"\n" if len(content) & 1 else b"")
    return bytes(out)


def control_tar() -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        body = b"Package: bomb\nVersion: 1\nArchitecture: all\nDescription: x\n"
        info = tarfile.TarInfo("./control")
        info.size = len(body)
        tar.addfile(info, io.BytesIO(body))
    return buffer.getvalue()


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


@pytest.mark.parametrize("kind", ["zstd", "gzip"])
def test_deb_bomb_is_refused_with_bounded_memory(kind: str, tmp_path: Path) -> None:
    """A .deb whose data.tar expands to 4 GiB (a file that is not a module, so it is skipped,
    which means decompressing through it): refused at the payload cap, memory stays small."""
    data = streamed(kind, tar_header("./usr/share/zeros", (4 << 30) - 1024), 4 << 30)
    suffix = {"zstd": ".zst", "gzip": ".gz"}[kind]
    deb = tmp_path / f"bomb-{kind}.deb"
    deb.write_bytes(ar([("debian-binary", b"2.0\n"), ("control.tar.gz", control_tar()), (f"data.tar{suffix}", data)]))
    peak, result = peak_rss_mib("inspect", str(deb))
    print(f"{kind} .deb bomb: {deb.stat().st_size} bytes, peak {peak} MiB: {result.stderr.strip()}")
    assert result.returncode == 2 and "decompresses to more than" in result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert peak < 300


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
    deb.write_bytes(ar([("debian-binary", b"2.0\n"), ("control.tar.gz", control_tar()), ("data.tar.zst", data)]))
    cache = tmp_path / "cache"
    result = kmodtui("kernels", "--from", str(deb), env={"KMODTUI_CACHE_DIR": str(cache),
                                                         "KMODTUI_CACHE_MAX_BYTES": str(64 << 20)})
    assert result.returncode == 2 and "more than" in result.stderr and "refus" in result.stderr, result.stderr
    left = [p for p in (cache / "kernels" / "root").rglob("*")]
    assert left == []  # the refused unpack was removed


def test_special_files_are_refused_with_one_line(tmp_path: Path) -> None:
    fifo = tmp_path / "m.ko"
    os.mkfifo(fifo)
    for path in (str(fifo), "/dev/zero"):
        result = subprocess.run([sys.executable, "-I", "-m", "kmodtui", "inspect", path], capture_output=True,
                                text=True, timeout=30)
        assert result.returncode == 2 and "kmodtui reads only regular files" in result.stderr, result.stderr
        assert result.stderr.count("\n") == 1


# ---- processes and state ----------------------------------------------------------------------

def test_a_detached_build_runs_this_kmodtui_whatever_folder_it_starts_in(installed_kernel, tmp_path: Path) -> None:
    """A folder holding kmodtui/__main__.py (or any kmodtui/ folder, like a clone's parent) used to
    run instead of kmodtui for detached builds, serve and the kernel hook."""
    from tests.realtools import EXAMPLES

    trap = tmp_path / "cwd"
    (trap / "kmodtui").mkdir(parents=True)
    marker = tmp_path / "HIJACKED"
    (trap / "kmodtui" / "__main__.py").write_text(f"open({str(marker)!r}, 'w').write('ran')\n")
    (trap / "kmodtui" / "__init__.py").write_text("")
    env = {"KMODTUI_STATE_DIR": str(tmp_path / "state")}
    code = ("import json, sys\nfrom kmodtui.core.build.job import start_detached\n"
            f"print(json.dumps(start_detached({str(EXAMPLES / 'provider')!r}, [{installed_kernel.release!r}], 'kbuild')))\n")
    # started the way the TUI starts it: from the launcher's own cwd, here the trap folder
    out = subprocess.run([sys.executable, "-I", "-c", code], cwd=trap, capture_output=True, text=True,
                         env={**os.environ, **env}, check=True)
    [record] = json.loads(out.stdout)
    import time

    from kmodtui.core.build.record import read_status
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and (read_status(record) or {}).get("state") == "running":
        time.sleep(0.3)
    assert not marker.exists()
    assert read_status(record)["state"] == "succeeded", (Path(record) / "work" / "build.log").read_text()[-2000:]


def test_hook_and_spec_generators_run_kmodtui_isolated() -> None:
    from kmodtui.core.paths import self_command
    from kmodtui.core.remedies.hooks import SCRIPT

    assert " -I -m kmodtui" in self_command() and "cd /" in SCRIPT


def test_status_writers_do_not_lose_each_others_fields(tmp_path: Path) -> None:
    """The launcher writes runner_pid while the runner writes its final state: both must survive."""
    from kmodtui.core.build import record as buildrecord

    record = tmp_path / "rec"
    record.mkdir()
    buildrecord.write_status(str(record), state="running", started=0.0)
    code = ("import sys\nfrom kmodtui.core.build import record as buildrecord\n"
            "for i in range(300):\n    buildrecord.write_status(sys.argv[1], **{sys.argv[2] + str(i): i})\n")
    procs = [subprocess.Popen([sys.executable, "-c", code, str(record), key], cwd=str(Path(__file__).parents[2]))
             for key in ("a", "b")]
    for proc in procs:
        assert proc.wait(timeout=120) == 0
    status = buildrecord.read_status(str(record))
    assert status is not None and all(f"{k}{i}" in status for k in "ab" for i in range(300))


def test_listing_builds_never_writes_died_and_a_starting_build_is_running(tmp_path: Path, monkeypatch) -> None:
    from kmodtui.core.build import record as buildrecord

    monkeypatch.setenv("KMODTUI_STATE_DIR", str(tmp_path / "state"))
    import time

    _, starting = buildrecord.new_build_dir("starting")
    buildrecord.write_status(starting, state="running", started=time.time(), launcher_pid=os.getpid())
    _, gone = buildrecord.new_build_dir("gone")
    buildrecord.write_status(gone, state="running", started=time.time() - 3600, runner_pid=2 ** 22 - 7)
    states = {os.path.basename(r["dir"]).split("-")[2]: r["state"] for r in buildrecord.list_builds()}
    assert states == {"starting": "running", "gone": "died"}
    assert buildrecord.read_status(gone)["state"] == "running"  # shown as died, not written


@pytest.mark.parametrize("pid", [-1, 0, 1, "12", True, 2 ** 22 - 7])
def test_cancel_never_signals_a_pid_that_is_not_a_kmodtui_runner(pid, tmp_path: Path) -> None:
    """runner_pid -1 used to mean kill(-1, SIGTERM): every process the user may signal."""
    from kmodtui.core.build import record as buildrecord

    assert buildrecord.stop({"state": "running", "runner_pid": pid}) is False


@pytest.mark.parametrize("content", ['{"state": "running", "runner_pid": -1}', '{"state": 5}',
                                     '{"state": "running", "artifacts": "x"}', '{"state": "bogus"}',
                                     '{"state": "succeeded", "findings": [1]}'])
def test_a_wrongly_typed_status_is_ignored_not_fatal(content: str, tmp_path: Path) -> None:
    state = tmp_path / "state"
    record = state / "builds" / "20260101-000000-bad-0000"
    record.mkdir(parents=True)
    (record / "status.json").write_text(content)
    result = kmodtui("builds", "--json", env={"KMODTUI_STATE_DIR": str(state)})
    assert result.returncode == 0 and json.loads(result.stdout)["builds"] == [], result.stderr


def test_sighup_of_a_foreground_build_stops_make_and_keeps_the_lock_until_then(installed_kernel, tmp_path: Path) -> None:
    import signal
    import time

    source = tmp_path / "slow"
    source.mkdir()
    (source / "Kbuild").write_text("obj-m := slow.o\n$(shell sleep 60)\n")
    (source / "slow.c").write_text("#error never compiled\n")
    env = {**os.environ, "KMODTUI_STATE_DIR": str(tmp_path / "state")}
    proc = subprocess.Popen([sys.executable, "-I", "-m", "kmodtui", "build", "-k", installed_kernel.release,
                             "-s", str(source), "--json"], stdout=subprocess.PIPE, text=True, env=env)
    assert proc.stdout is not None
    for line in proc.stdout:
        if '"phase"' in line:
            break
    time.sleep(1.0)
    sleepers = subprocess.run(["pgrep", "-f", "sleep 60"], capture_output=True, text=True).stdout.split()
    assert sleepers, "make's sleep did not start"
    proc.send_signal(signal.SIGHUP)
    proc.wait(timeout=30)
    time.sleep(0.3)
    alive = [p for p in sleepers if Path(f"/proc/{p}").exists()]
    assert alive == []  # make and its children were stopped before kmodtui let go


# ---- remedies, special files, output ----------------------------------------------------------

def test_import_namespace_remedy_ignores_link_loops_and_fifos(tmp_path: Path) -> None:
    source = tmp_path / "src"
    (source / "sub").mkdir(parents=True)
    (source / "sub" / "loop").symlink_to("..")  # glob("**") followed this forever
    os.mkfifo(source / "sub" / "pipe.c")  # and opened this, which blocks
    (source / "ns.c").write_text("#include <linux/module.h>\nMODULE_LICENSE(\"GPL\");\nint f(void) { return provider_ns_fn(); }\n")
    result = subprocess.run([sys.executable, "-I", "-m", "kmodtui", "remedy", "show", "import-namespace", "--target",
                             str(source), "--symbol", "provider_ns_fn", "--namespace", "KMODTUI_NS"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "MODULE_IMPORT_NS(KMODTUI_NS)" in result.stdout


def test_a_dkms_conf_index_of_5000_digits_is_one_note_not_an_internal_error(tmp_path: Path) -> None:
    source = tmp_path / "src"
    source.mkdir()
    (source / "dkms.conf").write_text('PACKAGE_NAME="x"\nPACKAGE_VERSION="1"\nBUILT_MODULE_NAME[' + "9" * 5000 + ']="x"\n')
    (source / "Kbuild").write_text("obj-m := x.o\n")
    result = kmodtui("source", str(source), "--json")
    assert result.returncode == 0, result.stderr
    assert any("digits" in note for note in json.loads(result.stdout)["build_time_only"])


def test_hostile_file_names_cannot_forge_a_line_or_drive_the_terminal(tmp_path: Path) -> None:
    name = tmp_path / "x\nkmodtui: all fine\x1b[2J.ko"
    name.write_bytes(b"not an ELF file")
    result = kmodtui("inspect", str(name))
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "\x1b" not in result.stderr
    assert "\\x0akmodtui: all fine\\x1b[2J.ko" in result.stderr


@pytest.mark.parametrize("path", ["/var/lib/dkms/zfs/2.1.11/source/dkms.conf", "/usr/lib64/rpm/find-provides",
                                  "/usr/libexec/rpm/find-provides.ksyms", "/usr/local/lib/rpm/macros",
                                  "/usr/src/zfs-2.1.11/dkms.conf", "/usr/src/linux-headers-6.1.0-56-amd64/Makefile"])
def test_system_paths_cover_dkms_and_package_trees(path: str) -> None:
    from kmodtui.core.remedies.edits import is_system_path

    assert is_system_path(path)


def test_a_package_owned_file_outside_the_usual_folders_is_a_system_file() -> None:
    from kmodtui.core.remedies.edits import package_owner

    require_tool("dpkg-query")
    assert package_owner("/usr/bin/dpkg") == "dpkg"
    assert package_owner("/tmp/nobody-owns-this") is None


def test_a_read_only_file_is_not_edited_even_as_root(tmp_path: Path) -> None:
    spec = tmp_path / "p.spec"
    spec.write_text("Name: p\n%prep\n")
    spec.chmod(0o444)
    result = kmodtui("remedy", "apply", "spec-external-depgen", "--target", str(spec), "--yes",
                     env={"KMODTUI_STATE_DIR": str(tmp_path / "state")})
    assert result.returncode == 2 and "read-only" in result.stderr
    assert spec.read_text() == "Name: p\n%prep\n"


def test_a_symlinked_target_is_edited_at_the_links_target_and_stays_a_link(tmp_path: Path) -> None:
    real = tmp_path / "real.spec"
    real.write_text("Name: p\n%prep\n")
    link = tmp_path / "link.spec"
    link.symlink_to("real.spec")
    env = {"KMODTUI_STATE_DIR": str(tmp_path / "state")}
    result = kmodtui("remedy", "apply", "spec-external-depgen", "--target", str(link), "--yes", "--json", env=env)
    assert result.returncode == 0, result.stderr
    assert link.is_symlink() and "_use_internal_dependency_generator 0" in real.read_text()
    undo_id = json.loads(result.stdout)["applied"]
    assert kmodtui("remedy", "undo", undo_id, env=env).returncode == 0
    assert link.is_symlink() and real.read_text() == "Name: p\n%prep\n"


@pytest.mark.parametrize("point", ["after-backups", "before-rename"])
def test_an_interrupted_remedy_leaves_no_phantom_record_and_no_temp_file(point: str, tmp_path: Path) -> None:
    spec = tmp_path / "p.spec"
    spec.write_text("Name: p\n%prep\n")
    env = {"KMODTUI_STATE_DIR": str(tmp_path / "state")}
    crashed = kmodtui("remedy", "apply", "spec-external-depgen", "--target", str(spec), "--yes",
                      env={**env, "KMODTUI_CRASH_AT": point})
    assert crashed.returncode == -9
    history = kmodtui("remedy", "history", "--json", env=env)
    assert history.returncode == 0, history.stderr
    assert json.loads(history.stdout)["applied"] == []  # nothing was applied: no "applied" record
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.spec", "state"]  # the temp file is gone
    assert spec.read_text() == "Name: p\n%prep\n"


@pytest.mark.parametrize("content", ['{"files": 5}', '{"files": [{"path": 1}]}', '[]', '{"remedy": [], "files": []}'])
def test_a_wrongly_typed_manifest_does_not_break_the_history(content: str, tmp_path: Path) -> None:
    state = tmp_path / "state"
    record = state / "remedies" / "20260101-000000-x-1"
    record.mkdir(parents=True)
    (record / "manifest.json").write_text(content)
    result = kmodtui("remedy", "history", "--json", env={"KMODTUI_STATE_DIR": str(state)})
    assert result.returncode == 0 and json.loads(result.stdout)["applied"] == [], result.stderr


def test_a_new_signing_key_is_private_whatever_the_umask(tmp_path: Path) -> None:
    require_tool("openssl")
    from kmodtui.core.lifecycle.signing import make_signing_key

    old = os.umask(0)
    try:
        key, cert = make_signing_key(str(tmp_path / "keys"))
    finally:
        os.umask(old)
    assert (tmp_path / "keys").stat().st_mode & 0o777 == 0o700
    assert Path(key).stat().st_mode & 0o777 == 0o600
