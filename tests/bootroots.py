"""Scratch roots that boot like a Debian machine: /boot with two kernels, the boot loader's files made by
the boot loader's own tools (grub-mkconfig as update-grub runs it; kernel-install's loader entries), and
the real tools that read back what boots next (grub-editenv list, bootctl list). Nothing here writes a
boot loader file by hand except /etc/default/grub and loader.conf, which are the admin's own settings."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

from tests.realtools import missing, require_tool, run_ok


def newer_release(release: str) -> str:
    """A release newer than `release` that no package serves (its ABI number raised to 999)."""
    newer = re.sub(r"^(\d+\.\d+\.\d+)-(\d+)", r"\1-999", release, count=1)
    return newer if newer != release else f"{release}.999"


def boot_root(root: Path, releases: list[str]) -> None:
    """/boot with each kernel's image and initrd (placeholders: nothing boots them), lib/modules for each."""
    (root / "boot" / "grub").mkdir(parents=True, exist_ok=True)
    for release in releases:
        (root / "boot" / f"vmlinuz-{release}").write_bytes(b"placeholder kernel image\n")
        (root / "boot" / f"initrd.img-{release}").write_bytes(b"placeholder initrd\n")
        (root / "boot" / f"config-{release}").write_text("CONFIG_MODULES=y\nCONFIG_MODULE_SIG=y\n")
        moddir = root / "lib" / "modules" / release
        moddir.mkdir(parents=True, exist_ok=True)
        for name in ("modules.order", "modules.builtin", "modules.builtin.modinfo"):
            (moddir / name).touch()


def update_grub(root: Path, grub_default: str = "saved") -> str:
    """The admin's /etc/default/grub, then grub.cfg as update-grub writes it: the real grub-mkconfig with
    the real /etc/grub.d scripts, run in a mount namespace where the scratch root's /boot and
    /etc/default are the ones it sees (10_linux looks for /boot/vmlinuz-* by absolute path)."""
    bwrap, mkconfig = require_tool("bwrap"), require_tool("grub-mkconfig")
    require_tool("grub-editenv")
    (root / "etc" / "default").mkdir(parents=True, exist_ok=True)
    (root / "etc" / "default" / "grub").write_text(
        f"GRUB_DEFAULT={grub_default}\nGRUB_TIMEOUT=5\nGRUB_DISTRIBUTOR=Debian\n"
        'GRUB_CMDLINE_LINUX_DEFAULT="quiet"\nGRUB_CMDLINE_LINUX=""\n')
    run_ok([bwrap, "--dev-bind", "/", "/", "--bind", str(root / "boot"), "/boot", "--bind",
            str(root / "etc" / "default"), "/etc/default", mkconfig, "-o", "/boot/grub/grub.cfg"])
    run_ok([require_tool("grub-editenv"), str(root / "boot" / "grub" / "grubenv"), "create"])
    return (root / "boot" / "grub" / "grub.cfg").read_text()


def grub_entry_id(cfg: str, release: str) -> str:
    """The `submenu>entry` id of a kernel's normal entry, read off the grub.cfg grub-mkconfig wrote."""
    submenu = re.search(r"^submenu '[^']*' \$menuentry_id_option '([^']+)'", cfg, re.M)
    entry = re.search(rf"^\s+menuentry '[^']*Linux {re.escape(release)}' .*\$menuentry_id_option '([^']+)'", cfg, re.M)
    assert submenu and entry, cfg
    return f"{submenu.group(1)}>{entry.group(1)}"


def grubenv(root: Path) -> dict[str, str]:
    """What `grub-editenv list` says is in the scratch root's grubenv."""
    listed = run_ok([require_tool("grub-editenv"), str(root / "boot" / "grub" / "grubenv"), "list"]).stdout
    return dict(line.split("=", 1) for line in listed.splitlines() if "=" in line)


def loader_entries(root: Path, releases: list[str]) -> Path:
    """Boot Loader Specification entries in <root>/efi made by the real kernel-install (only its
    90-loaderentry.install plugin: nothing else on this machine is touched), as on a systemd-boot machine."""
    kernel_install = require_tool("kernel-install")
    esp = root / "efi"
    (esp / "loader" / "entries").mkdir(parents=True, exist_ok=True)
    (root / "etc" / "kernel").mkdir(parents=True, exist_ok=True)
    (root / "etc" / "kernel" / "install.conf").write_text("layout=bls\n")
    (root / "etc" / "kernel" / "cmdline").write_text("root=LABEL=scratch ro quiet\n")
    plugin = "/usr/lib/kernel/install.d/90-loaderentry.install"
    if not os.path.exists(plugin):
        missing(f"{plugin} is not installed: run `sudo apt-get install systemd`")
    env = {"KERNEL_INSTALL_CONF_ROOT": str(root / "etc" / "kernel"), "KERNEL_INSTALL_PLUGINS": plugin,
           "BOOT_ROOT": str(esp), "MACHINE_ID": "0123456789abcdef0123456789abcdef"}
    for release in releases:
        run_ok([kernel_install, "add", release, str(root / "boot" / f"vmlinuz-{release}"),
                str(root / "boot" / f"initrd.img-{release}")], env=env)
    return esp


def bootctl_default(esp: Path) -> str:
    """The entry real bootctl marks (default) in the scratch ESP (bind-mounted onto itself: bootctl wants
    the ESP to be a mount point; SYSTEMD_RELAX_ESP_CHECKS lets it be something other than vfat; no EFI
    variables are read)."""
    listed = run_ok([require_tool("bwrap"), "--dev-bind", "/", "/", "--bind", str(esp), str(esp),
                     require_tool("bootctl"), f"--esp-path={esp}", "--no-variables", "list"],
                    env={"SYSTEMD_RELAX_ESP_CHECKS": "1"}).stdout
    defaults = [block for block in listed.split("\n\n") if "(default)" in block]
    assert len(defaults) <= 1, listed
    found = re.search(r"^\s+id: (\S+)", defaults[0], re.M) if defaults else None
    return found.group(1) if found else ""


def headers_for(root: Path, release: str, installed_build_dir: str) -> None:
    """Install headers for `release` into the scratch root (what `apt install linux-headers-<release>` would
    do there): a copy of the installed headers' arch tree, told its release, with scripts/ and tools/
    pointing at this machine's kbuild, as Debian's links do."""
    tree = root / "usr" / "src" / f"linux-headers-{release}"
    shutil.copytree(installed_build_dir, tree, symlinks=True)
    for link in ("scripts", "tools"):
        path = tree / link
        if path.is_symlink():
            target = os.path.realpath(os.path.join(installed_build_dir, link))
            path.unlink()
            path.symlink_to(target)
    uts = tree / "include" / "generated" / "utsrelease.h"
    uts.write_text(re.sub(r'"[^"]*"', f'"{release}"', uts.read_text(), count=1))
    build = root / "lib" / "modules" / release / "build"
    build.parent.mkdir(parents=True, exist_ok=True)
    build.symlink_to(f"/usr/src/linux-headers-{release}")
