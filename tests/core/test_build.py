"""`kmodtui build` runs the real tools for each mode, streams and keeps the log, and cleans up after itself."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kmodtui.core.build.plan import planned
from kmodtui.core.build.request import BuildRequest
from kmodtui.core.build.runner import (
    BuildEvent,
    BuildStep,
    LineAssembler,
    RunState,
    run_steps,
)
from kmodtui.core.build.sources import detect_source
from kmodtui.core.model import Kernel
from tests.pkgtools import DpkgRoot
from tests.realtools import EXAMPLES, BuiltModules, require_tool, run_ok


def kmodtui(*args: str, env: dict[str, str] | None = None, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kmodtui", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=timeout)


def events(output: str) -> list[dict]:
    return [json.loads(line) for line in output.splitlines() if line.startswith("{")]


def test_kbuild_mode_streams_json_events_and_lists_the_module(installed_kernel: Kernel) -> None:
    result = kmodtui("build", "--kernel", installed_kernel.release, "--source", str(EXAMPLES / "provider"), "--json")
    assert result.returncode == 0, result.stderr
    evs = events(result.stdout)
    assert evs[0]["event"] == "phase" and evs[0]["phase"] == "build"
    lines = [e["text"] for e in evs if e["event"] == "line"]
    assert any("provider.ko" in line for line in lines)
    exit_event = evs[-1]
    assert exit_event["event"] == "exit" and exit_event["code"] == 0
    [ko] = exit_event["artifacts"]
    assert ko.endswith("provider.ko")
    run_ok([require_tool("modinfo"), ko])
    # the log on disk holds every streamed line
    log = Path(exit_event["log"]).read_text().splitlines()
    assert [line for line in log if not line.startswith("### ")] == lines
    assert any(e["event"] == "finding" and e["rule"] == "btf-skipped" for e in evs)


def test_missing_provider_symbols_fail_with_modpost_finding_then_extra_symbols_fix_it(installed_kernel: Kernel, built: BuiltModules) -> None:
    failed = kmodtui("build", "-k", installed_kernel.release, "-s", str(EXAMPLES / "consumer"), "--json")
    assert failed.returncode == 1
    findings = [e for e in events(failed.stdout) if e["event"] == "finding" and e["severity"] == "error"]
    assert {f["rule"] for f in findings} == {"modpost-undefined"}
    assert "kbuild-extra-symbols" in findings[0]["remedies"]
    fixed = kmodtui("build", "-k", installed_kernel.release, "-s", str(EXAMPLES / "consumer"), "--json",
                    "--extra-symbols", str(built.provider_symvers))
    assert fixed.returncode == 0, fixed.stdout[-2000:]


def test_deb_mode_makes_a_binary_module_deb_dpkg_installs(installed_kernel: Kernel, tmp_path: Path) -> None:
    result = kmodtui("build", "-k", installed_kernel.release, "-s", str(EXAMPLES / "provider"), "-m", "deb", "--json",
                     "--deb-depends", "kmodtui-test-kernel")
    assert result.returncode == 0, result.stdout[-2000:]
    [deb] = [a for a in events(result.stdout)[-1]["artifacts"] if a.endswith(".deb")]
    info = run_ok([require_tool("dpkg-deb"), "-f", deb, "Package", "Depends"]).stdout
    assert f"Package: kmodtui-provider-modules-{installed_kernel.release}" in info
    assert "Depends: kmodtui-test-kernel" in info
    contents = run_ok([require_tool("dpkg-deb"), "-c", deb]).stdout
    assert f"./lib/modules/{installed_kernel.release}/updates/provider.ko" in contents
    # installed into a scratch root: dpkg refuses without the kernel package, accepts with it,
    # and the postinst runs depmod on that root, not on this machine
    root = DpkgRoot(tmp_path / "root")
    assert root.install(Path(deb)).returncode != 0
    from tests.pkgtools import build_deb
    kernel_pkg = build_deb(tmp_path, "kmodtui-test-kernel", "1", {f"/boot/vmlinuz-{installed_kernel.release}": b"x"})
    assert root.install(kernel_pkg).returncode == 0
    done = root.install(Path(deb))
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "root" / "lib" / "modules" / installed_kernel.release / "modules.dep").exists()


def test_dkms_mode_builds_with_private_trees(installed_kernel: Kernel) -> None:
    require_tool("dkms")
    result = kmodtui("build", "-k", installed_kernel.release, "-s", str(EXAMPLES / "provider"), "-m", "dkms", "--json",
                     "--no-sign")
    assert result.returncode == 0, result.stdout[-3000:]
    phases = [e["phase"] for e in events(result.stdout) if e["event"] == "phase"]
    assert phases == ["dkms add", "dkms build"]
    artifacts = events(result.stdout)[-1]["artifacts"]
    assert any(a.endswith("provider.ko") for a in artifacts)


@pytest.mark.parametrize("mode,has_ksym", [("rpm-generic", False), ("rpm-redhat", True)])
def test_rpm_modes_give_the_dependencies_their_spec_style_gives(installed_kernel: Kernel, mode: str, has_ksym: bool) -> None:
    result = kmodtui("build", "-k", installed_kernel.release, "-s", str(EXAMPLES / "provider"), "-m", mode, "--json")
    assert result.returncode == 0, result.stdout[-3000:]
    [rpm_file] = [a for a in events(result.stdout)[-1]["artifacts"] if a.endswith(".rpm")]
    provides = run_ok([require_tool("rpm"), "-qp", "--provides", rpm_file]).stdout
    assert ("ksym(provider_fn) = 0xf96caa5e" in provides) == has_ksym


def test_source_detection_reads_dkms_conf_and_kbuild() -> None:
    source = detect_source(str(EXAMPLES / "provider"))
    assert source.kinds[:2] == ["dkms", "kbuild"]
    assert source.name == "kmodtui-provider" and source.version == "1.0" and source.modules == ["provider"]
    assert "dkms" in source.modes
    result = kmodtui("build", "-k", "whatever", "-s", "/nonexistent/source")
    assert result.returncode == 2 and result.stderr.startswith("kmodtui: ")


# ---- the runner ------------------------------------------------------------------------------

def run_collect(steps: list[BuildStep], log: Path, **kwargs) -> tuple[int, list[BuildEvent], RunState]:
    collected: list[BuildEvent] = []
    state = RunState()
    code = asyncio.run(run_steps(steps, str(log), collected.append, state, **kwargs))
    return code, collected, state


def test_lines_survive_carriage_returns_split_utf8_and_binary_junk(tmp_path: Path) -> None:
    # printf writes the bytes in separate writes: é split across them, \r progress, NUL and ESC junk
    script = ("printf 'progress 10%%\\rprogress 100%%\\n'; printf 'caf\\303'; sleep 0.1; printf '\\251 ok\\n'; "
              "printf 'junk\\000\\033[31m\\377end\\n'; printf 'no newline at the end'")
    code, evs, _ = run_collect([BuildStep("test", ("sh", "-c", script), str(tmp_path))], tmp_path / "log")
    lines = [e.line for e in evs if e.kind == "line"]
    assert code == 0
    assert lines == ["progress 100%", "café ok", "junk??[31m\ufffdend", "no newline at the end"]
    assert (tmp_path / "log").read_text().splitlines()[1:] == lines


def test_line_assembler_cuts_endless_lines() -> None:
    assembler = LineAssembler()
    out = assembler.feed(b"x" * 100_000)
    assert len(out) == 1 and len(out[0]) == 16 * 1024


def pids_in_group(pgid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                if int(fields[2]) == pgid:
                    found.append(int(entry))
            except (OSError, IndexError, ValueError):
                pass
    return found


def test_timeout_kills_the_whole_process_group(tmp_path: Path) -> None:
    step = BuildStep("hang", ("sh", "-c", "sleep 60 & sleep 60 & echo started; wait"), str(tmp_path))
    start = time.monotonic()
    code, evs, _ = run_collect([step], tmp_path / "log", timeout=1.0)
    assert code == 124 and time.monotonic() - start < 15
    started = [e for e in evs if e.kind == "line" and e.line == "started"]
    assert started
    time.sleep(0.2)
    assert "timed out" in (tmp_path / "log").read_text()


def test_cancel_leaves_no_orphans(tmp_path: Path) -> None:
    state = RunState()
    step = BuildStep("hang", ("sh", "-c", "sleep 60 & sleep 60 & echo started; wait"), str(tmp_path))

    async def scenario() -> tuple[int, int]:
        seen: list[BuildEvent] = []
        task = asyncio.create_task(run_steps([step], str(tmp_path / "log"), seen.append, state))
        while not any(e.kind == "line" for e in seen):
            await asyncio.sleep(0.05)
        pgid = state.pgid
        assert pgid and len(pids_in_group(pgid)) >= 2
        state.cancelled = True
        os.killpg(pgid, signal.SIGTERM)  # what the cancel key does
        return await task, pgid

    code, pgid = asyncio.run(scenario())
    assert code == 130
    time.sleep(0.3)
    assert pids_in_group(pgid) == []


def test_missing_tool_is_a_clear_line_not_a_traceback(tmp_path: Path) -> None:
    code, evs, _ = run_collect([BuildStep("x", ("kmodtui-no-such-tool",), str(tmp_path))], tmp_path / "log")
    assert code == 127
    assert any("cannot run kmodtui-no-such-tool" in e.line for e in evs if e.kind == "line")


def test_detached_build_survives_its_terminal_and_is_listed(installed_kernel: Kernel, tmp_path: Path) -> None:
    env = {"KMODTUI_STATE_DIR": str(tmp_path / "state")}
    started = kmodtui("build", "-k", installed_kernel.release, "-s", str(EXAMPLES / "provider"), "--detach", "--json", env=env)
    assert started.returncode == 0 and json.loads(started.stdout)["detached"]
    [record] = json.loads(started.stdout)["records"]
    deadline = time.monotonic() + 120
    records = []
    while time.monotonic() < deadline:
        records = json.loads(kmodtui("builds", "--json", env=env).stdout)["builds"]
        if records and records[0]["state"] != "running":
            break
        time.sleep(0.5)
    assert records and records[0]["state"] == "succeeded", records
    assert records[0]["dir"] == record
    assert Path(records[0]["log"]).read_text().count("provider.ko") >= 1


def test_terminating_the_runner_cancels_its_build_and_records_it(installed_kernel: Kernel, tmp_path: Path) -> None:
    """What the TUI's cancel key does to a detached build: SIGTERM to the runner."""
    env = {"KMODTUI_STATE_DIR": str(tmp_path / "state")}
    source = tmp_path / "slow"
    source.mkdir()
    # kbuild reads the Kbuild file while it runs: $(shell sleep) stands in for a long compile
    (source / "Kbuild").write_text("obj-m := slow.o\n$(shell sleep 90)\n")
    (source / "slow.c").write_text("#error never compiled\n")
    started = kmodtui("build", "-k", installed_kernel.release, "-s", str(source), "--detach", "--json", env=env)
    [record] = json.loads(started.stdout)["records"]
    from kmodtui.core.build.record import read_status
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not (read_status(record) or {}).get("runner_pid"):
        time.sleep(0.1)
    pid = read_status(record)["runner_pid"]
    log = Path(record) / "work" / "build.log"
    while time.monotonic() < deadline and not (log.exists() and "make" in log.read_text()):
        time.sleep(0.1)
    os.kill(pid, signal.SIGTERM)
    start = time.monotonic()
    # its own deadline: on a loaded machine the start above can take most of the first one
    while time.monotonic() < start + 20 and read_status(record).get("state") == "running":
        time.sleep(0.1)
    assert read_status(record)["state"] == "cancelled"
    assert time.monotonic() - start < 10


