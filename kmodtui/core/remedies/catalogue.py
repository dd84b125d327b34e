"""The remedy catalogue: for a finding, what to change (exact file edits, shown as a diff) and what
to run, how risky it is, and why. Applying goes through core/edits.py (backup, atomic, undo)."""

from __future__ import annotations

import glob
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from kmodtui.core import scriptnames
from kmodtui.core.errors import KmodError
from kmodtui.core.remedies.edits import FileEdit, check_editable
from kmodtui.core.vocabulary import LogRule, RemedyId, Status

SAFE, RISKY = "safe", "risky"
RHEL_KSYMS = "/usr/lib/rpm/redhat/find-provides.ksyms"


@dataclass(frozen=True)
class RemedyOptions:
    target: str = ""  # a spec, a source dir, a .deb, ... (each remedy says which)
    symbol: str = ""
    namespace: str = ""
    symvers: tuple[str, ...] = ()  # other modules' Module.symvers (KBUILD_EXTRA_SYMBOLS)
    depends: str = ""  # deb: the Depends to write
    kernel_release: str = ""
    generator: str = ""  # how a spec calls kmodtui rpmdeps (default: this Python with -m kmodtui)


@dataclass(frozen=True)
class RemedyPlan:
    remedy: str
    title: str
    risk: str
    explanation: str
    edits: tuple[FileEdit, ...] = ()
    commands: tuple[str, ...] = ()  # run by the user (or by `apply --run`), in the target's folder
    warning: str = ""  # for risky remedies: what safety is lost
    shown_diff: str = ""  # when the edit is binary (a .deb), the readable change
    # a remedy that is a rebuild, not an edit: "same" (the build's own request) or the mode to rebuild
    # in; the TUI's b runs it, headless it is `kmodtui build` with that mode
    rebuild: str = ""

    def diff(self) -> str:
        return self.shown_diff or "".join(edit.diff() for edit in self.edits)


@dataclass(frozen=True)
class Remedy:
    id: str
    title: str
    risk: str
    explanation: str
    target: str  # what --target names
    applies_to: tuple[str, ...]  # finding statuses and log rule ids
    planner: Callable[[RemedyOptions], RemedyPlan] = field(repr=False)

    def plan(self, options: RemedyOptions) -> RemedyPlan:
        return self.planner(options)


