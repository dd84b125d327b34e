"""Frozen facts shared by the whole core. Parsers return these; nothing downstream re-parses text."""

from __future__ import annotations

from typing import NamedTuple

from kmodtui.core.records import record
from kmodtui.core.vocabulary import Status


def crc_hex(crc: int) -> str:
    """CRCs are always shown as lowercase 0x%08x: rpm compares ksym() versions as strings."""
    return f"0x{crc & 0xFFFFFFFF:08x}"


@record
class SymbolNeed:
    """One `__versions` record: a symbol the module needs, with the CRC it was built against."""

    name: str
    crc: int


@record
class Export:
    """A symbol a module (or vmlinux) exports."""

    name: str
    crc: int | None  # None when the module was built without CONFIG_MODVERSIONS
    gpl_only: bool
    namespace: str = ""


@record
class ModuleSignature:
    """The appended signature trailer (`~Module signature appended~`), as modinfo reports it."""

    id_type: str  # "PKCS#7", "X509" or "PGP"
    length: int


@record
class ModuleImage:
    """What a .ko file says about itself."""

    path: str
    name: str
    vermagic: str
    license: str
    depends: tuple[str, ...]
    srcversion: str
    import_ns: tuple[str, ...]
    signature: ModuleSignature | None
    compression: str  # "none", "gzip", "xz" or "zstd"
    elf_class: int  # 32 or 64
    machine: str  # ELF e_machine, uname -m style
    needs: tuple[SymbolNeed, ...]  # __versions records, in file order
    exports: tuple[Export, ...]
    undefined: tuple[str, ...]  # undefined (non-weak) .symtab symbols
    weak_undefined: tuple[str, ...]
    modinfo: tuple[tuple[str, str], ...] = ()

    @property
    def signed(self) -> bool:
        return self.signature is not None


class SymversEntry(NamedTuple):
    """One Module.symvers row (a NamedTuple: a distro symvers has ~25k rows to build quickly)."""

    name: str
    crc: int
    module: str  # "vmlinux", a module path without .ko, or a module name
    export_type: str  # EXPORT_SYMBOL, EXPORT_SYMBOL_GPL, ... ("" in the 3-column layout)
    namespace: str = ""

    @property
    def gpl_only(self) -> bool:
        return self.export_type.endswith("_GPL") or "_GPL_" in self.export_type


@record
class Kernel:
    """A kernel build tree (headers) that modules can be built and checked against."""

    release: str  # 6.1.0-56-amd64
    arch: str  # uname -m style: x86_64, aarch64, ...
    kbuild_arch: str  # ARCH= for make: x86, arm64, ...
    flavor: str  # amd64, cloud-amd64, el7.x86_64, el9.x86_64+debug, host108, "" when none
    build_dir: str
    symvers_path: str | None
    modversions: bool | None  # None: .config not found
    module_sig: bool | None
    module_sig_force: bool | None
    module_compression: str | None  # none, gzip, xz, zstd
    compiler: str  # CONFIG_CC_VERSION_TEXT: what the kernel was built with
    compiler_command: str  # the CC the headers' Makefile will call (gcc-12 on Debian)
    host_compiler: str  # first line of `<compiler_command> --version` here, "" when missing
    origin: str  # "installed", "package:<file>", "root:<dir>", "demo"
    notes: tuple[str, ...] = ()
    # vermagic words after the release that kmodtui can derive from .config (SMP, preempt,
    # mod_unload, modversions); None when there is no .config
    vermagic_flags: tuple[str, ...] | None = None

    @property
    def compiler_matches(self) -> bool:
        """Same compiler and version; the program's name may differ (gcc-14 and
        x86_64-linux-gnu-gcc-14 are one compiler)."""
        if not self.host_compiler:
            return False
        return self.host_compiler == self.compiler or (
            " (" in self.host_compiler and self.host_compiler.split(" (", 1)[1] == self.compiler.split(" (", 1)[-1])


@record
class Dependency:
    """One Provides/Requires/Depends entry: `ksym(dmu_tx_commit) = 0xf6382d3e`, `linux-image-6.1.0-56-amd64`."""

    name: str
    relation: str = ""  # "", "=", "<", "<=", ">", ">=" (deb "<<"/">>" are stored as "<"/">")
    version: str = ""

    def __str__(self) -> str:
        return f"{self.name} {self.relation} {self.version}" if self.relation else self.name

    @property
    def kind(self) -> str:
        """"ksym" or "kernel" (a kernel symbol, its CRC as the version), "file", or "package"."""
        if self.name.startswith(("ksym(", "kernel(")) and self.name.endswith(")"):
            return self.name.split("(", 1)[0]
        return "file" if self.name.startswith("/") else "package"

    @property
    def symbol(self) -> str:
        """The kernel symbol a ksym()/kernel() dependency names ("" for other kinds)."""
        return self.name.split("(", 1)[1][:-1] if self.kind in ("ksym", "kernel") else ""


@record
class PackageInfo:
    """What an .rpm or .deb says about itself, and the kernel modules inside it."""

    path: str
    format: str  # "rpm" or "deb"
    name: str
    version: str
    release: str  # rpm Release; "" for debs (the Debian revision is part of version)
    arch: str
    provides: tuple[Dependency, ...]
    requires: tuple[tuple[Dependency, ...], ...]  # each entry: alternatives (deb `a | b`); rpm: one each
    conflicts: tuple[Dependency, ...]
    files: tuple[str, ...]
    modules: tuple[ModuleImage, ...]  # parsed from the payload; path is "<package file>:<path inside>"
    module_files: tuple[str, ...]  # the modules' paths inside the package, same order as modules

    @property
    def nevra(self) -> str:
        """How rpm names it in messages (`kmod-consumer-1.0-1.x86_64`); for debs `name_version_arch`."""
        if self.format == "rpm":
            return f"{self.name}-{self.version}-{self.release}.{self.arch}"
        return f"{self.name}_{self.version}_{self.arch}"


def is_package_path(path: str) -> bool:
    return path.endswith((".rpm", ".deb"))


# Finding statuses (kmodtui/core/vocabulary.py: their labels and explanations), as plain strings for
# the resolver's hot loops; STATUSES is worst first, for where one (module, symbol) pair has several.
STATUS_UNREADABLE = Status.UNREADABLE.value
STATUS_VERMAGIC = Status.VERMAGIC.value
STATUS_UNSATISFIED = Status.UNSATISFIED.value
STATUS_NOT_PACKAGED = Status.NOT_PACKAGED.value
STATUS_UNKNOWN = Status.UNKNOWN.value
STATUS_CRC = Status.CRC.value
STATUS_NAMESPACE = Status.NAMESPACE.value
STATUS_GPL = Status.GPL.value
STATUS_OK = Status.OK.value
STATUSES = tuple(s.value for s in Status)


@record
class Finding:
    """One verdict: for a (module, symbol) pair, or for a whole module when symbol is ""."""

    module: str  # the module's path (or a package name for package-level findings)
    symbol: str
    status: str
    crc: int | None  # the CRC the module needs
    provided_crc: int | None
    provider: str  # "vmlinux", a module name or path, "" when nothing provides it
    explanation: str
    remedies: tuple[str, ...] = ()
    # For a package dependency: the dependency itself (name, relation, version; .kind, .symbol), so
    # nothing has to split "ksym(name) = 0x..." back apart. None for module findings.
    requirement: Dependency | None = None
    # Which explanation template (resolve/explain.py EXPLANATIONS) `explanation` was written from, and
    # the words filled into it: JSON gives each template once and the fields per finding.
    explanation_id: str = ""
    fields: tuple[tuple[str, str], ...] = ()
