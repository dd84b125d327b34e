"""`kmodtui follow`: a machine that is not this one (a board: Debian bookworm arm64) gets its kernel
and the module built for it together, from an apt repository kmodtui keeps (seed 002's "no automatic
way to have all of this happen each time there is a kernel update").

One cycle: ask the target's archive (a private apt list for that release and architecture) which
kernel its flavor's metapackage points at now; when no module was published for that kernel
version, fetch its headers, cross-build the source, and publish into the repository:
  - `<name>-modules-<release>`: the modules, Depends on that exact kernel package version;
  - `<name>-modules-<flavor>`: a metapackage that Depends on it and Breaks any newer kernel
    metapackage (`linux-image-<flavor> (>> V)`), so on the board `apt upgrade` holds the kernel back
    until its module is published, then takes both in one transaction.
The repository is flat (`deb [signed-by=...] URL ./`), indexed by apt-ftparchive and signed with a key
kmodtui makes for it (InRelease and Release.gpg); every published version stays, for rollback. A failed
build publishes nothing; an unreachable archive keeps the last good state. Both are in the state.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

from kmodtui.core import scriptnames
from kmodtui.core.errors import KmodError
from kmodtui.core.kernels.debian_archive import (  # noqa: F401 (parse_target is this module's API too)
    Archive,
    KernelVersion,
    Target,
    parse_target,
)
from kmodtui.core.paths import cache_dir, run_captured, state_dir
from kmodtui.core.trees import remove_tree

MARKER = ".kmodtui-repo"  # a folder holding this is kmodtui's; any other non-empty folder is refused
@dataclass
class FollowState:
    target: str
    source: str
    published: dict[str, dict[str, str]] = field(default_factory=dict)  # kernel version -> what was published
    last_check: float = 0.0
    last_result: str = ""  # published, up-to-date, build-failed, archive-unreachable
    last_error: str = ""
    last_kernel: str = ""
    last_cause: dict[str, Any] | None = None
    history: list[dict[str, Any]] = field(default_factory=list)


def _state_path(repo: str) -> str:
    return os.path.join(repo, MARKER, "follow.json")


def open_repo(repo: str) -> None:
    """Make the repository folder kmodtui's, or check it is: a non-empty folder without the marker
    is someone else's and is never written to."""
    marker = os.path.join(repo, MARKER)
    if os.path.isdir(repo) and os.listdir(repo) and not os.path.isdir(marker):
        raise KmodError(repo, "is not empty and not a kmodtui repository: choose an empty or new folder")
    os.makedirs(os.path.join(marker), exist_ok=True)
    os.chmod(marker, 0o700)


def read_state(repo: str, target: Target, source: str) -> FollowState:
    try:
        with open(_state_path(repo), encoding="utf-8") as f:
            data = json.load(f)
        state = FollowState(**{k: v for k, v in data.items() if k in FollowState.__dataclass_fields__})
    except (OSError, ValueError, TypeError):
        return FollowState(target.name, os.path.abspath(source))
    if state.target != target.name:
        raise KmodError(repo, f"follows {state.target}, not {target.name}: one repository per target")
    return state


def write_state(repo: str, state: FollowState) -> None:
    path = _state_path(repo)
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(asdict(state), f, indent=1)
    os.replace(tmp, path)


def _targets_path() -> str:
    return os.path.join(state_dir(), "follow-targets.json")


def register(repo: str, target: Target) -> None:
    """Remember which repositories this kmodtui follows for (the TUI's first screen lists them)."""
    path = _targets_path()
    try:
        with open(path, encoding="utf-8") as f:
            known = json.load(f)
    except (OSError, ValueError):
        known = {}
    repo = os.path.abspath(repo)
    if known.get(repo) == target.name:
        return
    known[repo] = target.name
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path + ".part", "w", encoding="utf-8") as f:
        json.dump(known, f, indent=1)
    os.replace(path + ".part", path)


def follow_overview() -> list[dict[str, Any]]:
    """Each followed target's last result: which kernels are covered, what is waiting, what failed."""
    try:
        with open(_targets_path(), encoding="utf-8") as f:
            known = json.load(f)
    except (OSError, ValueError):
        return []
    out = []
    for repo, target in sorted(known.items()):
        try:
            with open(_state_path(repo), encoding="utf-8") as f:
                state = json.load(f)
        except (OSError, ValueError):
            state = {}
        out.append({"target": target, "repo": repo, "last_result": state.get("last_result", "never run"),
                    "gate": board_gate(state),
                    "last_kernel": state.get("last_kernel", ""), "covered": sorted(state.get("published", {})),
                    "last_error": state.get("last_error", ""), "last_check": state.get("last_check", 0.0),
                    "cause": (state.get("last_cause") or {}).get("cause", "")})
    return out


