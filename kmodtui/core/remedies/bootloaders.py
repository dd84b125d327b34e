"""Which boot loader a root boots with, which kernels it offers (newest first), what it boots next,
and how to change that: the levers the kernel gate (gate.py) pulls.

GRUB: grub.cfg as update-grub writes it (/etc/grub.d/10_linux: the newest kernel first, then an
"Advanced options" submenu whose entries carry `$menuentry_id_option 'gnulinux-<ver>-advanced-<dev>'`);
a saved entry is `<submenu id>><entry id>`, set with grub-editenv in <root>/boot/grub/grubenv, and
only followed when /etc/default/grub says GRUB_DEFAULT=saved (00_header's `load_env`). One boot:
`next_entry`, what grub-reboot sets. systemd-boot: Boot Loader Specification entries in
<ESP>/loader/entries/*.conf (the `version` line names the kernel); the default is the EFI variable
LoaderEntryDefault (`bootctl set-default`) or else loader.conf's `default` line.
"""

from __future__ import annotations

import os
import re
import shlex
from dataclasses import dataclass, field

from kmodtui.core.errors import KmodError
from kmodtui.core.paths import run_captured

GRUB = "grub"
SYSTEMD_BOOT = "systemd-boot"
# LoaderEntryDefault in systemd-boot's vendor GUID (what `bootctl set-default` writes)
EFIVAR_DEFAULT = "/sys/firmware/efi/efivars/LoaderEntryDefault-4a67b082-0a4c-41cf-b6c7-440b29bb8c4f"


@dataclass
class BootLoader:
    kind: str  # grub, systemd-boot, or "" (none kmodtui can steer)
    root: str
    entries: list[tuple[str, str]] = field(default_factory=list)  # (kernel release, entry id), newest first
    config: str = ""  # grub.cfg, or the ESP's loader/loader.conf
    env: str = ""  # grubenv
    why_not: str = ""  # when kind is "": why the gate cannot steer this root's boot


def _read(path: str, limit: int = 4 << 20) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read(limit)
    except OSError:
        return ""


def grub_entries(cfg: str) -> list[tuple[str, str]]:
    """(release, 'submenu id>entry id') for each kernel's normal entry, in grub.cfg's order (update-grub
    writes the newest first); an entry outside a submenu (GRUB_DISABLE_SUBMENU=y) is its id alone."""
    entries: list[tuple[str, str]] = []
    submenu = ""
    depth_of_submenu = -1
    depth = 0
    for line in cfg.splitlines():
        stripped = line.strip()
        ids = re.findall(r"\$menuentry_id_option\s+'([^']*)'", stripped)
        if stripped.startswith("submenu ") and ids:
            submenu, depth_of_submenu = ids[0], depth
        elif stripped.startswith("menuentry ") and ids:
            found = re.fullmatch(r"gnulinux-(.+)-advanced-.+", ids[0])
            if found:
                entries.append((found.group(1), f"{submenu}>{ids[0]}" if submenu else ids[0]))
        depth += stripped.count("{") - stripped.count("}")
        if submenu and depth <= depth_of_submenu:
            submenu, depth_of_submenu = "", -1
    return entries


def grub_default(root: str) -> str:
    """GRUB_DEFAULT as /etc/default/grub sets it (the last assignment wins, as the shell reads it)."""
    value = "0"  # grub-mkconfig's own default
    for line in _read(os.path.join(root, "etc", "default", "grub")).splitlines():
        if re.match(r"\s*GRUB_DEFAULT=", line):
            try:
                words = shlex.split(line.split("=", 1)[1], comments=True)
            except ValueError:
                continue
            value = words[0] if words else ""
    return value


def _editenv() -> str:
    from kmodtui.core.build.tools import find_program

    found = find_program("grub-editenv") or find_program("grub2-editenv")  # Fedora: grub2-
    if found is None:
        raise KmodError("grub-editenv", "not found: install grub-common (the gate sets GRUB's saved entry with it)")
    return found


def grubenv_list(env: str) -> dict[str, str]:
    """The variables in a grubenv, as `grub-editenv <file> list` prints them ({} when there is none)."""
    if not os.path.exists(env):
        return {}
    result = run_captured([_editenv(), env, "list"])
    if result.returncode != 0:
        raise KmodError(env, "grub-editenv could not read it: " + result.stderr.strip()[-200:])
    return dict(line.split("=", 1) for line in result.stdout.splitlines() if "=" in line)


