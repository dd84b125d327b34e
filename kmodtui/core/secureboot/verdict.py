"""Will the kernel load this module, by its signature rules applied to the facts read?

The rules are kernel/module/signing.c (module_sig_check): a signature that verifies against a key
in .builtin_trusted_keys or .secondary_trusted_keys (which .machine is linked into when the kernel
has CONFIG_INTEGRITY_MACHINE_KEYRING) loads the module; an unsigned module (-ENODATA), one whose
hash the kernel cannot compute (-ENOPKG) or whose key it does not hold (-ENOKEY) is refused when
signatures are enforced (module.sig_enforce, CONFIG_MODULE_SIG_FORCE) or lockdown is on
(integrity or confidentiality), else it loads and taints the kernel ('E'). Upstream does not use
.platform for modules (some distribution kernels do; it is named when the key is only there)."""

from __future__ import annotations

import struct
from dataclasses import dataclass

from kmodtui.core.compression import read_maybe_compressed
from kmodtui.core.errors import KmodError
from kmodtui.core.secureboot import der
from kmodtui.core.secureboot.facts import SIG_HASHES, VERSION, BootState
from kmodtui.core.secureboot.mok import MokKey

MAGIC = b"~Module signature appended~\n"
# struct module_signature { u8 algo, hash, id_type, signer_len, key_id_len, pad[3]; __be32 sig_len; }
INFO = struct.Struct(">BBBBB3xI")
TRUSTED = (".builtin_trusted_keys", ".secondary_trusted_keys", ".machine")
LOAD, TAINTED, REFUSED, UNKNOWN = "will load", "will load tainted", "will be refused", "unknown"
CRYPTO = {"sha1": "CRYPTO_SHA1", "sha224": "CRYPTO_SHA256", "sha256": "CRYPTO_SHA256", "sha384": "CRYPTO_SHA512",
          "sha512": "CRYPTO_SHA512", "sha3-256": "CRYPTO_SHA3", "sha3-384": "CRYPTO_SHA3", "sha3-512": "CRYPTO_SHA3",
          "sm3": "CRYPTO_SM3"}


@dataclass(frozen=True)
class ModuleSigner:
    """The appended signature, as modinfo reports it (signer, sig_key, sig_hashalgo)."""

    path: str
    signed: bool
    signer: str = ""
    key_id: str = ""  # colon hex: the serial number, or the subject key identifier when by_skid
    by_skid: bool = False
    hash_algo: str = ""


def read_signer(path: str) -> ModuleSigner:
    data, _ = read_maybe_compressed(path)
    if not data.endswith(MAGIC):
        return ModuleSigner(path, False)
    end = len(data) - len(MAGIC) - INFO.size
    if end < 0:
        raise KmodError(path, "module signature trailer is truncated")
    _algo, _hash, id_type, signer_len, key_id_len, sig_len = INFO.unpack_from(data, end)
    start = end - sig_len
    if start - signer_len - key_id_len < 0:
        raise KmodError(path, f"module signature claims {sig_len} bytes, more than the file holds")
    if id_type != 2:
        raise KmodError(path, f"module signature of type {id_type}: only PKCS#7 (sign-file's) is read")
    try:
        info = der.pkcs7_signer(bytes(data[start:end]))
    except (der.DerError, IndexError, ValueError) as err:
        raise KmodError(path, f"module signature is not a readable PKCS#7 message ({err})") from None
    return ModuleSigner(path, True, info.signer, der.colon_hex(info.key_id), info.by_skid, info.hash_algo)


@dataclass(frozen=True)
class OwnKey:
    """A certificate the caller holds (kmodtui's own), so its serial can be tied to its key id."""

    path: str
    cert: der.Certificate


def read_cert(path: str) -> OwnKey | None:
    try:
        with open(path, "rb") as f:
            return OwnKey(path, der.x509_certificate(f.read(1 << 16)))
    except (OSError, der.DerError, IndexError, ValueError):
        return None


@dataclass(frozen=True)
class Verdict:
    module: str
    signer: ModuleSigner
    outcome: str  # LOAD, TAINTED, REFUSED or UNKNOWN
    reasons: tuple[str, ...]  # each names the facts it rests on
    trusted_in: tuple[str, ...]  # the keyrings holding the signer's key
    mok: str  # enrolled / pending / being deleted / not enrolled / unknown
    own_key: bool  # signed with kmodtui's own key pair
    next_step: str


def _same(signer: ModuleSigner, key: MokKey) -> bool | None:
    """Is this MOK the signer's key? None: only the name can be compared (mokutil --short)."""
    if key.serial:
        return key.serial == signer.key_id and (not key.issuer or key.issuer == signer.signer)
    if signer.by_skid and key.skid:
        return key.skid == signer.key_id.replace(":", "").lower()
    return None if key.subject == signer.signer else False


