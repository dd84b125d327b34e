"""Security round 2, items 5 and 13: every regular expression kmodtui runs over untrusted text (logs,
META, dkms.conf, specs, symvers, package file lists, release strings, module sources) ends in time
proportional to its input, and that input is cut before the expression sees it.

The patterns are found by themselves (tests/regexpumps.py): a new one is pumped as soon as it is
written. Before the fix, 41 of them ran past their budget (0.5 s for 128 KB, 0.52 s for 256 KB:
quadratic), and `kmodtui diagnose` on one 320 KB line of an unterminated OSC ran 24 s."""

from __future__ import annotations

import gzip
import json
import os
import signal
import subprocess
import sys
import time
import zlib
from pathlib import Path
from typing import Any

import pytest

from tests.regexpumps import DYNAMIC, all_patterns, hostile_strings, inline_patterns, run

PATTERNS = all_patterns()
PER_CHARACTER = 2e-6  # seconds, at least 0.5 (a 128 KB string: 0.5 s; quadratic: seconds to hours)


class _TooSlow(Exception):
    pass


def _alarm(_signum: int, _frame: Any) -> None:
    raise _TooSlow  # the regex engine checks for signals while it runs, so this stops a runaway search


def test_the_inventory_finds_every_regex_and_names_every_built_one() -> None:
    """The table of log rules (read by diagnose and the build screen) and the inline calls are all found;
    a pattern built at run time must be listed in regexpumps.DYNAMIC with why it is safe (a new one fails here)."""
    from kmodtui.core.diagnose.rules import RULES

    wheres = [where for where, _, _ in PATTERNS]
    pumped = {pattern.pattern for _, pattern, _ in PATTERNS}
    assert len(RULES) >= 75 and all(rule.pattern.pattern in pumped for rule in RULES)
    assert any("sources._META_LINE" in w for w in wheres) and any("scan._ANSI" in w for w in wheres)
    _, dynamic = inline_patterns()
    assert set(dynamic) == set(DYNAMIC), "a regex built at run time: pump it, or say in DYNAMIC why it is safe"


@pytest.mark.heavy
@pytest.mark.parametrize("where, pattern, how", PATTERNS, ids=[p[0] for p in PATTERNS])
def test_every_regex_ends_in_linear_time_on_hostile_input(where: str, pattern: Any, how: str) -> None:
    slow = []
    previous = signal.signal(signal.SIGALRM, _alarm)
    try:
        for what, text in hostile_strings(pattern):
            budget = max(0.5, PER_CHARACTER * len(text))
            started = time.perf_counter()
            signal.setitimer(signal.ITIMER_REAL, budget)
            try:
                run(pattern, how, text)
            except _TooSlow:
                slow.append(f"{what} ({len(text)} characters): over {budget:.2f} s")
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
            elapsed = time.perf_counter() - started
            if elapsed > budget and not (slow and slow[-1].startswith(what)):
                slow.append(f"{what} ({len(text)} characters): {elapsed:.2f} s")
            if len(slow) >= 3:
                break  # enough to show the shape
    finally:
        signal.signal(signal.SIGALRM, previous)
    assert not slow, f"{where} {pattern.pattern!r} ({how}):\n" + "\n".join(slow)


def _kmodtui(*args: str, timeout: float = 20) -> tuple[float, subprocess.CompletedProcess[str] | None]:
    """Run the CLI; (seconds, result), result None when it ran past `timeout` (it is then killed)."""
    started = time.monotonic()
    try:
        result = subprocess.run([sys.executable, "-I", "-m", "kmodtui", *args], capture_output=True, text=True,
                                timeout=timeout, env=os.environ)
    except subprocess.TimeoutExpired:
        return time.monotonic() - started, None
    return time.monotonic() - started, result


def test_diagnose_reads_a_320kb_line_of_unterminated_osc_in_seconds(tmp_path: Path) -> None:
    """Item 5: the colour stripping ran over the whole line before the cut (24 s here, 30-44 s in the report)."""
    log = tmp_path / "make.log"
    log.write_text("make[2]: *** [Makefile:10: all] Error 2\n" + "\x1b]" * 160_000 + "\nError! Bad return status "
                   "for module build on kernel: 6.1.0 (x86_64)\n")
    elapsed, result = _kmodtui("diagnose", str(log), "--json")
    assert result is not None, f"diagnose ran past {elapsed:.0f} s"
    assert result.returncode in (0, 1) and "Traceback" not in result.stderr, result.stderr
    print(f"320 KB OSC line: {elapsed:.2f} s")
    assert elapsed < 2


