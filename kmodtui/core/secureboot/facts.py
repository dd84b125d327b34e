"""The boot's trust facts, read from a root (`/`, or a recorded state: `--root DIR`).

A recorded state is the same paths under DIR (sys/firmware/efi/efivars/*, sys/kernel/security/lockdown,
sys/module/module/parameters/sig_enforce, proc/keys, proc/cmdline, proc/sys/kernel/osrelease,
boot/config-<release>) plus what the tools printed, in DIR/outputs/ (OUTPUT_FILES). On `/` the tools
are run (mokutil, keyctl; read-only options only). The MOK lists come from mokutil's output, or where
there is none from shim's variables themselves (MokListRT, MokNew, MokDel in efivarfs' layout: the
folder the real mokutil reads with EFIVARFS_PATH=DIR/sys/firmware/efi/efivars/). A fact that cannot be
read is None, and `unknown` says which, why, and what that leaves open."""

from __future__ import annotations

import gzip
import os
import shutil
import subprocess
from dataclasses import dataclass, field

from kmodtui.core.compression import open_regular
from kmodtui.core.errors import KmodError
from kmodtui.core.secureboot import mok

EFI_GLOBAL = "8be4df61-93ca-11d2-aa0d-00e098032b8c"
SHIM = "605dab50-e046-4300-abb6-3dd810dd8b23"
KEYRINGS = (".builtin_trusted_keys", ".secondary_trusted_keys", ".machine", ".platform")
# the hashes kernel/module/Kconfig offers to sign modules with (a choice: a full config lists each one)
SIG_HASHES = ("SHA1", "SHA224", "SHA256", "SHA384", "SHA512", "SHA3_256", "SHA3_384", "SHA3_512")
VERSION = "KERNEL_VERSION"  # not an option: the release the config's header names ("# Linux/x86 6.8.2 Kernel Configuration")
CONFIG_NAMES = ("MODULES", "MODULE_SIG", "MODULE_SIG_FORCE", "MODULE_SIG_HASH", "SECONDARY_TRUSTED_KEYRING",
                "INTEGRITY_MACHINE_KEYRING", "INTEGRITY_CA_MACHINE_KEYRING", "INTEGRITY_PLATFORM_KEYRING",
                "LOCK_DOWN_IN_EFI_SECURE_BOOT", "LOCK_DOWN_KERNEL_FORCE_INTEGRITY",
                "LOCK_DOWN_KERNEL_FORCE_CONFIDENTIALITY", "CRYPTO_SHA1", "CRYPTO_SHA256", "CRYPTO_SHA512",
                "CRYPTO_SHA3", "CRYPTO_SM3", *(f"MODULE_SIG_{h}" for h in SIG_HASHES))
# the read-only commands asked, and the file a recorded state keeps each one's output in
OUTPUT_FILES: dict[tuple[str, ...], str] = {
    ("mokutil", "--sb-state"): "mokutil-sb-state.txt",
    ("mokutil", "--list-enrolled"): "mokutil-list-enrolled.txt",
    ("mokutil", "--list-new"): "mokutil-list-new.txt",
    ("mokutil", "--list-delete"): "mokutil-list-delete.txt",
    **{("keyctl", "show", f"%:{ring}"): f"keyctl-show-{ring.lstrip('.')}.txt" for ring in KEYRINGS},
}
LIMIT = 4 << 20  # no fact file or tool output is bigger; a bigger one is not read


