"""Needs vs provides: for every symbol a module needs, who provides it and whether it will load.

Providers, later ones replacing earlier ones as in depmod: the kernel's Module.symvers (vmlinux
rows, then in-tree module rows), then --with modules, then the target modules themselves.
For unknown symbols and CRC disagreements the answer is depmod's (`depmod -e -E`), pair for pair.
"""

from __future__ import annotations

import hashlib
import os
import pickle
from array import array
from dataclasses import dataclass, field
from functools import cached_property
from itertools import compress, repeat
from typing import TYPE_CHECKING, Callable, Iterator

from kmodtui import __version__
from kmodtui.core.elf.module import ModuleSymbols, symbols_of
from kmodtui.core.errors import KmodError
from kmodtui.core.model import (
    STATUS_CRC,
    STATUS_GPL,
    STATUS_NAMESPACE,
    STATUS_OK,
    STATUS_UNKNOWN,
    STATUS_UNREADABLE,
    STATUS_VERMAGIC,
    STATUSES,
    Finding,
    Kernel,
    PackageInfo,
    crc_hex,
    is_package_path,
)
from kmodtui.core.resolve.modset import Collected, collect_module_files, load_modules
from kmodtui.core.paths import read_cache_file, write_cache_file
from kmodtui.core.symvers.parse import Symvers, read_symvers

if TYPE_CHECKING:
    from kmodtui.core.packages.packageset import InstalledDb

# include/linux/license.h: license_is_gpl_compatible()
GPL_COMPATIBLE = frozenset({
    "GPL", "GPL v2", "GPL and additional rights", "Dual BSD/GPL", "Dual MIT/GPL", "Dual MPL/GPL",
})
# vermagic words kmodtui can derive from .config; others (arch, RANDSTRUCT...) are not compared.
KNOWN_VERMAGIC_FLAGS = frozenset({"SMP", "preempt", "preempt_rt", "mod_unload", "modversions"})

KIND_VMLINUX, KIND_KERNEL_MODULE, KIND_MODULE = "vmlinux", "kernel-module", "module"

# Remedy ids (the catalogue lives in remedies.py)
REMEDY_EXTRA_SYMBOLS = "kbuild-extra-symbols"
REMEDY_REBUILD = "rebuild-for-kernel"
REMEDY_IMPORT_NS = "import-namespace"
REMEDY_INSTALL_HEADERS = "pick-matching-kernel"

# name -> (kind, owner, crc, gpl_only, namespace)
Provider = tuple[str, str, int, bool, str]
# A problem as the resolver records it (cheap: a distro tree against another ABI has ~67k):
# (module, symbol, status, needed crc, provider or None); Findings are built from it on demand.
ProblemRow = tuple[ModuleSymbols, str, str, int, "Provider | None"]


