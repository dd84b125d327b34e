"""The kernel gate: a kernel whose followed modules did not all build, install (or sign, where the
kernel checks) never becomes the next boot (issue 34; dkms skips silently without headers, and the
reboot after such an upgrade comes up without its network driver, GPU or ZFS root).

After each hook run (hookrun.run_hook) for a new kernel NEW: when any followed source failed for NEW,
the next boot is kept on the newest kernel the boot loader offers whose every followed module is
installed (and signed when its config has CONFIG_MODULE_SIG_FORCE=y); when a later run for NEW (or a
newer kernel) succeeds, the default goes back to what it was before kmodtui touched it, unless
someone changed it since (then it is left, and the gate says so). What was there before, what was
set, a backup of the file and every decision are kept in the state folder, one file per root;
`kmodtui gate lift` undoes it by hand. Nothing in /etc/default/grub is ever edited: when GRUB does
not follow a saved entry, the gate says what to change.
"""

from __future__ import annotations

import os
import shutil
import time
from typing import Any

from kmodtui.core.errors import KmodError
from kmodtui.core.remedies import bootloaders as bl
from kmodtui.core.remedies.hookrun import HookReport, _read_json, _write_json, hooks_dir, installed_path

ONCE, SAVED = "once", "saved"


def state_path(root: str) -> str:
    return installed_path(root).replace(os.sep + "installed-", os.sep + "gate-")


def read_state(root: str) -> dict[str, Any]:
    """The gate's state for a root ({"engaged": False} when it never acted there)."""
    state = _read_json(state_path(root))
    return state if isinstance(state, dict) else {"root": os.path.abspath(root), "engaged": False}


def _module_names(source: str) -> list[str]:
    """The modules a followed source makes: what its tree declares, or, for a tree that names them only
    when it builds (autotools: OpenZFS, Lustre), the .ko files of its newest succeeded build."""
    from kmodtui.core.build.sources import detect_source

    try:
        declared = list(detect_source(source).modules)
    except KmodError:
        declared = []
    return declared or _built_module_names(source)


def _built_module_names(source: str) -> list[str]:
    from kmodtui.core.build.record import list_builds

    wanted = os.path.realpath(source)
    for status in list_builds():  # newest first
        if status.get("state") != "succeeded" or not isinstance(status.get("source"), str):
            continue
        if os.path.realpath(status["source"]) != wanted:
            continue
        artifacts = status.get("artifacts")
        names = sorted({os.path.basename(a).split(".ko")[0] for a in artifacts if isinstance(a, str) and ".ko" in a}
                       if isinstance(artifacts, list) else set())
        if names:
            return names
    return []


def _enforces_signatures(root: str, release: str) -> bool:
    """CONFIG_MODULE_SIG_FORCE=y in the kernel's config (as the Secure Boot doctor reads it: /boot's, the
    build tree's .config, /proc/config.gz for the running kernel), or (this machine) Secure Boot on:
    Debian's and Fedora's kernels then lock down and load only signed modules."""
    from kmodtui.core.secureboot import facts

    if os.path.abspath(root) == "/" and facts.secure_boot_variable("/"):
        return True
    config, _source = facts.read_config(root, release, recorded=False)  # an installed root: this release's only
    return config is not None and config.get("MODULE_SIG_FORCE") == "y"


def _signed(path: str) -> bool:
    from kmodtui.core.elf.module import read_module

    try:
        return read_module(path).signature is not None
    except (KmodError, OSError, ValueError):
        return False


def missing_modules(root: str, release: str, sources: list[str]) -> list[str]:
    """What keeps `release` from having every followed module, in words ([] = ready)."""
    from kmodtui.core.remedies.hookrun import modules_dir

    found: dict[str, str] = {}
    for folder, _dirs, files in os.walk(modules_dir(root, release)):
        for name in files:
            base = name.split(".ko")[0]
            if ".ko" in name and base not in found:
                found[base] = os.path.join(folder, name)
    enforced = _enforces_signatures(root, release)
    problems = []
    for source in sources:
        for module in _module_names(source):
            path = found.get(module) or found.get(module.replace("-", "_"))
            if path is None:
                problems.append(f"{module}.ko ({os.path.basename(source.rstrip('/'))}) is not installed")
            elif enforced and not _signed(path):
                problems.append(f"{path} is not signed and {release} only loads signed modules")
    return problems


def reasons(report: HookReport) -> list[dict[str, Any]]:
    """Why NEW is not bootable yet, per source, each with its diagnosis' primary cause."""
    out = []
    for o in report.outcomes:
        if o.state != "succeeded":
            out.append({"source": o.source, "name": o.name, "state": o.state, "primary": o.primary,
                        "log": o.log, "notes": list(o.notes)})
    if not out:  # built and installed; still not loadable where the kernel checks signatures
        unsigned = [p for p in missing_modules(report.root, report.kernel, [o.source for o in report.outcomes])
                    if "not signed" in p]
        out += [{"source": "", "name": os.path.basename(p.split(" ", 1)[0]), "state": "unsigned", "primary": None,
                 "log": "", "notes": [p]} for p in unsigned]
    return out