@dataclass(frozen=True)
class BootState:
    root: str
    release: str  # the running kernel's release ("" unknown)
    config_release: str  # whose config was read: the module's kernel (vermagic) when here, else the running one
    running_modules: bool | None  # False: the running kernel was built without module support
    efi: bool | None
    secure_boot: bool | None
    setup_mode: bool | None
    shim_validation: bool | None  # False: `mokutil --disable-validation` (MokSBStateRT)
    mok_trusted: bool | None  # MokListTrustedRT: shim tells the kernel to trust MOK keys for modules
    lockdown: str | None  # none / integrity / confidentiality
    sig_enforce: bool | None  # module.sig_enforce (the parameter, or the command line)
    config: dict[str, str] | None  # CONFIG_* (without the prefix) -> y/m/value; "n" when "is not set"
    config_source: str
    keyrings: dict[str, tuple[str, ...] | None]  # name -> key descriptions; None: membership not read
    keyring_sizes: dict[str, int]  # from /proc/keys
    all_keys: tuple[str, ...]  # every asymmetric key /proc/keys shows
    enrolled: tuple[mok.MokKey, ...] | None
    pending: tuple[mok.MokKey, ...] | None  # --list-new: enrolled at the next boot, in MokManager
    deleting: tuple[mok.MokKey, ...] | None
    unknown: tuple[tuple[str, str], ...] = field(default=())  # (fact, why and what it leaves unknown)
    # MokListTrustedNew (`mokutil --trust-mok` / `--untrust-mok`): "trust" / "untrust", confirmed in MokManager at the
    # next boot; None: no request seen (efivarfs keeps it readable by root only)
    mok_trust_request: str | None = None


def _read(path: str, binary: bool = False) -> bytes | None:
    """A fact file, if it is a regular file of at most LIMIT bytes (a FIFO in a recorded root would
    block the read for ever; /proc and /sys files are regular)."""
    try:
        with open_regular(path) as f:
            data = f.read(LIMIT + 1)
    except (OSError, KmodError):
        return None
    return None if len(data) > LIMIT else data


def fact_text(path: str) -> str | None:
    """A fact file as text, under _read's rules (a regular file of at most LIMIT bytes), else None."""
    data = _read(path)
    return None if data is None else data.decode("utf-8", "replace")


def _text(root: str, rel: str) -> str | None:
    return fact_text(os.path.join(root, rel))


def _efivar(root: str, name: str, guid: str) -> bytes | None:
    """An EFI variable's value (efivarfs: 4 bytes of attributes, then the data)."""
    data = _read(os.path.join(root, "sys/firmware/efi/efivars", f"{name}-{guid}"))
    return None if data is None or len(data) < 5 else data[4:]


def _mok_variable(root: str, name: str) -> tuple[mok.MokKey, ...] | None:
    """The certificates in shim's MokListRT / MokNew / MokDel as mokutil finds them: shim's MOK variable table
    (mok-variables/, MokListRT only), else efivarfs' NAME, NAME1, NAME2, ... (a list too big for one variable);
    () when efivarfs is there without it, None when efivarfs is not there."""
    table = _read(os.path.join(root, "sys/firmware/efi/mok-variables", name))
    if table:
        return mok.signature_list(table)
    if not os.path.isdir(os.path.join(root, "sys/firmware/efi/efivars")):
        return None
    keys: list[mok.MokKey] = []
    for part in range(64):
        data = _efivar(root, f"{name}{part or ''}", SHIM)
        if data is None:
            break
        keys.extend(mok.signature_list(data))
    return tuple(keys)


