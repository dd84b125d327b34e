"""Check a set of packages the way rpm and dpkg will: every Requires/Depends against the others'
Provides (rpm) or the installed packages (dpkg), explaining ksym() failures by what the modules
inside the packages actually export.
"""

from __future__ import annotations

import glob
import os
import re
from dataclasses import dataclass, field

from kmodtui.core.errors import KmodError
from kmodtui.core.model import (
    STATUS_CRC,
    STATUS_NOT_PACKAGED,
    STATUS_OK,
    STATUS_UNKNOWN,
    STATUS_UNSATISFIED,
    Dependency,
    Finding,
    PackageInfo,
    crc_hex,
)
from kmodtui.core.packages.rpmvercmp import rpm_satisfies, rpmvercmp
from kmodtui.core.symvers.parse import Symvers
from kmodtui.core.vocabulary import RemedyId

KSYM_DEP = re.compile(r"^(ksym|kernel)\((.+)\)$")
_PACKAGE_NAME = re.compile(r"^[a-z0-9][a-z0-9+.-]+$")

REMEDY_SPEC_EXTERNAL = RemedyId.SPEC_EXTERNAL_DEPGEN
REMEDY_AUTOTOOLS_REDHAT = RemedyId.AUTOTOOLS_REDHAT_SPEC
REMEDY_DEB_DEPENDS = RemedyId.DEB_FIX_DEPENDS
REMEDY_REBUILD = RemedyId.REBUILD_FOR_KERNEL


# ---- installed Debian packages ---------------------------------------------------------------

@dataclass
class InstalledPackage:
    name: str
    version: str
    provides: tuple[Dependency, ...] = ()
    files: tuple[str, ...] = ()


@dataclass
class InstalledDb:
    source: str
    packages: dict[str, InstalledPackage] = field(default_factory=dict)

    def owner_of(self, path: str) -> str | None:
        for package in self.packages.values():
            if path in package.files:
                return package.name
        return None


def read_installed(path: str) -> InstalledDb:
    """A dpkg status file (with its info/*.list beside it when present), a dpkg admin dir, or the
    output of `dpkg -l`."""
    from kmodtui.core.packages.read import parse_deb_relations

    status = os.path.join(path, "status") if os.path.isdir(path) else path
    try:
        with open(status, encoding="utf-8", errors="replace") as f:
            text = f.read()
    except OSError as err:
        raise KmodError(path, err.strerror or str(err)) from None
    db = InstalledDb(status)
    if re.search(r"^ii\s", text, re.M) and "Package:" not in text:
        for line in text.splitlines():  # dpkg -l: "ii  name[:arch]  version  arch  description"
            parts = line.split()
            if len(parts) >= 3 and parts[0] == "ii":
                name = parts[1].split(":")[0]
                db.packages[name] = InstalledPackage(name, parts[2])
        return db
    from debian.deb822 import Deb822

    info_dir = os.path.join(os.path.dirname(status), "info")
    for paragraph in Deb822.iter_paragraphs(text.splitlines()):
        name = paragraph.get("Package") or ""
        if not name or not paragraph.get("Status", "").endswith(" installed"):
            continue
        if not _PACKAGE_NAME.match(name):  # Debian policy 5.6.1; also keeps odd bytes out of paths
            continue
        provides = tuple(alt for group in parse_deb_relations(paragraph.get("Provides", "")) for alt in group)
        files: tuple[str, ...] = ()
        escaped = glob.escape(name)
        for candidate in glob.glob(os.path.join(info_dir, f"{escaped}.list")) + glob.glob(os.path.join(info_dir, f"{escaped}:*.list")):
            try:
                with open(candidate, encoding="utf-8", errors="replace") as f:
                    files = tuple(line.rstrip("\n") for line in f)
            except OSError:
                pass
        db.packages[name] = InstalledPackage(name, paragraph.get("Version", ""), provides, files)
    if not db.packages and "Package:" not in text:
        raise KmodError(path, "neither a dpkg status file nor `dpkg -l` output")
    return db


def _deb_version_matches(have: str, relation: str, want: str) -> bool:
    from debian.debian_support import Version

    try:
        c = (Version(have) > Version(want)) - (Version(have) < Version(want))
    except ValueError:
        return False
    return {"<": c < 0, "<=": c <= 0, "=": c == 0, ">=": c >= 0, ">": c > 0}.get(relation, False)


# ---- checking ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class _ModuleExport:
    package: PackageInfo
    module_file: str
    crc: int | None


def _exports_by_symbol(packages: list[PackageInfo]) -> dict[str, list[_ModuleExport]]:
    table: dict[str, list[_ModuleExport]] = {}
    for package in packages:
        for module_file, module in zip(package.module_files, package.modules):
            for export in module.exports:
                table.setdefault(export.name, []).append(_ModuleExport(package, module_file, export.crc))
    return table


