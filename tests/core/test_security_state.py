"""Issue 20, processes and state: kmodtui runs itself isolated, status records and remedy manifests
are written atomically and validated on read, cancel signals only a kmodtui runner, a hung-up
foreground build stops its make, remedies refuse system and read-only files and edit a link at its
target, hostile names cannot drive the terminal."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.core.test_security import kmodtui
from tests.realtools import require_tool

# ---- processes and state ----------------------------------------------------------------------

def test_a_detached_build_runs_this_kmodtui_whatever_folder_it_starts_in(installed_kernel, tmp_path: Path) -> None:
    """A folder holding kmodtui/__main__.py (or any kmodtui/ folder, like a clone's parent) used to
    run instead of kmodtui for detached builds, serve and the kernel hook."""
    from tests.realtools import EXAMPLES

    trap = tmp_path / "cwd"
    (trap / "kmodtui").mkdir(parents=True)
    marker = tmp_path / "HIJACKED"
    (trap / "kmodtui" / "__main__.py").write_text(f"open({str(marker)!r}, 'w').write('ran')\n")
    (trap / "kmodtui" / "__init__.py").write_text("")
    env = {"KMODTUI_STATE_DIR": str(tmp_path / "state")}
    code = ("import json, sys\nfrom kmodtui.core.build.job import start_detached\n"
            f"print(json.dumps(start_detached({str(EXAMPLES / 'provider')!r}, [{installed_kernel.release!r}], 'kbuild')))\n")
    # started the way the TUI starts it: from the launcher's own cwd, here the trap folder
    out = subprocess.run([sys.executable, "-I", "-c", code], cwd=trap, capture_output=True, text=True,
                         env={**os.environ, **env}, check=True)
    [record] = json.loads(out.stdout)
    import time

    from kmodtui.core.build.record import read_status
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and (read_status(record) or {}).get("state") == "running":
        time.sleep(0.3)
    assert not marker.exists()
    assert read_status(record)["state"] == "succeeded", (Path(record) / "work" / "build.log").read_text()[-2000:]


def test_hook_and_spec_generators_run_kmodtui_isolated() -> None:
    from kmodtui.core.paths import self_command
    from kmodtui.core.remedies.hooks import SCRIPT

    assert " -I -m kmodtui" in self_command() and "cd /" in SCRIPT


def test_status_writers_do_not_lose_each_others_fields(tmp_path: Path) -> None:
    """The launcher writes runner_pid while the runner writes its final state: both must survive."""
    from kmodtui.core.build import record as buildrecord

    record = tmp_path / "rec"
    record.mkdir()
    buildrecord.write_status(str(record), state="running", started=0.0)
    code = ("import sys\nfrom kmodtui.core.build import record as buildrecord\n"
            "for i in range(300):\n    buildrecord.write_status(sys.argv[1], **{sys.argv[2] + str(i): i})\n")
    procs = [subprocess.Popen([sys.executable, "-c", code, str(record), key], cwd=str(Path(__file__).parents[2]))
             for key in ("a", "b")]
    for proc in procs:
        assert proc.wait(timeout=120) == 0
    status = buildrecord.read_status(str(record))
    assert status is not None and all(f"{k}{i}" in status for k in "ab" for i in range(300))


def test_listing_builds_never_writes_died_and_a_starting_build_is_running(tmp_path: Path, monkeypatch) -> None:
    from kmodtui.core.build import record as buildrecord

    monkeypatch.setenv("KMODTUI_STATE_DIR", str(tmp_path / "state"))
    import time

    _, starting = buildrecord.new_build_dir("starting")
    buildrecord.write_status(starting, state="running", started=time.time(), launcher_pid=os.getpid())
    _, gone = buildrecord.new_build_dir("gone")
    buildrecord.write_status(gone, state="running", started=time.time() - 3600, runner_pid=2 ** 22 - 7)
    states = {os.path.basename(r["dir"]).split("-")[2]: r["state"] for r in buildrecord.list_builds()}
    assert states == {"starting": "running", "gone": "died"}
    assert buildrecord.read_status(gone)["state"] == "running"  # shown as died, not written


@pytest.mark.parametrize("pid", [-1, 0, 1, "12", True, 2 ** 22 - 7])
def test_cancel_never_signals_a_pid_that_is_not_a_kmodtui_runner(pid, tmp_path: Path) -> None:
    """runner_pid -1 used to mean kill(-1, SIGTERM): every process the user may signal."""
    from kmodtui.core.build import record as buildrecord

    assert buildrecord.stop({"state": "running", "runner_pid": pid}) is False


@pytest.mark.parametrize("content", ['{"state": "running", "runner_pid": -1}', '{"state": 5}',
                                     '{"state": "running", "artifacts": "x"}', '{"state": "bogus"}',
                                     '{"state": "succeeded", "findings": [1]}'])
def test_a_wrongly_typed_status_is_ignored_not_fatal(content: str, tmp_path: Path) -> None:
    state = tmp_path / "state"
    record = state / "builds" / "20260101-000000-bad-0000"
    record.mkdir(parents=True)
    (record / "status.json").write_text(content)
    result = kmodtui("builds", "--json", env={"KMODTUI_STATE_DIR": str(state)})
    assert result.returncode == 0 and json.loads(result.stdout)["builds"] == [], result.stderr


def test_sighup_of_a_foreground_build_stops_make_and_keeps_the_lock_until_then(installed_kernel, tmp_path: Path) -> None:
    import signal
    import time

    source = tmp_path / "slow"
    source.mkdir()
    # a duration no other process on the machine uses, so that pgrep finds only this build's sleep
    nap = f"sleep 60.{os.getpid() % 10000:04d}"
    (source / "Kbuild").write_text(f"obj-m := slow.o\n$(shell {nap})\n")
    (source / "slow.c").write_text("#error never compiled\n")
    env = {**os.environ, "KMODTUI_STATE_DIR": str(tmp_path / "state")}
    proc = subprocess.Popen([sys.executable, "-I", "-m", "kmodtui", "build", "-k", installed_kernel.release,
                             "-s", str(source), "--json"], stdout=subprocess.PIPE, text=True, env=env)
    assert proc.stdout is not None
    for line in proc.stdout:
        if '"phase"' in line:
            break
    deadline = time.monotonic() + 30
    sleepers: list[str] = []
    while not sleepers and time.monotonic() < deadline:  # make has read the Kbuild and started sleeping
        sleepers = subprocess.run(["pgrep", "-f", nap], capture_output=True, text=True).stdout.split()
        time.sleep(0.05)
    assert sleepers, "make's sleep did not start"
    proc.send_signal(signal.SIGHUP)
    proc.wait(timeout=30)
    reaped_by = time.monotonic() + 0.3  # as before: gone within 0.3 s of kmodtui's exit (zombies reaped)
    alive = [p for p in sleepers if Path(f"/proc/{p}").exists()]
    while alive and time.monotonic() < reaped_by:
        time.sleep(0.02)
        alive = [p for p in sleepers if Path(f"/proc/{p}").exists()]
    assert alive == []  # make and its children were stopped before kmodtui let go


# ---- remedies, special files, output ----------------------------------------------------------

def test_import_namespace_remedy_ignores_link_loops_and_fifos(tmp_path: Path) -> None:
    source = tmp_path / "src"
    (source / "sub").mkdir(parents=True)
    (source / "sub" / "loop").symlink_to("..")  # glob("**") followed this forever
    os.mkfifo(source / "sub" / "pipe.c")  # and opened this, which blocks
    (source / "ns.c").write_text("#include <linux/module.h>\nMODULE_LICENSE(\"GPL\");\nint f(void) { return provider_ns_fn(); }\n")
    result = subprocess.run([sys.executable, "-I", "-m", "kmodtui", "remedy", "show", "import-namespace", "--target",
                             str(source), "--symbol", "provider_ns_fn", "--namespace", "KMODTUI_NS"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "MODULE_IMPORT_NS(KMODTUI_NS)" in result.stdout


def test_a_dkms_conf_index_of_5000_digits_is_one_note_not_an_internal_error(tmp_path: Path) -> None:
    source = tmp_path / "src"
    source.mkdir()
    (source / "dkms.conf").write_text('PACKAGE_NAME="x"\nPACKAGE_VERSION="1"\nBUILT_MODULE_NAME[' + "9" * 5000 + ']="x"\n')
    (source / "Kbuild").write_text("obj-m := x.o\n")
    result = kmodtui("source", str(source), "--json")
    assert result.returncode == 0, result.stderr
    assert any("digits" in note for note in json.loads(result.stdout)["build_time_only"])


def test_hostile_file_names_cannot_forge_a_line_or_drive_the_terminal(tmp_path: Path) -> None:
    name = tmp_path / "x\nkmodtui: all fine\x1b[2J.ko"
    name.write_bytes(b"not an ELF file")
    result = kmodtui("inspect", str(name))
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "\x1b" not in result.stderr
    assert "\\x0akmodtui: all fine\\x1b[2J.ko" in result.stderr


@pytest.mark.parametrize("path", ["/var/lib/dkms/zfs/2.1.11/source/dkms.conf", "/usr/lib64/rpm/find-provides",
                                  "/usr/libexec/rpm/find-provides.ksyms", "/usr/local/lib/rpm/macros",
                                  "/usr/src/zfs-2.1.11/dkms.conf", "/usr/src/linux-headers-6.1.0-56-amd64/Makefile"])
def test_system_paths_cover_dkms_and_package_trees(path: str) -> None:
    from kmodtui.core.remedies.edits import is_system_path

    assert is_system_path(path)


def test_a_package_owned_file_outside_the_usual_folders_is_a_system_file() -> None:
    from kmodtui.core.remedies.edits import package_owner

    require_tool("dpkg-query")
    assert package_owner("/usr/bin/dpkg") == "dpkg"
    assert package_owner("/tmp/nobody-owns-this") is None


def test_a_read_only_file_is_not_edited_even_as_root(tmp_path: Path) -> None:
    spec = tmp_path / "p.spec"
    spec.write_text("Name: p\n%prep\n")
    spec.chmod(0o444)
    result = kmodtui("remedy", "apply", "spec-external-depgen", "--target", str(spec), "--yes",
                     env={"KMODTUI_STATE_DIR": str(tmp_path / "state")})
    assert result.returncode == 2 and "read-only" in result.stderr
    assert spec.read_text() == "Name: p\n%prep\n"


def test_a_symlinked_target_is_edited_at_the_links_target_and_stays_a_link(tmp_path: Path) -> None:
    real = tmp_path / "real.spec"
    real.write_text("Name: p\n%prep\n")
    link = tmp_path / "link.spec"
    link.symlink_to("real.spec")
    env = {"KMODTUI_STATE_DIR": str(tmp_path / "state")}
    result = kmodtui("remedy", "apply", "spec-external-depgen", "--target", str(link), "--yes", "--json", env=env)
    assert result.returncode == 0, result.stderr
    assert link.is_symlink() and "_use_internal_dependency_generator 0" in real.read_text()
    undo_id = json.loads(result.stdout)["applied"]
    assert kmodtui("remedy", "undo", undo_id, env=env).returncode == 0
    assert link.is_symlink() and real.read_text() == "Name: p\n%prep\n"


@pytest.mark.parametrize("point", ["after-backups", "before-rename"])
def test_an_interrupted_remedy_leaves_no_phantom_record_and_no_temp_file(point: str, tmp_path: Path) -> None:
    spec = tmp_path / "p.spec"
    spec.write_text("Name: p\n%prep\n")
    env = {"KMODTUI_STATE_DIR": str(tmp_path / "state")}
    crashed = kmodtui("remedy", "apply", "spec-external-depgen", "--target", str(spec), "--yes",
                      env={**env, "KMODTUI_CRASH_AT": point})
    assert crashed.returncode == -9
    history = kmodtui("remedy", "history", "--json", env=env)
    assert history.returncode == 0, history.stderr
    assert json.loads(history.stdout)["applied"] == []  # nothing was applied: no "applied" record
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.spec", "state"]  # the temp file is gone
    assert spec.read_text() == "Name: p\n%prep\n"


@pytest.mark.parametrize("content", ['{"files": 5}', '{"files": [{"path": 1}]}', '[]', '{"remedy": [], "files": []}'])
def test_a_wrongly_typed_manifest_does_not_break_the_history(content: str, tmp_path: Path) -> None:
    state = tmp_path / "state"
    record = state / "remedies" / "20260101-000000-x-1"
    record.mkdir(parents=True)
    (record / "manifest.json").write_text(content)
    result = kmodtui("remedy", "history", "--json", env={"KMODTUI_STATE_DIR": str(state)})
    assert result.returncode == 0 and json.loads(result.stdout)["applied"] == [], result.stderr


def test_a_new_signing_key_is_private_whatever_the_umask(tmp_path: Path) -> None:
    require_tool("openssl")
    from kmodtui.core.lifecycle.signing import make_signing_key

    old = os.umask(0)
    try:
        key, cert = make_signing_key(str(tmp_path / "keys"))
    finally:
        os.umask(old)
    assert (tmp_path / "keys").stat().st_mode & 0o777 == 0o700
    assert Path(key).stat().st_mode & 0o777 == 0o600


def test_a_providers_symvers_that_is_a_link_out_of_its_build_is_refused(installed_kernel, monkeypatch,
                                                                          tmp_path: Path) -> None:
    """A consumer's build copies its provider's Module.symvers out of the provider's build folder,
    which that (confined, hostile) build could write: a link there, to a file outside, is refused
    with one clear line, never followed and copied where the next build can read it."""
    import dataclasses

    from kmodtui.core.build import record as buildrecord
    from kmodtui.core.build.inputs import BuildRequest
    from kmodtui.core.build.providers import attach_providers
    from kmodtui.core.errors import KmodError

    monkeypatch.setenv("KMODTUI_STATE_DIR", str(tmp_path / "state"))
    provider = tmp_path / "provider"
    provider.mkdir()
    secret = tmp_path / "secret" / "Module.symvers"
    secret.parent.mkdir()
    secret.write_text("0x1\tsecret\tvmlinux\tEXPORT_SYMBOL\t\n")
    _, record = buildrecord.new_build_dir("provider")
    (Path(record) / "work" / "src").mkdir(parents=True)
    (Path(record) / "work" / "src" / "Module.symvers").symlink_to(secret)
    buildrecord.write_status(record, state=buildrecord.SUCCEEDED, kernel=installed_kernel.release,
                             source=str(provider), mode="kbuild")
    request = dataclasses.replace(BuildRequest(str(tmp_path), installed_kernel), providers=(str(provider),))
    with pytest.raises(KmodError, match="leads outside its build's folder"):
        attach_providers(request, str(tmp_path / "consumer-work"))
    assert not (tmp_path / "consumer-work" / "providers" / "0" / "Module.symvers").exists()