def board_gate(state: dict[str, Any]) -> dict[str, Any]:
    """The board's kernel gate, in the shape of `kmodtui gate --json`: while the module for the archive's
    newest kernel failed to build, the published metapackage's Breaks keeps apt on the newest kernel that
    has its module; publishing it lifts the gate."""
    published = state.get("published") or {}
    newest = max(published.items(), key=lambda kv: float(kv[1].get("time", 0) or 0), default=None)
    held_on = f"{newest[1].get('kernel', '')} {newest[0]}" if newest else ""
    failed = state.get("last_result") == "build-failed"
    since = next((h["time"] for h in state.get("history", []) if h.get("result") == "build-failed"
                  and f" {h.get('kernel')}" in f" {state.get('last_kernel', '')}"), 0.0) if failed else 0.0
    reasons = [{"source": state.get("source", ""), "name": os.path.basename(str(state.get("source", "")).rstrip("/")),
                "state": "failed", "primary": state.get("last_cause"), "log": "",
                "notes": [state.get("last_error", "")]}] if failed else []
    message = (f"{held_on or 'the kernel the board has'} stays on the board, not {state.get('last_kernel')}: the "
               "published metapackage Breaks newer kernels until their module is published" if failed else "")
    return {"root": "", "engaged": failed and bool(newest), "loader": "apt", "new_kernel": state.get("last_kernel", "")
            if failed else "", "held_on": held_on if failed else "", "entry": "", "method": "Breaks", "since": since,
            "reasons": reasons, "previous": None, "set": None, "file": "", "backup": "", "message": message,
            "lifted": 0.0}


# ---- the repository --------------------------------------------------------------------------------

@contextlib.contextmanager
def _gnupg(repo: str) -> Iterator[str]:
    """The repository key's gpg home, under a short path: gpg-agent's socket lives in the home when
    there is no /run/user/<uid>, and a socket path longer than 108 bytes cannot be made. The agent
    is stopped afterwards (a timer run leaves nothing running)."""
    home = os.path.join(repo, MARKER, "gnupg")
    os.makedirs(home, mode=0o700, exist_ok=True)
    short = tempfile.mkdtemp(prefix="kmodtui-gpg-")
    link = os.path.join(short, "h")
    os.symlink(os.path.abspath(home), link)
    try:
        yield link
    finally:
        if shutil.which("gpgconf"):
            run_captured(["gpgconf", "--homedir", link, "--kill", "gpg-agent"])
        remove_tree(short)


def repository_key(repo: str, home: str) -> str:
    """The repository's signing key (made once, never replaced); returns its fingerprint."""
    gpg = ["gpg", "--batch", "--homedir", home]
    listed = run_captured([*gpg, "--with-colons", "--list-secret-keys"])
    fingerprints = [line.split(":")[9] for line in listed.stdout.splitlines() if line.startswith("fpr:")]
    if fingerprints:
        return fingerprints[0]
    made = run_captured([*gpg, "--passphrase", "", "--quick-gen-key", "kmodtui repository <kmodtui@localhost>",
                 "rsa3072", "sign", "never"])
    if made.returncode != 0:
        raise KmodError(os.path.join(repo, MARKER, "gnupg"), "gpg could not make the repository key: "
                        + made.stderr.strip()[-200:])
    return repository_key(repo, home)


