"""What the tools print, parsed: `mokutil --sb-state`, `--list-enrolled|--list-new|--list-delete`
(long and --short forms), `keyctl show|list` of a keyring and /proc/keys (man 7 keyrings)."""

from __future__ import annotations

import hashlib
import re
import struct
import uuid
from dataclasses import dataclass

from kmodtui.core.secureboot import der

# mokutil's own lines for "nothing there" (mokutil.c: "MokListRT is empty", "MokNew is empty", ...)
EMPTY = re.compile(r"^(MokListRT|MokNew|MokDel|MokListXRT|MokList) is empty", re.M)
NO_EFI = ("EFI variables are not supported on this system", "This system doesn't support Secure Boot")


@dataclass(frozen=True)
class MokKey:
    """One certificate as mokutil lists it."""

    subject: str  # its CN
    issuer: str  # "" in the --short form
    serial: str  # colon hex as modinfo prints a key id ("" in the --short form)
    skid: str  # lower-case hex as /proc/keys prints it ("" when not listed)
    fingerprint: str  # SHA1 fingerprint (the --short form prints its first 10 hex digits)


def sb_state(text: str) -> dict[str, bool | None]:
    """`mokutil --sb-state`: Secure Boot, setup mode and shim's own validation, None where not said."""
    state: dict[str, bool | None] = {"efi": None, "secure_boot": None, "setup_mode": None, "shim_validation": None}
    if any(line in text for line in NO_EFI):
        state["efi"] = False
        return state
    if re.search(r"^SecureBoot enabled", text, re.M):
        state.update(efi=True, secure_boot=True)
    elif re.search(r"^SecureBoot disabled", text, re.M):
        state.update(efi=True, secure_boot=False)
    if re.search(r"Platform is in Setup Mode", text):
        state["setup_mode"] = True
    if re.search(r"SecureBoot validation is disabled in shim", text):
        state["shim_validation"] = False
    return state


def _cn(line: str) -> str:
    match = re.search(r"CN\s*=\s*([^,/\n]+)", line)
    return match.group(1).strip() if match else ""


def _hexpairs(text: str) -> str:
    return ":".join(p.upper() for p in re.findall(r"[0-9A-Fa-f]{2}", text))


def mok_list(text: str) -> tuple[MokKey, ...]:
    """The certificates in a `mokutil --list-*` output; () when it says the list is empty."""
    if EMPTY.search(text) and "[key" not in text:
        return ()
    keys = []
    short = re.findall(r"^([0-9a-f]{10}) (.+)$", text, re.M)
    if short and "[key" not in text:
        return tuple(MokKey(name.strip(), "", "", "", prefix) for prefix, name in short)
    for block in re.split(r"^\[key \d+\]\s*$", text, flags=re.M)[1:]:
        lines = block.splitlines()
        fingerprint = serial = skid = issuer = subject = ""
        for i, line in enumerate(lines):
            stripped = line.strip()
            after = lines[i + 1].strip() if i + 1 < len(lines) else ""
            if stripped.startswith("SHA1 Fingerprint:"):
                fingerprint = stripped.split(":", 1)[1].strip().replace(":", "").lower()
            elif stripped.startswith("Serial Number:"):
                inline = stripped.split(":", 1)[1].strip()
                number = re.match(r"(\d+) \(0x([0-9a-f]+)\)", inline)
                if number:  # a small serial is printed in decimal and hex on one line
                    value = number.group(2)
                    serial = _hexpairs(value.zfill(len(value) + len(value) % 2))
                else:
                    serial = _hexpairs(after)
            elif stripped.startswith("Issuer:"):
                issuer = _cn(stripped)
            elif stripped.startswith("Subject:"):
                subject = _cn(stripped)
            elif stripped.startswith("X509v3 Subject Key Identifier"):
                skid = after.replace(":", "").lower()
        keys.append(MokKey(subject, issuer, serial, skid, fingerprint))
    return tuple(keys)


