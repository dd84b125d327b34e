"""Where a symbol is decided: the providers (depmod's order: the kernel's Module.symvers, then --with
modules, then the targets) and, for each need, ok, unknown_symbol, crc_mismatch,
namespace_not_imported or gpl_only; per module, vermagic. The words of each are in explain.py.
"""

from __future__ import annotations

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
        (RemedyId.REBUILD_FOR_KERNEL,),
    )
