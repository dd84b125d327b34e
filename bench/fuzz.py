#!/usr/bin/env python3
"""Fuzz every parser of untrusted input with mutated real inputs (default 100k cases each).

Seeds are made here with the real tools (kbuild, rpmbuild, dpkg-deb) as in the tests. A case
passes when the parser returns or raises KmodError naming the file; anything else is saved to
tests/fuzz_corpus/<parser>--<sha1> and counted. Exit 1 when anything was found.

Every kind runs in a process of its own (its peak resident size is printed), each case under a
10 s watchdog (a case still running then ends the run with its traceback; --replay N makes it again).

Usage: python3 bench/fuzz.py [--cases 100000] [--parser ko ...] [--seed 1] [--replay N]
       python3 bench/fuzz.py --archives [--cases 10000]   hostile tar/.deb unpacks, bombs and metadata
                                                          bombs (tests/archivefuzz.py): escapes,
                                                          slow cases, peak memory
"""

from __future__ import annotations

import argparse
import hashlib
import random
import sys
import tempfile
import time
import traceback
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from kmodtui.core.errors import KmodError  # noqa: E402
from kmodtui.core.kernels.discover import discover_kernels  # noqa: E402
from kmodtui.core.parsers import PARSERS  # noqa: E402
from tests.fuzzseeds import make_seeds  # noqa: E402
from tests.realtools import build_examples  # noqa: E402

CORPUS = REPO / "tests" / "fuzz_corpus"


def mutate(rng: random.Random, data: bytes) -> bytes:
    buf = bytearray(data)
    for _ in range(rng.choice((1, 1, 2, 4, 16))):
        if not buf:
            break
        kind = rng.random()
        at = rng.randrange(len(buf))
        if kind < 0.5:
            buf[at] = rng.randrange(256)
        elif kind < 0.65:
            buf[at:at + 4] = rng.choice((b"\xff\xff\xff\xff", b"\0\0\0\0", b"\x7f\xff\xff\xff"))
        elif kind < 0.8:
            del buf[at:at + rng.randrange(1, 64)]
        elif kind < 0.9:
            buf[at:at] = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 32)))
        else:
            buf = buf[:at]
    return bytes(buf)


CASE_LIMIT = 10.0  # seconds: a case still running then is a finding (the process is ended, its case named)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--parser", action="append", choices=sorted(PARSERS))
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--archives", action="store_true", help="fuzz unpacking instead of the parsers")
    parser.add_argument("--child", help=argparse.SUPPRESS)  # one kind, in a process of its own
    parser.add_argument("--seeds", help=argparse.SUPPRESS)
    parser.add_argument("--replay", type=int, metavar="CASE", help="run only case CASE of one --parser (after a hang)")
    args = parser.parse_args()
    if args.child:
        return fuzz_one_kind(args.child, Path(args.seeds), args.cases, args.seed, args.replay)
    if args.archives:
        return run_children([f"archive-{k}" for k in ARCHIVE_KINDS], None, args.cases, args.seed)
    kernels = [k for k in discover_kernels("/") if k.symvers_path]
    if not kernels:
        sys.exit("needs installed kernel headers (apt-get install linux-headers-amd64)")
    kernel = kernels[0]
    with tempfile.TemporaryDirectory(prefix="kmodtui-fuzz-") as tmp:
        built = build_examples(kernel.build_dir, kernel.release, Path(tmp) / "kbuild")
        seeds = make_seeds(built, kernel.symvers_path, kernel.release, Path(tmp) / "seeds")
        seed_dir = Path(tmp) / "by-kind"
        for name, pool in seeds.items():
            (seed_dir / name).mkdir(parents=True)
            for i, data in enumerate(pool):
                (seed_dir / name / str(i)).write_bytes(data)
        kinds = args.parser or sorted(PARSERS)
        if args.replay is not None:
            return fuzz_one_kind(kinds[0], seed_dir, args.cases, args.seed, args.replay)
        return run_children(kinds, seed_dir, args.cases, args.seed)


