"""Read .rpm (headers by rpmfile) and .deb (control by python-debian), payloads streamed: metadata, dependencies, files, modules inside.

Nothing is written to disk: module payloads are read into memory (with a size cap) and parsed there.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Callable
from typing import Any

from kmodtui.core.compression import Readable, WorkBudget, read_capped
from kmodtui.core.elf.module import parse_module
from kmodtui.core.errors import KmodError
from kmodtui.core.model import Dependency, ModuleImage, PackageInfo

MODULE_IN_PACKAGE = re.compile(r"^(?>(?:|.*?/)lib/modules/).+\.ko(?:\.gz|\.xz|\.zst)?$")  # as rpmdeps.MODULE_FILE
# Payloads are streamed (never held whole); this caps how much is decompressed to read one.
MAX_PAYLOAD = 1024 * 1024 * 1024
MAX_MEMBERS = 100_000
MAX_MODULE = 256 * 1024 * 1024  # amdgpu.ko, the largest module Debian ships, is ~20 MiB
MAX_FILE_NAMES = 32 * 1024 * 1024  # bytes of file names listed; Debian 13's headers-common lists 0.75 MB

RPMSENSE_LESS, RPMSENSE_GREATER, RPMSENSE_EQUAL = 2, 4, 8
RPMSENSE_RPMLIB = 1 << 24


def read_package(path: str | os.PathLike[str], budget: WorkBudget | None = None) -> PackageInfo:
    """A package's facts; everything it decompresses (payload and modules) draws from one budget
    (compression.MAX_WORK bytes unless another is given)."""
    from kmodtui.core.packages.archive import package_format

    path = os.fspath(path)
    budget = budget or WorkBudget(path)
    return read_rpm(path, budget) if package_format(path) == "rpm" else read_deb(path, budget)


# ---- rpm -------------------------------------------------------------------------------------

def _as_list(value: Any) -> list:
    """rpmfile returns a single-element array as a bare value (int or bytes) and some as tuples."""
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return list(value)
    return [value]


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return "" if value is None else str(value)


def rpm_relation(flags: int) -> str:
    relation = ""
    if flags & RPMSENSE_LESS:
        relation += "<"
    if flags & RPMSENSE_GREATER:
        relation += ">"
    if flags & RPMSENSE_EQUAL:
        relation += "="
    return relation


def _rpm_deps(headers: dict, names_key: str, flags_key: str, versions_key: str, *, skip_rpmlib: bool) -> list[Dependency]:
    names = _as_list(headers.get(names_key))
    flags = _as_list(headers.get(flags_key))
    versions = _as_list(headers.get(versions_key))
    deps = []
    for i, name in enumerate(names):
        flag = flags[i] if i < len(flags) else 0
        if skip_rpmlib and (flag & RPMSENSE_RPMLIB or _text(name).startswith("rpmlib(")):
            continue
        version = _text(versions[i]) if i < len(versions) else ""
        relation = rpm_relation(flag) if version else ""
        deps.append(Dependency(_text(name), relation, version if relation else ""))
    return deps


def read_rpm(path: str, budget: WorkBudget | None = None) -> PackageInfo:
    from kmodtui.core.packages.streams import RpmReader

    budget = budget or WorkBudget(path)
    try:
        with RpmReader(path) as rpm:
            headers = rpm.headers
            dirnames = [_text(d) for d in _as_list(headers.get("dirnames"))]
            basenames = [_text(b) for b in _as_list(headers.get("basenames"))]
            dirindexes = _as_list(headers.get("dirindexes"))
            files = tuple(
                dirnames[i] + b for i, b in zip(dirindexes, basenames) if isinstance(i, int) and 0 <= i < len(dirnames)
            )
            modules: list[ModuleImage] = []
            module_files: list[str] = []
            wanted = {f.lstrip("/") for f in files if MODULE_IN_PACKAGE.search(f)}
            if wanted:
                # The payload is streamed through the capped decompressor: its size headers are not trusted.
                for count, (member, body) in enumerate(rpm.members(MAX_PAYLOAD, budget)):
                    if count > MAX_MEMBERS:
                        raise KmodError(path, f"payload has more than {MAX_MEMBERS} members; refusing")
                    name = member.name.lstrip("./")
                    if name in wanted and stat.S_ISREG(member.mode):
                        modules.append(_module_from(body, member.size, f"{path}:/{name}", budget))
                        module_files.append("/" + name)
            info = PackageInfo(
                path=path,
                format="rpm",
                name=_text(headers.get("name")),
                version=_text(headers.get("version")),
                release=_text(headers.get("release")),
                arch=_text(headers.get("arch")),
                provides=tuple(_rpm_deps(headers, "provides", "provideflags", "provideversion", skip_rpmlib=False)),
                requires=tuple((d,) for d in _rpm_deps(headers, "requirename", "requireflags", "requireversion", skip_rpmlib=True)),
                conflicts=tuple(_rpm_deps(headers, "conflictname", "conflictflags", "conflictversion", skip_rpmlib=False)),
                files=files,
                modules=tuple(modules),
                module_files=tuple(module_files),
            )
    except KmodError:
        raise
    except Exception as err:  # rpmfile raises at least six unrelated types on corrupt input
        raise KmodError(path, f"corrupt or truncated .rpm: {type(err).__name__}: {err}") from None
    if not info.name:
        raise KmodError(path, "RPM header has no package name")
    return info


def _module_from(body: Readable, size: int, name: str, budget: WorkBudget) -> ModuleImage:
    """A module inside a package, read in memory (capped before and while decompressing, and
    charged to the package's budget)."""
    if size > MAX_MODULE:
        raise KmodError(name, "module larger than kmodtui reads")
    data, compression = read_capped(body, name, MAX_MODULE, budget=budget)
    return parse_module(data, name, compression)


def read_rpm_members(path: str, wanted: Callable[[str], bool], limit: int = 16 * 1024 * 1024) -> dict[str, bytes]:
    """Small members of an RPM's payload (an SRPM's spec), read in memory."""
    from kmodtui.core.packages.streams import RpmReader

    out: dict[str, bytes] = {}
    try:
        with RpmReader(path) as rpm:
            for count, (member, body) in enumerate(rpm.members(MAX_PAYLOAD, WorkBudget(path))):
                if count > MAX_MEMBERS:
                    raise KmodError(path, f"payload has more than {MAX_MEMBERS} members; refusing")
                name = member.name.lstrip("./")
                if stat.S_ISREG(member.mode) and wanted(name) and member.size <= limit:
                    out[name] = body.read()
    except KmodError:
        raise
    except Exception as err:  # rpmfile raises at least six unrelated types on corrupt input
        raise KmodError(path, f"corrupt or truncated .rpm: {type(err).__name__}: {err}") from None
    return out


# ---- deb -------------------------------------------------------------------------------------

_DEB_RELATIONS = {"<<": "<", "<=": "<=", "=": "=", ">=": ">=", ">>": ">", "<": "<=", ">": ">="}


def parse_deb_relations(text: str) -> list[tuple[Dependency, ...]]:
    """`a (>= 1), b | c` -> [(a >= 1,), (b, c)] using python-debian's parser. A relation it cannot
    parse comes back whole as a name (it will not be satisfied), without python-debian's warning."""
    import logging

    from debian.deb822 import PkgRelation

    logging.getLogger("debian.deb822").setLevel(logging.ERROR)
    if not text or not text.strip():
        return []
    groups = []
    for alternatives in PkgRelation.parse_relations(text or ""):
        group = []
        for alt in alternatives:
            if not alt.get("name"):
                continue
            version = alt.get("version")
            if version:
                relation, number = version
                group.append(Dependency(alt["name"], _DEB_RELATIONS.get(relation, relation), number))
            else:
                group.append(Dependency(alt["name"]))
        if group:
            groups.append(tuple(group))
    return groups


def read_deb(path: str, budget: WorkBudget | None = None) -> PackageInfo:
    from debian.deb822 import Deb822

    from kmodtui.core.packages.streams import DebReader

    budget = budget or WorkBudget(path)
    try:
        with DebReader(path) as deb:
            control = Deb822(deb.control_text(budget))
            files: list[str] = []
            names = 0
            modules: list[ModuleImage] = []
            module_files: list[str] = []
            for count, (member, body) in enumerate(deb.data(MAX_PAYLOAD, budget)):
                if count > MAX_MEMBERS:
                    raise KmodError(path, f"data.tar has more than {MAX_MEMBERS} members; refusing")
                name = "/" + member.name.lstrip("./")
                if member.isdir():
                    continue
                files.append(name)
                names += len(name)
                if names > MAX_FILE_NAMES:
                    raise KmodError(path, f"data.tar lists more than {MAX_FILE_NAMES} bytes of file names; refusing")
                if member.isreg() and MODULE_IN_PACKAGE.search(name):
                    modules.append(_module_from(body, member.size, f"{path}:{name}", budget))
                    module_files.append(name)
        requires = parse_deb_relations(control.get("Pre-Depends", "")) + parse_deb_relations(control.get("Depends", ""))
        provides = [alt for group in parse_deb_relations(control.get("Provides", "")) for alt in group]
        conflicts = [alt for group in parse_deb_relations(control.get("Conflicts", "")) for alt in group]
        info = PackageInfo(
            path=path,
            format="deb",
            name=control.get("Package", ""),
            version=control.get("Version", ""),
            release="",
            arch=control.get("Architecture", ""),
            provides=tuple(provides),
            requires=tuple(requires),
            conflicts=tuple(conflicts),
            files=tuple(files),
            modules=tuple(modules),
            module_files=tuple(module_files),
        )
    except KmodError:
        raise
    except (OSError, EOFError, ValueError, KeyError) as err:
        raise KmodError(path, f"corrupt or truncated .deb: {err}") from None
    except Exception as err:  # python-debian's DebError/ArError and friends
        raise KmodError(path, f"corrupt or truncated .deb: {type(err).__name__}: {err}") from None
    if not info.name:
        raise KmodError(path, "control file has no Package field")
    return info