def test_build_plan_copies_the_source_and_never_builds_in_it(installed_kernel: Kernel, tmp_path: Path) -> None:
    plan = planned(BuildRequest(str(EXAMPLES / "provider"), installed_kernel), str(tmp_path / "work"))
    assert plan.src_dir.startswith(str(tmp_path)) and (Path(plan.src_dir) / "provider.c").exists()
    # the example has a dkms.conf: kbuild mode builds as dkms would (its MAKE, with dkms's variables)
    step = plan.steps[0]
    assert step.argv[:2] == ("bash", "-c") and ". ./dkms.conf" in step.argv[2]
    assert os.path.realpath(dict(step.env)["kernel_source_dir"]) == os.path.realpath(installed_kernel.build_dir)


def test_build_matrix_reports_each_kernel(installed_kernel: Kernel) -> None:
    """One source, two trees: the real headers build; the demo's trimmed tree cannot (no kbuild)."""
    from kmodtui.core.paths import package_data

    # the demo's own tree, whatever ABI the installed headers are (the archive moves: 6.1.0-56, then -57)
    demo_tree = next(str(p) for p in Path(package_data("data", "demo", "root", "usr", "src")).glob("linux-headers-*"))
    result = kmodtui("build", "-k", installed_kernel.release, "-k", demo_tree, "-s", str(EXAMPLES / "provider"))
    assert result.returncode == 1
    table = result.stdout[result.stdout.rindex("kernel "):].splitlines()
    assert table[1].split()[:2] == [installed_kernel.release, "succeeded"]
    assert table[2].split()[1] == "failed"


