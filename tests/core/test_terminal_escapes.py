"""Strings from inputs never talk to the terminal, and names that are not UTF-8 never break JSON.

A module's modinfo and symbol names, a .deb's control fields and member names, a log's lines and a
matrix results file are written by whoever made them. Shown on a terminal, an ESC in them could
clear the screen, retitle the window or write the clipboard (OSC 52); kmodtui shows them escaped
(`\\x1b`), and --json carries them as JSON escapes. The hostile inputs are made with the real tools
(kbuild, dpkg-deb, `kmodtui build --json`), and the real tools (modinfo, modprobe, dpkg-deb) show
that the raw bytes really are in them.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from kmodtui.core.model import Kernel
from tests.hostile import AUTHOR, LICENSE, OSC52, RAW, SYMBOL, VERSION, HostileModules, build_hostile_modules
from tests.pkgtools import build_deb
from tests.realtools import BuiltModules, copy_source, require_tool, run_ok


def kmodtui(*args: str | bytes, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[bytes]:
    """stdout and stderr as the terminal would get them: bytes."""
    return subprocess.run([sys.executable, "-m", "kmodtui", *args], capture_output=True, timeout=300,
                          env={**os.environ, **(env or {})})


def assert_nothing_raw(result: subprocess.CompletedProcess[bytes]) -> None:
    for stream in (result.stdout, result.stderr):
        for raw in RAW:
            assert raw not in stream, (raw, stream[:2000])
    assert b"Traceback" not in result.stderr and b"internal error" not in result.stderr, result.stderr


def strict_json(data: bytes) -> Any:
    return json.loads(data.decode("utf-8"))  # strict UTF-8: a raw 0xff byte would fail here


def findings_of(result: subprocess.CompletedProcess[bytes], form: str) -> list[dict[str, Any]]:
    """resolve's findings, from --json (one object) or --jsonl (a head line, then one per line)."""
    if form == "--jsonl":
        return [strict_json(line) for line in result.stdout.splitlines()[1:]]
    return strict_json(result.stdout)["findings"]


@pytest.fixture(scope="module")
def hostile(installed_kernel: Kernel, tmp_path_factory: pytest.TempPathFactory) -> HostileModules:
    require_tool("make")
    return build_hostile_modules(installed_kernel.build_dir, tmp_path_factory.mktemp("hostile"))


def test_the_hostile_module_really_carries_raw_escapes(hostile: HostileModules) -> None:
    """The referees: modinfo prints the author, license and version with their ESC bytes, and
    modprobe lists the import under the name with ESC and 0x9b in it."""
    modinfo = require_tool("modinfo")
    for field, value in (("author", AUTHOR), ("license", LICENSE), ("version", VERSION)):
        out = subprocess.run([modinfo, "-F", field, str(hostile.exporter)], capture_output=True).stdout
        assert out.rstrip(b"\n") == value.encode()
    versions = subprocess.run([require_tool("modprobe"), "--dump-modversions", str(hostile.consumer)],
                              capture_output=True).stdout
    assert b"\t" + SYMBOL + b"\n" in versions


@pytest.mark.parametrize("verb", [
    ("inspect", "{exporter}"), ("inspect", "{consumer}"),
    ("resolve", "{consumer}", "--kernel", "{release}"),
    ("resolve", "{consumer}", "--kernel", "{release}", "--markdown"),
    ("check-userspace", "--module", "{exporter}", "--tools", "{exporter}"),
], ids=["inspect-exporter", "inspect-consumer", "resolve-text", "resolve-markdown", "check-userspace"])
def test_module_strings_are_shown_escaped(hostile: HostileModules, installed_kernel: Kernel,
                                          verb: tuple[str, ...]) -> None:
    """Before: the license's OSC 52 and the symbol's clear-screen went to the terminal as they are."""
    args = [a.format(exporter=hostile.exporter, consumer=hostile.consumer, release=installed_kernel.release)
            for a in verb]
    result = kmodtui(*args)
    assert result.returncode in (0, 1), result.stderr
    assert_nothing_raw(result)
    out = result.stdout.decode()
    if verb[0] == "inspect" and "exporter" in verb[1]:
        assert "license:    GPL\\x1b]52;c;aGk=\\x07" in out
    if verb[0] == "resolve" and "--extra-symbols" not in verb:
        assert "evil_\\x1b]52;c;cm0gLXJmIH4K\\x07\\x1b[2J\\x9b31m_fn" in out  # the symbol, escaped, whole
    if verb[0] == "check-userspace":
        assert "1.0\\x1b[31m\\u202e" in out


