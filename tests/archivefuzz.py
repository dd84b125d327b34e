"""Hostile archives, generated: link tricks, `..`, deep folders, many members of every type, bombs.

Each case is a tar (and the same wrapped as a .deb) of random members drawn from the tricks people
use against unpackers. It is unpacked by kmodtui's SafeWriter into <sandbox>/target, then
make_buildable runs over it (the one place that rewrites files in an unpacked tree); the case passes
when nothing outside the target changed, no link left inside resolves outside it, and the unpack
either succeeded or raised KmodError. "meta" cases are .debs whose tar metadata is the weapon
(tests/metabombs.py: pax and GNU long-name records up to 600 MiB, CVE-2024-6232's digits, chains of
extension headers, lying number fields, folder chains up to 1,300 deep, many small module bombs):
each is both unpacked and read as `inspect` reads it, and must also end within MAX_CASE_SECONDS.
Used by bench/fuzz.py --archives (10k cases each) and, as a slice, by tests/core/test_fuzz.py.
"""

from __future__ import annotations

import glob
import io
import os
import random
import tarfile
import time
import zlib
from pathlib import Path

from kmodtui.core.compression import WorkBudget
from kmodtui.core.errors import KmodError
from kmodtui.core.kernels.unpack import make_buildable
from kmodtui.core.packages.archive import extract_package, write_tar_member
from kmodtui.core.packages.read import read_package
from kmodtui.core.packages.safewrite import SafeWriter
from kmodtui.core.packages.tarstream import tar_members
from kmodtui.core.trees import remove_tree, walk

NAMES = ["a", "b", "s", "usr", "src", "d1", "d2", "linux-headers-x", "linux-headers-x-common", "Makefile", "scripts"]
TARGETS = ["/", "..", "../..", "../../..", ".", "/etc", "/usr/src", "a/../..", "s/../../..", "d1/d2/s/../../../outside",
           "../outside/victim", "/../outside", "usr/src/../../..", "linux-headers-x/../../../outside", "s/s/s/..",
           "../../lib/linux-kbuild-6.1/scripts", "/usr/lib/linux-kbuild-6.1/../../../outside", ""]


def _path(rng: random.Random, climb: bool) -> str:
    parts = [rng.choice(NAMES) for _ in range(rng.randrange(1, 5))]
    if rng.random() < 0.5:
        parts = ["usr", "src"] + parts
    if climb and rng.random() < 0.005:
        parts.insert(rng.randrange(len(parts) + 1), "..")
    return ("./" if rng.random() < 0.5 else "") + "/".join(parts)


def _target(rng: random.Random) -> str:
    if rng.random() < 0.6:
        return rng.choice(TARGETS)
    return "/".join(rng.choice(NAMES + ["..", "..", "."]) for _ in range(rng.randrange(1, 7)))


def make_case(rng: random.Random) -> bytes:
    """A tar (uncompressed) of 1-40 hostile members."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for _ in range(rng.randrange(1, 40)):
            kind = rng.random()
            info = tarfile.TarInfo(_path(rng, climb=True))
            if kind < 0.25:
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            elif kind < 0.5:
                body = b"include /usr/src/linux-headers-x-common/Makefile\n" if rng.random() < 0.5 else b"x" * rng.randrange(64)
                info.size = len(body)
                tar.addfile(info, io.BytesIO(body))
            elif kind < 0.85:
                info.type, info.linkname = tarfile.SYMTYPE, _target(rng)
                tar.addfile(info)
            elif kind < 0.95:
                info.type = tarfile.LNKTYPE
                info.linkname = "../outside/victim" if rng.random() < 0.05 else _path(rng, climb=True)
                tar.addfile(info)
            else:
                info.type = rng.choice([tarfile.FIFOTYPE, tarfile.CHRTYPE, tarfile.BLKTYPE])
                tar.addfile(info)
    return buffer.getvalue()


def as_deb(tar: bytes, rng: random.Random) -> bytes:
    """The tar as a .deb's data member, compressed one of the ways dpkg-deb does."""
    kind = rng.choice(["gz", "xz", "zst", ""])
    if kind == "gz":
        c = zlib.compressobj(6, zlib.DEFLATED, 31)
        data = c.compress(tar) + c.flush()
    elif kind == "xz":
        import lzma

        data = lzma.compress(tar, preset=0)
    elif kind == "zst":
        import zstandard

        data = zstandard.ZstdCompressor().compress(tar)
    else:
        data = tar
    return ar([("debian-binary", b"2.0\n"), ("control.tar.gz", control_tar("fuzz")),
               ("data.tar" + (f".{kind}" if kind else ""), data)])


def ar(members: list[tuple[str, bytes]]) -> bytes:
    """An ar archive (a .deb's container) of these members, as `ar rc` lays it out."""
    out = bytearray(b"!<arch>\n")
    for name, content in members:
        out += f"{name:<16}{0:<12}{0:<6}{0:<6}{100644:<8}{len(content):<10}`\n".encode()
        out += content + (b"\n" if len(content) & 1 else b"")
    return bytes(out)


