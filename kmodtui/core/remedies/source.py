"""The remedies that edit a module's source: KBUILD_EXTRA_SYMBOLS for another module's exports,
MODULE_IMPORT_NS for a namespace, a rebuild for the right kernel; and where a symbol's provider may be
(earlier builds, module sources)."""

from __future__ import annotations

import glob
import os
import re

from kmodtui.core import scriptnames
from kmodtui.core.errors import KmodError
from kmodtui.core.remedies.edits import FileEdit, check_editable
from kmodtui.core.remedies.plans import SAFE, RemedyOptions, RemedyPlan, command_release, read_file


def c_files(source: str, limit: int = 20_000) -> list[str]:
    """The .c files below a source folder that are regular files: links are not followed (no loop,
    nothing outside the tree), FIFOs and devices are never opened, at most `limit` files."""
    import stat

    from kmodtui.core.trees import walk

    found: list[str] = []
    for dirpath, dirnames, filenames in walk(source):
        dirnames.sort()
        for name in sorted(filenames):
            if not name.endswith(".c"):
                continue
            path = os.path.join(dirpath, name)
            try:
                st = os.lstat(path)
            except OSError:
                continue
            if stat.S_ISREG(st.st_mode) and st.st_size <= 16 * 1024 * 1024:
                found.append(path)
                if len(found) >= limit:
                    return found
    return found


class ProviderChoice(KmodError):
    """More than one earlier build, of different sources, exports the symbol: which one is the
    caller's to say (a build left by an earlier run may be of another copy or version)."""

    def __init__(self, source: str, symbol: str, candidates: list[tuple[str, str]]) -> None:
        self.candidates = candidates  # (Module.symvers, where it came from), newest first
        listed = "; ".join(where for _, where in candidates[:4]) + ("; ..." if len(candidates) > 4 else "")
        super().__init__(source, f"{len(candidates)} earlier builds of different sources export {symbol} ({listed}): "
                                 "say which: in the TUI press p; on the command line name its Module.symvers "
                                 "with --extra-symbols")


def provider_origin(symvers: str) -> str:
    """Where an earlier build's Module.symvers came from, in words: its build and source."""
    from kmodtui.core.build.recheck import record_of

    record = record_of(symvers)
    if not record:
        return symvers
    source = _source_of_symvers(symvers)
    return f"build {os.path.basename(record)} of {source or 'a source that is gone'}"


def _find_symvers_for(symbol: str, source: str) -> list[str]:
    """The newest Module.symvers of an earlier kmodtui build that exports `symbol`; when builds of
    more than one source do, ProviderChoice (nothing is picked silently)."""
    found = [p for p in built_providers(symbol)
             if os.path.realpath(_source_of_symvers(p) or p) != os.path.realpath(source)]
    by_source: dict[str, str] = {}
    for path in found:  # newest first: each source's newest build
        by_source.setdefault(os.path.realpath(_source_of_symvers(path) or path), path)
    if len(by_source) > 1:
        raise ProviderChoice(source, symbol, [(p, provider_origin(p)) for p in by_source.values()])
    return found[:1]


def built_providers(symbol: str) -> list[str]:
    """Module.symvers files of earlier kmodtui builds that export `symbol`, newest first."""
    from kmodtui.core.build.record import builds_dir

    found = []
    paths = glob.glob(os.path.join(builds_dir(), "*", "work", "src", "Module.symvers"))
    paths += glob.glob(os.path.join(builds_dir(), "*", "work", "dkms-layout", "*", "*", "build", "Module.symvers"))
    for path in sorted(paths, reverse=True):  # build folders are named by date: newest first
        try:
            with open(path, encoding="utf-8", errors="replace") as f:
                if any(line.split("\t")[1:2] == [symbol] for line in f):
                    found.append(path)
        except OSError:
            continue
    return found


_EXPORT = re.compile(rb"\bEXPORT_SYMBOL(?:_GPL|_NS|_NS_GPL|_FOR_MODULES)?\s*\(\s*(\w+)")


def source_providers(symbol: str, sources: list[str]) -> list[str]:
    """Module sources among `sources` whose C files export `symbol` (EXPORT_SYMBOL*(symbol)): read as
    text, never built or run; the top folder and one level below, files up to 4 MiB."""
    found = []
    for source in dict.fromkeys(sources):
        if not os.path.isdir(source):
            continue
        files = glob.glob(os.path.join(source, "*.c")) + glob.glob(os.path.join(source, "*", "*.c"))
        for path in files:
            try:
                if os.path.getsize(path) > 4 * 1024 * 1024:
                    continue
                with open(path, "rb") as f:
                    if any(m.group(1).decode() == symbol for m in _EXPORT.finditer(f.read())):
                        found.append(source)
                        break
            except OSError:
                continue
    return found


