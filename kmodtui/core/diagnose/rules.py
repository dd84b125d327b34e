"""The log rules: one table that the build screen's live scan (kmodtui/core/build/logscan.py) and
`kmodtui diagnose` (engine.py) both read. Adding a rule is one entry here: its id, what the line
means for diagnose (a cause of vocabulary.Cause and a tier, or a `refine` from meanings.py), its
pattern, the words the build screen shows (`words=`; without them, the cause's words from causes.py)
and a real line it reads (`example=`: tests/core/test_logrules.py runs every example through both).

The first rule that matches a cleaned line decides it, so the more specific come first: harmless
notices, kmodtui's own lines, then by tool, and last the lines that only report an earlier failure.
Each rule's needles (text every match holds) are read from its pattern: a line holding none of a
rule's needles never reaches its regex. The tiers are explained in engine.py.
"""

from __future__ import annotations

from kmodtui.core.diagnose import meanings as m
from kmodtui.core.diagnose.rule import (
    HARMLESS,
    ROOT,
    SEVERITY_ERROR,
    SEVERITY_INFO,
    SEVERITY_WARNING,
    WEAK,
    Rule,
    Words,
    after,
    rule,
)
from kmodtui.core.diagnose.rules_install import INSTALL_RULES
from kmodtui.core.vocabulary import Cause as C
from kmodtui.core.vocabulary import LogRule as L
from kmodtui.core.vocabulary import RemedyId

_TOOLS_IN_TREE = r"(?:objtool|fixdep|modpost|genksyms|recordmcount|sign-file|resolve_btfids|sorttable|kallsyms)"
_BUILD_DEPS = r"(?:pahole|bc|flex|bison|perl|openssl|zstd|xz|lz4|cpio|rsync|python3?|kmod|depmod|dtc|awk|gawk)"
_FILE_LINE = r"^(?P<file>\S+?):(?P<line>\d+):\d+: "  # gcc's "file.c:12:5: " before its message
# gcc's kinds of message in the locales it is translated to (its .po files, as gcc 12 prints them: real
# output in tests/core/test_gcc_locales.py); the colon after them is ASCII or, in Chinese, full-width. Each
# is a literal with its colon: the prefilter then looks for "error: ", not for every ": ".
_GCC_ERROR = r"(?:error: |Fehler: |erreur: |错误：|エラー: |ошибка: )"
_GCC_FATAL = r"(?:fatal error: |schwerwiegender Fehler: |erreur fatale: |error fatal: |致命错误：|致命的エラー: |фатальная ошибка: )"
_GCC_WARNING = r"(?:warning: |Warnung: |attention: |aviso: |警告：|警告: |предупреждение: )"

