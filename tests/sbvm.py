"""A real Secure Boot machine, under QEMU: Debian's OVMF with Secure Boot on and Microsoft's keys
enrolled (OVMF_VARS_4M.ms.fd), Debian's shim and grub signed for it, Debian's signed kernel, and a
certificate in shim's MokList, put into the firmware's variable store by virt-firmware's
virt-fw-vars (no MokManager at a console: the variable MokManager would have written). The kernel
boots an initramfs of busybox-static, mokutil and keyctl (with their libraries) whose /init prints,
as base64 between markers, the files the Secure Boot doctor reads (efivars, /proc/keys, lockdown,
the tools' outputs), then insmods each module and prints what the loader said. Nothing is mounted
or installed on this machine: the disk image is made with sfdisk, mkfs.vfat and mtools.

MokListTrusted is shim's inverse switch: absent, shim sets MokListTrustedRT and the kernel puts the
MOK keys into .machine (trusted for modules); present, they go to .platform (not trusted)."""

from __future__ import annotations

import base64
import gzip
import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.realtools import DOWNLOAD_CACHE, apt_download, missing, require_tool, run, run_ok

SHIM_GUID = "605dab50-e046-4300-abb6-3dd810dd8b23"
OVMF_CODE = Path("/usr/share/OVMF/OVMF_CODE_4M.secboot.fd")  # needs SMM (q35,smm=on)
OVMF_VARS = Path("/usr/share/OVMF/OVMF_VARS_4M.ms.fd")  # Secure Boot on, Microsoft's UEFI CA in db
EFIVARS = ("SecureBoot-8be4df61-93ca-11d2-aa0d-00e098032b8c", "SetupMode-8be4df61-93ca-11d2-aa0d-00e098032b8c",
           *(f"{name}-{SHIM_GUID}" for name in ("MokListRT", "MokListTrustedRT", "MokSBStateRT", "MokListXRT")))
TOOLS = {"mokutil": ("--sb-state", "--list-enrolled", "--list-new", "--list-delete")}
KEYRINGS = (".builtin_trusted_keys", ".secondary_trusted_keys", ".machine", ".platform")
BOOT_TIMEOUT = 600  # one boot: about 11 s on an idle 2-core machine under TCG (no KVM)


def boot_files(release: str) -> Path:
    """Debian's signed shim, grub and kernel image for `release`, and busybox-static, unpacked once
    into the download cache."""
    root = DOWNLOAD_CACHE / f"sbvm-{release}"
    if (root / ".ready").exists():
        return root
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    for package in ("shim-signed", "grub-efi-amd64-signed", "busybox-static", f"linux-image-{release}"):
        run_ok([require_tool("dpkg-deb"), "-x", str(apt_download(package)), str(root)])
    (root / ".ready").write_text(release + "\n")
    return root


def _libraries(program: str) -> list[str]:
    out = run_ok([require_tool("ldd"), program]).stdout
    return [part for line in out.splitlines() for part in line.split() if part.startswith("/")]


INIT = r"""#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin:/usr/bin:/sbin
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
mount -t securityfs none /sys/kernel/security
insmod /efivarfs.ko; mount -t efivarfs efivarfs /sys/firmware/efi/efivars
dmesg -n 1
dump() { echo "SBFILE $1"; base64 "$2" | sed 's/^/SB64 /'; echo "SBEND $1"; }
dump proc/keys /proc/keys
dump proc/cmdline /proc/cmdline
dump proc/sys/kernel/osrelease /proc/sys/kernel/osrelease
dump sys/kernel/security/lockdown /sys/kernel/security/lockdown
dump sys/module/module/parameters/sig_enforce /sys/module/module/parameters/sig_enforce
for var in @EFIVARS@; do
    [ -e /sys/firmware/efi/efivars/$var ] && dump sys/firmware/efi/efivars/$var /sys/firmware/efi/efivars/$var
done
for var in /sys/firmware/efi/mok-variables/*; do  # the MOK config table shim hands the kernel
    [ -f "$var" ] && dump sys/firmware/efi/mok-variables/$(basename $var) $var
done
@TOOLS@
for ko in /modules/*.ko; do
    insmod $ko > /tmp/out 2>&1; echo "rc=$?" >> /tmp/out; dmesg | tail -n 2 >> /tmp/out
    dump insmod/$(basename $ko).txt /tmp/out
done
echo SBDONE
poweroff -f
"""


