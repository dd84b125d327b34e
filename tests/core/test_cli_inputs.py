"""The CLI contract of the README's table, verb by verb: a missing file, a folder where a file is
wanted (or a file where a folder is), a garbage file, and a missing required option. Each bad input
is exit 2 and exactly one stderr line `kmodtui: <file>: <what is wrong>`, with nothing on stdout and
nothing left behind (no build recorded); a missing required option is argparse's usage error."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# verb -> its command line, {} being the input under test (README, "The CLI contract")
FILE_INPUTS: dict[str, list[str]] = {
    "kernels": ["kernels", "--from", "{}"],
    "kernels --root": ["kernels", "--root", "{}"],
    "inspect": ["inspect", "{}"],
    "resolve": ["resolve", "{}"],
    "resolve --kernel": ["resolve", "{}", "--kernel", "{}"],
    "rpmdeps": ["rpmdeps", "--requires", "{}"],
    "build": ["build", "--kernel", os.uname().release, "--source", "{}"],
    "builds": ["builds", "stop", "{}"],
    "check-update": ["check-update", "--new-kernel", "{}"],
    "sign": ["sign", "{}"],
    "secureboot": ["secureboot", "--module", "{}"],
    "secureboot --root": ["secureboot", "--root", "{}"],
    "check-userspace": ["check-userspace", "--module", "{}", "--tools", "{}"],
    "hook": ["hook", "show", "--source", "{}"],
    "gate": ["gate", "--root", "{}"],
    "source": ["source", "{}"],
    "remedy": ["remedy", "show", "kbuild-extra-symbols", "--target", "{}"],
    "attach": ["attach", "{}"],
    "diagnose": ["diagnose", "{}"],
    "matrix": ["matrix", "plan", "--file", "{}"],
    "matrix report": ["matrix", "report", "{}"],
    "follow": ["follow", "--source", "{}", "--target", "debian:bookworm:arm64", "--repo", "{}", "--once"],
}
# a verb without its required option or argument: argparse's usage error
MISSING_REQUIRED: dict[str, list[str]] = {
    "kernels": ["kernels", "--from"],
    "inspect": ["inspect"],
    "resolve": ["resolve"],
    "rpmdeps": ["rpmdeps", "m.ko"],
    "build": ["build", "--kernel", "6.1.0-1-amd64"],
    "builds": ["builds", "pause"],
    "check-update": ["check-update"],
    "sign": ["sign"],
    "secureboot": ["secureboot", "--module"],
    "check-userspace": ["check-userspace", "--module", "m.ko"],
    "hook": ["hook", "show"],
    "gate": ["gate", "pause"],
    "source": ["source"],
    "remedy": ["remedy"],
    "serve": ["serve", "--port"],
    "attach": ["attach", "one-build", "another"],
    "diagnose": ["diagnose"],
    "matrix": ["matrix"],
    "follow": ["follow", "--source", "src", "--target", "debian:bookworm:arm64"],
}


def kmodtui(args: list[str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "KMODTUI_CACHE_DIR": str(tmp_path / "cache"), "KMODTUI_STATE_DIR": str(tmp_path / "state"),
           "COLUMNS": "80"}
    env.pop("KMODTUI_DEBUG", None)
    return subprocess.run([sys.executable, "-m", "kmodtui", *args], capture_output=True, text=True, env=env,
                          timeout=60, stdin=subprocess.DEVNULL, cwd=tmp_path)


def bad_input(tmp_path: Path, shape: str) -> Path:
    if shape == "missing":
        return tmp_path / "missing.ko"
    if shape == "folder":
        folder = tmp_path / "a-folder.ko"
        folder.mkdir()
        (folder / "README").write_text("nothing to build here\n")
        return folder
    garbage = tmp_path / "garbage.ko"  # bytes no tool made: no magic of any format, NULs and all
    garbage.write_bytes(b"\x00\x13garbage\xff\xfe" * 300)
    return garbage


@pytest.mark.parametrize("shape", ["missing", "folder", "garbage"])
@pytest.mark.parametrize("verb", sorted(FILE_INPUTS))
def test_a_bad_input_is_exit_2_and_one_line_naming_it(verb: str, shape: str, tmp_path: Path) -> None:
    path = bad_input(tmp_path, shape)
    if verb in ("kernels --root", "secureboot --root", "follow", "hook", "gate") and shape == "folder":
        pytest.skip("a folder is what this option takes")
    argv = [str(path) if word == "{}" else word for word in FILE_INPUTS[verb]]
    result = kmodtui(argv, tmp_path)
    lines = result.stderr.splitlines()
    assert (result.returncode, result.stdout) == (2, ""), (argv, result)
    assert len(lines) == 1 and lines[0].startswith(f"kmodtui: {path}: "), (argv, result.stderr)
    assert "internal error" not in lines[0]
    assert not any((tmp_path / "state").rglob("record.json")), "a refused build was recorded"


@pytest.mark.parametrize("verb", sorted(MISSING_REQUIRED))
def test_a_missing_required_option_is_a_usage_error(verb: str, tmp_path: Path) -> None:
    result = kmodtui(MISSING_REQUIRED[verb], tmp_path)
    assert (result.returncode, result.stdout) == (2, ""), result
    assert result.stderr.startswith("usage: kmodtui ") and re.search(r"^kmodtui( \S+)?: error: ", result.stderr, re.M), result


def test_every_verb_of_the_registry_is_in_the_contract() -> None:
    from kmodtui.cli import VERBS

    assert set(VERBS) == set(MISSING_REQUIRED)
    assert set(VERBS) - {"serve"} == {name.split()[0] for name in FILE_INPUTS}


def help_texts() -> list[list[str]]:
    from kmodtui.cli import VERBS

    argvs = [[verb, "--help"] for verb in VERBS]
    return argvs + [["matrix", action, "--help"] for action in ("plan", "export")] + [["--help"]]


@pytest.mark.parametrize("argv", help_texts(), ids=" ".join)
def test_no_help_line_is_wider_than_80_columns(argv: list[str], tmp_path: Path) -> None:
    result = kmodtui(argv, tmp_path)
    assert result.returncode == 0, result
    wide = [line for line in result.stdout.splitlines() if len(line) > 80]
    assert not wide, wide


def test_resolve_without_kernel_says_which_kernel_it_used(tmp_path: Path) -> None:
    """No --kernel: the running kernel, named on stderr before anything else; when it has no build
    tree here, the one error line says --kernel was not given rather than blaming the kernel."""
    from tests.synthetic import Assembled, ExportSpec

    module = Assembled("provider").exporting(ExportSpec("provider_fn", 0xF96CAA5E)).assemble(tmp_path)
    result = kmodtui(["resolve", str(module)], tmp_path)
    release = os.uname().release
    first = result.stderr.splitlines()[0]
    assert release in first and "--kernel" in first, result.stderr
    if result.returncode == 2:  # this machine has no build tree for the running kernel
        assert result.stdout == "" and len(result.stderr.splitlines()) == 1, result


def test_the_readme_lists_exactly_what_scripts_test_installs() -> None:
    script = (ROOT / "scripts" / "test").read_text()
    readme = (ROOT / "README.md").read_text()
    apt = set(re.search(r'wanted="\$headers ([^"]+)"', script).group(1).split())
    apt |= {"linux-headers-<arch>"} | set(re.findall(r'headers="([^"$]+)"', script)) | set(" ".join(re.findall(r'wanted="\$wanted ([^"]+)"', script)).split())
    apt = {"gcc-<N>-locales" if name == "$gcc_locales" else name for name in apt}  # the gcc in use's
    dnf = set(re.search(r'dnf[^\n]*\n\s+wanted="([^"]+)"', script).group(1).split())
    setup = readme[readme.index("`scripts/test` installs, when run as root"):readme.index("otherwise tests needing")]
    assert set(re.findall(r"`([^`\s]+)`", setup)) - {"scripts/test"} == apt
    fedora = re.search(r"`scripts/test` uses `dnf install ([^`]+)`", readme).group(1).split()
    assert set(fedora) == dnf


def test_an_input_only_a_full_read_refuses_prints_no_listing_first(tmp_path: Path) -> None:
    """Past the first bytes: an ELF header cut short (inspect), an ar archive that is no .deb, made
    by ar itself (kernels --from). Before: inspect printed an empty line, kernels the whole listing
    of this machine's kernels, and only then the error."""
    import shutil

    if not shutil.which("ar"):
        pytest.skip("needs ar (binutils): sudo apt-get install binutils")
    cut = tmp_path / "cut.ko"
    cut.write_bytes(b"\x7fELF\x02\x01\x01" + b"\x00" * 9)
    member = tmp_path / "README"
    member.write_text("not a package\n")
    subprocess.run(["ar", "rc", str(tmp_path / "not-a-package.deb"), str(member)], check=True, cwd=tmp_path)
    for argv, path in ((["inspect", str(cut)], cut), (["kernels", "--from", str(tmp_path / "not-a-package.deb")],
                                                       tmp_path / "not-a-package.deb")):
        result = kmodtui(argv, tmp_path)
        assert (result.returncode, result.stdout) == (2, ""), (argv, result)
        assert len(result.stderr.splitlines()) == 1 and result.stderr.startswith(f"kmodtui: {path}: "), result


def test_resolve_says_the_others_were_checked_only_when_there_are_others(tmp_path: Path) -> None:
    """Before: one unreadable target alone was reported as 'The others were still checked.'"""
    symvers = tmp_path / "Module.symvers"
    symvers.write_text("0x12345678\tprintk\tvmlinux\tEXPORT_SYMBOL\t\n")  # the layout modpost writes
    cut = []
    for name in ("a.ko", "b.ko"):
        cut.append(tmp_path / name)
        cut[-1].write_bytes(b"\x7fELF\x02\x01\x01" + b"\x00" * 9)
    alone = kmodtui(["resolve", str(cut[0]), "--kernel", str(symvers), "--no-cache"], tmp_path)
    both = kmodtui(["resolve", *map(str, cut), "--kernel", str(symvers), "--no-cache"], tmp_path)
    assert alone.returncode == both.returncode == 1, (alone, both)
    assert "unreadable" in alone.stdout and "The others were still checked" not in alone.stdout, alone.stdout
    assert both.stdout.count("The others were still checked.") == 2, both.stdout