def _descriptions(signer: ModuleSigner, state: BootState, own: OwnKey | None) -> tuple[list[str], bool]:
    """The signer's key as the kernel names it ("CN: skid"); False when only its name is known."""
    skids = []
    if signer.by_skid:
        skids.append(signer.key_id.replace(":", "").lower())
    if own and der.colon_hex(own.cert.serial) == signer.key_id and own.cert.issuer == signer.signer:
        skids.append(own.cert.skid.hex())
    for key in (state.enrolled or ()) + (state.pending or ()):
        if key.skid and _same(signer, key):
            skids.append(key.skid)
    if skids:
        return [f": {s}" for s in skids], True
    return [f"{signer.signer}: "], False


def _others(signer: ModuleSigner, state: BootState, own: OwnKey | None) -> tuple[str, ...]:
    """The kernel's names ("CN: skid") of certificates known here (enrolled or pending MOK keys, kmodtui's
    own) that bear the signer's name but are another key (another serial): a key a keyring lists under one
    of these names is not the signer's, even when the signer's own skid is unknown."""
    others = [f": {key.skid}" for key in (state.enrolled or ()) + (state.pending or ())
              if key.skid and key.serial and key.subject == signer.signer and _same(signer, key) is False]
    if own and own.cert.skid and own.cert.subject == signer.signer and der.colon_hex(own.cert.serial) != signer.key_id:
        others.append(f": {own.cert.skid.hex()}")
    return tuple(others)


def _holds(described: list[str], keys: tuple[str, ...], exact: bool, others: tuple[str, ...] = ()) -> bool:
    keys = tuple(k for k in keys if not k.endswith(others)) if others and not exact else keys
    # by name: the kernel names a certificate "CN: skid", or "O: CN: skid" when its CN does not start with its O
    return any(k.endswith(d) if exact else k.startswith(d) or f": {d}" in k for d in described for k in keys)


def judge(signer: ModuleSigner, state: BootState, own: OwnKey | None = None) -> Verdict:
    config = state.config or {}
    reasons: list[str] = []
    described, exact = _descriptions(signer, state, own)
    own_key = bool(own and signer.signed and exact and own.cert.issuer == signer.signer
                   and der.colon_hex(own.cert.serial) == signer.key_id)
    cert = own.path if own_key and own else "the signing certificate (.der)"

    # what happens to a module whose signature does not verify
    if config.get("MODULES") == "n":
        return _verdict(signer, REFUSED, [f"this kernel has no module support (CONFIG_MODULES is not set in "
                                          f"{state.config_source}): it loads no module at all"], (), "unknown", own_key,
                        "nothing to do here: boot a kernel built with module support")
    if config.get("MODULE_SIG") == "n" or (config.get("MODULES") == "y" and "MODULE_SIG" not in config):
        return _verdict(signer, LOAD, [f"this kernel does not check module signatures (CONFIG_MODULE_SIG is not set in "
                                       f"{state.config_source})"], (), "unknown", own_key, "nothing")
    refuses, why_refuses = _refuses_unverified(state)

    # does the signature verify?
    trusted_in: tuple[str, ...] = ()
    failure = hash_doubt = ""
    if not signer.signed:
        failure = "the module is not signed"
    else:
        name = f"key {signer.key_id} ('{signer.signer}')" if signer.signer else f"key {signer.key_id}"
        option = CRYPTO.get(signer.hash_algo)
        if option and config.get(option) == "n":
            failure = (f"it is signed with {signer.hash_algo}, which this kernel cannot compute "
                       f"(CONFIG_{option} is not set in {state.config_source}; it signs with "
                       f"{config.get('MODULE_SIG_HASH') or 'another hash'})")
        if not failure:
            failure, hash_doubt = _sha1_removed(signer, state)
        rings = TRUSTED if config.get("INTEGRITY_MACHINE_KEYRING") == "y" or not state.config else TRUSTED[:2]
        others = _others(signer, state, own)
        trusted_in = tuple(r for r in rings if _holds(described, state.keyrings.get(r) or (), exact, others))
        known = [r for r in rings if state.keyrings.get(r) is not None]
        anywhere = _holds(described, state.all_keys, exact, others)
        if trusted_in and not exact and not failure:
            failure = (f"signed by {name}; a key of that name is in {' and '.join(trusted_in)} (keyctl), but only its "
                       "name can be compared (no certificate here gives its key id): whether it is the same key is unknown")
            refuses = None
        elif trusted_in:
            reasons.append(f"signed by {name}, which is in {' and '.join(trusted_in)} (keyctl)")
        elif not failure:
            if len(known) < len(rings) and (anywhere or not state.keyring_sizes):
                unread = ", ".join(r for r in rings if state.keyrings.get(r) is None)
                failure = (f"signed by {name}, which is in none of the keyrings read "
                           f"({', '.join(_size(r, state) for r in known) or 'none'}); "
                           f"{unread} not read: whether the kernel trusts it is unknown")
                refuses = None
            else:
                where = ", ".join(_size(r, state) for r in known) or "/proc/keys"
                failure = f"signed by {name}, which is in no keyring this kernel trusts for modules ({where})"
            if _holds(described, state.keyrings.get(".platform") or (), exact):
                # Fedora's and RHEL's kernels (and Ubuntu's 5.15) carry a patch that verifies modules
                # with .platform too; no config option says so: linux-surface#906 shows one that loads them
                failure += ("; a key of that name is in .platform" if not exact else "; it is in .platform") + (
                    ", which upstream kernels do not use for modules but kernels with the distribution patch "
                    "(Fedora's, RHEL's; Ubuntu's 5.15) do: whether this kernel does is not in its config")
                refuses = None
    mok = _mok_state(signer, state)
    if hash_doubt and not failure:
        return _verdict(signer, UNKNOWN, reasons + [hash_doubt], trusted_in, mok, own_key,
                        "re-sign it with sha256 or sha512 (kmodtui sign signs with sha256)")
    if not failure:
        return _verdict(signer, LOAD, reasons + ["the kernel's signature check passes (the key is trusted, the hash is "
                                                  "one it computes)"], trusted_in, mok, own_key, "nothing")
    reasons += [failure, hash_doubt, why_refuses]
    outcome = REFUSED if refuses else TAINTED if refuses is False else UNKNOWN
    return _verdict(signer, outcome, reasons, trusted_in, mok, own_key, _next_step(signer, state, mok, cert, failure))