def test_json_carries_module_strings_as_json_escapes(hostile: HostileModules, installed_kernel: Kernel) -> None:
    result = kmodtui("inspect", "--json", str(hostile.exporter), str(hostile.consumer))
    assert result.returncode == 0
    assert_nothing_raw(result)
    exporter, consumer = strict_json(result.stdout)["modules"]
    assert exporter["license"] == LICENSE  # the same string, to a JSON reader
    assert [e["name"] for e in exporter["exports"]] == [hostile.symbol]
    assert hostile.symbol in [n["name"] for n in consumer["imports"]]
    for extra in ((), ("--extra-symbols", str(hostile.exporter))):
        for form in ("--json", "--jsonl"):
            result = kmodtui("resolve", form, str(hostile.consumer), "--kernel", installed_kernel.release, *extra)
            assert result.returncode in (0, 1)
            assert_nothing_raw(result)
            assert hostile.symbol in {f.get("symbol") for f in findings_of(result, form)}


def test_a_deb_with_escapes_in_its_control_file_and_member_names(hostile: HostileModules, installed_kernel: Kernel,
                                                                 tmp_path: Path) -> None:
    """dpkg-deb builds it and prints its Description raw; kmodtui's text shows the module's member
    name escaped, and --json (before: an internal error, the 0xff byte in the member name) is
    strict UTF-8 with the byte written `\\xff`."""
    member = "/lib/modules/6.1.0-kmodtui/extra/h\x1b[2Jx\udcff.ko"
    deb = build_deb(tmp_path, "hostile-mod", "1.0", {member: hostile.exporter})
    # the control file, rewritten with a hostile Maintainer and Description, and packed again
    tree = tmp_path / "hostile-mod-tree"
    control = (tree / "DEBIAN" / "control").read_bytes().split(b"\nDescription:")[0]
    (tree / "DEBIAN" / "control").write_bytes(
        control.replace(b"Maintainer: kmodtui tests", b"Maintainer: M " + OSC52)
        + b"\nDescription: hostile " + OSC52 + b"\x1b[2J\n more \xc2\x9b31m text\n")
    run_ok([require_tool("dpkg-deb"), "--root-owner-group", "-b", str(tree), str(deb)])
    shown = subprocess.run([require_tool("dpkg-deb"), "-f", str(deb), "Description"], capture_output=True).stdout
    assert OSC52 in shown  # the referee shows the raw bytes
    listing = subprocess.run([require_tool("dpkg-deb"), "--fsys-tarfile", str(deb)], capture_output=True).stdout
    assert b"h\x1b[2Jx\xff.ko" in listing
    text = kmodtui("inspect", str(deb))
    assert text.returncode == 0, text.stderr
    assert_nothing_raw(text)
    assert b"h\\x1b[2Jx\\xff.ko" in text.stdout
    for args in (("inspect", "--json", str(deb)), ("resolve", "--json", str(deb), "--kernel", installed_kernel.release)):
        result = kmodtui(*args)
        assert result.returncode in (0, 1), result.stderr
        assert_nothing_raw(result)
        payload = strict_json(result.stdout)
        if args[0] == "inspect":
            assert payload["packages"][0]["files"] == [member.replace("\udcff", "\\xff")]


