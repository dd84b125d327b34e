"""A build matrix: planned from a TOML file or the command line, run here on real builds (resumable),
exported to GitHub Actions and GitLab CI (validated with check-jsonschema's own vendored schemas),
and reported as one picture."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kmodtui.core.build.matrix import (
    GITHUB_MAX_JOBS,
    GITLAB_MAX_JOBS,
    Cell,
    Matrix,
    export_github,
    export_gitlab,
    shards,
)
from kmodtui.core.model import Kernel
from tests.realtools import copy_source, require_tool, run_ok


def kmodtui(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kmodtui", *args], capture_output=True, text=True, timeout=600,
                          env={**os.environ, **(env or {})})


def check_schema(builtin: str, path: Path) -> None:
    tool = Path(sys.executable).parent / "check-jsonschema"
    result = subprocess.run([str(tool) if tool.exists() else require_tool("check-jsonschema"), "--builtin-schema",
                             builtin, str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_matrix_file_plans_cells_and_skips_those_outside_the_declared_range(installed_kernel: Kernel,
                                                                              tmp_path: Path) -> None:
    source = copy_source("provider", tmp_path / "src")
    (source / "kmodtui-matrix.toml").write_text(f'kernels = ["{installed_kernel.release}"]\nmodes = ["kbuild", "deb"]\n')
    plan = json.loads(kmodtui("matrix", "plan", "--json", "--source", str(source)).stdout)
    assert [(c["mode"], c["skipped"]) for c in plan["cells"]] == [("kbuild", ""), ("deb", "")]
    assert plan["cells"][0]["command"].startswith("kmodtui build --json --source")
    # the source says it is only for 5.x kernels: every cell is skipped, with the reason
    conf = source / "dkms.conf"
    conf.write_text(conf.read_text() + 'BUILD_EXCLUSIVE_KERNEL="^5\\."\n')
    plan = json.loads(kmodtui("matrix", "plan", "--json", "--source", str(source)).stdout)
    assert all("BUILD_EXCLUSIVE_KERNEL" in c["skipped"] and c["command"] is None for c in plan["cells"])


def test_bad_matrix_input_is_one_line_naming_the_key_or_kernel(tmp_path: Path) -> None:
    source = copy_source("provider", tmp_path / "src")
    (source / "kmodtui-matrix.toml").write_text('kernels = ["1.2.3-nowhere"]\nflavours = ["rt"]\n')
    out = kmodtui("matrix", "plan", "--source", str(source))
    assert out.returncode == 2 and out.stderr.count("\n") == 1 and "unknown key 'flavours'" in out.stderr
    (source / "kmodtui-matrix.toml").write_text('kernels = ["1.2.3-nowhere"]\n')
    out = kmodtui("matrix", "plan", "--source", str(source))
    assert out.returncode == 2 and out.stderr.count("\n") == 1 and "1.2.3-nowhere" in out.stderr


def test_exports_validate_against_the_ci_engines_schemas(installed_kernel: Kernel, tmp_path: Path) -> None:
    source = copy_source("provider", tmp_path / "src")
    for target, schema in (("github", "vendor.github-workflows"), ("gitlab", "vendor.gitlab-ci")):
        out = tmp_path / f"{target}.yml"
        result = kmodtui("matrix", "export", target, "--source", str(source), "--kernel", installed_kernel.release,
                         "--kernel", "debian:bookworm:arm64", "--kernel-any", "--mode", "kbuild", "--mode", "deb",
                         "-o", str(out))
        assert result.returncode == 0, result.stderr
        check_schema(schema, out)
        text = out.read_text()
        assert "fail-fast" in text or "allow_failure" in text


def test_big_matrices_are_sharded_never_cut(tmp_path: Path) -> None:
    cells = [Cell(f"6.1.0-{n}-amd64", f"6.1.0-{n}-amd64", "", mode) for n in range(150) for mode in ("kbuild", "deb")]
    assert [len(s) for s in shards(cells, GITHUB_MAX_JOBS)] == [256, 44]
    assert [len(s) for s in shards(cells, GITLAB_MAX_JOBS)] == [200, 100]
    matrix = Matrix("/src", [c.kernel for c in cells[::2]], [], ["kbuild", "deb"])
    for name, text, schema in (("github", export_github(matrix, cells, install="kmodtui==0.1.0"), "vendor.github-workflows"),
                               ("gitlab", export_gitlab(matrix, cells, install="kmodtui==0.1.0"), "vendor.gitlab-ci")):
        path = tmp_path / f"{name}.yml"
        path.write_text(text)
        check_schema(schema, path)
        assert all(text.count(f'"{c.kernel}"') >= 1 for c in cells)
        assert text.count("build-2") >= 1 and "build-3" not in text


def test_run_here_is_resumable_and_the_report_is_one_picture(installed_kernel: Kernel, tmp_path: Path) -> None:
    env = {"KMODTUI_STATE_DIR": str(tmp_path / "state")}
    source = copy_source("provider", tmp_path / "src")
    args = ("--source", str(source), "--kernel", installed_kernel.release, "--mode", "kbuild", "--mode", "deb", "--json")
    started = json.loads(kmodtui("matrix", "run", *args, env=env).stdout)
    assert len(started["started"]) == 2 and started["already_built"] == []
    deadline = time.monotonic() + 300
    while True:
        rows = json.loads(kmodtui("matrix", "report", "--json", env=env).stdout)["cells"]
        if all(r["outcome"] != "running" for r in rows):
            break
        assert time.monotonic() < deadline
        time.sleep(0.5)
    assert sorted((r["mode"], r["outcome"]) for r in rows) == [("deb", "succeeded"), ("kbuild", "succeeded")]
    from tests.core.test_schemas import validate

    validate("matrix", started)
    validate("matrix", json.loads(kmodtui("matrix", "report", "--json", env=env).stdout))
    validate("matrix", json.loads(kmodtui("matrix", "plan", *args, env=env).stdout))
    again = json.loads(kmodtui("matrix", "run", *args, env=env).stdout)
    assert again["started"] == [] and len(again["already_built"]) == 2
    # the report of CI results: each cell's `build --json` output; a job that died wrote no exit event
    result = tmp_path / "result-kbuild.jsonl"
    result.write_text(kmodtui("build", "--json", "--source", str(copy_source("consumer", tmp_path / "c")), "--kernel",
                              installed_kernel.release, env=env).stdout)
    died = tmp_path / "result-died.jsonl"
    died.write_text('{"event": "phase", "phase": "build"}\n')
    report = kmodtui("matrix", "report", str(result), str(died), env=env)
    assert report.returncode == 1
    assert "FAILED (modpost_undefined)" in report.stdout and "DIED" in report.stdout


def test_the_html_report_renders_in_a_real_browser_one_cell_per_build(installed_kernel: Kernel, tmp_path: Path) -> None:
    """The report page, opened by Debian's headless chromium: the DOM (--dump-dom, after layout) has
    one coloured cell per build with its outcome and cause, and a screenshot at a phone's width."""
    chromium = require_tool("chromium")
    env = {"KMODTUI_STATE_DIR": str(tmp_path / "state")}
    ok = tmp_path / "result-provider.jsonl"
    ok.write_text(kmodtui("build", "--json", "--source", str(copy_source("provider", tmp_path / "p")), "--kernel",
                          installed_kernel.release, env=env).stdout)
    failed = tmp_path / "result-consumer.jsonl"
    failed.write_text(kmodtui("build", "--json", "--mode", "deb", "--source", str(copy_source("consumer", tmp_path / "c")),
                              "--kernel", installed_kernel.release, env=env).stdout)
    died = tmp_path / "result-died.jsonl"
    died.write_text('{"event": "phase", "phase": "build"}\n')
    page = tmp_path / "report.html"
    page.write_text(kmodtui("matrix", "report", "--html", str(ok), str(failed), str(died), env=env).stdout)
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={tmp_path / 'profile'}"]
    dom = run_ok([chromium, *flags, "--dump-dom", page.as_uri()]).stdout
    cells = re.findall(r"<td class=\"cell (\w+)\"[^>]*data-outcome=\"(\w+)\"", dom)
    assert sorted(c[1] for c in cells) == ["died", "failed", "succeeded"], dom[-2000:]
    assert "modpost_undefined" in dom and "1 succeeded, 1 failed, 1 died" in dom
    shot = tmp_path / "phone.png"
    run_ok([chromium, *flags, f"--screenshot={shot}", "--window-size=390,844", page.as_uri()])
    assert shot.stat().st_size > 5000 and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def gitlab_ci_local() -> str:
    """gitlab-ci-local 4.60 from the npm registry, installed once into the test download cache (4.60
    runs on Debian 12's Node 20; newer releases need a newer Node)."""
    from tests.realtools import DOWNLOAD_CACHE, missing, run

    prefix = DOWNLOAD_CACHE / "npm"
    tool = prefix / "node_modules" / ".bin" / "gitlab-ci-local"
    if not tool.exists():
        npm = require_tool("npm")
        prefix.mkdir(parents=True, exist_ok=True)
        result = run([npm, "install", "--no-audit", "--no-fund", "--prefix", str(prefix), "gitlab-ci-local@4.60.0"])
        if not tool.exists():
            missing(f"npm could not install gitlab-ci-local 4.60.0: {result.stderr.strip()[-300:]}")
    return str(tool)


