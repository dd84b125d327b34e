"""The C reader's boundary: kscan.py loads only a library that speaks its ABI, and the C files, built
with AddressSanitizer and UBSan, read thousands of mutated modules and symvers through every entry
point that takes untrusted bytes (in memory, from a file descriptor with pread, as symvers) without
a single report. Hermetic: the seeds are assembled with `as` and written here, no kernel headers."""

from __future__ import annotations

import os
import random
import subprocess
from pathlib import Path

import pytest

from kmodtui.core.elf import kscan
from tests.realtools import require_tool, run_ok
from tests.synthetic import assemble_module

ELF_DIR = Path(kscan.__file__).parent
C_FILES = sorted(str(p) for p in ELF_DIR.glob("kscan_*.c"))
HARNESS = Path(__file__).parent.parent / "native" / "kscan_harness.c"
CASES = int(os.environ.get("KSCAN_SANITIZER_CASES", "10000"))


def _compile_library(tmp_path: Path, body: str) -> str:
    source = tmp_path / "fake.c"
    source.write_text(body)
    out = tmp_path / "_kscan.so"
    run_ok([require_tool("cc"), "-shared", "-fPIC", "-o", str(out), str(source)])
    return str(out)


def test_only_this_interpreters_build_is_looked_for() -> None:
    from importlib.machinery import EXTENSION_SUFFIXES

    assert kscan.library_path() == str(ELF_DIR / ("_kscan" + EXTENSION_SUFFIXES[0]))


def test_a_library_of_another_abi_is_not_loaded(tmp_path: Path) -> None:
    path = _compile_library(tmp_path, "unsigned kmodtui_kscan_abi(void) { return 999; }\n")
    assert kscan._load(path) is None
    assert f"ABI 999, this kmodtui {kscan.ABI}" in kscan.why_not()


def test_a_library_from_before_the_handshake_is_not_loaded(tmp_path: Path) -> None:
    path = _compile_library(tmp_path, "long kmodtui_scan_buffer(void) { return -1; }\n")
    assert kscan._load(path) is None
    assert "reinstall kmodtui" in kscan.why_not()


def test_the_installed_library_speaks_this_abi() -> None:
    if not os.path.exists(kscan.library_path()):
        pytest.skip("the C scanner was not built here (no C compiler at install time)")
    assert kscan._load(kscan.library_path()) is not None


def _seeds(tmp_path: Path) -> list[bytes]:
    versions = [("printk", 0x12345678), ("a_long_symbol_name_" + "x" * 40, 0xDEADBEEF), ("kfree", 0x1)]
    exports = [("provider_fn", 0xF96CAA5E), ("other_fn", 0x0BADF00D)]
    seeds = []
    for bits, layout in ((64, "classic"), (32, "classic"), (64, "ubuntu"), (64, "extended")):
        folder = tmp_path / f"{bits}-{layout}"
        folder.mkdir()
        ko = assemble_module(folder, "seed", bits=bits, versions=versions, exports=exports,
                             undefined=["printk"], layout=layout)
        seeds.append(ko.read_bytes())
    rows = [f"0x{i * 2654435761 & 0xFFFFFFFF:08x}\tsym_{i}\tdrivers/x/m{i % 7}\tEXPORT_SYMBOL{'_GPL' * (i % 2)}"
            f"\t{'NS' if i % 3 == 0 else ''}" for i in range(200)]
    seeds.append(("\n".join(rows) + "\n").encode())
    seeds.append(("\n".join(r.rsplit("\t", 1)[0] for r in rows) + "\n").encode())
    return seeds


def _mutate(rng: random.Random, data: bytes) -> bytes:
    buf = bytearray(data)
    for _ in range(rng.randint(1, 12)):
        at = rng.randrange(len(buf))
        choice = rng.random()
        if choice < 0.5:
            buf[at] = rng.choice([0, 1, 0x7F, 0x80, 0xFF, 0x09, 0x0A, rng.randrange(256)])
        elif choice < 0.8:  # a 32-bit field set to something large or small
            buf[at : at + 4] = rng.choice([b"\xff\xff\xff\xff", b"\x00\x00\x00\x80", b"\x00\x00\x00\x00",
                                           rng.randbytes(4)])
        else:
            buf[at : at + 8] = rng.randbytes(8)
    if rng.random() < 0.2:
        buf = buf[: rng.randrange(len(buf) + 1)]
    return bytes(buf)


@pytest.mark.heavy  # seconds: not in --quick (README)
def test_the_c_reader_under_sanitizers_reads_mutated_inputs_cleanly(tmp_path: Path) -> None:
    cc = require_tool("cc")
    harness = tmp_path / "kscan_harness"
    build = subprocess.run([cc, "-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-fno-omit-frame-pointer",
                            "-g", "-O1", "-std=c99", "-D_DEFAULT_SOURCE", f"-I{ELF_DIR}", "-o", str(harness),
                            str(HARNESS), *C_FILES], capture_output=True, text=True)
    assert build.returncode == 0, build.stderr
    rng = random.Random(20261206)
    seeds = _seeds(tmp_path)
    cases = tmp_path / "cases"
    cases.mkdir()
    names = []
    for i in range(CASES):
        path = cases / f"{i:05d}"
        path.write_bytes(_mutate(rng, seeds[i % len(seeds)]) if i >= len(seeds) else seeds[i])
        names.append(path.name)
    env = dict(os.environ, ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:exitcode=86",
               UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:exitcode=87")
    result = subprocess.run([str(harness), *names], cwd=cases, capture_output=True, text=True, env=env,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-4000:]
    assert f"{CASES} files" in result.stdout
    modules = int(result.stdout.split(",")[1].split()[0])
    assert modules >= len(seeds) - 2  # the seeds themselves, and mutants that stayed readable, went the whole way
