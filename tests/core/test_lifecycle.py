"""Across kernels: check-update agrees with depmod, signing agrees with modinfo, userspace lock."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from kmodtui.core.model import Kernel
from tests.pkgtools import DpkgRoot, build_deb
from tests.realtools import (
    EXAMPLES,
    BuiltModules,
    apt_download,
    depmod_problems,
    other_abi_headers_package,
    require_tool,
    run_ok,
)


def kmodtui(*args: str, env: dict | None = None) -> subprocess.CompletedProcess[str]:
    import os
    return subprocess.run([sys.executable, "-m", "kmodtui", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})})


def test_check_update_on_the_same_kernel_says_everything_loads(built: BuiltModules, installed_kernel: Kernel) -> None:
    result = kmodtui("check-update", "--new-kernel", installed_kernel.release, "--modules",
                     str(built.provider_ko), str(built.consumer_ko), "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    assert all(m["loads"] for m in json.loads(result.stdout)["modules"])


@pytest.mark.network
def test_check_update_against_another_abi_package_agrees_with_depmod(built: BuiltModules, installed_kernel: Kernel,
                                                                     tmp_path: Path) -> None:
    deb = apt_download(other_abi_headers_package(installed_kernel.release))
    result = kmodtui("check-update", "--new-kernel", str(deb), "--modules", str(built.provider_ko),
                     str(built.consumer_ko), "--json", env={"KMODTUI_CACHE_DIR": str(tmp_path / "cache")})
    payload = json.loads(result.stdout)
    symvers = next((tmp_path / "cache").rglob("Module.symvers"))
    # depmod on the same modules against the new ABI's symvers, as weak-modules would ask
    moddir = tmp_path / "lib" / "modules" / "6.1.0-99-kmodtui" / "extra"
    moddir.mkdir(parents=True)
    for ko in (built.provider_ko, built.consumer_ko):
        shutil.copy(ko, moddir)
    expected = depmod_problems(tmp_path, "6.1.0-99-kmodtui", str(symvers))
    refused = {Path(p[0]).name for p in expected}
    ours = {Path(m["module"]).name for m in payload["modules"] if not m["loads"]}
    assert ours == refused
    assert result.returncode == (1 if refused else 0)
    reasons = {r for m in payload["modules"] for r in m["reasons"]}
    assert {f"crc_mismatch {p[2]}" for p in expected} == reasons


def test_signing_with_a_new_mok_is_what_modinfo_reports(built: BuiltModules, installed_kernel: Kernel, tmp_path: Path) -> None:
    require_tool("openssl")
    module = tmp_path / "provider.ko"
    shutil.copy(built.provider_ko, module)
    result = kmodtui("sign", str(module), "--new-key", str(tmp_path / "keys"), "--kernel", installed_kernel.release, "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["signed"][0]["sig_id"] == "PKCS#7"
    modinfo = require_tool("modinfo")
    assert run_ok([modinfo, "-F", "signer", str(module)]).stdout.strip() == "kmodtui module signing key"
    assert run_ok([modinfo, "-F", "sig_id", str(module)]).stdout.strip() == "PKCS#7"
    again = kmodtui("sign", str(module), "--new-key", str(tmp_path / "keys"))
    assert again.returncode == 2 and "does not overwrite keys" in again.stderr


@pytest.mark.parametrize("tools_version,matches", [("1.1-1", False), ("1.0-3", True)])
def test_userspace_tools_and_module_versions(built: BuiltModules, tmp_path: Path, tools_version: str, matches: bool) -> None:
    tools = build_deb(tmp_path, "kmodtui-provider-utils", tools_version, {"/usr/sbin/provider-tool": b"#!/bin/sh\n"})
    result = kmodtui("check-userspace", "--module", str(built.provider_ko), "--tools", str(tools), "--json")
    payload = json.loads(result.stdout)
    assert payload["module_version"] == "1.0" and payload["matches"] is matches
    assert result.returncode == (0 if matches else 1)
    if not matches:
        assert "Install kmodtui-provider-utils 1.0" in payload["explanation"]


@pytest.mark.parametrize("mode", ["deb", "kbuild", "rpm-generic"])
def test_the_hook_builds_installs_and_undoes_in_a_scratch_root(mode: str, installed_kernel: Kernel,
                                                                tmp_path: Path) -> None:
    """Seed 002's question. The hook, run as the kernel's postinst runs it (`sh hook <version>`),
    builds the provider and then the consumer against the provider's new Module.symvers, installs
    both into a scratch root with the real dpkg / rpm / depmod, and depmod -b there finds the
    consumer depending on the provider. Undoing the hook removes the script and what it installed."""
    import os

    from tests.realtools import copy_source

    release = installed_kernel.release
    provider, consumer = copy_source("provider", tmp_path / "p"), copy_source("consumer", tmp_path / "c")
    root = tmp_path / "root"
    (root / "etc" / "kernel" / "postinst.d").mkdir(parents=True)
    moddir = root / "lib" / "modules" / release
    moddir.mkdir(parents=True)
    for name in ("modules.order", "modules.builtin", "modules.builtin.modinfo"):
        (moddir / name).write_text("")
    if mode == "deb":
        DpkgRoot(root)
    if mode.startswith("rpm"):
        run_ok([require_tool("rpm"), "--root", str(root), "--initdb"])
    env = {"KMODTUI_STATE_DIR": str(tmp_path / "state")}
    shown = kmodtui("hook", "show", "--source", str(provider), "--source", str(consumer), "--mode", mode,
                    "--root", str(root))
    assert shown.returncode == 0 and "kmodtui -m" not in shown.stdout and "hook run --kernel" in shown.stdout
    assert "systemd-inhibit" in shown.stdout
    assert not list((root / "etc" / "kernel" / "postinst.d").iterdir())  # show writes nothing
    installed = kmodtui("hook", "install", "--source", str(provider), "--source", str(consumer), "--mode", mode,
                        "--root", str(root), "--yes", "--json", env=env)
    assert installed.returncode == 0, installed.stderr
    payload = json.loads(installed.stdout)
    hook = Path(payload["path"])
    assert hook.parent == root / "etc" / "kernel" / "postinst.d" and os.access(hook, os.X_OK)
    # what the kernel package's postinst does: run-parts with the new version
    ran = subprocess.run(["sh", str(hook), release], capture_output=True, text=True,
                         env={**os.environ, **env, "KMODTUI_HOOK_LOG_DIR": str(tmp_path / "log")})
    log = (tmp_path / "log" / f"hook-kmodtui-provider-{release}.log").read_text()
    assert ran.returncode == 0 and "built and installed" in ran.stdout, ran.stdout + ran.stderr + log
    report = json.loads((tmp_path / "state" / "hooks" / f"report-{release}.json").read_text())
    assert report["ok"] and [o["name"] for o in report["outcomes"]] == ["kmodtui-provider", "consumer"]
    assert report["outcomes"][1]["symvers"] and report["outcomes"][0]["symvers"]
    dep = (moddir / "modules.dep").read_text()  # depmod -b on the scratch root, after the install
    [consumer_line] = [line for line in dep.splitlines() if line.split(":")[0].endswith("/consumer.ko")]
    assert consumer_line.split(":")[1].strip().endswith("/provider.ko"), dep
    if mode == "deb":
        listed = run_ok([require_tool("dpkg-query"), f"--root={root}", "-W", "-f", "${Package} ${Status}\n"]).stdout
        assert "kmodtui-provider-modules" in listed and "install ok installed" in listed
    if mode.startswith("rpm"):
        assert "kmod-kmodtui-provider" in run_ok([require_tool("rpm"), "--root", str(root), "-qa"]).stdout
    builds = json.loads(kmodtui("builds", "--json", env=env).stdout)
    assert len(builds["builds"]) == 2 and builds["hooks"][0]["kernel"] == release
    # both builds ran confined (as the build user when root), the installs above ran outside, as root
    assert all(b["confinement"]["confined"] and not b["confinement"]["network"] for b in builds["builds"])
    if os.geteuid() == 0:
        assert all(re.fullmatch(r"kmodtui-build\d+", b["confinement"]["user"]) for b in builds["builds"])
        assert all(os.stat(m).st_uid == 0 for m in moddir.rglob("*.ko")), "installed modules are root's"
    undone = kmodtui("remedy", "undo", payload["applied"], env=env)
    assert undone.returncode == 0 and not hook.exists(), undone.stderr
    assert "provider.ko" not in (moddir / "modules.dep").read_text()
    if mode == "deb":
        listed = run_ok([require_tool("dpkg-query"), f"--root={root}", "-W", "-f", "${Package} ${Status}\n"]).stdout
        assert "install ok installed" not in listed


def test_one_source_failing_does_not_stop_the_others(installed_kernel: Kernel, tmp_path: Path) -> None:
    """A broken source first, then a good one: the hook reports the first's primary cause and still
    builds and installs the second; exit 1 says not everything made it."""
    from tests.realtools import copy_source

    release = installed_kernel.release
    broken = copy_source("provider", tmp_path / "b", {"return x + 1;": "return x + ;"})
    good = copy_source("consumer", tmp_path / "g", {"provider_fn(1) + provider_gpl_fn(2) + provider_ns_fn(3)": "1"})
    root = tmp_path / "root"
    (root / "lib" / "modules" / release).mkdir(parents=True)
    env = {"KMODTUI_STATE_DIR": str(tmp_path / "state")}
    result = kmodtui("hook", "run", "--kernel", release, "--source", str(broken), "--source", str(good),
                     "--root", str(root), "--json", env=env)
    report = json.loads(result.stdout)
    assert result.returncode == 1 and not report["ok"]
    first, second = report["outcomes"]
    assert first["state"] == "failed" and first["primary"]["cause"]
    assert second["state"] == "succeeded" and (root / "lib" / "modules" / release / "updates" / "kmodtui" /
                                               "consumer.ko").exists()


def test_a_hook_for_a_consumer_builds_the_provider_its_request_records_first(installed_kernel: Kernel,
                                                                              tmp_path: Path) -> None:
    """The relation is recorded once: `kmodtui build --provider` (what the remedy's rebuild does)
    stores the provider's source in the consumer's request, and the build names a copy of the
    provider's Module.symvers, in its own folder, on make's command line. A hook then asked for the
    consumer alone (as the TUI's h asks) builds the provider first, then the consumer against it.
    Before: the hook's script named only the consumer, whose build failed at modpost."""
    import os

    from tests.realtools import copy_source

    release = installed_kernel.release
    provider, consumer = copy_source("provider", tmp_path / "p"), copy_source("consumer", tmp_path / "c")
    kbuild_before = (consumer / "Kbuild").read_bytes()
    env = {"KMODTUI_STATE_DIR": str(tmp_path / "state")}
    for args in (["--source", str(provider)], ["--source", str(consumer), "--provider", str(provider)]):
        built = kmodtui("build", "--kernel", release, *args, "--json", env=env)
        assert built.returncode == 0, built.stdout[-2000:] + built.stderr
    [record] = [d for d in (tmp_path / "state" / "builds").iterdir() if "consumer" in d.name]
    assert json.loads((record / "request.json").read_text())["providers"] == [str(provider)]
    log = (record / "work" / "build.log").read_text()
    assert f"KBUILD_EXTRA_SYMBOLS={record / 'work' / 'providers' / '0' / 'Module.symvers'}" in log
    assert (consumer / "Kbuild").read_bytes() == kbuild_before  # nothing written into the user's tree
    root = tmp_path / "root"
    (root / "etc" / "kernel" / "postinst.d").mkdir(parents=True)
    moddir = root / "lib" / "modules" / release
    moddir.mkdir(parents=True)
    for name in ("modules.order", "modules.builtin", "modules.builtin.modinfo"):
        (moddir / name).write_text("")
    installed = kmodtui("hook", "install", "--source", str(consumer), "--root", str(root), "--yes", "--json", env=env)
    assert installed.returncode == 0, installed.stderr
    script = Path(json.loads(installed.stdout)["path"]).read_text()
    assert script.index(f"--source {provider}") < script.index(f"--source {consumer}"), script
    ran = subprocess.run(["sh", json.loads(installed.stdout)["path"], release], capture_output=True, text=True,
                         env={**os.environ, **env, "KMODTUI_HOOK_LOG_DIR": str(tmp_path / "log")})
    assert ran.returncode == 0 and "built and installed" in ran.stdout, ran.stdout + ran.stderr
    report = json.loads((tmp_path / "state" / "hooks" / f"report-{release}.json").read_text())
    assert report["ok"] and [o["name"] for o in report["outcomes"]] == ["kmodtui-provider", "consumer"]
    dep = (moddir / "modules.dep").read_text()
    [consumer_line] = [line for line in dep.splitlines() if line.split(":")[0].endswith("/consumer.ko")]
    assert consumer_line.split(":")[1].strip().endswith("/provider.ko"), dep


def test_hooks_are_the_only_system_files_kmodtui_may_write() -> None:
    from kmodtui.core.errors import KmodError
    from kmodtui.core.remedies.edits import check_editable

    for path in ("/etc/passwd", "/etc/kernel/postinst.d/../../passwd", "/usr/lib/rpm/macros"):
        with pytest.raises(KmodError, match="system file"):
            check_editable(path, allow_hooks=True)


@pytest.mark.parametrize("mode", ["deb", "rpm-redhat"])
def test_a_signed_package_build_packages_signed_modules(mode: str, installed_kernel: Kernel, tmp_path: Path) -> None:
    """`build --sign`: the .ko inside the .deb / .rpm is signed (modinfo reads the signer back), with the
    key pair `kmodtui sign` and the TUI use."""
    import os
    import subprocess

    require_tool("openssl")
    state = tmp_path / "state"
    result = kmodtui("build", "--source", str(EXAMPLES / "provider"), "--kernel", installed_kernel.release,
                     "--mode", mode, "--sign", "--json", env={"KMODTUI_STATE_DIR": str(state)})
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr
    [done] = [json.loads(line) for line in result.stdout.splitlines() if '"event": "exit"' in line]
    [package] = [a for a in done["artifacts"] if a.endswith((".deb", ".rpm"))]
    unpacked = tmp_path / "unpacked"
    unpacked.mkdir()
    if package.endswith(".deb"):
        run_ok([require_tool("dpkg-deb"), "-x", package, str(unpacked)])
    else:
        cpio = subprocess.run(f"{require_tool('rpm2cpio')} {package} | cpio -idm --quiet", shell=True, cwd=unpacked)
        assert cpio.returncode == 0
    [ko] = list(unpacked.rglob("*.ko"))
    modinfo = require_tool("modinfo")
    assert run_ok([modinfo, "-F", "signer", str(ko)]).stdout.strip() == "kmodtui module signing key"
    assert (state / "mok" / "MOK.der").exists() and oct(os.stat(state / "mok" / "MOK.priv").st_mode & 0o777) == "0o600"


def test_check_update_names_a_missing_provider_instead_of_blaming_the_kernel(built: BuiltModules,
                                                                             installed_kernel: Kernel) -> None:
    """The consumer alone: its provider's symbols are nowhere. check-update says to name the provider,
    not to rebuild for the kernel; with the provider given, both load."""
    alone = kmodtui("check-update", "--new-kernel", installed_kernel.release, "--modules", str(built.consumer_ko))
    assert alone.returncode == 1
    assert "Nothing here provides provider_fn" in alone.stdout and "name it too with --modules" in alone.stdout
    assert "Rebuild the modules for the new kernel" not in alone.stdout
    both = kmodtui("check-update", "--new-kernel", installed_kernel.release, "--modules", str(built.consumer_ko),
                   str(built.provider_ko))
    assert both.returncode == 0 and "Nothing here provides" not in both.stdout


def test_sign_without_a_key_uses_kmodtuis_own_pair_as_its_help_says(built: BuiltModules, installed_kernel: Kernel,
                                                                    tmp_path: Path) -> None:
    """`sign --help`: --key defaults to the key pair kmodtui made (made now if missing). Before, the
    verb refused without --key or --new-key (README and help disagreed)."""
    require_tool("openssl")
    module = tmp_path / "provider.ko"
    shutil.copy(built.provider_ko, module)
    state = tmp_path / "state"
    result = kmodtui("sign", str(module), "--kernel", installed_kernel.release, "--json",
                     env={"KMODTUI_STATE_DIR": str(state)})
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)
    assert payload["signed"][0]["sig_id"] == "PKCS#7" and payload["cert"].startswith(str(state))
    half = kmodtui("sign", str(module), "--key", payload["key"], env={"KMODTUI_STATE_DIR": str(state)})
    assert half.returncode == 2 and half.stderr.count("\n") == 1 and "--cert" in half.stderr, half
