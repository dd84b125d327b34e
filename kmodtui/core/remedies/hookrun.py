"""What the kernel hook runs for a new kernel: build each source for it (providers first, each
consumer with the Module.symvers its providers just made), install what was built into the system
(or a scratch root) the way its mode installs (dpkg, rpm, or the .ko into updates/ + depmod), update
the initramfs when the module is in it, and keep going when one source fails. Every install is
recorded, so undoing the hook removes what it installed.

Runs as `kmodtui hook run --kernel VERSION --source DIR...` from the hook script; the report it
leaves is a JSON file in kmodtui's state dir (`kmodtui builds` lists it with the builds it made).
"""

from __future__ import annotations

import glob
import json
import os
import re
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from kmodtui.core.build import modes
from kmodtui.core.errors import KmodError
from kmodtui.core.paths import run_captured, state_dir
from kmodtui.core.trees import find


@dataclass
class SourceOutcome:
    source: str
    name: str
    state: str  # succeeded, failed, install-failed
    build_id: str = ""
    log: str = ""
    primary: dict[str, Any] | None = None
    installed: list[dict[str, str]] = field(default_factory=list)  # what install() put in place
    symvers: str = ""  # its Module.symvers, handed to later sources
    notes: list[str] = field(default_factory=list)


@dataclass
class HookReport:
    kernel: str
    root: str
    mode: str
    started: float
    finished: float = 0.0
    outcomes: list[SourceOutcome] = field(default_factory=list)
    initramfs: str = ""  # what was done about the initramfs, in words
    gate: dict[str, Any] = field(default_factory=dict)  # the kernel gate's decision (gate.py), {} = not asked

    @property
    def ok(self) -> bool:
        return all(o.state == "succeeded" for o in self.outcomes)


def hooks_dir() -> str:
    return os.path.join(state_dir(), "hooks")


def report_path(release: str) -> str:
    return os.path.join(hooks_dir(), f"report-{release}.json")


def installed_path(root: str) -> str:
    """The record of what hook runs installed into a root (one file per root)."""
    key = "".join(c if c.isalnum() else "_" for c in os.path.abspath(root)).strip("_") or "system"
    return os.path.join(hooks_dir(), f"installed-{key}.json")


def _read_json(path: str) -> Any:
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def _write_json(path: str, data: Any) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=1)
    os.replace(tmp, path)


def _tool(name: str) -> str:
    from kmodtui.core.build.tools import find_program

    found = find_program(name)
    if found is None:
        raise KmodError(name, "not found: the hook needs it to install what it built")
    return found


def modules_dir(root: str, release: str) -> str:
    """<root>/lib/modules/<release> (on a merged-/usr root, /lib is a link to usr/lib)."""
    return os.path.join(root, "lib", "modules", release)


def depmod(root: str, release: str) -> str:
    argv = [_tool("depmod"), "-a"]
    if os.path.abspath(root) != "/":
        argv += ["-b", root]
    result = run_captured([*argv, release])
    return "" if result.returncode == 0 else (result.stderr.strip() or f"depmod exited {result.returncode}")


def install_outputs(mode: str, artifacts: list[str], root: str, release: str) -> list[dict[str, str]]:
    """Put a build's outputs in place; raises KmodError naming what failed. A package mode's packages
    by their format: .deb with dpkg -i (its postinst runs depmod), .rpm with rpm -U (no Requires check
    in a scratch root, whose rpm database has no kernel); else (kbuild, dkms) the modules into
    lib/modules/<release>/updates/ and depmod."""
    built_as = modes.find(mode)
    if built_as is not None and built_as.hook_installs_packages:
        packages = [a for a in artifacts if a.endswith(built_as.package_suffix) and not a.endswith(".src.rpm")]
        install = _PACKAGE_INSTALLERS.get(built_as.package_suffix)
        if packages and install is not None:
            return install(packages, root, release)
    modules = [a for a in artifacts if a.endswith((".ko", ".ko.xz", ".ko.gz", ".ko.zst"))]
    if not modules:
        raise KmodError(mode, "the build left nothing to install")
    target = os.path.join(modules_dir(root, release), "updates", "kmodtui")
    os.makedirs(target, exist_ok=True)
    placed = []
    for module in modules:
        destination = os.path.join(target, os.path.basename(module))
        shutil.copyfile(module, destination + ".part")
        os.replace(destination + ".part", destination)
        placed.append({"kind": "file", "path": destination})
    message = depmod(root, release)
    if message:
        raise KmodError(target, f"modules copied, but depmod failed: {message}")
    return placed