def initrd(dest: Path, files: Path, release: str, modules: list[Path]) -> Path:
    """busybox-static, mokutil and keyctl with their libraries, the kernel's own efivarfs module (signed
    with the kernel's build key), the modules to try, and /init."""
    tree = dest / "initrd"
    for sub in ("bin", "proc", "sys", "dev", "tmp", "modules"):
        (tree / sub).mkdir(parents=True, exist_ok=True)
    shutil.copy(files / "bin" / "busybox", tree / "bin" / "busybox")
    shutil.copy(files / "lib" / "modules" / release / "kernel" / "fs" / "efivarfs" / "efivarfs.ko", tree / "efivarfs.ko")
    tools = []
    for name in ("mokutil", "keyctl"):
        program = require_tool(name)
        shutil.copy(program, tree / "bin" / name)
        for library in _libraries(program):
            target = tree / library.lstrip("/")
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(library, target)
    for module in modules:
        shutil.copy(module, tree / "modules" / module.name)
    for option in TOOLS["mokutil"]:
        tools.append(f"mokutil {option} > /tmp/out 2>&1; dump outputs/mokutil{option.replace('--', '-')}.txt /tmp/out")
    for ring in KEYRINGS:
        tools.append(f"keyctl show %:{ring} > /tmp/out 2>&1; dump outputs/keyctl-show-{ring.lstrip('.')}.txt /tmp/out")
    init = INIT.replace("@EFIVARS@", " ".join(EFIVARS)).replace("@TOOLS@", "\n".join(tools))
    (tree / "init").write_text(init)
    (tree / "init").chmod(0o755)
    image = dest / "initrd.gz"
    listing = run_ok(["sh", "-c", "find . | LC_ALL=C sort"], cwd=tree).stdout
    archive = subprocess.run([require_tool("cpio"), "-o", "-H", "newc", "--quiet"], cwd=tree, input=listing.encode(),
                             capture_output=True, check=True).stdout
    image.write_bytes(gzip.compress(archive, 1))
    return image


GRUB_CFG = """set timeout=0
serial --unit=0 --speed=115200
terminal_output serial console
menuentry sbvm {
  linux /vmlinuz console=ttyS0,115200 panic=-1
  initrd /initrd.gz
}
"""


def esp_disk(dest: Path, files: Path, release: str, initrd_image: Path) -> Path:
    """A GPT disk of one FAT EFI system partition: shim as the removable-media loader, grub beside it
    (where shim looks for it), grub.cfg, the kernel and the initramfs."""
    disk = dest / "disk.img"
    with open(disk, "wb") as out:
        out.truncate(64 << 20)
    subprocess.run([require_tool("sfdisk"), "-q", str(disk)], input=b"label: gpt\nstart=2048, type=uefi\n", check=True)
    run_ok([require_tool("mkfs.vfat"), "--offset=2048", "-n", "ESP", str(disk), "63488"])
    (dest / "grub.cfg").write_text(GRUB_CFG)
    env = {**os.environ, "MTOOLS_SKIP_CHECK": "1"}
    image = f"{disk}@@1M"
    run_ok([require_tool("mmd"), "-i", image, "::/EFI", "::/EFI/BOOT", "::/EFI/debian"], env=env)
    for source, target in ((files / "usr/lib/shim/shimx64.efi.signed", "::/EFI/BOOT/BOOTX64.EFI"),
                           (files / "usr/lib/grub/x86_64-efi-signed/grubx64.efi.signed", "::/EFI/BOOT/grubx64.efi"),
                           (dest / "grub.cfg", "::/EFI/BOOT/grub.cfg"), (dest / "grub.cfg", "::/EFI/debian/grub.cfg"),
                           (files / "boot" / f"vmlinuz-{release}", "::/vmlinuz"), (initrd_image, "::/initrd.gz")):
        run_ok([require_tool("mcopy"), "-i", image, str(source), target], env=env)
    return disk


