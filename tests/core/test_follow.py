"""`kmodtui follow` for seed 002's board (Debian bookworm arm64, modules built on an amd64 machine):
kernel versions taken from Debian's archive, the module cross-built for each, published to a
signed apt repository kmodtui keeps; a scratch arm64 root whose apt points at the archive and at the
repository (served on 127.0.0.1) takes kernel and module together, and holds the kernel back while
its module is missing."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kmodtui.core.model import Kernel
from tests.realtools import copy_source, require_tool, run, run_ok

pytestmark = pytest.mark.network

ARCHIVE = "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian"
SECURITY = "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian-security"


def follow(source: Path, repo: Path, env: dict[str, str], *sources: str) -> dict:
    args = [sys.executable, "-m", "kmodtui", "follow", "--once", "--json", "--source", str(source), "--target",
            "debian:bookworm:arm64", "--repo", str(repo), "--url", "http://127.0.0.1/"]
    for line in sources:
        args += ["--apt-source", line]
    result = subprocess.run(args, capture_output=True, text=True, env={**os.environ, **env})
    assert result.stdout, result.stderr
    from tests.core.test_schemas import validate

    payload = json.loads(result.stdout)
    validate("follow", payload)
    return payload | {"exit": result.returncode}


class BoardRoot:
    """A scratch arm64 root: its own apt configuration, lists and dpkg database, nothing else."""

    def __init__(self, root: Path, repo_url: str, key: Path) -> None:
        self.root = root
        for sub in ("etc/apt/keyrings", "etc/apt/apt.conf.d", "etc/apt/preferences.d", "var/lib/apt/lists/partial",
                    "var/cache/apt/archives/partial", "var/lib/dpkg/info", "var/lib/dpkg/updates"):
            (root / sub).mkdir(parents=True, exist_ok=True)
        (root / "var/lib/dpkg/status").touch()
        (root / "etc/apt/keyrings/kmodtui.gpg").write_bytes(key.read_bytes())
        (root / "etc/apt/sources.list").write_text(
            f"{ARCHIVE} bookworm main\n{SECURITY} bookworm-security main\n"
            f"deb [signed-by={root}/etc/apt/keyrings/kmodtui.gpg] {repo_url} ./\n")
        self.apt = ["-o", f"Dir={root}", "-o", "APT::Architecture=arm64", "-o", "Acquire::Check-Valid-Until=false",
                    "-o", f"Dir::State::status={root}/var/lib/dpkg/status", "-o", "Debug::NoLocking=1"]

    def update(self) -> subprocess.CompletedProcess[str]:
        return run([require_tool("apt-get"), *self.apt, "update"])

    def register(self, controls: list[str]) -> None:
        """Mark packages installed from their real control data (apt only reads the status file; the
        kernel's files are not needed to decide what an upgrade does)."""
        with open(self.root / "var/lib/dpkg/status", "a", encoding="utf-8") as f:
            for control in controls:
                f.write(control.strip() + "\nStatus: install ok installed\n\n")

    def simulate(self, *args: str) -> list[str]:
        out = run_ok([require_tool("apt-get"), *self.apt, "-s", *args]).stdout
        return [line for line in out.splitlines() if line.startswith("Inst ")]


def control_of(deb: Path) -> str:
    return run_ok([require_tool("dpkg-deb"), "-f", str(deb)]).stdout


def archive_control(package: str, version: str, lists: Path) -> str:
    """A package's stanza as the archive lists it (apt-cache show on the board root's lists), without
    its own dependencies (the rest of a real board's system, which this root does not have)."""
    out = run_ok([require_tool("apt-cache"), "-o", f"Dir={lists}", "-o", "APT::Architecture=arm64",
                  "-o", f"Dir::State::status={lists}/var/lib/dpkg/status", "show", f"{package}={version}"]).stdout
    stanza = out.split("\n\n", 1)[0]
    keep = ("Package", "Version", "Architecture", "Maintainer", "Provides", "Description")
    return "\n".join(line for line in stanza.splitlines() if line.split(":", 1)[0] in keep)


@pytest.fixture()
def server(tmp_path: Path):
    """The repository folder served on 127.0.0.1 by a throwaway HTTP server."""
    repo = tmp_path / "repo"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1", "--directory",
                             str(repo)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    repo.mkdir()
    for _ in range(50):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.1)
    yield repo, f"http://127.0.0.1:{port}/"
    proc.terminate()
    proc.wait()