def plan_kbuild_extra_symbols(options: RemedyOptions) -> RemedyPlan:
    source = options.target
    if not os.path.isdir(source):
        raise KmodError(source, "is not a module source folder")
    named = [os.path.abspath(s) for s in options.symvers]
    # a Module.symvers a kmodtui build made is one kernel's: the relation is recorded as the provider's
    # source instead, and every build (each kernel's, the hook's) takes its provider's build for its kernel
    providers = list(options.providers) + [p for p in map(_source_of_symvers, named) if p]
    named = [s for s in named if not _source_of_symvers(s)]
    if not named and not providers and options.symbol:
        providers = [p for p in map(_source_of_symvers, _find_symvers_for(options.symbol, source)) if p]
    providers = [p for p in dict.fromkeys(os.path.abspath(p) for p in providers)
                 if os.path.realpath(p) != os.path.realpath(source)]
    if not named and providers:
        return _plan_provider_rebuild(source, providers, options)
    symvers = named
    if not symvers:
        raise KmodError(source, "no build of a module exporting the symbol yet: in the TUI press p to pick (or "
                                "build) the module that exports it; on the command line name its Module.symvers "
                                "with --extra-symbols")
    for path in symvers:
        if not os.path.isfile(path):
            raise KmodError(path, "no such Module.symvers")
        # written into a Makefile (make expands $(...)) or dkms.conf (dkms sources it in bash): no
        # quoting exists for both, so a path must be plain
        scriptnames.check(scriptnames.PATH, path, path)
    paths = " ".join(symvers)
    dkms_conf = os.path.join(source, "dkms.conf")
    if os.path.isfile(dkms_conf) and b"MAKE[0]" in read_file(dkms_conf):
        check_editable(dkms_conf)
        before = read_file(dkms_conf)
        match = re.search(rb"^MAKE\[0\]=(.*)$", before, re.M)
        if match is None:
            raise KmodError(dkms_conf, "has a MAKE[0] line kmodtui cannot edit safely")
        value = match.group(1).rstrip()
        quoted = len(value) >= 2 and value[:1] in (b'"', b"'") and value.endswith(value[:1])
        quote, words = (value[:1], value[1:-1]) if quoted else (b'"', value)
        line = b"MAKE[0]=" + quote + words + f" KBUILD_EXTRA_SYMBOLS={paths}".encode() + quote
        edit = FileEdit(dkms_conf, before, before[: match.start()] + line + before[match.start(1) + len(value):])
        where = "dkms.conf's MAKE[0]"
    else:
        # Makefile.modpost includes an external module's Kbuild file to read KBUILD_EXTRA_SYMBOLS.
        kbuild = os.path.join(source, "Kbuild") if os.path.isfile(os.path.join(source, "Kbuild")) else os.path.join(source, "Makefile")
        check_editable(kbuild)
        before = read_file(kbuild)
        addition = ("\n# kmodtui: symbols exported by other out-of-tree modules this one uses\n"
                    f"KBUILD_EXTRA_SYMBOLS += {paths}\n").encode()
        edit = FileEdit(kbuild, before, before + (b"" if before.endswith(b"\n") or not before else b"\n") + addition)
        where = os.path.basename(kbuild)
    return RemedyPlan(
        "kbuild-extra-symbols", f"Tell modpost where the other module's symbols are ({where})", SAFE,
        "modpost only knows the kernel's exports; symbols from another out-of-tree module come from that "
        "module's Module.symvers, named in KBUILD_EXTRA_SYMBOLS. Then the build records their CRCs too.",
        (edit,), ("kmodtui build --kernel RELEASE --source " + scriptnames.shell(source),),
    )


def _source_of_symvers(path: str) -> str:
    """The source of the kmodtui build whose Module.symvers `path` is, or "" (a file the user made)."""
    from kmodtui.core.build.providers import source_of_build
    from kmodtui.core.build.recheck import record_of

    record = record_of(path)
    return source_of_build(record) if record else ""