def _read(path: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as err:
        raise KmodError(path, err.strerror or str(err)) from None


def c_files(source: str, limit: int = 20_000) -> list[str]:
    """The .c files below a source folder that are regular files: links are not followed (no loop,
    nothing outside the tree), FIFOs and devices are never opened, at most `limit` files."""
    import stat

    found: list[str] = []
    for dirpath, dirnames, filenames in os.walk(source, followlinks=False):
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


def _generator(options: RemedyOptions) -> str:
    from kmodtui.core.paths import self_command

    return options.generator or self_command()


# ---- spec remedies -----------------------------------------------------------------------------

_PREP = re.compile(rb"^%prep\b", re.M)


def _insert_before_prep(path: str, block: str, already: bytes, remedy: str) -> FileEdit:
    check_editable(path)
    before = _read(path)
    if already in before:
        raise KmodError(path, f"already has {already.decode()}: {remedy} was applied before")
    match = _PREP.search(before)
    if match is None:
        raise KmodError(path, "has no %prep section, so kmodtui cannot place the macro where rpmbuild reads it "
                              "before the build; add it by hand near the top of the spec")
    return FileEdit(path, before, before[: match.start()] + block.encode() + before[match.start():])


def plan_spec_external_depgen(options: RemedyOptions) -> RemedyPlan:
    lines = ["# kmodtui: announce the ksym() symbols this package's modules export (and need),",
             "# like RHEL's %kernel_module_package does; without it rpm adds no ksym() Provides.",
             "%global _use_internal_dependency_generator 0",
             "# rpm 6 refuses an external generator for its v6 packages; older rpm ignores this line",
             "%global _rpmformat 4"]
    if not os.path.exists(RHEL_KSYMS):
        # a command line rpm hands to sh, in a macro rpm expands first: % is written %%
        gen = scriptnames.rpm_text(_generator(options), options.target, "the generator command")
        lines += ["# this host has no find-provides.ksyms (not RHEL): kmodtui rpmdeps produces the same lines",
                  f"%global __find_provides {gen} rpmdeps --provides",
                  f"%global __find_requires {gen} rpmdeps --requires"]
    edit = _insert_before_prep(options.target, "\n".join(lines) + "\n\n", b"_use_internal_dependency_generator 0",
                               "spec-external-depgen")
    spec = scriptnames.shell(options.target)
    return RemedyPlan(
        "spec-external-depgen", "Generate ksym() Provides in the provider's spec", SAFE,
        "The provider package was built with rpm's internal dependency generator, which adds no kernel-symbol "
        "Provides. Turning it off hands the file list to the ksyms generators, so the package Provides "
        "ksym(sym) = CRC for every export and the consumer's Requires can be met. This edits your spec, "
        "not /usr/lib/rpm/redhat/* (seed 000's workaround), so it survives rpm updates and other hosts.",
        (edit,), (f"rpmbuild -ba {spec}", "kmodtui resolve CONSUMER.rpm --with PROVIDER.rpm --kernel RELEASE"),
    )


def plan_drop_ksym_requires(options: RemedyOptions) -> RemedyPlan:
    # With the external generator, rpm's __requires_exclude filter does not apply; filtering
    # the generator's output does in both cases.
    block = ("# kmodtui (RISKY): do not require ksym() symbols from other packages\n"
             "%global __requires_exclude ^ksym\\\\(\n"
             "%global __find_requires_orig %{__find_requires}\n"
             "%global __find_requires /bin/sh -c '%{__find_requires_orig} | grep -v \"^ksym(\"'\n\n")
    edit = _insert_before_prep(options.target, block, b"__requires_exclude ^ksym", "drop-ksym-requires")
    return RemedyPlan(
        "drop-ksym-requires", "Stop emitting ksym() Requires in the consumer's spec", RISKY,
        "The consumer package will install even though no package Provides the symbols it needs.",
        (edit,), (f"rpmbuild -ba {scriptnames.shell(options.target)}",),
        warning="This removes the check that stops a module built against another version of its provider "
                "(e.g. ZFS 0.7 vs 0.8) from being installed. The mismatch then shows up at load time as "
                "'disagrees about version of symbol' or, worse, as memory corruption if CRCs are off. Prefer "
                "rebuilding the provider with ksym() Provides (spec-external-depgen).",
    )


def _release(options: RemedyOptions) -> str:
    """The kernel release a remedy names in the commands it shows (the finding's, or --kernel)."""
    if not options.kernel_release:
        return "RELEASE"
    return scriptnames.check(scriptnames.KERNEL_RELEASE, options.kernel_release, "--kernel")


def plan_redhat_kernel_version(options: RemedyOptions) -> RemedyPlan:
    release = _release(options)
    return RemedyPlan(
        "redhat-kernel-version", "Build redhat-mode kmods for an older kernel without editing rpm's macros", SAFE,
        "%kernel_module_package builds for %{kverrel}, the newest installed kernel-devel. Seed 000's advice edits "
        "/usr/lib/rpm/redhat/macros; passing kernel_version on the command line selects the kernel instead. "
        "kmodtui's rpm and srpm builds always pass it (the kernel you picked), so rebuilding through kmodtui "
        "is the remedy: nothing is edited.",
        (), (f"rpmbuild --define {scriptnames.shell('kernel_version ' + release)} -ba "
             f"{scriptnames.shell(options.target or 'SPEC')}",),
        rebuild="same",
    )


def _autotools_tree(target: str) -> str:
    """The tree a target names: the tree itself, or one of its rpm/<layout>/*.spec.in."""
    if os.path.isfile(target) and target.endswith((".spec.in", ".spec")):
        layout_dir = os.path.dirname(os.path.abspath(target))
        if os.path.basename(os.path.dirname(layout_dir)) == "rpm":
            return os.path.dirname(os.path.dirname(layout_dir))
    return target


def plan_autotools_redhat(options: RemedyOptions) -> RemedyPlan:
    target = _autotools_tree(options.target) if options.target else "."
    if options.target and not (os.path.exists(os.path.join(target, "configure")) or
                               os.path.exists(os.path.join(target, "configure.ac"))):
        raise KmodError(target, "is not an autotools source tree (no configure or configure.ac)")
    from kmodtui.core.build.tools import redhat_macros_missing

    linux = f" --with-linux=/usr/src/kernels/{_release(options)}" if options.kernel_release else ""
    explanation = ("OpenZFS and SPL pick rpm/generic/*.spec.in by default, which gives kmod packages no ksym() "
                   "Provides; --with-spec=redhat uses rpm/redhat/*.spec.in (%kernel_module_package), which does. "
                   "Nothing is edited: the provider is rebuilt in rpm-redhat mode (b), which reconfigures its copy "
                   "of the tree with --with-spec=redhat and runs make rpm-kmod.")
    why = redhat_macros_missing()
    if why:
        explanation += f" Not on this host: {why}."
    return RemedyPlan(
        "autotools-redhat-spec", "Reconfigure with the redhat spec templates (OpenZFS/Lustre layout)", SAFE,
        explanation,
        (), (f"cd {scriptnames.shell(target)}", f"./configure --with-spec=redhat{linux}", "make rpm-kmod",
             "kmodtui inspect *.rpm   # ksym() Provides listed"),
        rebuild="" if why else "rpm-redhat",
    )


# ---- source remedies ---------------------------------------------------------------------------

def _find_symvers_for(symbol: str) -> list[str]:
    """The newest Module.symvers of an earlier kmodtui build that exports `symbol`."""
    return built_providers(symbol)[:1]


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
    symvers = [os.path.abspath(s) for s in options.symvers] or (_find_symvers_for(options.symbol) if options.symbol else [])
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
    if os.path.isfile(dkms_conf) and b"MAKE[0]" in _read(dkms_conf):
        check_editable(dkms_conf)
        before = _read(dkms_conf)
        match = re.search(rb'^(MAKE\[0\]=)(["\']?)(.*?)\2\s*$', before, re.M)
        if match is None:
            raise KmodError(dkms_conf, "has a MAKE[0] line kmodtui cannot edit safely")
        quote = match.group(2) or b'"'
        line = match.group(1) + quote + match.group(3) + f" KBUILD_EXTRA_SYMBOLS={paths}".encode() + quote
        edit = FileEdit(dkms_conf, before, before[: match.start()] + line + before[match.end():])
        where = "dkms.conf's MAKE[0]"
    else:
        # Makefile.modpost includes an external module's Kbuild file to read KBUILD_EXTRA_SYMBOLS.
        kbuild = os.path.join(source, "Kbuild") if os.path.isfile(os.path.join(source, "Kbuild")) else os.path.join(source, "Makefile")
        check_editable(kbuild)
        before = _read(kbuild)
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


def plan_import_namespace(options: RemedyOptions) -> RemedyPlan:
    source, symbol, namespace = options.target, options.symbol, options.namespace
    if not (symbol and namespace):
        raise KmodError(source or "remedy", "needs --symbol and --namespace (both are in the finding)")
    scriptnames.check(scriptnames.NAMESPACE, namespace, "--namespace")  # written into C source
    if not os.path.isdir(source):
        raise KmodError(source, "is not a module source folder")
    word = re.compile(rb"\b" + re.escape(symbol.encode()) + rb"\b")
    users = [p for p in c_files(source) if word.search(_read(p))]
    if not users:
        raise KmodError(source, f"no .c file here uses {symbol}")
    path = users[0]
    check_editable(path)
    before = _read(path)
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
    if b"LINUX_VERSION_CODE" not in source and re.search(rb'(?:MODULE_IMPORT_NS|EXPORT_SYMBOL\w*_NS\w*)\([^)]*"', source):
        return f'MODULE_IMPORT_NS("{namespace}");\n'.encode()
    return (f"#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 13, 0)\nMODULE_IMPORT_NS(\"{namespace}\");\n#else\n"
            f"MODULE_IMPORT_NS({namespace});\n#endif\n").encode()


def plan_rebuild_for_kernel(options: RemedyOptions) -> RemedyPlan:
    release = _release(options)
    return RemedyPlan(
        "rebuild-for-kernel", "Rebuild against the kernel it will run on", SAFE,
        "The module's CRCs or vermagic come from another kernel's headers. Pick the matching kernel in the "
        "wizard (or install its headers) and rebuild.",
        (), (f"kmodtui build --kernel {release} --source {scriptnames.shell(options.target or 'SOURCE')}",),
    )


# ---- package remedies --------------------------------------------------------------------------

def plan_deb_fix_depends(options: RemedyOptions) -> RemedyPlan:
    from kmodtui.core.packages.debrewrite import (
        read_control,
        rewrite_control,
        set_control_field,
    )

    path = options.target
    if not path.endswith(".deb"):
        raise KmodError(path, "is not a .deb")
    if not options.depends:
        raise KmodError(path, "which package should it depend on? Pass --depends (kmodtui resolve names the "
                              "package that owns the kernel)")
    check_editable(path)
    before = _read(path)
    control = read_control(before, path)
    # one field's value: a line break would add fields (a Pre-Depends, a second paragraph) of its own
    new_control = set_control_field(control, "Depends", scriptnames.one_line(options.depends, "--depends", "Depends"))
    after = rewrite_control(before, path, new_control)
    import difflib
    shown = "".join(difflib.unified_diff(control.splitlines(keepends=True), new_control.splitlines(keepends=True),
                                         f"a/{path}:DEBIAN/control", f"b/{path}:DEBIAN/control"))
    shown += "(data.tar.* is kept byte for byte)\n"
    return RemedyPlan(
        "deb-fix-depends", f"Depend on {options.depends} instead", SAFE,
        "The binary-module .deb depends on a package name no installed package has (dkms mkbmdeb writes "
        "linux-image-<release>). Rewriting its Depends to the package that really owns the kernel lets dpkg "
        "configure it; the modules inside are untouched.",
        (FileEdit(path, before, after),), (f"sudo dpkg -i {scriptnames.shell(path)}",), shown_diff=shown,
    )


def plan_install_headers(options: RemedyOptions) -> RemedyPlan:
    release = scriptnames.check(scriptnames.KERNEL_RELEASE, options.kernel_release or os.uname().release, "--kernel")
    distro = ""
    try:
        with open("/etc/os-release") as f:
            distro = f.read()
    except OSError:
        pass
    if re.search(r"^ID(_LIKE)?=.*(fedora|rhel|centos)", distro, re.M):
        command = f"sudo dnf install kernel-devel-{release}"
    elif re.search(r"^ID(_LIKE)?=.*(debian|ubuntu)", distro, re.M):
        command = f"sudo apt-get install linux-headers-{release}"
    else:
        command = f"install the headers of {release} (linux-headers-{release} / kernel-devel-{release})"
    return RemedyPlan("install-headers", f"Install the headers of {release}", SAFE,
                      "Building needs the kernel's build tree (its headers, .config and Module.symvers).",
                      (), (command,))


CATALOGUE: tuple[Remedy, ...] = (
    Remedy(RemedyId.SPEC_EXTERNAL_DEPGEN, "Generate ksym() Provides in the provider's spec", SAFE,
           "Turn rpm's internal dependency generator off in the spec (the fix for seed 000).", "the provider's .spec",
           (Status.NOT_PACKAGED, LogRule.RPM_FAILED_DEPENDENCY, LogRule.YUM_REQUIRES_KSYM), plan_spec_external_depgen),
    Remedy(RemedyId.AUTOTOOLS_REDHAT_SPEC, "Reconfigure with --with-spec=redhat", SAFE,
           "OpenZFS/SPL/Lustre trees: use the redhat spec templates.", "the autotools source folder",
           (Status.NOT_PACKAGED, LogRule.RPM_FAILED_DEPENDENCY, LogRule.YUM_REQUIRES_KSYM), plan_autotools_redhat),
    Remedy(RemedyId.REDHAT_KERNEL_VERSION, "rpmbuild --define 'kernel_version ...'", SAFE,
           "Select an older kernel for %kernel_module_package without editing rpm's macros.", "the spec",
           (Status.VERMAGIC,), plan_redhat_kernel_version),
    Remedy(RemedyId.DROP_KSYM_REQUIRES, "Stop emitting ksym() Requires (risky)", RISKY,
           "Silence the consumer's ksym() Requires; loses the CRC safety check.", "the consumer's .spec",
           (Status.NOT_PACKAGED, Status.UNKNOWN), plan_drop_ksym_requires),
    Remedy(RemedyId.KBUILD_EXTRA_SYMBOLS, "KBUILD_EXTRA_SYMBOLS for another module's exports", SAFE,
           "Point modpost at the other out-of-tree module's Module.symvers.", "the module source folder",
           (Status.UNKNOWN, LogRule.MODPOST_UNDEFINED, LogRule.DEPMOD_UNKNOWN_SYMBOL, LogRule.LOADER_UNKNOWN_SYMBOL),
           plan_kbuild_extra_symbols),
    Remedy(RemedyId.IMPORT_NAMESPACE, "Add MODULE_IMPORT_NS", SAFE,
           "Declare the symbol namespace the module uses.", "the module source folder",
           (Status.NAMESPACE, LogRule.MODPOST_NAMESPACE), plan_import_namespace),
    Remedy(RemedyId.REBUILD_FOR_KERNEL, "Rebuild against the matching kernel", SAFE,
           "CRC or vermagic from another kernel: rebuild for this one.", "the module source folder",
           (Status.CRC, Status.VERMAGIC, LogRule.DEPMOD_DISAGREES, LogRule.LOADER_VERMAGIC), plan_rebuild_for_kernel),
    Remedy(RemedyId.DEB_FIX_DEPENDS, "Rewrite the .deb's Depends", SAFE,
           "Depend on the package that really owns the kernel (seed 002).", "the .deb",
           (Status.UNSATISFIED, LogRule.DPKG_DEPENDS_ON, LogRule.DPKG_DEPENDENCY_PROBLEMS, LogRule.APT_NOT_INSTALLABLE),
           plan_deb_fix_depends),
    Remedy(RemedyId.INSTALL_HEADERS, "Install the kernel headers", SAFE,
           "The exact command for this distribution and kernel.", "(nothing)",
           (LogRule.KBUILD_NO_BUILD_DIR, LogRule.DKMS_HEADERS_MISSING), plan_install_headers),
)
BY_ID = {r.id: r for r in CATALOGUE}
# ids findings may name that are aliases of catalogue entries
ALIASES: dict[str, str] = {RemedyId.PICK_MATCHING_KERNEL: RemedyId.REBUILD_FOR_KERNEL}


def get_remedy(remedy_id: str) -> Remedy:
    remedy = BY_ID.get(ALIASES.get(remedy_id, remedy_id))
    if remedy is None:
        raise KmodError(remedy_id, f"no such remedy; known: {', '.join(BY_ID)}")
    return remedy