def test_a_board_gets_kernel_and_module_together_and_never_a_kernel_without_it(
        installed_kernel: Kernel, tmp_path: Path, server: tuple[Path, str]) -> None:
    require_tool("aarch64-linux-gnu-gcc-12")
    require_tool("apt-ftparchive")
    repo, url = server
    # the repository is filled by follow itself: its first run makes it kmodtui's (it is served empty)
    os.rmdir(repo)
    env = {"KMODTUI_STATE_DIR": str(tmp_path / "state"), "KMODTUI_CACHE_DIR": str(tmp_path / "cache")}
    source = copy_source("provider", tmp_path)
    # 1. the board as it was: bookworm's own kernel (bookworm main only), its module published
    old = follow(source, repo, env, f"{ARCHIVE} bookworm main")
    assert old["result"] == "published", old
    # the signed index verifies with the repository's own key
    key = repo / "kmodtui-archive-keyring.gpg"
    run_ok([require_tool("gpgv"), "--keyring", str(key), str(repo / "InRelease")])
    board = BoardRoot(tmp_path / "board", url, key)
    updated = board.update()
    assert updated.returncode == 0 and "NO_PUBKEY" not in updated.stderr, updated.stdout + updated.stderr
    [meta_deb] = repo.glob("kmodtui-provider-modules-arm64_*.deb")
    [old_module] = repo.glob(f"kmodtui-provider-modules-{old['kernel']}_*.deb")
    old_meta_version = control_of(meta_deb).split("Breaks: linux-image-arm64 (>> ", 1)[1].split(")", 1)[0]
    board.register([archive_control("linux-image-arm64", old_meta_version, board.root),
                    archive_control(f"linux-image-{old['kernel']}", old["kernel_version"], board.root),
                    control_of(old_module), control_of(meta_deb)])
    # 2. the archive moved on (bookworm-security has a newer kernel), no module yet: apt holds it back
    held = board.simulate("upgrade", "--with-new-pkgs")
    assert not any(line.startswith("Inst linux-image-arm64 ") for line in held), held
    # 3. follow's next cycle publishes the module for the new kernel (every old version stays)
    new = follow(source, repo, env)
    assert new["result"] == "published" and new["kernel"] != old["kernel"], new
    assert (repo / old_module.name).exists()
    board.update()
    together = board.simulate("upgrade", "--with-new-pkgs")
    names = {line.split()[1] for line in together}
    assert {"linux-image-arm64", f"linux-image-{new['kernel']}", f"kmodtui-provider-modules-{new['kernel']}",
            "kmodtui-provider-modules-arm64"} <= names, together
    # 4. the module .deb installs with the real dpkg into the board root, an aarch64 module for that kernel
    [new_module] = repo.glob(f"kmodtui-provider-modules-{new['kernel']}_*.deb")
    assert f"linux-image-{new['kernel']} (= {new['kernel_version']})" in control_of(new_module)
    run_ok([require_tool("dpkg"), f"--root={board.root}", "--add-architecture", "arm64"])
    installed = run([require_tool("dpkg"), f"--root={board.root}", "--force-script-chrootless", "--force-not-root",
                     "--force-depends", "--log=/dev/null", "-i", str(new_module)])
    assert installed.returncode == 0, installed.stdout + installed.stderr
    [ko] = (board.root / "lib" / "modules" / new["kernel"]).rglob("provider.ko")
    from kmodtui.core.elf.module import read_module

    assert read_module(ko).machine == "aarch64"
    # 5. nothing new: the next cycle says so and publishes nothing
    again = follow(source, repo, env)
    assert again["result"] == "up-to-date" and again["exit"] == 0


