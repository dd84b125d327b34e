"""`kmodtui secureboot`: its JSON object and its words (the CLI prints them, the TUI screen shows them)."""

from __future__ import annotations

from typing import Any

from kmodtui.core.secureboot.facts import BootState
from kmodtui.core.secureboot.mok import MokKey
from kmodtui.core.secureboot.update import SignatureCheck
from kmodtui.core.secureboot.verdict import Verdict


def _keys(keys: tuple[MokKey, ...] | None) -> list[dict[str, str]] | None:
    if keys is None:
        return None
    return [{"subject": k.subject, "issuer": k.issuer, "serial": k.serial, "skid": k.skid,
             "fingerprint": k.fingerprint} for k in keys]


def secureboot_json(state: BootState, verdicts: list[Verdict]) -> dict[str, Any]:
    return {
        "root": state.root,
        "release": state.release,
        "config_release": state.config_release or None,
        "running_modules": state.running_modules,
        "boot": {"efi": state.efi, "secure_boot": state.secure_boot, "setup_mode": state.setup_mode,
                 "shim_validation": state.shim_validation, "mok_trusted": state.mok_trusted,
                 "mok_trust_request": state.mok_trust_request,
                 "lockdown": state.lockdown, "sig_enforce": state.sig_enforce},
        "config": state.config, "config_source": state.config_source or None,
        "keyrings": {name: (list(keys) if keys is not None else None) for name, keys in state.keyrings.items()},
        "mok": {"enrolled": _keys(state.enrolled), "pending": _keys(state.pending), "deleting": _keys(state.deleting)},
        "unknown": [{"fact": fact, "why": why} for fact, why in state.unknown],
        "modules": [{"path": v.module, **verdict_json(v)} for v in verdicts],
    }


def verdict_json(v: Verdict) -> dict[str, Any]:
    return {"signed": v.signer.signed, "signer": v.signer.signer or None, "key_id": v.signer.key_id or None,
            "by_skid": v.signer.by_skid, "hash_algo": v.signer.hash_algo or None, "own_key": v.own_key,
            "outcome": v.outcome, "reasons": list(v.reasons), "trusted_in": list(v.trusted_in), "mok": v.mok,
            "next_step": v.next_step}


def signature_check_json(check: SignatureCheck) -> dict[str, Any]:
    """check-update's summary of the facts the verdicts rest on (`secureboot --json` has them all)."""
    state = check.state
    return {"root": state.root, "keyrings_of": check.keyrings_of or None, "config_release": state.config_release or None,
            "config_source": state.config_source or None, "efi": state.efi, "secure_boot": state.secure_boot,
            "lockdown": state.lockdown, "sig_enforce": state.sig_enforce,
            "unknown": [{"fact": fact, "why": why} for fact, why in state.unknown]}


def signature_check_lines(check: SignatureCheck, new_release: str) -> list[str]:
    """check-update's words: whose facts the verdicts rest on, once."""
    state = check.state
    if state.config is None:
        config = f"no config of {new_release} found: the signature rules it enforces are unknown"
    elif state.config_release == new_release:
        config = f"{new_release}'s config ({state.config_source})"
    else:
        config = (f"the config of {state.config_release or 'a kernel whose release is not recorded'} "
                  f"({state.config_source}), not {new_release}'s")
    where = "this machine" if state.root == "/" else f"the state recorded in {state.root}"
    boot = boot_lines(state)[0].removeprefix("Boot: ")
    if check.keyrings_of and check.keyrings_of != new_release:
        rings = (f"the keyrings read are the running kernel's ({check.keyrings_of}): MOK keys reach {new_release}'s "
                 ".machine the same way, its built-in keys are its own")
    else:
        rings = "the keyrings read are this kernel's" if check.keyrings_of else "the keyrings as recorded"
    return [f"  Signatures (as `kmodtui secureboot` judges them): boot facts of {where} ({boot}; lockdown "
            f"{state.lockdown or 'unknown'}); {config}; {rings}."]


def signature_line(verdict: Verdict) -> str:
    """One module's verdict under its check-update line."""
    signer = verdict.signer
    head = (f"signed by '{signer.signer}', key {signer.key_id}, {signer.hash_algo}" if signer.signed else "not signed")
    return (f"    signature: {verdict.outcome.upper()} ({head}): {'; '.join(verdict.reasons)}. "
            f"Next step: {verdict.next_step}")


def _yes(value: bool | None, yes: str, no: str) -> str:
    return "unknown" if value is None else yes if value else no


