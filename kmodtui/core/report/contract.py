"""The JSON contract: what every verb's --json prints, in one place (README "Headless use").

Each function takes the core's results and returns the object a verb prints (`schema_version` is
added by encode.json_document). The CLI only parses arguments, calls the core and prints these; scripts and
build farms read them, so a field that changes meaning bumps render.SCHEMA_VERSION.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from kmodtui.core.report.render import kernel_json, module_json, package_json, resolve_summary

if TYPE_CHECKING:
    from kmodtui.core.build.job import JobResult
    from kmodtui.core.build.matrix import Cell, Matrix
    from kmodtui.core.build.runner import BuildEvent
    from kmodtui.core.build.sources import ModuleSource
    from kmodtui.core.diagnose.engine import Diagnosis
    from kmodtui.core.errors import KmodError
    from kmodtui.core.lifecycle.follow import FollowResult
    from kmodtui.core.lifecycle.updates import LoadFacts, ModuleVerdict
    from kmodtui.core.lifecycle.versions import VersionLock
    from kmodtui.core.model import Kernel, ModuleImage, PackageInfo
    from kmodtui.core.packages.rpmdeps import PredictedDeps
    from kmodtui.core.remedies.catalogue import Remedy, RemedyPlan
    from kmodtui.core.remedies.edits import FileEdit
    from kmodtui.core.remedies.hookrun import HookReport
    from kmodtui.core.resolve.result import ResolveResult


def errors_json(errors: Iterable[KmodError]) -> list[dict[str, str]]:
    return [{"path": e.path, "error": e.reason} for e in errors]


def kernels_payload(kernels: list[Kernel], errors: list[KmodError]) -> dict[str, Any]:
    return {"kernels": [kernel_json(k) for k in kernels], "errors": errors_json(errors)}


def inspect_payload(modules: list[ModuleImage], packages: list[PackageInfo], errors: list[KmodError]) -> dict[str, Any]:
    return {"modules": [module_json(m) for m in modules], "packages": [package_json(p) for p in packages],
            "errors": errors_json(errors)}


def resolve_head(result: ResolveResult) -> dict[str, Any]:
    """What comes before resolve's findings: the summary and the explanation texts they refer to."""
    from kmodtui.core.report.findings import explanations_json

    return {"summary": resolve_summary(result), "explanations": explanations_json()}


def resolve_payload(result: ResolveResult, problems_only: bool) -> dict[str, Any]:
    from kmodtui.core.report.findings import findings_json

    return {**resolve_head(result), "findings": list(findings_json(result, problems_only))}


def resolve_lines(result: ResolveResult, problems_only: bool) -> Iterable[dict[str, Any]]:
    """`resolve --jsonl`: the summary and the explanation texts first, then one finding per line."""
    from kmodtui.core.report.findings import findings_json

    yield resolve_head(result)
    yield from findings_json(result, problems_only)


def rpmdeps_payload(provides: bool, lines: list[str]) -> dict[str, Any]:
    """`rpmdeps --provides|--requires --json`: the dependency lines rpm would get."""
    return {"provides" if provides else "requires": lines}


def source_payload(source: ModuleSource) -> dict[str, Any]:
    dkms = None
    if source.dkms is not None:
        dkms = {"values": source.dkms.values, "arrays": {k: source.dkms.array(k) for k in source.dkms.arrays}}
    return {"path": source.path, "kinds": source.kinds, "name": source.name, "version": source.version,
            "modules": source.modules, "modes": source.modes, "specs": source.specs,
            "build_time_only": source.notes, "dkms": dkms,
            "linux_range": {"minimum": source.linux_range[0] or None, "maximum": source.linux_range[1] or None},
            "tree": source.tree or None, "needs": source.needs}


def predicted_payload(predicted: PredictedDeps) -> dict[str, Any]:
    return {"mode": predicted.mode, "provides": list(predicted.provides), "requires": list(predicted.requires),
            "story": predicted.story}