def test_a_log_whose_error_line_holds_escape_sequences(tmp_path: Path) -> None:
    """An OSC 52 ended by ST (ESC \\), a C1 CSI in UTF-8 and a full terminal reset in a modpost
    error: the diagnosis still names the symbol and shows the line escaped. The symbol it names is
    read from the cleaned line: the cleaner removes the OSC (its linear pattern takes both
    terminators, BEL and ST); the C1 CSI and ESC c stay, and are escaped on output."""
    log = tmp_path / "make.log"
    log.write_bytes(b"make -C /lib/modules/6.1.0-57-amd64/build M=/tmp/x modules\n"
                    b'ERROR: modpost: "evil\x1b]52;c;ZXZpbA==\x1b\\sym\xc2\x9b2J\x1bc" [/tmp/x/foo.ko] undefined!\n'
                    b"make: *** [Makefile:5: all] Error 2\n")
    for args in ((), ("--all",), ("--json",)):
        result = kmodtui("diagnose", str(log), *args)
        assert result.returncode == 1, result.stderr
        assert_nothing_raw(result)
    # the evidence is the line as the log holds it, escaped
    assert b"\\x1b]52;c;ZXZpbA==\\x1b\\sym\\x9b2J\\x1bc" in kmodtui("diagnose", str(log)).stdout
    primary = strict_json(result.stdout)["primary"]
    assert primary["cause"] == "modpost_undefined"
    assert primary["details"]["symbol"] == "evilsym\x9b2J\x1bc"


def test_names_that_are_not_utf8_in_json(built: BuiltModules, installed_kernel: Kernel, tmp_path: Path) -> None:
    """Before: `kmodtui: internal error: TypeError: str is not valid UTF-8: surrogates not allowed`
    (exit 2) from inspect, resolve and source --json. Now: strict UTF-8 JSON, the byte as `\\xff`."""
    folder = os.fsencode(tmp_path) + b"/dir\xfe"
    os.mkdir(folder)
    module = folder + b"/mod\xff.ko"
    shutil.copy(built.consumer_ko, module)
    symvers = folder + b"/Module\xfd.symvers"
    shutil.copy(installed_kernel.symvers_path, symvers)
    shown_module = str(tmp_path) + "/dir\\xfe/mod\\xff.ko"
    result = kmodtui("inspect", "--json", module)
    assert result.returncode == 0, result.stderr
    assert strict_json(result.stdout)["modules"][0]["path"] == shown_module
    for args, env in ((("resolve", "--json", module, "--kernel", installed_kernel.release), {}),
                      (("resolve", "--jsonl", module, "--kernel", installed_kernel.release), {}),
                      (("resolve", "--json", folder, "--kernel", symvers, "--all"), {"KMODTUI_JSON_LARGE": "0"}),
                      (("resolve", "--json", folder, "--kernel", symvers, "--all"), {"KMODTUI_JSON_LARGE": "0"})):
        result = kmodtui(*args, env=env)  # the last run writes the answer the one before cached
        assert result.returncode == 1, result.stderr  # the consumer needs the provider's symbols
        assert_nothing_raw(result)
        form = args[1]
        assert {f["module"] for f in findings_of(result, form)} == {shown_module}
        if args[-1] == "--all":
            assert strict_json(result.stdout)["summary"]["symvers"] == str(tmp_path) + "/dir\\xfe/Module\\xfd.symvers"
    for args in (("inspect", module), ("resolve", module, "--kernel", symvers)):
        result = kmodtui(*args)
        assert result.returncode in (0, 1) and b"mod\\xff.ko" in result.stdout, result.stderr
        assert_nothing_raw(result)
    # a module source: a folder whose name and one file's name are not UTF-8, a dkms.conf whose
    # PACKAGE_NAME would print a line of its own and clear the screen
    source = copy_source("provider", tmp_path / "src")
    os.rename(source, os.fsencode(source) + b"\xfe")
    source_bytes = os.fsencode(source) + b"\xfe"
    with open(source_bytes + b"/dkms.conf", "rb+") as f:
        conf = f.read().replace(b'PACKAGE_NAME="kmodtui-provider"', b'PACKAGE_NAME="x\nkmodtui: all fine\x1b[2J"')
        f.seek(0)
        f.write(conf)
    open(source_bytes + b"/notes\xfd.c", "w").close()
    # such a name goes into generated scripts, so the source is refused when read: one escaped line
    result = kmodtui("source", "--json", source_bytes)
    assert result.returncode == 2 and result.stdout == b""
    assert_nothing_raw(result)
    assert result.stderr.count(b"\n") == 1 and b"provider\\xfe/dkms.conf: package name" in result.stderr
    # a plain name: the folder's and the file's undecodable bytes come out escaped, in valid JSON
    with open(source_bytes + b"/dkms.conf", "wb") as f:
        f.write(conf.replace(b'PACKAGE_NAME="x\nkmodtui: all fine\x1b[2J"', b'PACKAGE_NAME="kmodtui-provider"'))
    result = kmodtui("source", "--json", source_bytes)
    assert result.returncode == 0, result.stderr
    payload = strict_json(result.stdout)
    assert payload["path"].endswith("provider\\xfe") and payload["name"] == "kmodtui-provider"
    text = kmodtui("source", source_bytes)
    assert text.returncode == 0, text.stderr
    assert_nothing_raw(text)
    assert b"provider\\xfe" in text.stdout


