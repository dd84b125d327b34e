"""The kernel gate on a Debian 12 system in a debootstrap chroot, with real kernel packages from Debian's
archive: the older of the two newest ABIs installed with its headers and the provider built for it by
kmodtui's hook; then `apt-get install` of the newer kernel image without its headers runs the hook from
the image's postinst (/etc/kernel/postinst.d): the build fails, apt's output carries the gate's line and
GRUB's saved_entry (read back with the chroot's grub-editenv) names the older kernel's entry in the grub.cfg
the chroot's grub-mkconfig writes. Installing the headers and re-running the image's postinst
(dpkg-reconfigure) builds the module, and the gate lifts: saved_entry is unset again, as it was."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from kmodtui.core.build.chroot import APT, MIRROR, VENV, install_kmodtui
from kmodtui.core.build.chroot import in_chroot as run_in_chroot
from kmodtui.core.remedies.bootloaders import version_key
from tests.bootroots import grub_entry_id
from tests.chroots import BASE_PACKAGES
from tests.realtools import DOWNLOAD_CACHE, REPO, missing, require_tool, run

pytestmark = [pytest.mark.slow, pytest.mark.network]

INSTALL = f"DEBIAN_FRONTEND=noninteractive {APT} install -y -q --no-install-recommends"


def in_chroot(root: Path, command: str) -> subprocess.CompletedProcess[str]:
    """A shell command in the chroot with /proc and /dev (grub-probe, which grub-mkconfig runs, reads devices)."""
    return run_in_chroot(str(root), command, binds=("/dev",), capture=True, timeout=3000)


def ok(root: Path, command: str) -> str:
    result = in_chroot(root, command)
    assert result.returncode == 0, f"{command}:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result.stdout + result.stderr


def base_chroot() -> tuple[Path, str, str]:
    """bookworm with grub-common and the older of the archive's two newest kernel ABIs (image and headers),
    made once and kept in the download cache; returns it with (older, newer) releases."""
    if os.geteuid() != 0:
        missing("debootstrap chroots need root (CI runs as root)")
    if run(["dpkg", "--print-architecture"]).stdout.strip() != "amd64":
        pytest.skip("the kernel packages chosen here are Debian's amd64 ones")
    import fcntl

    root = DOWNLOAD_CACHE / "chroot-bookworm-gate"
    DOWNLOAD_CACHE.mkdir(parents=True, exist_ok=True)
    with open(DOWNLOAD_CACHE / "chroot-bookworm-gate.lock", "w") as lock:  # another test run may be making it
        fcntl.flock(lock, fcntl.LOCK_EX)
        return _made(root)


def _made(root: Path) -> tuple[Path, str, str]:
    stamp = root / ".kmodtui-ready"
    if stamp.exists():
        older, newer = stamp.read_text().split()
        return root, older, newer
    shutil.rmtree(root, ignore_errors=True)
    DOWNLOAD_CACHE.mkdir(parents=True, exist_ok=True)
    made = run([require_tool("debootstrap"), "--variant=minbase", f"--include={BASE_PACKAGES},bubblewrap,grub-common",
                "bookworm", str(root), MIRROR])
    if made.returncode != 0:
        missing(f"debootstrap bookworm failed: {(made.stdout + made.stderr).strip()[-300:]}")
    shutil.copy("/etc/resolv.conf", root / "etc" / "resolv.conf")
    listed = ok(root, f"{APT} update -q >/dev/null && apt-cache search --names-only "
                      "'^linux-image-[0-9.]+-[0-9]+-amd64$' | cut -d' ' -f1")
    releases = sorted((line.removeprefix("linux-image-") for line in listed.split() if line.startswith("linux-image-")),
                      key=version_key)
    if len(releases) < 2:
        missing(f"bookworm lists fewer than two kernel ABIs: {releases}")
    older, newer = releases[-2], releases[-1]
    ok(root, f"{INSTALL} linux-image-{older} linux-headers-{older} && {APT} clean")
    stamp.write_text(f"{older} {newer}\n")
    return root, older, newer


def test_a_kernel_upgrade_without_headers_is_held_back_from_the_next_boot_then_released(tmp_path: Path) -> None:
    base, older, newer = base_chroot()
    root = tmp_path / "chroot"
    copied = run(["cp", "-a", str(base), str(root)])
    assert copied.returncode == 0, copied.stderr
    install_kmodtui(str(root))
    shutil.copytree(REPO / "kmodtui" / "examples" / "provider", root / "srv" / "provider",
                    ignore=shutil.ignore_patterns("*.ko", "*.o", "*.mod*", ".*.cmd", "Module.symvers", "modules.order"))
    (root / "boot" / "grub").mkdir(exist_ok=True)
    (root / "etc" / "default" / "grub").write_text(  # the admin's settings: GRUB follows the saved entry
        "GRUB_DEFAULT=saved\nGRUB_TIMEOUT=5\nGRUB_DISTRIBUTOR=Debian\nGRUB_CMDLINE_LINUX_DEFAULT=\"quiet\"\n")
    kmodtui = f"{VENV}/bin/python -m kmodtui"
    ok(root, "grub-mkconfig -o /boot/grub/grub.cfg && grub-editenv /boot/grub/grubenv create")
    ok(root, f"{kmodtui} hook install --source /srv/provider --yes")
    ok(root, f"{kmodtui} hook run --kernel {older} --source /srv/provider")

    upgraded = ok(root, f"{INSTALL} linux-image-{newer} 2>&1")  # the image's postinst runs the hook
    [line] = [x for x in upgraded.splitlines() if x.startswith("kmodtui gate: ")]
    assert f"{older} boots next, not {newer}" in line and "no kernel headers for the target kernel" in line, line
    cfg = ok(root, "grub-mkconfig -o /boot/grub/grub.cfg >/dev/null 2>&1; cat /boot/grub/grub.cfg")  # update-grub
    assert cfg.index(f"Linux {newer}'") < cfg.index(f"Linux {older}'")
    listed = ok(root, "grub-editenv /boot/grub/grubenv list")
    assert f"saved_entry={grub_entry_id(cfg, older)}\n" in listed
    gate = in_chroot(root, f"{kmodtui} gate --json")
    payload = json.loads(gate.stdout)
    assert gate.returncode == 1 and payload["engaged"] and (payload["held_on"], payload["new_kernel"]) == (older, newer)

    fixed = ok(root, f"{INSTALL} linux-headers-{newer} >/dev/null 2>&1 && "
                     f"DEBIAN_FRONTEND=noninteractive dpkg-reconfigure linux-image-{newer} 2>&1")
    assert f"built and installed kmodtui-provider for {newer}" in fixed, fixed
    assert "kmodtui gate: lifted" in fixed and "saved_entry is unset again" in fixed, fixed
    assert "saved_entry" not in ok(root, "grub-editenv /boot/grub/grubenv list")
    assert (root / "lib" / "modules" / newer / "updates" / "kmodtui" / "provider.ko").exists()
