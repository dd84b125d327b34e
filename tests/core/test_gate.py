"""The kernel gate (issue 34): a kernel whose followed modules did not build is not the next boot.

Each scratch root boots like a Debian machine: grub.cfg from the real grub-mkconfig (update-grub's
scripts), or loader entries from the real kernel-install; the provider is installed for the kernel
whose headers are here; a newer kernel has no headers. What boots next is read back with the real
tools: `grub-editenv list`, `bootctl list`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from kmodtui.core.model import Kernel
from tests.bootroots import (
    boot_root,
    bootctl_default,
    grub_entry_id,
    grubenv,
    headers_for,
    loader_entries,
    newer_release,
    update_grub,
)
from tests.core.test_schemas import validate
from tests.realtools import BuiltModules, copy_source, require_tool, run_ok


def kmodtui(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kmodtui", *args], capture_output=True, text=True, timeout=600,
                          env={**os.environ, **env}, stdin=subprocess.DEVNULL)


def _provider_installed(root: Path, release: str, built: BuiltModules) -> None:
    """The provider as a hook run leaves it for the kernel that has headers (updates/kmodtui)."""
    target = root / "lib" / "modules" / release / "updates" / "kmodtui"
    target.mkdir(parents=True, exist_ok=True)
    (target / "provider.ko").write_bytes(built.provider_ko.read_bytes())


def test_grub_holds_the_next_boot_on_the_running_abi_until_the_new_kernel_has_its_module(
        installed_kernel: Kernel, tmp_path: Path) -> None:
    """The done-when story: the provider is installed for the ABI with headers (a real hook run);
    a new kernel arrives without headers: the hook fails, saved_entry names the old ABI's entry and the
    output says which kernel boots next and why; the headers come, the next run succeeds and
    saved_entry is what it was before kmodtui touched it."""
    running, new = installed_kernel.release, newer_release(installed_kernel.release)
    root, env = tmp_path / "root", {"KMODTUI_STATE_DIR": str(tmp_path / "state")}
    boot_root(root, [running, new])
    cfg = update_grub(root)
    assert cfg.index(f"Linux {new}'") < cfg.index(f"Linux {running}'"), "update-grub lists the newest first"
    first = cfg.split("menuentry '", 2)[1]  # the user had chose the top entry, by its id
    users_choice = first.split("$menuentry_id_option '", 1)[1].split("'", 1)[0]
    run_ok([require_tool("grub-editenv"), str(root / "boot" / "grub" / "grubenv"), "set", f"saved_entry={users_choice}"])
    provider = copy_source("provider", tmp_path / "src")
    ran = kmodtui("hook", "run", "--kernel", running, "--source", str(provider), "--root", str(root), env=env)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "kmodtui gate:" not in ran.stderr and grubenv(root)["saved_entry"] == users_choice

    failed = kmodtui("hook", "run", "--kernel", new, "--source", str(provider), "--root", str(root), env=env)
    assert failed.returncode == 1, failed.stdout + failed.stderr
    held = grub_entry_id(cfg, running)
    assert grubenv(root)["saved_entry"] == held
    [line] = [x for x in failed.stderr.splitlines() if x.startswith("kmodtui gate: ")]
    assert f"{running} boots next, not {new}" in line and "no kernel headers for the target kernel" in line, line
    gate = kmodtui("gate", "--root", str(root), "--json", env=env)
    payload = json.loads(gate.stdout)
    assert gate.returncode == 1 and payload["engaged"] and payload["loader"] == "grub"
    validate("gate", payload)
    assert (payload["held_on"], payload["new_kernel"], payload["entry"]) == (running, new, held)
    assert payload["previous"] == users_choice and payload["since"] > 0
    [why] = payload["reasons"]
    assert why["name"] == "kmodtui-provider" and why["primary"]["cause"] == "headers_missing"
    builds = kmodtui("builds", env=env)
    assert f"kernel gate: {running} boots next" in builds.stdout

    headers_for(root, new, installed_kernel.build_dir)
    fixed = kmodtui("hook", "run", "--kernel", new, "--source", str(provider), "--root", str(root), "--json", env=env)
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    assert grubenv(root)["saved_entry"] == users_choice
    report = json.loads(fixed.stdout)
    validate("hook", report)
    validate("builds", json.loads(kmodtui("builds", "--json", env=env).stdout))
    assert not report["gate"]["engaged"] and "lifted" in report["gate"]["message"] and users_choice in \
        report["gate"]["message"]
    modinfo = run_ok([require_tool("modinfo"), "-F", "vermagic", str(root / "lib" / "modules" / new / "updates" /
                                                                         "kmodtui" / "provider.ko")]).stdout
    assert modinfo.split()[0] == new


def test_a_saved_entry_someone_chose_since_is_left_and_said(installed_kernel: Kernel, built: BuiltModules,
                                                            tmp_path: Path) -> None:
    running, new = installed_kernel.release, newer_release(installed_kernel.release)
    root, env = tmp_path / "root", {"KMODTUI_STATE_DIR": str(tmp_path / "state")}
    boot_root(root, [running, new])
    cfg = update_grub(root)
    _provider_installed(root, running, built)
    provider = copy_source("provider", tmp_path / "src")
    assert kmodtui("hook", "run", "--kernel", new, "--source", str(provider), "--root", str(root),
                   env=env).returncode == 1
    assert grubenv(root)["saved_entry"] == grub_entry_id(cfg, running)
    theirs = grub_entry_id(cfg, new)  # the admin picks the new kernel by hand
    run_ok([require_tool("grub-editenv"), str(root / "boot" / "grub" / "grubenv"), "set", f"saved_entry={theirs}"])
    lifted = kmodtui("gate", "lift", "--root", str(root), env=env)
    assert lifted.returncode == 0 and "someone chose it since" in lifted.stdout, lifted.stdout + lifted.stderr
    assert grubenv(root)["saved_entry"] == theirs


def test_grub_once_sets_next_entry_and_leaves_saved_entry(installed_kernel: Kernel, built: BuiltModules,
                                                          tmp_path: Path) -> None:
    running, new = installed_kernel.release, newer_release(installed_kernel.release)
    root, env = tmp_path / "root", {"KMODTUI_STATE_DIR": str(tmp_path / "state")}
    boot_root(root, [running, new])
    cfg = update_grub(root)
    _provider_installed(root, running, built)
    provider = copy_source("provider", tmp_path / "src")
    ran = kmodtui("hook", "run", "--kernel", new, "--source", str(provider), "--root", str(root), "--gate", "once",
                  env=env)
    assert ran.returncode == 1 and "next boot only" in ran.stderr, ran.stderr
    assert grubenv(root) == {"next_entry": grub_entry_id(cfg, running)}
    assert kmodtui("gate", "lift", "--root", str(root), env=env).returncode == 0
    assert grubenv(root) == {}


def test_grub_default_not_saved_is_reported_not_edited(installed_kernel: Kernel, built: BuiltModules,
                                                       tmp_path: Path) -> None:
    running, new = installed_kernel.release, newer_release(installed_kernel.release)
    root, env = tmp_path / "root", {"KMODTUI_STATE_DIR": str(tmp_path / "state")}
    boot_root(root, [running, new])
    update_grub(root, grub_default="0")
    settings = (root / "etc" / "default" / "grub").read_bytes()
    _provider_installed(root, running, built)
    provider = copy_source("provider", tmp_path / "src")
    ran = kmodtui("hook", "run", "--kernel", new, "--source", str(provider), "--root", str(root), "--json", env=env)
    gate = json.loads(ran.stdout)["gate"]
    assert ran.returncode == 1 and not gate["engaged"]
    assert "GRUB_DEFAULT is '0'" in gate["message"] and "set GRUB_DEFAULT=saved" in gate["message"]
    assert (root / "etc" / "default" / "grub").read_bytes() == settings and grubenv(root) == {}


def test_systemd_boot_default_entry_held_and_restored(installed_kernel: Kernel, built: BuiltModules,
                                                      tmp_path: Path) -> None:
    """Loader entries from the real kernel-install; the default read back by the real bootctl. In a
    scratch root the gate edits loader.conf (bootctl set-default writes an EFI variable of this machine)."""
    running, new = installed_kernel.release, newer_release(installed_kernel.release)
    root, env = tmp_path / "root", {"KMODTUI_STATE_DIR": str(tmp_path / "state")}
    boot_root(root, [running, new])
    esp = loader_entries(root, [running, new])
    conf = esp / "loader" / "loader.conf"
    conf.write_text("timeout 3\n")
    before = bootctl_default(esp)
    assert before.endswith(f"-{new}.conf"), "systemd-boot picks the newest entry when no default is set"
    _provider_installed(root, running, built)
    provider = copy_source("provider", tmp_path / "src")
    ran = kmodtui("hook", "run", "--kernel", new, "--source", str(provider), "--root", str(root), env=env)
    assert ran.returncode == 1 and f"{running} boots next, not {new}" in ran.stderr, ran.stderr
    assert bootctl_default(esp).endswith(f"-{running}.conf")
    payload = json.loads(kmodtui("gate", "--root", str(root), "--json", env=env).stdout)
    assert payload["loader"] == "systemd-boot" and payload["method"] == "loader.conf" and payload["previous"] is None
    assert Path(payload["backup"]).read_text() == "timeout 3\n"
    lifted = kmodtui("gate", "lift", "--root", str(root), env=env)
    assert lifted.returncode == 0 and "lifted" in lifted.stdout
    assert conf.read_text() == "timeout 3\n" and bootctl_default(esp) == before


def test_no_boot_loader_it_can_steer_says_so(installed_kernel: Kernel, built: BuiltModules, tmp_path: Path) -> None:
    running, new = installed_kernel.release, newer_release(installed_kernel.release)
    root, env = tmp_path / "root", {"KMODTUI_STATE_DIR": str(tmp_path / "state")}
    boot_root(root, [running, new])
    (root / "boot" / "extlinux").mkdir()
    (root / "boot" / "extlinux" / "extlinux.conf").write_text("DEFAULT linux\n")
    _provider_installed(root, running, built)
    provider = copy_source("provider", tmp_path / "src")
    ran = kmodtui("hook", "run", "--kernel", new, "--source", str(provider), "--root", str(root), "--json", env=env)
    gate = json.loads(ran.stdout)["gate"]
    assert not gate["engaged"] and gate["loader"] == "" and "cannot hold it back" in gate["message"]
    assert "extlinux" in gate["message"]


def test_a_boards_gate_is_the_metapackages_breaks_in_the_gate_shape(tmp_path: Path) -> None:
    """follow --json's `gate` (and the first screen's line) for a board: while the newest kernel's module
    failed to build, the board stays on the newest kernel published with its module."""
    import time
    from dataclasses import asdict

    from kmodtui.core.lifecycle.follow import FollowState, board_gate

    now = time.time()
    state = FollowState("debian:bookworm:arm64:arm64", "/src/provider",
                        published={"6.1.176-1": {"kernel": "linux-image-6.1.0-50-arm64", "time": str(int(now - 9000))}},
                        last_result="build-failed", last_kernel="linux-image-6.1.0-56-arm64 6.1.192-2",
                        last_cause={"cause": "kernel_api_change"},
                        history=[{"time": now - 60, "kernel": "6.1.192-2", "result": "build-failed"}])
    gate = board_gate(asdict(state))
    assert gate["engaged"] and gate["held_on"] == "linux-image-6.1.0-50-arm64 6.1.176-1"
    assert gate["new_kernel"] == "linux-image-6.1.0-56-arm64 6.1.192-2" and gate["since"] == now - 60
    assert gate["reasons"][0]["primary"] == {"cause": "kernel_api_change"} and gate["method"] == "Breaks"
    validate("gate", {"schema_version": 2, **gate})
    state.last_result, state.last_cause = "published", None
    assert not board_gate(asdict(state))["engaged"]



def test_where_the_kernel_enforces_signatures_only_a_signed_module_counts(installed_kernel: Kernel,
                                                                           built: BuiltModules, tmp_path: Path) -> None:
    """The older kernel's config has CONFIG_MODULE_SIG_FORCE=y: its unsigned provider would not load, so it
    is no kernel to hold the boot on; signed (the real sign-file, through kmodtui sign), it is."""
    require_tool("openssl")
    running, new = installed_kernel.release, newer_release(installed_kernel.release)
    root, env = tmp_path / "root", {"KMODTUI_STATE_DIR": str(tmp_path / "state")}
    boot_root(root, [running, new])
    (root / "boot" / f"config-{running}").write_text("CONFIG_MODULE_SIG=y\nCONFIG_MODULE_SIG_FORCE=y\n")
    cfg = update_grub(root)
    _provider_installed(root, running, built)
    provider = copy_source("provider", tmp_path / "src")
    ran = kmodtui("hook", "run", "--kernel", new, "--source", str(provider), "--root", str(root), "--json", env=env)
    gate = json.loads(ran.stdout)["gate"]
    assert not gate["engaged"] and "no other kernel" in gate["message"] and grubenv(root) == {}
    module = root / "lib" / "modules" / running / "updates" / "kmodtui" / "provider.ko"
    signed = kmodtui("sign", str(module), "--new-key", str(tmp_path / "keys"), "--kernel", running, env=env)
    assert signed.returncode == 0, signed.stderr
    again = kmodtui("hook", "run", "--kernel", new, "--source", str(provider), "--root", str(root), env=env)
    assert again.returncode == 1 and grubenv(root)["saved_entry"] == grub_entry_id(cfg, running), again.stderr


def test_the_hook_script_passes_the_gate_line_on_and_undoing_the_hook_lifts_the_gate(
        installed_kernel: Kernel, built: BuiltModules, tmp_path: Path) -> None:
    """As the kernel's postinst runs it (`sh hook <version>`): the line on stderr is what the terminal that
    ran `apt upgrade` shows. `remedy undo` of the hook removes it, and the gate it made lifts."""
    running, new = installed_kernel.release, newer_release(installed_kernel.release)
    root, env = tmp_path / "root", {"KMODTUI_STATE_DIR": str(tmp_path / "state"),
                                    "KMODTUI_HOOK_LOG_DIR": str(tmp_path / "log")}
    boot_root(root, [running, new])
    (root / "etc" / "kernel" / "postinst.d").mkdir(parents=True)
    cfg = update_grub(root)
    _provider_installed(root, running, built)
    provider = copy_source("provider", tmp_path / "src")
    installed = kmodtui("hook", "install", "--source", str(provider), "--root", str(root), "--yes", "--json", env=env)
    assert installed.returncode == 0, installed.stderr
    hook = json.loads(installed.stdout)
    ran = subprocess.run(["sh", hook["path"], new], capture_output=True, text=True, env={**os.environ, **env})
    assert ran.returncode == 0, ran.stderr  # the kernel install goes on
    [line] = [x for x in ran.stderr.splitlines() if x.startswith("kmodtui gate: ")]
    assert f"{running} boots next, not {new}" in line
    assert grubenv(root)["saved_entry"] == grub_entry_id(cfg, running)
    undone = kmodtui("remedy", "undo", hook["applied"], env=env)
    assert undone.returncode == 0, undone.stderr
    assert grubenv(root) == {} and not json.loads(kmodtui("gate", "--root", str(root), "--json", env=env).stdout)["engaged"]


def test_a_tree_that_names_its_modules_only_when_built_counts_its_last_builds_modules(
        built: BuiltModules, tmp_path: Path, monkeypatch) -> None:
    """An autotools tree (OpenZFS, Lustre) declares no obj-m kmodtui can read before it builds: the gate
    takes the modules of its newest succeeded build, so an older kernel without them is not 'ready'."""
    from kmodtui.core.build.record import new_build_dir, write_status
    from kmodtui.core.build.sources import detect_source
    from kmodtui.core.remedies import gate

    monkeypatch.setenv("KMODTUI_STATE_DIR", str(tmp_path / "state"))
    tree = tmp_path / "autotools-tree"
    tree.mkdir()
    (tree / "configure.ac").write_text("AC_INIT([zfs], [2.1.11])\n")
    assert not detect_source(str(tree)).modules
    root, release = tmp_path / "root", "6.1.0-99-amd64"
    (root / "lib" / "modules" / release).mkdir(parents=True)
    assert gate.missing_modules(str(root), release, [str(tree)]) == []  # nothing known, nothing built yet
    _build_id, record = new_build_dir("zfs-test")
    write_status(record, state="succeeded", source=str(tree), artifacts=[str(built.provider_ko)])
    missing = gate.missing_modules(str(root), release, [str(tree)])
    assert missing == ["provider.ko (autotools-tree) is not installed"], missing
    _provider_installed(root, release, built)
    assert gate.missing_modules(str(root), release, [str(tree)]) == []


def test_which_kernels_enforce_signatures_is_what_the_secure_boot_doctor_reads(installed_kernel: Kernel,
                                                                              tmp_path: Path) -> None:
    """The gate asks the doctor's facts (secureboot/facts.py): Debian's real config, in /boot or only in
    the build tree (a root with the headers but no /boot/config), enforces only with MODULE_SIG_FORCE=y;
    a bare boot/config (a recorded state's, no release) is no kernel's config in an installed root, and
    Secure Boot counts only for this machine, never for a root's efivars."""
    from kmodtui.core.remedies.gate import _enforces_signatures
    from kmodtui.core.secureboot import facts

    release = installed_kernel.release
    real = Path(installed_kernel.build_dir, ".config").read_text()
    assert "# CONFIG_MODULE_SIG_FORCE is not set" in real  # Debian's: signatures checked, not enforced
    forced = real.replace("# CONFIG_MODULE_SIG_FORCE is not set", "CONFIG_MODULE_SIG_FORCE=y")
    for where in (f"boot/config-{release}", f"lib/modules/{release}/build/.config"):
        root = tmp_path / where.replace("/", "_")
        (root / where).parent.mkdir(parents=True)
        (root / where).write_text(real)
        assert not _enforces_signatures(str(root), release)
        (root / where).write_text(forced)
        assert _enforces_signatures(str(root), release), where
        assert facts.read_config(str(root), release)[0] == facts.read_config(str(root), release, recorded=False)[0]
    bare = tmp_path / "bare"
    (bare / "boot").mkdir(parents=True)
    (bare / "boot" / "config").write_text(forced)
    assert not _enforces_signatures(str(bare), release)
    assert (facts.read_config(str(bare), release)[0] or {}).get("MODULE_SIG_FORCE") == "y"  # a recorded state reads it
    efivars = bare / "sys" / "firmware" / "efi" / "efivars"
    efivars.mkdir(parents=True)
    (efivars / f"SecureBoot-{facts.EFI_GLOBAL}").write_bytes(b"\x06\x00\x00\x00\x01")  # attributes, then on
    assert facts.secure_boot_variable(str(bare)) is True and not _enforces_signatures(str(bare), release)
    assert _enforces_signatures("/", release) == (facts.secure_boot_variable("/") is True or (
        facts.read_config("/", release)[0] or {}).get("MODULE_SIG_FORCE") == "y")
