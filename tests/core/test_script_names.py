"""Names in generated scripts are data: a kernel name in a matrix file, a META `Name:`, a dkms.conf
`PACKAGE_NAME`, a kernel release, a repository path reach a shell script, a CI workflow, a
systemd unit, an rpm spec or a Makefile only after the check for their kind, and only through
the quoting function of that script's language (kmodtui/core/scriptnames.py)."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from kmodtui.core import scriptnames
from kmodtui.core.errors import KmodError
from kmodtui.core.model import Kernel
from tests.realtools import copy_source, require_tool

HOSTILE = ['x"; touch MARKER; echo "', "a'; touch MARKER; '", "$(touch MARKER)", "`touch MARKER`",
           "a\ntouch MARKER", "%(touch MARKER)", "${{ github.token }}", "-n", "*", "~root", "a;touch MARKER",
           "a\\", "\"'\\$`!", "é ü"]


def kmodtui(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kmodtui", *args], capture_output=True, text=True, timeout=600,
                          env={**os.environ, **(env or {})}, cwd=cwd)


def one_line_refusal(result: subprocess.CompletedProcess[str], file: str) -> None:
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.count("\n") == 1 and result.stderr.startswith(f"kmodtui: {file}: "), result.stderr
    assert "Traceback" not in result.stderr


def load_yaml(text: str) -> Any:
    from ruamel.yaml import YAML

    return YAML(typ="safe").load(io.StringIO(text))


def run_blocks(node: Any) -> list[str]:
    """Every `run:` script of a workflow, wherever it sits."""
    if isinstance(node, dict):
        return [v for k, v in node.items() if k == "run" and isinstance(v, str)] + \
            [r for v in node.values() for r in run_blocks(v)]
    if isinstance(node, list):
        return [r for v in node for r in run_blocks(v)]
    return []


# ---- the quoting functions ---------------------------------------------------------------------

@pytest.mark.parametrize("value", HOSTILE)
def test_a_shell_quoted_name_is_one_word_for_sh_and_runs_nothing(value: str, tmp_path: Path) -> None:
    script = f"printf '%s' {scriptnames.shell(value.replace('MARKER', str(tmp_path / 'marker')))}"
    out = subprocess.run(["sh", "-c", script], capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == 0 and out.stdout == value.replace("MARKER", str(tmp_path / "marker"))
    assert not (tmp_path / "marker").exists() and not (tmp_path / "MARKER").exists()


@pytest.mark.parametrize("value", HOSTILE)
def test_a_yaml_quoted_name_reads_back_as_itself(value: str) -> None:
    assert load_yaml(f"key: {scriptnames.yaml(value)}\n") == {"key": value}


def test_names_are_checked_by_kind_with_one_line_naming_the_file() -> None:
    for kind, good in ((scriptnames.PACKAGE, "zfs"), (scriptnames.PACKAGE, "kmodtui-provider+odd.1_x"),
                       (scriptnames.KERNEL_RELEASE, "6.12.117+deb13-amd64"), (scriptnames.MODULE, "nvidia-drm"),
                       (scriptnames.KERNEL_SPEC, "debian:bookworm:arm64"), (scriptnames.ARCH, "x86_64"),
                       (scriptnames.DEBIAN_PACKAGE, "zfs-modules-6.1.0-57-amd64"), (scriptnames.VERSION, "1:2.1~rc1")):
        assert scriptnames.check(kind, good, "f") == good
    for value in HOSTILE:
        for kind in (scriptnames.PACKAGE, scriptnames.KERNEL_RELEASE, scriptnames.KERNEL_SPEC, scriptnames.ARCH,
                     scriptnames.MODULE, scriptnames.PATH, scriptnames.NAMESPACE):
            with pytest.raises(KmodError) as err:
                scriptnames.check(kind, value, "/src/dkms.conf")
            assert str(err.value).startswith("/src/dkms.conf: ") and "\n" not in str(err.value)


def test_systemd_words_escape_specifiers_and_variables() -> None:
    assert scriptnames.systemd_word('/srv/my repo/%h/$HOME"x', "f", "repo") == '"/srv/my repo/%%h/$$HOME\\"x"'
    assert scriptnames.systemd_text("50% done", "f", "target") == "50%% done"
    with pytest.raises(KmodError, match="line break"):
        scriptnames.systemd_text("a\nExecStart=/bin/sh", "f", "repo")


# ---- the GitHub workflow -----------------------------------------------------------------------

PWNED_KERNEL = 'x"; touch /tmp/pwned; echo "'

def test_a_matrix_kernel_name_that_closes_a_quote_is_refused_at_plan_time(tmp_path: Path) -> None:
    """Before: the export wrote `--kernel "${{ matrix.kernel }}"` into the build job's run: script;
    Actions substitutes the expression into the script's text before bash reads it, so this kernel
    name ran `touch /tmp/pwned` on the runner."""
    source = copy_source("provider", tmp_path / "src")
    matrix = source / "kmodtui-matrix.toml"
    matrix.write_text(f"kernels = {json.dumps([PWNED_KERNEL])}\n")  # a JSON list of strings is a TOML one
    for action in (("plan",), ("export", "github"), ("export", "gitlab"), ("run",)):
        result = kmodtui("matrix", *action, "--source", str(source), "--kernel-any",
                         env={"KMODTUI_STATE_DIR": str(tmp_path / "state")})
        one_line_refusal(result, str(matrix))
        assert "kernel" in result.stderr
    # the same name given on the command line: refused too, naming the option
    result = kmodtui("matrix", "export", "github", "--source", str(source), "--kernel", "6.1.0-1-amd64$(id)",
                     "--kernel-any")
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and "$(id)" in result.stderr


@pytest.mark.parametrize("field,value", [("arches", "arm64; id"), ("modes", "deb$(id)")])
def test_bad_arch_and_mode_names_in_a_matrix_file_are_refused(field: str, value: str, tmp_path: Path) -> None:
    source = copy_source("provider", tmp_path / "src")
    matrix = source / "kmodtui-matrix.toml"
    matrix.write_text(f'kernels = ["6.1.0-57-amd64"]\n{field} = ["{value}"]\n')
    one_line_refusal(kmodtui("matrix", "export", "github", "--source", str(source), "--kernel-any"), str(matrix))


def test_the_github_workflow_passes_matrix_values_through_env_never_into_a_script(installed_kernel: Kernel,
                                                                                 tmp_path: Path) -> None:
    source = copy_source("provider", tmp_path / "src")
    arm64 = installed_kernel.release.rsplit("-", 1)[0] + "-arm64"  # arm64 cells of arm64 kernels (else: wrong_arch)
    (source / "kmodtui-matrix.toml").write_text(
        f'kernels = ["{arm64}", "debian:trixie", "/usr/src/linux-headers-6.12.117+deb13-arm64"]\n'
        'arches = ["arm64"]\nmodes = ["kbuild", "deb"]\n')
    out = tmp_path / "workflow.yml"
    result = kmodtui("matrix", "export", "github", "--source", str(source), "--kernel-any", "-o", str(out))
    assert result.returncode == 0, result.stderr
    workflow = load_yaml(out.read_text())
    scripts = run_blocks(workflow)
    assert scripts and all("${{" not in script for script in scripts), scripts
    build = workflow["jobs"]["build-1"]
    assert build["env"]["KERNEL"] == "${{ matrix.kernel }}" and build["env"]["MODE"] == "${{ matrix.mode }}"
    [step] = [s for s in build["steps"] if s.get("name") == "Build"]
    assert '--kernel "$KERNEL"' in step["run"] and '--mode "$MODE"' in step["run"]
    assert {c["kernel"] for c in build["strategy"]["matrix"]["include"]} >= {arm64, "debian:trixie:arm64"}
    tool = Path(sys.executable).parent / "check-jsonschema"
    checked = subprocess.run([str(tool) if tool.exists() else require_tool("check-jsonschema"), "--builtin-schema",
                              "vendor.github-workflows", str(out)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_the_github_build_script_runs_with_its_values_from_env(tmp_path: Path) -> None:
    """The Build step's script, run by bash as a runner runs it (env from the job, no expression in
    the text), with a stand-in `kmodtui` that prints its arguments: each value is one argument."""
    from kmodtui.core.build.matrix import Cell, Matrix, export_github

    cell = Cell("6.1.0-57-amd64", "6.1.0-57-amd64", "arm64", "deb")
    workflow = load_yaml(export_github(Matrix("/src", [cell.kernel], ["arm64"], ["deb"]), [cell], install="kmodtui==0.1.0"))
    [step] = [s for s in workflow["jobs"]["build-1"]["steps"] if s.get("name") == "Build"]
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "kmodtui").write_text("#!/bin/sh\nfor a in \"$@\"; do printf '[%s]' \"$a\"; done\n")
    (bin_dir / "kmodtui").chmod(0o755)
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "KERNEL": cell.kernel, "MODE": cell.mode, "ARCH": cell.arch,
           "CELL": cell.name}
    ran = subprocess.run(["bash", "-e", "-c", step["run"]], capture_output=True, text=True, cwd=tmp_path, env=env)
    assert ran.returncode == 0, ran.stderr
    assert (tmp_path / f"result-{cell.name}.jsonl").read_text() == \
        "[build][--json][--source][.][--kernel][6.1.0-57-amd64][--mode][deb][--arch][arm64]"


# ---- the kernel hook ---------------------------------------------------------------------------

BAD_NAMES = ["a'; touch MARKER; '", 'a"; touch MARKER; "', "a$(touch MARKER)", "a`touch MARKER`"]


@pytest.mark.parametrize("name", BAD_NAMES[:2])
def test_a_dkms_package_name_that_closes_a_quote_is_refused_when_the_hook_is_set_up(name: str, tmp_path: Path) -> None:
    """Before: the name went unquoted into the hook's `echo "kmodtui: built and installed ..."`, run as
    root after every kernel install. (A name made by $(...) or `...` is not a name kmodtui reads:
    dkms.conf's parser leaves it for build time, and the hook names the module instead.)"""
    source = copy_source("provider", tmp_path / "src")
    conf = source / "dkms.conf"
    conf.write_text(conf.read_text().replace('PACKAGE_NAME="kmodtui-provider"',
                                             "PACKAGE_NAME=" + scriptnames.shell(name.replace("MARKER", str(tmp_path / "M")))))
    root = tmp_path / "root"
    (root / "etc" / "kernel" / "postinst.d").mkdir(parents=True)
    for action in ("show", "install"):
        result = kmodtui("hook", action, "--source", str(source), "--root", str(root), "--yes",
                         env={"KMODTUI_STATE_DIR": str(tmp_path / "state")})
        one_line_refusal(result, str(conf))
    assert not list((root / "etc" / "kernel" / "postinst.d").iterdir())


@pytest.mark.parametrize("name", BAD_NAMES)
def test_a_meta_name_that_closes_a_quote_is_refused_when_the_hook_is_set_up(name: str, tmp_path: Path) -> None:
    source = copy_source("provider", tmp_path / "src")
    (source / "dkms.conf").unlink()
    (source / "configure.ac").write_text("AC_INIT\n")
    (source / "META").write_text(f"Meta: 1\nName: {name.replace('MARKER', str(tmp_path / 'M'))}\nVersion: 1.0\n")
    result = kmodtui("hook", "show", "--source", str(source), "--root", str(tmp_path))
    one_line_refusal(result, str(source / "META"))


def test_a_legal_but_odd_name_runs_in_the_hook_as_data(installed_kernel: Kernel, tmp_path: Path) -> None:
    """A name with every character a package name may hold (+ . _ -): the hook, run by sh as the
    kernel's postinst runs it, builds and installs into a scratch root and says the name as it is."""
    source = copy_source("provider", tmp_path / "src")
    conf = source / "dkms.conf"
    conf.write_text(conf.read_text().replace('PACKAGE_NAME="kmodtui-provider"', 'PACKAGE_NAME="Odd+name.1_x-y"'))
    release = installed_kernel.release
    root = tmp_path / "root"
    (root / "etc" / "kernel" / "postinst.d").mkdir(parents=True)
    moddir = root / "lib" / "modules" / release
    moddir.mkdir(parents=True)
    for name in ("modules.order", "modules.builtin", "modules.builtin.modinfo"):
        (moddir / name).write_text("")
    env = {"KMODTUI_STATE_DIR": str(tmp_path / "state")}
    installed = kmodtui("hook", "install", "--source", str(source), "--root", str(root), "--yes", "--json", env=env)
    assert installed.returncode == 0, installed.stderr
    hook = Path(json.loads(installed.stdout)["path"])
    ran = subprocess.run(["sh", str(hook), release], capture_output=True, text=True, cwd=tmp_path,
                         env={**os.environ, **env, "KMODTUI_HOOK_LOG_DIR": str(tmp_path / "log")})
    assert ran.returncode == 0 and f"built and installed Odd+name.1_x-y for {release}" in ran.stdout, \
        ran.stdout + ran.stderr
    assert (moddir / "updates" / "kmodtui" / "provider.ko").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["log", "root", "src", "state"]  # no stray file


# ---- the other generators ----------------------------------------------------------------------

def test_a_hostile_kernel_release_never_reaches_a_packages_maintainer_scripts(tmp_path: Path) -> None:
    """The release comes from the kernel tree's files; the .deb's postinst runs `depmod -a <release>`
    as root at `dpkg -i`."""
    from kmodtui.core.packages.debpack import build_deb

    module = tmp_path / "m.ko"
    module.write_bytes(b"\x7fELF")
    with pytest.raises(KmodError, match="kernel release"):
        build_deb([str(module)], "6.1.0; touch /tmp/pwned", "m", "1.0", "x86_64", None, str(tmp_path / "out"))
    with pytest.raises(KmodError, match="package name"):
        build_deb([str(module)], "6.1.0-1-amd64", "m$(id)", "1.0", "x86_64", None, str(tmp_path / "out"))
    assert not (tmp_path / "out").exists()


def test_the_follow_timer_quotes_its_paths_for_systemd(tmp_path: Path) -> None:
    """systemd expands %-specifiers and $VARIABLES in ExecStart= even inside quotes: a repository
    path holding them is written %% and $$; a path with a line break, which would add a line of its
    own choosing to the unit, is refused."""
    root = tmp_path / "root"
    (root / "etc" / "systemd" / "system").mkdir(parents=True)
    cwd = Path(__file__).resolve().parents[2]
    repo = tmp_path / "re%hpo $HOME"
    shown = kmodtui("follow", "--source", "kmodtui/examples/provider", "--target", "debian:bookworm:arm64",
                    "--repo", str(repo), "--root", str(root), "--timer", "show", "--json", cwd=cwd)
    assert shown.returncode == 0, shown.stderr
    [service] = [t for p, t in json.loads(shown.stdout)["files"].items() if p.endswith(".service")]
    [exec_line] = [line for line in service.splitlines() if line.startswith("ExecStart=")]
    assert f' --repo "{tmp_path}/re%%hpo $$HOME" ' in exec_line, exec_line
    if require_tool("systemd-analyze"):
        unit = tmp_path / "t.service"
        unit.write_text(service)
        checked = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True)
        assert "Invalid" not in checked.stderr and "Failed to" not in checked.stderr.replace(
            "Failed to connect", ""), checked.stderr
    bad = kmodtui("follow", "--source", "kmodtui/examples/provider", "--target", "debian:bookworm:arm64",
                  "--repo", str(tmp_path / "a\nExecStartPre=/bin/touch /tmp/pwned"), "--root", str(root),
                  "--timer", "show", cwd=cwd)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "line break" in bad.stderr, bad.stderr


