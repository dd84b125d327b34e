"""Will my out-of-tree modules load on a new kernel? (like RHEL's weak-modules, without the guess:
the modules are resolved against the new kernel's symvers)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass

from kmodtui.core.compression import read_maybe_compressed
from kmodtui.core.elf.elffile import ElfFile
from kmodtui.core.elf.module import is_module_path, modinfo_first, modinfo_pairs
from kmodtui.core.errors import KmodError
from kmodtui.core.model import STATUS_VERMAGIC, Kernel
from kmodtui.core.resolve.engine import resolve
from kmodtui.core.resolve.result import ResolveResult
from kmodtui.core.secureboot.update import SignatureCheck
from kmodtui.core.secureboot.verdict import REFUSED

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


@dataclass(frozen=True)
class LoadFacts:
    """What the loader checks besides symbols, read from one module file: the size of its
    `.gnu.linkonce.this_module` section (the kernel's `struct module` as the module was compiled
    against it) and its vermagic."""

    path: str
    struct_module_size: int | None  # None: no such section (not a module the loader would take)
    vermagic: str
    has_versions: bool


def load_facts(path: str) -> LoadFacts:
    data, _compression = read_maybe_compressed(path)
    elf = ElfFile(data, path)
    index = elf.section_index(".gnu.linkonce.this_module")
    size = elf.sections[index].size if index is not None else None
    raw = elf.section_by_name(".modinfo") or b""
    has_versions = elf.section_index("__versions") is not None or elf.section_index("__version_ext_crcs") is not None
    return LoadFacts(path, size, modinfo_first(modinfo_pairs(raw), "vermagic").strip(), has_versions)


def _tree_modules(kernel: Kernel) -> Iterator[str]:
    """Module files of the kernel's own tree, where one is here: /lib/modules/<release>/kernel under
    the root the headers were found in (merged /usr too), or next to an installed build link."""
    roots = []
    build = os.path.normpath(kernel.build_dir) if kernel.build_dir else ""
    if "/usr/src/" in build:
        roots.append(build.split("/usr/src/", 1)[0] or "/")
    if os.path.basename(build) == "build":
        parent = os.path.dirname(build)
        if os.path.basename(parent) == kernel.release:
            yield from _walk_modules(os.path.join(parent, "kernel"))
    if kernel.origin == "installed":
        roots.append("/")
    for root in roots:
        for lib in ("lib/modules", "usr/lib/modules"):
            yield from _walk_modules(os.path.join(root, lib, kernel.release, "kernel"))


def _walk_modules(folder: str) -> Iterator[str]:
    if not os.path.isdir(folder):
        return
    from kmodtui.core.trees import walk

    for dirpath, dirnames, filenames in walk(folder):
        dirnames.sort()
        for name in sorted(filenames):
            if is_module_path(name):
                yield os.path.join(dirpath, name)


def kernel_reference(kernel: Kernel, given: str | None = None) -> LoadFacts | None:
    """A module built for the new kernel to compare with: the one given (a file, or the first
    module in a folder), else the first readable module of the kernel's own tree; None when there
    is none here (a headers package alone does not say how big struct module is)."""
    candidates: Iterator[str]
    if given:
        if os.path.isdir(given):
            candidates = _walk_modules(given)
        else:
            candidates = iter([given])
    else:
        candidates = _tree_modules(kernel)
    for count, path in enumerate(candidates):
        if count >= 20:
            break
        try:
            facts = load_facts(path)
        except KmodError:
            if given and not os.path.isdir(given):
                raise
            continue
        if facts.struct_module_size is not None:
            return facts
    if given:
        raise KmodError(given, "holds no kernel module to compare struct module size and vermagic with")
    return None


def load_reasons(module: LoadFacts, reference: LoadFacts, release: str, kernel_modversions: bool | None) -> list[str]:
    """Why the loader would refuse the module for a reason that is not a symbol
    (kernel/module/main.c: the this_module size check; kernel/module/version.c: same_magic)."""
    reasons = []
    if module.struct_module_size is None:
        reasons.append("it has no .gnu.linkonce.this_module section: the loader refuses it")
    elif reference.struct_module_size is not None and module.struct_module_size != reference.struct_module_size:
        reasons.append(
            f"struct module is {module.struct_module_size} bytes in it and {reference.struct_module_size} in "
            f"{release} (the loader says '.gnu.linkonce.this_module section size must match the kernel's built "
            "struct module size at run time'): it was compiled against another kernel's headers")
    mine, theirs = module.vermagic.split(), reference.vermagic.split()
    with_crcs = module.has_versions and bool(kernel_modversions if kernel_modversions is not None
                                             else reference.has_versions)
    if mine and theirs and (mine[1:] != theirs[1:] if with_crcs else mine != theirs):
        reasons.append(f"its vermagic '{module.vermagic}' is not {release}'s '{reference.vermagic}'"
                       + ("" if with_crcs else " (without MODVERSIONS the whole string must match)"))
    return reasons


def check_update(modules: list[str], new_kernel: Kernel,
                 reference: LoadFacts | None | str = "auto") -> tuple[ResolveResult, list[ModuleVerdict]]:
    """Resolve the modules (which may provide each other) against the new kernel's symvers, then
    check what the loader checks besides symbols against a module built for that kernel
    (reference: "auto" finds one in the kernel's tree; None skips that check)."""
    result = resolve(modules, new_kernel, need_modules=True)
    by_module: dict[str, list[str]] = {}
    exact_vermagic: set[str] = set()  # modules whose vermagic the reference module already judged
    ref = kernel_reference(new_kernel) if reference == "auto" else reference
    if isinstance(ref, LoadFacts):
        for module in result.modules:
            try:
                facts = load_facts(module.path)
            except KmodError as err:
                by_module.setdefault(module.path, []).append(str(err))
                continue
            for reason in load_reasons(facts, ref, new_kernel.release, new_kernel.modversions):
                by_module.setdefault(module.path, []).append(reason)
                if reason.startswith("its vermagic"):
                    exact_vermagic.add(module.path)
    for finding in result.problems:
        if finding.status == STATUS_VERMAGIC and finding.module in exact_vermagic:
            continue  # the reference module's exact vermagic said it already
        text = f"{finding.status} {finding.symbol}".strip()
        by_module.setdefault(finding.module, []).append(text)
    verdicts = [ModuleVerdict(m.path, m.path not in by_module, len(by_module.get(m.path, [])),
                              tuple(by_module.get(m.path, [])[:5])) for m in result.modules]
    verdicts += [ModuleVerdict(path, False, len(reasons), tuple(reasons[:5]))
                 for path, reasons in by_module.items() if path not in {m.path for m in result.modules}]
    return result, verdicts


def with_signatures(verdicts: list[ModuleVerdict], check: SignatureCheck) -> list[ModuleVerdict]:
    """The doctor's verdict joins will-it-load: a module the signature rules refuse does not load
    ('Key was rejected by service', or 'Loading of unsigned module is rejected'); tainted or unknown
    ones still load as far as the loader's other checks go, and the words say so."""
    joined = []
    for v in verdicts:
        verdict = check.verdicts.get(v.module)
        if verdict is not None and verdict.outcome == REFUSED:
            reason = f"its signature: the kernel will refuse it ({'; '.join(verdict.reasons)})"
            joined.append(ModuleVerdict(v.module, False, v.problems + 1, (reason, *v.reasons)[:5]))
        else:
            joined.append(v)
    return joined


# ---- signing -------------------------------------------------------------------------------------


# ---- userspace lock ------------------------------------------------------------------------------