def _install_debs(debs: list[str], root: str, release: str) -> list[dict[str, str]]:
    argv = [_tool("dpkg")]
    if os.path.abspath(root) != "/":
        argv += [f"--root={root}", "--force-script-chrootless", "--force-not-root", "--force-depends",
                 "--log=/dev/null"]
    result = run_captured([*argv, "-i", *debs])
    if result.returncode != 0:
        raise KmodError(debs[0], "dpkg could not install it: " + (result.stdout + result.stderr).strip()[-300:])
    names = [run_captured([_tool("dpkg-deb"), "-f", d, "Package"]).stdout.strip() for d in debs]
    return [{"kind": "deb", "package": n} for n in names if n]


def _install_rpms(rpms: list[str], root: str, release: str) -> list[dict[str, str]]:
    argv = [_tool("rpm"), "-U", "--replacepkgs"]
    if os.path.abspath(root) != "/":
        argv += ["--root", root, "--nodeps"]
    result = run_captured([*argv, *rpms])
    if result.returncode != 0:
        raise KmodError(rpms[0], "rpm could not install it: " + (result.stdout + result.stderr).strip()[-300:])
    names = [run_captured([_tool("rpm"), "-qp", "--qf", "%{NAME}", r]).stdout.strip() for r in rpms]
    message = depmod(root, release)  # rpm-generic has no %post running depmod
    if message:
        raise KmodError(rpms[0], f"installed, but depmod failed: {message}")
    return [{"kind": "rpm", "package": n} for n in names if n]


# a package's format -> how the hook installs it (the record's kind says how uninstall removes it)
_PACKAGE_INSTALLERS: dict[str, Callable[[list[str], str, str], list[dict[str, str]]]] = {
    ".deb": _install_debs, ".rpm": _install_rpms}


def uninstall(items: list[dict[str, str]], root: str, release: str) -> list[str]:
    """Remove what install_outputs put in place; returns what could not be removed, in words. The
    record is read from the state folder, so each item is checked first (_installed_item): only
    modules in <root>/lib/modules/<release>/updates/kmodtui and packages named as kmodtui names
    its own are removed."""
    problems = []
    scratch = os.path.abspath(root) != "/"
    files = False
    for item in reversed(items):  # last installed first: a consumer's package before the provider's it depends on
        refusal = _installed_item(item, root, release)
        if refusal:
            problems.append(refusal)
            continue
        if item["kind"] == "deb":
            argv = [_tool("dpkg")] + ([f"--root={root}", "--force-script-chrootless", "--force-not-root",
                                       "--log=/dev/null"] if scratch else [])
            result = run_captured([*argv, "--purge", item["package"]])
        elif item["kind"] == "rpm":
            files = True  # kmodtui's kmod specs run no depmod in %postun
            result = run_captured([_tool("rpm"), "-e", "--nodeps", *(["--root", root] if scratch else []), item["package"]])
        else:
            files = True
            try:
                os.unlink(item["path"])
            except FileNotFoundError:
                pass
            except OSError as err:
                problems.append(f"{item['path']}: {err.strerror}")
            continue
        if result.returncode != 0:
            problems.append(f"{item['package']}: " + (result.stdout + result.stderr).strip()[-200:])
    if files and os.path.isdir(modules_dir(root, release)):
        message = depmod(root, release)
        if message:
            problems.append(message)
    return problems


