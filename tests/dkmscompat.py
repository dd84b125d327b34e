"""A Debian `*-dkms` source against a newer Debian release's kernel: real dkms, then kmodtui (its build
in dkms mode, its diagnosis, and the kernel-compat remedy applied as often as the rebuild names another
mechanical change), then the remedied source built again by real dkms on that kernel and on this
machine's older one, and `kmodtui resolve` of what it made against the newer kernel.

Used by tests/core/test_compat_world.py (a few small sources, slow) and bench/dkms_compat.py (every
bookworm `*-dkms` source of the corpus, with the table). Real dkms gets a copy of the package's
usr/src/<name>-<version> in private trees (--sourcetree, --dkmstree, --installtree): nothing of the
chroot's or this machine's dkms state is touched. The .deb is unpacked with dpkg-deb -x, never
installed; its scripts never run.
"""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.chroots import in_chroot, kmodtui_in
from tests.dkmsagree import dkms_conf_value, dkms_source

STATE = {"KMODTUI_STATE_DIR": "/var/tmp/kmodtui-compat-state", "KMODTUI_CACHE_DIR": "/var/tmp/kmodtui-compat-cache"}
ROUNDS = 8  # remedies applied at most (one per change the rebuild names)


@dataclass
class DkmsRun:
    ok: bool
    log: str  # make.log (or dkms's own output when make never ran)
    modules: list[str] = field(default_factory=list)  # the .ko files dkms made (paths where it ran)
    scratch: str = ""  # its private trees (where it ran)

    def first_error(self) -> str:
        lines = [line for line in self.log.splitlines() if "error:" in line or "Error" in line or "ERROR" in line]
        return (lines[0] if lines else (self.log.strip().splitlines() or [""])[-1]).strip()[:160]


@dataclass
class WorldResult:
    package: str
    release: str
    dkms: DkmsRun
    diagnosis: dict = field(default_factory=dict)  # kmodtui build's primary (None when it built)
    kmodtui_built: bool = False
    changes: list[str] = field(default_factory=list)  # the api_change ids the remedy rewrote, in order
    remedied: bool = False  # kmodtui built after the remedies
    stopped: str = ""  # why the remedies stopped short
    dkms_after: DkmsRun | None = None  # real dkms on the remedied source, newer kernel
    older: DkmsRun | None = None  # real dkms on the remedied source, this machine's kernel
    resolve: str = ""  # "clean", or what resolve found
    seconds: dict[str, float] = field(default_factory=dict)


def real_dkms(source: Path, release: str, root: Path | None = None) -> DkmsRun:
    """`dkms add` and `dkms build -k release` of a copy of `source` in private trees, in the chroot
    `root` (source then a path inside it) or on this machine."""
    here = root / source.relative_to("/") if root else source
    scratch = tempfile.mkdtemp(prefix="dkms-compat-", dir=root / "var" / "tmp" if root else None)
    if root:
        scratch = "/" + str(Path(scratch).relative_to(root))
    name, version = dkms_conf_value(here, "PACKAGE_NAME"), dkms_conf_value(here, "PACKAGE_VERSION")
    trees = f"--sourcetree {scratch}/source --dkmstree {scratch}/dkms --installtree {scratch}/install"
    q = shlex.quote
    script = (f"rm -rf {scratch} && mkdir -p {scratch}/source {scratch}/dkms {scratch}/install && "
              f"cp -a {q(str(source))} {scratch}/source/{q(name)}-{q(version)} && "
              # dkms 3.2 looks for the headers below --installtree (3.0 in /lib/modules)
              f"mkdir -p {scratch}/install/{q(release)} && ln -s /lib/modules/{q(release)}/build {scratch}/install/{q(release)}/build && "
              f"dkms {trees} add -m {q(name)} -v {q(version)} >/dev/null 2>&1; "
              f"dkms {trees} build -m {q(name)} -v {q(version)} -k {q(release)} 2>&1; echo \"rc=$?\"; "
              f"echo '---make.log---'; cat {scratch}/dkms/{q(name)}/{q(version)}/build/make.log 2>/dev/null; "
              f"echo '---modules---'; find {scratch}/dkms/{q(name)}/{q(version)}/{q(release)} -name '*.ko*' 2>/dev/null")
    # the .ko files stay for resolve; the next run of this package cleans its trees
    done = in_chroot(root, script) if root else subprocess.run(["sh", "-c", script], capture_output=True, text=True,
                                                               timeout=1800)
    out = done.stdout
    said, _, rest = out.partition("---make.log---")
    log, _, modules = rest.partition("---modules---")
    rc = said.rsplit("rc=", 1)[-1].split()[0] if "rc=" in said else "?"
    kos = [line for line in modules.split() if ".ko" in line]
    return DkmsRun(rc == "0" and bool(kos), log if log.strip() else said, kos, str(root / scratch.lstrip("/")) if root else scratch)


