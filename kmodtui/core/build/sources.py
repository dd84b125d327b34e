"""What kind of module source is this? Read, never executed."""

from __future__ import annotations

import glob
import os
import re
from collections.abc import Callable

from kmodtui.core import scriptnames
from kmodtui.core.build import treekinds
from kmodtui.core.build.dkmsconf import DkmsConf, parse_dkms_conf
from kmodtui.core.build.inputs import (
    KIND_AUTOTOOLS,
    KIND_DKMS,
    KIND_KBUILD,
    KIND_SPEC,
    KIND_SRPM,
    ModuleSource,
)
from kmodtui.core.errors import KmodError

# Line by line ([ \t], not \s, which would run over newlines: a run of blank lines read again from each).
_OBJ_M = re.compile(r"^[ \t]*obj-(?:m|\$\([A-Z_]+\))[ \t]*[+:]?=[ \t]*(?P<objs>.+)$", re.M)

TARBALL_SUFFIXES = (".tar.gz", ".tgz", ".tar.xz", ".txz", ".tar.bz2", ".tar.zst", ".tar")


def detect_source(path: str, cache_dir: str | None = None) -> ModuleSource:
    """A folder, a tarball (unpacked safely into the cache first), an SRPM, or a spec file; with the
    packaging modes its own build supports (each mode says: kmodtui/core/build/modes/)."""
    from kmodtui.core.build import modes

    source = _read_source(path, cache_dir)
    source.modes = modes.listed_for(source)
    return source


def _read_source(path: str, cache_dir: str | None) -> ModuleSource:
    if os.path.isfile(path):
        if path.endswith(".src.rpm"):
            return _detect_srpm(path)
        if path.endswith(".spec") or path.endswith(".spec.in"):
            from kmodtui.core.packages.specfile import read_spec

            spec = read_spec(path)
            source = ModuleSource(os.path.abspath(path), [KIND_SPEC], name=spec.name, name_file=path)
            source.specs[path] = spec.mode
            source.notes += spec.notes
            return source
        if path.endswith(TARBALL_SUFFIXES):
            return _read_source(_unpack_tarball(path, cache_dir), cache_dir)
        if path.endswith(".deb"):
            return _read_source(_unpack_dkms_deb(path, cache_dir), cache_dir)
    if not os.path.isdir(path):
        raise KmodError(path, "no such module source directory (or a tarball, .src.rpm or .spec)")
    source = ModuleSource(os.path.abspath(path))
    dkms_conf = os.path.join(path, "dkms.conf")
    if os.path.isfile(dkms_conf):
        conf = parse_dkms_conf(dkms_conf)
        source.kinds.append(KIND_DKMS)
        source.dkms = conf
        # dkms makes folders of PACKAGE_NAME and kmodtui package names and scripts: checked as read
        source.name = scriptnames.check(scriptnames.PACKAGE, conf.name, dkms_conf) if conf.name else ""
        source.name_file, source.version = dkms_conf, conf.version
        source.modules += conf.modules
        source.notes += [f"dkms.conf {item}" for item in conf.build_time_only]
        source.notes += _dkms_reading_notes(conf)
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
                source.name_file = source.name_file or kbuild_file
    if os.path.isfile(os.path.join(path, "configure.ac")) or os.path.isfile(os.path.join(path, "configure")):
        source.kinds.append(KIND_AUTOTOOLS)
        tree = treekinds.match(path)
        if tree is not None:
            treekinds.read_tree(path, tree, source)
        else:
            _read_autotools_tree(path, source)
    from kmodtui.core.packages.specfile import read_spec

    for spec_path in sorted(glob.glob(os.path.join(path, "*.spec")) + glob.glob(os.path.join(path, "rpm", "*", "*.spec.in"))
                            + glob.glob(os.path.join(path, "rpm", "*", "*.spec"))):
        spec = read_spec(spec_path)
        source.specs[os.path.relpath(spec_path, path)] = spec.mode
        source.notes += [f"{os.path.relpath(spec_path, path)}: {n}" for n in spec.notes]
    if source.specs and KIND_SPEC not in source.kinds:
        source.kinds.append(KIND_SPEC)
    layouts = {os.path.basename(os.path.dirname(p)) for p in source.specs if p.startswith("rpm/")}
    if {"generic", "redhat"} <= layouts:
        source.notes.append("OpenZFS/Lustre layout: ./configure --with-spec=generic|redhat picks rpm/<mode>/*.spec.in "
                            "(generic, the default, gives kmod packages no ksym() Provides)")
    if not source.name:
        source.name = source.modules[0] if source.modules else os.path.basename(source.path)
        source.name_file = source.name_file if source.modules else ""
    if not source.kinds:
        raise KmodError(path, "found no dkms.conf, no Kbuild/Makefile with obj-m, no configure: not a module source kmodtui knows")
    return source


_EXTRA_SYMBOLS = re.compile(r"KBUILD_EXTRA_SYMBOLS\s*[+:]?=\s*([^\"'\n]+)")