def run_children(kinds: list[str], seed_dir: Path | None, cases: int, seed: int) -> int:
    """Each kind in a fresh process, so that its peak resident size is its own (os.wait4)."""
    import os
    import subprocess

    bad = 0
    for kind in kinds:
        argv = [sys.executable, __file__, "--child", kind, "--seeds", str(seed_dir or ""), "--cases", str(cases),
                "--seed", str(seed)]
        proc = subprocess.Popen(argv)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        print(f"{'':13} peak RSS of this kind's process: {usage.ru_maxrss // 1024} MiB"
              + ("" if proc.returncode == 0 else f"  (exit {proc.returncode})"), flush=True)
        bad += proc.returncode != 0
    return 1 if bad else 0


def fuzz_one_kind(name: str, seed_dir: Path, cases: int, seed: int, replay: int | None = None) -> int:
    """Case i of a kind is made from its own Random, so any case can be made again (--replay i)."""
    import faulthandler
    import os

    if name.startswith("archive-"):
        return fuzz_archives(name.removeprefix("archive-"), cases, seed)
    parse = PARSERS[name]
    pool = [(seed_dir / name / f).read_bytes() for f in sorted(os.listdir(seed_dir / name), key=int)]
    progress = seed_dir.parent / f"progress-{name}"
    found = 0
    slowest = 0.0
    start = time.perf_counter()
    for case in ([replay] if replay is not None else range(cases)):
        rng = random.Random(f"{seed}-{name}-{case}")
        data = mutate(rng, rng.choice(pool))
        progress.write_text(str(case))
        # a C thread: it fires even while a regex or a decompressor holds the interpreter
        faulthandler.dump_traceback_later(CASE_LIMIT, exit=True)
        began = time.perf_counter()
        try:
            parse(data, f"fuzz.{name}")
        except KmodError as err:
            if not str(err).startswith(f"fuzz.{name}: "):
                found += 1
        except Exception:  # the bug being hunted: save the input and go on
            found += 1
            CORPUS.mkdir(exist_ok=True)
            digest = hashlib.sha1(data).hexdigest()[:16]
            (CORPUS / f"{name}--{digest}").write_bytes(data)
            if found <= 3:
                print(f"  {name}: {traceback.format_exc().splitlines()[-1]}", file=sys.stderr)
        finally:
            faulthandler.cancel_dump_traceback_later()
        slowest = max(slowest, time.perf_counter() - began)
    elapsed = time.perf_counter() - start
    print(f"{name:13} {cases:>8} cases  {cases / elapsed:9,.0f}/s  unhandled: {found}  "
          f"slowest case: {slowest * 1000:.1f} ms", flush=True)
    return 1 if found else 0


ARCHIVE_KINDS = ("tar", "deb", "bomb", "meta")


def fuzz_archives(kind: str, cases: int, seed: int) -> int:
    import faulthandler

    from tests.archivefuzz import Sandbox, run_case

    rng = random.Random(f"{seed}-{kind}")
    with tempfile.TemporaryDirectory(prefix="kmodtui-archfuzz-") as tmp:
        sandbox = Sandbox(Path(tmp))
        outcomes: dict[str, int] = {}
        escapes = 0
        slowest = 0.0
        start = time.perf_counter()
        for _ in range(cases):
            faulthandler.dump_traceback_later(CASE_LIMIT, exit=True)
            began = time.perf_counter()
            try:
                outcome, problems = run_case(sandbox, kind, rng)
            except Exception:  # not KmodError: an unhandled error is a finding too
                outcome, problems = "unhandled", [traceback.format_exc().splitlines()[-1]]
            finally:
                faulthandler.cancel_dump_traceback_later()
            slowest = max(slowest, time.perf_counter() - began)
            outcomes[outcome] = outcomes.get(outcome, 0) + 1
            if problems:
                escapes += 1
                if escapes <= 3:
                    print(f"  {kind}: {problems[:2]}", file=sys.stderr)
                sandbox.before = sandbox.snapshot()
        elapsed = time.perf_counter() - start
        print(f"archive-{kind:5} {cases:>8} cases  {cases / elapsed:7,.0f}/s  "
              + "  ".join(f"{k}: {v}" for k, v in sorted(outcomes.items()))
              + f"  problems: {escapes}  slowest case: {slowest:.2f} s", flush=True)
    return 1 if escapes + outcomes.get("unhandled", 0) else 0

if __name__ == "__main__":
    sys.exit(main())