def build_event_payload(event: BuildEvent, kernel_release: str, build_id: str) -> dict[str, Any] | None:
    """One JSON line of `build --json` (None for the exit event: build_exit_payload says it, with
    the artifacts)."""
    payload: dict[str, Any] = {"event": event.kind, "kernel": kernel_release, "build": build_id}
    if event.kind == "phase":
        payload["phase"] = event.phase
        if event.confinement:  # where this step runs: confined, or outside the sandbox and why
            payload["confinement"] = event.confinement
    elif event.kind == "line":
        payload.update(n=event.line_number, text=event.line)
    elif event.kind == "finding" and event.finding:
        f = event.finding
        payload.update(rule=f.rule, severity=f.severity, line=f.line_number, title=f.title, cause=f.cause,
                       fix=f.fix, remedies=list(f.remedies))
    elif event.kind == "exit":
        return None
    return payload


def build_exit_payload(kernel_release: str, job: JobResult, mode: str = "", arch: str = "",
                       source: str = "") -> dict[str, Any]:
    return {"event": "exit", "kernel": kernel_release, "build": job.build_id, "code": job.exit_code,
            "state": job.state, "artifacts": list(job.artifacts), "log": job.log_path, "primary": job.primary,
            "mode": mode, "arch": arch, "source": source, "confinement": job.confinement}


def detached_payload(records: list[str]) -> dict[str, Any]:
    """`build --detach --json`: the record folders of the builds started in the background."""
    return {"detached": True, "records": records}


def builds_payload(records: list[dict[str, Any]], hooks: list[dict[str, Any]]) -> dict[str, Any]:
    """`builds --json`: the build records, and what the kernel hook did for each new kernel."""
    return {"builds": records, "hooks": hooks}


def build_stopped_payload(build_id: str, stopped: bool) -> dict[str, Any]:
    return {"id": build_id, "stopped": stopped}


def matrix_plan_payload(matrix: Matrix, cells: list[Cell]) -> dict[str, Any]:
    from kmodtui.core.build.matrix import plan_json

    return plan_json(matrix, cells)


def matrix_run_payload(records: list[str], reused: list[Cell]) -> dict[str, Any]:
    return {"started": records, "already_built": [c.name for c in reused]}


def matrix_report_payload(rows: list[dict[str, Any]]) -> dict[str, Any]:
    return {"cells": rows}


def catalogue_payload(catalogue: Iterable[Remedy]) -> dict[str, Any]:
    return {"remedies": [{"id": r.id, "title": r.title, "risk": r.risk, "explanation": r.explanation,
                          "target": r.target, "applies_to": list(r.applies_to)} for r in catalogue]}


def plan_payload(plan: RemedyPlan) -> dict[str, Any]:
    return {"remedy": plan.remedy, "title": plan.title, "risk": plan.risk, "explanation": plan.explanation,
            "warning": plan.warning, "diff": plan.diff(), "files": [e.path for e in plan.edits],
            "commands": list(plan.commands), "rebuild": plan.rebuild,
            "providers": list(plan.providers)}  # provider sources the rebuild records (kbuild-extra-symbols)


def applied_payload(plan: RemedyPlan, undo_id: str | None) -> dict[str, Any]:
    """`remedy apply --json`: the plan, and the id `remedy undo` takes (null: the remedy edits no file)."""
    return {**plan_payload(plan), "applied": undo_id}


def history_payload(records: list[dict[str, Any]]) -> dict[str, Any]:
    return {"applied": records}


def undone_payload(undo_id: str, restored: list[str]) -> dict[str, Any]:
    return {"undone": undo_id, "restored": restored}


def hook_script_payload(edit: FileEdit) -> dict[str, Any]:
    """`hook show --json`: where the kernel hook goes and what it runs."""
    return {"path": edit.path, "script": edit.after.decode()}