def publish(repo: str, debs: list[str]) -> str:
    """Copy the packages in (old versions stay), index with apt-ftparchive, sign; returns the path of
    the public key a board puts in /etc/apt/keyrings."""
    for deb in debs:
        shutil.copy2(deb, os.path.join(repo, os.path.basename(deb)))
    if shutil.which("apt-ftparchive") is None:
        raise KmodError("apt-ftparchive", "not found: install apt-utils (it indexes the repository)")
    packages = run_captured(["apt-ftparchive", "packages", "."], cwd=repo)
    if packages.returncode != 0:
        raise KmodError(repo, "apt-ftparchive packages failed: " + packages.stderr.strip()[-200:])
    _write(os.path.join(repo, "Packages"), packages.stdout.encode())
    run_captured(["gzip", "-9nkf", "Packages"], cwd=repo)
    release = run_captured(["apt-ftparchive", "-o", "APT::FTPArchive::Release::Origin=kmodtui",
                    "-o", "APT::FTPArchive::Release::Label=kmodtui", "release", "."], cwd=repo)
    if release.returncode != 0:
        raise KmodError(repo, "apt-ftparchive release failed: " + release.stderr.strip()[-200:])
    for name in ("Release", "InRelease", "Release.gpg"):
        if os.path.exists(os.path.join(repo, name)):
            os.unlink(os.path.join(repo, name))
    _write(os.path.join(repo, "Release"), release.stdout.encode())
    with _gnupg(repo) as home:
        fingerprint = repository_key(repo, home)
        gpg = ["gpg", "--batch", "--homedir", home, "--local-user", fingerprint, "--yes"]
        for argv in ([*gpg, "--clearsign", "-o", "InRelease", "Release"], [*gpg, "-abs", "-o", "Release.gpg", "Release"]):
            signed = run_captured(argv, cwd=repo)
            if signed.returncode != 0:
                raise KmodError(repo, "gpg could not sign the index: " + signed.stderr.strip()[-200:])
        exported = subprocess.run(["gpg", "--batch", "--homedir", home, "--export", fingerprint], capture_output=True)
    key = os.path.join(repo, "kmodtui-archive-keyring.gpg")
    if exported.returncode != 0 or not exported.stdout:
        raise KmodError(repo, "gpg could not export the repository key")
    _write(key, exported.stdout)
    return key


def _write(path: str, data: bytes) -> None:
    with open(path + ".part", "wb") as f:
        f.write(data)
    os.replace(path + ".part", path)


def metapackage(out_dir: str, name: str, target: Target, kernel: KernelVersion, module_package: str,
                module_version: str) -> str:
    """`<name>-modules-<flavor>`: follows the newest published module; Breaks a kernel metapackage newer
    than the one its module was built for, so apt holds the kernel back until the module exists."""
    package = scriptnames.check(scriptnames.DEBIAN_PACKAGE, f"{name}-modules-{target.flavor}".lower().replace("_", "-"),
                                target.name)
    version = scriptnames.check(scriptnames.VERSION, f"{kernel.version}+kmodtui{module_version}", kernel.image)
    with tempfile.TemporaryDirectory(prefix="kmodtui-meta-") as tree:
        os.makedirs(os.path.join(tree, "DEBIAN"))
        control = [
            f"Package: {package}", f"Version: {version}", f"Architecture: {target.arch}",
            "Maintainer: kmodtui <kmodtui@localhost>", "Section: kernel", "Priority: optional",
            f"Depends: {module_package} (= {module_version}), {kernel.image} (= {kernel.version})",
            f"Breaks: linux-image-{target.flavor} (>> {kernel.meta_version})",
            f"Description: {name} modules for the newest {target.flavor} kernel",
            f" Follows linux-image-{target.flavor}: published by kmodtui follow with the module built for",
            f" {kernel.image} {kernel.version}.",
        ]
        for line in control:  # a field's value on one line: a line break would start a field of its own
            scriptnames.one_line(line, out_dir, "a control field")
        with open(os.path.join(tree, "DEBIAN", "control"), "w", encoding="utf-8") as f:
            f.write("\n".join(control) + "\n")
        out = os.path.join(out_dir, f"{package}_{version}_{target.arch}.deb")
        result = run_captured(["dpkg-deb", "--root-owner-group", "-b", tree, out])
        if result.returncode != 0:
            raise KmodError(out, "dpkg-deb failed: " + result.stderr.strip()[-200:])
    return out


@dataclass
class FollowResult:
    target: str
    result: str  # published, up-to-date, build-failed, archive-unreachable
    kernel: str = ""
    kernel_version: str = ""
    published: list[str] = field(default_factory=list)
    message: str = ""
    cause: dict[str, Any] | None = None
    seconds: float = 0.0
    sources_line: str = ""
    gate: dict[str, Any] = field(default_factory=dict)  # board_gate() after this cycle


def follow_once(source: str, target: Target, repo: str, *, archive: Archive | None = None,
                build: Callable[[str, Any, str], Any] | None = None, url: str = "http://BUILD-HOST/",
                apt_sources: list[str] | None = None) -> FollowResult:
    """One check-build-publish cycle, with the board's gate after it."""
    outcome = _cycle(source, target, repo, archive=archive, build=build, url=url, apt_sources=apt_sources)
    outcome.gate = board_gate(asdict(read_state(repo, target, source)))
    return outcome


