"""What each cause means and what to do about it, in plain words (one text per cause: a diagnosis
of a 100k-line log repeats none of them)."""

from __future__ import annotations

from typing import NamedTuple

from kmodtui.core.vocabulary import Cause, RemedyId


class CauseText(NamedTuple):
    title: str
    explanation: str
    fix: str
    remedies: tuple[str, ...] = ()


CAUSES: dict[Cause, CauseText] = {
    Cause.HEADERS_MISSING: CauseText(
        "no kernel headers for the target kernel",
        "A module is compiled against the build tree (headers) of the exact kernel it will run on; there is none "
        "for the kernel this build targets.",
        "Install the headers of that kernel (Debian/Ubuntu: apt-get install linux-headers-<release>; Fedora/RHEL: "
        "dnf install kernel-devel-<release>; Arch: the linux-headers package matching the kernel), then build again.",
        (RemedyId.INSTALL_HEADERS,)),
    Cause.HEADERS_WRONG_KERNEL: CauseText(
        "built against another kernel's headers",
        "The module was compiled against the headers of one kernel and is meant for (or loaded into) another: "
        "typically the running kernel's headers (`uname -r`) after an update installed a newer kernel, or a "
        "Makefile that ignores the kernel dkms asks for.",
        "Build against the headers of the kernel that will load it: `make -C /lib/modules/<target>/build M=$PWD` "
        "(dkms: use $kernelver, not $(uname -r), in dkms.conf's MAKE), or reboot into the kernel the headers "
        "match, then rebuild.", (RemedyId.REBUILD_FOR_KERNEL,)),
    Cause.HEADERS_INCOMPLETE: CauseText(
        "the kernel headers are incomplete or were built for another machine",
        "The headers lack something kbuild needs to build a module (objtool, scripts/basic/fixdep, modpost, "
        "generated files), or their host tools were compiled for another architecture (headers copied from a "
        "cross-build): kbuild cannot run them.",
        "Reinstall the distribution's headers package for this kernel (it ships the tools built for this "
        "machine), or rebuild the tools in the tree: `make -C /lib/modules/<release>/build scripts prepare` "
        "(objtool: `make tools/objtool`)."),
    Cause.WRONG_ARCH: CauseText(
        "built for another architecture",
        "The module, or the kernel tree it was built against, is for another CPU architecture (ARCH=, "
        "CROSS_COMPILE=) than the kernel that loads it.",
        "Build with the target's ARCH and cross compiler (e.g. ARCH=arm64 CROSS_COMPILE=aarch64-linux-gnu-) "
        "against that architecture's headers."),
    Cause.COMPILER_MISMATCH: CauseText(
        "the compiler is missing or is not the kernel's",
        "Kernel modules must be built with the compiler the kernel was built with (the same gcc major version, or "
        "clang for a clang-built kernel): its flags, plugins and struct layout must match. Here the compiler the "
        "kernel's Makefile asks for is missing, or rejects the kernel's flags.",
        "Install the kernel's compiler (the headers' .config names it in CONFIG_CC_VERSION_TEXT; Debian/Ubuntu: "
        "apt-get install gcc-<N>; for a clang-built kernel: make LLVM=1), then build again."),
    Cause.KERNEL_CONFIG_INVALID: CauseText(
        "the kernel tree is not configured",
        "The build tree has no generated configuration (include/generated/autoconf.h, include/config/auto.conf): "
        "it is a bare source tree, or the headers package is broken.",
        "Use the distribution's headers package for the kernel; for a source tree, copy the kernel's .config "
        "and run `make olddefconfig && make modules_prepare` in it."),
    Cause.KERNEL_API_CHANGE: CauseText(
        "the source does not compile against this kernel's API",
        "The module uses kernel functions, types or headers that this kernel version changed or removed (or does "
        "not have yet): the module's source is too old or too new for this kernel.",
        "Use a release of the module that supports this kernel (check its changelog and issues for this kernel "
        "version), or build for a kernel it supports; dkms.conf's BUILD_EXCLUSIVE_KERNEL can state the range."),
    Cause.WERROR: CauseText(
        "a warning was turned into an error (-Werror)",
        "The module's Makefile builds with -Werror, and this compiler warns about code older compilers accepted.",
        "Build without -Werror (remove it from the module's Makefile/ccflags, or `make ... KCFLAGS=-Wno-error`), "
        "or use a release of the module that fixes the warnings."),
    Cause.OBJTOOL_ERROR: CauseText(
        "objtool rejected the object code",
        "objtool checks the compiled code (stack frames, noreturn calls, retpolines); this kernel's objtool finds "
        "a construct in the module it does not accept, usually a function that never returns without __noreturn.",
        "Use a release of the module that supports this kernel's objtool, or mark the function as the message "
        "says."),
    Cause.BUILD_DEPENDENCY_MISSING: CauseText(
        "a build dependency is not installed",
        "A tool or library the build needs is missing (libelf for ORC/objtool, pahole for BTF, bc, flex/bison, "
        "openssl headers, or an rpmbuild BuildRequires).",
        "Install what the message names (Debian/Ubuntu: libelf-dev, dwarves for pahole, bc, flex, bison, "
        "libssl-dev; Fedora/RHEL: elfutils-libelf-devel, dwarves, bc, ...), then build again."),
    Cause.MODPOST_UNDEFINED: CauseText(
        "modpost: a symbol the module uses is exported by nothing it knows",
        "modpost found no export of the symbol in the kernel's Module.symvers nor in any KBUILD_EXTRA_SYMBOLS. It "
        "comes from another out-of-tree module built separately, or from a kernel option (or compiler feature) "
        "this kernel does not have.",
        "Build the module that exports it first and pass its Module.symvers with KBUILD_EXTRA_SYMBOLS (dkms: "
        "BUILD_DEPENDS); for kernel symbols, enable the option that exports them or use a matching kernel.",
        (RemedyId.KBUILD_EXTRA_SYMBOLS,)),
    Cause.NAMESPACE_NOT_IMPORTED: CauseText(
        "the module uses a namespaced symbol without importing the namespace",
        "The symbol is exported into a namespace; a module must declare MODULE_IMPORT_NS() for each namespace it "
        "uses, or modpost (and the loader) refuses it. Some namespaces (VFS_internal_..., CRYPTO_INTERNAL) are "
        "meant to keep drivers out.",
        "Add MODULE_IMPORT_NS(<namespace>); to the module's source (for the internal namespaces, better: stop "
        "using the symbol).", (RemedyId.IMPORT_NAMESPACE,)),
    Cause.GPL_ONLY_SYMBOL: CauseText(
        "a non-GPL module uses a GPL-only export",
        "EXPORT_SYMBOL_GPL symbols may only be used by modules with a GPL-compatible MODULE_LICENSE.",
        "Use a GPL-compatible license if the module may have one, or stop using the symbol."),
    Cause.CRC_MISMATCH: CauseText(
        "the module was built against another version of a symbol (CRC mismatch)",
        "With MODVERSIONS each imported symbol carries a CRC of its interface; the loaded kernel or module "
        "exports the symbol with another CRC: the module was built against other headers, or another build of "
        "the module it depends on.",
        "Rebuild the module against the exact kernel (and provider module) it is loaded with.",
        (RemedyId.REBUILD_FOR_KERNEL,)),
    Cause.VERMAGIC_MISMATCH: CauseText(
        "built for another kernel configuration (vermagic)",
        "The module's vermagic (kernel release plus SMP, preempt, architecture flags) differs from the running "
        "kernel's, so the loader refuses it before anything else.",
        "Build against the headers of the running kernel, with its configuration and architecture.",
        (RemedyId.REBUILD_FOR_KERNEL,)),
    Cause.UNKNOWN_SYMBOL: CauseText(
        "the module needs a symbol nothing loaded exports",
        "A module it depends on is not loaded (load order), not installed, or was built without that export.",
        "Load (modprobe, not insmod) so dependencies load first; install the module that exports the symbol; "
        "then `depmod -a`."),
    Cause.STALE_MODULE: CauseText(
        "the module installed or loaded was built for another kernel",
        "What the loader got is a build for another kernel release: an old build left behind after a kernel "
        "update, or an update that did not rebuild it.",
        "Rebuild and reinstall the module for the running kernel (dkms: `dkms autoinstall -k $(uname -r)`), "
        "and remove the stale file.", (RemedyId.REBUILD_FOR_KERNEL,)),
    Cause.MODULE_SIGNATURE_REJECTED: CauseText(
        "Secure Boot rejected the module's signature",
        "With Secure Boot (kernel lockdown) only modules signed by a trusted key load; this one is unsigned or "
        "signed with a key the firmware does not know.",
        "Enroll the signing key once (`mokutil --import <cert.der>`, reboot, confirm in MokManager), or sign "
        "the module with an enrolled key; `kmodtui sign` makes and uses a key pair."),
    Cause.MODULE_SIGNATURE_UNSUPPORTED: CauseText(
        "the kernel cannot verify the module's signature: unsupported crypto",
        "The signature uses a hash or key algorithm this kernel cannot use (-ENOPKG), whatever the key: sha1 on a 6.7 "
        "kernel before 6.7.12 or a 6.8 before 6.8.3 (their PKCS#7 code had no sha1: 'crypto: pkcs7 - remove sha1 "
        "support'), or a hash the kernel has no crypto for (not built, or a module not loadable yet). With "
        "signatures enforced (Secure Boot lockdown, module.sig_enforce) the module is refused.",
        "Re-sign it with the kernel's own hash (CONFIG_MODULE_SIG_HASH, e.g. sha512): scripts/sign-file sha512 KEY "
        "CERT module.ko; `modinfo -F sig_hashalgo module.ko` shows the hash it has, and `kmodtui secureboot --module "
        "module.ko` checks it against this kernel."),
    Cause.SIGNING_KEY_MISSING: CauseText(
        "modules were not signed: no signing key or tool",
        "The build could not sign the modules (no MOK key, no sign-file, or the distribution's signing helper is "
        "missing), so they will not load under Secure Boot.",
        "Create and enroll a key (dkms 3 makes /var/lib/dkms/mok.key; `kmodtui sign` makes one too), and "
        "install the signing helper the message names."),
    Cause.KSYM_NOT_PROVIDED: CauseText(
        "rpm: ksym() Requires that nothing Provides",
        "A kmod RPM requires kernel symbols from another out-of-tree module's package as ksym(name) = CRC; the "
        "installed or available provider package does not Provide them with that CRC (packaged without ksym "
        "Provides, e.g. OpenZFS's generic spec, or another build of it).",
        "Rebuild the provider's kmod package with ksym() Provides (the redhat spec, or the generic spec with the "
        "external dependency generator), and build the consumer against that same provider build.",
        (RemedyId.SPEC_EXTERNAL_DEPGEN, RemedyId.AUTOTOOLS_REDHAT_SPEC)),
    Cause.KABI_MISMATCH: CauseText(
        "the kmod package was built for another kernel ABI",
        "The package requires kernel(symbol) = CRC values of a kernel ABI (kABI) that the installed or "
        "available kernel does not have: it was built for another minor release of the distribution.",
        "Use the kmod build for your kernel's release, update/downgrade the kernel to the one the package "
        "targets, or rebuild the package for this kernel (akmod/dkms).", (RemedyId.REBUILD_FOR_KERNEL,)),
    Cause.PACKAGE_DEPENDS_UNMET: CauseText(
        "a package dependency cannot be met",
        "The package manager cannot install the package: a dependency names a package or file nothing "
        "installed or available provides (a guessed kernel package name, a moved file like /sbin/depmod).",
        "Fix the dependency in the package (the real owner of the kernel, the real file path), or install what "
        "provides it.", (RemedyId.DEB_FIX_DEPENDS,)),
    Cause.DKMS_BUILD_FAILED: CauseText(
        "the dkms build failed (the log shows no deeper cause)",
        "dkms (or a kernel package's hook that runs it) reported a failed build, and this log does not contain "
        "the compiler's own output.",
        "Read the make.log dkms names (/var/lib/dkms/<module>/<version>/build/make.log) and run `kmodtui "
        "diagnose` on it."),
    Cause.DKMS_BUILD_EXCLUSIVE: CauseText(
        "dkms skipped the module: BUILD_EXCLUSIVE excludes this kernel",
        "dkms.conf's BUILD_EXCLUSIVE_KERNEL/ARCH/CONFIG says the module is not for this kernel, architecture or "
        "configuration. Not an error of the build: the module's author excluded it.",
        "Nothing, if the module is not needed for this kernel; otherwise use a release of the module that "
        "supports it."),
    Cause.DKMS_VERSION_CONFLICT: CauseText(
        "dkms will not replace a module of the same or a newer version",
        "A module with the same name and an equal or newer version is already in the kernel's tree, so dkms's "
        "version sanity check refuses to install over it.",
        "Nothing if the kernel's own module is enough; otherwise `dkms install --force`, or remove the other "
        "module first."),
    Cause.DKMS_NOT_ADDED: CauseText(
        "dkms does not know this module version",
        "dkms builds and installs only what is in its tree (/var/lib/dkms): this module/version was never added "
        "(the package that ships its source did not run `dkms add`, or it was removed), or the name or version "
        "given differs from the source folder's (/usr/src/<module>-<version>).",
        "`dkms status` lists what dkms knows. Add the source first, `dkms add -m <module> -v <version>` (it reads "
        "/usr/src/<module>-<version>/dkms.conf), then `dkms install -m <module> -v <version> -k <kernel>`; "
        "rebuilding or reinstalling does not clear this."),
    Cause.DKMS_CONF_INVALID: CauseText(
        "dkms refuses the source's dkms.conf",
        "The source folder has no dkms.conf, or dkms finds a directive it requires missing or malformed "
        "(PACKAGE_NAME, PACKAGE_VERSION, BUILT_MODULE_NAME, DEST_MODULE_LOCATION...): it stops before building.",
        "Fix dkms.conf (dkms names the directive on the line above; `kmodtui source DIR` shows what it reads "
        "there), or use the module's packaged dkms source; then `dkms add` again."),
    Cause.DKMS_ALREADY_ADDED: CauseText(
        "dkms already has this module version",
        "`dkms add` refuses a module/version its tree (/var/lib/dkms) already holds: it was added before (a "
        "package's postinst, an earlier run); nothing is wrong with the source.",
        "Nothing to add: build and install it, `dkms install -m <module> -v <version> -k <kernel>`. To replace "
        "its source with a changed one, `dkms remove -m <module> -v <version> --all` first, then `dkms add` "
        "again."),
    Cause.DKMS_NOT_BUILT: CauseText(
        "dkms has not built this module for that kernel",
        "dkms knows the module/version, but has no build of it for the kernel asked (`dkms install` without "
        "a build, mktarball/mkdeb/mkrpm, or an install into a kernel the build was not for).",
        "`dkms status` shows what is built for which kernel; `dkms build -m <module> -v <version> -k <kernel>`, "
        "then the command again (`dkms install` builds first by itself)."),
    Cause.DKMS_USAGE: CauseText(
        "dkms refused its command line",
        "dkms stopped before doing anything: an option or action it does not know (another dkms version's "
        "syntax), two actions or conflicting options, or an action given more or fewer kernels/arches than it "
        "takes.",
        "`dkms --help` and `man dkms` list what the installed dkms takes; the usual forms are `dkms install "
        "-m <module> -v <version> -k <kernel>` and (dkms 2.2 and later) `dkms install <module>/<version> -k "
        "<kernel>`."),
    Cause.PERMISSION_DENIED: CauseText(
        "not allowed: run it as root",
        "The tool must run as root, or cannot write its tree (dkms: /var/lib/dkms, the module tree, the "
        "destination folder).",
        "Run it with sudo (`sudo dkms ...`). If it already ran as root, the folder is on a read-only file system "
        "(an image-based system: see immutable_host) or owned by another user."),
    Cause.DKMS_DEPENDENCY_MISSING: CauseText(
        "a dkms module it depends on is missing",
        "dkms.conf's BUILD_DEPENDS names another dkms module that is not built for this kernel.",
        "Build and install the module it names first (dkms autoinstall builds them in order when both are "
        "added)."),
    Cause.IMMUTABLE_HOST: CauseText(
        "the system is read-only (an image-based or read-only root)",
        "The build or install wrote where this system keeps its files read-only (/usr, /lib/modules, "
        "/var/lib/dkms): image-based systems (Fedora Silverblue/Kinoite and bootc images, SteamOS, NixOS) and "
        "virtual machines whose kernel and modules come from the host (Qubes) do not let dkms or akmods write "
        "there.",
        "It depends on the system: Fedora atomic (rpm-ostree): build the module into the image (a Containerfile "
        "running akmods at image build time, e.g. ublue-os akmods) or `rpm-ostree install` the kmod package; "
        "SteamOS: `sudo steamos-readonly disable`, install the headers for the running kernel "
        "(linux-neptune-<N>-headers), build, then `sudo steamos-readonly enable` (an update undoes it); NixOS: "
        "add the module to boot.extraModulePackages; a VM whose kernel comes from the host: install the module "
        "on the host, or boot a kernel from inside the VM."),
    Cause.SANDBOX_REFUSED: CauseText(
        "the sandbox refused what the build tried",
        "The build runs confined (bubblewrap): the system is read-only, only the build's own folder is writable, "
        "and there is no network. A Makefile, configure or PRE_BUILD that writes elsewhere (/usr, /lib/modules, "
        "/var/lib/dkms, a home) or downloads something is refused.",
        "Make the source write only inside its build folder and fetch what it needs before the build; if you "
        "trust this source as it is, `--no-sandbox` builds it unconfined (said in its log and record)."),
    Cause.TOOL_MISSING: CauseText(
        "a program the build runs is not installed",
        "The build could not start a step: the program it runs is not on this machine.",
        "Install it and build again, or pick another mode."),
    Cause.SOURCE_BUSY: CauseText(
        "another kmodtui is building this source",
        "Two builds of one source at once would overwrite each other's files.",
        "Wait for the other build (kmodtui builds), or stop it (kmodtui builds stop ID)."),
    Cause.NOTHING_BUILT: CauseText(
        "the build made no module",
        "make finished without an error, but no .ko file came out: the Makefile has no obj-m for this "
        "kernel, builds the modules in a subfolder it was not asked to, or skips them on a condition.",
        "Check the source's Kbuild/Makefile (obj-m) and where dkms.conf says the modules are "
        "(BUILT_MODULE_LOCATION); build the way the project's README says."),
    Cause.UNRECOGNISED_FAILURE: CauseText(
        "a failure kmodtui does not recognise",
        "This line records that something failed (make stopped, a tool exited non-zero or printed an error), "
        "but no rule of kmodtui names its cause. The log is not clean: whatever ran after it cannot be trusted.",
        "Read the lines around it (and the make.log dkms names, if any) for the first error; if it is a cause "
        "kmodtui should know, report the line."),
    Cause.HARMLESS: CauseText(
        "harmless notice",
        "A message that looks alarming but does not stop the module from building or loading.",
        "Nothing to do."),
}
