"""Packaging modes, one module each in this folder, registered once: kbuild, dkms, deb, rpm (two modes
of one class: rpm-generic and rpm-redhat) and srpm.

Every module here whose name does not start with "_" is a mode module: it lists the modes it makes in
MODES (instances of `_base.Mode`). Each mode owns what the rest of kmodtui asks about it: the programs
it runs, whether it makes packages and their suffix, which sources it is offered for, its steps, where
its artifacts are, and its words for the TUI. The CLI's choices, the mode screen, the build matrix,
the recheck and the kernel hook all ask the registry; nothing outside this folder compares a mode's
name (tests/core/test_modes.py checks). Adding a mode: one file here, and its test.
"""

from __future__ import annotations

import functools
import importlib
import pkgutil

from kmodtui.core.build.inputs import ModuleSource
from kmodtui.core.build.modes._base import FileWrite, Mode, Planning, TreeCopy
from kmodtui.core.errors import KmodError

__all__ = ["FileWrite", "Mode", "Planning", "TreeCopy", "all_modes", "find", "for_source", "get", "listed_for",
           "names", "offered_for"]


@functools.cache
def _registry() -> dict[str, Mode]:
    """Every mode of every mode module in this folder (its __path__), in rank order."""
    found: dict[str, Mode] = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        for mode in getattr(module, "MODES", None) or ():
            if not isinstance(mode, Mode) or not mode.name:
                raise TypeError(f"{module.__name__}: MODES must list named Mode instances, not {mode!r}")
            if mode.name in found:
                raise ValueError(f"{module.__name__}: mode {mode.name} is defined twice")
            found[mode.name] = mode
    return dict(sorted(found.items(), key=lambda item: (item[1].rank, item[0])))


def all_modes() -> tuple[Mode, ...]:
    return tuple(_registry().values())


def names() -> tuple[str, ...]:
    """Every mode's name, in the order lists show them (the CLI's choices, the mode screen)."""
    return tuple(_registry())


def find(name: object) -> Mode | None:
    """The mode of that name; None for anything else (an old record's, a remedy's "same")."""
    return _registry().get(name) if isinstance(name, str) else None


def get(name: str) -> Mode:
    """The mode of that name; one clear error line naming the ones that exist."""
    mode = find(name)
    if mode is None:
        raise KmodError(name, f"unknown build mode; choose one of {', '.join(names())}")
    return mode


def for_source(name: str, source: ModuleSource) -> Mode:
    """The mode that builds `source` when `name` is asked: the one that claims the source if any
    (a source RPM is rebuilt whatever was asked), else the mode asked for."""
    asked = get(name)
    return next((mode for mode in all_modes() if mode.claims(source)), asked)


def listed_for(source: ModuleSource) -> list[str]:
    """The modes the source's own build supports (what `kmodtui source` lists)."""
    return [mode.name for mode in all_modes() if mode.listed_for(source)]


def offered_for(source: ModuleSource) -> list[Mode]:
    """The modes the mode screen offers for this source."""
    return [mode for mode in all_modes() if mode.offered_for(source)]