@pytest.mark.heavy  # a bomb: seconds, with a time bound a loaded machine misses; not in --quick (README)
def test_diagnose_reads_a_gzip_bomb_of_one_osc_line_in_seconds(tmp_path: Path) -> None:
    """Item 5: a 3.9 KB .log.gz of one 4 MB unterminated OSC line ran past 60 s. It goes through the
    capped decompressor, and the line is cut before any regex."""
    bomb = tmp_path / "make.log.gz"
    bomb.write_bytes(gzip.compress(b"\x1b]" * 2_000_000, 9))
    assert bomb.stat().st_size < 5000
    elapsed, result = _kmodtui("diagnose", str(bomb))
    assert result is not None, f"diagnose ran past {elapsed:.0f} s"
    assert result.returncode in (0, 1) and "Traceback" not in result.stderr, result.stderr
    print(f"{bomb.stat().st_size}-byte .log.gz of one OSC line: {elapsed:.2f} s")
    assert elapsed < 2


def test_source_reads_a_meta_with_a_60kb_line_of_spaces_in_a_second(tmp_path: Path) -> None:
    """Item 13: `Version: x<60 KB of spaces>y` made META's lazy `\\S.*?\\s*$` retry the spaces at every
    character (9 s here, ~20 s in the report)."""
    tree = tmp_path / "zfs"
    tree.mkdir()
    (tree / "configure.ac").write_text("AC_INIT([zfs], [2.1.11])\n")
    (tree / "META").write_text("Meta: 1\nName: zfs\nVersion: x" + " " * 60_000 + "y\nLinux-Maximum: 6.2\n")
    elapsed, result = _kmodtui("source", str(tree), "--json")
    assert result is not None, f"source ran past {elapsed:.0f} s"
    assert result.returncode == 0, result.stderr
    print(f"META with a 60 KB line of spaces: {elapsed:.2f} s")
    assert elapsed < 1.5  # the interpreter's own start is ~0.3 s of it


# BUILD_EXCLUSIVE_KERNEL values from dkms.conf files in the wild, and POSIX shapes Python's re reads
# otherwise (classes, a bracket starting with ]).
EXCLUSIVE_PATTERNS = [r"^5\.", r"^6\.", r"^(5\.[0-9]+|6\.[0-9]+)", r"^4.*", r"^(6\.[1-9]|6\.1[0-9])", r"-rt",
                      r"[[:digit:]]+-amd64$", r"^6\.1\.0-[0-9]{2}-", r"amd64|arm64", r"^[^5]", r"x{0}6", r"(a|)6",
                      r"^$", r"6\.1\.0-5[6-9]", r"[.]1[.]", r"^([0-9]+\.){2}[0-9]+-", r"^[[:alpha:]]", r"[]a]",
                      r"[a-]", r"^.{14}$", r"(.*){20}y", r"^(.*?){3}amd", r"^(6\.(1[0-9]|[2-9][0-9])|[7-9]\.)"]
RELEASES = ["6.1.0-56-amd64", "5.10.0-8-amd64", "6.12.118+deb13-amd64", "4.19.0-27-rt-amd64", "6.16.0-3-MANJARO"]


def test_build_exclusive_kernel_is_matched_as_bash_matches_it() -> None:
    """dkms matches BUILD_EXCLUSIVE_KERNEL with bash's [[ release =~ pattern ]]: the referee, pair by pair."""
    from kmodtui.core.build.ere import ere_search
    from tests.realtools import require_tool

    bash = require_tool("bash")
    for pattern in EXCLUSIVE_PATTERNS:
        for release in RELEASES:
            said = subprocess.run([bash, "-c", "[[ $1 =~ $2 ]]", "_", release, pattern]).returncode
            assert said in (0, 1), pattern
            assert ere_search(pattern, release) == (said == 0), (pattern, release)


