"""The doctor inside `check-update`'s will-it-load: each module's signature judged for the new kernel.

The kernel config read is the new kernel's (its /boot/config-<release> or build tree .config); the boot
facts (EFI, Secure Boot, lockdown, module.sig_enforce, MOK) are this machine's, which the new kernel boots
on; the keyrings are the running kernel's, which the new kernel shares only in part (MOK keys reach its
.machine the same way; its built-in keys are its own), so `keyrings_of` says whose they are."""

from __future__ import annotations

import os
from dataclasses import dataclass, replace

from kmodtui.core.errors import KmodError
from kmodtui.core.secureboot.facts import BootState, fact_text, parse_config, read_state
from kmodtui.core.secureboot.verdict import REFUSED, OwnKey, Verdict, judge, read_signer


@dataclass(frozen=True)
class SignatureCheck:
    state: BootState
    verdicts: dict[str, Verdict]  # module path -> the doctor's verdict
    unreadable: dict[str, str]  # module path -> why its signature could not be read
    keyrings_of: str  # the release whose keyrings were read ("" unknown)

    def refused(self, path: str) -> bool:
        verdict = self.verdicts.get(path)
        return verdict is not None and verdict.outcome == REFUSED


def check_signatures(paths: list[str], release: str, root: str = "/", own: OwnKey | None = None,
                     build_dir: str = "") -> SignatureCheck:
    """build_dir: the new kernel's build tree (e.g. unpacked from its headers package), whose .config is read
    when neither /boot nor /lib/modules has that kernel's config."""
    state = read_state(root, release)
    config_file = os.path.join(build_dir, ".config") if build_dir else ""
    # read as read_config reads the kernel's other configs (fact_text: a regular file, at most LIMIT bytes)
    text = fact_text(config_file) if root == "/" and state.config_release != release and config_file else None
    if text is not None:
        state = replace(state, config=parse_config(text), config_source=config_file, config_release=release,
                        unknown=tuple(u for u in state.unknown if u[0] != "kernel config"))
    if state.config is not None and state.config_release and state.config_release != release:
        # read_state falls back to the running kernel's config; its rules are not the new kernel's
        state = replace(state, config=None, config_source="", config_release="", unknown=(*state.unknown, (
            "kernel config", f"no /boot/config-{release} nor build tree .config of {release}: whether it checks "
                             "signatures, enforces them, and which hashes it computes are unknown")))
    verdicts: dict[str, Verdict] = {}
    unreadable: dict[str, str] = {}
    for path in paths:
        try:
            verdicts[path] = judge(read_signer(path), state, own)
        except KmodError as err:
            unreadable[path] = str(err)
    return SignatureCheck(state, verdicts, unreadable, state.release)