def _output(root: str, argv: tuple[str, ...]) -> tuple[str | None, str]:
    """What a command printed: run here on `/`, else the recorded file. (text, why not)"""
    if root != "/":
        text = _text(root, os.path.join("outputs", OUTPUT_FILES[argv]))
        return text, "" if text is not None else f"not recorded (outputs/{OUTPUT_FILES[argv]})"
    program = shutil.which(argv[0])
    if program is None:
        return None, f"{argv[0]} is not installed (Debian: apt-get install {'keyutils' if argv[0] == 'keyctl' else 'mokutil'})"
    try:
        done = subprocess.run([program, *argv[1:]], capture_output=True, text=True, timeout=20,
                              env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C"})
    except (OSError, subprocess.TimeoutExpired) as err:
        return None, f"{argv[0]} did not answer: {err}"
    return (done.stdout + done.stderr)[:LIMIT], ""


def secure_boot_variable(root: str) -> bool | None:
    """The SecureBoot EFI variable: on, off, or None when it cannot be read (no EFI, no efivarfs)."""
    variable = _efivar(root, "SecureBoot", EFI_GLOBAL)
    return None if variable is None else variable[0] == 1


def read_config(root: str, release: str, recorded: bool = True) -> tuple[dict[str, str] | None, str]:
    """The kernel's config: /boot/config-<release>, the build tree's .config, or /proc/config.gz when
    `release` runs; a file over LIMIT is not read. In a recorded state (a root other than `/`, unless
    `recorded` is False: an installed root), also a bare boot/config that came without its release."""
    candidates = [f"boot/config-{release}", f"lib/modules/{release}/build/.config"] if release else []
    if root != "/" and recorded:
        candidates.append("boot/config")
    for rel in candidates:
        text = _text(root, rel)
        if text is not None:
            return parse_config(text), "/" + rel
    running = (_text(root, "proc/sys/kernel/osrelease") or "").strip() or (os.uname().release if root == "/" else "")
    if release and release == running:
        try:
            with open_regular(os.path.join(root, "proc/config.gz")) as raw, gzip.open(raw, "rt") as f:
                return parse_config(f.read(LIMIT)), "/proc/config.gz"
        except (OSError, EOFError, gzip.BadGzipFile, KmodError):
            pass
    return None, ""


def parse_config(text: str) -> dict[str, str]:
    config = {}
    for line in text.splitlines():
        if line.startswith("CONFIG_") and "=" in line:
            name, _, value = line[7:].partition("=")
            config[name] = value.strip().strip('"')
        elif line.startswith("# CONFIG_") and line.endswith(" is not set"):
            config[line[9:-11]] = "n"
        elif line.startswith("# Linux/") and line.endswith(" Kernel Configuration") and len(line.split()) == 5:
            config[VERSION] = line.split()[2]
    return {k: v for k, v in config.items() if k in CONFIG_NAMES or k == VERSION}


def read_state(root: str = "/", release: str = "") -> BootState:
    """Every fact this doctor uses; `release` chooses the kernel config (default: the running kernel)."""
    unknown: list[tuple[str, str]] = []
    running = (_text(root, "proc/sys/kernel/osrelease") or "").strip() or (os.uname().release if root == "/" else "")
    release_for_config = [r for r in (release, running) if r]
    cmdline = _text(root, "proc/cmdline") or ""
    sb_text, why = _output(root, ("mokutil", "--sb-state"))
    told = mok.sb_state(sb_text or "")
    efi: bool | None = os.path.isdir(os.path.join(root, "sys/firmware/efi")) or (told["efi"] if root != "/" else False)
    if root != "/" and not os.path.isdir(os.path.join(root, "sys/firmware/efi")) and told["efi"] is None:
        efi = None
    secure_boot, setup_mode, shim_validation = told["secure_boot"], told["setup_mode"], told["shim_validation"]
    variable_says = secure_boot_variable(root)
    if variable_says is not None:
        efi, secure_boot = True, variable_says
    variable = _efivar(root, "SetupMode", EFI_GLOBAL)
    if variable is not None:
        setup_mode = variable[0] == 1
    variable = _efivar(root, "MokSBStateRT", SHIM)
    if variable is not None:
        shim_validation = variable[0] != 1
    mok_trusted: bool | None = None
    if efi:
        # the kernel asks shim's MOK variable table (efi_mokvar_entry_find), mirrored in efivarfs as MokListTrustedRT
        mok_trusted = (_efivar(root, "MokListTrustedRT", SHIM) is not None
                       or os.path.exists(os.path.join(root, "sys/firmware/efi/mok-variables/MokListTrustedRT")))
        recorded = _text(root, "outputs/efivar-p-MokListTrustedRT.txt") if root != "/" else None
        if recorded is not None:  # `efivar -p -n <guid>-MokListTrustedRT` as a thread shows it
            mok_trusted = "Name: \"MokListTrustedRT\"" in recorded
        elif not os.path.isdir(os.path.join(root, "sys/firmware/efi/efivars")):
            mok_trusted = None
            unknown.append(("MokListTrustedRT", "efivarfs is not there to read: whether shim lets the kernel trust MOK keys is unknown"))
        if secure_boot is None:
            unknown.append(("Secure Boot", f"neither the SecureBoot variable nor mokutil could be read ({why or 'no answer'}): "
                                           "whether Secure Boot enforces is unknown"))
    elif efi is None:
        unknown.append(("EFI", "neither /sys/firmware/efi nor mokutil's answer was recorded: whether Secure Boot is on is unknown"))
    lockdown_text = _text(root, "sys/kernel/security/lockdown")
    lockdown = None
    if lockdown_text and "[" in lockdown_text:
        lockdown = lockdown_text.split("[", 1)[1].split("]", 1)[0]
    else:
        unknown.append(("lockdown", "/sys/kernel/security/lockdown cannot be read (no lockdown LSM, or securityfs is not "
                                    "mounted): whether lockdown refuses unverified modules is unknown"))
    enforce_text = _text(root, "sys/module/module/parameters/sig_enforce")
    sig_enforce = enforce_text.strip() == "Y" if enforce_text else ("module.sig_enforce=1" in cmdline.split() or None)
    config, config_source, config_release = None, "", ""
    for candidate in release_for_config or [""]:
        config, config_source = read_config(root, candidate)
        if config is not None:
            config_release = candidate if config_source != "/boot/config" else ""
            break
    running_config = config if config_release == running else read_config(root, running)[0] if running else None
    running_modules = None if running_config is None else running_config.get("MODULES") != "n"
    if config is None:
        unknown.append(("kernel config", f"no /boot/config-{release or running or '<release>'} nor build tree .config: "
                                         "MODULE_SIG_FORCE, the hash and the MOK keyring option are unknown"))
    keys_text = _text(root, "proc/keys")
    parsed = mok.proc_keys(keys_text or "")
    if keys_text is None:
        unknown.append(("/proc/keys", "not readable: which keys the kernel holds is unknown"))
    keyrings: dict[str, tuple[str, ...] | None] = {}
    linked: dict[str, tuple[str, ...]] = {}  # the keyrings `keyctl show` drew inside another, with their keys
    for ring in KEYRINGS:
        text, _why = _output(root, ("keyctl", "show", f"%:{ring}"))
        if text is None and root != "/":  # a thread may show `keyctl list` instead
            text = _text(root, os.path.join("outputs", f"keyctl-list-{ring.lstrip('.')}.txt"))
        members = mok.keyctl_keys(text) if text else None
        if text:
            linked.update(mok.keyctl_linked(text))
        if members is None and (parsed.keyrings.get(ring) == 0 or (
                ring not in parsed.keyrings and ".builtin_trusted_keys" in parsed.keyrings)):
            members = ()  # empty, or absent where the system keyrings are visible: this kernel has no such keyring
        keyrings[ring] = members
    for ring, keys in linked.items():  # e.g. .machine drawn inside .secondary_trusted_keys: its keys are known
        if ring in keyrings and keyrings[ring] is None:
            keyrings[ring] = keys
    if all(v is None for v in keyrings.values()) and keys_text is not None:
        unknown.append(("keyrings", "no keyctl answer: /proc/keys shows the keys but not which keyring holds them"))
    lists: list[tuple[mok.MokKey, ...] | None] = []
    for option, variable_name in (("--list-enrolled", "MokListRT"), ("--list-new", "MokNew"), ("--list-delete", "MokDel")):
        text, why = _output(root, ("mokutil", option))
        if text is None and (listed := _mok_variable(root, variable_name)) is not None:
            lists.append(listed)  # no mokutil (or none recorded): shim's variable, read as mokutil reads it
        elif text is None or any(line in text for line in mok.NO_EFI):
            lists.append(() if text and efi is False else None)
            if text is None and efi is not False:
                unknown.append((f"mokutil {option}", why))
        else:
            lists.append(mok.mok_list(text))
    toggle = _efivar(root, "MokListTrustedNew", SHIM)  # MokToggleVar { u32 mok_toggle_state; ... }: 0 trust, 1 untrust
    trust_request = None if toggle is None or len(toggle) < 4 else ("trust", "untrust")[toggle[0] == 1]
    return BootState(root, running, config_release, running_modules, efi, secure_boot, setup_mode, shim_validation, mok_trusted, lockdown, sig_enforce,
                     config, config_source, keyrings, parsed.keyrings, parsed.asymmetric, lists[0], lists[1], lists[2],
                     tuple(unknown), trust_request)
