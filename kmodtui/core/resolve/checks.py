"""Where a symbol is decided: the providers (depmod's order: the kernel's Module.symvers, then --with
modules, then the targets) and, for each need, ok, unknown_symbol, crc_mismatch,
namespace_not_imported or gpl_only, with the plain-words explanation of each; per module, vermagic.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from itertools import compress, repeat
from typing import TYPE_CHECKING, NamedTuple

from kmodtui.core.elf.module import ModuleSymbols
from kmodtui.core.model import (
    STATUS_CRC,
    STATUS_GPL,
    STATUS_NAMESPACE,
    STATUS_OK,
    STATUS_UNKNOWN,
    STATUS_VERMAGIC,
    STATUSES,
    Finding,
    Kernel,
    crc_hex,
)
from kmodtui.core.symvers.parse import Symvers
from kmodtui.core.vocabulary import RemedyId

if TYPE_CHECKING:
    from kmodtui.core.elf.kscan import RawOutput


# include/linux/license.h: license_is_gpl_compatible()
GPL_COMPATIBLE = frozenset({
    "GPL", "GPL v2", "GPL and additional rights", "Dual BSD/GPL", "Dual MIT/GPL", "Dual MPL/GPL",
})


# vermagic words kmodtui can derive from .config; others (arch, RANDSTRUCT...) are not compared.
KNOWN_VERMAGIC_FLAGS = frozenset({"SMP", "preempt", "preempt_rt", "mod_unload", "modversions"})


KIND_VMLINUX, KIND_KERNEL_MODULE, KIND_MODULE = "vmlinux", "kernel-module", "module"


# Remedy ids (the catalogue lives in remedies/catalogue.py)
REMEDY_EXTRA_SYMBOLS = RemedyId.KBUILD_EXTRA_SYMBOLS
REMEDY_REBUILD = RemedyId.REBUILD_FOR_KERNEL
REMEDY_IMPORT_NS = RemedyId.IMPORT_NAMESPACE
REMEDY_INSTALL_HEADERS = RemedyId.PICK_MATCHING_KERNEL
class Provider(NamedTuple):
    """Who provides a symbol: the kernel (vmlinux or an in-tree module, from Module.symvers) or a
    module file given as target or --with."""

    kind: str  # KIND_VMLINUX, KIND_KERNEL_MODULE or KIND_MODULE
    owner: str  # "vmlinux", the in-tree module's name, or the module file's path
    crc: int
    gpl_only: bool
    namespace: str

# A problem as the resolver records it (cheap: a distro tree against another ABI has ~67k):
# (module, symbol, status, needed crc, provider or None); Findings are built from it on demand.
ProblemRow = tuple[ModuleSymbols, str, str, int, "Provider | None"]


def explain(row: ProblemRow, release: str) -> Finding:
    module, symbol, status, crc, provider = row
    if provider is None:
        return _unknown(module, symbol, crc, release)
    return {STATUS_CRC: _crc_mismatch, STATUS_NAMESPACE: _namespace, STATUS_GPL: _gpl_only}[status](
        module, symbol, crc, provider)


def provider_label(provider: Provider) -> str:
    kind, owner = provider.kind, provider.owner
    if kind == KIND_VMLINUX:
        return "vmlinux"
    if kind == KIND_KERNEL_MODULE:
        return f"{os.path.basename(owner)} (kernel module, from Module.symvers)"
    return owner


def _same_name(a: str, b: str) -> bool:
    """Module names as the kernel compares them: '-' and '_' are the same character."""
    return a.replace("-", "_") == b.replace("-", "_")


def module_may_use(namespace: str, module_name: str) -> bool:
    """Linux 6.16+ EXPORT_SYMBOL_FOR_MODULES(sym, "kvm,kvm-*"): the symbol goes into namespace
    `module:<list>`, and the modules named there may use it without MODULE_IMPORT_NS. The rule of
    kernel/module/main.c's verify_module_namespace(): comma-separated names, a trailing `*` matches
    any rest, '-' and '_' compare equal."""
    if not namespace.startswith("module:"):
        return False
    for item in namespace[len("module:"):].split(","):
        if item.endswith("*"):
            if module_name.replace("-", "_").startswith(item[:-1].replace("-", "_")):
                return True
        elif item and _same_name(item, module_name):
            return True
    return False


def build_providers(symvers: Symvers | None, modules: list[ModuleSymbols]) -> dict[str, Provider]:
    providers: dict[str, Provider] = {}
    if symvers is not None:
        # vmlinux rows (a later row of a name wins), then in-tree module rows for names vmlinux
        # does not export (the first row wins); built column-wise, for ~25k rows.
        c = symvers.columns
        vm = [module == "vmlinux" for module in c.modules]
        make = Provider._make
        providers = dict(zip(compress(c.names, vm), map(make, zip(repeat(KIND_VMLINUX), repeat("vmlinux"),
                                                                  compress(c.crcs, vm), compress(c.gpl_only, vm),
                                                                  compress(c.namespaces, vm)))))
        other = [not v for v in vm]
        names = list(compress(c.names, other))
        values = list(map(make, zip(repeat(KIND_KERNEL_MODULE), compress(c.modules, other), compress(c.crcs, other),
                                    compress(c.gpl_only, other), compress(c.namespaces, other))))
        first_row = dict(zip(reversed(names), reversed(values)))
        for name in dict.fromkeys(names):
            if name not in providers:
                providers[name] = first_row[name]
    for module in modules:
        for name, crc, gpl_only, namespace in module.exports:
            providers[name] = Provider(KIND_MODULE, module.path, crc or 0, gpl_only, namespace)
    return providers


def resolve_modules(
    targets: list[ModuleSymbols],
    providers: dict[str, Provider],
    kernel: Kernel | None,
    raw: dict[str, RawOutput] | None = None,
) -> tuple[list[ProblemRow], dict[str, int], list[Finding]]:
    """`raw`: the targets that come without their needs (modset.load_modules(raw=True)), and where
    the C reader's output for each is: the C sieve gives their doubtful needs directly."""
    rows: list[ProblemRow] = []
    module_problems: list[Finding] = []
    counts = dict.fromkeys(STATUSES, 0)
    total, sieved = _sieve(targets, providers, raw) if raw else (0, {})
    # (symbol, crc) pairs that are fine for any module, and for GPL-compatible ones: one set
    # lookup per need leaves only the few needs worth a closer look (kscan_needs.c does the same
    # for the modules it sieved).
    fine_for_all: set[tuple[str, int]] = set()
    fine_for_gpl: set[tuple[str, int]] = set()
    if len(sieved) < len(targets):
        for name, provider in providers.items():
            if not provider.namespace:
                (fine_for_gpl if provider.gpl_only else fine_for_all).add((name, provider.crc))
        fine_for_gpl |= fine_for_all
    get = providers.get
    # A kernel built without MODVERSIONS (Debian unstable's 7.x) never compares CRCs: the loader
    # has no check_version(), so only a symbol's presence counts (and vermagic, checked whole).
    by_name_only = kernel is not None and kernel.modversions is False
    for index, module in enumerate(targets):
        vermagic_problem = _vermagic_finding(module, kernel)
        if vermagic_problem is not None:
            module_problems.append(vermagic_problem)
            counts[STATUS_VERMAGIC] += 1
        gpl_module = module.license in GPL_COMPATIBLE
        doubtful = sieved.get(index)
        if doubtful is None:
            needs = module.needs
            total += len(needs)
            fine = fine_for_gpl if gpl_module else fine_for_all
            doubtful = [need for need in needs if need not in fine]
        if not doubtful:
            continue
        import_ns = module.import_ns
        for symbol, crc in doubtful:
            found = get(symbol) if symbol[:1] != "." else get(symbol.lstrip("."))
            if found is None:
                if by_name_only and symbol == "module_layout":
                    total -= 1  # a __versions-only record (kernels before 6.3); unread without MODVERSIONS
                    continue
                rows.append((module, symbol, STATUS_UNKNOWN, crc, None))
            elif found.crc != crc and not by_name_only:
                rows.append((module, symbol, STATUS_CRC, crc, found))
            elif found.namespace and found.namespace not in import_ns \
                    and not module_may_use(found.namespace, module.name):
                rows.append((module, symbol, STATUS_NAMESPACE, crc, found))
            elif found.gpl_only and not gpl_module:
                rows.append((module, symbol, STATUS_GPL, crc, found))
    for row in rows:
        counts[row[2]] += 1
    counts[STATUS_OK] = total - len(rows)
    return rows, counts, module_problems