BUILD_RULES: tuple[Rule, ...] = (
    # --- harmless notices first: they must never be read as a cause -----------------------------
    rule("unsigned-module-taint", C.HARMLESS, HARMLESS, r"module verification failed: signature and/or required key missing",
         example="rapiddisk: module verification failed: signature and/or required key missing - tainting kernel"),
    rule("out-of-tree-taint", C.HARMLESS, HARMLESS,
         r"loading out-of-tree module taints kernel|" + after("module license ", " taints kernel"),
         example="rapiddisk: loading out-of-tree module taints kernel."),
    rule(L.BTF_SKIPPED, C.HARMLESS, HARMLESS,
         r"Skipping BTF generation(?: for (?P<module>\S+) due to unavailability of vmlinux)?",
         words=Words(SEVERITY_INFO, "BTF skipped for {module} (harmless)",
                     "Distribution headers ship no vmlinux, so no BTF type info is added to out-of-tree modules.",
                     "Nothing to do: the module works without BTF."),
         example="Skipping BTF generation for /home/alex/test.ko due to unavailability of vmlinux"),
    rule("pahole-differs", C.HARMLESS, HARMLESS,
         r"pahole version differs|^\s*The kernel was built with: \d+$|^\s*You are using: +\d+$",
         example="warning: pahole version differs from the one used to build the kernel"),
    rule("packaging-notice", C.HARMLESS, HARMLESS,
         r"^Deprecated feature:|^ldconfig: |is marked executable|is up to date -- reinstalling",
         example="Deprecated feature: CLEAN (/usr/src/xpad-0.4/dkms.conf)"),
    rule("kmod-notice", C.HARMLESS, HARMLESS,
         after("libkmod: ERROR ", "ignoring bad line") + "|kmod packages excluded due to dependency errors",
         example="/[elrepo]: 90 kmod packages excluded due to dependency errors"),
    rule("depmod-fstatat", C.HARMLESS, HARMLESS, r"depmod: ERROR: fstatat\(\d+, \S+\): No such file or directory",
         example="depmod: ERROR: fstatat(8, nvme-rdma.ko): No such file or directory"),
    rule("dkms-nothing-to-remove", C.HARMLESS, HARMLESS,
         after("Unable to remove module ", "Not found in dkms status output"),
         example="==> Unable to remove module gcadapter-oc-dkms/1.4 for kernel 4.14.215-1-MANJARO: Not found in dkms "
                 "status output."),
    rule("kmodtui-no-signing", C.HARMLESS, HARMLESS, r"kmodtui-no-signing not found",  # dkms mode with --no-sign
         example="Binary /nonexistent/kmodtui-no-signing not found, modules won't be signed"),
    rule(L.KBUILD_COMPILER_DIFFERS, C.HARMLESS, HARMLESS, r"the compiler differs from the one used to build the kernel",
         refine=m.compiler_differs,  # harmless or not is decided by the two lines that follow
         words=Words(SEVERITY_WARNING, "compiler differs from the kernel's",
                     "The module is compiled with another compiler (or version) than the kernel; flags and struct "
                     "layout can differ.",
                     "Install and use the kernel's compiler (CONFIG_CC_VERSION_TEXT in the headers' .config, e.g. "
                     "gcc-12)."),
         example="warning: the compiler differs from the one used to build the kernel"),
    rule("compiler-versions", C.HARMLESS, HARMLESS, r"^\s*(?:The kernel was built by|You are using):\s*+(?P<cc>.*)$",
         refine=m.compiler_version,
         example="warning: the compiler differs from the one used to build the kernel\n"
                 "  The kernel was built by: x86_64-linux-gnu-gcc-12 (Debian 12.2.0-14) 12.2.0\n"
                 "  You are using:           gcc-12 (Debian 12.2.0-14) 12.2.0"),
    # --- kmodtui's own runner --------------------------------------------------------------------
    rule(L.KMODTUI_TOOL_MISSING, C.TOOL_MISSING, ROOT,
         r"^kmodtui: cannot run (?P<tool>\S+): .*?(?:\(install it: (?P<install>[^()]+)\))?$",
         words=Words(SEVERITY_ERROR, "{tool} is not installed",
                     "The build could not start: this mode runs {tool}, and it is not on this machine.",
                     "Install it ({install}) and build again, or pick another mode."),
         example="kmodtui: cannot run dkms: No such file or directory (install it: sudo apt-get install dkms)"),
    rule(L.KMODTUI_BUSY, C.SOURCE_BUSY, ROOT,
         r"^kmodtui: (?>(?P<path>.+?): is in use by another kmodtui)(?: \((?P<holder>[^)]*)\))?",
         words=Words(SEVERITY_ERROR, "another kmodtui is building this source",
                     "Two builds of one source at once would overwrite each other's files, so this one did not start "
                     "({holder}).",
                     "Wait for the other build (kmodtui builds lists it; kmodtui attach follows it), or stop it with "
                     "`kmodtui builds stop ID`, then build again."),
         example="kmodtui: /tmp/src: is in use by another kmodtui (pid 4242, build of /tmp/src, since 12:00:00); wait "
                 "for it, or stop it (`kmodtui builds` lists it, `kmodtui builds stop ID` stops it)"),
    rule("kmodtui-nothing-built", C.NOTHING_BUILT, ROOT,
         r"^kmodtui: the build finished without an error but made no module",
         example="kmodtui: the build finished without an error but made no module: the source's Makefile built "
                 "nothing here (check obj-m, the folder the modules are in, dkms.conf's BUILT_MODULE_LOCATION)"),
    # --- immutable hosts ---------------------------------------------------------------------------
    # in kmodtui's sandbox the system is read-only and there is no network by design: the build reached out
    rule("read-only-file-system", C.IMMUTABLE_HOST, ROOT, r"Read-only file system", refine=m.read_only,
         example="mkdir: cannot create directory ‘/var/lib/dkms’: Read-only file system"),
    rule("sandbox-no-network", C.SANDBOX_REFUSED, ROOT,
         r"Network is unreachable|Temporary failure in name resolution|Could not resolve host", refine=m.in_sandbox,
         example="curl: (6) Could not resolve host: example.org"),
    rule("akmods-no-package-manager", C.IMMUTABLE_HOST, ROOT, r"akmods: line \d+: (?:yum|dnf): command not found",
         example="/usr/sbin/akmods: line 312: yum: command not found"),
    # akmods' own refusals (its source, rpmfusion/akmods: init() and the --kernels check)
    rule("akmods-needs-root", C.PERMISSION_DENIED, ROOT, r"Needs to run as root to be able to install rpms",
         example="Needs to run as root to be able to install rpms."),
    rule("akmods-tool-missing", C.TOOL_MISSING, ROOT, r"^(?:akmodsbuild|rpmdev-vercmp|flock|chown|sed) not found",
         hint="akmods runs akmodsbuild (package akmods) and rpmdev-vercmp (package rpmdevtools): `dnf install akmods "
              "rpmdevtools`.",
         example="rpmdev-vercmp not found"),
    rule("akmods-nothing-to-do", C.HARMLESS, HARMLESS, r"No akmod packages found, nothing to do",
         example="No akmod packages found, nothing to do."),
    # --- headers -----------------------------------------------------------------------------------
    rule(L.DKMS_HEADERS_MISSING, C.HEADERS_MISSING, ROOT, r"kernel headers for kernel (?P<rel>\S+) cannot be found",
         refine=m.headers_missing,
         words=Words(SEVERITY_ERROR, "dkms: no headers for {rel}",
                     "dkms looks for /lib/modules/{rel}/build and it is missing (dkms 3.0.10 exits 1 here; later "
                     "dkms use 21).",
                     "Install linux-headers-{rel} (Debian/Ubuntu) or kernel-devel-{rel} (Fedora/RHEL).",
                     (RemedyId.INSTALL_HEADERS,)),
         example="Error! Your kernel headers for kernel 6.16.8+kali-amd64 cannot be found at "
                 "/lib/modules/6.16.8+kali-amd64/build or /lib/modules/6.16.8+kali-amd64/source."),
    rule("kernel-headers-missing", C.HEADERS_MISSING, ROOT,
         r"Missing kernel headers|Missing \S+ kernel headers for module|[Kk]ernel (?:headers|source|build tree)s? (?:(?:for|of) \S+ )?(?:is |are )?"
         r"(?:not found|missing|not installed)",
         example="==> Unable to install module gcadapter-oc-dkms/1.4 for kernel 4.14.215-1-MANJARO: Missing kernel "
                 "headers."),
    rule("akmods-no-kernel-devel", C.HEADERS_MISSING, ROOT,  # akmods' own words (its source, rpmfusion/akmods)
         r"Files needed for building modules against kernel|Is the correct kernel-devel package installed\?|"
         r"Could not find files needed to compile modules for ",
         example="Files needed for building modules against kernel"),
    rule("dkms-skipped-no-headers", C.HEADERS_MISSING, ROOT,  # dkms's kernel hook did not even try the build
         r"(?:[Mm]odule build|autoinstall|[Ii]nstallation of modules) for (?:kernel (?P<rel>\S+)|the currently running "
         r"kernel) was skipped since the", refine=m.headers_missing,
         example="Module build for kernel 5.13.19-1-pve was skipped since the kernel headers for this kernel does "
                 "not seem to be installed."),
    rule(L.KBUILD_NO_BUILD_DIR, C.HEADERS_MISSING, ROOT,
         # make's "No such file or directory.  Stop." in any language (French: "Aucun fichier ... Arrêt.")
         r"make(?:\[\d+\])?: \*\*\* (?P<dir>/(?:(?>\S*?lib/modules/)(?P<rel>[^/\s]+)/)?\S*) ?: (?:No such file or "
         r"directory|[^:*.。]{3,80})[.。]\s+(?:Stop|Arrêt|Schluss|Alto|Stopp|停止|中止|Останов)[.。]",
         refine=m.missing_build_dir,
         words=Words(SEVERITY_ERROR, "kernel build directory {dir} does not exist",
                     "make -C was pointed at a kernel build tree that is not there: the headers for this kernel are "
                     "not installed.",
                     "Install the headers (Debian/Ubuntu: apt-get install linux-headers-<release>; Fedora/RHEL: "
                     "dnf install kernel-devel-<release>) or choose another kernel.", (RemedyId.INSTALL_HEADERS,)),
         example="make[1]: *** /lib/modules/5.9.11-arch1-1/build: No such file or directory.  Stop."),
    rule("struct-module-size", C.HEADERS_WRONG_KERNEL, ROOT,
         r"this.module section size must match the kernel's built struct module size",
         hint="The module's struct module layout is another kernel's: it was compiled against other headers "
              "(or with another compiler) than the running kernel's.",
         example="module vmmon: .gnu.linkonce.this_module section size must match the kernel's built struct module "
                 "size at run time"),
    rule("version-mismatch", C.HEADERS_WRONG_KERNEL, ROOT, r"Version mismatch: module \S+ \S+, kernel \S+",
         example="Version mismatch: module vmmon-only/vmmon.ko 5.19.0-32-generic, kernel 5.19.0-35-generic"),
    rule(L.LOADER_VERMAGIC, C.HEADERS_WRONG_KERNEL, ROOT, r"version magic '(?P<have>[^']*)' should be '(?P<want>[^']*)'",
         refine=m.vermagic,
         words=Words(SEVERITY_ERROR, "vermagic mismatch: built for '{have}'",
                     "The kernel refuses modules built for another release/options: it expects '{want}'.",
                     "Rebuild the module against this kernel's headers.", (RemedyId.REBUILD_FOR_KERNEL,)),
         example="corefreqk: version magic '5.10.11-200.fc33.x86_64 SMP mod_unload ' should be "
                 "'5.10.12-200.fc33.x86_64 SMP mod_unload '"),
    rule("kbuild-tool-not-found", C.HEADERS_INCOMPLETE, ROOT,
         rf"/bin/sh: \d+: (?>\S*?{_TOOLS_IN_TREE})\S*: (?:not found|Exec format error)",
         example="/bin/sh: 1: ./tools/objtool/objtool: not found"),
    rule("kbuild-tool-foreign", C.HEADERS_INCOMPLETE, ROOT,
         rf"(?<!\S)(?>\S*?{_TOOLS_IN_TREE})\S*: (?:Exec format error|cannot execute binary file)",
         example="/bin/sh: line 1: scripts/basic/fixdep: cannot execute binary file: Exec format error"),
    rule("kbuild-tool-no-rule", C.HEADERS_INCOMPLETE, ROOT, r"No rule to make target [`'](?>[^\s']*?(?:tools/objtool|scripts/))\S*'",
         example="make[2]: *** No rule to make target 'tools/objtool/objtool', needed by 'modules'.  Stop."),
    rule("objtool-missing", C.HEADERS_INCOMPLETE, ROOT, r"tools/objtool/objtool: No such file or directory",
         example="make[2]: /usr/src/linux-headers-5.10.0-8-amd64/tools/objtool/objtool: No such file or directory"),
    rule("kbuild-descend-objtool", C.KERNEL_API_CHANGE, ROOT, r"^\s*DESCEND\s+objtool", hint=m.SUBDIRS_HINT,
         example="  DESCEND  objtool"),
    rule("kernel-config-invalid", C.KERNEL_CONFIG_INVALID, ROOT, r"Kernel configuration is invalid",
         example=" ERROR: Kernel configuration is invalid."),
    # --- compilers and build dependencies ----------------------------------------------------------
    rule("libelf-missing", C.BUILD_DEPENDENCY_MISSING, ROOT,
         r"please install libelf-dev|Cannot generate ORC metadata|Cannot use CONFIG_STACK_VALIDATION=y",
         example='Makefile:938: *** "Cannot generate ORC metadata for CONFIG_ORC_UNWINDER=y, please install '
                 'libelf-dev, libelf-devel or elfutils-libelf-devel".  Stop.'),
    rule("build-tool-not-found", C.BUILD_DEPENDENCY_MISSING, ROOT,
         rf"/bin/(?:ba)?sh: (?:\d+: )?(?:line \d+: )?{_BUILD_DEPS}: (?:not found|command not found)",
         example="/bin/sh: 1: pahole: not found"),
    rule("make-build-tool-missing", C.BUILD_DEPENDENCY_MISSING, ROOT,
         rf"make(?:\[\d+\])?: {_BUILD_DEPS}: (?:No such file or directory|Command not found)",
         example="make[1]: bc: Command not found"),
    rule(L.C_MISSING_HEADER, C.KERNEL_API_CHANGE, WEAK,
         rf"(?:{_FILE_LINE})?(?:fatal error: (?P<header>\S+): No such file|{_GCC_FATAL}(?P<header2>[^\s:：]+\.h) ?[:：] ?"
         r"(?:Datei oder Verzeichnis nicht gefunden|Aucun fichier ou dossier|No existe el (?:fichero|archivo)|没有那个文件|"
         r"そのようなファイル|Нет такого файла))", refine=m.missing_header,
         words=Words(SEVERITY_ERROR, "{file}:{line}: header {header} not found",
                     "The source includes a header this kernel does not have (an API that moved or was removed) or "
                     "one from a missing package.",
                     "Check which kernel version introduced/removed {header}; the module may need a newer release "
                     "for this kernel."),
         example="provider.c:1:10: fatal error: linux/kmodtui_gone.h: No such file or directory"),
    # gcc on a flag only clang has: the kernel was built with clang and the module is compiled with gcc
    rule("clang-kernel-gcc", C.COMPILER_MISMATCH, ROOT,
         r"(?:gcc|cc1|cc)(?:-\d+)?: error: unrecognized (?:command[- ]line option '?(?:-Qunused-arguments|"
         r"-mno-global-merge|-mretpoline-external-thunk|-mllvm|-fsplit-lto-unit|-mstack-alignment=|"
         r"-fexperimental-late-parse-attributes|-improved-fs-discriminator|-fdebug-info-for-profiling)|"
         r"argument to '-fsanitize=' option: '(?:kcfi|array-bounds)')", hint=m.CLANG_HINT,
         example="gcc: error: unrecognized command-line option ‘-Qunused-arguments’"),
    rule("wrong-arch-flag", C.WRONG_ARCH, ROOT,
         r"(?:gcc|cc1|cc)(?:-\d+)?: error: unrecognized (?:command[- ]line )?option \W?(?:-mgeneral-regs-only|"
         r"-mabi=lp64|-mcmodel=kernel|-mno-red-zone|-m64|-march=armv8|-mfloat-abi)",
         hint="The compiler rejects a flag of another CPU architecture: ARCH (or the kernel tree) and the compiler "
              "are for different CPUs.",
         example="gcc: error: unrecognized command line option ‘-mgeneral-regs-only’"),
    rule("configure-no-compiler", C.BUILD_DEPENDENCY_MISSING, ROOT, r"configure: error: C compiler cannot create executables",
         hint="The compiler cannot link a test program: the C library's development files are missing "
              "(Debian/Ubuntu: build-essential / libc6-dev).",
         example="configure: error: C compiler cannot create executables"),
    rule("provider-build-missing", C.DKMS_DEPENDENCY_MISSING, ROOT,
         r"Please make sure the kmod \S+ devel|'--with-(?:spl|zfs)-obj=|Failed to find \S+_config\.h",
         hint="This module is built against another out-of-tree module's build (OpenZFS's spl, Lustre's zfs): "
              "build that one first for the same kernel (dkms autoinstall builds in BUILD_DEPENDS order).",
         example="        *** Please make sure the kmod spl devel <kernel> package for your"),
    rule("configure-error", C.BUILD_DEPENDENCY_MISSING, WEAK,
         r"configure: error: |^!?\s*Error: (?:Can ?not|Could not|Unable to) find ",
         example="configure: error: in `/var/lib/dkms/spl/0.6.5.3/build':"),
    # RHEL/Fedora kmod's weak-modules (its source: the kmod package's weak-modules script)
    rule("weak-modules-incompatible", C.KABI_MISMATCH, ROOT, r"is not compatible\s+with kernel \S+ in symbols:",
         example="Module splat.ko from kernel 3.10.0-327.28.3.el7.x86_64 is not compatible   with kernel "
                 "3.10.0-514.el7.x86_64 in symbols: getrawmonotonic"),
    rule("weak-modules-no-symvers", C.HEADERS_INCOMPLETE, ROOT, r"Symvers dump file (?P<file>\S+) not found",
         hint="weak-modules checks a kmod's symbols against /boot/symvers-<release>.gz, which the kernel package "
              "installs (kernel-core); a kernel installed otherwise has none: `dnf reinstall kernel-core-<release>`, "
              "or for a self-built kernel `gzip -c Module.symvers > /boot/symvers-<release>.gz`.",
         example="Symvers dump file /boot/symvers-4.18.0-348.7.1.el8_5.x86_64.gz not found"),  # quoted in a CentOS build script
    rule("weak-modules-no-dracut", C.TOOL_MISSING, ROOT, r"weak-modules: this tool requires a dracut-enabled kernel",
         hint="weak-modules runs dracut for the initramfs: `dnf install dracut`.",
         example="weak-modules: this tool requires a dracut-enabled kernel"),
    rule(L.COMPILER_MISSING, C.COMPILER_MISMATCH, ROOT,
         r"/bin/(?:ba)?sh: (?:\d+: )?(?P<cc>(?>\S*?(?:gcc|clang|cc|ld\.lld))\S*): (?:not found|command not found)|"
         r"make(?:\[\d+\])?: (?P<cc2>(?>\S*?(?:gcc|clang))\S*): (?:No such file or directory|Command not found)",
         words=Words(SEVERITY_ERROR, "compiler not found", "The compiler the kernel's Makefile asks for is not installed.",
                     "Install it (Debian: apt-get install build-essential gcc-12; Fedora: dnf install gcc)."),
         example="/bin/sh: 1: gcc-13: not found"),
    rule("compiler-rejects-option", C.COMPILER_MISMATCH, ROOT,
         r"(?:gcc|cc1|clang|cc)(?:-\d+)?: error: (?:unrecognized (?:command[- ]line |debug output level )?option|"
         r"unknown argument)",
         example="gcc: error: unrecognized command-line option ‘-ftrivial-auto-var-init=zero’"),
    rule("compiler-plugin-mismatch", C.COMPILER_MISMATCH, ROOT,
         r"incompatible gcc/plugin versions|cannot load plugin|" + after("plugin ", " (?:is not compatible|was built with)"),
         example="cc1: error: incompatible gcc/plugin versions"),
    # --- kbuild / modpost / objtool ------------------------------------------------------------------
    rule(L.MODPOST_UNDEFINED, C.MODPOST_UNDEFINED, ROOT,
         r'(?:ERROR|WARNING): modpost: ["\'](?P<symbol>[^"\']+)["\'] \[(?P<module>[^][]+)\] undefined!',
         words=Words(SEVERITY_ERROR, "modpost: {symbol} is undefined for {module}",
                     "modpost found no export of {symbol}: not in the kernel's Module.symvers and not in any "
                     "Module.symvers given in KBUILD_EXTRA_SYMBOLS. Usually it comes from another out-of-tree module "
                     "built separately.",
                     "Build the module that exports {symbol} first and pass its Module.symvers: "
                     "make ... KBUILD_EXTRA_SYMBOLS=/path/to/that/Module.symvers (for dkms: add it to the MAKE line).",
                     (RemedyId.KBUILD_EXTRA_SYMBOLS,)),
         example='ERROR: modpost: "drm_fbdev_ttm_setup" [/var/lib/dkms/nvidia/560.35.03/build/kernel-open/'
                 'nvidia-drm.ko] undefined!'),
    # modpost: "module M uses symbol S from namespace NS, but does not import it."; the loader (dmesg):
    # "M: module uses symbol (S) from namespace NS, but does not import it."
    rule(L.MODPOST_NAMESPACE, C.NAMESPACE_NOT_IMPORTED, ROOT,
         r"(?:(?<![^\s:])(?P<module2>[^\s:]+): module |module (?P<module>\S+) )?uses symbol \(?(?P<symbol>[^ )]+)\)? from "
         r"namespace (?P<ns>\S+?),? but does not import it",
         words=Words(SEVERITY_ERROR, "{module} uses {symbol} from namespace {ns} without importing it",
                     "The symbol is exported into a namespace; modules must declare each namespace they use.",
                     "Add MODULE_IMPORT_NS({ns}); to the source file that uses {symbol}.", (RemedyId.IMPORT_NAMESPACE,)),
         example="[ 3357.743660] lisa: module uses symbol (filp_open) from namespace "
                 "VFS_internal_I_am_really_a_filesystem_and_am_NOT_a_driver, but does not import it."),
    rule(L.MODPOST_GPL_ONLY, C.GPL_ONLY_SYMBOL, ROOT,
         r"GPL-incompatible module (?P<module>\S+) uses GPL-only symbol '(?P<symbol>[^']+)'",
         words=Words(SEVERITY_ERROR, "non-GPL {module} uses GPL-only {symbol}",
                     "{symbol} is exported with EXPORT_SYMBOL_GPL; only GPL-compatible modules may link to it.",
                     "Only the module's authors can fix this (license or not using the symbol)."),
         example="ERROR: modpost: GPL-incompatible module gdrdrv.ko uses GPL-only symbol 'cc_mkdec'"),
    rule("objtool-error", C.OBJTOOL_ERROR, ROOT, r"(?:error|warning): objtool: ",
         example="spl.o: error: objtool: spl_kmem_cache_destroy+0x23d: spl_panic() missing __noreturn in .c/.h or "
                 "NORETURN() in noreturns.h"),
    rule("kbuild-tools-elsewhere", C.TOOL_MISSING, ROOT, r"kbuild tools \(\S+\) are not on this machine",
         hint="Debian's headers reach kbuild's host tools through linux-kbuild-X.Y, built for that release: build in "
              "a container or chroot of the kernel's own release (kmodtui matrix export does).",
         example="kmodtui: /usr/src/linux-headers-6.12.48+deb13-amd64: its kbuild tools "
                 "(../../lib/linux-kbuild-6.12/scripts) are not on this machine: build it in a container or chroot of "
                 "its own release"),
    # --- the compiler on the module's source ---------------------------------------------------------
    # gcc echoing a bare-name namespace (`130 | MODULE_IMPORT_NS(DMA_BUF);`) under an error: since 6.13
    # namespaces are string literals, and the bare name no longer compiles
    rule("namespace-bare-name", C.KERNEL_API_CHANGE, ROOT,
         r"^\s*\d+\s*\|\s*(?:MODULE_IMPORT_NS|EXPORT_SYMBOL(?:_GPL)?_NS(?:_GPL)?)\((?:\s*\w+\s*,)?\s*"
         r"(?P<ns>[A-Za-z_]\w*)\s*\)",
         hint="Linux 6.13 made symbol namespaces string literals: MODULE_IMPORT_NS(\"NS\") and "
              "EXPORT_SYMBOL_NS(sym, \"NS\"), guarded by LINUX_VERSION_CODE >= KERNEL_VERSION(6, 13, 0) for "
              "older kernels (kmodtui remedy import-namespace --kernel RELEASE writes that form).",
         example="  130 | MODULE_IMPORT_NS(DMA_BUF);"),
    rule(L.C_IMPLICIT_DECLARATION, C.KERNEL_API_CHANGE, ROOT,
         rf"(?:{_FILE_LINE}(?:{_GCC_ERROR}|{_GCC_WARNING}))?(?:implicit (?:declaration of )?function(?: declaration)?"
         r"(?:\s+'\s?(?P<function>[^\s']+)\s?')?|(?:Implizite Deklaration der Funktion|déclaration implicite de la fonction|"
         r"declaración implícita de la función|隐式声明函数|неявная декларация функции) ?'\s?(?P<function2>[^\s']+)\s?'|"
         r"関数 '(?P<function3>[^\s']+)' の暗黙的な宣言)",
         words=Words(SEVERITY_ERROR, "{file}:{line}: {function} is not declared",
                     "The function does not exist in this kernel's headers (renamed or removed) or a header is "
                     "missing.",
                     "Look up when {function} changed; the module needs a version that supports this kernel."),
         example="xpad.c:851:33: error: implicit function declaration  ‘from_timer’"),
    rule("c-api-change", C.KERNEL_API_CHANGE, ROOT,
         r"error: too (?:few|many) arguments to function|has no member named|incompatible pointer type|"
         r"error: unknown type name|undeclared \(first use|nicht deklariert \(erste|non déclaré \(première|"
         r"no se declaró aquí \(primer|未声明\(在此函数内第一次使用|が宣言されていません \(この関数内|не описан \(первое|"
         r"error: conflicting types for|"
         + after("storage size of ", " isn.t known") + "|invalid use of undefined type|"
         + after(r"error: passing argument \d+ of ", " from incompatible") + "|"
         + after("error: variable ", " has initializer but incomplete type"),
         example="api.c:2:48: error: ‘struct kmodtui_dev’ has no member named ‘pdev’"),  # gcc 12, here
    rule("werror", C.WERROR, ROOT, r"all warnings being treated as errors",
         example="cc1: all warnings being treated as errors"),
    rule(L.C_ERROR, C.KERNEL_API_CHANGE, WEAK, rf"{_FILE_LINE}{_GCC_ERROR}(?P<message>.*)",
         words=Words(SEVERITY_ERROR, "{file}:{line}: {message}", "The C compiler stopped on this line.",
                     "Fix the source, or use a module release made for this kernel."),
         example="xpad.c:851:53: error: ‘ghl_poke_timer’ undeclared here (not in a function)"),
    rule(L.MAKE_NO_RULE, C.HEADERS_INCOMPLETE, WEAK, r"(?:No rule to make target|Keine Regel vorhanden, um das Ziel|Aucune règle pour fabriquer la cible|"
         r"No hay ninguna regla para construir el objetivo|没有规则可制作目标|Нет правила для сборки цели) ?['`] ?"
         r"(?P<target>[^\s']+) ?'|ターゲット '(?P<target2>[^\s']+)' を make するルールがありません",
         refine=m.missing_object,
         hint="kbuild found no way to make the module's object: the source file is missing, or (older kernels) the "
              "headers lack tools/objtool/objtool, so the compile rule is dropped silently.",
         words=Words(SEVERITY_ERROR, "make: no rule to make {target}",
                     "A file named in Kbuild/Makefile (obj-m or <module>-objs) does not exist.",
                     "Check obj-m and the object list in the Kbuild file against the source files."),
         example="make[2]: *** No rule to make target `/root/rpmbuild/BUILD/iomemory-vsl-3.2.15.1699/driver_source/"
                 "main.o', needed by `/root/rpmbuild/BUILD/iomemory-vsl-3.2.15.1699/driver_source/iomemory-vsl.o'.  "
                 "Stop."),
)

RULES: tuple[Rule, ...] = BUILD_RULES + INSTALL_RULES