def check_packages(
    targets: list[PackageInfo],
    others: list[PackageInfo],
    symvers: Symvers | None = None,
    installed: InstalledDb | None = None,
) -> list[Finding]:
    """A Finding for every Requires/Depends of every target package (ok ones too)."""
    everything = targets + [p for p in others if p not in targets]
    exports = _exports_by_symbol(everything)
    findings: list[Finding] = []
    for package in targets:
        if package.format == "rpm":
            findings += _check_rpm(package, everything, exports, symvers)
        else:
            findings += _check_deb(package, everything, installed)
    return findings


def _check_rpm(package: PackageInfo, everything: list[PackageInfo], exports: dict[str, list[_ModuleExport]],
               symvers: Symvers | None) -> list[Finding]:
    out = []
    kernel_rows = symvers.by_name if symvers is not None else {}
    for (require,) in package.requires:
        match = KSYM_DEP.match(require.name)
        giver = _rpm_provider(require, everything)
        if giver is not None:
            other, provide = giver
            # a ksym()/kernel() row says which CRC was asked and given, and by whom, like a module's row
            crcs = (_crc_value(require.version), _crc_value(provide.version)) if match and provide is not None \
                else (None, None)
            out.append(Finding(package.nevra, str(require), STATUS_OK, *crcs, other.nevra,
                               f"Provided by {other.nevra}"
                               + (f" ({provide})." if provide is not None else "."), requirement=require))
            continue
        if match and require.version:
            out.append(_explain_ksym(package, require, match.group(1), match.group(2), everything, exports, kernel_rows))
        elif require.name.startswith("/") and any(require.name in p.files for p in everything):
            out.append(Finding(package.nevra, str(require), STATUS_OK, None, None, "", "A package in the set has this file.",
                               requirement=require))
        else:
            out.append(Finding(package.nevra, str(require), STATUS_UNSATISFIED, None, None, "",
                               f"{package.name} requires {require}, and no package in the set provides it: "
                               f"rpm will refuse it ('{require} is needed by {package.nevra}').", (),
                               requirement=require))
    return out


def _rpm_provider(require: Dependency, everything: list[PackageInfo]) -> tuple[PackageInfo, Dependency | None] | None:
    """The package in the set that satisfies `require`, and its Provides that does (None: its name)."""
    for other in everything:
        for provide in other.provides:
            if rpm_satisfies(provide, require):
                return other, provide
        if other.name == require.name and not require.relation:
            return other, None
    return None


def _crc_value(text: str) -> int | None:
    try:
        return int(text, 16)
    except ValueError:
        return None


def _explain_ksym(package: PackageInfo, require: Dependency, kind: str, symbol: str, everything: list[PackageInfo],
                  exports: dict[str, list[_ModuleExport]], kernel_rows: dict) -> Finding:
    need = _crc_value(require.version)
    requirement = str(require)
    refusal = f"rpm refuses {package.nevra}: '{requirement} is needed by {package.nevra}'."
    candidates = [e for e in exports.get(symbol, []) if e.package is not package]
    same = [e for e in candidates if e.crc is not None and rpmvercmp(crc_hex(e.crc), require.version) == 0]
    if same:
        e = same[0]
        provides_any_ksym = any(p.name.startswith("ksym(") for p in e.package.provides)
        why = (
            f"{e.package.name} contains {os.path.basename(e.module_file)}, which exports {symbol} with exactly "
            f"CRC {crc_hex(e.crc or 0)}, but the package does not Provide {kind}({symbol}). "
            + ("It Provides no ksym() at all: it was built with rpm's internal dependency generator (for "
               "OpenZFS, the default --with-spec=generic; RPM Fusion kmodtool specs too), which adds no "
               "kernel-symbol Provides. Rebuild it with %global _use_internal_dependency_generator 0 (and, on "
               "hosts without RHEL's ksyms scripts, %__find_provides pointed at `kmodtui rpmdeps --provides`), "
               "or configure with --with-spec=redhat."
               if not provides_any_ksym else
               "Its other ksym() Provides come from a generator that skipped this module: regenerate them.")
        )
        return Finding(package.nevra, requirement, STATUS_NOT_PACKAGED, need, e.crc, e.package.nevra,
                       f"{refusal} {why} Do not silence the Requires instead: it is what stops a module with the "
                       "wrong interface from being installed.", (REMEDY_SPEC_EXTERNAL, REMEDY_AUTOTOOLS_REDHAT), requirement=require)
    provided_other = [(o, p) for o in everything if o is not package for p in o.provides
                      if p.name == require.name and p.version]
    if candidates or provided_other:
        if candidates:
            e = candidates[0]
            other_crc, who = e.crc, f"{os.path.basename(e.module_file)} in {e.package.name}"
        else:
            o, p = provided_other[0]
            other_crc, who = _crc_value(p.version), o.name
        return Finding(package.nevra, requirement, STATUS_CRC, need, other_crc, who,
                       f"{refusal} {who} has {symbol} with CRC {crc_hex(other_crc or 0)}, not {require.version}: "
                       f"{package.name} was built against another version of that module (or kernel). Rebuild "
                       f"{package.name} against the exact build of {who.split(' in ')[-1]} you install, with its "
                       "Module.symvers in KBUILD_EXTRA_SYMBOLS.", (REMEDY_REBUILD,), requirement=require)
    row = kernel_rows.get(symbol)
    if row is not None and kind == "kernel" and need == row.crc:
        # The target kernel's own package Provides kernel(sym) = crc for every symbol in its symvers.
        return Finding(package.nevra, requirement, STATUS_OK, need, row.crc, "the kernel package",
                       "Provided by the kernel package of the kernel checked against (same CRC in its symvers).", requirement=require)
    if row is not None:
        status = STATUS_CRC if need != row.crc else STATUS_UNSATISFIED
        return Finding(package.nevra, requirement, status, need, row.crc, "vmlinux" if row.module == "vmlinux" else row.module,
                       f"{refusal} The kernel has {symbol} with CRC {crc_hex(row.crc)}"
                       + (": the package was built against another kernel. Rebuild it for this one."
                          if status == STATUS_CRC else
                          f", but provides it as kernel({symbol}), not {kind}({symbol}); install the kernel "
                          "package that Provides it, or rebuild the module package against this kernel."),
                       (REMEDY_REBUILD,), requirement=require)
    return Finding(package.nevra, requirement, STATUS_UNKNOWN, need, None, "",
                   f"{refusal} No package in the set provides {symbol} and no module in them exports it. "
                   "Add the package that ships the module exporting it (e.g. the kmod-zfs build that Lustre's "
                   "osd-zfs was compiled against): kmodtui can build the provider's package and rebuild this one "
                   "with it.", (RemedyId.KBUILD_EXTRA_SYMBOLS,), requirement=require)