def hook_installed_payload(edit: FileEdit, undo_id: str) -> dict[str, Any]:
    return {"path": edit.path, "applied": undo_id}


def hook_run_payload(report: HookReport) -> dict[str, Any]:
    """`hook run --json`: what the hook built and installed for the new kernel (also kept in the state dir)."""
    from kmodtui.core.remedies.hookrun import report_json

    return report_json(report)


def follow_payload(result: FollowResult) -> dict[str, Any]:
    """`follow --json`: one check-build-publish cycle, and the gate it keeps on the board (the same shape
    as `gate --json`'s: the published metapackage's Breaks holds the board's kernel back)."""
    from dataclasses import asdict

    return asdict(result)


def gate_payload(gate: dict[str, Any]) -> dict[str, Any]:
    """`gate --json`: held on which kernel, why (per source, its diagnosis' primary cause), since when."""
    return dict(gate)


def timer_payload(edits: list[FileEdit], undo_id: str | None = None) -> dict[str, Any]:
    """`follow --timer show|install --json`: the unit files, and the id `remedy undo` takes once installed."""
    files = {e.path: e.after.decode() for e in edits}
    return {"files": files, "installed": False} if undo_id is None else {"files": files, "installed": True,
                                                                         "applied": undo_id}


def check_update_payload(kernel: Kernel, verdicts: list[ModuleVerdict], reference: LoadFacts | None = None,
                         source: str | None = None, range_reason: str = "", signatures: Any = None) -> dict[str, Any]:
    """reference: the module of the new kernel that struct module size and vermagic were compared
    with (null: none here, not compared); source_range: why the source's declared kernel range
    excludes the new kernel (null: it does not, or no source given); signatures: the Secure Boot
    doctor's verdicts (core.secureboot.update.SignatureCheck), each module's under "secureboot"."""
    from kmodtui.core.report.secureboot import signature_check_json, verdict_json

    def signature(path: str) -> dict[str, Any] | None:
        if signatures is None:
            return None
        if path in signatures.unreadable:
            return {"outcome": "unknown", "unreadable": signatures.unreadable[path]}
        verdict = signatures.verdicts.get(path)
        return None if verdict is None else verdict_json(verdict)

    return {"new_kernel": kernel.release, "symvers": kernel.symvers_path,
            "modules": [{"module": v.module, "loads": v.loads, "problems": v.problems, "reasons": list(v.reasons),
                         "secureboot": signature(v.module)}
                        for v in verdicts],
            "secureboot": None if signatures is None else signature_check_json(signatures),
            "reference": None if reference is None else {
                "path": reference.path, "struct_module_size": reference.struct_module_size,
                "vermagic": reference.vermagic},
            "source": source, "source_range": range_reason or None,
            "loads": all(v.loads for v in verdicts) and not range_reason}


def signed_payload(modules: list[ModuleImage], key: str, cert: str) -> dict[str, Any]:
    return {"signed": [{"path": m.path, "sig_id": m.signature.id_type if m.signature else None} for m in modules],
            "key": key, "cert": cert}


def userspace_payload(lock: VersionLock) -> dict[str, Any]:
    return {"module_version": lock.module_version, "tools_version": lock.tools_version, "matches": lock.matches,
            "explanation": lock.explanation}


def diagnose_payload(diagnosis: Diagnosis) -> dict[str, Any]:
    """`diagnose --json`: the primary cause (null when nothing is wrong), the knock-on lines it
    explains, and every line a rule read, harmless ones included (tier says which)."""
    from kmodtui.core.diagnose.report import diagnosis_json

    return diagnosis_json(diagnosis)


def secureboot_payload(state: Any, verdicts: list[Any]) -> dict[str, Any]:
    """`secureboot --json`: the boot's trust facts, what is unknown and why, each module's verdict."""
    from kmodtui.core.report.secureboot import secureboot_json

    return secureboot_json(state, verdicts)
