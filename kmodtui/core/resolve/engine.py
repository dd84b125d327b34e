"""Needs vs provides: for every symbol a module needs, who provides it and whether it will load.

Providers, later ones replacing earlier ones as in depmod: the kernel's Module.symvers (vmlinux
rows, then in-tree module rows), then --with modules, then the target modules themselves.
For unknown symbols and CRC disagreements the answer is depmod's (`depmod -e -E`), pair for pair.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kmodtui.core.elf.module import symbols_of
from kmodtui.core.errors import KmodError
from kmodtui.core.model import (
    STATUS_UNREADABLE,
    Finding,
    Kernel,
    PackageInfo,
    is_package_path,
)
from kmodtui.core.resolve.cache import load_result, result_cache_path, store_result
from kmodtui.core.resolve.checks import build_providers, resolve_modules
from kmodtui.core.resolve.modset import collect_module_files, load_modules
from kmodtui.core.resolve.result import ResolveResult
from kmodtui.core.symvers.parse import Symvers, read_symvers

if TYPE_CHECKING:
    from kmodtui.core.packages.packageset import InstalledDb


def resolve(
    targets: list[str],
    kernel: Kernel | None,
    with_: list[str] = (),  # type: ignore[assignment]
    *,
    jobs: int = 0,
    cache_dir: str | None = None,
    need_modules: bool = False,
    installed: InstalledDb | None = None,
    problems_only: bool = False,
) -> ResolveResult:
    """Resolve module files/directories against a kernel (its symvers) and extra providers.

    With a cache dir, a run whose inputs all have the same file identity (device, inode, size,
    mtime) as a previous one reuses its problems without reading any module; `need_modules`
    (for a full listing of ok findings too) forces the modules to be loaded (from their own cache).
    `problems_only` (the CLI, for a listing of problems): module targets come without their needs
    and the C sieve gives only the doubtful ones; the result then carries only its problems and no
    modules, like one from the cache.
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
        result_path = result_cache_path(cache_dir, kernel, collected, collected_with)
        if not need_modules:
            def recompute() -> list:  # the cached rows turned out damaged: resolve anew (and store again)
                return resolve(targets, kernel, with_, jobs=jobs, cache_dir=cache_dir, need_modules=True,
                               installed=installed, problems_only=problems_only).problem_rows

            cached = load_result(result_path, kernel, recompute)
            if cached is not None:
                cached.inputs = (tuple(targets), tuple(with_))
                return cached
    # The symvers file is parsed while the C scanner's threads read the modules.
    parsed: list[Symvers | KmodError] = []

    def parse_symvers() -> None:
        try:
            parsed.append(read_symvers(kernel.symvers_path))  # type: ignore[union-attr,arg-type]
        except KmodError as err:
            parsed.append(err)

    wants_symvers = kernel is not None and bool(kernel.symvers_path)
    sieve = problems_only and not need_modules
    loaded = load_modules(module_targets, jobs=jobs, cache_dir=cache_dir, collected=collected,
                          meanwhile=parse_symvers if wants_symvers else None, raw=sieve)
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
    module_count = len(target_modules)
    providers = build_providers(symvers, provider_modules + target_modules)
    rows, counts, module_problems = resolve_modules(target_modules, providers, kernel, loaded.raw)
    if loaded.raw:  # modules without their needs are not handed on
        target_modules = [m for m in target_modules if m.path not in loaded.raw]
    others = " The others were still checked." if module_count or len(errors) > 1 else ""  # only when there are
    for err in errors:
        module_problems.append(Finding(err.path, "", STATUS_UNREADABLE, None, None, "",
                                       f"Could not read this file: {err.reason.rstrip('.')}{'' if err.reason.endswith('?') else '.'}{others}"))
        counts[STATUS_UNREADABLE] += 1
    package_findings = []
    if target_packages:
        from kmodtui.core.packages.packageset import (
            check_packages,  # packages are the rarer case: import on use
        )

        package_findings = check_packages(target_packages, with_packages, symvers, installed)
    for finding in package_findings:
        counts[finding.status] = counts.get(finding.status, 0) + 1
    result = ResolveResult(kernel, symvers, target_modules, providers, rows, counts, module_problems,
                           module_count=module_count, cache_path=result_path,
                           packages=target_packages + with_packages, package_findings=package_findings)
    result.inputs = (tuple(targets), tuple(with_))
    if result_path:
        store_result(result_path, result)
    return result


def _read_packages(paths: list[str]) -> tuple[list[PackageInfo], list[KmodError]]:
    packages: list[PackageInfo] = []
    errors: list[KmodError] = []
    if not paths:
        return packages, errors
    from kmodtui.core.packages.read import read_package

    for path in paths:
        try:
            packages.append(read_package(path))
        except KmodError as err:
            errors.append(err)
    return packages, errors


