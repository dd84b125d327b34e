"""Real dkms and kmodtui on the same Debian `*-dkms` package: build with each, compare what they made.

Used by tests/core/test_dkms_agreement.py (a handful of small packages) and bench/dkms_agreement.py
(every `*-dkms` package of a Debian release, with the agreement table). The .deb is never installed:
real dkms gets a copy of the package's usr/src/<name>-<version> in private trees (its --sourcetree,
--dkmstree and --installtree options) and is asked to add and build it; kmodtui gets the .deb itself
as --source.
"""

from __future__ import annotations

import glob
import json
import os
import platform
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.realtools import has_dwarf

MODES = ("dkms", "kbuild", "deb", "rpm-generic")


@dataclass
class ModuleFacts:
    name: str
    vermagic: str
    versions: frozenset[tuple[str, str]]  # (crc, symbol) of __versions, as modprobe --dump-modversions prints
    debug: bool  # it has DWARF (.debug_info), as readelf lists its sections: dkms strips unless STRIP[#]=no


@dataclass
class Outcome:
    tool: str  # "dkms" or "kmodtui <mode>"
    ok: bool
    seconds: float
    modules: dict[str, ModuleFacts] = field(default_factory=dict)
    cause: str = ""  # the named cause of a failure (kmodtui's primary cause; dkms's last error line)
    detail: str = ""


def module_facts(path: str) -> ModuleFacts:
    name = os.path.basename(path).split(".ko")[0]
    vermagic = subprocess.run(["modinfo", "-F", "vermagic", path], capture_output=True, text=True).stdout.strip()
    dump = subprocess.run(["modprobe", "--dump-modversions", path], capture_output=True, text=True).stdout
    versions = frozenset(tuple(line.split("\t", 1)) for line in dump.splitlines() if "\t" in line)
    return ModuleFacts(name, vermagic, versions, has_dwarf(path))  # type: ignore[arg-type]


def dkms_source(deb: Path, scratch: Path) -> Path:
    """The package's usr/src/<name>-<version>/ (unpacked with dpkg-deb -x, nothing run)."""
    subprocess.run(["dpkg-deb", "-x", str(deb), str(scratch)], check=True)
    confs = glob.glob(str(scratch / "usr" / "src" / "*" / "dkms.conf"))
    if not confs:
        raise LookupError(f"{deb.name}: no usr/src/*/dkms.conf (not a -dkms package with a module source)")
    return Path(confs[0]).parent


def dkms_conf_value(source: Path, key: str) -> str:
    for line in (source / "dkms.conf").read_text(errors="replace").splitlines():
        if line.strip().startswith(f"{key}="):
            return line.split("=", 1)[1].strip().strip("\"'")
    return ""


def run_real_dkms(deb: Path, release: str, timeout: float = 900) -> Outcome:
    """dkms add + build of the package's source for `release`, in private trees (--sourcetree,
    --dkmstree, --installtree under a temporary folder): real dkms, touching nothing of the system's."""
    with tempfile.TemporaryDirectory(prefix="dkms-agree-") as tmp:
        return run_real_dkms_on(dkms_source(deb, Path(tmp) / "deb"), release, timeout)


def run_real_dkms_on(source: Path, release: str, timeout: float = 900) -> Outcome:
    """dkms add + build of a module source folder with a dkms.conf, as run_real_dkms does."""
    with tempfile.TemporaryDirectory(prefix="dkms-agree-") as tmp:
        name, version = dkms_conf_value(source, "PACKAGE_NAME"), dkms_conf_value(source, "PACKAGE_VERSION")
        trees = {t: Path(tmp) / t for t in ("source", "dkms", "install")}
        for tree in trees.values():
            tree.mkdir()
        shutil.copytree(source, trees["source"] / f"{name}-{version}", symlinks=True)
        common = ["dkms", "--sourcetree", str(trees["source"]), "--dkmstree", str(trees["dkms"]),
                  "--installtree", str(trees["install"])]
        start = time.monotonic()
        subprocess.run([*common, "add", "-m", name, "-v", version], capture_output=True, text=True, timeout=120)
        built = subprocess.run([*common, "build", "-m", name, "-v", version, "-k", release],
                               capture_output=True, text=True, timeout=timeout)
        seconds = time.monotonic() - start
        arch = platform.machine()
        kos = sorted(glob.glob(str(trees["dkms"] / name / version / release / arch / "module" / "*.ko*")))
        if built.returncode != 0 or not kos:
            log = trees["dkms"] / name / version / "build" / "make.log"
            tail = (log.read_text(errors="replace") if log.exists() else built.stdout + built.stderr)
            errors = [line for line in tail.splitlines() if "error" in line.lower()]
            return Outcome("dkms", False, seconds, cause=f"exit {built.returncode}",
                           detail=(errors[0] if errors else (tail.strip().splitlines() or [""])[-1])[:200])
        return Outcome("dkms", True, seconds, {m.name: m for m in map(module_facts, kos)})