def test_a_hostile_build_exclusive_kernel_is_read_in_bounded_time(installed_kernel, tmp_path: Path) -> None:
    """The pattern comes with the source. Python's re took hours on `(.*){20}y` against a release (each
    of the 20 groups retried at every split); `kmodtui matrix plan` ran it for every kernel."""
    from kmodtui.core.build.ere import EreError, ere_search

    for pattern in ("(.*){20}y", "(.*){255}y", ".{0,255}" * 7 + "y", "(((.)*)*)*" * 20 + "y"):
        started = time.perf_counter()
        assert ere_search(pattern, "6.1.0-56-amd64" * 20) is False
        assert time.perf_counter() - started < 1
    for pattern in ("((.*){255}){255}y", "(a)\\1", "x" * 600):
        with pytest.raises(EreError):
            ere_search(pattern, "6.1.0-56-amd64")
    source = tmp_path / "src"
    source.mkdir()
    (source / "dkms.conf").write_text('PACKAGE_NAME="p"\nPACKAGE_VERSION="1"\nBUILT_MODULE_NAME[0]="p"\n'
                                      'BUILD_EXCLUSIVE_KERNEL="(.*){20}y"\n')
    (source / "kmodtui-matrix.toml").write_text(f'kernels = ["{installed_kernel.release}"]\nmodes = ["kbuild"]\n')
    elapsed, result = _kmodtui("matrix", "plan", "--json", "--source", str(source))
    assert result is not None, f"matrix plan ran past {elapsed:.0f} s"
    assert result.returncode == 0, result.stderr
    assert all("BUILD_EXCLUSIVE_KERNEL" in c["skipped"] for c in json.loads(result.stdout)["cells"])
    assert elapsed < 2


@pytest.mark.heavy  # seconds, and a time bound a loaded machine misses: not in --quick (README)
@pytest.mark.parametrize("mib", [30, 250])
def test_a_log_gz_of_one_huge_line_is_read_in_bounded_time_and_memory(tmp_path: Path, mib: int) -> None:
    """A 30 MiB line (under the 32 MiB cap) is cut as it is read: memory stays near one kept line (before,
    the log was held whole as bytes, text and lines, and the line scanned again from each ESC ]). A
    250 MiB one (a 250 KB .gz) is refused before a line is read: decompressed once, unkept, to measure it."""
    from tests.core.test_security import peak_rss_mib

    bomb = tmp_path / "make.log.gz"
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    with open(bomb, "wb") as out:
        out.write(packer.compress(b"make[2]: *** [Makefile:10: all] Error 2\n"))
        for _ in range(mib):
            out.write(packer.compress(b"\x1b]" * (1 << 19)))
        out.write(packer.compress(b"\nError! Bad return status for module build on kernel: 6.1.0 (x86_64)\n"))
        out.write(packer.flush())
    started = time.monotonic()
    peak, result = peak_rss_mib("diagnose", str(bomb), "--json")
    elapsed = time.monotonic() - started
    print(f"{bomb.stat().st_size}-byte .log.gz of a {mib} MiB line: {elapsed:.2f} s, peak {peak} MiB")
    if mib > 32:
        assert result.returncode == 2 and result.stderr.startswith(f"kmodtui: {bomb}: decompresses to more than")
    else:
        assert result.returncode == 1 and json.loads(result.stdout)["primary"]["cause"] == "dkms_build_failed"
    assert elapsed < 3 and peak < 100


def test_following_a_build_log_keeps_only_the_start_of_an_endless_line(tmp_path: Path) -> None:
    """The build screen follows the log as it is written: a line without an end (a progress bar, a
    runaway print) was held whole and copied again at every poll; now its first 64 K characters."""
    from kmodtui.core.build.logfollow import MAX_LINE, MAX_READ, LogFollower

    log = tmp_path / "build.log"
    log.write_bytes(b"CC [M] a.o\n" + b"\x1b]" * MAX_READ)
    follower = LogFollower(str(log))
    assert follower.read_new_lines() == ["CC [M] a.o"]
    while not follower.at_end():
        assert follower.read_new_lines() == [] and len(follower._pending) <= MAX_LINE
    with open(log, "ab") as out:
        out.write(b"\nmake: *** [Makefile:10: all] Error 2\n")
    lines = follower.read_new_lines()
    assert lines[0] == "\x1b]" * (MAX_LINE // 2) and lines[1] == "make: *** [Makefile:10: all] Error 2"