def _sieve(targets: list[ModuleSymbols], providers: dict[str, Provider], raw: dict[str, RawOutput],
           ) -> tuple[int, dict[int, list[tuple[str, int]]]]:
    """The needs of the targets in `raw` seen and, by target index, the doubtful ones: kscan_needs.c's
    sieve with the fine pairs resolve_modules would keep, an empty list for a module with none.
    Where the sieve declines, the needs are decoded here (the targets replaced in the list) and go
    through the Python sets instead."""
    from kmodtui.core.elf.kscan import decode, doubtful_needs

    fine = [(name, provider.crc, 2 if provider.gpl_only else 3)  # 2: fine for GPL-compatible modules only
            for name, provider in providers.items() if not provider.namespace]
    names, crcs, flags = (list(column) for column in zip(*fine)) if fine else ([], [], [])
    indexes = [i for i, module in enumerate(targets) if module.path in raw]
    outputs = [raw[targets[i].path] for i in indexes]
    gpl = bytes([targets[i].license in GPL_COMPATIBLE for i in indexes])
    found = doubtful_needs((names, crcs, bytes(flags)), outputs, gpl)
    if found is None:  # decode them all, and decide in Python
        for i, (blob, start, _) in zip(indexes, outputs):
            targets[i] = decode(targets[i].path, blob, start)
        return 0, {}
    total, doubtful = found
    return total, {i: doubtful.get(n, []) for n, i in enumerate(indexes)}


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


