"""An exported CI pipeline installs the kmodtui that exported it: no package index has kmodtui, so the
export writes the running kmodtui's wheel beside the workflow and every job `pip install`s exactly
that file (or what --install names). Real pip installs the wheel; a kmodtui installed from it runs,
and exports the same wheel again."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import kmodtui as running
from kmodtui.core.model import Kernel
from tests.core.test_matrix import check_schema, kmodtui
from tests.realtools import copy_source

WHEEL = f"kmodtui-{running.__version__}-py3-none-any.whl"


def export(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return kmodtui("matrix", "export", *args, env=env)


def test_the_export_writes_the_running_kmodtui_wheel_and_every_job_installs_it(installed_kernel: Kernel,
                                                                              tmp_path: Path) -> None:
    """Before: every job ran `pip install "${KMODTUI_PIP:-kmodtui}"`, which no index can answer."""
    source = copy_source("provider", tmp_path / "repo" / "provider")
    common = ["--source", str(source), "--source-in-repo", "provider", "--kernel", installed_kernel.release]
    workflows = tmp_path / "repo" / ".github" / "workflows"
    workflows.mkdir(parents=True)
    for target, out, schema, path_in_repo in (
            ("github", workflows / "kmodtui.yml", "vendor.github-workflows", f".github/workflows/{WHEEL}"),
            ("gitlab", tmp_path / "repo" / ".gitlab-ci.yml", "vendor.gitlab-ci", WHEEL)):
        result = export(target, *common, "-o", str(out))
        assert result.returncode == 0, result.stderr
        check_schema(schema, out)
        text = out.read_text()
        assert "KMODTUI_PIP" not in text and (out.parent / WHEEL).is_file()
        jobs = 3  # plan, one build shard, report: each installs the wheel, from the checkout's root
        assert text.count(f"pip install --disable-pip-version-check {path_in_repo}") == jobs, text
        assert f"# Each job installs kmodtui with `pip install {path_in_repo}`" in text
    # GitHub's report job checks the repository out too: the wheel is in it
    assert (workflows / "kmodtui.yml").read_text().count("actions/checkout@v4") == 3
    # the wheel holds every file of the running package (not its bytecode, nor this interpreter's C reader)
    package = Path(running.__file__).parent
    with zipfile.ZipFile(workflows / WHEEL) as wheel:
        names = set(wheel.namelist())
        assert wheel.testzip() is None
    wanted = {str(p.relative_to(package.parent)) for p in package.rglob("*")
              if p.is_file() and not p.is_symlink() and "__pycache__" not in p.parts and p.suffix not in (".pyc", ".so")}
    assert wanted and wanted <= names, sorted(wanted - names)[:5]
    assert not any(n.endswith((".so", ".pyc")) for n in names)
    assert {f"kmodtui-{running.__version__}.dist-info/{n}" for n in ("METADATA", "WHEEL", "RECORD", "entry_points.txt")} <= names
    # real pip installs it; the kmodtui it installs runs from there and, installed from a wheel, packs
    # the same wheel again (the same bytes: sorted members, fixed times)
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-index", "--target", str(target),
                    str(workflows / WHEEL)], check=True, capture_output=True)
    env = {**os.environ, "PYTHONPATH": str(target)}  # and cwd elsewhere: nothing of this source tree is in reach
    where = subprocess.run([sys.executable, "-c", "import kmodtui; print(kmodtui.__file__)"], capture_output=True,
                           text=True, env=env, cwd=tmp_path).stdout.strip()
    assert where == str(target / "kmodtui" / "__init__.py")
    again = tmp_path / "again"
    again.mkdir()
    result = subprocess.run([sys.executable, "-m", "kmodtui", "matrix", "export", "gitlab", *common, "-o",
                             str(again / ".gitlab-ci.yml")], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (again / WHEEL).read_bytes() == (workflows / WHEEL).read_bytes()


def test_install_spec_replaces_the_wheel_and_is_checked(installed_kernel: Kernel, tmp_path: Path) -> None:
    source = copy_source("provider", tmp_path / "src")
    common = ["--source", str(source), "--kernel", installed_kernel.release]
    # to stdout there is no "beside": one line naming the two ways
    out = export("gitlab", *common)
    assert out.returncode == 2 and out.stderr.count("\n") == 1 and "--install SPEC" in out.stderr and "-o" in out.stderr
    spec = "git+https://example.org/kmodtui.git@v0.1.0"
    out = export("github", *common, "--install", spec)
    assert out.returncode == 0 and out.stdout.count(f"pip install --disable-pip-version-check {spec}") == 3
    out = export("gitlab", *common, "--install", spec, "-o", str(tmp_path / "ci.yml"))
    assert out.returncode == 0 and not list(tmp_path.glob("*.whl"))
    for hostile in ("kmodtui; rm -rf ~", "${{ github.token }}", "$(id)", "x\nnewline: 1", "'quoted'"):
        out = export("github", *common, "--install", hostile)
        assert out.returncode == 2 and out.stderr.count("\n") == 1 and "--install" in out.stderr, out.stderr
