"""Will my out-of-tree modules load on a new kernel? (like RHEL's weak-modules, without the guess:
the modules are resolved against the new kernel's symvers)."""

from __future__ import annotations

import os
from dataclasses import dataclass

from kmodtui.core.model import Kernel
from kmodtui.core.resolve.engine import resolve
from kmodtui.core.resolve.result import ResolveResult

OUT_OF_TREE_DIRS = ("updates", "extra", "weak-updates")


def installed_out_of_tree_modules(release: str | None = None, root: str = "/") -> list[str]:
    """Folders of out-of-tree modules installed for a kernel (default: the running one)."""
    release = release or os.uname().release
    base = os.path.join(root, "lib", "modules", release)
    return [os.path.join(base, d) for d in OUT_OF_TREE_DIRS if os.path.isdir(os.path.join(base, d))]


@dataclass(frozen=True)
class ModuleVerdict:
    module: str
    loads: bool
    problems: int
    reasons: tuple[str, ...]  # first few problems, in words


def check_update(modules: list[str], new_kernel: Kernel) -> tuple[ResolveResult, list[ModuleVerdict]]:
    """Resolve the modules (which may provide each other) against the new kernel's symvers."""
    result = resolve(modules, new_kernel)
    by_module: dict[str, list[str]] = {}
    for finding in result.problems:
        text = f"{finding.status} {finding.symbol}".strip()
        by_module.setdefault(finding.module, []).append(text)
    verdicts = [ModuleVerdict(m.path, m.path not in by_module, len(by_module.get(m.path, [])),
                              tuple(by_module.get(m.path, [])[:5])) for m in result.modules]
    verdicts += [ModuleVerdict(path, False, len(reasons), tuple(reasons[:5]))
                 for path, reasons in by_module.items() if path not in {m.path for m in result.modules}]
    return result, verdicts


# ---- signing -------------------------------------------------------------------------------------


# ---- userspace lock ------------------------------------------------------------------------------


