"""The remedies that change how an rpm package is made: ksym() Provides and Requires in a spec, the
kernel %kernel_module_package builds for, the redhat spec templates of an autotools tree."""

from __future__ import annotations

import os
import re

from kmodtui.core import scriptnames
from kmodtui.core.errors import KmodError
from kmodtui.core.remedies.edits import FileEdit, check_editable
from kmodtui.core.remedies.plans import RISKY, SAFE, RemedyOptions, RemedyPlan, command_release, read_file

RHEL_KSYMS = "/usr/lib/rpm/redhat/find-provides.ksyms"


def _generator(options: RemedyOptions) -> str:
    from kmodtui.core.paths import self_command

    return options.generator or self_command()


_PREP = re.compile(rb"^%prep\b", re.M)


def _insert_before_prep(path: str, block: str, already: bytes, remedy: str) -> FileEdit:
    check_editable(path)
    before = read_file(path)
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


def plan_redhat_kernel_version(options: RemedyOptions) -> RemedyPlan:
    release = command_release(options)
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

    linux = f" --with-linux=/usr/src/kernels/{command_release(options)}" if options.kernel_release else ""
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

