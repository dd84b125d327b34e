#!/usr/bin/env python3
"""Fuzz every parser of untrusted input with mutated real inputs (default 100k cases each).

Seeds are made here with the real tools (kbuild, rpmbuild, dpkg-deb) as in the tests. A case
passes when the parser returns or raises KmodError naming the file; anything else is saved to
tests/fuzz_corpus/<parser>--<sha1> and counted. Exit 1 when anything was found.

Usage: python3 bench/fuzz.py [--cases 100000] [--parser ko ...] [--seed 1]
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


def main() -> int:
    import resource

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--parser", action="append", choices=sorted(PARSERS))
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--archives", action="store_true", help="fuzz unpacking instead of the parsers")
    args = parser.parse_args()
    if args.archives:
        return fuzz_archives(args.cases, args.seed)
    kernels = [k for k in discover_kernels("/") if k.symvers_path]
    if not kernels:
        sys.exit("needs installed kernel headers (apt-get install linux-headers-amd64)")
    kernel = kernels[0]
    rng = random.Random(args.seed)
    found_total = 0
    with tempfile.TemporaryDirectory(prefix="kmodtui-fuzz-") as tmp:
        built = build_examples(kernel.build_dir, kernel.release, Path(tmp) / "kbuild")
        seeds = make_seeds(built, kernel.symvers_path, kernel.release, Path(tmp) / "seeds")
        for name in args.parser or sorted(PARSERS):
            parse = PARSERS[name]
            found = 0
            slowest = 0.0
            start = time.perf_counter()
            for _ in range(args.cases):
                data = mutate(rng, rng.choice(seeds[name]))
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
                slowest = max(slowest, time.perf_counter() - began)
            elapsed = time.perf_counter() - start
            found_total += found
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
            print(f"{name:13} {args.cases:>8} cases  {args.cases / elapsed:9,.0f}/s  unhandled: {found}  "
                  f"slowest: {slowest * 1000:.1f} ms  peak RSS so far: {peak} MiB")
    return 1 if found_total else 0


def fuzz_archives(cases: int, seed: int) -> int:
    import resource

    from tests.archivefuzz import Sandbox, run_case

    rng = random.Random(seed)
    bad = 0
    with tempfile.TemporaryDirectory(prefix="kmodtui-archfuzz-") as tmp:
        sandbox = Sandbox(Path(tmp))
        for kind in ("tar", "deb", "bomb", "meta"):
            outcomes: dict[str, int] = {}
            escapes = 0
            slowest = 0.0
            start = time.perf_counter()
            for _ in range(cases):
                began = time.perf_counter()
                try:
                    outcome, problems = run_case(sandbox, kind, rng)
                except Exception:  # not KmodError: an unhandled error is a finding too
                    outcome, problems = "unhandled", [traceback.format_exc().splitlines()[-1]]
                slowest = max(slowest, time.perf_counter() - began)
                outcomes[outcome] = outcomes.get(outcome, 0) + 1
                if problems:
                    escapes += 1
                    if escapes <= 3:
                        print(f"  {kind}: {problems[:2]}", file=sys.stderr)
                    sandbox.before = sandbox.snapshot()
            elapsed = time.perf_counter() - start
            bad += escapes + outcomes.get("unhandled", 0)
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
            print(f"archive-{kind:5} {cases:>8} cases  {cases / elapsed:7,.0f}/s  "
                  + "  ".join(f"{k}: {v}" for k, v in sorted(outcomes.items()))
                  + f"  problems: {escapes}  slowest case: {slowest:.2f} s  peak RSS so far: {peak} MiB")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