@pytest.mark.network
def test_the_gitlab_pipeline_runs_for_real_with_gitlab_ci_local(installed_kernel: Kernel, tmp_path: Path) -> None:
    """Two kernels (this machine's amd64 one, and Debian's arm64 headers of the same ABI: a cross
    build), one mode: the exported pipeline run by gitlab-ci-local's shell executor with isolated
    job folders, as runners have. Plan, one build job per cell, and the report job that gets every
    cell's result as artifacts and writes the report (JSON and HTML)."""
    from tests.realtools import apt_download_foreign, run

    tool = gitlab_ci_local()
    require_tool("rsync")
    require_tool("aarch64-linux-gnu-gcc-12")
    git = require_tool("git")
    abi = installed_kernel.release.removesuffix("-amd64")
    arm = apt_download_foreign(f"linux-headers-{abi}-arm64", "arm64")
    project = tmp_path / "project"
    project.mkdir()
    copy_source("provider", project)
    exported = kmodtui("matrix", "export", "gitlab", "--source", str(project / "provider"), "--source-in-repo",
                       "provider", "--kernel", installed_kernel.release, "--kernel", str(arm), "--mode", "kbuild",
                       "--kernel-any", "-o", str(project / ".gitlab-ci.yml"))
    assert exported.returncode == 0, exported.stderr
    for args in (["init", "-q"], ["add", "-A"], ["-c", "user.email=ci@localhost", "-c", "user.name=ci", "commit", "-qm", "x"]):
        run_ok([git, *args], cwd=project)
    # no kmodtui on the jobs' PATH, nothing preset: each job installs the wheel the export wrote beside
    # the pipeline (its dependencies from the index pip is configured with), and only missing packages
    # from apt (none here: the machine has the tools)
    path = os.pathsep.join(p for p in os.environ.get("PATH", "").split(os.pathsep)
                           if p and not (Path(p) / "kmodtui").exists())
    started = time.monotonic()
    ran = run([tool, "--force-shell-executor", "--shell-isolation"], cwd=project, env={**os.environ, "PATH": path})
    took = time.monotonic() - started
    assert ran.returncode == 0, ran.stdout[-3000:] + ran.stderr[-2000:]
    report = json.loads((project / ".gitlab-ci-local" / "artifacts" / "report" / "matrix-report.json").read_text())
    cells = sorted((c["kernel"], c["mode"], c["outcome"]) for c in report["cells"])
    assert cells == [(f"{abi}-amd64", "kbuild", "succeeded"), (f"{abi}-arm64", "kbuild", "succeeded")], cells
    assert {c["source"] for c in report["cells"]} == {"provider"}  # as every job gave it, whatever its folder
    assert "<table id=\"matrix\">" in (project / ".gitlab-ci-local" / "artifacts" / "report" / "matrix-report.html").read_text()
    venvs = list((project / ".gitlab-ci-local" / "builds").glob("*/.kmodtui-venv/bin/kmodtui"))
    assert len(venvs) == 4, venvs  # plan, 2 builds, report: each ran the kmodtui it installed
    print(f"gitlab-ci-local ran plan, 2 build cells and the report in {took:.1f} s")