def templated(module: str, symbol: str, status: str, crc: int | None, provided: int | None, provider: str,
              explanation_id: str, remedies: tuple[str, ...] = (), **words: str) -> Finding:
    """A finding whose explanation is EXPLANATIONS[explanation_id] filled with its own fields."""
    fields = {"symbol": symbol, "provider": provider, "crc": crc_hex(crc) if crc is not None else "",
              "provided_crc": crc_hex(provided) if provided is not None else "", **words}
    return Finding(module, symbol, status, crc, provided, provider, EXPLANATIONS[explanation_id].format(**fields),
                   remedies, explanation_id=explanation_id, fields=tuple(sorted(words.items())))


def problem_row_json(row: ProblemRow, release: str) -> dict[str, object]:
    """A problem row as resolve's JSON gives it, without making its Finding (and formatting its
    ~500-character explanation, which the JSON gives once as a template): the same object as
    report.render.finding_json(explain(row, release)), at a fraction of the cost on a distro tree."""
    module, symbol, status, crc, provider = row
    if provider is None:
        explanation_id, provided, label = "unknown_symbol", None, ""
        words: dict[str, str] = {"kernel": release, "module_name": module.name}
        remedies: list[str] = [REMEDY_EXTRA_SYMBOLS]
    else:
        provided, label = provider.crc, provider_label(provider)
        if status == STATUS_CRC:
            explanation_id = ("crc_without_versions" if not module.has_versions else
                              "crc_provider_without_crc" if provider.crc == 0 else "crc_mismatch")
            words, remedies = {"module_name": module.name}, [REMEDY_REBUILD, REMEDY_INSTALL_HEADERS]
        elif status == STATUS_NAMESPACE:
            explanation_id = "namespace_not_imported"
            words = {"module_name": module.name, "namespace": provider.namespace}
            remedies = [REMEDY_IMPORT_NS]
        else:
            explanation_id = "gpl_only"
            words, remedies = {"license": module.license or "none", "module_name": module.name}, []
    return {"module": module.path, "symbol": symbol, "status": status,
            "crc": crc_hex(crc) if crc is not None else None,
            "provided_crc": crc_hex(provided) if provided is not None else None, "provider": label,
            "explanation_id": explanation_id, "words": dict(sorted(words.items())), "remedies": remedies}