def test_an_unreachable_archive_keeps_the_last_state_and_a_failed_build_publishes_nothing(
        installed_kernel: Kernel, tmp_path: Path) -> None:
    require_tool("aarch64-linux-gnu-gcc-12")
    env = {"KMODTUI_STATE_DIR": str(tmp_path / "state"), "KMODTUI_CACHE_DIR": str(tmp_path / "cache")}
    repo = tmp_path / "repo"
    unreachable = follow(copy_source("provider", tmp_path / "a"), repo, env,
                         "deb [trusted=yes] http://127.0.0.1:9/debian bookworm main")
    assert unreachable["result"] == "archive-unreachable" and unreachable["exit"] == 1
    assert "the archive could not be read" in unreachable["message"]
    broken = copy_source("provider", tmp_path / "b", {"return x + 1;": "return x + ;"})
    failed = follow(broken, repo, env)
    assert failed["result"] == "build-failed" and failed["cause"]["cause"] == "kernel_api_change" or failed["cause"]
    assert not list(repo.glob("*.deb")) and not (repo / "Packages").exists()
    state = json.loads((repo / ".kmodtui-repo" / "follow.json").read_text())
    assert state["last_result"] == "build-failed" and state["published"] == {}
    # nothing was ever published: no kernel with its module to hold the board on
    assert not failed["gate"]["engaged"] and failed["gate"]["reasons"][0]["primary"] == failed["cause"]


def test_a_folder_that_is_not_kmodtuis_is_never_written(tmp_path: Path) -> None:
    repo = tmp_path / "theirs"
    repo.mkdir()
    (repo / "notes.txt").write_text("mine")
    result = subprocess.run([sys.executable, "-m", "kmodtui", "follow", "--once", "--source", "kmodtui/examples/provider",
                             "--target", "debian:bookworm:arm64", "--repo", str(repo)], capture_output=True, text=True,
                            cwd=Path(__file__).resolve().parents[2])
    assert result.returncode == 2 and "not a kmodtui repository" in result.stderr
    assert sorted(p.name for p in repo.iterdir()) == ["notes.txt"]


def test_the_timer_is_shown_then_installed_in_a_scratch_root_and_undone(tmp_path: Path) -> None:
    from tests.core.test_schemas import validate

    root, env = tmp_path / "root", {**os.environ, "KMODTUI_STATE_DIR": str(tmp_path / "state")}
    (root / "etc" / "systemd" / "system").mkdir(parents=True)
    base = [sys.executable, "-m", "kmodtui", "follow", "--source", "kmodtui/examples/provider", "--target",
            "debian:bookworm:arm64", "--repo", str(tmp_path / "repo"), "--root", str(root), "--json"]
    cwd = Path(__file__).resolve().parents[2]
    shown = json.loads(subprocess.run([*base, "--timer", "show"], capture_output=True, text=True, cwd=cwd, env=env).stdout)
    validate("follow", shown)
    assert not shown["installed"] and not list((root / "etc" / "systemd" / "system").iterdir())
    [service] = [text for path, text in shown["files"].items() if path.endswith(".service")]
    assert "follow --once" in service and "Type=oneshot" in service
    installed = json.loads(subprocess.run([*base, "--timer", "install", "--yes"], capture_output=True, text=True,
                                          cwd=cwd, env=env).stdout)
    assert installed["installed"] and all(Path(p).read_text() == t for p, t in installed["files"].items())
    undone = subprocess.run([sys.executable, "-m", "kmodtui", "remedy", "undo", installed["applied"]],
                            capture_output=True, text=True, env=env)
    assert undone.returncode == 0 and not list((root / "etc" / "systemd" / "system").iterdir())