@pytest.mark.network
def test_matrix_with_headers_unpacked_from_packages(installed_kernel: Kernel, tmp_path: Path) -> None:
    """Installed headers plus another ABI's headers unpacked from Debian's packages (arch + common):
    both build, and each module resolves cleanly against its own kernel only."""
    from tests.realtools import apt_download, other_abi_headers_package

    package = other_abi_headers_package(installed_kernel.release)
    common = package.removesuffix("-amd64") + "-common"
    env = {"KMODTUI_CACHE_DIR": str(tmp_path / "cache"), "KMODTUI_STATE_DIR": str(tmp_path / "state")}
    listed = kmodtui("kernels", "--json", "--root", str(tmp_path / "none"), "--from", str(apt_download(package)),
                     "--from", str(apt_download(common)), env=env)
    [other] = json.loads(listed.stdout)["kernels"]
    result = kmodtui("build", "-k", other["build_dir"], "-k", installed_kernel.release, "-s", str(EXAMPLES / "provider"),
                     "--json", env=env)
    assert result.returncode == 0, result.stdout[-3000:]
    exits = [e for e in events(result.stdout) if e["event"] == "exit"]
    assert [e["state"] for e in exits] == ["succeeded", "succeeded"]
    other_ko = next(a for a in exits[0]["artifacts"] if a.endswith(".ko"))
    assert run_ok([require_tool("modinfo"), "-F", "vermagic", other_ko]).stdout.startswith(other["release"] + " ")
    same = kmodtui("resolve", other_ko, "--kernel", other["symvers_path"], "--no-cache", env=env)
    assert same.returncode == 0, same.stdout
    crossed = kmodtui("resolve", other_ko, "--kernel", installed_kernel.release, "--no-cache", env=env)
    assert crossed.returncode == 1 and "module_layout" in crossed.stdout