@dataclass
class ResolveResult:
    kernel: Kernel | None
    symvers: Symvers | None
    modules: list[ModuleSymbols]
    providers: dict[str, Provider]
    rows_or_loader: list[ProblemRow] | Callable[[], list[ProblemRow]]
    counts: dict[str, int]
    module_problems: list[Finding] = field(default_factory=list)  # per-module: vermagic, unreadable
    module_count: int = 0
    from_cache: bool = False  # problems reused from an identical earlier run; modules not loaded
    cache_path: str | None = None
    packages: list[PackageInfo] = field(default_factory=list)
    package_findings: list[Finding] = field(default_factory=list)  # one per Requires/Depends, ok ones too

    @cached_property
    def problem_rows(self) -> list[ProblemRow]:
        rows = self.rows_or_loader
        return rows if isinstance(rows, list) else rows()

    def cached_report(self, kind: str) -> bytes | None:
        """A report rendered by an earlier run on identical inputs (e.g. 67k lines of text), as
        bytes: it goes to stdout as it is, with no decoding and encoding of megabytes."""
        if not (self.from_cache and self.cache_path):
            return None
        return read_cache_file(f"{self.cache_path}.{kind}")  # None when missing or damaged: rendered anew

    def store_report(self, kind: str, data: bytes) -> None:
        if self.cache_path:
            write_cache_file(f"{self.cache_path}.{kind}", data)

    @property
    def ok(self) -> bool:
        return self.problem_count == 0

    @property
    def problem_count(self) -> int:
        return sum(n for status, n in self.counts.items() if status != STATUS_OK)

    @cached_property
    def problems(self) -> list[Finding]:
        release = self.kernel.release if self.kernel else "the kernel"
        package_problems = [f for f in self.package_findings if f.status != STATUS_OK]
        return package_problems + self.module_problems + [explain(row, release) for row in self.problem_rows]

    def findings(self, *, problems_only: bool = False) -> Iterator[Finding]:
        """Every finding, ok ones built lazily (there are ~190k on a distro tree)."""
        if problems_only:
            yield from self.problems
            return
        release = self.kernel.release if self.kernel else "the kernel"
        yield from self.package_findings
        by_pair = {(row[0].path, row[1]): row for row in self.problem_rows}
        per_module: dict[str, list[Finding]] = {}
        for finding in self.module_problems:
            per_module.setdefault(finding.module, []).append(finding)
        for module in self.modules:
            yield from per_module.pop(module.path, ())
            for symbol, crc in module.needs:
                row = by_pair.get((module.path, symbol))
                if row is not None:
                    yield explain(row, release)
                    continue
                provider = self.providers[symbol.lstrip(".")]
                label = _provider_label(provider)
                yield Finding(module.path, symbol, STATUS_OK, crc, provider[2], label,
                              f"Provided by {label} with the same CRC.")
        for findings in per_module.values():
            yield from findings


def explain(row: ProblemRow, release: str) -> Finding:
    module, symbol, status, crc, provider = row
    if provider is None:
        return _unknown(module, symbol, crc, release)
    return {STATUS_CRC: _crc_mismatch, STATUS_NAMESPACE: _namespace, STATUS_GPL: _gpl_only}[status](
        module, symbol, crc, provider)


def _provider_label(provider: Provider) -> str:
    kind, owner = provider[0], provider[1]
    if kind == KIND_VMLINUX:
        return "vmlinux"
    if kind == KIND_KERNEL_MODULE:
        return f"{os.path.basename(owner)} (kernel module, from Module.symvers)"
    return owner


def build_providers(symvers: Symvers | None, modules: list[ModuleSymbols]) -> dict[str, Provider]:
    providers: dict[str, Provider] = {}
    if symvers is not None:
        # vmlinux rows (a later row of a name wins), then in-tree module rows for names vmlinux
        # does not export (the first row wins); built column-wise, for ~25k rows.
        c = symvers.columns
        vm = [module == "vmlinux" for module in c.modules]
        providers = dict(zip(compress(c.names, vm), zip(repeat(KIND_VMLINUX), repeat("vmlinux"), compress(c.crcs, vm),
                                                         compress(c.gpl_only, vm), compress(c.namespaces, vm))))
        other = [not v for v in vm]
        names = list(compress(c.names, other))
        values = list(zip(repeat(KIND_KERNEL_MODULE), compress(c.modules, other), compress(c.crcs, other),
                          compress(c.gpl_only, other), compress(c.namespaces, other)))
        first_row = dict(zip(reversed(names), reversed(values)))
        for name in dict.fromkeys(names):
            if name not in providers:
                providers[name] = first_row[name]
    for module in modules:
        for name, crc, gpl_only, namespace in module.exports:
            providers[name] = (KIND_MODULE, module.path, crc or 0, gpl_only, namespace)
    return providers