def _installed_item(item: Any, root: str, release: str) -> str:
    """"" when an installed-record item is one install_outputs could have written, else why not."""
    from kmodtui.core import scriptnames

    try:
        scriptnames.check(scriptnames.KERNEL_RELEASE, release, installed_path(root))
    except KmodError as err:
        return str(err)
    if not isinstance(item, dict) or item.get("kind") not in ("deb", "rpm", "file"):
        return f"{installed_path(root)}: an entry kmodtui does not write: {str(item)[:80]}; left alone"
    if item["kind"] == "file":
        path = item.get("path")
        target = os.path.realpath(os.path.join(modules_dir(root, release), "updates", "kmodtui"))
        if not isinstance(path, str) or os.path.dirname(os.path.realpath(path)) != target or \
                not os.path.basename(path).endswith((".ko", ".ko.xz", ".ko.gz", ".ko.zst")):
            return f"{path}: not a module kmodtui installed into {target}; left alone"
        return ""
    package = item.get("package")
    ours = r"[a-z0-9][a-z0-9+.-]*-modules-[a-z0-9+.~-]+" if item["kind"] == "deb" else r"kmod-[A-Za-z0-9_.+-]+"
    # cut first: the record is state others may have written, and `-modules-` can recur in the name
    if not isinstance(package, str) or len(package) > 256 or not re.fullmatch(ours, package):
        return f"{package}: not a package kmodtui names as its own; left installed"
    return ""


def _initramfs(report: HookReport, names: list[str]) -> str:
    """update-initramfs (Debian) or dracut (Fedora/RHEL) for the new kernel when a built module is in
    its initramfs; only on the running system's own root."""
    root, release = report.root, report.kernel
    images = [(os.path.join(root, "boot", f"initrd.img-{release}"), "lsinitramfs", ["update-initramfs", "-u", "-k", release]),
              (os.path.join(root, "boot", f"initramfs-{release}.img"), "lsinitrd",
               ["dracut", "--force", f"/boot/initramfs-{release}.img", release])]
    for image, lister, update in images:
        if not os.path.exists(image):
            continue
        listed = run_captured([lister, image]).stdout if shutil.which(lister) else ""
        inside = [n for n in names if f"/{n}.ko" in listed]
        if not inside:
            return f"the modules are not in {image}: left as it is"
        if os.path.abspath(root) != "/":
            return f"{', '.join(inside)} in {image}: a scratch root's initramfs is not rebuilt here"
        if shutil.which(update[0]) is None:
            return f"{', '.join(inside)} in {image}, but {update[0]} is missing: rebuild it by hand"
        result = run_captured(update)
        return (f"{' '.join(update)}: done" if result.returncode == 0 else
                f"{' '.join(update)} failed: {(result.stdout + result.stderr).strip()[-200:]}")
    return "no initramfs for this kernel"