def test_a_kmod_srpm_is_rebuilt_for_a_chosen_kernel_without_editing_its_spec(installed_kernel: Kernel, tmp_path: Path) -> None:
    """Seed 003: module packages rebuilt for custom kernels. A real kmod SRPM (sources + a spec that
    builds with %{ksrc} for %{kernel_version}), made by rpmbuild -bs, rebuilt by kmodtui."""
    rpmbuild = require_tool("rpmbuild")
    top = tmp_path / "top"
    (top / "SOURCES").mkdir(parents=True)
    run_ok(["tar", "-C", str(EXAMPLES), "-czf", str(top / "SOURCES" / "provider-1.0.tar.gz"), "provider"])
    spec = tmp_path / "kmod-provider.spec"
    spec.write_text("""Name: kmod-provider
Version: 1.0
Release: 1
Summary: kmodtui example provider, built from source for one kernel
License: GPL
Source0: provider-1.0.tar.gz
%global debug_package %{nil}
%global __os_install_post %{nil}
%{!?kernel_version: %global kernel_version %(uname -r)}
%{!?ksrc: %global ksrc /lib/modules/%{kernel_version}/build}
%description
test
%prep
%setup -q -n provider
%build
make -C %{ksrc} M=$PWD modules
%install
mkdir -p %{buildroot}/lib/modules/%{kernel_version}/extra
install -m 0644 provider.ko %{buildroot}/lib/modules/%{kernel_version}/extra/
%files
/lib/modules/%{kernel_version}/extra/provider.ko
""")
    run_ok([rpmbuild, "-bs", "--define", f"_topdir {top}", str(spec)])
    srpm = next((top / "SRPMS").glob("*.src.rpm"))
    result = kmodtui("build", "-k", installed_kernel.release, "-s", str(srpm), "--json")
    assert result.returncode == 0, result.stdout[-3000:]
    [rpm_file] = [a for a in events(result.stdout)[-1]["artifacts"] if a.endswith(".rpm")]
    files = run_ok([require_tool("rpm"), "-qlp", rpm_file]).stdout.split()
    assert files == [f"/lib/modules/{installed_kernel.release}/extra/provider.ko"]
    from kmodtui.core.packages.read import read_package
    [module] = read_package(rpm_file).modules
    assert module.vermagic.split()[0] == installed_kernel.release