def _exit_event(result_file: Path) -> tuple[list[bytes], int]:
    lines = result_file.read_bytes().splitlines()
    return lines, next(i for i, line in enumerate(lines) if b'"event":"exit"' in line.replace(b" ", b""))


@pytest.mark.parametrize("field,value,words", [
    ("kernel", 5, '"kernel" is a number, not a string'),
    ("mode", ["kbuild"], '"mode" is a list, not a string'),
    ("state", {"a": 1}, '"state" is an object, not a string'),
    ("state", "exploded", '"state" is not one of'),
    ("log", None, '"log" is null, not a string'),
    ("primary", "oops", '"primary" is a string, not an object or null'),
    ("primary", {"cause": ["x"]}, '"primary.cause" is a list, not a string or null'),
    ("artifacts", "a.ko", '"artifacts" is a string, not a list of file names'),
    ("artifacts", [1], '"artifacts" holds something that is not a file name'),
])
def test_matrix_report_on_fields_of_the_wrong_type(matrix_result: Path, tmp_path: Path, field: str, value: object,
                                                   words: str) -> None:
    """Before: `kmodtui: internal error: TypeError: unhashable type: 'list'` (or AttributeError), or
    a --json report that broke its own schema ("kernel": 5). Now one line naming the file, the line
    and the field; exit 2."""
    lines, at = _exit_event(matrix_result)
    event = json.loads(lines[at])
    event[field] = value
    lines[at] = json.dumps(event).encode()
    bad = tmp_path / "result-bad.jsonl"
    bad.write_bytes(b"\n".join(lines) + b"\n")
    for form in ((), ("--json",), ("--html",), ("--markdown",)):
        result = kmodtui("matrix", "report", *form, str(bad), str(matrix_result))
        assert result.returncode == 2, result.stdout[-500:]
        assert result.stdout == b""
        assert result.stderr.startswith(f"kmodtui: {bad}: the exit event's {words}".encode())
        assert result.stderr.count(b"\n") == 1 and result.stderr.endswith(f" (line {at + 1})\n".encode())


def test_matrix_report_shows_a_results_file_strings_escaped(matrix_result: Path, tmp_path: Path) -> None:
    lines, at = _exit_event(matrix_result)
    event = json.loads(lines[at])
    event["kernel"] += "\x1b]52;c;eA==\x07"
    event["primary"] = {"cause": "x\n| forged | row |\x1b[2J"}
    lines[at] = json.dumps(event).encode()
    odd = tmp_path / "result-odd.jsonl"
    odd.write_bytes(b"\n".join(lines) + b"\n")
    for form in ((), ("--json",), ("--html",)):
        result = kmodtui("matrix", "report", *form, str(odd))
        assert result.returncode == 0, result.stderr  # the cell succeeded
        assert_nothing_raw(result)
    table = kmodtui("matrix", "report", str(odd)).stdout.decode()
    assert "x\\x0a| forged | row |\\x1b[2J" in table and "\n| forged" not in table


@pytest.fixture(scope="module")
def matrix_result(installed_kernel: Kernel, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real cell's result: `kmodtui build --json` of the example provider."""
    work = tmp_path_factory.mktemp("matrix-result")
    result = work / "result-provider.jsonl"
    out = kmodtui("build", "--json", "--source", str(copy_source("provider", work / "src")), "--kernel",
                  installed_kernel.release, env={"KMODTUI_STATE_DIR": str(work / "state")})
    assert out.returncode == 0, out.stderr
    result.write_bytes(out.stdout)
    return result