EFI_CERT_X509 = uuid.UUID("a5c059a1-94e4-4aa7-87b5-ab155c2bf072").bytes_le
# EFI_SIGNATURE_LIST { EFI_GUID SignatureType; UINT32 SignatureListSize, SignatureHeaderSize, SignatureSize; }
ESL = struct.Struct("<16sIII")


def signature_list(data: bytes) -> tuple[MokKey, ...]:
    """The certificates in an EFI signature list (MokListRT, MokNew, MokDel as shim and mokutil store
    them): each entry is an owner GUID and a DER certificate. Hash entries are left out (the doctor
    matches certificates); an entry that does not parse ends the reading."""
    keys: list[MokKey] = []
    at = 0
    while at + ESL.size <= len(data):
        kind, list_size, header_size, size = ESL.unpack_from(data, at)
        end = at + list_size
        first = at + ESL.size + header_size
        if list_size < ESL.size or end > len(data) or size <= 16 or (end - first) % size:
            break
        for entry in range(first, end, size) if kind == EFI_CERT_X509 else ():
            cert = data[entry + 16:entry + size]
            try:
                parsed = der.x509_certificate(cert)
            except (der.DerError, IndexError, ValueError):
                return tuple(keys)
            keys.append(MokKey(parsed.subject, parsed.issuer, der.colon_hex(parsed.serial), parsed.skid.hex(),
                               hashlib.sha1(cert, usedforsecurity=False).hexdigest()))
        at = end
    return tuple(keys)


@dataclass(frozen=True)
class KeyringKeys:
    """A keyring's keys as `keyctl` lists them: each an asymmetric key's description ("CN: skid")."""

    name: str
    keys: tuple[str, ...]


def keyctl_keys(text: str) -> tuple[str, ...] | None:
    """Key descriptions from `keyctl show %:.name` or `keyctl list %:.name`; None when it failed."""
    if "keyring is empty" in text:
        return ()
    found = [line.split("asymmetric: ", 1)[1].strip() for line in text.splitlines() if "asymmetric: " in line]
    found = [key for key in found if key]
    if found or re.search(r"keyring: \.\S+", text):
        return tuple(found)
    return None


def keyctl_linked(text: str) -> dict[str, tuple[str, ...]]:
    """The keyrings `keyctl show` draws inside another (.secondary_trusted_keys links .builtin_trusted_keys
    and, with CONFIG_INTEGRITY_MACHINE_KEYRING, .machine), each with the key descriptions under it."""
    linked: dict[str, list[str]] = {}
    open_rings: list[tuple[int, str]] = []  # (column of its "\_", name), innermost last
    for line in text.splitlines():
        column = line.find("\\_ ")
        if column < 0:
            continue
        while open_rings and open_rings[-1][0] >= column:
            open_rings.pop()
        kind, _, rest = line[column + 3:].partition(": ")
        if kind == "keyring" and rest.startswith("."):
            linked[rest.strip()] = []
            open_rings.append((column, rest.strip()))
        elif kind == "asymmetric" and open_rings and rest.strip():
            linked[open_rings[-1][1]].append(rest.strip())
    return {name: tuple(keys) for name, keys in linked.items()}


@dataclass(frozen=True)
class ProcKeys:
    """/proc/keys: each keyring's size (0 = empty) and every asymmetric key's description. It does not
    say which keyring holds which key; `keyctl` does."""

    keyrings: dict[str, int]
    asymmetric: tuple[str, ...]


def proc_keys(text: str) -> ProcKeys:
    keyrings: dict[str, int] = {}
    asymmetric = []
    for line in text.splitlines():
        fields = line.split(None, 8)
        if len(fields) < 9:
            continue
        kind, description = fields[7], fields[8]
        if kind == "keyring":
            name, _, count = description.rpartition(": ")
            keyrings[name] = 0 if count.strip() == "empty" else int(count) if count.strip().isdigit() else -1
        elif kind.startswith("asymmetri"):
            asymmetric.append(re.sub(r": X509\..*$", "", description).strip())
    return ProcKeys(keyrings, tuple(asymmetric))
