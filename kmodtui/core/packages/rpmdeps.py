"""ksym()/kernel()/kmod() dependencies the way RHEL's kernel-rpm-macros generate them.

find-provides.ksyms: `ksym(sym) = 0x%08x` for each export of each module under /lib/modules/
(`kernel(sym)` for modules under lib/modules/<rel>/kernel/), plus `kmod(name.ko)`.
find-requires.ksyms: each module's __versions (what `modprobe --dump-modversions` prints), less
what the package itself exports; `kernel(sym) = crc` when (sym, crc) is in the target kernel's
Module.symvers, else `ksym(sym) = crc`. Upstream rpm (Debian's rpm 4.18 too) has no such
generator, so a kmod package built with defaults gets none of these.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from kmodtui.core.model import ModuleImage, crc_hex
from kmodtui.core.symvers.parse import Symvers

# The first /lib/modules/ taken for good, then one scan to the end: a name repeating /lib/modules/
# is read once, not once per repeat (Python's re would retry `.+` from each).
MODULE_FILE = re.compile(r"^(?>.*?/lib/modules/).+\.ko(?:\.gz|\.bz2|\.xz|\.zst)?$")
IN_TREE = re.compile(r"(^|/)lib/modules/[1-9][^/]*/kernel/")

# Spec modes kmodtui can predict (see predict_dependencies)
MODE_GENERIC = "generic"  # OpenZFS rpm/generic, RPM Fusion kmodtool: internal generator, no ksym
MODE_GENERIC_EXTERNAL = "generic-external"  # + %global _use_internal_dependency_generator 0 (EL6/7)
MODE_REDHAT = "redhat"  # %kernel_module_package (sets the flag above itself)
MODE_EL9 = "el9-fileattrs"  # EL9: kmod file attributes run for every package
MODE_UPSTREAM = "upstream-rpm"  # Debian's/upstream rpm without kernel-rpm-macros
MODE_KMODTUI = "kmodtui-rpmdeps"  # any rpm, %__find_provides/%__find_requires pointed at kmodtui
MODE_SUSE = "suse"  # SUSE's find-provides.ksyms/find-requires.ksyms: ksym(<flavor>:<sym>) = <crc>
MODES = (MODE_GENERIC, MODE_GENERIC_EXTERNAL, MODE_REDHAT, MODE_EL9, MODE_UPSTREAM, MODE_KMODTUI, MODE_SUSE)


def suse_flavor(release: str) -> str:
    """SUSE's flavor is the release's last dash-separated word (find-provides.ksyms: ${version##*-}):
    6.4.0-150600.23.7-default -> default."""
    return release.rsplit("-", 1)[-1] if "-" in release else release


def suse_crc(crc: int) -> str:
    """SUSE writes CRCs as ksym-provides' `%lx` and find-requires.ksyms' `s:^0x0*::`: no 0x, no
    leading zeros."""
    return f"{crc:x}"


def _in_tree(path: str) -> bool:
    root = os.environ.get("RPM_BUILD_ROOT", "")
    relative = path[len(root):] if root and path.startswith(root) else path
    return bool(IN_TREE.search(relative))


def module_provides(modules: list[tuple[str, ModuleImage]], suse: str = "") -> list[str]:
    """Provides for (path in package or build root, parsed module) pairs, sorted and unique. An export
    without a CRC (a kernel built without MODVERSIONS) gets none: the generators read __crc_ values.
    suse: the flavor, for SUSE's `ksym(<flavor>:<sym>) = <crc>` form."""
    out: set[str] = set()
    for path, module in modules:
        prefix = "kernel" if _in_tree(path) else "ksym"
        for export in module.exports:
            if export.crc is None:
                continue
            if suse:
                out.add(f"ksym({suse}:{export.name}) = {suse_crc(export.crc)}")
            else:
                out.add(f"{prefix}({export.name}) = {crc_hex(export.crc)}")
        base = os.path.basename(path)
        for suffix in (".gz", ".bz2", ".xz", ".zst"):
            base = base.removesuffix(suffix)
        out.add(f"kmod({base.replace('-', '_')})" if suse else f"kmod({base})")  # SUSE: `tr '-' '_'`
    return sorted(out)


def module_requires(modules: list[ModuleImage], symvers: Symvers | None, suse: str = "") -> list[str]:
    """Requires for the package's modules against the target kernel's symvers (None: all ksym()).
    suse: the flavor; SUSE's kernel packages provide ksym(<flavor>:...) too, so every need is one."""
    own = {e.name for m in modules for e in m.exports}
    kernel_pairs = {(e.name, e.crc) for e in symvers.entries} if symvers is not None else set()
    out: set[str] = set()
    for module in modules:
        for need in module.needs:
            if need.name in own:
                continue
            if suse:
                out.add(f"ksym({suse}:{need.name}) = {suse_crc(need.crc)}")
                continue
            prefix = "kernel" if (need.name, need.crc) in kernel_pairs else "ksym"
            out.add(f"{prefix}({need.name}) = {crc_hex(need.crc)}")
    return sorted(out)


@dataclass(frozen=True)
class PredictedDeps:
    mode: str
    provides: tuple[str, ...]
    requires: tuple[str, ...]
    story: str  # why, in plain words


def predict_dependencies(modules: list[tuple[str, ModuleImage]], mode: str, symvers: Symvers | None) -> PredictedDeps:
    """The kernel-symbol Provides/Requires a package with these modules will get when built in `mode`."""
    images = [m for _, m in modules]
    if mode in (MODE_GENERIC, MODE_UPSTREAM):
        story = (
            "rpm's internal dependency generator runs, and it knows nothing about kernel modules: the "
            "package gets no ksym() Provides and no ksym() Requires. Packages that need this module's "
            "symbols (built in redhat mode) will then fail with 'Requires: ksym(...) = 0x...'."
            if mode == MODE_GENERIC else
            "Upstream rpm (Debian's rpm 4.18 too) has no kmod generators: no ksym() Provides or Requires, "
            "whatever the spec says, unless %__find_provides/%__find_requires point at a generator "
            "such as `kmodtui rpmdeps`."
        )
        return PredictedDeps(mode, (), (), story)
    stories = {
        MODE_GENERIC_EXTERNAL: "With %global _use_internal_dependency_generator 0, rpmbuild hands the file list to "
                               "find-provides.ksyms/find-requires.ksyms (EL6/EL7): ksym() Provides for every export.",
        MODE_REDHAT: "%kernel_module_package turns the internal generator off itself, so the ksyms scripts run: "
                     "ksym() Provides for every export, kernel()/ksym() Requires for every symbol used.",
        MODE_EL9: "On EL9 the kmod file attributes run for every package: ksym() Provides and kernel()/ksym() Requires.",
        MODE_KMODTUI: "%__find_provides/%__find_requires point at `kmodtui rpmdeps`, which emits what RHEL's ksyms "
                      "scripts would, on any host.",
    }
    if mode == MODE_SUSE:
        release = images[0].vermagic.split()[0] if images and images[0].vermagic else ""
        flavor = suse_flavor(release)
        story = (f"SUSE's find-provides.ksyms/find-requires.ksyms write ksym({flavor}:<symbol>) = <crc> (the flavor "
                 "from the release's last word, the CRC in hex without 0x or leading zeros) for every export and "
                 "every symbol used; the kernel's own exports are ksym() too. Predicted from SUSE's generator "
                 "sources (ksym-provides, find-requires.ksyms): no SUSE tool ran here.")
        return PredictedDeps(mode, tuple(module_provides(modules, flavor)),
                             tuple(module_requires(images, symvers, flavor)), story)
    return PredictedDeps(mode, tuple(module_provides(modules)), tuple(module_requires(images, symvers)),
                         stories.get(mode, ""))