def control_tar(package: str) -> bytes:
    """A .deb's control.tar.gz with a minimal control file."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        body = f"Package: {package}\nVersion: 1\nArchitecture: all\nDescription: x\n".encode()
        info = tarfile.TarInfo("./control")
        info.size = len(body)
        tar.addfile(info, io.BytesIO(body))
    return buffer.getvalue()


_BOMBS: dict[tuple[int, str], bytes] = {}


def make_bomb(rng: random.Random) -> bytes:
    """A .deb whose data.tar holds one file of 8-64 MiB of zeros (unpacked with a 4 MiB budget);
    eight sizes, each compressed once, under one of a few names."""
    key = (rng.randrange(8), rng.choice(["usr/src/z", "./a/b/zeros", "usr/src/linux-headers-x/Makefile"]))
    if key not in _BOMBS:
        _BOMBS[key] = _bomb((8 + 7 * key[0]) << 20, key[1])
    return _BOMBS[key]


def _bomb(size: int, name: str) -> bytes:
    c = zlib.compressobj(1, zlib.DEFLATED, 31)
    info = tarfile.TarInfo(name)
    info.size = size
    chunk = b"\0" * (1 << 20)
    data = c.compress(info.tobuf(format=tarfile.GNU_FORMAT)) + b"".join(c.compress(chunk) for _ in range(size >> 20))
    data += c.flush()
    return ar([("debian-binary", b"2.0\n"), ("data.tar.gz", data)])


class Sandbox:
    """<dir>/outside holds a victim folder with a Makefile and scripts link (what an escaping link
    would aim at); <dir>/target is where each case unpacks."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.outside = base / "outside"
        (self.outside / "victim").mkdir(parents=True, exist_ok=True)
        (self.outside / "victim" / "Makefile").write_text("include /usr/src/linux-headers-x-common/Makefile\n")
        if not (self.outside / "victim" / "scripts").is_symlink():
            os.symlink("../../lib/linux-kbuild-6.1/scripts", self.outside / "victim" / "scripts")
        self.target = base / "target"
        self.before = self.snapshot()

    def snapshot(self) -> dict[str, object]:
        out: dict[str, object] = {}
        for dirpath, dirnames, filenames in walk(str(self.base)):
            if Path(dirpath).is_relative_to(self.target):
                dirnames[:] = []
                continue
            for name in dirnames + filenames:
                path = Path(dirpath, name)
                if path == self.target or path.is_relative_to(self.target) or name.startswith("case"):
                    continue
                out[str(path)] = os.readlink(path) if path.is_symlink() else path.read_bytes() if path.is_file() else "d"
        return out

    def escapes(self) -> list[str]:
        """What is wrong after a case: changes outside the target, links inside that lead out."""
        problems = []
        if self.snapshot() != self.before:
            problems.append("something outside the target changed")
        real_target = os.path.realpath(self.target)
        for dirpath, dirnames, filenames in walk(str(self.target)):
            for name in dirnames + filenames:
                path = os.path.join(dirpath, name)
                if os.path.islink(path):
                    target = os.readlink(path)
                    if name.startswith("linux-kbuild-") and target == "/usr/lib/" + name:
                        continue  # make_buildable's link to this host's kbuild tools
                    real = os.path.realpath(path)
                    if real.startswith("/usr/lib/linux-kbuild-") and ".." not in target.split("/")[2:]:
                        continue  # a Debian headers link to kbuild's tools, through make_buildable's link
                    if not (real == real_target or real.startswith(real_target + os.sep)):
                        problems.append(f"link {os.path.relpath(path, self.target)} -> {target} leads to {real}")
        return problems

    def reset(self) -> None:
        remove_tree(self.target)


MAX_CASE_SECONDS = 10.0  # a metadata case is refused (or read) in well under a second; this is the alarm
_MODULE: list[bytes | None] = []


def a_real_module() -> bytes | None:
    """One module of this machine's kernel (for the module bombs), or None where there is none."""
    if not _MODULE:
        found = sorted(glob.glob("/lib/modules/*/kernel/fs/*/*.ko"))
        _MODULE.append(Path(found[0]).read_bytes() if found else None)
    return _MODULE[0]


def run_meta_case(sandbox: Sandbox, rng: random.Random) -> tuple[str, list[str]]:
    """A metadata bomb, unpacked (4 MiB budget) and read for inspection (64 MiB work budget)."""
    from tests.metabombs import metadata_bomb

    shape, data = metadata_bomb(rng, a_real_module())
    path = sandbox.base / "case.deb"
    path.write_bytes(ar([("debian-binary", b"2.0\n"), ("control.tar.gz", control_tar("meta")), ("data.tar.zst", data)]))
    outcome = "ok"
    started = time.monotonic()
    for step in (lambda: extract_package(path, sandbox.target, 4 << 20),
                 lambda: read_package(path, WorkBudget(path, 64 << 20))):
        try:
            step()
        except KmodError:
            outcome = "refused"
    problems = sandbox.escapes()
    took = time.monotonic() - started
    if took > MAX_CASE_SECONDS:
        problems.append(f"{shape}: took {took:.1f} s")
    return outcome, problems


def run_case(sandbox: Sandbox, kind: str, rng: random.Random) -> tuple[str, list[str]]:
    """One case: 'tar', 'deb', 'bomb' or 'meta'. Returns (outcome, problems)."""
    if kind == "meta":
        sandbox.reset()
        return run_meta_case(sandbox, rng)
    sandbox.reset()
    outcome = "ok"
    try:
        if kind == "tar":
            with SafeWriter(sandbox.target, "fuzz.tar") as writer:
                for member, body in tar_members(io.BytesIO(make_case(rng)), "fuzz.tar"):
                    write_tar_member(writer, member, body)
        else:
            path = sandbox.base / "case.deb"
            path.write_bytes(as_deb(make_case(rng), rng) if kind == "deb" else make_bomb(rng))
            extract_package(path, sandbox.target, 4 << 20)
        if sandbox.target.is_dir():
            make_buildable(str(sandbox.target))
    except KmodError:
        outcome = "refused"
    return outcome, sandbox.escapes()