def test_a_cancel_that_comes_while_a_step_starts_still_stops_it(tmp_path: Path, monkeypatch) -> None:
    """The cancel key (SIGTERM to the runner) can land after the log says a step started but
    before its process group is known: that step must still be stopped, not run to its end (a
    flaky run of the test above showed make's 30-second sleep outliving the cancel)."""
    import kmodtui.core.build.runner as runner

    state = RunState()
    real = asyncio.create_subprocess_exec

    async def start_then_cancel(*args, **kwargs):  # the signal arrives just as the process starts
        proc = await real(*args, **kwargs)
        state.cancelled = True
        return proc

    monkeypatch.setattr(runner.asyncio, "create_subprocess_exec", start_then_cancel)
    steps = [BuildStep("hang", ("sh", "-c", "sleep 30"), str(tmp_path)),
             BuildStep("never", ("sh", "-c", f"touch {tmp_path / 'ran'}"), str(tmp_path))]
    start = time.monotonic()
    code = asyncio.run(run_steps(steps, str(tmp_path / "log"), lambda e: None, state))
    assert code == 130 and time.monotonic() - start < 10
    assert not (tmp_path / "ran").exists()  # and the next step never starts


def test_out_dir_gets_a_copy_of_what_was_built(installed_kernel: Kernel, tmp_path: Path) -> None:
    """build --out-dir: the artifacts where the user wants them, the record keeping its own."""
    out = tmp_path / "out"
    result = subprocess.run([sys.executable, "-m", "kmodtui", "build", "--json", "-k", installed_kernel.release,
                             "-s", str(EXAMPLES / "provider"), "--mode", "deb", "--out-dir", str(out)],
                            capture_output=True, text=True, env={**os.environ, "KMODTUI_STATE_DIR": str(tmp_path / "s")})
    exit_event = json.loads(result.stdout.splitlines()[-1])
    assert exit_event["state"] == "succeeded"
    assert sorted(p.name for p in out.iterdir()) == sorted(Path(a).name for a in exit_event["artifacts"])
    assert all(Path(a).exists() for a in exit_event["artifacts"])