def after_hook(report: HookReport, sources: list[str], how: str = SAVED) -> dict[str, Any]:
    """The gate's decision after a hook run: engage, keep, lift, or say why it cannot. Returns the state."""
    why = reasons(report)
    state = read_state(report.root)
    if why:
        return engage(report.root, report.kernel, sources, why, how)
    held_for = state.get("new_kernel", "")
    if state.get("engaged") and bl.version_key(report.kernel) >= bl.version_key(held_for):
        return lift(report.root, f"every followed module is built and installed for {report.kernel} now")
    if state.get("engaged"):
        return {**state, "message": f"still held on {state.get('held_on')}: {report.kernel} is fine, but the gate "
                                    f"is for {held_for}, whose modules have not been built yet"}
    return {**state, "message": ""}  # nothing to hold, nothing lifted by this run


def engage(root: str, new: str, sources: list[str], why: list[dict[str, Any]], how: str = SAVED) -> dict[str, Any]:
    root = os.path.abspath(root)
    old = read_state(root)
    loader = bl.detect(root)
    state: dict[str, Any] = {"root": root, "engaged": False, "loader": loader.kind, "new_kernel": new,
                             "held_on": "", "entry": "", "method": "", "since": old.get("since") or time.time(),
                             "reasons": why, "previous": old.get("previous"), "set": old.get("set"),
                             "file": old.get("file", ""), "backup": old.get("backup", ""),
                             "history": list(old.get("history", []))[-20:]}
    if not old.get("engaged"):
        state["since"], state["previous"], state["set"] = time.time(), None, None
    if not loader.kind:
        return _save(state, f"{new} will boot next if the boot loader picks it: kmodtui cannot hold it back, "
                            f"{loader.why_not}")
    ready = [(rel, entry) for rel, entry in loader.entries if rel != new and not missing_modules(root, rel, sources)]
    if not ready:
        return _save(state, f"no other kernel in {loader.config} has every followed module installed: nothing "
                            f"safe to hold the next boot on, so it stays as the boot loader picks")
    held, entry = ready[0]
    state.update(held_on=held, entry=entry)
    try:
        if loader.kind == bl.GRUB:
            _engage_grub(state, loader, how)
        else:
            _engage_systemd_boot(state, loader)
    except KmodError as err:
        return _save(state, f"could not hold the next boot on {held}: {err}")
    return state


def _save(state: dict[str, Any], message: str, keep_earlier: bool = True) -> dict[str, Any]:
    old = read_state(state["root"])
    if keep_earlier and old.get("engaged") and not state["engaged"]:  # what kmodtui set earlier stays set, and stays undoable
        state.update({k: old.get(k) for k in ("engaged", "held_on", "entry", "method", "set", "previous", "file",
                                              "backup", "since")})
        message += f"; the gate set earlier stays: {old.get('held_on')} boots next ({old.get('method')})"
    state["message"] = message
    state["history"] = [*state.get("history", []), {"time": time.time(), "engaged": state["engaged"],
                                                     "held_on": state.get("held_on", ""), "message": message}][-20:]
    _write_json(state_path(state["root"]), state)
    return state


def _backup(state: dict[str, Any], path: str) -> None:
    """A copy of the file as it was before kmodtui first changed it (kept while the gate is engaged)."""
    if state.get("backup") and os.path.exists(state["backup"]):
        return
    backup = state_path(state["root"]) + "." + os.path.basename(path) + ".orig"
    os.makedirs(hooks_dir(), exist_ok=True)
    if os.path.exists(path):
        shutil.copyfile(path, backup)
        state["backup"] = backup


def _engage_grub(state: dict[str, Any], loader: bl.BootLoader, how: str) -> None:
    default = bl.grub_default(loader.root)
    grub_file = os.path.join(loader.root, "etc", "default", "grub")
    if default != "saved":
        _save(state, f"GRUB_DEFAULT is '{default}' in {grub_file}, so GRUB boots that entry whatever is saved: "
                     f"{state['new_kernel']} may boot next. To let kmodtui hold it, set GRUB_DEFAULT=saved there, run "
                     "update-grub, and run the hook again (kmodtui never edits that file itself)")
        return
    name = "next_entry" if how == ONCE else "saved_entry"
    env = bl.grubenv_list(loader.env)
    if state.get("set") is None or state.get("method") not in ("", name):
        state["previous"] = env.get(name)  # what was there before kmodtui: restored when the gate lifts
    _backup(state, loader.env)
    bl.grubenv_set(loader.env, name, state["entry"])
    now = bl.grubenv_list(loader.env).get(name)
    if now != state["entry"]:
        raise KmodError(loader.env, f"grub-editenv set {name}, but it reads back as {now!r}")
    state.update(engaged=True, method=name, set=state["entry"], file=loader.env)
    boots = "the next boot only (grub-reboot's next_entry)" if how == ONCE else "every boot until the gate lifts"
    _save(state, f"{state['held_on']} boots next, not {state['new_kernel']}: {_why_line(state)}. GRUB {name}="
                 f"{state['entry']} in {loader.env}, for {boots}")


