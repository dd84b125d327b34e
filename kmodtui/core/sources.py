"""What kind of module source is this? Read, never executed."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field

from kmodtui.core.dkmsconf import DkmsConf, parse_dkms_conf
from kmodtui.core.errors import KmodError

_OBJ_M = re.compile(r"^\s*obj-(?:m|\$\([A-Z_]+\))\s*[+:]?=\s*(?P<objs>.+)$", re.M)

KIND_DKMS, KIND_KBUILD, KIND_AUTOTOOLS, KIND_SPEC = "dkms", "kbuild", "autotools", "spec"


@dataclass
class ModuleSource:
    path: str
    kinds: list[str] = field(default_factory=list)  # most specific first
    modules: list[str] = field(default_factory=list)  # module names (obj-m, BUILT_MODULE_NAME)
    name: str = ""
    version: str = ""
    dkms: DkmsConf | None = None
    specs: dict[str, str] = field(default_factory=dict)  # spec path -> detected mode
    notes: list[str] = field(default_factory=list)

    @property
    def modes(self) -> list[str]:
        """Packaging modes that make sense for this source."""
        modes = []
        if KIND_KBUILD in self.kinds or KIND_DKMS in self.kinds:
            modes += ["kbuild", "deb"]
        if KIND_DKMS in self.kinds:
            modes.append("dkms")
        return modes


def detect_source(path: str) -> ModuleSource:
    if not os.path.isdir(path):
        raise KmodError(path, "no such module source directory")
    source = ModuleSource(os.path.abspath(path))
    dkms_conf = os.path.join(path, "dkms.conf")
    if os.path.isfile(dkms_conf):
        conf = parse_dkms_conf(dkms_conf)
        source.kinds.append(KIND_DKMS)
        source.dkms = conf
        source.name, source.version = conf.name, conf.version
        source.modules += conf.modules
        source.notes += [f"dkms.conf {item}" for item in conf.build_time_only]
    for kbuild_name in ("Kbuild", "Makefile"):
        kbuild_file = os.path.join(path, kbuild_name)
        if os.path.isfile(kbuild_file):
            with open(kbuild_file, encoding="utf-8", errors="replace") as f:
                text = f.read(256 * 1024)
            objs = [o[:-2] for m in _OBJ_M.finditer(text) for o in m.group("objs").split() if o.endswith(".o")]
            if objs:
                if KIND_KBUILD not in source.kinds:
                    source.kinds.append(KIND_KBUILD)
                source.modules += [o for o in objs if o not in source.modules]
    if os.path.isfile(os.path.join(path, "configure.ac")) or os.path.isfile(os.path.join(path, "configure")):
        source.kinds.append(KIND_AUTOTOOLS)
    if not source.name:
        source.name = source.modules[0] if source.modules else os.path.basename(source.path)
    if not source.kinds:
        raise KmodError(path, "found no dkms.conf, no Kbuild/Makefile with obj-m, no configure: not a module source kmodtui knows")
    return source


_EXTRA_SYMBOLS = re.compile(r"KBUILD_EXTRA_SYMBOLS\s*[+:]?=\s*([^\"'\n]+)")


def extra_symbols_of(path: str) -> list[str]:
    """Module.symvers files a source names in KBUILD_EXTRA_SYMBOLS (Kbuild, Makefile, dkms.conf MAKE)."""
    found: list[str] = []
    for name in ("Kbuild", "Makefile", "dkms.conf"):
        try:
            with open(os.path.join(path, name), encoding="utf-8", errors="replace") as f:
                text = f.read(256 * 1024)
        except OSError:
            continue
        for match in _EXTRA_SYMBOLS.finditer(text):
            for item in match.group(1).split():
                if "$" not in item and item.endswith("Module.symvers") and item not in found:
                    found.append(item)
    return found