def _check_deb(package: PackageInfo, everything: list[PackageInfo], installed: InstalledDb | None) -> list[Finding]:
    out = []
    for group in package.requires:
        text = " | ".join(str(d) for d in group)
        if any(_deb_satisfied(dep, package, everything, installed) for dep in group):
            out.append(Finding(package.nevra, text, STATUS_OK, None, None, "", "Satisfied.", requirement=group[0]))
            continue
        out.append(_explain_deb(package, group, text, installed))
    return out


def _deb_satisfied(dep: Dependency, package: PackageInfo, everything: list[PackageInfo], installed: InstalledDb | None) -> bool:
    for other in everything:
        if other is package:
            continue
        if other.name == dep.name and (not dep.relation or _deb_version_matches(other.version, dep.relation, dep.version)):
            return True
        if _deb_provides(other.provides, dep):
            return True
    if installed is not None:
        have = installed.packages.get(dep.name)
        if have is not None and (not dep.relation or _deb_version_matches(have.version, dep.relation, dep.version)):
            return True
        if any(_deb_provides(p.provides, dep) for p in installed.packages.values()):
            return True
    return False


def _deb_provides(provides: tuple[Dependency, ...], dep: Dependency) -> bool:
    for provide in provides:
        if provide.name != dep.name:
            continue
        if not dep.relation:
            return True
        if provide.relation == "=" and _deb_version_matches(provide.version, dep.relation, dep.version):
            return True  # Debian: only a versioned Provides satisfies a versioned Depends
    return False


def _explain_deb(package: PackageInfo, group: tuple[Dependency, ...], text: str, installed: InstalledDb | None) -> Finding:
    refusal = (f"dpkg will leave {package.name} unconfigured: 'dependency problems prevent configuration of "
               f"{package.name}: {package.name} depends on {text}; however: Package {group[0].name} is not installed.'")
    for dep in group:
        match = re.match(r"^linux-image-(.+)$", dep.name)
        if match and installed is not None:
            release = match.group(1)
            owner = installed.owner_of(f"/boot/vmlinuz-{release}")
            if owner:
                return Finding(
                    package.nevra, text, STATUS_UNSATISFIED, None, None, owner,
                    f"{refusal} Kernel {release} is installed, but as package '{owner}' (it owns "
                    f"/boot/vmlinuz-{release}); no package is named or Provides {dep.name}. DKMS 2.8's mkbmdeb "
                    "writes 'Depends: linux-image-<release>', which breaks for custom kernels and renamed image "
                    f"packages. Fix the .deb's Depends to '{owner}', or install a shim package that Provides "
                    f"{dep.name}.", (REMEDY_DEB_DEPENDS,), requirement=dep)
    where = f"in {installed.source}" if installed is not None else "(no installed-package list given: --installed)"
    return Finding(package.nevra, text, STATUS_UNSATISFIED, None, None, "",
                   f"{refusal} Nothing installed {where} or in the set satisfies it.", (REMEDY_DEB_DEPENDS,), requirement=group[0])