def run_kmodtui(deb: Path, release: str, mode: str, state_dir: Path, timeout: float = 900) -> Outcome:
    """`kmodtui build --json --source PKG-dkms.deb --mode MODE`: its artifacts' facts, or its named cause."""
    env = {**os.environ, "KMODTUI_STATE_DIR": str(state_dir), "KMODTUI_CACHE_DIR": str(state_dir / "cache")}
    argv = [sys.executable, "-m", "kmodtui", "build", "--json", "--source", str(deb), "--kernel", release,
            "--mode", mode] + (["--no-sign"] if mode == "dkms" else [])
    start = time.monotonic()
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout)
    seconds = time.monotonic() - start
    exits = [json.loads(line) for line in done.stdout.splitlines() if line.startswith('{"event": "exit"')]
    if not exits:
        return Outcome(f"kmodtui {mode}", False, seconds, cause="no build", detail=done.stderr.strip()[-200:])
    last = exits[-1]
    if last["state"] != "succeeded":
        primary = last.get("primary") or {}
        return Outcome(f"kmodtui {mode}", False, seconds, cause=primary.get("cause", last["state"]),
                       detail=str(primary.get("line", ""))[:200])
    kos: list[str] = []
    packaged: list[str] = []  # a package's own modules are what counts for a package mode
    with tempfile.TemporaryDirectory(prefix="kmodtui-agree-") as tmp:
        for artifact in last["artifacts"]:
            if artifact.endswith(".deb"):
                subprocess.run(["dpkg-deb", "-x", artifact, tmp], check=True)
                packaged += glob.glob(os.path.join(tmp, "**", "*.ko*"), recursive=True)
            elif artifact.endswith(".rpm") and not artifact.endswith(".src.rpm"):
                subprocess.run(f"rpm2cpio {shlex.quote(artifact)} | cpio -idm --quiet", shell=True, cwd=tmp, check=True)
                packaged += glob.glob(os.path.join(tmp, "**", "*.ko*"), recursive=True)
            elif ".ko" in os.path.basename(artifact):
                kos.append(artifact)
        modules = {m.name: m for m in map(module_facts, sorted(packaged or kos))}
    return Outcome(f"kmodtui {mode}", True, seconds, modules)


def compare(reference: Outcome, other: Outcome) -> str:
    """'' when `other` made the same modules as `reference` (names, vermagic, __versions), or
    failed when it failed; else what differs."""
    if not reference.ok:
        return "" if not other.ok else "dkms failed, kmodtui built"
    if not other.ok:
        return f"dkms built, kmodtui failed: {other.cause} {other.detail}".strip()
    if set(reference.modules) != set(other.modules):
        return f"modules differ: dkms {sorted(reference.modules)}, kmodtui {sorted(other.modules)}"
    for name, facts in reference.modules.items():
        theirs = other.modules[name]
        if facts.vermagic != theirs.vermagic:
            return f"{name}: vermagic {facts.vermagic!r} vs {theirs.vermagic!r}"
        if facts.versions != theirs.versions:
            return f"{name}: __versions differ ({len(facts.versions ^ theirs.versions)} entries)"
        # a package mode's module is stripped as dkms strips it (kbuild mode's is what kbuild made)
        if facts.debug != theirs.debug and other.tool != "kmodtui kbuild":
            return f"{name}: debugging sections: dkms {facts.debug}, {other.tool} {theirs.debug}"
    return ""
