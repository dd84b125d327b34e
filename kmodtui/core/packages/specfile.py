"""Read an RPM spec for what matters to kernel modules, without expanding a single macro:
its packaging mode, and whether ksym() dependencies will be generated."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field

from kmodtui.core.errors import KmodError

MODE_REDHAT = "redhat"  # %kernel_module_package (RHEL kernel-rpm-macros)
MODE_GENERIC = "generic"  # RPM Fusion kmodtool / OpenZFS rpm/generic: %{kernels}, kmodtool
MODE_PLAIN = "plain"  # a spec that packages files; no kernel-module machinery

MAX_SPEC = 4 * 1024 * 1024


@dataclass
class SpecInfo:
    path: str
    name: str
    mode: str
    internal_generator_off: bool
    find_provides: str  # %__find_provides when the spec sets it
    has_prep: bool
    notes: list[str] = field(default_factory=list)


def parse_spec_text(text: str, path: str) -> SpecInfo:
    if "\0" in text:
        raise KmodError(path, "binary data in a spec file")
    name_match = re.search(r"^Name:\s*(\S+)", text, re.M | re.I)
    # [ \t], not \s: a pattern anchored at each line must not run over the newlines that follow it
    if re.search(r"^[ \t]*%kernel_module_package\b", text, re.M):
        mode = MODE_REDHAT
    elif re.search(r"kmodtool|%\{\??kernels\}|%\{\??kmod_name\}", text):
        mode = MODE_GENERIC
    else:
        mode = MODE_PLAIN
    internal_off = bool(re.search(r"^[ \t]*%(?:global|define)[ \t]+_use_internal_dependency_generator[ \t]+0\b",
                                  text, re.M))
    provides = re.search(r"^[ \t]*%(?:global|define)[ \t]+__find_provides[ \t]+(.+)$", text, re.M)
    info = SpecInfo(path, name_match.group(1) if name_match else "", mode, internal_off,
                    provides.group(1).strip() if provides else "", bool(re.search(r"^%prep\b", text, re.M)))
    if re.search(r"%\(", text):
        info.notes.append("has %(...) shell macros: rpmbuild runs them, kmodtui does not")
    if mode != MODE_REDHAT and not internal_off and (mode == MODE_GENERIC or "/lib/modules" in text):
        info.notes.append(f"{mode} mode with rpm's internal dependency generator: its kernel modules get no "
                          "ksym() Provides (remedy: spec-external-depgen)")
    return info


def read_spec(path: str) -> SpecInfo:
    try:
        if os.path.getsize(path) > MAX_SPEC:
            raise KmodError(path, "spec larger than 4 MiB; refusing to read it")
        with open(path, encoding="utf-8", errors="replace") as f:
            return parse_spec_text(f.read(), path)
    except OSError as err:
        raise KmodError(path, err.strerror or str(err)) from None