def _plan_provider_rebuild(source: str, providers: list[str], options: RemedyOptions) -> RemedyPlan:
    """Rebuild the consumer with the provider recorded in its request: nothing written into the source."""
    from kmodtui.core.build import modes
    from kmodtui.core.build.providers import provider_build

    for provider in providers:
        scriptnames.check(scriptnames.PATH, provider, provider)
    release = command_release(options)
    built_as = modes.find(options.mode)
    packages = built_as is not None and built_as.makes_packages  # the provider's packages go in the set
    built = [provider_build(p, options.kernel_release, options.mode, exact=packages) for p in providers] \
        if options.kernel_release else []
    missing = [p for p, record in zip(providers, built, strict=True) if not record]
    if missing:
        how = f" with {built_as.package_suffix} packages" if built_as is not None and packages else ""
        raise KmodError(missing[0], f"the provider has no build{how} for {release} yet: in the TUI press p to build "
                                    f"it; on the command line: kmodtui build --kernel {release} --source "
                                    + scriptnames.shell(missing[0]) + (f" --mode {options.mode}" if packages else ""))
    names = ", ".join(os.path.basename(p) for p in providers)
    builds = ", ".join(os.path.basename(r) for r in built)
    flags = "".join(f" --provider {scriptnames.shell(p)}" for p in providers)
    return RemedyPlan(
        "kbuild-extra-symbols", f"Rebuild with {names} as provider (KBUILD_EXTRA_SYMBOLS on make's command line)",
        SAFE,
        "modpost only knows the kernel's exports; symbols from another out-of-tree module come from that "
        f"module's Module.symvers. The rebuild's request records {names} as a provider: every build of it (for "
        "this kernel, the next one, the kernel hook's, which builds providers first) takes the Module.symvers of "
        "the provider's build for its own kernel and names it on make's command line; a package build puts the "
        f"provider's packages in the set it is checked with. Nothing is written into your source."
        + (f" The provider's build for this kernel: {builds}." if builds else ""),
        (), (f"kmodtui build --kernel {release} --source {scriptnames.shell(source)}{flags}",),
        rebuild="same", providers=tuple(providers),
    )


def plan_import_namespace(options: RemedyOptions) -> RemedyPlan:
    source, symbol, namespace = options.target, options.symbol, options.namespace
    if not (symbol and namespace):
        raise KmodError(source or "remedy", "needs --symbol and --namespace (both are in the finding)")
    scriptnames.check(scriptnames.NAMESPACE, namespace, "--namespace")  # written into C source
    if not os.path.isdir(source):
        raise KmodError(source, "is not a module source folder")
    word = re.compile(rb"\b" + re.escape(symbol.encode()) + rb"\b")
    users = [p for p in c_files(source) if word.search(read_file(p))]
    if not users:
        raise KmodError(source, f"no .c file here uses {symbol}")
    path = users[0]
    check_editable(path)
    before = read_file(path)
    if re.search(rb"MODULE_IMPORT_NS\(\s*\"?" + re.escape(namespace.encode()) + rb"\"?\s*\)", before):
        raise KmodError(path, f"already imports {namespace}")
    line = _import_ns_lines(namespace, options.kernel_release, before)
    anchors = list(re.finditer(rb"^MODULE_[A-Z_]+\(.*\);[ \t]*\n", before, re.M))
    if anchors:
        at = anchors[-1].end()
        after = before[:at] + line + before[at:]
    else:
        after = before + (b"" if before.endswith(b"\n") else b"\n") + line
    if b"#if LINUX_VERSION_CODE" in line and not re.search(rb"#\s*include\s*<linux/version\.h>", after):
        first_include = re.search(rb"^#\s*include\b.*\n", after, re.M)
        at = first_include.end() if first_include else 0
        after = after[:at] + b"#include <linux/version.h>\n" + after[at:]
    return RemedyPlan(
        "import-namespace", f"Import symbol namespace {namespace} in {os.path.basename(path)}", SAFE,
        f"{symbol} is exported into namespace {namespace}; modules that use it must say so with "
        "MODULE_IMPORT_NS, or modpost stops the build and the loader refuses the module.",
        (FileEdit(path, before, after),), ("kmodtui build --kernel RELEASE --source " + scriptnames.shell(source),),
    )


def _import_ns_lines(namespace: str, release: str, source: bytes) -> bytes:
    """Linux 6.13 made namespaces string literals (MODULE_IMPORT_NS("NS"); a bare name fails to
    compile there, and a string fails before). For a known kernel, its form; for none (a dkms source
    built for many kernels), both, chosen by LINUX_VERSION_CODE, unless the file already uses one."""
    version = re.match(r"(\d+)\.(\d+)", release or "")
    if version:
        modern = (int(version.group(1)), int(version.group(2))) >= (6, 13)
        return (f'MODULE_IMPORT_NS("{namespace}");\n' if modern else f"MODULE_IMPORT_NS({namespace});\n").encode()
    if b"LINUX_VERSION_CODE" not in source and re.search(rb'(?:\bMODULE_IMPORT_NS|\bEXPORT_SYMBOL(?=\w*_NS)\w*)\([^()"]*"',
                                                         source):
        return f'MODULE_IMPORT_NS("{namespace}");\n'.encode()
    return (f"#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 13, 0)\nMODULE_IMPORT_NS(\"{namespace}\");\n#else\n"
            f"MODULE_IMPORT_NS({namespace});\n#endif\n").encode()


def plan_rebuild_for_kernel(options: RemedyOptions) -> RemedyPlan:
    release = command_release(options)
    return RemedyPlan(
        "rebuild-for-kernel", "Rebuild against the kernel it will run on", SAFE,
        "The module's CRCs or vermagic come from another kernel's headers. Pick the matching kernel in the "
        "wizard (or install its headers) and rebuild.",
        (), (f"kmodtui build --kernel {release} --source {scriptnames.shell(options.target or 'SOURCE')}",),
    )