@pytest.mark.parametrize("target", ["debian:bookworm;id:arm64", "debian:bookworm:arm64:rt$(id)"])
def test_a_hostile_follow_target_is_refused(target: str, tmp_path: Path) -> None:
    result = kmodtui("follow", "--source", "src", "--target", target, "--repo", str(tmp_path / "r"), "--timer", "show")
    assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr


def test_remedies_write_no_hostile_name_into_a_makefile_a_c_file_or_a_command(tmp_path: Path) -> None:
    """KBUILD_EXTRA_SYMBOLS goes into a Kbuild file (make expands $(shell ...)) or dkms.conf's MAKE
    line (dkms sources dkms.conf as bash); a namespace into C source; a release into the commands
    the remedy shows to run."""
    from kmodtui.core.remedies.catalogue import RemedyOptions, get_remedy

    source = copy_source("provider", tmp_path / "src")
    hostile = tmp_path / "$(shell touch MARKER)" / "Module.symvers"
    hostile.parent.mkdir()
    hostile.write_text("")
    for remedy, options in (
            ("kbuild-extra-symbols", RemedyOptions(target=str(source), symvers=(str(hostile),))),
            ("import-namespace", RemedyOptions(target=str(source), symbol="provider_fn",
                                               namespace='X");\nint evil(void) { return 0; } //')),
            ("rebuild-for-kernel", RemedyOptions(target=str(source), kernel_release="6.1.0 $(id)")),
            ("redhat-kernel-version", RemedyOptions(target="p.spec", kernel_release="6.1.0' -ba /etc/x '")),
            ("install-headers", RemedyOptions(kernel_release="6.1.0;id"))):
        with pytest.raises(KmodError) as err:
            get_remedy(remedy).plan(options)
        assert "refused" in str(err.value) and "\n" not in str(err.value), (remedy, str(err.value))
