"""JSON (a stable, documented contract) and plain-text renderings of core facts."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kmodtui.core.errors import shown
from kmodtui.core.model import Finding, Kernel, ModuleImage, PackageInfo, crc_hex

if TYPE_CHECKING:
    from kmodtui.core.packages.verdict import Verdict
    from kmodtui.core.resolve.result import ResolveResult

# 2: resolve's findings carry explanation_id + words (the texts once, in "explanations"), package
# findings name the symbol in "symbol" and the dependency in "requirement"; diagnose added.
SCHEMA_VERSION = 2


def shown_lines(lines: list[str]) -> str:
    """A text report's lines, joined: each line goes through shown(), so a module's string, a
    symbol or a file name can neither act on the terminal nor start a line of its own (`\\x0a`).
    (All lines are checked at C speed first: a distro tree's text report is 67k lines.)"""
    if not all(map(str.isprintable, lines)):
        lines = [shown(line) for line in lines]
    return "\n".join(lines)


def _crc_or_none(crc: int | None) -> str | None:
    return None if crc is None else crc_hex(crc)


def kernel_json(kernel: Kernel) -> dict[str, Any]:
    return {
        "release": kernel.release,
        "arch": kernel.arch,
        "kbuild_arch": kernel.kbuild_arch,
        "flavor": kernel.flavor,
        "build_dir": kernel.build_dir,
        "symvers_path": kernel.symvers_path,
        "modversions": kernel.modversions,
        "module_sig": kernel.module_sig,
        "module_sig_force": kernel.module_sig_force,
        "module_compression": kernel.module_compression,
        "compiler": kernel.compiler,
        "compiler_command": kernel.compiler_command,
        "host_compiler": kernel.host_compiler,
        "compiler_matches": kernel.compiler_matches,
        "origin": kernel.origin,
        "notes": list(kernel.notes),
    }


def module_json(module: ModuleImage) -> dict[str, Any]:
    return {
        "path": module.path,
        "name": module.name,
        "vermagic": module.vermagic,
        "license": module.license,
        "depends": list(module.depends),
        "srcversion": module.srcversion,
        "import_ns": list(module.import_ns),
        "signed": module.signed,
        "sig_id": module.signature.id_type if module.signature else None,
        "compression": module.compression,
        "elf_class": module.elf_class,
        "machine": module.machine,
        "imports": [{"name": n.name, "crc": crc_hex(n.crc)} for n in module.needs],
        "exports": [
            {"name": e.name, "crc": _crc_or_none(e.crc), "gpl_only": e.gpl_only, "namespace": e.namespace}
            for e in module.exports
        ],
    }


def kernel_text(kernel: Kernel) -> str:
    def yn(value: bool | None) -> str:
        return "unknown" if value is None else ("yes" if value else "no")

    compiler_line = kernel.compiler or "unknown"
    if kernel.host_compiler and not kernel.compiler_matches:
        compiler_line += f"  (here: {kernel.host_compiler} — differs)"
    elif not kernel.host_compiler:
        compiler_line += f"  (here: {kernel.compiler_command or 'compiler'} not installed)"
    lines = [
        f"{kernel.release}  [{kernel.arch or '?'}, flavor {kernel.flavor or 'none'}, {kernel.origin}]",
        f"  build dir:   {kernel.build_dir or '-'}",
        f"  symvers:     {kernel.symvers_path or 'missing'}",
        f"  modversions: {yn(kernel.modversions)}   module signing: {yn(kernel.module_sig)}"
        f"   compression: {kernel.module_compression or 'unknown'}",
        f"  compiler:    {compiler_line}",
    ]
    lines += [f"  note:        {note}" for note in kernel.notes]
    return shown_lines(lines)


def module_text(module: ModuleImage) -> str:
    sig = f"signed ({module.signature.id_type})" if module.signature else "not signed"
    lines = [
        f"{module.path}",
        f"  name {module.name}, {module.machine} ELF{module.elf_class}, {sig}, compression {module.compression}",
        f"  vermagic:   {module.vermagic}",
        f"  license:    {module.license}",
        f"  depends:    {', '.join(module.depends) or '-'}",
        f"  import_ns:  {', '.join(module.import_ns) or '-'}",
        f"  srcversion: {module.srcversion or '-'}",
        f"  imports ({len(module.needs)}):",
    ]
    lines += [f"    {crc_hex(n.crc)}  {n.name}" for n in module.needs]
    lines.append(f"  exports ({len(module.exports)}):")
    for e in module.exports:
        extra = (" GPL-only" if e.gpl_only else "") + (f" namespace {e.namespace}" if e.namespace else "")
        lines.append(f"    {_crc_or_none(e.crc) or 'no CRC   '}  {e.name}{extra}")
    return shown_lines(lines)


def finding_json(finding: Finding) -> dict[str, Any]:
    """One finding. A templated explanation is given by id (the texts are in the payload's
    "explanations", once each) with the words it is filled with; any other inline."""
    out: dict[str, Any] = {
        "module": finding.module,
        "symbol": finding.symbol,
        "status": finding.status,
        "crc": _crc_or_none(finding.crc),
        "provided_crc": _crc_or_none(finding.provided_crc),
        "provider": finding.provider,
    }
    if finding.requirement is not None:  # a package dependency: the symbol, and the dependency itself
        out["symbol"] = finding.requirement.symbol or finding.symbol
        out["requirement"] = str(finding.requirement)
    if finding.explanation_id:
        out["explanation_id"] = finding.explanation_id
        if finding.fields:
            out["words"] = dict(finding.fields)
    else:
        out["explanation"] = finding.explanation
    out["remedies"] = list(finding.remedies)
    return out


def resolve_summary(result: ResolveResult) -> dict[str, Any]:
    kernel = result.kernel
    return {
        "kernel": kernel.release if kernel else None,
        "symvers": kernel.symvers_path if kernel else None,
        "modules": result.module_count,
        "problems": result.problem_count,
        "counts": dict(result.counts),
        "from_cache": result.from_cache,
        **({"package_manager": package_manager_json(result.package_manager)} if result.package_manager else {}),
    }


def package_manager_text(verdict: Verdict) -> str:
    """The package manager's answer for a text report: its summary, then its own lines."""
    lines = [f"{verdict.command or verdict.tool}: {verdict.summary}"]
    if verdict.asked:
        lines += [f"  {line}" for line in verdict.words.splitlines()]
    return shown_lines(lines)


def package_manager_json(verdict: Verdict) -> dict[str, Any]:
    """What the package manager said of installing the set, in its own words (asked: false when it is not here)."""
    return {"tool": verdict.tool, "command": verdict.command, "asked": verdict.asked, "accepted": verdict.accepted,
            "summary": verdict.summary, "words": verdict.words}


def resolve_text(result: ResolveResult) -> str:
    """depmod-like: one line per problem, then a summary line."""
    lines = []
    for f in result.package_findings:
        if f.status != "ok":
            where = f" (in {f.provider})" if f.provider else ""
            lines.append(f"{f.module}: {f.status} {f.symbol}{where}")
    for f in result.module_problems:
        lines.append(f"{f.module}: {f.status}: {f.explanation}")
    # This loop formats ~67k lines for a tree checked against another ABI: what repeats (the
    # provider's part) is formatted once.
    provider_part: dict[int, str] = {}
    append = lines.append
    for module, symbol, status, crc, provider in result.problem_rows:
        if provider is None:
            append(f"{module.path}: {status} {symbol}")
            continue
        if not module.has_versions:  # built without MODVERSIONS: no CRCs to talk about, names decide
            append(f"{module.path}: {status} {symbol} (exported by {provider.owner})")
            continue
        part = provider_part.get(id(provider))
        if part is None:
            # crc_hex's format, inlined: this loop writes ~67k lines for a distro tree
            part = provider_part[id(provider)] = f", {provider.owner} has 0x{provider.crc:08x})"
        append(f"{module.path}: {status} {symbol} (needs 0x{crc:08x}{part}")
    counts = ", ".join(f"{n} {status}" for status, n in result.counts.items() if n)
    release = result.kernel.release if result.kernel else "?"
    lines.append(f"{'OK' if result.ok else 'PROBLEMS'}: {counts or 'nothing to check'} (kernel {release})")
    return shown_lines(lines)


def resolve_markdown(result: ResolveResult) -> str:
    """A report to paste into a bug tracker."""
    summary = resolve_summary(result)
    lines = [
        f"## kmodtui resolve: {summary['problems']} problem(s) against {summary['kernel']}",
        "",
        "| status | count |",
        "|---|---|",
    ]
    lines += [f"| {status} | {n} |" for status, n in result.counts.items() if n]
    if result.problems:
        lines += ["", "| module | symbol | status | needed CRC | provided CRC | provider |", "|---|---|---|---|---|---|"]
        for f in result.problems:
            lines.append(f"| `{f.module}` | `{f.symbol or '-'}` | {f.status} | {_crc_or_none(f.crc) or '-'} "
                         f"| {_crc_or_none(f.provided_crc) or '-'} | {f.provider or '-'} |")
        lines += ["", "### What the problems mean", ""]
        seen = set()
        for f in result.problems:
            if f.status not in seen:
                seen.add(f.status)
                lines.append(f"- **{f.status}** (e.g. `{f.symbol or f.module}`): {f.explanation}")
    return shown_lines(lines) + "\n"


def package_json(package: PackageInfo) -> dict[str, Any]:
    return {
        "path": package.path,
        "format": package.format,
        "name": package.name,
        "version": package.version,
        "release": package.release,
        "arch": package.arch,
        "provides": [str(d) for d in package.provides],
        "requires": [" | ".join(str(d) for d in group) for group in package.requires],
        "conflicts": [str(d) for d in package.conflicts],
        "files": list(package.files),
        "modules": [dict(module_json(m), package_path=f) for f, m in zip(package.module_files, package.modules)],
    }


def package_text(package: PackageInfo) -> str:
    ksym = [d for d in package.provides if d.name.startswith(("ksym(", "kernel("))]
    lines = [
        f"{package.path}",
        f"  {package.format} {package.nevra}",
        f"  provides ({len(package.provides)}, {len(ksym)} kernel-symbol):",
    ]
    lines += [f"    {d}" for d in package.provides]
    lines.append(f"  requires ({len(package.requires)}):")
    lines += ["    " + " | ".join(str(d) for d in group) for group in package.requires]
    lines.append(f"  modules ({len(package.modules)}):")
    for path, module in zip(package.module_files, package.modules):
        lines.append(f"    {path}: {module.name}, {len(module.exports)} exports, {len(module.needs)} needs")
    exports = any(module.exports for module in package.modules)
    if exports and not ksym and package.format == "rpm":  # modules that export nothing need no ksym() Provides
        lines.append("  note: modules inside but no ksym() Provides: packages that need their symbols will "
                     "not install (built with rpm's internal dependency generator?)")
    return shown_lines(lines)


def _log_where(finding: dict[str, Any]) -> str:
    return (f"{shown(finding['file'])}:" if finding.get("file") else "line ") + str(finding["line_number"])


def _log_line(finding: dict[str, Any], width: int | None = None) -> str:
    """The log line a finding read: a line from anywhere, shown as text (colours, OSC 52 and the
    rest a log may carry are escaped, not sent to the terminal)."""
    return shown(finding["line"].strip()[:width])


def diagnosis_text(payload: dict[str, Any], verbose: bool = False) -> str:
    """`diagnose` as text, from its JSON object (contract.diagnose_payload): the cause, the line,
    what it means and what to do, the remedies, the knock-on lines and the other findings."""
    import textwrap

    primary = payload["primary"]
    wrap = textwrap.TextWrapper(width=100, initial_indent="  ", subsequent_indent="  ")
    if primary is None:
        harmless = [f for f in payload["findings"] if f["cause"] == "harmless"]
        text = f"Nothing wrong found in {payload['lines']} lines."
        if harmless:
            text += f" {len(harmless)} harmless notice(s), e.g. {_log_where(harmless[0])}: {_log_line(harmless[0])}"
        return text
    lines = [f"Cause: {primary['cause']} ({primary['title']})",
             f"  {_log_where(primary)}: {_log_line(primary)}", "", "What it means:",
             wrap.fill(primary["explanation"]), "What to do:", wrap.fill(primary["fix"])]
    change = primary.get("api_change")
    if change:  # the LINUX_VERSION_CODE guard a maintainer would write
        lines += [f"Compat for older kernels ({change['id']}):", *("    " + line for line in change["compat"].splitlines())]
    if primary["remedies"]:
        lines.append(f"Remedies: {', '.join(primary['remedies'])} (kmodtui remedy show ID)")
    if primary["knock_on"]:
        first = primary["knock_on"][0]
        lines.append(f"Because of it: {len(primary['knock_on'])} later line(s) only report the failure "
                     f"(first: {_log_where(first)}: {_log_line(first, 80)})")
    others = [f for f in payload["findings"] if f["tier"] in ("root", "weak") and f is not primary
              and (f["line_number"], f.get("file")) != (primary["line_number"], primary.get("file"))]
    if others:
        lines.append(f"Other findings: {len(others)}" + ("" if verbose else " (--all lists them)"))
        for finding in others if verbose else others[:3]:
            lines.append(f"  {_log_where(finding)} {finding['cause']}: {_log_line(finding, 90)}")
    return "\n".join(lines)
