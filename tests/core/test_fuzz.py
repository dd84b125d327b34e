"""Every parser of untrusted input, fed mutated real inputs: it returns or raises KmodError naming
the file, never anything else. (bench/fuzz.py runs 100k cases per parser; this is the CI slice.)"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kmodtui.core.errors import KmodError
from kmodtui.core.parsers import PARSERS
from tests.fuzzseeds import make_seeds

CORPUS = Path(__file__).parent.parent / "fuzz_corpus"


@pytest.fixture(scope="module")
def seeds(built, installed_kernel, tmp_path_factory) -> dict[str, list[bytes]]:
    return make_seeds(built, installed_kernel.symvers_path, installed_kernel.release, tmp_path_factory.mktemp("seeds"))


def mutate(data: bytes, edits: list[tuple[int, int]], cut: int | None, junk: bytes) -> bytes:
    buf = bytearray(data)
    for position, value in edits:
        if buf:
            buf[position % len(buf)] = value
    if cut is not None and buf:
        buf = buf[: cut % (len(buf) + 1)]
    if junk and buf:
        at = len(junk) * 7919 % len(buf)
        buf[at:at] = junk
    return bytes(buf)


def check(parser: str, data: bytes) -> None:
    try:
        PARSERS[parser](data, f"fuzz.{parser}")
    except KmodError as err:
        assert str(err).startswith(f"fuzz.{parser}: "), str(err)


@pytest.mark.parametrize("parser", sorted(PARSERS))
def test_mutated_real_inputs_fail_only_with_kmod_error(parser: str, seeds: dict[str, list[bytes]]) -> None:
    @settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(st.integers(0, 10), st.lists(st.tuples(st.integers(0, 1 << 30), st.integers(0, 255)), max_size=24),
           st.one_of(st.none(), st.integers(0, 1 << 30)), st.binary(max_size=64))
    def run(which: int, edits: list[tuple[int, int]], cut: int | None, junk: bytes) -> None:
        pool = seeds[parser]
        check(parser, mutate(pool[which % len(pool)], edits, cut, junk))

    run()


@pytest.mark.parametrize("crasher", sorted(p.name for p in CORPUS.glob("*--*")))
def test_known_crashers_stay_fixed(crasher: str) -> None:
    parser = crasher.split("--")[0]
    check(parser, (CORPUS / crasher).read_bytes())


@pytest.mark.heavy  # seconds: not in --quick (README)
@pytest.mark.parametrize("kind", ["tar", "deb", "bomb", "meta"])
def test_hostile_archives_never_escape(kind: str, tmp_path: Path) -> None:
    """A slice of bench/fuzz.py --archives: generated link tricks, `..`, members of every type,
    bombs and metadata bombs, unpacked and then made buildable; nothing outside the target may
    change, and no metadata bomb may take long."""
    import random

    from tests.archivefuzz import Sandbox, run_case

    rng = random.Random(f"{kind}-20")
    sandbox = Sandbox(tmp_path)
    outcomes = {"ok": 0, "refused": 0}
    for _ in range({"bomb": 20, "meta": 40}.get(kind, 150)):
        outcome, problems = run_case(sandbox, kind, rng)
        assert problems == [], problems
        outcomes[outcome] += 1
    assert outcomes["refused"] > 0 and (outcomes["ok"] > 0 or kind == "bomb")