def varstore(dest: Path, cert: Path, trusted: bool) -> Path:
    """OVMF's Secure Boot variable store with `cert` in shim's MokList; MokListTrusted set when the
    MOK keys must not be trusted for modules."""
    tool = Path(sys.executable).parent / "virt-fw-vars"
    if not tool.exists():
        missing("virt-fw-vars (PyPI: virt-firmware) is not installed: pip install virt-firmware")
    if not OVMF_VARS.exists() or not OVMF_CODE.exists():
        missing("Debian's OVMF Secure Boot firmware is not installed: apt-get install ovmf")
    out = dest / f"vars-{'trusted' if trusted else 'untrusted'}.fd"
    run_ok([str(tool), "-i", str(OVMF_VARS), "-o", str(out), "--add-mok", SHIM_GUID, str(cert),
            *([] if trusted else ["--set-true", "MokListTrusted"])])
    return out


def boot(dest: Path, disk: Path, variables: Path) -> str:
    """One boot to /init's poweroff; the serial console's text."""
    working = dest / f"run-{variables.name}"
    shutil.copy(variables, working)  # shim may write to the store: each boot starts from the same one
    qemu = require_tool("qemu-system-x86_64")
    result = run([qemu, "-machine", "q35,smm=on,accel=tcg", "-smp", "1", "-m", "1024",
                  "-global", "driver=cfi.pflash01,property=secure,value=on",
                  "-drive", f"if=pflash,format=raw,unit=0,readonly=on,file={OVMF_CODE}",
                  "-drive", f"if=pflash,format=raw,unit=1,file={working}",
                  "-drive", f"if=none,id=esp,format=raw,file={disk}", "-device", "virtio-blk-pci,drive=esp,bootindex=0",
                  "-nographic", "-serial", "stdio", "-monitor", "none", "-no-reboot", "-net", "none"],
                 timeout=BOOT_TIMEOUT, stdin=subprocess.DEVNULL, errors="replace")
    console = result.stdout + result.stderr
    (dest / f"console-{variables.stem}.log").write_text(console)
    if "SBDONE" not in console:
        raise AssertionError(f"the VM did not reach the end of /init (exit {result.returncode}):\n{console[-3000:]}")
    return console


REFUSED = "Key was rejected by service"  # insmod's words for EKEYREJECTED/EPERM from the loader


def insmod_loaded(said: str) -> bool:
    """What /init printed for one insmod: did the kernel load the module (insmod's exit status 0)?"""
    return "rc=0" in said.splitlines()


def recorded_state(console: str, state: Path, files: Path, release: str) -> dict[str, str]:
    """The files /init printed, written under `state` in the layout `kmodtui secureboot --root` reads,
    the kernel's config from its image package; returns what each insmod printed, by module file."""
    current, lines, insmod = "", [], {}
    for line in console.replace("\r", "").splitlines():
        if line.startswith("SBFILE "):
            current, lines = line.split(" ", 1)[1], []
        elif line.startswith("SB64 ") and current:
            lines.append(line[5:])
        elif line.startswith("SBEND ") and current:
            data = base64.b64decode("".join(lines))
            if current.startswith("insmod/"):
                insmod[current.removeprefix("insmod/").removesuffix(".txt")] = data.decode(errors="replace")
            else:
                (state / current).parent.mkdir(parents=True, exist_ok=True)
                (state / current).write_bytes(data)
            current = ""
    (state / "boot").mkdir(parents=True, exist_ok=True)
    shutil.copy(files / "boot" / f"config-{release}", state / "boot" / f"config-{release}")
    return insmod


def keep_state(state: Path, dest: Path, insmod: dict[str, str], modules: list[Path], cert: Path) -> None:
    """A recorded state kept for replay (tests/secureboot_states/): what the guest printed, the modules it
    tried with what insmod said of each (outputs/insmod-<module>.txt), and kmodtui's certificate."""
    shutil.rmtree(dest, ignore_errors=True)
    shutil.copytree(state, dest)
    (dest / "modules").mkdir()
    for module in modules:
        shutil.copy(module, dest / "modules" / module.name)
        (dest / "outputs" / f"insmod-{module.name}.txt").write_text(insmod[module.name])
    (dest / "keys").mkdir()
    shutil.copy(cert, dest / "keys" / "MOK.der")