def run_hook(release: str, sources: list[str], mode: str, root: str = "/",
             build: Callable[[str, list[str]], tuple[Any, Any]] | None = None) -> HookReport:
    """Build, install and record each source for `release`, in the order given (providers first).
    `build(source, extra_symbols)` returns (BuildRequest, JobResult); the default runs kmodtui's build."""
    from kmodtui.core.build.sources import detect_source

    report = HookReport(release, os.path.abspath(root), mode, time.time())
    build = build or _default_build(release, mode, root)
    symvers: list[str] = []
    installed_record = installed_path(root)
    record = _read_json(installed_record)
    record = record if isinstance(record, dict) else {}
    names: list[str] = []
    for source in sources:
        try:
            name = detect_source(source).name
        except KmodError as err:
            report.outcomes.append(SourceOutcome(source, os.path.basename(source), "failed", notes=[str(err)]))
            continue
        outcome = SourceOutcome(source, name, "failed")
        report.outcomes.append(outcome)
        try:
            _request, job = build(source, list(symvers))
        except KmodError as err:
            outcome.notes.append(str(err))
            if "no kernel build tree" in str(err):  # dkms would skip silently here (dkms#545)
                outcome.primary = headers_missing_primary(str(err))
            continue
        outcome.build_id, outcome.log, outcome.primary = job.build_id, job.log_path, job.primary
        if job.state != "succeeded":
            if symvers:
                outcome.notes.append("built with the Module.symvers of the sources before it: "
                                     + ", ".join(symvers))
            continue
        found = sorted(find(os.path.join(job.record_dir, "work"), "Module.symvers"))
        if found:
            outcome.symvers = found[0]
            symvers.append(found[0])
        try:
            outcome.installed = install_outputs(mode, list(job.artifacts), root, release)
        except KmodError as err:
            outcome.state = "install-failed"
            outcome.notes.append(str(err))
            continue
        outcome.state = "succeeded"
        names += [os.path.basename(a).split(".ko")[0] for a in job.artifacts if ".ko" in os.path.basename(a)]
        kept = record.get(release)
        record[release] = [i for i in (kept if isinstance(kept, list) else []) if i not in outcome.installed] \
            + outcome.installed
        _write_json(installed_record, record)
    report.initramfs = _initramfs(report, names) if names else ""
    report.finished = time.time()
    save_report(report)
    return report


def save_report(report: HookReport) -> None:
    _write_json(report_path(report.kernel), report_json(report))


def headers_missing_primary(note: str) -> dict[str, Any]:
    """A missing build tree as a diagnosis' primary cause (no build ran, so there is no log to read)."""
    from kmodtui.core.diagnose.causes import CAUSES
    from kmodtui.core.vocabulary import Cause

    text = CAUSES[Cause.HEADERS_MISSING]
    return {"cause": Cause.HEADERS_MISSING.value, "line_number": 0, "line": note, "title": text.title,
            "explanation": text.explanation, "fix": text.fix, "remedies": list(text.remedies),
            "confidence": "high", "knock_on": []}


def _kernel_spec(release: str, root: str) -> str:
    """The release's build tree inside a scratch root (a board image carries its own headers), else the
    release, looked up on this machine."""
    if os.path.abspath(root) != "/":
        from kmodtui.core.kernels.discover import discover_kernels

        for kernel in discover_kernels(root):
            if kernel.release == release and kernel.build_dir:
                return kernel.build_dir
    return release


def _default_build(release: str, mode: str, root: str = "/") -> Callable[[str, list[str]], tuple[Any, Any]]:
    def build(source: str, extra_symbols: list[str]) -> tuple[Any, Any]:
        from kmodtui.core.build import record as buildrecord
        from kmodtui.core.build.job import run_job
        from kmodtui.core.build.request import make_request

        request = make_request(source, _kernel_spec(release, root), mode, extra_symbols=tuple(extra_symbols),
                               sign=False)
        _build_id, record_dir = buildrecord.new_build_dir(f"hook-{os.path.basename(source)}-{release}")
        return request, run_job(request, record_dir, lambda _event: None)
    return build


def report_json(report: HookReport) -> dict[str, Any]:
    data = asdict(report)
    data["ok"] = report.ok
    return data


def uninstall_all(root: str) -> list[str]:
    """Undo every install hook runs recorded for a root (the hook's undo); returns problems."""
    path = installed_path(root)
    record = _read_json(path)
    problems = []
    for release, items in (record.items() if isinstance(record, dict) else ()):
        problems += uninstall(items if isinstance(items, list) else [items], root, release)
    if not problems and os.path.exists(path):
        os.unlink(path)
    return problems


def hook_reports() -> list[dict[str, Any]]:
    """Every hook run's report, newest first."""
    reports = [_read_json(p) for p in glob.glob(os.path.join(hooks_dir(), "report-*.json"))]
    return sorted((r for r in reports if isinstance(r, dict)), key=lambda r: r.get("started", 0), reverse=True)
