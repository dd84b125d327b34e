"""A matrix cell is (source, kernel, arch, mode): a cell for another arch than its kernel's headers is
refused at plan time (wrong_arch, naming the headers to use), and the report never merges two
sources or two arches into one cell."""

from __future__ import annotations

import json
import re
from pathlib import Path

from kmodtui.core.model import Kernel
from tests.core.test_matrix import kmodtui
from tests.core.test_schemas import validate
from tests.realtools import copy_source


def test_a_cell_for_another_arch_than_its_kernel_headers_is_refused_at_plan_time(installed_kernel: Kernel,
                                                                                 tmp_path: Path) -> None:
    """The installed amd64 headers with --arch arm64 used to be planned, and the build then failed as
    compiler_mismatch; --arch amd64 (the headers' own arch, by any of its names) is a native cell."""
    source = copy_source("provider", tmp_path / "src")
    abi = installed_kernel.release.rsplit("-", 1)[0]
    for extra in ([], ["--kernel-any"]):  # headers read here, or (a CI plan job) the kernel as written
        out = kmodtui("matrix", "plan", "--json", "--source", str(source), "--kernel", installed_kernel.release,
                      "--arch", "arm64", "--arch", "amd64", "--arch", "x86_64", *extra)
        assert out.returncode == 1, out.stderr
        plan = json.loads(out.stdout)
        validate("matrix", plan)
        refused, *native = plan["cells"]
        assert refused["cause"] == "wrong_arch" and refused["command"] is None and refused["arch"] == "arm64"
        assert f"linux-headers-{abi}-arm64" in refused["skipped"] and re.search(r"debian:\S+:arm64", refused["skipped"])
        assert [(c["arch"], c["cause"], c["skipped"]) for c in native] == [("", "", ""), ("", "", "")]
        assert all("--arch" not in c["command"] for c in native)
    # run and export refuse such a matrix in one line, naming the cell and the headers to use
    for action in (["run"], ["export", "gitlab", "--install", "kmodtui", "-o", str(tmp_path / "ci.yml")]):
        out = kmodtui("matrix", *action, "--source", str(source), "--kernel", installed_kernel.release, "--arch", "arm64")
        assert out.returncode == 2 and out.stderr.count("\n") == 1, out.stderr
        assert "wrong_arch" in out.stderr and f"linux-headers-{abi}-arm64" in out.stderr
    assert not (tmp_path / "ci.yml").exists()


def test_the_report_keeps_each_source_and_arch_in_its_own_cell(installed_kernel: Kernel, tmp_path: Path) -> None:
    """Real builds here of two sources (one fails in modpost) and a cross build the amd64 headers cannot
    do (a garbage tarball is refused before it is recorded): the report used to show them as one cell `FAILED (...), FAILED, ..., ok`
    with no labels; now each is its own cell, and a rebuilt cell shows its newest build."""
    env = {"KMODTUI_STATE_DIR": str(tmp_path / "state")}
    provider = copy_source("provider", tmp_path / "p")
    consumer = copy_source("consumer", tmp_path / "c")
    garbage = tmp_path / "garbage.tar"
    garbage.write_bytes(b"not a tarball\n" * 10)
    release = installed_kernel.release
    for source, *extra in ((provider,), (provider,), (consumer,), (provider, "--arch", "arm64")):
        kmodtui("build", "--source", str(source), "--kernel", release, *extra, env=env)
    # a garbage source is refused before anything is recorded (the CLI contract), so it is no cell at all
    refused = kmodtui("build", "--source", str(garbage), "--kernel", release, env=env)
    assert refused.returncode == 2 and refused.stdout == "" and len(refused.stderr.splitlines()) == 1, refused
    payload = json.loads(kmodtui("matrix", "report", "--json", env=env).stdout)
    validate("matrix", payload)
    cells = sorted((Path(r["source"]).name, r["kernel"], r["arch"], r["mode"], r["outcome"]) for r in payload["cells"])
    assert cells == [("consumer", release, "", "kbuild", "failed"),
                     ("provider", release, "", "kbuild", "succeeded"),
                     ("provider", release, "arm64", "kbuild", "failed")], cells
    table = kmodtui("matrix", "report", env=env).stdout
    assert "| source | kernel | kbuild | kbuild arm64 |" in table
    body = [line for line in table.splitlines() if line.startswith(f"| {tmp_path}")]
    assert len(body) == 2 and not any(", " in line for line in body), table  # never two builds in one cell
    # CI results: each job's `build --json` says its source as given, the same in every job's folder
    results = []
    for name, source in (("p", provider), ("c", consumer)):
        path = tmp_path / f"result-{name}.jsonl"
        path.write_text(kmodtui("build", "--json", "--source", str(source), "--kernel", release, env=env).stdout)
        results.append(str(path))
    from_ci = json.loads(kmodtui("matrix", "report", "--json", *results, env=env).stdout)["cells"]
    assert sorted((r["source"], r["outcome"]) for r in from_ci) == [(str(consumer), "failed"),
                                                                    (str(provider), "succeeded")]
    page = kmodtui("matrix", "report", "--html", *results, env=env).stdout
    assert page.count("<td class='cell ") == 2 and f"data-source='{provider}'" in page