def problem_rows_json(rows: list[ProblemRow], release: str) -> Iterator[dict[str, object]]:
    """problem_row_json for many rows, with what repeats (a module's words, a provider's label and
    CRC) computed once: a distro tree's 67k rows come from ~4k modules and ~10k providers."""
    module_words: dict[tuple[int, str], dict[str, str]] = {}
    labels: dict[int, tuple[str, str | None]] = {}
    crc_text: dict[int, str] = {}
    for row in rows:
        module, symbol, status, crc, provider = row
        if provider is None or status not in (STATUS_CRC,):
            yield problem_row_json(row, release)  # unknown, namespace, GPL-only: few
            continue
        key = (id(module), "crc")
        words = module_words.get(key)
        if words is None:
            words = module_words[key] = {"module_name": module.name}
        known = labels.get(id(provider))
        if known is None:
            known = labels[id(provider)] = (provider_label(provider), crc_hex(provider.crc))
        text = crc_text.get(crc)
        if text is None:
            text = crc_text[crc] = crc_hex(crc)
        yield {"module": module.path, "symbol": symbol, "status": status, "crc": text, "provided_crc": known[1],
               "provider": known[0],
               "explanation_id": ("crc_without_versions" if not module.has_versions else
                                  "crc_provider_without_crc" if provider.crc == 0 else "crc_mismatch"),
               "words": words, "remedies": [REMEDY_REBUILD, REMEDY_INSTALL_HEADERS]}


def problem_rows_json_pieces(rows: list[ProblemRow], release: str, dumps: Callable[[object], bytes]) -> list[bytes]:
    """The JSON of problem_rows_json(rows), as pieces whose concatenation is the array's items, each
    followed by a comma (the caller drops the last one). A CRC row (nearly all of a distro tree's
    67k) is three pieces made once each: its module's head and tail, and the middle for its
    (symbol, CRC, provider), which repeats across every module built against the same old headers.
    Other rows go through `dumps`. The same JSON value as problem_rows_json (tested)."""
    module_parts: dict[int, tuple[bytes, bytes]] = {}
    middles: dict[tuple[str, int, int, bool], bytes] = {}
    out: list[bytes] = []
    append = out.append
    for row in rows:
        module, symbol, status, crc, provider = row
        if provider is None or status != STATUS_CRC:
            append(dumps(problem_row_json(row, release)) + b",")
            continue
        parts = module_parts.get(id(module))
        if parts is None:
            parts = module_parts[id(module)] = (
                b'{"module":' + dumps(module.path) + b',"symbol":',
                b',"words":' + dumps({"module_name": module.name})
                + b',"remedies":' + dumps([REMEDY_REBUILD, REMEDY_INSTALL_HEADERS]) + b"},")
        key = (symbol, crc, id(provider), module.has_versions)
        middle = middles.get(key)
        if middle is None:
            explanation_id = ("crc_without_versions" if not module.has_versions else
                              "crc_provider_without_crc" if provider.crc == 0 else "crc_mismatch")
            middle = middles[key] = (
                dumps(symbol) + b',"status":"crc_mismatch","crc":' + dumps(crc_hex(crc)) + b',"provided_crc":'
                + dumps(crc_hex(provider.crc)) + b',"provider":' + dumps(provider_label(provider))
                + b',"explanation_id":' + dumps(explanation_id))
        append(parts[0])
        append(middle)
        append(parts[1])
    return out


