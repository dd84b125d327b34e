"""The log rules of packaging, installing and loading a module (rpm, yum/dnf, dpkg, apt, dkms, depmod,
the module loader, signing), then the lines that only report an earlier failure: the second half of
the one table (rules.py, whose docstring says how a rule is written)."""

from __future__ import annotations

from kmodtui.core.diagnose import meanings as m
from kmodtui.core.diagnose.rule import (
    FALLBACK,
    HARMLESS,
    KNOCKON,
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
from kmodtui.core.vocabulary import Cause as C
from kmodtui.core.vocabulary import LogRule as L
from kmodtui.core.vocabulary import RemedyId

_KSYM_REMEDIES = (RemedyId.SPEC_EXTERNAL_DEPGEN, RemedyId.AUTOTOOLS_REDHAT_SPEC)

INSTALL_RULES: tuple[Rule, ...] = (
    # --- rpm / yum / dnf ----------------------------------------------------------------------------
    rule(L.YUM_REQUIRES_KSYM, C.KSYM_NOT_PROVIDED, ROOT,
         r"Requires: (?P<dep>ksym\((?P<symbol>[^()]+)\)(?: = (?P<crc>0x[0-9a-fA-F]+))?)",
         words=Words(SEVERITY_ERROR, "yum/dnf: nothing provides {dep}",
                     "The package needs {symbol} with CRC {crc} and no repository or local package Provides it.",
                     "If the module exporting {symbol} is packaged (kmod-zfs...), rebuild that package so it Provides "
                     "ksym(); otherwise install the matching build of it.", _KSYM_REMEDIES),
         example="           Requires: ksym(dmu_tx_commit) = 0xf6382d3e"),
    # NVIDIA's dnf plugin (precompiled kmods for RHEL) holds back a kernel it has no kmod-nvidia for
    rule("nvidia-dnf-plugin-no-kmod", C.PACKAGE_DEPENDS_UNMET, ROOT,
         r"Skipping kernel installation since no kernel module package (?P<package>\S+) for kernel version "
         r"(?P<rel>\S+) and NVIDIA driver",
         hint="NVIDIA's dnf plugin excludes a kernel update until the repository has the precompiled kmod-nvidia "
              "for it (the 'filtered out by exclude filtering' lines): wait for it and update again, or switch to "
              "the driver's dkms stream (`dnf module install nvidia-driver:<version>-dkms`).",
         example="NOTE: Skipping kernel installation since no kernel module package kmod-nvidia-470.57.02-4.18.0-305.17.1 "
                 "for kernel version 4.18.0-305.17.1.el8_4 and NVIDIA driver 470.57.02 could be found"),
    rule("requires-kernel-symbol", C.KABI_MISMATCH, ROOT, r"Requires: kernel\((?P<symbol>[^()]+)\)",
         example="           Requires: kernel(filp_open) = 0x3a4a1b6f"),
    rule("nothing-provides", C.PACKAGE_DEPENDS_UNMET, ROOT,
         r"(?:nothing provides|nichts stellt|rien ne fournit|没有提供) (?P<dep>\S+(?: [<>=]+ \S+)?)", refine=m.is_needed_by,
         example="  - nothing provides /sbin/depmod needed by kmod-zfs-4.18.0-80.el8.x86_64-0.8.0-rc4.el8.x86_64"),
    rule(L.RPM_FAILED_DEPENDENCY, C.KSYM_NOT_PROVIDED, ROOT,
         r"^\s*(?P<dep>(?P<kind>ksym|kernel)\((?P<symbol>[^)]+)\) = (?P<crc>0x[0-9a-fA-F]+)) is needed by "
         r"(?P<package>\S+)", refine=m.is_needed_by,
         words=Words(SEVERITY_ERROR, "{package} needs {dep}",
                     "rpm found no installed or offered package that Provides {dep}. If a kmod package you install "
                     "contains a module exporting {symbol}, it was built without ksym() Provides (e.g. OpenZFS's "
                     "generic spec).",
                     "Rebuild the providing kmod package with %global _use_internal_dependency_generator 0 (or "
                     "--with-spec=redhat); kmodtui resolve on the packages tells which case it is.", _KSYM_REMEDIES),
         example="\tksym(provider_fn) = 0xf96caa5e is needed by kmod-consumer-1.0-1.x86_64"),
    rule(L.RPM_FAILED_OTHER, C.PACKAGE_DEPENDS_UNMET, ROOT,
         r"^\s*(?P<dep>\S+(?: [<>=]+ \S+)?) is needed by (?P<package>\S*)", refine=m.is_needed_by,
         words=Words(SEVERITY_ERROR, "{package} needs {dep}", "No installed or offered package provides it.",
                     "Install the package that provides {dep} (dnf provides '{dep}')."),
         example="\tgcc-c++ is needed by nvidia-kmod-3:590.48.01-1.fc43.x86_64"),
    # --- dpkg / apt -----------------------------------------------------------------------------------
    rule(L.APT_NOT_INSTALLABLE, C.PACKAGE_DEPENDS_UNMET, ROOT,
         r"^\s*(?P<package>\S+) : (?:Pre)?Depends: (?P<dep>.+?) but it is not (?:installable|going to be installed)",
         words=Words(SEVERITY_ERROR, "apt: {package} depends on {dep}, which no repository has",
                     "Nothing in the archive or on the machine is or provides {dep}.",
                     "Fix the Depends (kmodtui resolve names the package that owns the kernel), or add a shim "
                     "package.", (RemedyId.DEB_FIX_DEPENDS,)),
         example=" linux-headers-5.0.5-050005-generic : Depends: libssl1.1 (>= 1.1.0) but it is not installable"),
    rule("apt-unmet", C.PACKAGE_DEPENDS_UNMET, ROOT,
         r"but it is not (?:installable|going to be installed)|Unmet dependencies|has no installation candidate",
         example="E: Unmet dependencies. Try 'apt --fix-broken install' with no packages (or specify a solution)."),
    rule("dpkg-package-not-installed", C.PACKAGE_DEPENDS_UNMET, ROOT, r"^\s*Package \S+ is not installed\.",
         example="  Package linux-image-6.1.0-99-custom is not installed."),
    # --- dkms -------------------------------------------------------------------------------------------
    rule(L.DKMS_BUILD_EXCLUSIVE, C.DKMS_BUILD_EXCLUSIVE, ROOT,
         r"BUILD_EXCLUSIVE directive which|does not match this kernel/arch|"
         r"BUILD_EXCLUSIVE_(?:KERNEL|ARCH|CONFIG)", refine=m.build_exclusive,
         words=Words(SEVERITY_WARNING, "dkms skipped the module (BUILD_EXCLUSIVE)",
                     "dkms.conf limits which kernels/arches/configs the module builds for (dkms exit code 77); this "
                     "one is excluded.",
                     "Check BUILD_EXCLUSIVE_KERNEL/ARCH/CONFIG in dkms.conf, or pick a kernel it allows."),
         example="Error! The /var/lib/dkms/r8169/4/6.2.0-20-generic/x86_64/dkms.conf for module r8169 includes a "
                 "BUILD_EXCLUSIVE directive which does not match this kernel/arch/config."),
    rule("dkms-version-conflict", C.DKMS_VERSION_CONFLICT, ROOT,
         r"exactly matches what is already found in kernel|is not newer than|DKMS will not replace this module",
         example="exactly matches what is already found in kernel 6.1.7-arch1-1."),
    # dkms's own refusals, in the words of dkms 2.x and 3.x (its die/error calls: "Error! ..." in both; every
    # one of its history is in tests/logs/dkms-messages.tsv)
    rule("dkms-already-added", C.DKMS_ALREADY_ADDED, ROOT,
         r"DKMS tree already contains|" + after("Error! ", " is already added!"),
         example="Error! DKMS tree already contains: zfs-2.1.11"),
    rule("dkms-usage", C.DKMS_USAGE, ROOT,
         r"Error! (?:Unknown option|Unknown action specified|Cannot specify more than one action|No action was specified|"
         r"You have specified both --binaries-only|If more than one arch is specified|You cannot specify (?:a kernel version|"
         r"an arch) and also|Invalid number of (?:parameters|arguments) passed|Invalid distro argument|The templatekernel "
         r"and the specified kernel version are the same|You have specified a Red Hat version 1 driver disk)|"
         r"Error! The action \S+ (?:does not support (?:the --all|multiple kernel version)|requires exactly one kernel)",
         example="Error! Unknown action specified: \"instal\""),
    rule("permission-denied", C.PERMISSION_DENIED, ROOT, r"Error! You must be root to use this command",
         example="Error! You must be root to use this command."),
    rule("dkms-no-write-access", C.PERMISSION_DENIED, WEAK,  # not root, or a read-only tree (refine decides)
         r"Error! (?:No write access to (?:create a )?DKMS tree at|Missing write permissions for|"
         r"Will not be able to create \S+ due to a permissions problem)", refine=m.no_write_access,
         example="Error! No write access to DKMS tree at /var/lib/dkms"),
    rule("dkms-not-built", C.DKMS_NOT_BUILT, ROOT,
         r"Error! (?:No modules built for \S+ \(|You do not seem to have \S+ \S+ built for)",
         example="Error! No modules built for 6.1.0-13-amd64 (x86_64)."),
    rule("dkms-packaging-tool-missing", C.TOOL_MISSING, ROOT,
         r"Error! (?:rpmbuild|dpkg-deb) not present|Error! Cannot find \S+ which is needed by DKMS in order",
         hint="dkms's mkrpm/mkkmp need rpmbuild (`dnf install rpm-build`, Debian `apt-get install rpm`), mkdeb and "
              "mkbmdeb need dpkg-deb (`apt-get install dpkg-dev`).",
         example="Error! rpmbuild not present."),
    rule("dkms-directive-removed", C.DKMS_CONF_INVALID, ROOT,
         r"Error! (?:MODULES_CONF\w*|REMAKE_INITRD) has been deprecated",
         example="Error! REMAKE_INITRD has been deprecated."),
    rule("dkms-notice", C.HARMLESS, HARMLESS,  # dkms exits 0 after these: nothing failed
         r"Remove cancelled because --rpm_safe_upgrade scenario detected|"
         r"^Warning: (?:MODULES_CONF\w*|REMAKE_INITRD) has been deprecated",
         example="Warning: Remove cancelled because --rpm_safe_upgrade scenario detected."),
    # dkms built, but the module dkms.conf names is not there (make failed quietly or built it elsewhere)
    rule("dkms-built-module-missing", C.NOTHING_BUILT, WEAK, r"Build of \S+ failed for: |Error! Missing module '?\S+ in ",
         example="Error!  Build of p_lkrg.ko failed for: 5.18.12-hardened1-1-hardened (x86_64)"),
    rule("dkms-not-added", C.DKMS_NOT_ADDED, ROOT,
         r"is not located in the DKMS tree|DKMS tree does not contain: |There are no instances of module: |There is no instance of |"
         r"is broken! Missing the source directory|: Missing the module source directory|"
         r"Could not find module source directory|Arguments <module> and <module-version> are not specified|"
         r"is not currently installed\.|Could not locate \S+ for module \S+ in the DKMS tree",
         example="Error! Could not find module source directory."),
    rule("dkms-conf-invalid", C.DKMS_CONF_INVALID, ROOT,
         r"Error! Bad conf file|does not represent a valid dkms\.conf file|Could not locate dkms\.conf file|"
         r"No valid dkms\.conf in |Malformed dkms\.conf file|dkms\.conf: Error! |"
         r"Tarball does not appear to be a correctly formed|must contain a dkms\.conf file",
         example="dkms.conf: Error! No 'PACKAGE_VERSION' directive specified."),
    rule("dkms-missing-dependency", C.DKMS_DEPENDENCY_MISSING, ROOT,
         r"failed due to missing dependencies|" + after("BUILD_DEPENDS ", " not (?:found|built)")
         + r"|due to missing BUILD_DEPENDS|despite of missing BUILD_DEPENDS",
         example="nvidia-fs/2.26.6 autoinstall failed due to missing dependencies: nvidia."),
    rule("dkms-dependency-tree-missing", C.DKMS_DEPENDENCY_MISSING, ROOT,
         r"^find: '/var/lib/dkms/(?P<dependency>[^/']+)': No such file or directory",
         hint="The module's dkms.conf builds against another dkms module's tree (west-chamber against "
              "xtables-addons): install and build that one with dkms first.",
         example="find: '/var/lib/dkms/xtables-addons': No such file or directory"),
    # --- the module loader (dmesg, journal, modprobe/insmod) and depmod ---------------------------------
    rule(L.DEPMOD_DISAGREES, C.CRC_MISMATCH, ROOT,
         r"(?:(?<!\S)(?P<module>\S+?):? )?disagrees about version of symbol (?P<symbol>\S+)",  # the loader: "M: disagrees"
         words=Words(SEVERITY_ERROR, "{module} disagrees about the version (CRC) of {symbol}",
                     "The module was built against another version of {symbol}'s interface (another kernel or "
                     "provider build).",
                     "Rebuild the module against the kernel/provider it will run with.", (RemedyId.REBUILD_FOR_KERNEL,)),
         example="ec_master: disagrees about version of symbol module_layout"),
    rule(L.LOADER_UNKNOWN_SYMBOL, C.UNKNOWN_SYMBOL, ROOT, r"Unknown symbol (?P<symbol>\S+) \(err(?: (?P<err>-?\d+)\))?",
         words=Words(SEVERITY_ERROR, "the loader cannot resolve {symbol} (err {err})",
                     "No loaded module or the kernel exports {symbol} (err -2), or its CRC differs (err -22).",
                     "Load the module that provides it first (modprobe resolves this from modules.dep), or rebuild.",
                     (RemedyId.KBUILD_EXTRA_SYMBOLS,)),
         example="lisa: Unknown symbol filp_open (err -22)"),
    rule(L.DEPMOD_UNKNOWN_SYMBOL, C.UNKNOWN_SYMBOL, ROOT,
         r"(?:depmod: WARNING: (?P<module>\S+) )?needs unknown symbol (?P<symbol>\S+)",
         words=Words(SEVERITY_ERROR, "depmod: {symbol} needed by {module} is provided by nothing",
                     "No installed module or the kernel exports {symbol}: the module will not load.",
                     "Install the module that exports it, or rebuild against this kernel.",
                     (RemedyId.KBUILD_EXTRA_SYMBOLS,)),
         example="depmod: WARNING: /lib/modules/3.10.0-1160.el7.x86_64/extra/lustre-osd-zfs/osd_zfs.ko needs unknown "
                 "symbol zrl_add"),
    rule("unknown-symbol-in-module", C.UNKNOWN_SYMBOL, ROOT, r"unknown symbol in module",
         example="insmod: can't insert '/lib/modules/4.4.12-boot2docker/kernel/net/ipv6/netfilter/ip6table_filter.ko'"
                 ": unknown symbol in module, or unknown parameter"),  # busybox
    # the kernel's own line when a signature's algorithm is one it cannot use (-ENOPKG; kernel/module/signing.c
    # prints "Loading of %s is rejected" with "module with unsupported crypto"; the PKCS#7 parser's printk is
    # "Unsupported digest algo: %u"): the example is the line that format makes, no public capture was found
    rule("loader-unsupported-crypto", C.MODULE_SIGNATURE_UNSUPPORTED, ROOT,
         r"Loading of module with unsupported crypto is rejected|Unsupported digest algo: \d+",
         example="Loading of module with unsupported crypto is rejected"),
    rule(L.LOADER_KEY_REJECTED, C.MODULE_SIGNATURE_REJECTED, ROOT, r"Key was rejected by service|Required key not available",
         words=Words(SEVERITY_ERROR, "module signature rejected (Secure Boot)",
                     "With Secure Boot, the kernel only loads modules signed by a trusted key; this one is unsigned or "
                     "signed by an unknown key.",
                     "Sign the module (scripts/sign-file with your key) and enroll the key: mokutil --import key.der, "
                     "then reboot."),
         example="Failed to insert module 'gasket': Key was rejected by service"),
    rule("invalid-module-format", C.STALE_MODULE, WEAK, r"Invalid module format|could not insert '[^']+': Exec format error",
         hint="Ambiguous on its own: a stale module, a vermagic or symbol-CRC mismatch, a rejected signature or "
              "another architecture all print it. `dmesg | tail` right after the load shows the kernel's reason "
              "(give that to kmodtui diagnose too).",
         example="insmod: ERROR: could not insert module master/ec_master.ko: Invalid module format"),
    # --- signing -------------------------------------------------------------------------------------
    rule("modules-not-signed", C.SIGNING_KEY_MISSING, WEAK,
         r"modules won't be signed|Can't read X509 certificate|Failed to sign module|" + after("sign-file: ", "(?:No such file|[Ee]rror)")
         + "|" + after("signing key ", " (?:not found|missing)"),
         example="Binary update-secureboot-policy not found, modules won't be signed"),
    # --- what only says that something failed, and make's and the package managers' knock-on lines ---
    rule(L.DKMS_BUILD_FAILED, C.DKMS_BUILD_FAILED, FALLBACK,
         r"Error! Bad return status for module build on kernel: (?P<release>\S+) \((?P<arch>[^()]+)\)",
         words=Words(SEVERITY_ERROR, "dkms: the module build failed for {release} ({arch})",
                     "make returned an error inside dkms (dkms exit code 10); the real error is in make.log.",
                     "Open make.log (its path follows) and look for the first 'error:' line."),
         example="Error! Bad return status for module build on kernel: 6.16.0-3-MANJARO (x86_64)"),
    rule("build-failed", C.DKMS_BUILD_FAILED, FALLBACK,
         r"Bad return status for module build|Building module\(s\)\.\.\.\(bad exit status|"
         + after("Building DKMS module ", " FAILED") + "|" + after("DKMS module ", " failed to build")
         + r"|post-installation|Building and installing \S+ \[FAILED\]",
         example="Building module(s)...(bad exit status: 2)"),
    rule(L.DKMS_MAKE_LOG, C.DKMS_BUILD_FAILED, KNOCKON, r"^Consult (?:(?P<log>\S+make\.log) for more information|.*make\.log)",
         words=Words(SEVERITY_INFO, "dkms kept the build log: {log}",
                     "dkms writes the compiler's output there, not to the terminal.",
                     "kmodtui shows it: look for the first error in it."),
         example="Consult /var/lib/dkms/kmodtui-provider/1.0/build/make.log for more information."),
    rule(L.RPMBUILD_BAD_EXIT, C.DKMS_BUILD_FAILED, KNOCKON,
         r"Bad exit status from (?P<script>\S+)(?: \((?P<section>%\w+)\))?",
         words=Words(SEVERITY_ERROR, "rpmbuild: the spec's {section} section failed",
                     "A command in {section} exited with an error; the lines above show which.",
                     "Fix the spec or the build it runs."),
         example="error: Bad exit status from /var/tmp/rpm-tmp.k8Ixr6 (%build)"),
    rule(L.DPKG_DEPENDENCY_PROBLEMS, C.DKMS_BUILD_FAILED, KNOCKON,
         r"dependency problems(?: prevent configuration of (?P<package>[^:\s]+):)?",
         words=Words(SEVERITY_ERROR, "dpkg left {package} unconfigured", "A Depends of {package} is not installed.",
                     "See the 'depends on' line below; kmodtui resolve on the .deb names the real package.",
                     (RemedyId.DEB_FIX_DEPENDS,)),
         example="dpkg: dependency problems prevent configuration of zfs-modules-6.1.0-99-custom:"),
    rule(L.DPKG_DEPENDS_ON, C.DKMS_BUILD_FAILED, KNOCKON, r"(?:^\s*(?P<package>\S+) depends on (?P<dep>[^;]+))?; however:",
         words=Words(SEVERITY_ERROR, "{package} depends on {dep}, which is not installed",
                     "No installed package has that name or Provides it. For linux-image-<release>: the kernel may be "
                     "installed under another package name (custom kernels, -unsigned images).",
                     "Rewrite the .deb's Depends to the real kernel package, or install a shim that Provides {dep}.",
                     (RemedyId.DEB_FIX_DEPENDS,)),
         example=" zfs-modules-6.1.0-99-custom depends on linux-image-6.1.0-99-custom; however:"),
    rule("knock-on", C.DKMS_BUILD_FAILED, KNOCKON,
         after(r"make(?:\[\d+\])?: \*\*\* ", r"Error \d+") + "|" + after("recipe for target ", " failed") + "|"
         r"dpkg: (?:error|Fehler|erreur)|Errors were encountered|Fehler traten auf|^E: Sub-process|"
         r"Abhängigkeitsprobleme|One or more modules failed|Automatically uninstalling this module|Refer to previous errors|A failure occurred in|"
         r"returned error exit status|Building rpms failed|Could not install newly built|^\s*\[FAILED\]|"
         r"Waiting for unfinished jobs|\*\*\* Deleting file|Installation aborted|error: Running %post|"
         r"is not configured yet|ist noch nicht konfiguriert|; aber:|none of the providers can be installed|"
         r"conflicting requests|widersprüchliche Anforderungen|^Error! |ERROR: Cannot create report|Failed command:|"
         r"dkms kernel_pre(?:inst|rm) for kernel",
         example="make[2]: *** [Makefile:10: all] Error 2"),
)