def _read_text(path: str, limit: int = 256 * 1024) -> str | None:
    """The start of a source's build file as text, or None when it cannot be read."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read(limit)
    except OSError:
        return None


def extra_symbols_of(path: str) -> list[str]:
    """Module.symvers files a source names in KBUILD_EXTRA_SYMBOLS (Kbuild, Makefile, dkms.conf MAKE)."""
    found: list[str] = []
    for name in ("Kbuild", "Makefile", "dkms.conf"):
        text = _read_text(os.path.join(path, name))
        if text is None:
            continue
        for match in _EXTRA_SYMBOLS.finditer(text):
            for item in match.group(1).split():
                if "$" not in item and item.endswith("Module.symvers") and item not in found:
                    found.append(item)
    return found


_META_LINE = re.compile(r"^(?P<key>[A-Za-z][A-Za-z-]*):\s*(?P<value>\S.*)$")  # the value's end: rstrip()
MAX_META_LINE = 1024  # characters of a META line read (a value is kept to 200)
_KBUILD_DIRS = re.compile(r"^[ \t]*\w+[ \t]*[+:]?=[ \t]*(?P<dirs>(?:[\w.-]+/[ \t]*)+)$", re.M)
_MODULE_NAME = re.compile(r"^[ \t]*MODULE[ \t]*:?=[ \t]*(?P<name>[\w-]+)[ \t]*$", re.M)
_OBJ_OF_MODULE = re.compile(r"^[ \t]*obj-\S+[ \t]*[+:]?=[ \t]*\$\(MODULE\)\.o", re.M)


def read_meta(path: str) -> dict[str, str]:
    """OpenZFS's (and Lustre-style trees') META file: `Key: value` lines (Name, Version, Release,
    Linux-Minimum, Linux-Maximum...). Lines of any other shape are skipped."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            text = f.read(64 * 1024)
    except OSError as err:
        raise KmodError(path, err.strerror or str(err)) from None
    meta: dict[str, str] = {}
    for line in text.splitlines():
        match = _META_LINE.match(line[:MAX_META_LINE])
        if match:
            meta.setdefault(match.group("key").lower(), match.group("value").rstrip()[:200])
    return meta


def _read_autotools_tree(path: str, source: ModuleSource) -> None:
    """An OpenZFS-style tree, read before configure: name and version from META, the modules from
    module/Kbuild.in's folder list and each folder's `MODULE := name` (Makefile.in or Kbuild.in),
    the kernel range it declares (Linux-Minimum/Linux-Maximum)."""
    meta_path = os.path.join(path, "META")
    if os.path.isfile(meta_path):
        meta = read_meta(meta_path)
        if not source.name and meta.get("name"):
            source.name, source.name_file = scriptnames.check(scriptnames.PACKAGE, meta["name"], meta_path), meta_path
        source.version = source.version or meta.get("version", "")
        source.linux_range = (meta.get("linux-minimum", ""), meta.get("linux-maximum", ""))
    module_dir = os.path.join(path, "module")
    found: list[str] = []
    for top in ("Kbuild.in", "Makefile.in"):
        text = _read_text(os.path.join(module_dir, top))
        if text is None:
            continue
        folders = [d.strip("/") for m in _KBUILD_DIRS.finditer(text) for d in m.group("dirs").split()]
        for folder in folders:
            found += [n for n in _modules_of(os.path.join(module_dir, folder)) if n not in found]
        if found:
            break
    if found and not source.modules:
        source.modules = found


def _modules_of(folder: str) -> list[str]:
    for name in ("Makefile.in", "Kbuild.in"):
        text = _read_text(os.path.join(folder, name))
        if text is None:
            continue
        match = _MODULE_NAME.search(text)
        if match and _OBJ_OF_MODULE.search(text):
            return [match.group("name")]
        objs = [o[:-2] for m in _OBJ_M.finditer(text) for o in m.group("objs").split()
                if o.endswith(".o") and "$" not in o]
        if objs:
            return objs
    return []


def _unpack_once(path: str, cache_dir: str | None, unpack: Callable[[str, str, int], object]) -> str:
    """Unpack `path` into the cache once (keyed by its content), through `unpack(path, folder,
    budget)`: into a temporary folder renamed into place only when whole; a refused unpack is removed."""
    import hashlib

    from kmodtui.core.compression import open_regular
    from kmodtui.core.packages.safewrite import cache_budget
    from kmodtui.core.paths import cache_dir as default_cache
    from kmodtui.core.trees import remove_tree

    cache = cache_dir or default_cache()
    with open_regular(path) as f:
        digest = hashlib.file_digest(f, "sha256").hexdigest()[:16]
    dest = os.path.join(cache, "sources", f"{os.path.basename(path)}-{digest}")
    if os.path.isdir(dest):
        return dest
    partial = f"{dest}.partial-{os.getpid()}"
    remove_tree(partial)  # an older kmodtui's, of any depth
    try:
        unpack(path, partial, cache_budget(cache, path))
    except BaseException:
        remove_tree(partial)
        raise
    try:
        os.replace(partial, dest)
    except OSError:  # another kmodtui unpacked the same file meanwhile
        remove_tree(partial)
        if not os.path.isdir(dest):
            raise
    return dest