def grubenv_set(env: str, name: str, value: str | None) -> None:
    """Set (or with None unset) one variable with grub-editenv, which keeps the file's 1024-byte block."""
    if not os.path.exists(env):
        made = run_captured([_editenv(), env, "create"])
        if made.returncode != 0:
            raise KmodError(env, "grub-editenv could not create it: " + made.stderr.strip()[-200:])
    argv = [_editenv(), env, "set", f"{name}={value}"] if value is not None else [_editenv(), env, "unset", name]
    result = run_captured(argv)
    if result.returncode != 0:
        raise KmodError(env, "grub-editenv failed: " + result.stderr.strip()[-200:])


def esp(root: str) -> str:
    """The folder holding loader/entries (the ESP or XBOOTLDR as mounted), or ""."""
    for where in ("efi", "boot/efi", "boot"):
        folder = os.path.join(root, where)
        if os.path.isdir(os.path.join(folder, "loader", "entries")):
            return folder
    return ""


def loader_entries(folder: str) -> list[tuple[str, str]]:
    """(release, entry id) for each Boot Loader Specification entry with a `version` line, newest first."""
    entries_dir = os.path.join(folder, "loader", "entries")
    found = []
    for name in sorted(os.listdir(entries_dir)):
        if not name.endswith(".conf"):
            continue
        for line in _read(os.path.join(entries_dir, name), 65536).splitlines():
            key, _, value = line.strip().partition(" ")
            if key == "version" and value.strip():
                found.append((value.strip(), name))
                break
    return sorted(found, key=lambda e: version_key(e[0]), reverse=True)


def version_key(release: str) -> tuple[tuple[int, int | str], ...]:
    """A kernel release's order (6.1.0-99 after 6.1.0-57), numbers compared as numbers."""
    return tuple((0, int(p)) if p.isdigit() else (1, p) for p in re.split(r"[.\-+~_]", release))


def loader_conf_default(conf: str) -> str:
    for line in _read(conf).splitlines():
        key, _, value = line.strip().partition(" ")
        if key == "default":
            return value.strip()
    return ""


def efivar_default() -> str | None:
    """LoaderEntryDefault as the firmware holds it (UTF-16LE after 4 bytes of attributes), None if unset."""
    try:
        with open(EFIVAR_DEFAULT, "rb") as f:
            data = f.read()
    except OSError:
        return None
    return data[4:].decode("utf-16-le", "replace").rstrip("\0")


def bootctl_set_default(entry: str) -> None:
    from kmodtui.core.build.tools import find_program

    bootctl = find_program("bootctl")
    if bootctl is None:
        raise KmodError("bootctl", "not found: install systemd-boot (the gate sets the default entry with it)")
    result = run_captured([bootctl, "set-default", entry])
    if result.returncode != 0:
        raise KmodError("bootctl", "set-default failed: " + (result.stderr or result.stdout).strip()[-200:])


def detect(root: str) -> BootLoader:
    root = os.path.abspath(root)
    cfg = os.path.join(root, "boot", "grub", "grub.cfg")
    if os.path.isfile(cfg):
        text = _read(cfg)
        entries = grub_entries(text)
        if not entries and "blscfg" in text:  # Fedora/RHEL: GRUB reads BLS entries; grubby sets the default there
            return BootLoader("", root, why_not=f"{cfg} takes its entries from Boot Loader Specification files "
                              "(blscfg, as on Fedora/RHEL), which kmodtui does not steer yet (grubby --set-default "
                              "does): choose the older kernel in the menu by hand")
        return BootLoader(GRUB, root, entries, cfg, os.path.join(root, "boot", "grub", "grubenv"))
    folder = esp(root)
    if folder:
        return BootLoader(SYSTEMD_BOOT, root, loader_entries(folder), os.path.join(folder, "loader", "loader.conf"))
    others = [name for name, path in (("extlinux/syslinux", "boot/extlinux/extlinux.conf"),
                                      ("U-Boot boot.scr", "boot/boot.scr"), ("rEFInd", "boot/efi/EFI/refind"),
                                      ("LILO", "etc/lilo.conf")) if os.path.exists(os.path.join(root, path))]
    why = (f"it boots with {', '.join(others)}, which kmodtui does not steer" if others else
           f"no GRUB ({cfg}) and no systemd-boot loader entries (efi/, boot/efi/, boot/ loader/entries) under {root}")
    return BootLoader("", root, why_not=why + ": the next boot is whatever the boot loader picks; "
                      "choose the older kernel in its menu by hand")