def _sha1_removed(signer: ModuleSigner, state: BootState) -> tuple[str, str]:
    """16ab7cb5825f ('crypto: pkcs7 - remove sha1 support', 6.7) took sha1 out of the kernel's PKCS#7 parser
    whatever the config, and CONFIG_MODULE_SIG_SHA1 out of kernel/module/Kconfig; 203a6763ab69 put both back
    (6.9, 6.8.3, 6.7.12). So a 6.7 or 6.8 config that lists the module signing hashes tells which: without a
    MODULE_SIG_SHA1 line the parser fails a sha1 signature (-ENOPKG). (7.0 drops the option again, 148519a06304,
    but keeps reading sha1: the rule is only for 6.7 and 6.8.) Returns (failure, doubt)."""
    config = state.config or {}
    version = config.get(VERSION) or state.config_release or state.release
    if signer.hash_algo != "sha1" or not version.startswith(("6.7.", "6.8.", "6.7-", "6.8-")):
        return "", ""
    offered = [h.lower().replace("_", "-") for h in SIG_HASHES if f"MODULE_SIG_{h}" in config]
    if offered and "MODULE_SIG_SHA1" not in config:
        return (f"it is signed with sha1, which this {version} kernel cannot verify: its config ({state.config_source}) "
                f"offers to sign modules with {', '.join(offered)} but not CONFIG_MODULE_SIG_SHA1, so it carries 16ab7cb5825f "
                "('crypto: pkcs7 - remove sha1 support', 6.7), which took sha1 out of the kernel's PKCS#7 parser until "
                "203a6763ab69 put it back (6.7.12, 6.8.3, 6.9): the signature fails as unsupported crypto (-ENOPKG)"), ""
    if offered:
        return "", ""  # CONFIG_MODULE_SIG_SHA1 is there: the revert is in, sha1 is read again
    return "", (f"it is signed with sha1, which the PKCS#7 code of 6.7 and 6.8 kernels refuses ('crypto: pkcs7 - remove "
                f"sha1 support', until the revert reached 6.7.12 and 6.8.3): whether {version}'s does is not in the "
                "config read (a full config without a CONFIG_MODULE_SIG_SHA1 line would say it does)")


def _size(ring: str, state: BootState) -> str:
    if state.keyring_sizes and ring not in state.keyring_sizes and not state.keyrings.get(ring):
        return f"{ring} (absent from /proc/keys)"
    return f"{ring} ({len(state.keyrings.get(ring) or ())} keys)"


