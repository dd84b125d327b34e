"""kmodtui's words, each once: the statuses a finding can have, the remedy ids, the log rule ids,
with the short label and the plain-words explanation the screens and reports show beside them.

They are StrEnums, so a member is its string: JSON, the result cache and comparisons with the
plain strings that reach the core from files and command lines all see the same value. The hot
paths (the resolver's rows, ~67k on a distro tree) keep plain strings (`Status.OK.value`), as
an enum member's hash is a Python-level call; the enum is where the words live.
"""

from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    """What a finding says about one (module, symbol) pair, a module, or a package dependency."""

    UNREADABLE = "unreadable"
    VERMAGIC = "vermagic_mismatch"
    UNSATISFIED = "unsatisfied_requires"
    NOT_PACKAGED = "not_packaged"
    UNKNOWN = "unknown_symbol"
    CRC = "crc_mismatch"
    NAMESPACE = "namespace_not_imported"
    GPL = "gpl_only"
    OK = "ok"

    @property
    def label(self) -> str:
        """The short label of a table column (8 characters at most)."""
        return _LABELS[self]

    @property
    def concept(self) -> str:
        """What the idea behind this status means, for a newcomer."""
        return _CONCEPTS[self]


_LABELS = {
    Status.OK: "ok", Status.UNKNOWN: "UNKNOWN", Status.CRC: "CRC", Status.NAMESPACE: "NS", Status.GPL: "GPL",
    Status.VERMAGIC: "VERMAGIC", Status.UNREADABLE: "UNREAD", Status.NOT_PACKAGED: "NOTPKG",
    Status.UNSATISFIED: "UNSAT",
}
_CONCEPTS = {
    Status.OK: "",
    Status.CRC: "A CRC is a checksum of a symbol's prototype and the types it uses, recorded when the module is "
                "built (MODVERSIONS). Different CRCs = a different interface.",
    Status.UNKNOWN: "The module calls a function no loaded code exports. Another module must be loaded first "
                    "(its package installed), or the module was built for another kernel.",
    Status.NAMESPACE: "Symbol namespaces group exports; a module must declare each namespace it uses.",
    Status.GPL: "EXPORT_SYMBOL_GPL exports may only be used by modules with a GPL-compatible license.",
    Status.VERMAGIC: "vermagic is the kernel release and options a module was built for; the loader compares it "
                     "before anything else.",
    Status.UNREADABLE: "",
    Status.NOT_PACKAGED: "A kmod package announces the kernel symbols its modules export as 'Provides: ksym(name) "
                         "= CRC'; rpm checks other packages' 'Requires: ksym(...)' against them.",
    Status.UNSATISFIED: "The package manager checks every dependency before installing; one names something no "
                        "installed package is or provides.",
}


class RemedyId(StrEnum):
    """The remedies of the catalogue (kmodtui/core/remedies/catalogue.py) findings may name."""

    SPEC_EXTERNAL_DEPGEN = "spec-external-depgen"
    AUTOTOOLS_REDHAT_SPEC = "autotools-redhat-spec"
    REDHAT_KERNEL_VERSION = "redhat-kernel-version"
    DROP_KSYM_REQUIRES = "drop-ksym-requires"
    KBUILD_EXTRA_SYMBOLS = "kbuild-extra-symbols"
    IMPORT_NAMESPACE = "import-namespace"
    REBUILD_FOR_KERNEL = "rebuild-for-kernel"
    DEB_FIX_DEPENDS = "deb-fix-depends"
    INSTALL_HEADERS = "install-headers"
    KERNEL_COMPAT = "kernel-compat"  # a kernel API rename (diagnose's api_change), rewritten with a version guard
    PICK_MATCHING_KERNEL = "pick-matching-kernel"  # an alias of rebuild-for-kernel


class LogRule(StrEnum):
    """Ids of log rules that other code names (the remedies catalogue keys on them), by the tool whose
    output they read. Every rule, these and the others, is one entry of kmodtui/core/diagnose/rules*.py."""

    MODPOST_UNDEFINED = "modpost-undefined"
    MODPOST_NAMESPACE = "modpost-namespace"
    MODPOST_GPL_ONLY = "modpost-gpl-only"
    KBUILD_NO_BUILD_DIR = "kbuild-no-build-dir"
    KBUILD_COMPILER_DIFFERS = "kbuild-compiler-differs"
    DKMS_HEADERS_MISSING = "dkms-headers-missing"
    DKMS_BUILD_FAILED = "dkms-build-failed"
    DKMS_MAKE_LOG = "dkms-make-log"
    DKMS_BUILD_EXCLUSIVE = "dkms-build-exclusive"
    COMPILER_MISSING = "compiler-missing"
    C_MISSING_HEADER = "c-missing-header"
    C_IMPLICIT_DECLARATION = "c-implicit-declaration"
    C_ERROR = "c-error"
    MAKE_NO_RULE = "make-no-rule"
    BTF_SKIPPED = "btf-skipped"
    RPM_FAILED_DEPENDENCY = "rpm-failed-dependency"
    RPM_FAILED_OTHER = "rpm-failed-other"
    YUM_REQUIRES_KSYM = "yum-requires-ksym"
    RPMBUILD_BAD_EXIT = "rpmbuild-bad-exit"
    DPKG_DEPENDENCY_PROBLEMS = "dpkg-dependency-problems"
    DPKG_DEPENDS_ON = "dpkg-depends-on"
    APT_NOT_INSTALLABLE = "apt-not-installable"
    DEPMOD_UNKNOWN_SYMBOL = "depmod-unknown-symbol"
    DEPMOD_DISAGREES = "depmod-disagrees"
    LOADER_VERMAGIC = "loader-vermagic"
    LOADER_UNKNOWN_SYMBOL = "loader-unknown-symbol"
    LOADER_KEY_REJECTED = "loader-key-rejected"
    KMODTUI_TOOL_MISSING = "kmodtui-tool-missing"  # the runner could not start a build step's program
    KMODTUI_BUSY = "kmodtui-busy"  # another kmodtui holds the source's lock