def problem_rows_json_bytes(rows: list[ProblemRow], release: str, dumps: Callable[[object], bytes]) -> bytes:
    """The JSON array of problem_rows_json(rows), as bytes."""
    return b"".join(json_array_chunks(problem_rows_json_pieces(rows, release, dumps)))


def json_array_chunks(pieces: list[bytes], chunk: int = 4096) -> Iterator[bytes]:
    """Items-with-trailing-commas pieces as one JSON array, in chunks of `chunk` pieces."""
    if not pieces:
        yield b"[]"
        return
    pieces[0] = b"[" + pieces[0]
    pieces[-1] = pieces[-1][:-1] + b"]"
    for start in range(0, len(pieces), chunk):
        yield b"".join(pieces[start : start + chunk])


def _unknown(module: ModuleSymbols, symbol: str, crc: int, release: str) -> Finding:
    return templated(module.path, symbol, STATUS_UNKNOWN, crc, None, "", "unknown_symbol", (REMEDY_EXTRA_SYMBOLS,),
                     kernel=release, module_name=module.name)


def _crc_mismatch(module: ModuleSymbols, symbol: str, crc: int, provider: Provider) -> Finding:
    story = ("crc_without_versions" if not module.has_versions else
             "crc_provider_without_crc" if provider.crc == 0 else "crc_mismatch")
    return templated(module.path, symbol, STATUS_CRC, crc, provider.crc, provider_label(provider), story,
                     (REMEDY_REBUILD, REMEDY_INSTALL_HEADERS), module_name=module.name)


def _namespace(module: ModuleSymbols, symbol: str, crc: int, provider: Provider) -> Finding:
    return templated(module.path, symbol, STATUS_NAMESPACE, crc, provider.crc, provider_label(provider),
                     "namespace_not_imported", (REMEDY_IMPORT_NS,), namespace=provider.namespace,
                     module_name=module.name)


def _gpl_only(module: ModuleSymbols, symbol: str, crc: int, provider: Provider) -> Finding:
    return templated(module.path, symbol, STATUS_GPL, crc, provider.crc, provider_label(provider), "gpl_only",
                     module_name=module.name, license=module.license or "none")


def _vermagic_finding(module: ModuleSymbols, kernel: Kernel | None) -> Finding | None:
    if kernel is None:
        return None
    reasons = []
    if kernel.arch and module.machine != kernel.arch and not (module.machine == "i686" and kernel.arch == "i686"):
        reasons.append(f"it is built for {module.machine}, the kernel is {kernel.arch}")
    words = module.vermagic.split()
    module_release = words[0] if words else ""
    if kernel.vermagic_flags is not None and words:
        ours = {w for w in words[1:] if w in KNOWN_VERMAGIC_FLAGS}
        theirs = set(kernel.vermagic_flags)
        if ours != theirs:
            reasons.append(f"its vermagic flags '{' '.join(sorted(ours))}' differ from the kernel's "
                           f"'{' '.join(sorted(theirs))}'")
    # With MODVERSIONS the loader skips the release part of vermagic (CRCs decide instead);
    # a bare symvers file (modversions None) does not say which release it belongs to.
    if (module_release and kernel.modversions is not None and module_release != kernel.release
            and not (module.has_versions and kernel.modversions)):
        reasons.append(f"it was built for {module_release}, not {kernel.release}, and without "
                       "MODVERSIONS the release must match")
    if not reasons:
        return None
    return Finding(
        module.path, "", STATUS_VERMAGIC, None, None, "",
        f"{module.name} will not load into {kernel.release}: " + "; ".join(reasons) + ". The loader "
        "prints 'version magic ... should be ...'. Rebuild it against this kernel's build tree.",
        (REMEDY_REBUILD,),
    )