def _refuses_unverified(state: BootState) -> tuple[bool | None, str]:
    config = state.config or {}
    if state.sig_enforce:
        return True, "signatures are enforced (module.sig_enforce=Y): such a module is refused ('Key was rejected by service')"
    if config.get("MODULE_SIG_FORCE") == "y":
        return True, "signatures are enforced (CONFIG_MODULE_SIG_FORCE=y): such a module is refused"
    if state.lockdown in ("integrity", "confidentiality"):
        return True, f"lockdown is '{state.lockdown}' (/sys/kernel/security/lockdown): such a module is refused"
    efi = ("there is no EFI (/sys/firmware/efi is absent), so Secure Boot does not enforce" if state.efi is False else
           "Secure Boot is off" if state.secure_boot is False else "")
    if state.lockdown == "none" and state.sig_enforce is False:
        return False, (f"{efi + '; ' if efi else ''}signatures are not enforced and lockdown is 'none': the kernel loads "
                       "it and taints itself ('module verification failed ... tainting kernel')")
    if state.lockdown is None and state.secure_boot and config.get("LOCK_DOWN_IN_EFI_SECURE_BOOT") == "y":
        return True, ("Secure Boot is on and this kernel locks itself down under Secure Boot "
                      "(CONFIG_LOCK_DOWN_IN_EFI_SECURE_BOOT=y): such a module is refused")
    # module.sig_enforce can be turned on at run time (it is enable-only, mode 0644): only its parameter file proves it off
    unread = [n for n, v in (("lockdown", state.lockdown), ("module.sig_enforce", state.sig_enforce)) if v is None]
    return None, (f"{efi + '; ' if efi else ''}{' and '.join(unread) or 'the kernel config'} could not be read: tainted "
                  "if neither enforces, refused if either does")


def _mok_state(signer: ModuleSigner, state: BootState) -> str:
    if not signer.signed:
        return "not enrolled"
    for label, keys in (("pending", state.pending), ("being deleted", state.deleting), ("enrolled", state.enrolled)):
        matches = [_same(signer, k) for k in keys or ()]
        if any(matches):
            return label
        if None in matches:
            return f"{label} (by name only)"
    if state.enrolled is None:
        return "unknown"
    return "not enrolled"


def _next_step(signer: ModuleSigner, state: BootState, mok: str, cert: str, failure: str) -> str:
    config = state.config or {}
    if not signer.signed:
        return "sign it: kmodtui sign MODULE.ko (then enrol the key once with sudo mokutil --import CERT)"
    if "cannot compute" in failure or "cannot verify" in failure:
        good = config.get("MODULE_SIG_HASH") if config.get("MODULE_SIG_HASH") not in (None, "sha1") else "sha512"
        cert_arg = cert if " " not in cert else "CERTIFICATE"
        return (f"re-sign it with {good}: scripts/sign-file {good} PRIVATE-KEY {cert_arg} {signer.path} (the kernel "
                f"build tree's sign-file, with the key pair it was signed with; kmodtui sign signs with sha256)")
    if mok.startswith("pending"):
        return "reboot and confirm the key in the blue MokManager screen (Enroll MOK), with the password you set"
    if mok.startswith("enrolled"):
        if state.config is None:
            return ("find out whether this kernel trusts MOK keys for modules (its config was not read: "
                    "CONFIG_INTEGRITY_MACHINE_KEYRING) and whether shim says so (sudo mokutil --trust-mok, then reboot)")
        if config.get("INTEGRITY_MACHINE_KEYRING") != "y":
            return ("this kernel does not trust MOK keys for modules (CONFIG_INTEGRITY_MACHINE_KEYRING is not set): "
                    "sign with a key in .builtin_trusted_keys or .secondary_trusted_keys, or boot a kernel built with it")
        if state.mok_trusted is False and state.mok_trust_request == "trust":
            return ("reboot and confirm 'trust MOK' in the blue MokManager screen (mokutil --trust-mok asked it): "
                    "then the kernel links .machine into its trusted keys")
        if state.mok_trusted is False:
            return ("shim does not tell the kernel to trust MOK keys (no MokListTrustedRT): sudo mokutil --trust-mok, "
                    "reboot and confirm in MokManager")
        if state.keyrings.get(".machine") is None:
            return ("nothing to enrol: the key is enrolled" + (" and shim tells the kernel to trust MOK keys (MokListTrustedRT)"
                                                               if state.mok_trusted else "") +
                    "; see that .machine holds it (sudo keyctl show %:.machine): an enrolled key reaches it at the next boot")
        return "reboot to confirm: an enrolled key reaches .machine only at boot"
    step = f"enrol the key: sudo mokutil --import {cert}, reboot and confirm it in the blue MokManager screen"
    if state.efi is False:
        step += (" (on a machine that boots through shim with EFI; without EFI there is no MOK, and a kernel trusts only "
                 "keys built into it: CONFIG_SYSTEM_TRUSTED_KEYS)")
    return step


def _verdict(signer: ModuleSigner, outcome: str, reasons: list[str], trusted_in: tuple[str, ...], mok: str,
             own_key: bool, next_step: str) -> Verdict:
    return Verdict(signer.path, signer, outcome, tuple(r for r in reasons if r), trusted_in, mok, own_key, next_step)
