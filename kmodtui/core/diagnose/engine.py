"""Name the root cause of a failure log people have in hand: dkms's make.log, an apt/dpkg run whose
dkms hook failed, yum/dnf/rpm dependency errors, akmods logs, dmesg/journal lines after modprobe,
rpmbuild and kbuild output.

Every line is cleaned (CR, ANSI colours, dmesg/journal/akmods timestamps and prefixes) and matched
against rules; each match is a signal with a tier:
  ROOT      a specific cause (the compiler's error, modpost's, the loader's...)
  WEAK      a cause, but generic or often a consequence (a bare C error, "Invalid module format")
  FALLBACK  only says that something failed ("Bad return status", a failed post-installation script)
  KNOCKON   a consequence of an earlier error ("make: *** Error 2", "dpkg: error processing package")
  HARMLESS  noise that looks alarming (BTF skipped, unsigned-module taint, same-major compiler notice)
The primary cause is the first ROOT signal, else the first WEAK, else the first FALLBACK; knock-on
lines after it are attached to it; HARMLESS lines are never chosen. None: nothing is wrong.
Reading a log never runs anything.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from kmodtui.core.diagnose.causes import CAUSES
from kmodtui.core.diagnose.logread import (  # noqa: F401 (read_logs, decode_log: this module's API too)
    LINE_BYTES,
    MAX_LINE,
    decode_log,
    read_logs,
)
from kmodtui.core.vocabulary import Cause

ROOT, WEAK, FALLBACK, KNOCKON, HARMLESS = "root", "weak", "fallback", "knock-on", "harmless"
_TIER_ORDER = (ROOT, WEAK, FALLBACK)
MAX_SIGNALS = 5000  # a runaway log repeats its errors: the first ones are what matter


@dataclass(frozen=True)
class Signal:
    cause: Cause
    tier: str
    line_number: int
    line: str  # the line as it was in the log (without its line end)
    details: tuple[tuple[str, str], ...] = ()
    source: str = ""  # the file it came from, when several were given

    def detail(self, key: str) -> str:
        return dict(self.details).get(key, "")


@dataclass
class Diagnosis:
    primary: Signal | None
    knock_on: list[Signal] = field(default_factory=list)
    signals: list[Signal] = field(default_factory=list)
    lines: int = 0


@dataclass
class _Context:
    """What earlier lines said, for rules whose meaning depends on it."""

    target_kernel: str = ""  # dkms make.log's "for kernel X", dkms's "-k X"
    rpm_section: str = ""  # "build" after rpmbuild's "Failed build dependencies", "install" after rpm's
    module_paths: set[str] = field(default_factory=set)  # /lib/modules/<release>/ seen in the log
    compiler_notice: int = 0  # line number of "the compiler differs" while its two lines are read
    compiler_versions: list[str] = field(default_factory=list)
    confined: bool = False  # kmodtui's "### confined: bwrap" seen: the build ran in its sandbox


Refine = Callable[[re.Match[str], _Context, int], "tuple[Cause, str] | None"]


@dataclass(frozen=True)
class _Rule:
    cause: Cause
    tier: str
    pattern: re.Pattern[str]
    refine: Refine | None = None
    hint: str = ""  # what this particular line adds to the cause's fix


def _rule(cause: Cause, tier: str, pattern: str, refine: Refine | None = None, hint: str = "") -> _Rule:
    return _Rule(cause, tier, re.compile(pattern), refine, hint)


# Every rule reads a line in time proportional to its length (Python's re backtracks: `X.*Y` over a
# line holding X ten thousand times and no Y reads the line once per X). The shapes used below:
#   _after(X, Y)           for X.*Y: the gap stops at the next X, so each character is read once;
#   (?>\S*?W)\S*          for \S*W\S*: the first W of a word, taken for good (the rest is one scan);
#   (?<!\S)\S+ ...         a word's whole run, tried once per word, not from each of its characters;
#   [^()]+ inside (...)    a scan that ends where the next "(" would start another try.
def _after(first: str, then: str) -> str:
    """`first.*then`, read once: the gap between them does not cross another `first`."""
    return rf"(?:{first})(?:(?!{first}).)*{then}"


# ---- context-dependent meanings ------------------------------------------------------------------

def _release(vermagic: str) -> str:
    return vermagic.strip().split(" ", 1)[0]


def _vermagic(match: re.Match[str], ctx: _Context, _n: int) -> tuple[Cause, str]:
    have, want = _release(match["have"]), _release(match["want"])
    if have == want:  # same release, other flags: SMP, preempt, the CPU architecture
        return Cause.VERMAGIC_MISMATCH, ROOT
    if want in ctx.module_paths:  # installed in the new kernel's tree, yet built for another one
        return Cause.HEADERS_WRONG_KERNEL, ROOT
    return Cause.STALE_MODULE, ROOT


_SUBDIRS_HINT = ("The module's Makefile passes SUBDIRS=, which kbuild ignores since Linux 5.3 (it then builds the "
                 "kernel tree itself): use M=$(PWD), in dkms.conf's MAKE too.")


def _build_dir(match: re.Match[str], ctx: _Context, _n: int) -> tuple[Cause, str] | None:
    """make -C /lib/modules/<rel>/build: fine, unless dkms asked for another kernel."""
    release = match["rel"]
    if ctx.target_kernel and release != ctx.target_kernel:
        return Cause.HEADERS_WRONG_KERNEL, ROOT
    return None


def _kernel_version(release: str) -> tuple[int, int]:
    match = re.match(r"(\d+)\.(\d+)", release)
    return (int(match[1]), int(match[2])) if match else (0, 0)


def _make_command(match: re.Match[str], ctx: _Context, _n: int) -> tuple[Cause, str] | None:
    """A `make ... -C /lib/modules/<rel>/build ...` line: SUBDIRS= on 5.3+, an ARCH for another CPU."""
    release, line = match["rel"], match.string
    if "SUBDIRS=" in line and " M=" not in line and _kernel_version(release) >= (5, 3):
        return Cause.KERNEL_API_CHANGE, ROOT
    arch = re.search(r"\bARCH=(\S+)", line)
    if arch and _arch_family(arch[1]) and _arch_family(release) and _arch_family(arch[1]) != _arch_family(release):
        return Cause.WRONG_ARCH, ROOT
    return None


def _arch_family(name: str) -> str:
    """'arm64'/'arm'/'x86' from an ARCH value or what a kernel release says of its CPU (-v7+, -v8...)."""
    name = name.lower()
    if re.search(r"arm64|aarch64|-v8\b|-v8\+|-rpi-v8|2712", name):
        return "arm64"
    if re.search(r"^arm$|armv[67]|armhf|armel|-v7l?\+?$|-v6\+?$|-v7\b", name):
        return "arm"
    if re.search(r"x86|amd64|i[3-6]86", name):
        return "x86"
    return ""


def _missing_build_dir(match: re.Match[str], ctx: _Context, _n: int) -> tuple[Cause, str]:
    """make -C <dir> where <dir> does not exist: no headers, or dkms targets another kernel."""
    release = match["rel"] or ""
    if release and ctx.target_kernel and release != ctx.target_kernel:
        return Cause.HEADERS_WRONG_KERNEL, ROOT
    return Cause.HEADERS_MISSING, ROOT


def _is_needed_by(match: re.Match[str], ctx: _Context, _n: int) -> tuple[Cause, str]:
    dep = match["dep"]
    if "ksym(" in dep:
        return Cause.KSYM_NOT_PROVIDED, ROOT
    if dep.startswith("kernel("):
        return Cause.KABI_MISMATCH, ROOT
    if ctx.rpm_section == "build":
        return Cause.BUILD_DEPENDENCY_MISSING, ROOT
    return Cause.PACKAGE_DEPENDS_UNMET, ROOT


def _compiler_differs(_m: re.Match[str], ctx: _Context, number: int) -> None:
    ctx.compiler_notice, ctx.compiler_versions = number, []
    return None  # decided once both versions are read (_compiler_version)


def _compiler_version(match: re.Match[str], ctx: _Context, number: int) -> tuple[Cause, str] | None:
    if not ctx.compiler_notice or number - ctx.compiler_notice > 3:
        return None
    ctx.compiler_versions.append(match["cc"].strip())
    if len(ctx.compiler_versions) < 2:
        return None
    ctx.compiler_notice = 0
    built, using = ctx.compiler_versions
    major = re.compile(r"(?<!\d)(\d+)\.\d+(?:\.\d+)?\s*$")  # from a number's first digit: one try per number
    a, b = major.search(built), major.search(using)
    if a and b and a[1] == b[1] and ("clang" in built) == ("clang" in using):
        return Cause.HARMLESS, HARMLESS  # same compiler, same major version: the kernel's notice only
    return Cause.COMPILER_MISMATCH, WEAK


def _package_not_installed(_m: re.Match[str], _ctx: _Context, _n: int) -> tuple[Cause, str]:
    return Cause.PACKAGE_DEPENDS_UNMET, ROOT


# ---- the rules, most specific first (the first rule that matches a line decides it) --------------

_TOOLS_IN_TREE = r"(?:objtool|fixdep|modpost|genksyms|recordmcount|sign-file|resolve_btfids|sorttable|kallsyms)"
_BUILD_DEPS = r"(?:pahole|bc|flex|bison|perl|openssl|zstd|xz|lz4|cpio|rsync|python3?|kmod|depmod|dtc|awk|gawk)"

def _read_only(match: re.Match[str], ctx: _Context, number: int) -> tuple[Cause, str]:
    return (Cause.SANDBOX_REFUSED, ROOT) if ctx.confined else (Cause.IMMUTABLE_HOST, ROOT)


def _in_sandbox(match: re.Match[str], ctx: _Context, number: int) -> tuple[Cause, str] | None:
    return (Cause.SANDBOX_REFUSED, ROOT) if ctx.confined else None


RULES: tuple[_Rule, ...] = (
    # --- harmless notices first: they must never be read as a cause -----------------------------
    _rule(Cause.HARMLESS, HARMLESS, r"module verification failed: signature and/or required key missing"),
    _rule(Cause.HARMLESS, HARMLESS, r"loading out-of-tree module taints kernel|" + _after("module license ", " taints kernel")),
    _rule(Cause.HARMLESS, HARMLESS, r"Skipping BTF generation"),
    _rule(Cause.HARMLESS, HARMLESS, r"pahole version differs|^\s*The kernel was built with: \d+$|^\s*You are using: +\d+$"),
    _rule(Cause.HARMLESS, HARMLESS, r"^Deprecated feature:|^ldconfig: |is marked executable|is up to date -- reinstalling"),
    _rule(Cause.HARMLESS, HARMLESS, _after("libkmod: ERROR ", "ignoring bad line") +
          "|kmod packages excluded due to dependency errors"),
    _rule(Cause.HARMLESS, HARMLESS, r"depmod: ERROR: fstatat\(\d+, \S+\): No such file or directory"),
    _rule(Cause.HARMLESS, HARMLESS, _after("Unable to remove module ", "Not found in dkms status output")),
    _rule(Cause.HARMLESS, HARMLESS, r"kmodtui-no-signing not found"),  # kmodtui's dkms mode with --no-sign
    _rule(Cause.HARMLESS, HARMLESS, r"the compiler differs from the one used to build the kernel", _compiler_differs),
    _rule(Cause.HARMLESS, HARMLESS, r"^\s*(?:The kernel was built by|You are using):\s*+(?P<cc>.*)$", _compiler_version),
    # --- kmodtui's own runner --------------------------------------------------------------------
    _rule(Cause.TOOL_MISSING, ROOT, r"^kmodtui: cannot run (?P<tool>\S+): .*?(?:\(install it: (?P<install>[^()]+)\))?$"),
    _rule(Cause.SOURCE_BUSY, ROOT, r"^kmodtui: .+?: is in use by another kmodtui"),
    _rule(Cause.NOTHING_BUILT, ROOT, r"^kmodtui: the build finished without an error but made no module"),
    # --- immutable hosts ---------------------------------------------------------------------------
    # in kmodtui's sandbox the system is read-only and there is no network by design: the build reached out
    _rule(Cause.IMMUTABLE_HOST, ROOT, r"Read-only file system", _read_only),
    _rule(Cause.SANDBOX_REFUSED, ROOT, r"Network is unreachable|Temporary failure in name resolution|"
                                       r"Could not resolve host", _in_sandbox),
    _rule(Cause.IMMUTABLE_HOST, ROOT, r"akmods: line \d+: (?:yum|dnf): command not found"),
    # --- headers ---------------------------------------------------------------------------------------
    _rule(Cause.HEADERS_MISSING, ROOT, r"kernel headers for kernel (?P<rel>\S+) cannot be found"),
    _rule(Cause.HEADERS_MISSING, ROOT, r"Missing kernel headers|[Kk]ernel (?:headers|source|build tree)s? "
                                       r"(?:(?:for|of) \S+ )?(?:is |are )?(?:not found|missing|not installed)"),
    _rule(Cause.HEADERS_MISSING, ROOT, r"make(?:\[\d+\])?: \*\*\* (?P<dir>/(?:(?>\S*?/lib/modules/)(?P<rel>[^/\s]+)/)?\S*): "
                                       r"No such file or directory\.\s+Stop", _missing_build_dir),
    _rule(Cause.HEADERS_WRONG_KERNEL, ROOT, r"this.module section size must match the kernel's built struct module size",
          hint="The module's struct module layout is another kernel's: it was compiled against other headers "
               "(or with another compiler) than the running kernel's."),
    _rule(Cause.HEADERS_WRONG_KERNEL, ROOT, r"Version mismatch: module \S+ \S+, kernel \S+"),
    _rule(Cause.HEADERS_WRONG_KERNEL, ROOT, r"version magic '(?P<have>[^']*)' should be '(?P<want>[^']*)'", _vermagic),
    _rule(Cause.HEADERS_INCOMPLETE, ROOT, rf"/bin/sh: \d+: (?>\S*?{_TOOLS_IN_TREE})\S*: (?:not found|Exec format error)"),
    _rule(Cause.HEADERS_INCOMPLETE, ROOT, rf"(?<!\S)(?>\S*?{_TOOLS_IN_TREE})\S*: (?:Exec format error|cannot execute binary file)"),
    _rule(Cause.HEADERS_INCOMPLETE, ROOT, r"No rule to make target [`'](?>\S*?(?:tools/objtool|scripts/))\S*'"),
    _rule(Cause.HEADERS_INCOMPLETE, ROOT, r"tools/objtool/objtool: No such file or directory"),
    _rule(Cause.KERNEL_API_CHANGE, ROOT, r"^\s*DESCEND\s+objtool", hint=_SUBDIRS_HINT),
    _rule(Cause.KERNEL_CONFIG_INVALID, ROOT, r"Kernel configuration is invalid"),
    # --- compilers and build dependencies ----------------------------------------------------------
    _rule(Cause.BUILD_DEPENDENCY_MISSING, ROOT, r"please install libelf-dev|Cannot generate ORC metadata|"
                                                r"Cannot use CONFIG_STACK_VALIDATION=y"),
    _rule(Cause.BUILD_DEPENDENCY_MISSING, ROOT, rf"/bin/(?:ba)?sh: (?:\d+: )?(?:line \d+: )?{_BUILD_DEPS}: "
                                                rf"(?:not found|command not found)"),
    _rule(Cause.BUILD_DEPENDENCY_MISSING, ROOT, rf"make(?:\[\d+\])?: {_BUILD_DEPS}: (?:No such file or directory|"
                                                rf"Command not found)"),
    _rule(Cause.BUILD_DEPENDENCY_MISSING, ROOT, r"fatal error: (?:openssl/|gelf\.h|libelf\.h|zstd\.h|lz4\.h|"
                                                r"elfutils/)\S*: No such file"),
    _rule(Cause.WRONG_ARCH, ROOT, r"(?:gcc|cc1|cc)(?:-\d+)?: error: unrecognized (?:command[- ]line )?option "
                                  r"\W?(?:-mgeneral-regs-only|-mabi=lp64|-mcmodel=kernel|-mno-red-zone|-m64|"
                                  r"-march=armv8|-mfloat-abi)",
          hint="The compiler rejects a flag of another CPU architecture: ARCH (or the kernel tree) and the "
               "compiler are for different CPUs."),
    _rule(Cause.BUILD_DEPENDENCY_MISSING, ROOT, r"configure: error: C compiler cannot create executables",
          hint="The compiler cannot link a test program: the C library's development files are missing "
               "(Debian/Ubuntu: build-essential / libc6-dev)."),
    _rule(Cause.DKMS_DEPENDENCY_MISSING, ROOT, r"Please make sure the kmod \S+ devel|--with-(?:spl|zfs)-obj=|"
                                               r"Failed to find \S+_config\.h",
          hint="This module is built against another out-of-tree module's build (OpenZFS's spl, Lustre's zfs): "
               "build that one first for the same kernel (dkms autoinstall builds in BUILD_DEPENDS order)."),
    _rule(Cause.BUILD_DEPENDENCY_MISSING, WEAK, r"configure: error: |^!?\s*Error: (?:Can ?not|Could not|Unable to) "
                                                r"find "),
    _rule(Cause.KABI_MISMATCH, ROOT, r"is not compatible\s+with kernel \S+ in symbols:"),
    _rule(Cause.COMPILER_MISMATCH, ROOT, r"/bin/(?:ba)?sh: (?:\d+: )?(?P<cc>(?>\S*?(?:gcc|clang|cc|ld\.lld))\S*): "
                                         r"(?:not found|command not found)"),
    _rule(Cause.COMPILER_MISMATCH, ROOT, r"make(?:\[\d+\])?: (?P<cc>(?>\S*?(?:gcc|clang))\S*): (?:No such file or "
                                         r"directory|Command not found)"),
    _rule(Cause.COMPILER_MISMATCH, ROOT, r"(?:gcc|cc1|clang|cc)(?:-\d+)?: error: (?:unrecognized (?:command[- ]line "
                                         r"|debug output level )?option|unknown argument)"),
    _rule(Cause.COMPILER_MISMATCH, ROOT, r"incompatible gcc/plugin versions|cannot load plugin|"
                                         + _after("plugin ", " (?:is not compatible|was built with)")),
    # --- kbuild / modpost / objtool ---------------------------------------------------------------
    _rule(Cause.MODPOST_UNDEFINED, ROOT, r'(?:ERROR|WARNING): modpost: "(?P<symbol>[^"]+)" \[(?P<module>[^][]+)\] '
                                         r'undefined!'),
    _rule(Cause.NAMESPACE_NOT_IMPORTED, ROOT, r"uses symbol \(?(?P<symbol>[^ )]+)\)? from namespace (?P<ns>\S+?),? "
                                              r"but does not import it"),
    _rule(Cause.GPL_ONLY_SYMBOL, ROOT, r"GPL-incompatible module \S+ uses GPL-only symbol '(?P<symbol>[^']+)'"),
    _rule(Cause.OBJTOOL_ERROR, ROOT, r"(?:error|warning): objtool: "),
    _rule(Cause.TOOL_MISSING, ROOT, r"kbuild tools \(\S+\) are not on this machine",
          hint="Debian's headers reach kbuild's host tools through linux-kbuild-X.Y, built for that release: "
               "build in a container or chroot of the kernel's own release (kmodtui matrix export does)."),
    # --- the compiler on the module's source ----------------------------------------------------------
    # gcc echoing a bare-name namespace (`130 | MODULE_IMPORT_NS(DMA_BUF);`) under an error: since 6.13
    # namespaces are string literals, and the bare name no longer compiles
    _rule(Cause.KERNEL_API_CHANGE, ROOT, r"^\s*\d+\s*\|\s*(?:MODULE_IMPORT_NS|EXPORT_SYMBOL(?:_GPL)?_NS(?:_GPL)?)\("
                                         r"(?:\s*\w+\s*,)?\s*(?P<ns>[A-Za-z_]\w*)\s*\)",
          hint="Linux 6.13 made symbol namespaces string literals: MODULE_IMPORT_NS(\"NS\") and "
               "EXPORT_SYMBOL_NS(sym, \"NS\"), guarded by LINUX_VERSION_CODE >= KERNEL_VERSION(6, 13, 0) for "
               "older kernels (kmodtui remedy import-namespace --kernel RELEASE writes that form)."),
    _rule(Cause.KERNEL_API_CHANGE, ROOT, r"implicit (?:declaration of )?function(?: declaration)?|"
                                         r"error: too (?:few|many) arguments to function|has no member named|"
                                         r"incompatible pointer type|error: unknown type name|"
                                         r"undeclared \(first use|error: conflicting types for|"
                                         + _after("storage size of ", " isn.t known") + "|invalid use of undefined type|"
                                         + _after(r"error: passing argument \d+ of ", " from incompatible") + "|"
                                         + _after("error: variable ", " has initializer but incomplete type")),
    _rule(Cause.KERNEL_API_CHANGE, ROOT, r"fatal error: (?:linux|asm|asm-generic|uapi|net|drm|media|sound|crypto|"
                                         r"trace|acpi|scsi|rdma|xen|kvm)/\S+: No such file"),
    _rule(Cause.WERROR, ROOT, r"all warnings being treated as errors"),
    _rule(Cause.KERNEL_API_CHANGE, WEAK, r"fatal error: \S+: No such file|^\S+:\d+:\d+: error: "),
    _rule(Cause.HEADERS_INCOMPLETE, WEAK, r"No rule to make target [`']\S+\.o', needed by",
          hint="kbuild found no way to make the module's object: the source file is missing, or (older kernels) "
               "the headers lack tools/objtool/objtool, so the compile rule is dropped silently."),
    # --- rpm / yum / dnf ----------------------------------------------------------------------------
    _rule(Cause.KSYM_NOT_PROVIDED, ROOT, r"Requires: ksym\((?P<symbol>[^()]+)\)"),
    _rule(Cause.KABI_MISMATCH, ROOT, r"Requires: kernel\((?P<symbol>[^()]+)\)"),
    _rule(Cause.PACKAGE_DEPENDS_UNMET, ROOT, r"(?:nothing provides|nichts stellt|rien ne fournit|没有提供) "
                                             r"(?P<dep>\S+(?: = \S+)?)", _is_needed_by),
    _rule(Cause.PACKAGE_DEPENDS_UNMET, ROOT, r"^\s*(?P<dep>\S+(?: [<>=]+ \S+)?) is needed by ", _is_needed_by),
    # --- dpkg / apt -------------------------------------------------------------------------------------
    _rule(Cause.PACKAGE_DEPENDS_UNMET, ROOT, r"but it is not (?:installable|going to be installed)|"
                                             r"Unmet dependencies|has no installation candidate"),
    _rule(Cause.PACKAGE_DEPENDS_UNMET, ROOT, r"^\s*Package \S+ is not installed\.", _package_not_installed),
    # --- dkms -------------------------------------------------------------------------------------------
    _rule(Cause.DKMS_BUILD_EXCLUSIVE, ROOT, r"BUILD_EXCLUSIVE directive which|does not match this kernel/arch"),
    _rule(Cause.DKMS_VERSION_CONFLICT, ROOT, r"exactly matches what is already found in kernel|is not newer than|"
                                             r"DKMS will not replace this module|DKMS tree already contains"),
    _rule(Cause.DKMS_DEPENDENCY_MISSING, ROOT, r"failed due to missing dependencies|" + _after("BUILD_DEPENDS ", " not (?:found|built)")),
    _rule(Cause.DKMS_DEPENDENCY_MISSING, ROOT, r"^find: '/var/lib/dkms/(?P<dependency>[^/']+)': No such file or directory",
          hint="The module's dkms.conf builds against another dkms module's tree (west-chamber against "
               "xtables-addons): install and build that one with dkms first."),
    # --- the module loader (dmesg, journal, modprobe/insmod) --------------------------------------------
    _rule(Cause.CRC_MISMATCH, ROOT, r"disagrees about version of symbol (?P<symbol>\S+)"),
    _rule(Cause.UNKNOWN_SYMBOL, ROOT, r"Unknown symbol (?P<symbol>\S+) \(err|unknown symbol in module|"
                                      r"needs unknown symbol (?P<symbol2>\S+)"),
    _rule(Cause.MODULE_SIGNATURE_REJECTED, ROOT, r"Key was rejected by service|Required key not available"),
    _rule(Cause.STALE_MODULE, WEAK, r"Invalid module format|could not insert '[^']+': Exec format error"),
    # --- signing -------------------------------------------------------------------------------------
    _rule(Cause.SIGNING_KEY_MISSING, WEAK, r"modules won't be signed|Can't read X509 certificate|"
                                           + _after("sign-file: ", "(?:No such file|[Ee]rror)") + "|"
                                           + _after("signing key ", " (?:not found|missing)")),
    # --- make's own and the package managers' knock-on lines -----------------------------------------
    _rule(Cause.DKMS_BUILD_FAILED, FALLBACK, r"Bad return status for module build|"
                                             r"Building module\(s\)\.\.\.\(bad exit status|"
                                             + _after("Building DKMS module ", " FAILED") + "|"
                                             + _after("DKMS module ", " failed to build") +
                                             r"|post-installation|Building and installing \S+ \[FAILED\]"),
    _rule(Cause.DKMS_BUILD_FAILED, KNOCKON, _after(r"make(?:\[\d+\])?: \*\*\* ", r"Error \d+") + "|"
                                            + _after("recipe for target ", " failed") + "|"
                                            r"dpkg: (?:error|Fehler|erreur)|Errors were encountered|Fehler traten auf|"
                                            r"^E: Sub-process|dependency problems|Abhängigkeitsprobleme|"
                                            r"^Consult .*make\.log|One or more modules failed|Refer to previous errors|"
                                            r"A failure occurred in|returned error exit status|Bad exit status from|"
                                            r"Building rpms failed|Could not install newly built|^\s*\[FAILED\]|"
                                            r"Waiting for unfinished jobs|\*\*\* Deleting file|Installation aborted|"
                                            r"error: Running %post|is not configured yet|ist noch nicht konfiguriert|"
                                            r"; however:|; aber:|none of the providers can be installed|"
                                            r"conflicting requests|widersprüchliche Anforderungen|"
                                            r"^Error! |ERROR: Cannot create report|Failed command:"),
)

# Lines worth a regex: a cheap search first (most build output, "CC [M] ...", matches none).
_PREFILTER = re.compile(
    r"rror|ailed|WARNING|warning|undefined|namespace|GPL|No such file|not found|No rule|Skipping BTF|BUILD_EXCLUSIVE|"
    r"Consult|needed by|Requires:|depends on|dependency|not installable|disagrees|Unknown symbol|unknown symbol|"
    r"version magic|Key was rejected|Required key|compiler differs|built by|You are using|taints|verification|"
    r"headers|Read-only|unreachable|name resolution|resolve host|command not found|Exec format|Invalid module|section size|Version mismatch|objtool|"
    r"Kernel configuration|ORC|CONFIG_STACK|exactly matches|not newer|will not replace|tree already|signed|sign-file|"
    r"X509|signing|provides|stellt|fournit|提供|post-installation|Deprecated|ldconfig|is marked|up to date|"
    r"excluded|fstatat|dkms status|\*\*\*|\[FAILED\]|however|aber:|configured|konfiguriert|problems|"
    r"Anforderungen|is not installed|pahole|implicit|has no member|incompatible|unknown type|undeclared|"
    r"conflicting|storage size|incomplete type|Fehler|Unterprozess|aborted|unfinished|Deleting|Failed|providers|"
    r"requests|Error!|Refer to|newly built|%post|Sub-process|recipe|report|DESCEND|kmodtui: |compatible|configure: |"
    r"Please make sure|_config\.h|find |_NS\("
)
# CSI (colours, cursor) and OSC (titles, gcc's links) ended by BEL or ESC \\. An OSC's text stops at the
# next ESC: an unterminated one is left as it is, after one scan to that ESC (not one per "ESC ]").
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)")
_PREFIXES = re.compile(
    r"^(?:\|\s)?\s*+(?:"
    r"\[\s*[+]?\d+\.\d+\]\s*"  # dmesg [  123.456] and dmesg -H's [ +0.000035]
    r"|[A-Z][a-z]{2} +\d{1,2} \d\d:\d\d:\d\d \S+ [^:\s]+(?:\[\d+\])?: "  # journal/syslog: 'Nov 21 12:17:11 host tag[pid]: '
    r"|\d{4}[-/]\d\d[-/]\d\d[ T]\d\d:\d\d:\d\d(?:[.,]\d+)?(?:Z|[+-]\d\d:?\d\d)?\s+(?:\S+: )?"  # akmods, ISO stamps
    r"|\[\s*\d+s\]\s"  # Open Build Service logs: '[   25s] '
    r"|(?<=\s\s)>\s"  # Nix build output: '       > ' (the spaces already taken: read once)
    r")+(?:kernel: )?"
)
_DKMS_TARGET = re.compile(r"DKMS make\.log for \S+ for kernel (?P<rel>\S+)|"
                          + _after(r"dkms \w+ ", r"(?:-k|--kernelver) (?P<k>[^\s/]+)"))
_MAKE_C = re.compile(r"-C /lib/modules/(?P<rel>[^/\s]+)/build\b")
_MODULE_PATH = re.compile(r"/lib/modules/(?P<rel>[^/\s]+)/")
_RPM_SECTION = re.compile(r"Failed (?P<build>build )?dependencies")


def clean_line(line: str) -> str:
    """A log line as a rule should see it: no CR, no colours, no timestamp or syslog prefix, at most
    MAX_LINE characters. The line is cut before any regex reads it (colours may take 3/4 of a cut line)."""
    line = line.rstrip("\r\n")
    if "\r" in line:
        line = line[line.rfind("\r") + 1 :]  # a progress redraw: what was shown last
    line = line[:LINE_BYTES]
    if "\x1b" in line:
        line = _ANSI.sub("", line)
    return _PREFIXES.sub("", line[:MAX_LINE], count=1)


def _context_line(text: str, ctx: _Context) -> None:
    if text.startswith("### confined: bwrap"):
        ctx.confined = True
    if "/lib/modules/" in text:
        for match in _MODULE_PATH.finditer(text):
            ctx.module_paths.add(match["rel"])
    if "DKMS make.log" in text or "dkms " in text:
        target = _DKMS_TARGET.search(text)
        if target:
            ctx.target_kernel = target["rel"] or target["k"] or ctx.target_kernel
    if "ailed" in text and "dependencies" in text:
        section = _RPM_SECTION.search(text)
        if section:
            ctx.rpm_section = "build" if section["build"] else "install"


def diagnose_lines(lines: Iterable[str], source: str = "") -> Diagnosis:
    """The primary cause of a log given as lines (with or without their line ends)."""
    return diagnose_sources([(source, lines)])


def diagnose_sources(sources: Iterable[tuple[str, Iterable[str]]]) -> Diagnosis:
    """One diagnosis of several logs read in order (dkms's output, then the make.log it names):
    what one says is context for the next; line numbers are each file's own."""
    ctx = _Context()
    signals: list[Signal] = []
    total = 0
    for source, lines in sources:
        total += _scan(source, lines, ctx, signals)
    return _choose(signals, total)


def _scan(source: str, lines: Iterable[str], ctx: _Context, signals: list[Signal]) -> int:
    count = 0
    pending: tuple[int, str, str] | None = None  # a full-width line no rule matched: maybe wrapped
    for count, raw in enumerate(lines, 1):
        text = clean_line(raw)
        if pending is not None:
            number, first_raw, first_text = pending
            pending = None
            # A terminal wrapped a long line (pasted from an 80-column screen): read the two as one.
            if text and not text[0].isspace() and _match_line(first_text + text, first_raw, number, source, ctx,
                                                             signals):
                continue
        _context_line(text, ctx)
        if "-C /lib/modules/" in text:  # the make command of a module build: does it build for the target?
            make_c = _MAKE_C.search(text)
            judged = make_c and (_make_command(make_c, ctx, count) or _build_dir(make_c, ctx, count))
            if make_c and judged:
                hint = (_SUBDIRS_HINT,) if judged[0] == Cause.KERNEL_API_CHANGE else ()
                details = (("built_against", make_c["rel"]),) + (
                    (("target_kernel", ctx.target_kernel),) if ctx.target_kernel else ())
                signals.append(Signal(judged[0], judged[1], count, raw[:LINE_BYTES].rstrip("\r\n"),
                                      details + tuple(("hint", h) for h in hint), source))
                continue
        if len(signals) >= MAX_SIGNALS:
            continue
        if not _match_line(text, raw, count, source, ctx, signals) and len(text) in _WRAP_WIDTHS:
            pending = (count, raw, text)
    return count


_WRAP_WIDTHS = {79, 80, 99, 100, 119, 120, 131, 132}


def _match_line(text: str, raw: str, number: int, source: str, ctx: _Context, signals: list[Signal]) -> bool:
    """Match one cleaned line against the rules; True when a rule took it."""
    if not _PREFILTER.search(text):
        return False
    for rule in RULES:
        match = rule.pattern.search(text)
        if match is None:
            continue
        cause, tier = rule.cause, rule.tier
        if rule.refine is not None:
            refined = rule.refine(match, ctx, number)
            if refined is None:
                return True  # the line only fed the context
            cause, tier = refined
        details = tuple(sorted((k.rstrip("2"), v) for k, v in match.groupdict().items() if v))
        if rule.hint:
            details += (("hint", rule.hint),)
        signals.append(Signal(cause, tier, number, raw[:LINE_BYTES].rstrip("\r\n"), details, source))
        return True
    return False


def _choose(signals: list[Signal], line_count: int) -> Diagnosis:
    primary = None
    for tier in _TIER_ORDER:
        primary = next((s for s in signals if s.tier == tier), None)
        if primary is not None:
            break
    knock_on = []
    if primary is not None:
        at = signals.index(primary)
        knock_on = [s for s in signals[at + 1:] if s.tier in (KNOCKON, FALLBACK)]
    return Diagnosis(primary, knock_on, signals, line_count)


def diagnose_text(text: str) -> Diagnosis:
    return diagnose_lines(text.splitlines())


def primary_text(signal: Signal) -> tuple[str, str, str, tuple[str, ...]]:
    """(title, explanation, fix, remedies) for a signal's cause."""
    text = CAUSES[signal.cause]
    return text.title, text.explanation, text.fix, text.remedies


def signal_json(signal: Signal) -> dict[str, Any]:
    # a knock-on line only reports an earlier failure: it has no cause of its own
    finding: dict[str, Any] = {"cause": None if signal.tier == KNOCKON else signal.cause.value,
                               "tier": signal.tier, "line_number": signal.line_number, "line": signal.line}
    if signal.source:
        finding["file"] = signal.source
    details = {k: v for k, v in signal.details if k != "hint"}
    if details:
        finding["details"] = details
    return finding


def primary_json(diagnosis: Diagnosis) -> dict[str, Any] | None:
    """The primary cause with its words (title, explanation, fix, remedies) and its knock-on lines."""
    if diagnosis.primary is None:
        return None
    title, explanation, fix, remedies = primary_text(diagnosis.primary)
    hint = diagnosis.primary.detail("hint")
    primary = {**signal_json(diagnosis.primary), "title": title, "explanation": explanation,
               "fix": f"{hint} {fix}" if hint else fix, "remedies": list(remedies),
               "knock_on": [signal_json(s) for s in diagnosis.knock_on]}
    del primary["tier"]
    return primary


def diagnosis_json(diagnosis: Diagnosis) -> dict[str, Any]:
    return {"primary": primary_json(diagnosis), "findings": [signal_json(s) for s in diagnosis.signals],
            "lines": diagnosis.lines}


def diagnose_log_file(path: str) -> Diagnosis | None:
    """A build's own log, diagnosed; None when it cannot be read."""
    from kmodtui.core.errors import KmodError

    try:
        return diagnose_sources(read_logs([path]))
    except KmodError:
        return None
