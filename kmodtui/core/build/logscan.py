"""Rules that turn build and install output into findings with a cause and a fix.

Each rule is a regular expression over one line of output (kbuild, modpost, gcc, dkms, rpmbuild,
rpm, yum/dnf, dpkg, apt, depmod, the kernel's module loader) and words for a newcomer. A line is cut
to MAX_LINE characters before any rule reads it, and every rule reads in time proportional to the
line (no two repeats over the same characters: tests/core/test_regex_linear.py pumps each one).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from kmodtui.core.vocabulary import LogRule, RemedyId

SEVERITY_ERROR, SEVERITY_WARNING, SEVERITY_INFO = "error", "warning", "info"
MAX_LINE = 4096  # characters of a line the rules read (the rest is cut first)


@dataclass(frozen=True)
class Rule:
    id: str
    pattern: re.Pattern[str]
    severity: str
    title: str  # format()ed with the match's named groups
    cause: str
    fix: str
    remedies: tuple[str, ...] = ()
    needles: tuple[str, ...] = ()  # the regex runs only on lines holding one of these (C-speed `in`)


@dataclass(frozen=True)
class LogFinding:
    rule: str
    severity: str
    line_number: int
    line: str
    title: str
    cause: str
    fix: str
    remedies: tuple[str, ...]
    details: tuple[tuple[str, str], ...] = ()  # the rule's named groups: symbol, module, ns, dep...

    def detail(self, key: str) -> str:
        return dict(self.details).get(key, "")


# Literal text each rule's lines always contain: a live log streams ~100k lines per second, and a
# substring test is ~50x cheaper than a regex search.
NEEDLES = {
    LogRule.MODPOST_UNDEFINED: ("undefined!",), LogRule.MODPOST_NAMESPACE: ("does not import it",),
    LogRule.MODPOST_GPL_ONLY: ("GPL-only symbol",), LogRule.KBUILD_NO_BUILD_DIR: ("No such file or directory",),
    LogRule.DKMS_HEADERS_MISSING: ("kernel headers for kernel",), LogRule.DKMS_BUILD_FAILED: ("Bad return status",),
    LogRule.DKMS_MAKE_LOG: ("make.log",), LogRule.DKMS_BUILD_EXCLUSIVE: ("BUILD_EXCLUSIVE",),
    LogRule.KBUILD_COMPILER_DIFFERS: ("compiler differs",), LogRule.COMPILER_MISSING: ("not found", "No such file or directory"),
    LogRule.C_MISSING_HEADER: ("fatal error:",), LogRule.C_IMPLICIT_DECLARATION: ("implicit declaration",),
    LogRule.C_ERROR: (": error: ",), LogRule.MAKE_NO_RULE: ("No rule to make target",), LogRule.BTF_SKIPPED: ("Skipping BTF",),
    LogRule.RPM_FAILED_DEPENDENCY: ("is needed by",), LogRule.RPM_FAILED_OTHER: ("is needed by",),
    LogRule.YUM_REQUIRES_KSYM: ("Requires: ksym(",), LogRule.RPMBUILD_BAD_EXIT: ("Bad exit status",),
    LogRule.DPKG_DEPENDENCY_PROBLEMS: ("dependency problems",), LogRule.DPKG_DEPENDS_ON: ("; however:",),
    LogRule.APT_NOT_INSTALLABLE: ("but it is not",), LogRule.DEPMOD_UNKNOWN_SYMBOL: ("needs unknown symbol",),
    LogRule.DEPMOD_DISAGREES: ("disagrees about version",), LogRule.LOADER_VERMAGIC: ("version magic",),
    LogRule.LOADER_UNKNOWN_SYMBOL: ("Unknown symbol",), LogRule.LOADER_KEY_REJECTED: ("Key was rejected",),
    LogRule.KMODTUI_TOOL_MISSING: ("kmodtui: cannot run",), LogRule.KMODTUI_BUSY: ("in use by another kmodtui",),
}


def _r(id: LogRule, pattern: str, severity: str, title: str, cause: str, fix: str, remedies: tuple[str, ...] = ()) -> Rule:
    return Rule(id, re.compile(pattern), severity, title, cause, fix, remedies, NEEDLES[id])


RULES: tuple[Rule, ...] = (
    _r(LogRule.KMODTUI_TOOL_MISSING, r"^kmodtui: cannot run (?P<tool>\S+): .*?(?:\(install it: (?P<install>[^()]+)\))?$",
       SEVERITY_ERROR, "{tool} is not installed",
       "The build could not start: this mode runs {tool}, and it is not on this machine.",
       "Install it ({install}) and build again, or pick another mode."),
    _r(LogRule.KMODTUI_BUSY, r"^kmodtui: (?>(?P<path>.+?): is in use by another kmodtui \()(?P<holder>[^)]*)\)",
       SEVERITY_ERROR, "another kmodtui is building this source",
       "Two builds of one source at once would overwrite each other's files, so this one did not start ({holder}).",
       "Wait for the other build (kmodtui builds lists it; kmodtui attach follows it), or stop it with "
       "`kmodtui builds stop ID`, then build again."),
    _r(LogRule.MODPOST_UNDEFINED, r'(?P<level>ERROR|WARNING): modpost: "(?P<symbol>[^"]+)" \[(?P<module>[^][]+)\] undefined!',
       SEVERITY_ERROR, "modpost: {symbol} is undefined for {module}",
       "modpost found no export of {symbol}: not in the kernel's Module.symvers and not in any Module.symvers "
       "given in KBUILD_EXTRA_SYMBOLS. Usually it comes from another out-of-tree module built separately.",
       "Build the module that exports {symbol} first and pass its Module.symvers: "
       "make ... KBUILD_EXTRA_SYMBOLS=/path/to/that/Module.symvers (for dkms: add it to the MAKE line).",
       (RemedyId.KBUILD_EXTRA_SYMBOLS,)),
    _r(LogRule.MODPOST_NAMESPACE, r"module (?P<module>\S+) uses symbol (?P<symbol>\S+) from namespace (?P<ns>\S+), but does not import it",
       SEVERITY_ERROR, "{module} uses {symbol} from namespace {ns} without importing it",
       "The symbol is exported into a namespace; modules must declare each namespace they use.",
       "Add MODULE_IMPORT_NS({ns}); to the source file that uses {symbol}.", (RemedyId.IMPORT_NAMESPACE,)),
    _r(LogRule.MODPOST_GPL_ONLY, r"GPL-incompatible module (?P<module>\S+) uses GPL-only symbol '(?P<symbol>[^']+)'",
       SEVERITY_ERROR, "non-GPL {module} uses GPL-only {symbol}",
       "{symbol} is exported with EXPORT_SYMBOL_GPL; only GPL-compatible modules may link to it.",
       "Only the module's authors can fix this (license or not using the symbol).", ()),
    _r(LogRule.KBUILD_NO_BUILD_DIR, r"make(?:\[\d+\])?: \*\*\* (?P<dir>/\S+): No such file or directory\.\s+Stop\.",
       SEVERITY_ERROR, "kernel build directory {dir} does not exist",
       "make -C was pointed at a kernel build tree that is not there: the headers for this kernel are not installed.",
       "Install the headers (Debian/Ubuntu: apt-get install linux-headers-<release>; Fedora/RHEL: "
       "dnf install kernel-devel-<release>) or choose another kernel.", (RemedyId.INSTALL_HEADERS,)),
    _r(LogRule.DKMS_HEADERS_MISSING, r"Error! Your kernel headers for kernel (?P<release>\S+) cannot be found",
       SEVERITY_ERROR, "dkms: no headers for {release}",
       "dkms looks for /lib/modules/{release}/build and it is missing (dkms 3.0.10 exits 1 here; later dkms use 21).",
       "Install linux-headers-{release} (Debian/Ubuntu) or kernel-devel-{release} (Fedora/RHEL).", (RemedyId.INSTALL_HEADERS,)),
    _r(LogRule.DKMS_BUILD_FAILED, r"Error! Bad return status for module build on kernel: (?P<release>\S+) \((?P<arch>[^()]+)\)",
       SEVERITY_ERROR, "dkms: the module build failed for {release} ({arch})",
       "make returned an error inside dkms (dkms exit code 10); the real error is in make.log.",
       "Open make.log (its path follows) and look for the first 'error:' line.", ()),
    _r(LogRule.DKMS_MAKE_LOG, r"Consult (?P<log>\S+make\.log) for more information",
       SEVERITY_INFO, "dkms kept the build log: {log}", "dkms writes the compiler's output there, not to the terminal.",
       "kmodtui shows it: look for the first error in it.", ()),
    _r(LogRule.DKMS_BUILD_EXCLUSIVE, r"BUILD_EXCLUSIVE directive which does not match this kernel/arch|"
       r"BUILD_EXCLUSIVE_(?:KERNEL|ARCH|CONFIG)",
       SEVERITY_WARNING, "dkms skipped the module (BUILD_EXCLUSIVE)",
       "dkms.conf limits which kernels/arches/configs the module builds for (dkms exit code 77); this one is excluded.",
       "Check BUILD_EXCLUSIVE_KERNEL/ARCH/CONFIG in dkms.conf, or pick a kernel it allows.", ()),
    _r(LogRule.KBUILD_COMPILER_DIFFERS, r"warning: the compiler differs from the one used to build the kernel",
       SEVERITY_WARNING, "compiler differs from the kernel's",
       "The module is compiled with another compiler (or version) than the kernel; flags and struct layout can differ.",
       "Install and use the kernel's compiler (CONFIG_CC_VERSION_TEXT in the headers' .config, e.g. gcc-12).", ()),
    _r(LogRule.COMPILER_MISSING, r"(?:/bin/sh: \d+: (?P<cc>\S+): not found)|(?:make(?:\[\d+\])?: (?P<cc2>(?>\S*?(?:gcc|clang))\S*): No such file or directory)",
       SEVERITY_ERROR, "compiler not found",
       "The compiler the kernel's Makefile asks for is not installed.",
       "Install it (Debian: apt-get install build-essential gcc-12; Fedora: dnf install gcc).", ()),
    _r(LogRule.C_MISSING_HEADER, r"^(?P<file>\S+?):(?P<line>\d+):(?P<col>\d+): fatal error: (?P<header>\S+): No such file or directory",
       SEVERITY_ERROR, "{file}:{line}: header {header} not found",
       "The source includes a header this kernel does not have (an API that moved or was removed) or one from a missing package.",
       "Check which kernel version introduced/removed {header}; the module may need a newer release for this kernel.", ()),
    _r(LogRule.C_IMPLICIT_DECLARATION, r"^(?P<file>\S+?):(?P<line>\d+):(?P<col>\d+): error: implicit declaration of function [\'‘](?P<function>[^\'’]+)[\'’]",
       SEVERITY_ERROR, "{file}:{line}: {function} is not declared",
       "The function does not exist in this kernel's headers (renamed or removed) or a header is missing.",
       "Look up when {function} changed; the module needs a version that supports this kernel.", ()),
    _r(LogRule.C_ERROR, r"^(?P<file>\S+?):(?P<line>\d+):(?P<col>\d+): error: (?P<message>.+)",
       SEVERITY_ERROR, "{file}:{line}: {message}", "The C compiler stopped on this line.",
       "Fix the source, or use a module release made for this kernel.", ()),
    _r(LogRule.MAKE_NO_RULE, r"No rule to make target [\'‘`](?P<target>[^\'’]+)[\'’]",
       SEVERITY_ERROR, "make: no rule to make {target}",
       "A file named in Kbuild/Makefile (obj-m or <module>-objs) does not exist.",
       "Check obj-m and the object list in the Kbuild file against the source files.", ()),
    _r(LogRule.BTF_SKIPPED, r"Skipping BTF generation for (?P<module>\S+) due to unavailability of vmlinux",
       SEVERITY_INFO, "BTF skipped for {module} (harmless)",
       "Distribution headers ship no vmlinux, so no BTF type info is added to out-of-tree modules.",
       "Nothing to do: the module works without BTF.", ()),
    _r(LogRule.RPM_FAILED_DEPENDENCY, r"^\s*(?P<dep>(?P<kind>ksym|kernel)\((?P<symbol>[^)]+)\) = (?P<crc>0x[0-9a-fA-F]+)) is needed by (?P<package>\S+)",
       SEVERITY_ERROR, "{package} needs {dep}",
       "rpm found no installed or offered package that Provides {dep}. If a kmod package you install contains a "
       "module exporting {symbol}, it was built without ksym() Provides (e.g. OpenZFS's generic spec).",
       "Rebuild the providing kmod package with %global _use_internal_dependency_generator 0 (or --with-spec=redhat); "
       "kmodtui resolve on the packages tells which case it is.", (RemedyId.SPEC_EXTERNAL_DEPGEN, RemedyId.AUTOTOOLS_REDHAT_SPEC)),
    _r(LogRule.RPM_FAILED_OTHER, r"^\s*(?P<dep>(?!ksym\(|kernel\()\S.*?) is needed by (?P<package>\S+)$",
       SEVERITY_ERROR, "{package} needs {dep}", "No installed or offered package provides it.",
       "Install the package that provides {dep} (dnf provides '{dep}').", ()),
    _r(LogRule.YUM_REQUIRES_KSYM, r"Requires: (?P<dep>ksym\((?P<symbol>[^()]+)\) = (?P<crc>0x[0-9a-fA-F]+))",
       SEVERITY_ERROR, "yum/dnf: nothing provides {dep}",
       "The package needs {symbol} with CRC {crc} and no repository or local package Provides it.",
       "If the module exporting {symbol} is packaged (kmod-zfs...), rebuild that package so it Provides ksym(); "
       "otherwise install the matching build of it.", (RemedyId.SPEC_EXTERNAL_DEPGEN, RemedyId.AUTOTOOLS_REDHAT_SPEC)),
    _r(LogRule.RPMBUILD_BAD_EXIT, r"error: Bad exit status from (?P<script>\S+) \((?P<section>%\w+)\)",
       SEVERITY_ERROR, "rpmbuild: the spec's {section} section failed",
       "A command in {section} exited with an error; the lines above show which.", "Fix the spec or the build it runs.", ()),
    _r(LogRule.DPKG_DEPENDENCY_PROBLEMS, r"dependency problems prevent configuration of (?P<package>[^:\s]+):",
       SEVERITY_ERROR, "dpkg left {package} unconfigured", "A Depends of {package} is not installed.",
       "See the 'depends on' line below; kmodtui resolve on the .deb names the real package.", (RemedyId.DEB_FIX_DEPENDS,)),
    _r(LogRule.DPKG_DEPENDS_ON, r"^\s*(?P<package>\S+) depends on (?P<dep>[^;]+); however:",
       SEVERITY_ERROR, "{package} depends on {dep}, which is not installed",
       "No installed package has that name or Provides it. For linux-image-<release>: the kernel may be "
       "installed under another package name (custom kernels, -unsigned images).",
       "Rewrite the .deb's Depends to the real kernel package, or install a shim that Provides {dep}.", (RemedyId.DEB_FIX_DEPENDS,)),
    _r(LogRule.APT_NOT_INSTALLABLE, r"^\s*(?P<package>\S+) : (?:Pre)?Depends: (?P<dep>.+?) but it is not (?:installable|going to be installed)",
       SEVERITY_ERROR, "apt: {package} depends on {dep}, which no repository has",
       "Nothing in the archive or on the machine is or provides {dep}.",
       "Fix the Depends (kmodtui resolve names the package that owns the kernel), or add a shim package.", (RemedyId.DEB_FIX_DEPENDS,)),
    _r(LogRule.DEPMOD_UNKNOWN_SYMBOL, r"depmod: WARNING: (?P<module>\S+) needs unknown symbol (?P<symbol>\S+)",
       SEVERITY_ERROR, "depmod: {symbol} needed by {module} is provided by nothing",
       "No installed module or the kernel exports {symbol}: the module will not load.",
       "Install the module that exports it, or rebuild against this kernel.", (RemedyId.KBUILD_EXTRA_SYMBOLS,)),
    _r(LogRule.DEPMOD_DISAGREES, r"(?<!\S)(?P<module>\S+) disagrees about version of symbol (?P<symbol>\S+)",
       SEVERITY_ERROR, "{module} disagrees about the version (CRC) of {symbol}",
       "The module was built against another version of {symbol}'s interface (another kernel or provider build).",
       "Rebuild the module against the kernel/provider it will run with.", (RemedyId.REBUILD_FOR_KERNEL,)),
    _r(LogRule.LOADER_VERMAGIC, r"version magic '(?P<module_magic>[^']*)' should be '(?P<kernel_magic>[^']*)'",
       SEVERITY_ERROR, "vermagic mismatch: built for '{module_magic}'",
       "The kernel refuses modules built for another release/options: it expects '{kernel_magic}'.",
       "Rebuild the module against this kernel's headers.", (RemedyId.REBUILD_FOR_KERNEL,)),
    _r(LogRule.LOADER_UNKNOWN_SYMBOL, r"Unknown symbol (?P<symbol>\S+) \(err (?P<err>-?\d+)\)",
       SEVERITY_ERROR, "the loader cannot resolve {symbol} (err {err})",
       "No loaded module or the kernel exports {symbol} (err -2), or its CRC differs (err -22).",
       "Load the module that provides it first (modprobe resolves this from modules.dep), or rebuild.", (RemedyId.KBUILD_EXTRA_SYMBOLS,)),
    _r(LogRule.LOADER_KEY_REJECTED, r"Key was rejected by service",
       SEVERITY_ERROR, "module signature rejected (Secure Boot)",
       "With Secure Boot, the kernel only loads modules signed by a trusted key; this one is unsigned or signed by an unknown key.",
       "Sign the module (scripts/sign-file with your key) and enroll the key: mokutil --import key.der, then reboot.", ()),
)


# One cheap search decides whether a line is worth the rules: most build output ("CC [M] ...")
# matches none, and a live log streams ~100k lines per second through here.
_PREFILTER = re.compile(
    r"rror|WARNING|warning|undefined|namespace|GPL|No such file|not found|No rule|Skipping BTF|BUILD_EXCLUSIVE|"
    r"Consult|needed by|Requires:|depends on|dependency problems|not installable|disagrees|"
    r"Unknown symbol|version magic|Key was rejected|compiler differs|kmodtui: "
)


def scan_line(line: str, line_number: int = 0, rules: tuple[Rule, ...] = RULES) -> LogFinding | None:
    """The first rule that matches this line, as a finding (None when no rule does)."""
    if len(line) > MAX_LINE:  # a minified or binary line: never feed megabytes to a regex
        line = line[:MAX_LINE]
    if rules is RULES and _PREFILTER.search(line) is None:
        return None
    for rule in rules:
        if rule.needles and not any(needle in line for needle in rule.needles):
            continue
        match = rule.pattern.search(line)
        if match is None:
            continue
        groups = {k: (v or "") for k, v in match.groupdict().items()}
        if "cc2" in groups and not groups.get("cc"):
            groups["cc"] = groups["cc2"]
        return LogFinding(rule.id, rule.severity, line_number, line.strip(), _fill(rule.title, groups),
                          _fill(rule.cause, groups), _fill(rule.fix, groups), rule.remedies,
                          tuple(sorted((k, v) for k, v in groups.items() if v)))
    return None


def scan_text(text: str) -> list[LogFinding]:
    findings = []
    for number, line in enumerate(text.splitlines(), 1):
        finding = scan_line(line, number)
        if finding is not None:
            findings.append(finding)
    return findings


def _fill(template: str, groups: dict[str, str]) -> str:
    try:
        return template.format(**groups)
    except (KeyError, IndexError, ValueError):
        return template
