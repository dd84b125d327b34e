"""The words of a symbol finding, once: the explanation templates, which one a problem row gets, the
words filled into it and the remedies offered. `explain` makes a row's Finding from them (the symbol
browser, the reports, check-update), and report/findings.py a row's JSON, without the Finding.

They live here, with the resolver, rather than in report/: lifecycle (check-update) and the
browser's model read Findings, and both sit below report/ in the layers (pyproject.toml).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from kmodtui.core.model import STATUS_CRC, STATUS_GPL, STATUS_NAMESPACE, STATUS_UNKNOWN, Finding, crc_hex
from kmodtui.core.resolve.checks import KIND_KERNEL_MODULE, KIND_VMLINUX, ProblemRow, Provider
from kmodtui.core.vocabulary import RemedyId

if TYPE_CHECKING:
    from kmodtui.core.elf.module import ModuleSymbols


# The words of every symbol-level explanation, once: a finding carries the id and its fields, and a
# distro tree's 67k problems do not repeat 500 characters each in JSON (`explanations` there).
EXPLANATIONS = {
    "unknown_symbol": (
        "Nothing provides {symbol}: neither the kernel ({kernel}) nor any of the modules given. Loading would "
        "fail with 'Unknown symbol {symbol} (err -2)'. If another out-of-tree module exports it, pass it with "
        "--extra-symbols, and build with KBUILD_EXTRA_SYMBOLS pointing at that module's Module.symvers."),
    "crc_without_versions": (
        "{module_name} has no __versions section (built without MODVERSIONS), so it records no CRC for "
        "{symbol} while {provider} exports it with CRC {provided_crc}. depmod reports this as a disagreement; "
        "the 6.x loader would only warn and taint the kernel."),
    "crc_provider_without_crc": (
        "{module_name} was built expecting {symbol} with CRC {crc}, but {provider} exports it without a CRC "
        "(a kernel built without MODVERSIONS?). Build against the same kernel tree."),
    "crc_mismatch": (
        "{module_name} was built against a {symbol} with CRC {crc}, but {provider} exports it with CRC "
        "{provided_crc}. A CRC is a checksum of the symbol's C prototype and the types it uses; different CRCs "
        "mean the interface changed, usually because the module was built against another kernel's headers. "
        "The loader refuses it ('disagrees about version of symbol {symbol}'). Rebuild the module against "
        "this kernel's build tree."),
    "namespace_not_imported": (
        "{symbol} is exported in symbol namespace {namespace}, which {module_name} does not import. The loader "
        "refuses it ('module {module_name} uses symbol {symbol} from namespace {namespace}, but does not import "
        "it'). Add MODULE_IMPORT_NS({namespace}); to the module's source."),
    "gpl_only": (
        "{symbol} is exported GPL-only (EXPORT_SYMBOL_GPL) and {module_name}'s license '{license}' is not "
        "GPL-compatible, so the loader refuses to link it. Only the module's authors can change that "
        "(license, or not using the symbol)."),
    "ok": "Provided by {provider} with the same CRC.",
}

# What a problem of each status offers to do (the catalogue lives in remedies/catalogue.py).
REMEDIES: dict[str, tuple[str, ...]] = {
    STATUS_UNKNOWN: (RemedyId.KBUILD_EXTRA_SYMBOLS,),
    STATUS_CRC: (RemedyId.REBUILD_FOR_KERNEL, RemedyId.PICK_MATCHING_KERNEL),
    STATUS_NAMESPACE: (RemedyId.IMPORT_NAMESPACE,),
    STATUS_GPL: (),
}


def explanation_id(status: str, module: ModuleSymbols, provider: Provider | None) -> str:
    """Which template of EXPLANATIONS a problem row is told with: the one choice, for the Finding
    and for the JSON alike."""
    if provider is None:
        return "unknown_symbol"
    if status == STATUS_CRC:
        if not module.has_versions:
            return "crc_without_versions"
        return "crc_provider_without_crc" if provider.crc == 0 else "crc_mismatch"
    return "namespace_not_imported" if status == STATUS_NAMESPACE else "gpl_only"


def row_words(status: str, module: ModuleSymbols, provider: Provider | None, release: str) -> dict[str, str]:
    """The words a problem row fills into its template besides its own fields ({symbol}, {provider},
    {crc}, {provided_crc}), keys in sorted order (as the JSON gives them)."""
    if provider is None:
        return {"kernel": release, "module_name": module.name}
    if status == STATUS_NAMESPACE:
        return {"module_name": module.name, "namespace": provider.namespace}
    if status == STATUS_GPL:
        return {"license": module.license or "none", "module_name": module.name}
    return {"module_name": module.name}


def row_remedies(provider: Provider | None, status: str) -> tuple[str, ...]:
    return REMEDIES[STATUS_UNKNOWN if provider is None else status]


def provider_label(provider: Provider) -> str:
    kind, owner = provider.kind, provider.owner
    if kind == KIND_VMLINUX:
        return "vmlinux"
    if kind == KIND_KERNEL_MODULE:
        return f"{os.path.basename(owner)} (kernel module, from Module.symvers)"
    return owner


def templated(module: str, symbol: str, status: str, crc: int | None, provided: int | None, provider: str,
              explanation_id: str, remedies: tuple[str, ...] = (), **words: str) -> Finding:
    """A finding whose explanation is EXPLANATIONS[explanation_id] filled with its own fields."""
    fields = {"symbol": symbol, "provider": provider, "crc": crc_hex(crc) if crc is not None else "",
              "provided_crc": crc_hex(provided) if provided is not None else "", **words}
    return Finding(module, symbol, status, crc, provided, provider, EXPLANATIONS[explanation_id].format(**fields),
                   remedies, explanation_id=explanation_id, fields=tuple(sorted(words.items())))


def explain(row: ProblemRow, release: str) -> Finding:
    """A problem row's Finding, with its explanation written out."""
    module, symbol, status, crc, provider = row
    if provider is None:
        status, provided, label = STATUS_UNKNOWN, None, ""
    else:
        provided, label = provider.crc, provider_label(provider)
    return templated(module.path, symbol, status, crc, provided, label, explanation_id(status, module, provider),
                     row_remedies(provider, status), **row_words(status, module, provider, release))