def _engage_systemd_boot(state: dict[str, Any], loader: bl.BootLoader) -> None:
    """On this machine `bootctl set-default` (the EFI variable, which wins over loader.conf); in a scratch
    root, or without EFI variables, loader.conf's `default` line (a backup kept)."""
    if state["root"] == "/" and os.path.isdir(os.path.dirname(bl.EFIVAR_DEFAULT)):
        if state.get("set") is None or state.get("method") != "bootctl":
            state["previous"] = bl.efivar_default()
        bl.bootctl_set_default(state["entry"])
        state.update(engaged=True, method="bootctl", set=state["entry"], file=bl.EFIVAR_DEFAULT)
    else:
        if state.get("set") is None or state.get("method") != "loader.conf":
            state["previous"] = bl.loader_conf_default(loader.config) or None
        _backup(state, loader.config)
        _set_loader_conf(loader.config, state["entry"])
        state.update(engaged=True, method="loader.conf", set=state["entry"], file=loader.config)
    _save(state, f"{state['held_on']} boots next, not {state['new_kernel']}: {_why_line(state)}. systemd-boot's "
                 f"default is {state['entry']} ({state['method']})")


def _set_loader_conf(conf: str, entry: str | None) -> None:
    """loader.conf with its `default` line set to entry (None: removed); every other line kept."""
    try:
        with open(conf, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except FileNotFoundError:
        lines = []
    kept = [line for line in lines if line.strip().partition(" ")[0] != "default"]
    text = "\n".join(([f"default {entry}"] if entry else []) + kept) + "\n"
    tmp = f"{conf}.kmodtui-{os.getpid()}.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, conf)


def _why_line(state: dict[str, Any]) -> str:
    parts = []
    for r in state.get("reasons", []):
        cause = (r.get("primary") or {}).get("title") or "; ".join(r.get("notes", [])[:1]) or r.get("state", "")
        parts.append(f"{r.get('name')} {r.get('state')} ({cause})")
    return "; ".join(parts) or "not every followed module is ready"


def lift(root: str, because: str = "lifted by hand (kmodtui gate lift)") -> dict[str, Any]:
    """Put the default back as it was before kmodtui touched it, unless someone changed it since."""
    state = read_state(root)
    if not state.get("engaged"):
        state.setdefault("message", "the gate is not engaged: nothing to lift")
        return state
    method, ours, previous = state.get("method"), state.get("set"), state.get("previous")
    loader = bl.detect(state["root"])
    if method in ("saved_entry", "next_entry"):
        now = bl.grubenv_list(loader.env).get(method)
        if now == ours:
            bl.grubenv_set(loader.env, method, previous)
            back = f"GRUB {method} is back to {previous!r}" if previous is not None else f"GRUB {method} is unset again"
        elif method == "next_entry" and now is None:
            back = "the one boot kmodtui chose already happened (next_entry is used up)"
        else:
            back = (f"GRUB {method} is now {now!r}, not what kmodtui set ({ours!r}): someone chose it since, so it is "
                    "left as it is")
    elif method == "loader.conf":
        now = bl.loader_conf_default(loader.config) or None
        if now == ours:
            _set_loader_conf(loader.config, previous)
            back = f"loader.conf's default is back to {previous!r}" if previous else "loader.conf has no default again"
        else:
            back = f"loader.conf's default is now {now!r}, not what kmodtui set ({ours!r}): left as it is"
    else:  # bootctl
        now = bl.efivar_default()
        if now == ours:
            bl.bootctl_set_default(previous or "")
            back = f"the EFI default entry is back to {previous!r}" if previous else "the EFI default entry is unset again"
        else:
            back = f"the EFI default entry is now {now!r}, not what kmodtui set ({ours!r}): left as it is"
    state.update(engaged=False, lifted=time.time(), reasons=[])
    if state.get("backup") and os.path.exists(state["backup"]):
        os.unlink(state["backup"])
    state["backup"] = ""
    return _save(state, f"lifted: {because}; {back}", keep_earlier=False)


def gate_json(state: dict[str, Any]) -> dict[str, Any]:
    """The gate's state as `gate --json`, `hook run --json` and `follow --json` carry it (schema/gate.json)."""
    keys = ("root", "engaged", "loader", "new_kernel", "held_on", "entry", "method", "since", "reasons",
            "previous", "set", "file", "backup", "message", "lifted")
    defaults: dict[str, Any] = {"engaged": False, "reasons": [], "since": 0.0, "lifted": 0.0, "previous": None,
                                "set": None}
    return {k: state.get(k, defaults.get(k, "")) for k in keys}


def run_gated(release: str, sources: list[str], mode: str, root: str = "/", how: str = SAVED) -> HookReport:
    """The hook run, then the gate's decision on its result, kept in the run's report too."""
    from kmodtui.core.remedies.hookrun import run_hook, save_report

    report = run_hook(release, sources, mode, root)
    report.gate = gate_json(after_hook(report, sources, how))
    save_report(report)
    return report
