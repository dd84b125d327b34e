"""The remedy catalogue: for a finding, what to change (exact file edits, shown as a diff) and what
to run, how risky it is, and why. The planners live by what they change: spec.py (rpm packaging),
source.py (a module's source), package.py (an installed system); plans.py is what they take and
return. Applying goes through remedies/edits.py (backup, atomic, undo)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from kmodtui.core.errors import KmodError
from kmodtui.core.remedies.compat import plan_kernel_compat
from kmodtui.core.remedies.package import plan_deb_fix_depends, plan_install_headers
from kmodtui.core.remedies.plans import RISKY, SAFE, RemedyOptions, RemedyPlan
from kmodtui.core.remedies.source import (
    plan_import_namespace,
    plan_kbuild_extra_symbols,
    plan_rebuild_for_kernel,
)
from kmodtui.core.remedies.spec import (
    plan_autotools_redhat,
    plan_drop_ksym_requires,
    plan_redhat_kernel_version,
    plan_spec_external_depgen,
)
from kmodtui.core.vocabulary import LogRule, RemedyId, Status

__all__ = ["ALIASES", "BY_ID", "CATALOGUE", "RISKY", "SAFE", "Remedy", "RemedyOptions", "RemedyPlan", "TargetNeeded",
           "get_remedy"]


class TargetNeeded(KmodError):
    """A remedy planned with no target failed for want of one (its planner's error names no file): the
    reason says which target is not known yet."""


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
        try:
            return self.planner(options)
        except KmodError as err:
            if options.target or err.path:
                raise
            raise TargetNeeded(self.id, f"{self.target} is not known yet") from None

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
    Remedy(RemedyId.KERNEL_COMPAT, "Rewrite for a newer kernel, guarded by LINUX_VERSION_CODE", SAFE,
           "A kernel API change the table marks mechanical (diagnose's api_change: a rename, a call's arguments, "
           "a callback's const parameter, a namespace's string form, a removed initializer): the new form in the "
           "source, the old one kept for older kernels.", "the module source folder",
           (LogRule.C_IMPLICIT_DECLARATION,), plan_kernel_compat),
)
BY_ID = {r.id: r for r in CATALOGUE}
# ids findings may name that are aliases of catalogue entries
ALIASES: dict[str, str] = {RemedyId.PICK_MATCHING_KERNEL: RemedyId.REBUILD_FOR_KERNEL}


def get_remedy(remedy_id: str) -> Remedy:
    remedy = BY_ID.get(ALIASES.get(remedy_id, remedy_id))
    if remedy is None:
        raise KmodError(remedy_id, f"no such remedy; known: {', '.join(BY_ID)}")
    return remedy