def resolve_modules(
    targets: list[ModuleSymbols],
    providers: dict[str, Provider],
    kernel: Kernel | None,
) -> tuple[list[ProblemRow], dict[str, int], list[Finding]]:
    rows: list[ProblemRow] = []
    module_problems: list[Finding] = []
    counts = dict.fromkeys(STATUSES, 0)
    # (symbol, crc) pairs that are fine for any module, and for GPL-compatible ones: one set
    # lookup per need leaves only the few needs worth a closer look.
    fine_for_all = set()
    fine_for_gpl = set()
    for name, provider in providers.items():
        if not provider[4]:
            (fine_for_gpl if provider[3] else fine_for_all).add((name, provider[2]))
    fine_for_gpl |= fine_for_all
    get = providers.get
    total = 0
    for module in targets:
        vermagic_problem = _vermagic_finding(module, kernel)
        if vermagic_problem is not None:
            module_problems.append(vermagic_problem)
            counts[STATUS_VERMAGIC] += 1
        needs = module.needs
        total += len(needs)
        gpl_module = module.license in GPL_COMPATIBLE
        fine = fine_for_gpl if gpl_module else fine_for_all
        doubtful = [need for need in needs if need not in fine]
        if not doubtful:
            continue
        import_ns = module.import_ns
        for symbol, crc in doubtful:
            provider = get(symbol) if symbol[:1] != "." else get(symbol.lstrip("."))
            if provider is None:
                rows.append((module, symbol, STATUS_UNKNOWN, crc, None))
            elif provider[2] != crc:
                rows.append((module, symbol, STATUS_CRC, crc, provider))
            elif provider[4] and provider[4] not in import_ns:
                rows.append((module, symbol, STATUS_NAMESPACE, crc, provider))
            elif provider[3] and not gpl_module:
                rows.append((module, symbol, STATUS_GPL, crc, provider))
    for row in rows:
        counts[row[2]] += 1
    counts[STATUS_OK] = total - len(rows)
    return rows, counts, module_problems


def _unknown(module: ModuleSymbols, symbol: str, crc: int, release: str) -> Finding:
    return Finding(
        module.path, symbol, STATUS_UNKNOWN, crc, None, "",
        f"Nothing provides {symbol}: neither the kernel ({release}) nor any of the modules given. "
        f"Loading would fail with 'Unknown symbol {symbol} (err -2)'. If another out-of-tree module "
        "exports it, pass it with --with, and build with KBUILD_EXTRA_SYMBOLS pointing at that "
        "module's Module.symvers.",
        (REMEDY_EXTRA_SYMBOLS,),
    )


def _crc_mismatch(module: ModuleSymbols, symbol: str, crc: int, provider: Provider) -> Finding:
    label = _provider_label(provider)
    if not module.has_versions:
        story = (
            f"{module.name} has no __versions section (built without MODVERSIONS), so it records no "
            f"CRC for {symbol} while {label} exports it with CRC {crc_hex(provider[2])}. depmod reports "
            "this as a disagreement; the 6.x loader would only warn and taint the kernel."
        )
    elif provider[2] == 0:
        story = (
            f"{module.name} was built expecting {symbol} with CRC {crc_hex(crc)}, but {label} exports it "
            "without a CRC (a kernel built without MODVERSIONS?). Build against the same kernel tree."
        )
    else:
        story = (
            f"{module.name} was built against a {symbol} with CRC {crc_hex(crc)}, but {label} exports it "
            f"with CRC {crc_hex(provider[2])}. A CRC is a checksum of the symbol's C prototype and the "
            "types it uses; different CRCs mean the interface changed, usually because the module was "
            f"built against another kernel's headers. The loader refuses it ('disagrees about version "
            f"of symbol {symbol}'). Rebuild the module against this kernel's build tree."
        )
    return Finding(module.path, symbol, STATUS_CRC, crc, provider[2], label, story,
                   (REMEDY_REBUILD, REMEDY_INSTALL_HEADERS))


def _namespace(module: ModuleSymbols, symbol: str, crc: int, provider: Provider) -> Finding:
    namespace = provider[4]
    return Finding(
        module.path, symbol, STATUS_NAMESPACE, crc, provider[2], _provider_label(provider),
        f"{symbol} is exported in symbol namespace {namespace}, which {module.name} does not import. "
        f"The loader refuses it ('module {module.name} uses symbol {symbol} from namespace {namespace}, "
        f"but does not import it'). Add MODULE_IMPORT_NS({namespace}); to the module's source.",
        (REMEDY_IMPORT_NS,),
    )


