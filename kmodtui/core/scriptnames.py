"""Names in generated scripts are data. Every name kmodtui writes into a shell script, a systemd
unit, a CI workflow, an rpm spec, a Debian control file or a Makefile came from an input (a
dkms.conf, a META file, a kernel tree, a matrix file, the command line): it is first checked
against what such a name can be (`check`, one line naming the file that held it), then written
with the one quoting function of the script's language (`shell`, `yaml`, `systemd_word`,
`systemd_text`, `rpm_text`). A check is what makes a name safe where no quoting exists (a
Makefile variable, a GitHub `${{ }}` expression); quoting keeps whatever passed the check a word."""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Iterable
from dataclasses import dataclass

from kmodtui.core.errors import KmodError


@dataclass(frozen=True)
class NameKind:
    label: str  # what the name is, in the message
    pattern: re.Pattern[str]
    allowed: str  # the pattern in words
    longest: int


def _kind(label: str, pattern: str, allowed: str, longest: int) -> NameKind:
    return NameKind(label, re.compile(pattern), allowed, longest)


# dkms PACKAGE_NAME, META Name, an rpm Name: dkms makes folders of it and rpm a tag; kmodtui also
# derives Debian package names from it (lowercased, _ as -)
PACKAGE = _kind("package name", r"[A-Za-z0-9][A-Za-z0-9_.+-]*", "letters, digits and _ . + -", 128)
# Debian Policy 5.6.1
DEBIAN_PACKAGE = _kind("Debian package name", r"[a-z0-9][a-z0-9+.-]+", "lowercase letters, digits and + . -", 128)
# a .ko's name (kbuild turns - into _; the loader keeps 55 characters, MODULE_NAME_LEN - 1)
MODULE = _kind("module name", r"[A-Za-z0-9_][A-Za-z0-9_-]*", "letters, digits, _ and -", 55)
# `uname -r`: UTS release, 64 bytes at most (__NEW_UTS_LEN)
KERNEL_RELEASE = _kind("kernel release", r"[A-Za-z0-9][A-Za-z0-9._+~-]*", "letters, digits and . _ + ~ -", 64)
# what `build --kernel` takes: a release, a build tree or symvers path, or debian:<release>[:<arch>]
KERNEL_SPEC = _kind("kernel", r"[A-Za-z0-9/][A-Za-z0-9._+~/:-]*",
                    "letters, digits and . _ + ~ / : - (a release, a path, or debian:<release>[:<arch>])", 1024)
# dpkg --print-architecture, uname -m
ARCH = _kind("architecture", r"[a-z][a-z0-9_]*", "lowercase letters, digits and _", 32)
# a package version (Debian's epoch : and ~, rpm's _)
VERSION = _kind("version", r"[A-Za-z0-9][A-Za-z0-9.+~:_-]*", "letters, digits and . + ~ : _ -", 128)
# a path written where no quoting exists (a Makefile, a dkms.conf MAKE line dkms sources as shell)
PATH = _kind("path", r"[A-Za-z0-9._+/@,=][A-Za-z0-9._+~/@:,=-]*",
             "letters, digits and . _ + ~ / @ : , = - (no spaces, quotes or $)", 4096)
# what an exported CI job `pip install`s: a wheel's path in the repository, a URL (git+https://...@tag),
# a requirement (kmodtui==0.1.0): no spaces, quotes, $ { } or backslashes (a GitHub workflow substitutes ${{ }})
PIP_SPEC = _kind("pip requirement", r"[A-Za-z0-9._/][A-Za-z0-9._+~/@:,=#!<>%?&\[\]-]*",
                 "letters, digits and . _ + ~ / @ : , = # ! < > % ? & [ ] - (no spaces, quotes, $ or braces)", 1024)
# a C identifier: MODULE_IMPORT_NS(NS) stringifies it before Linux 6.13
NAMESPACE = _kind("symbol namespace", r"[A-Za-z_][A-Za-z0-9_]*", "letters, digits and _", 128)


def check(kind: NameKind, value: str, origin: str) -> str:
    """`value` if it is a `kind`, else a KmodError naming `origin` (the file that held it)."""
    if isinstance(value, str) and len(value) <= kind.longest and kind.pattern.fullmatch(value):
        return value
    shown = value if len(value) <= 80 else value[:77] + "..."
    raise KmodError(origin, f"{kind.label} {json.dumps(shown)} is refused: it goes into generated scripts, where "
                            f"a {kind.label} may hold only {kind.allowed} (at most {kind.longest} characters)")


def check_all(kind: NameKind, values: Iterable[str], origin: str) -> list[str]:
    return [check(kind, value, origin) for value in values]


def one_line(value: str, origin: str, what: str) -> str:
    """A value that becomes a line's tail (a unit's Description=, a control field): no line breaks
    or other control characters, which would start a line of the reader's choosing."""
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise KmodError(origin, f"{what} holds a line break or a control character; kmodtui writes it on one "
                                "line of a generated file, where that would start a line of its own")
    return value


def shell(value: str) -> str:
    """One word for sh, whatever it holds."""
    return shlex.quote(value)


def shell_words(values: Iterable[str]) -> str:
    return " ".join(shell(value) for value in values)


def yaml(value: object) -> str:
    """A YAML scalar: JSON's double-quoted string is YAML's (escapes included); null, true, numbers
    likewise. Never a plain scalar, whose meaning depends on what it holds."""
    return json.dumps(value)


def systemd_text(value: str, origin: str, what: str) -> str:
    """The tail of a unit file line (Description=): one line, with % written %% (systemd expands
    specifiers such as %h in most settings)."""
    return one_line(value, origin, what).replace("%", "%%")


_SYSTEMD_PLAIN = re.compile(r"[A-Za-z0-9_./:=@+,-]+")  # a word systemd reads as written (`;` alone ends a command)


def systemd_word(value: str, origin: str, what: str) -> str:
    """One word of an Exec*= command line (systemd.service "Command lines"): double-quoted with C
    escapes, % written %% (specifiers) and $ written $$ (systemd substitutes $VAR and ${VAR} in
    Exec lines, quoted or not)."""
    one_line(value, origin, what)
    if _SYSTEMD_PLAIN.fullmatch(value):
        return value
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("%", "%%").replace("$", "$$")
    return f'"{escaped}"'


def rpm_text(value: str, origin: str, what: str) -> str:
    """Text in an rpm spec (a tag's value, %description): one line, % written %% (rpm expands
    macros everywhere, and %(...) runs a shell)."""
    return one_line(value, origin, what).replace("%", "%%")