def _unpack_tarball(path: str, cache_dir: str | None) -> str:
    """Unpack safely (SafeWriter: no write through a link, no link out, capped, streamed through
    the capped decompressor, header records bounded by tarstream) into the cache; returns the top
    folder. A refused unpack is removed."""
    from kmodtui.core.compression import capped_stream, open_regular
    from kmodtui.core.packages.archive import run_unpack, write_tar_member
    from kmodtui.core.packages.safewrite import SafeWriter
    from kmodtui.core.packages.tarstream import tar_members

    def unpack(tarball: str, folder: str, budget: int) -> object:
        def fill(writer: SafeWriter) -> None:
            with open_regular(tarball) as raw:
                for member, body in tar_members(capped_stream(raw, tarball, budget), tarball, "tarball"):
                    write_tar_member(writer, member, body)

        return run_unpack(tarball, "tarball", SafeWriter(folder, tarball, max_bytes=budget), fill)

    dest = _unpack_once(path, cache_dir, unpack)
    entries = [e for e in os.listdir(dest) if not e.startswith(".")]
    top = os.path.join(dest, entries[0]) if len(entries) == 1 else dest
    return top if os.path.isdir(top) and not os.path.islink(top) else dest


def _unpack_dkms_deb(path: str, cache_dir: str | None) -> str:
    """A Debian *-dkms package given as a source: unpacked safely into the cache (nothing in it
    runs), and its usr/src/<name>-<version>/ is the source, as dkms would take it."""
    from kmodtui.core.packages.archive import extract_package

    dest = _unpack_once(path, cache_dir, extract_package)
    src = os.path.join(dest, "usr", "src")
    trees = sorted(t for t in os.listdir(src) if os.path.isdir(os.path.join(src, t))
                   and not os.path.islink(os.path.join(src, t))) if os.path.isdir(src) else []
    with_conf = [t for t in trees if os.path.isfile(os.path.join(src, t, "dkms.conf"))]
    if not with_conf:
        raise KmodError(path, "is not a -dkms package: it holds no usr/src/<name>-<version>/dkms.conf")
    return os.path.join(src, with_conf[0])


def _detect_srpm(path: str) -> ModuleSource:
    """An SRPM's spec (read in memory with rpmfile) and the sources it carries."""
    from kmodtui.core.packages.read import read_rpm_members
    from kmodtui.core.packages.specfile import parse_spec_text

    members = read_rpm_members(path, lambda name: name.endswith(".spec"))
    specs = {name: data for name, data in members.items() if name.endswith(".spec")}
    if not specs:
        raise KmodError(path, "this source RPM holds no .spec")
    source = ModuleSource(os.path.abspath(path), [KIND_SRPM])
    for name, data in specs.items():
        spec = parse_spec_text(data.decode("utf-8", "replace"), f"{path}:{name}")
        source.specs[name] = spec.mode
        source.name, source.name_file = (source.name, source.name_file) if source.name else (spec.name, f"{path}:{name}")
        source.notes += spec.notes
    return source


def _version_tuple(release: str) -> tuple[int, ...]:
    match = re.match(r"(\d+)\.(\d+)(?:\.(\d+))?", release)
    return tuple(int(x or 0) for x in match.groups()) if match else ()


def out_of_range(release: str, source: ModuleSource) -> str:
    """Why the source says it does not support this kernel ("" = it does, or says nothing)."""
    minimum, maximum = source.linux_range
    version = _version_tuple(release)
    if version and minimum and version < _version_tuple(minimum):
        return f"the source needs Linux {minimum} or newer (META Linux-Minimum)"
    if version and maximum and version[:2] > _version_tuple(maximum)[:2]:
        return f"the source supports Linux up to {maximum} (META Linux-Maximum)"
    if source.dkms is not None:
        from kmodtui.core.build.dkmsread import NEWEST, excluded, installed_dkms_version

        why = excluded(source.dkms, installed_dkms_version() or NEWEST, release, arch="")
        if why:
            return f"dkms.conf's {why}"
    return ""


def _dkms_reading_notes(conf: DkmsConf) -> list[str]:
    """What the dkms installed here makes of the file: its refusal with dkms's reasons, what a newer
    dkms reads otherwise, the BUILD_EXCLUSIVE_* it does not honour."""
    from kmodtui.core.build.dkmsread import ignored_exclusive, read_for_installed, version_text

    reading = read_for_installed(conf)
    notes = [f"dkms.conf: {reading.verdict}"] if reading.verdict else []
    if reading.undecided and reading.errors:
        keys = ", ".join(k or "a line of shell" for k in reading.undecided)
        notes.append(f"dkms.conf: whether {version_text(reading.dkms_version)} accepts this file is known only when "
                     f"it reads it ({keys}: only the shell knows the value)")
    notes += [f"dkms.conf: {w}" for w in reading.warnings]
    if reading.newer:
        notes.append(f"dkms.conf: {reading.newer}")
    ignored = ignored_exclusive(conf, reading.dkms_version)
    if ignored:
        notes.append(f"dkms.conf: {version_text(reading.dkms_version)} does not honour {', '.join(ignored)} "
                     "(it builds those modules anyway)")
    return notes