@pytest.mark.slow
@pytest.mark.network
@pytest.mark.timeout(1800)  # four builds, two in a trixie chroot it may make first: 203 s on a quiet run, past 600 s at load 7
def test_two_debian_releases_by_two_arches_plan_run_here_and_export(installed_kernel: Kernel, tmp_path: Path) -> None:
    """A matrix file naming distro kernels: bookworm and trixie, amd64 and arm64. Each release's
    current kernel comes from its archive (the same series apt-cache says its metapackage points
    at). Run here, as root: the bookworm cells build on this machine (arm64 cross-built), the trixie
    ones in a trixie chroot kmodtui makes with debootstrap (trixie's kbuild tools are built for its
    C library), all four real modules for their kernel and arch; the exports give each cell its
    release's container, valid for both CI engines. kmodtui's cache is kept in the test download cache,
    as a user's is kept: the chroot is made once per machine (debootstrap, about a minute) and on every
    later run kmodtui brings its kernel headers up to date, as it does for a user."""
    from tests.realtools import DOWNLOAD_CACHE
    from tests.runlocks import locked

    require_tool("aarch64-linux-gnu-gcc-12")
    require_tool("debootstrap")
    cache = DOWNLOAD_CACHE / "kmodtui-cache-matrix"
    with locked(cache.with_name(cache.name + ".lock")):
        _two_releases(installed_kernel, tmp_path, {"KMODTUI_STATE_DIR": str(tmp_path / "state"),
                                                   "KMODTUI_CACHE_DIR": str(cache)})