def boot_lines(state: BootState) -> list[str]:
    """The boot's trust facts in words, one per line; unknown ones say why."""
    if state.efi is False:
        boot = "no EFI (/sys/firmware/efi is absent): Secure Boot does not exist here, so it does not enforce"
    else:
        boot = (f"EFI {_yes(state.efi, 'yes', 'no')}; Secure Boot {_yes(state.secure_boot, 'on', 'off')}"
                f"{'; setup mode' if state.setup_mode else ''}"
                f"{'; shim validation disabled (MokSBStateRT)' if state.shim_validation is False else ''}"
                f"; MOK trusted for modules (MokListTrustedRT) {_yes(state.mok_trusted, 'yes', 'no')}"
                + (f" (asked to {state.mok_trust_request} at the next boot: MokListTrustedNew, confirmed in MokManager)"
                   if state.mok_trust_request else ""))
    config = state.config or {}
    lines = [f"Boot: {boot}",
             f"Kernel running: {state.release or 'unknown'}" + (
                 f"; config read for {state.config_release} (the module's kernel): boot facts and keyrings are the "
                 "running kernel's" if state.config_release and state.config_release != state.release else "") + (
                 "; it was built without module support (CONFIG_MODULES is not set): it loads no module at all"
                 if state.running_modules is False else ""),
             f"Lockdown: {state.lockdown or 'unknown'}; module.sig_enforce: {_yes(state.sig_enforce, 'Y', 'N')}",
             (f"Kernel config ({state.config_source}): MODULE_SIG_FORCE {config.get('MODULE_SIG_FORCE', 'n')}, "
              f"MODULE_SIG_HASH {config.get('MODULE_SIG_HASH', '?')}, INTEGRITY_MACHINE_KEYRING "
              f"{config.get('INTEGRITY_MACHINE_KEYRING', 'n')}") if state.config is not None else "Kernel config: unknown"]
    rings = []
    for name, keys in state.keyrings.items():
        size = state.keyring_sizes.get(name)
        count = "not read" if keys is None and size is None else len(keys) if keys is not None else size
        absent = keys == () and state.keyring_sizes and name not in state.keyring_sizes
        rings.append(f"{name} {'absent' if absent else count}")
    lines.append("Keyrings (keys): " + ", ".join(rings))
    mok = [f"{label} {'unknown' if keys is None else len(keys)}"
           for label, keys in (("enrolled", state.enrolled), ("pending", state.pending), ("to delete", state.deleting))]
    lines.append("MOK (mokutil): " + ", ".join(mok))
    lines += [f"Unknown: {fact}: {why}" for fact, why in state.unknown]
    return lines


def verdict_lines(verdict: Verdict) -> list[str]:
    signer = verdict.signer
    if signer.signed:
        own = " (kmodtui's key)" if verdict.own_key else ""
        head = (f"signed by '{signer.signer}'{own}, key {signer.key_id}, {signer.hash_algo}; "
                f"MOK: {verdict.mok}")
    else:
        head = "not signed"
    lines = [f"{verdict.module}: {head}", f"  Verdict: {verdict.outcome.upper()}, by the kernel's rules applied to the facts read:"]
    lines += [f"  - {reason}" for reason in verdict.reasons]
    lines.append(f"  Next step: {verdict.next_step}")
    return lines


def verdict_summary(verdict: Verdict, enforcement: bool = True) -> str:
    """The verdict in one short line a stranger can read (the sign screen's; the doctor has the reasons);
    enforcement=False: only what is wrong with the module, not whether this machine enforces signatures."""
    first = verdict.reasons[0] if verdict.reasons else ""
    if verdict.outcome == "will load" or "CONFIG_MODULES is not set" in first:
        return first
    if not verdict.signer.signed:
        why = "it is not signed"
    elif "cannot compute" in first or "cannot verify" in first:
        verb = "verify" if "cannot verify" in first else "compute"  # 6.7/6.8's sha1, or a hash without its crypto
        why = f"it is signed with {verdict.signer.hash_algo}, which this kernel cannot {verb}"
    elif "only its name can be compared" in first:
        why = "its key matches a trusted key by name only"
    elif "not read" in first:
        why = "whether the kernel trusts its key is unknown (a keyring could not be read)"
    else:
        why = "its key is in no keyring the kernel trusts"
    if not enforcement:
        return why
    tail = {"will be refused": "and signatures are enforced here, so the kernel refuses it",
            "will load tainted": "but signatures are not enforced here, so it loads and taints the kernel",
            }.get(verdict.outcome, "and whether signatures are enforced here is unknown")
    unread = [r.rsplit("; ", 1)[-1].split(" could not be read", 1)[0] for r in verdict.reasons[1:]
              if " could not be read" in r]
    if verdict.outcome == "unknown" and unread:
        tail += f" ({unread[0]} could not be read)"
    return f"{why}, {tail}"
