"""The JSON contract: what every verb's --json prints, in one place (README "Headless use").

Each function takes the core's results and returns the object a verb prints (`schema_version` is
added by the printer). The CLI only parses arguments, calls the core and prints these; scripts and
build farms read them, so a field that changes meaning bumps render.SCHEMA_VERSION.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from kmodtui.core.report.render import finding_json, kernel_json, module_json, package_json, resolve_summary

if TYPE_CHECKING:
    from kmodtui.core.build.job import JobResult
    from kmodtui.core.build.runner import BuildEvent
    from kmodtui.core.build.sources import ModuleSource
    from kmodtui.core.diagnose.engine import Diagnosis
    from kmodtui.core.errors import KmodError
    from kmodtui.core.lifecycle.updates import LoadFacts, ModuleVerdict
    from kmodtui.core.lifecycle.versions import VersionLock
    from kmodtui.core.model import Kernel, ModuleImage, PackageInfo
    from kmodtui.core.packages.rpmdeps import PredictedDeps
    from kmodtui.core.remedies.catalogue import Remedy, RemedyPlan
    from kmodtui.core.resolve.result import ResolveResult


def errors_json(errors: Iterable[KmodError]) -> list[dict[str, str]]:
    return [{"path": e.path, "error": e.reason} for e in errors]


def kernels_payload(kernels: list[Kernel], errors: list[KmodError]) -> dict[str, Any]:
    return {"kernels": [kernel_json(k) for k in kernels], "errors": errors_json(errors)}


def inspect_payload(modules: list[ModuleImage], packages: list[PackageInfo], errors: list[KmodError]) -> dict[str, Any]:
    return {"modules": [module_json(m) for m in modules], "packages": [package_json(p) for p in packages],
            "errors": errors_json(errors)}


def explanations_json() -> dict[str, str]:
    """The explanation templates findings refer to by explanation_id: fill {symbol}, {provider},
    {crc}, {provided_crc} from the finding and the rest from its "words"."""
    from kmodtui.core.resolve.checks import EXPLANATIONS

    return dict(EXPLANATIONS)


def resolve_payload(result: ResolveResult, problems_only: bool) -> dict[str, Any]:
    return {"summary": resolve_summary(result), "explanations": explanations_json(),
            "findings": list(findings_json(result, problems_only))}


def resolve_lines(result: ResolveResult, problems_only: bool) -> Iterable[dict[str, Any]]:
    """`resolve --jsonl`: the summary and the explanation texts first, then one finding per line."""
    yield {"summary": resolve_summary(result), "explanations": explanations_json()}
    yield from findings_json(result, problems_only)


def findings_json_chunks(result: ResolveResult, problems_only: bool, dumps: Any,
                         chunk: int = 4096) -> Iterator[bytes]:
    """The findings array as compact JSON, in chunks of about `chunk` findings (a whole tree's
    answer, ~25 MB, is never one bytes object: each chunk's memory is reused by the next). Problem
    rows are joined from fragments made once (resolve/checks.py problem_rows_json_pieces), the rest
    go through `dumps`. The chunks' concatenation is one JSON array."""
    from kmodtui.core.resolve.checks import json_array_chunks, problem_rows_json_pieces

    if not problems_only:
        pieces = [dumps(f) + b"," for f in findings_json(result, problems_only)]
    else:
        pieces = [dumps(finding_json(f)) + b"," for f in result.package_findings if f.status != "ok"]
        pieces += [dumps(finding_json(f)) + b"," for f in result.module_problems]
        release = result.kernel.release if result.kernel else "the kernel"
        pieces += problem_rows_json_pieces(result.problem_rows, release, dumps)
    return json_array_chunks(pieces, chunk)


def findings_json(result: ResolveResult, problems_only: bool) -> Iterable[dict[str, Any]]:
    if not problems_only:
        yield from map(finding_json, result.findings())
        return
    # the problems in result.problems' order; symbol rows without making their Findings (a distro tree
    # against another ABI has 67k of them)
    from kmodtui.core.resolve.checks import problem_rows_json

    for finding in result.package_findings:
        if finding.status != "ok":
            yield finding_json(finding)
    yield from map(finding_json, result.module_problems)
    release = result.kernel.release if result.kernel else "the kernel"
    yield from problem_rows_json(result.problem_rows, release)


def source_payload(source: ModuleSource) -> dict[str, Any]:
    dkms = None
    if source.dkms is not None:
        dkms = {"values": source.dkms.values, "arrays": {k: source.dkms.array(k) for k in source.dkms.arrays}}
    return {"path": source.path, "kinds": source.kinds, "name": source.name, "version": source.version,
            "modules": source.modules, "modes": source.modes, "specs": source.specs,
            "build_time_only": source.notes, "dkms": dkms,
            "linux_range": {"minimum": source.linux_range[0] or None, "maximum": source.linux_range[1] or None}}


def predicted_payload(predicted: PredictedDeps) -> dict[str, Any]:
    return {"mode": predicted.mode, "provides": list(predicted.provides), "requires": list(predicted.requires),
            "story": predicted.story}


def build_event_payload(event: BuildEvent, kernel_release: str, build_id: str) -> dict[str, Any] | None:
    """One JSON line of `build --json` (None for the exit event: build_exit_payload says it, with
    the artifacts)."""
    payload: dict[str, Any] = {"event": event.kind, "kernel": kernel_release, "build": build_id}
    if event.kind == "phase":
        payload["phase"] = event.phase
    elif event.kind == "line":
        payload.update(n=event.line_number, text=event.line)
    elif event.kind == "finding" and event.finding:
        f = event.finding
        payload.update(rule=f.rule, severity=f.severity, line=f.line_number, title=f.title, cause=f.cause,
                       fix=f.fix, remedies=list(f.remedies))
    elif event.kind == "exit":
        return None
    return payload


def build_exit_payload(kernel_release: str, job: JobResult, mode: str = "", arch: str = "") -> dict[str, Any]:
    return {"event": "exit", "kernel": kernel_release, "build": job.build_id, "code": job.exit_code,
            "state": job.state, "artifacts": list(job.artifacts), "log": job.log_path, "primary": job.primary,
            "mode": mode, "arch": arch}


def catalogue_payload(catalogue: Iterable[Remedy]) -> dict[str, Any]:
    return {"remedies": [{"id": r.id, "title": r.title, "risk": r.risk, "explanation": r.explanation,
                          "target": r.target, "applies_to": list(r.applies_to)} for r in catalogue]}


def plan_payload(plan: RemedyPlan) -> dict[str, Any]:
    return {"remedy": plan.remedy, "title": plan.title, "risk": plan.risk, "explanation": plan.explanation,
            "warning": plan.warning, "diff": plan.diff(), "files": [e.path for e in plan.edits],
            "commands": list(plan.commands), "rebuild": plan.rebuild}


def check_update_payload(kernel: Kernel, verdicts: list[ModuleVerdict], reference: LoadFacts | None = None,
                         source: str | None = None, range_reason: str = "") -> dict[str, Any]:
    """reference: the module of the new kernel that struct module size and vermagic were compared
    with (null: none here, not compared); source_range: why the source's declared kernel range
    excludes the new kernel (null: it does not, or no source given)."""
    return {"new_kernel": kernel.release, "symvers": kernel.symvers_path,
            "modules": [{"module": v.module, "loads": v.loads, "problems": v.problems, "reasons": list(v.reasons)}
                        for v in verdicts],
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
    from kmodtui.core.diagnose.engine import diagnosis_json

    return diagnosis_json(diagnosis)