def _two_releases(installed_kernel: Kernel, tmp_path: Path, env: dict[str, str]) -> None:
    from kmodtui.core.elf.module import read_module
    from tests.realtools import apt_depends_of

    source = copy_source("provider", tmp_path / "src")
    (source / "kmodtui-matrix.toml").write_text('kernels = ["debian:bookworm", "debian:trixie"]\n'
                                                'arches = ["amd64", "arm64"]\nmodes = ["kbuild"]\n')
    plan = json.loads(kmodtui("matrix", "plan", "--source", str(source), "--json", env=env).stdout)
    from tests.core.test_schemas import validate

    validate("matrix", plan)
    releases = {c["release"] for c in plan["cells"]}
    # the archive's trixie kernel (this test's own list may be older than the archive kmodtui just read)
    [trixie_image] = [d for d in apt_depends_of("linux-image-amd64", "trixie") if d.startswith("linux-image-")]
    [trixie] = [r for r in releases if r.endswith("+deb13-amd64")]
    series = trixie_image.removeprefix("linux-image-").split(".")[:2]
    assert trixie.split(".")[:2] == series and len(plan["cells"]) == 4
    assert {c["release"].rsplit("-", 1)[1] for c in plan["cells"]} == {"amd64", "arm64"}
    started = time.monotonic()
    kmodtui("matrix", "run", "--source", str(source), env=env)
    while True:
        rows = json.loads(kmodtui("matrix", "report", "--json", env=env).stdout)["cells"]
        if len(rows) == 4 and all(r["outcome"] != "running" for r in rows):
            break
        assert time.monotonic() - started < 900
        time.sleep(2)
    assert all(r["outcome"] == "succeeded" for r in rows), rows
    for row in rows:
        [ko] = [a for a in row["artifacts"] if ".ko" in a]
        module = read_module(ko)
        assert module.vermagic.split()[0] == row["kernel"]
        assert module.machine == ("aarch64" if row["kernel"].endswith("-arm64") else "x86_64")
    print(f"2 releases x 2 arches, planned and run here in {time.monotonic() - started:.0f} s")
    for target, schema in (("github", "vendor.github-workflows"), ("gitlab", "vendor.gitlab-ci")):
        out = tmp_path / f"{target}.yml"
        assert kmodtui("matrix", "export", target, "--source", str(source), "--kernel-any", "-o", str(out),
                       env=env).returncode == 0
        check_schema(schema, out)
        text = out.read_text()
        assert "debian:trixie" in text and "debian:bookworm:arm64" in text and "gcc-aarch64-linux-gnu" in text