def _gpl_only(module: ModuleSymbols, symbol: str, crc: int, provider: Provider) -> Finding:
    return Finding(
        module.path, symbol, STATUS_GPL, crc, provider[2], _provider_label(provider),
        f"{symbol} is exported GPL-only (EXPORT_SYMBOL_GPL) and {module.name}'s license "
        f"'{module.license or 'none'}' is not GPL-compatible, so the loader refuses to link it. "
        "Only the module's authors can change that (license, or not using the symbol).",
    )


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


RESULT_CACHE_FORMAT = 3


def resolve(
    targets: list[str],
    kernel: Kernel | None,
    with_: list[str] = (),  # type: ignore[assignment]
    *,
    jobs: int = 0,
    cache_dir: str | None = None,
    need_modules: bool = False,
    installed: InstalledDb | None = None,
) -> ResolveResult:
    """Resolve module files/directories against a kernel (its symvers) and extra providers.

    With a cache dir, a run whose inputs all have the same file identity (device, inode, size,
    mtime) as a previous one reuses its problems without reading any module; `need_modules`
    (for a full listing of ok findings too) forces the modules to be loaded (from their own cache).
    """
    if kernel is not None and not kernel.symvers_path:
        raise KmodError(kernel.build_dir or kernel.release,
                        "this kernel tree has no Module.symvers, so its symbol CRCs are unknown")
    module_targets = [t for t in targets if not is_package_path(t)]
    module_with = [w for w in with_ if not is_package_path(w)]
    package_targets = [t for t in targets if is_package_path(t)]
    package_with = [w for w in with_ if is_package_path(w)]
    collected = collect_module_files(module_targets)
    collected_with = collect_module_files(module_with)
    result_path = None
    if cache_dir and not package_targets and not package_with and installed is None:
        result_path = _result_cache_path(cache_dir, kernel, collected, collected_with)
        if not need_modules:
            cached = _load_result(result_path, kernel)
            if cached is not None:
                return cached
    # The symvers file is parsed while the C scanner's threads read the modules.
    parsed: list[Symvers | KmodError] = []

    def parse_symvers() -> None:
        try:
            parsed.append(read_symvers(kernel.symvers_path))  # type: ignore[union-attr,arg-type]
        except KmodError as err:
            parsed.append(err)

    wants_symvers = kernel is not None and bool(kernel.symvers_path)
    loaded = load_modules(module_targets, jobs=jobs, cache_dir=cache_dir, collected=collected,
                          meanwhile=parse_symvers if wants_symvers else None)
    symvers = None
    if parsed:
        if isinstance(parsed[0], KmodError):
            raise parsed[0]
        symvers = parsed[0]
    extra = load_modules(module_with, jobs=jobs, cache_dir=cache_dir, collected=collected_with) if module_with else None
    errors = loaded.errors + (extra.errors if extra else [])
    target_packages, errors_t = _read_packages(package_targets)
    with_packages, errors_w = _read_packages(package_with)
    errors += errors_t + errors_w
    target_modules = loaded.modules + [symbols_of(m) for p in target_packages for m in p.modules]
    provider_modules = (extra.modules if extra else []) + [symbols_of(m) for p in with_packages for m in p.modules]
    providers = build_providers(symvers, provider_modules + target_modules)
    rows, counts, module_problems = resolve_modules(target_modules, providers, kernel)
    for err in errors:
        module_problems.append(Finding(err.path, "", STATUS_UNREADABLE, None, None, "",
                                       f"Could not read this file: {err.reason}. The others were still checked."))
        counts[STATUS_UNREADABLE] += 1
    package_findings = []
    if target_packages:
        from kmodtui.core.packages.packageset import check_packages  # packages are the rarer case: import on use

        package_findings = check_packages(target_packages, with_packages, symvers, installed)
    for finding in package_findings:
        counts[finding.status] = counts.get(finding.status, 0) + 1
    result = ResolveResult(kernel, symvers, target_modules, providers, rows, counts, module_problems,
                           module_count=len(target_modules), cache_path=result_path,
                           packages=target_packages + with_packages, package_findings=package_findings)
    if result_path:
        _store_result(result_path, result)
    return result