def _cycle(source: str, target: Target, repo: str, *, archive: Archive | None, build: Callable[[str, Any, str], Any] | None,
           url: str, apt_sources: list[str] | None) -> FollowResult:
    from kmodtui.core.build.sources import detect_source

    started = time.time()
    open_repo(repo)
    state = read_state(repo, target, source)
    register(repo, target)
    info = detect_source(source)
    scriptnames.check(scriptnames.PACKAGE, info.name, info.name_file or info.path)  # the metapackage's name
    archive = archive or Archive(target, apt_sources)
    state.last_check = started
    outcome = FollowResult(target.name, "")
    try:
        archive.update()
        kernel = archive.latest_kernel()
    except KmodError as err:  # the last good state stays; tried again next time
        state.last_result, state.last_error = "archive-unreachable", str(err)
        write_state(repo, state)
        outcome.result, outcome.message = state.last_result, str(err)
        outcome.seconds = time.time() - started
        return outcome
    outcome.kernel, outcome.kernel_version = kernel.release, kernel.version
    state.last_kernel = f"{kernel.image} {kernel.version}"
    if kernel.version in state.published:
        state.last_result, state.last_error = "up-to-date", ""
        write_state(repo, state)
        outcome.result = "up-to-date"
        outcome.message = f"{kernel.image} {kernel.version} already has its module in {repo}"
        outcome.seconds = time.time() - started
        return outcome
    try:
        headers = archive.headers(kernel.release)
        job = (build or _default_build)(source, headers, f"{kernel.image} (= {kernel.version})")
    except KmodError as err:
        job, error = None, str(err)
    else:
        error = ""
    if job is None or job.state != "succeeded":
        state.last_result = "build-failed"
        state.last_error = error or f"the build for {kernel.release} failed: {job.log_path if job else ''}"
        state.last_cause = job.primary if job else None
        state.history.append({"time": started, "kernel": kernel.version, "result": "build-failed",
                              "cause": (job.primary or {}).get("cause") if job else None})
        write_state(repo, state)
        outcome.result, outcome.message, outcome.cause = "build-failed", state.last_error, state.last_cause
        outcome.seconds = time.time() - started
        return outcome
    module_debs = [a for a in job.artifacts if a.endswith(".deb")]
    fields = run_captured(["dpkg-deb", "-f", module_debs[0], "Package", "Version"]).stdout.splitlines()
    module_package, module_version = (f.split(": ", 1)[1] for f in fields[:2])
    meta = metapackage(os.path.dirname(module_debs[0]), info.name, target, kernel, module_package, module_version)
    key = publish(repo, [*module_debs, meta])
    published = [os.path.basename(p) for p in (*module_debs, meta)]
    state.published[kernel.version] = {"kernel": kernel.image, "module": module_package, "files": " ".join(published),
                                       "time": str(int(started))}
    state.last_result, state.last_error, state.last_cause = "published", "", None
    state.history.append({"time": started, "kernel": kernel.version, "result": "published"})
    write_state(repo, state)
    outcome.result, outcome.published = "published", published
    outcome.message = f"published {', '.join(published)} for {kernel.image} {kernel.version}"
    outcome.sources_line = (f"deb [signed-by=/etc/apt/keyrings/{os.path.basename(key)}] {url.rstrip('/')}/ ./  "
                            f"(and copy {key} to /etc/apt/keyrings/)")
    outcome.seconds = time.time() - started
    return outcome


def _default_build(source: str, headers: list[str], depends: str) -> Any:
    """Unpack the target's headers (with this host's kbuild tools), cross-build a binary-module .deb."""
    from kmodtui.core.build import record as buildrecord
    from kmodtui.core.build.job import run_job
    from kmodtui.core.build.modes import deb
    from kmodtui.core.build.request import make_request
    from kmodtui.core.kernels.unpack import kernel_from_headers

    kernel = kernel_from_headers(headers, cache_dir(), headers[-1])
    request = make_request(source, kernel.build_dir, deb.DebMode.name, deb_depends=depends, sign=False)
    _id, record_dir = buildrecord.new_build_dir(f"follow-{os.path.basename(source)}-{kernel.release}")
    return run_job(request, record_dir, lambda _event: None)