def _kmodtui_build(root: Path, source: str, release: str) -> dict:
    done = kmodtui_in(root, f"build --kernel {release} --source {shlex.quote(source)} --mode dkms --no-sign --json", **STATE)
    exits = [json.loads(line) for line in done.stdout.splitlines() if line.startswith('{"event": "exit"')]
    return exits[-1] if exits else {"state": "no build", "primary": {"cause": done.stderr.strip()[-160:]}}


def unpack(deb: Path, root: Path, where: str) -> str:
    """The package's usr/src/<name>-<version>/ in a fresh folder named after `where` inside the chroot
    (its path there: parallel runs of one package do not meet)."""
    (root / where.lstrip("/")).parent.mkdir(parents=True, exist_ok=True)
    target = Path(tempfile.mkdtemp(prefix=Path(where).name + "-", dir=root / where.lstrip("/").rsplit("/", 1)[0]))
    target.rmdir()
    scratch = target.with_name(target.name + ".deb")
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    shutil.copytree(dkms_source(deb, scratch), target, symlinks=True)
    shutil.rmtree(scratch, ignore_errors=True)
    return "/" + str(target.relative_to(root))


def through_the_world(deb: Path, root: Path, release: str, older: str | None, host_copy: Path) -> WorldResult:
    """The whole story for one package on one newer kernel (`older`: this machine's kernel, where the
    remedied source must still build; None: not checked). Its folders in the chroot are removed after."""
    source = unpack(deb, root, f"/srcs/{deb.name.split('_')[0]}")
    try:
        return _story(deb, root, release, older, host_copy, source)
    finally:
        shutil.rmtree(root / source.lstrip("/"), ignore_errors=True)


def _story(deb: Path, root: Path, release: str, older: str | None, host_copy: Path, source: str) -> WorldResult:
    result = WorldResult(deb.name.split("_")[0], release, DkmsRun(False, ""))
    start = time.monotonic()
    result.dkms = real_dkms(Path(source), release, root)
    result.seconds["real dkms"] = time.monotonic() - start
    start = time.monotonic()
    exit_event = _kmodtui_build(root, source, release)
    result.diagnosis = exit_event.get("primary") or {}
    result.kmodtui_built = exit_event["state"] == "succeeded"
    primary = result.diagnosis
    for _ in range(ROUNDS):
        if exit_event["state"] == "succeeded":
            break
        change = (primary or {}).get("api_change") or {}
        if "kernel-compat" not in (primary or {}).get("remedies", []):
            line = str((primary or {}).get("line", "")).split("error: ", 1)[-1][:100]
            result.stopped = (f"{change['id']}, not a rewrite the table knows" if change
                              else f"{(primary or {}).get('cause', exit_event['state'])}: `{line}`")
            break
        if change["id"] in result.changes:
            result.stopped = f"{change['id']} again after its remedy"
            break
        applied = kmodtui_in(root, f"remedy apply kernel-compat --target {shlex.quote(source)} --change {change['id']} "
                                   f"--kernel {release} --yes", **STATE)
        if applied.returncode != 0:
            result.stopped = f"{change['id']}: {(applied.stderr or applied.stdout).strip()[:160]}"
            break
        result.changes.append(change["id"])
        exit_event = _kmodtui_build(root, source, release)
        primary = exit_event.get("primary") or {}
    result.remedied = bool(result.changes) and exit_event["state"] == "succeeded"
    result.seconds["kmodtui and remedies"] = time.monotonic() - start
    if not result.remedied:
        return result
    start = time.monotonic()
    result.dkms_after = real_dkms(Path(source), release, root)
    if result.dkms_after.ok:
        kos = " ".join(shlex.quote(k) for k in result.dkms_after.modules)
        resolved = kmodtui_in(root, f"resolve {kos} --kernel {release} --json")
        try:
            findings = json.loads(resolved.stdout)["findings"]
            bad = sorted({f"{f['symbol']}: {f['status']}" for f in findings if f["status"] != "ok"})
            result.resolve = "clean" if resolved.returncode == 0 and not bad else "; ".join(bad)[:200] or f"exit {resolved.returncode}"
        except (ValueError, KeyError):
            result.resolve = f"unreadable: {resolved.stderr.strip()[-160:]}"
    result.seconds["real dkms after, resolve"] = time.monotonic() - start
    if older:
        start = time.monotonic()
        shutil.rmtree(host_copy, ignore_errors=True)
        shutil.copytree(root / source.lstrip("/"), host_copy, symlinks=True)
        result.older = real_dkms(host_copy, older)
        result.seconds["real dkms, older kernel"] = time.monotonic() - start
    for run in (result.dkms, result.dkms_after, result.older):
        if run and run.scratch:
            shutil.rmtree(run.scratch, ignore_errors=True)
    return result