def _read_packages(paths: list[str]) -> tuple[list[PackageInfo], list[KmodError]]:
    packages, errors = [], []
    if not paths:
        return packages, errors
    from kmodtui.core.packages.read import read_package

    for path in paths:
        try:
            packages.append(read_package(path))
        except KmodError as err:
            errors.append(err)
    return packages, errors


def _result_cache_path(cache_dir: str, kernel: Kernel | None, *collections: Collected) -> str:
    digest = hashlib.sha1()
    digest.update(repr((RESULT_CACHE_FORMAT, __version__, kernel)).encode())
    if kernel is not None and kernel.symvers_path:
        try:
            st = os.stat(kernel.symvers_path)
            digest.update(repr((st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)).encode())
        except OSError:
            pass
    for collected in collections:
        digest.update(collected.fingerprint)
        digest.update(b"\1")
    return os.path.join(cache_dir, "results", digest.hexdigest())


def _load_result(path: str, kernel: Kernel | None) -> ResolveResult | None:
    """The cached result for these inputs, or None: entries are sealed (paths.read_cache_file), so
    a damaged, truncated or foreign entry is a miss and the run resolves anew."""
    summary_blob = read_cache_file(path + ".summary")
    rows_blob = read_cache_file(path + ".rows") if summary_blob is not None else None
    if rows_blob is None:
        return None
    try:
        stored = pickle.loads(summary_blob)  # type: ignore[arg-type]
        if not isinstance(stored, dict) or stored.get("format") != RESULT_CACHE_FORMAT:
            return None
        module_problems = [Finding(*f) for f in stored["module_problems"]]
        counts, module_count = stored["counts"], stored["module_count"]
        if not isinstance(counts, dict) or not isinstance(module_count, int):
            return None
    except Exception:  # a cache from another version is only a slower run
        return None

    def load_rows() -> list[ProblemRow]:
        stored_rows = pickle.loads(rows_blob)
        stubs = {p: ModuleSymbols._make(t) for p, t in stored_rows["modules"].items()}
        if not stored_rows["path"]:
            return []
        return list(zip(map(stubs.__getitem__, stored_rows["path"]), stored_rows["symbol"].split("\0"),
                        stored_rows["status"], array("I", stored_rows["crc"]), stored_rows["provider"]))

    return ResolveResult(kernel, None, [], {}, load_rows, counts, module_problems,
                         module_count=module_count, from_cache=True, cache_path=path)


def _store_result(path: str, result: ResolveResult) -> None:
    # Only what the problems need: a stub of each module involved, without its symbol lists, and
    # the rows as columns (a distro tree against another ABI has ~67k: zip() transposes them in C,
    # and pickle writes repeated objects, the same provider or status, as references). Rows are
    # kept apart from the summary: a warm run that prints a cached report never loads them.
    rows_stored: dict[str, object] = {"modules": {}, "path": [], "symbol": "", "status": (), "crc": b"", "provider": ()}
    if result.problem_rows:
        modules, symbols, statuses, crcs, providers = zip(*result.problem_rows)
        unique = {id(m): m for m in modules}
        rows_stored = {
            "modules": {m.path: tuple(m._replace(needs=(), exports=())) for m in unique.values()},
            "path": [m.path for m in modules], "symbol": "\0".join(symbols), "status": statuses,
            "crc": array("I", crcs).tobytes(), "provider": providers,
        }
    summary = {
        "format": RESULT_CACHE_FORMAT,
        "counts": result.counts,
        "module_count": result.module_count,
        "module_problems": [tuple(getattr(f, name) for name in Finding.__slots__) for f in result.module_problems],
    }
    write_cache_file(path + ".rows", pickle.dumps(rows_stored, protocol=pickle.HIGHEST_PROTOCOL))
    write_cache_file(path + ".summary", pickle.dumps(summary, protocol=pickle.HIGHEST_PROTOCOL))