class Cause(StrEnum):
    """The root causes `kmodtui diagnose` names for a log (kmodtui/core/diagnose/): a published,
    stable vocabulary (README, "Causes"); new members may be added, none renamed or removed."""

    HEADERS_MISSING = "headers_missing"
    HEADERS_WRONG_KERNEL = "headers_wrong_kernel"
    HEADERS_INCOMPLETE = "headers_incomplete"
    WRONG_ARCH = "wrong_arch"
    COMPILER_MISMATCH = "compiler_mismatch"
    KERNEL_CONFIG_INVALID = "kernel_config_invalid"
    KERNEL_API_CHANGE = "kernel_api_change"
    WERROR = "werror"
    OBJTOOL_ERROR = "objtool_error"
    BUILD_DEPENDENCY_MISSING = "build_dependency_missing"
    MODPOST_UNDEFINED = "modpost_undefined"
    NAMESPACE_NOT_IMPORTED = "namespace_not_imported"
    GPL_ONLY_SYMBOL = "gpl_only_symbol"
    CRC_MISMATCH = "crc_mismatch"
    VERMAGIC_MISMATCH = "vermagic_mismatch"
    UNKNOWN_SYMBOL = "unknown_symbol"
    STALE_MODULE = "stale_module"
    MODULE_SIGNATURE_REJECTED = "module_signature_rejected"
    MODULE_SIGNATURE_UNSUPPORTED = "module_signature_unsupported"
    SIGNING_KEY_MISSING = "signing_key_missing"
    KSYM_NOT_PROVIDED = "ksym_not_provided"
    KABI_MISMATCH = "kabi_mismatch"
    PACKAGE_DEPENDS_UNMET = "package_depends_unmet"
    DKMS_BUILD_FAILED = "dkms_build_failed"
    DKMS_BUILD_EXCLUSIVE = "dkms_build_exclusive"
    DKMS_VERSION_CONFLICT = "dkms_version_conflict"
    DKMS_DEPENDENCY_MISSING = "dkms_dependency_missing"
    DKMS_NOT_ADDED = "dkms_not_added"  # dkms's tree has no such module/version: it was never added (or removed)
    DKMS_CONF_INVALID = "dkms_conf_invalid"  # the source's dkms.conf is missing or dkms refuses it
    DKMS_ALREADY_ADDED = "dkms_already_added"  # `dkms add` of a module/version dkms's tree already has
    DKMS_NOT_BUILT = "dkms_not_built"  # dkms has the module but not built for that kernel (install, mkdeb...)
    DKMS_USAGE = "dkms_usage"  # dkms refused its command line (unknown option or action, conflicting options)
    PERMISSION_DENIED = "permission_denied"  # the tool must run as root, or cannot write its tree
    IMMUTABLE_HOST = "immutable_host"
    SANDBOX_REFUSED = "sandbox_refused"  # a confined build reached outside its folder or for the network
    TOOL_MISSING = "tool_missing"  # a program a step runs is not installed (dkms, rpmbuild, ...)
    SOURCE_BUSY = "source_busy"  # another kmodtui is building the same source
    NOTHING_BUILT = "nothing_built"  # the build exited 0 and made no module
    UNRECOGNISED_FAILURE = "unrecognised_failure"  # a line records a failure no rule names a cause for
    HARMLESS = "harmless"


class CellSkip(StrEnum):
    """Why `kmodtui matrix plan` does not build a cell (its `cause`; schema/matrix.json lists them):
    the source declares the kernel out of its range, the source has no such build, or the cell asks
    for another arch than its kernel's headers build for (refused: the build could only fail)."""

    OUT_OF_RANGE = "out_of_range"
    MODE_NOT_OFFERED = "mode_not_offered"
    WRONG_ARCH = "wrong_arch"  # the word diagnose gives a build made for another arch (Cause.WRONG_ARCH)
