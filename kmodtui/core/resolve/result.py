"""The result of a resolve: the problem rows (cheap tuples, ~67k on a distro tree against another ABI),
counts, per-module and package findings; Findings are built from rows on demand.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import cached_property
from typing import TYPE_CHECKING

from kmodtui.core.elf.module import ModuleSymbols
from kmodtui.core.model import (
    STATUS_OK,
    Finding,
    Kernel,
    PackageInfo,
)
from kmodtui.core.paths import SealedWriter, read_cache_file, write_cache_file
from kmodtui.core.resolve.checks import ProblemRow, Provider
from kmodtui.core.resolve.explain import explain, provider_label, templated
from kmodtui.core.symvers.parse import Symvers

if TYPE_CHECKING:
    from kmodtui.core.packages.verdict import Verdict


class ResolveResult:
    """A plain class (not a dataclass: see records.py; its lists are its own, not shared defaults)."""

    def __init__(
        self,
        kernel: Kernel | None,
        symvers: Symvers | None,
        modules: list[ModuleSymbols],
        providers: dict[str, Provider],
        rows_or_loader: list[ProblemRow] | Callable[[], list[ProblemRow]],
        counts: dict[str, int],
        module_problems: list[Finding] | None = None,  # per-module: vermagic, unreadable
        module_count: int = 0,
        from_cache: bool = False,  # problems reused from an identical earlier run; modules not loaded
        cache_path: str | None = None,
        packages: list[PackageInfo] | None = None,
        package_findings: list[Finding] | None = None,  # one per Requires/Depends, ok ones too
    ) -> None:
        self.kernel, self.symvers, self.modules, self.providers = kernel, symvers, modules, providers
        self.rows_or_loader, self.counts = rows_or_loader, counts
        self.module_problems = module_problems if module_problems is not None else []
        self.module_count, self.from_cache, self.cache_path = module_count, from_cache, cache_path
        self.packages = packages if packages is not None else []
        self.package_findings = package_findings if package_findings is not None else []
        # a package set: what the package manager itself said of installing it (resolve/asktool.py), once asked
        self.package_manager: Verdict | None = None
        # what resolve() was given (targets, then providers): a package set is checked again from it
        self.inputs: tuple[tuple[str, ...], tuple[str, ...]] = ((), ())

    @cached_property
    def problem_rows(self) -> list[ProblemRow]:
        rows = self.rows_or_loader
        return rows if isinstance(rows, list) else rows()

    def cached_report(self, kind: str) -> memoryview | None:
        """A report rendered by an earlier run on identical inputs (e.g. 67k lines of text), as
        bytes: it goes to stdout as it is, with no decoding and encoding of megabytes."""
        if not (self.from_cache and self.cache_path):
            return None
        return read_cache_file(f"{self.cache_path}.{kind}")  # None when missing or damaged: rendered anew

    def store_report(self, kind: str, data: bytes) -> None:
        if self.cache_path:
            write_cache_file(f"{self.cache_path}.{kind}", data)

    def report_writer(self, kind: str) -> SealedWriter | None:
        """store_report in pieces, for a report written out as it is made (close() it)."""
        return SealedWriter(f"{self.cache_path}.{kind}") if self.cache_path else None

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
                provider = self.providers.get(symbol.lstrip("."))
                if provider is None:
                    continue  # module_layout for a kernel without MODVERSIONS: not a need there
                yield templated(module.path, symbol, STATUS_OK, crc, provider.crc, provider_label(provider), "ok")
        for findings in per_module.values():
            yield from findings
