"""dkms.conf as dkms's own `read_conf` reads it, for a given dkms version: the package name and version,
the module records (BUILT_MODULE_NAME defaulted from PACKAGE_NAME, locations), and whether dkms would
refuse the file, with dkms's own error lines in dkms's order. Nothing is run: the values come from
`dkmsconf.py`'s static reading.

Two versions are read exactly, each checked against the real script on every dkms.conf of dkms's own
test suite (tests/core/test_dkms_suite.py): 3.0.10 (Debian 12's) and 3.4.3 (the newest read here).
Others are read by the release that changed each rule, from dkms's git history (`RULES_SINCE`).
"""

from __future__ import annotations

import functools
import re
import shutil
import subprocess
from dataclasses import dataclass

from kmodtui.core.build.dkmsconf import DkmsConf

Version = tuple[int, ...]
DEBIAN_12: Version = (3, 0, 10)
NEWEST: Version = (3, 4, 3)

# the first dkms release with each behaviour (git tags of dkms-project/dkms)
RULES_SINCE: dict[str, Version] = {
    "zero_modules": (3, 0, 11),  # a dkms.conf naming no module is added, with a warning (was refused)
    "package_first": (3, 0, 11),  # PACKAGE_NAME/_VERSION are checked before the records
    "kernel_min_max": (3, 0, 11),  # BUILD_EXCLUSIVE_KERNEL_MIN/_MAX
    "strip_cr": (3, 1, 5),  # a value's trailing \r (a CRLF file) is dropped
    "one_record_default": (3, 1, 7),  # PACKAGE_NAME is the module when there is one record (was: one DEST_MODULE_LOCATION)
    "duplicates": (3, 1, 7),  # two records with one built or dest module are refused
    "autoinstall_value": (3, 1, 7),  # AUTOINSTALL must be yes, no or empty
    "yes_no": (3, 2, 0),  # ... and so must BUILD_DEPENDS_REBUILD and NO_WEAK_MODULES
    "sparse": (3, 2, 2),  # records run to the highest index set (was: to the number of elements)
    "empty_location_once": (3, 2, 2),  # an empty DEST_MODULE_LOCATION is not also told it lacks /kernel...
    "per_module_exclusive": (3, 3, 0),  # BUILD_EXCLUSIVE_*[i] apply to record i
}
_YES_NO = ("AUTOINSTALL", "BUILD_DEPENDS_REBUILD", "NO_WEAK_MODULES")
_RECORDS = ("BUILT_MODULE_NAME", "BUILT_MODULE_LOCATION", "DEST_MODULE_NAME", "DEST_MODULE_LOCATION")
_CHECKED = ("", "PACKAGE_NAME", "PACKAGE_VERSION") + _RECORDS + _YES_NO
MAX_RECORDS = 1024  # a hostile BUILT_MODULE_NAME[999999] would make a million records: past this, no verdict
_DEST_PREFIXES = ("/kernel", "/updates", "/extra")


@dataclass(frozen=True)
class DkmsModule:
    index: int  # the record number (dkms's "record #N")
    built_name: str
    built_location: str  # as dkms uses it: "" or ending in "/"
    dest_name: str
    dest_location: str  # DEST_MODULE_LOCATION[index] as written (dkms may override it per distribution)


@dataclass(frozen=True)
class DkmsReading:
    dkms_version: Version
    name: str
    version: str
    modules: tuple[DkmsModule, ...]
    errors: tuple[str, ...]  # dkms's own lines ("dkms.conf: Error! ..."), in its order
    warnings: tuple[str, ...]
    newer: str = ""  # how a newer dkms reads this file differently, "" if it does not
    # keys read_conf checks whose value only the shell knows ("": a line of shell that may set any):
    # then dkms's verdict is known only when it reads the file, and none is given here
    undecided: tuple[str, ...] = ()

    @property
    def refused(self) -> bool:
        return bool(self.errors) and not self.undecided

    @property
    def verdict(self) -> str:
        """'' when dkms accepts the file (or only dkms can tell), else 'dkms X would refuse this file:
        <its reasons>', on one line."""
        if not self.refused:
            return ""
        reasons = "; ".join(e.removeprefix("dkms.conf: Error! ").replace("\n", " ") for e in self.errors[:3])
        more = f" (and {len(self.errors) - 3} more)" if len(self.errors) > 3 else ""
        return f"{version_text(self.dkms_version)} would refuse this file: {reasons}{more}"


def version_text(version: Version) -> str:
    return "dkms " + ".".join(map(str, version))


def _since(version: Version, rule: str) -> bool:
    return version >= RULES_SINCE[rule]


def _elements(conf: DkmsConf, key: str, version: Version) -> dict[int, str]:
    items = conf.elements(key)
    if not _since(version, "strip_cr"):
        items = {i: v + "\r" if (key, i) in conf.carriage_returns else v for i, v in items.items()}
    return items


def read_as_dkms(conf: DkmsConf, version: Version) -> DkmsReading:
    """read_conf (and, from 3.0.11, read_conf_strict, which add, build and install use) of `version`."""
    arrays = {k: _elements(conf, k, version) for k in _RECORDS}
    name = _elements(conf, "PACKAGE_NAME", version).get(0, "")
    package_version = _elements(conf, "PACKAGE_VERSION", version).get(0, "")
    errors: list[str] = []
    warnings: list[str] = []
    new_order = _since(version, "package_first")
    package_errors = [f"dkms.conf: Error! No '{key}' directive specified." for key, value in
                      (("PACKAGE_NAME", name), ("PACKAGE_VERSION", package_version)) if not value]
    if new_order:
        errors += package_errors
    if _since(version, "sparse"):
        count = max((max(a) + 1 for a in arrays.values() if a), default=0)
    else:
        count = max((len(a) for a in arrays.values()), default=0)
    too_many = count > MAX_RECORDS
    count = min(count, MAX_RECORDS)
    if _since(version, "one_record_default"):
        default_name = count == 1
    else:
        default_name = len(arrays["DEST_MODULE_LOCATION"]) == 1
    modules: list[DkmsModule] = []
    for i in range(count):
        built = arrays["BUILT_MODULE_NAME"].get(i, "") or (name if default_name else "")
        location = arrays["BUILT_MODULE_LOCATION"].get(i, "")
        location = location + "/" if location and not location.endswith("/") else location
        dest = arrays["DEST_MODULE_NAME"].get(i, "") or built
        dest_location = arrays["DEST_MODULE_LOCATION"].get(i, "")
        modules.append(DkmsModule(i, built, location, dest, dest_location))
        if not built:
            errors.append(f"dkms.conf: Error! No 'BUILT_MODULE_NAME' directive specified for record #{i}.")
        if built.endswith((".o", ".ko")):
            errors.append(f"dkms.conf: Error! 'BUILT_MODULE_NAME' directive ends in '.o' or '.ko' in record #{i}.")
        if dest.endswith((".o", ".ko")):
            errors.append(f"dkms.conf: Error! 'DEST_MODULE_NAME' directive ends in '.o' or '.ko' in record #{i}.")
        if not dest_location:
            errors.append(f"dkms.conf: Error! No 'DEST_MODULE_LOCATION' directive specified for record #{i}.")
        if (dest_location or not _since(version, "empty_location_once")) and \
                not dest_location.startswith(_DEST_PREFIXES):
            errors.append("dkms.conf: Error! Directive 'DEST_MODULE_LOCATION' does not begin with\n"
                          f"'/kernel', '/updates', or '/extra' in record #{i}.")
    if count == 0 and not _since(version, "zero_modules"):  # no record: no DEST_MODULE_LOCATION at all
        errors.append("dkms.conf: Error! No 'DEST_MODULE_LOCATION' directive specified.")
    if not new_order:
        errors += package_errors
    for key in _YES_NO if _since(version, "yes_no") else _YES_NO[:1] if _since(version, "autoinstall_value") else ():
        value = _elements(conf, key, version).get(0, "")
        if value.lower() not in ("", "yes", "no"):
            errors.append(f"dkms.conf: Error! Unsupported {key} value '{value}'")
    if not errors:  # read_conf_strict (add, build, install) runs only when read_conf passed
        if count == 0 and _since(version, "zero_modules"):
            warnings.append("dkms.conf: Warning! Zero modules specified.")
        if _since(version, "duplicates"):
            errors += _duplicates(modules)
    if any((key, 0) in conf.carriage_returns for key in ("PACKAGE_NAME", "PACKAGE_VERSION", "BUILT_MODULE_NAME")) \
            and not _since(version, "strip_cr"):
        warnings.append(f"dkms.conf has CRLF line ends: {version_text(version)} keeps the carriage return in "
                        f"the names (PACKAGE_NAME {name!r}); dkms strips it since 3.1.5")
    undecided = tuple(k for k in _CHECKED if k in conf.unread) + (
        (f"records past #{MAX_RECORDS - 1}",) if too_many else ())
    reading = DkmsReading(version, name, package_version, tuple(modules), tuple(errors), tuple(warnings),
                          undecided=undecided)
    if version < NEWEST and not undecided:
        newest = read_as_dkms(conf, NEWEST)
        if not newest.undecided and \
                (newest.refused, newest.name, newest.modules) != (reading.refused, reading.name, reading.modules):
            reading = DkmsReading(version, name, package_version, tuple(modules), tuple(errors), tuple(warnings),
                                  newer=_difference(reading, newest))
    return reading


def _duplicates(modules: list[DkmsModule]) -> list[str]:
    errors: list[str] = []
    for key, names in (("BUILT_MODULE_NAME", [m.built_location + m.built_name for m in modules]),
                       ("DEST_MODULE_NAME", [m.dest_name for m in modules])):
        seen: set[str] = set()
        for i, module_name in enumerate(names):
            if module_name in seen:
                errors.append(f"dkms.conf: Error! Duplicate module '{module_name}' in '{key}[{i}]'.")
            seen.add(module_name)
    return errors


def _difference(reading: DkmsReading, newest: DkmsReading) -> str:
    """One sentence: what the newest dkms makes of the file that `reading`'s version does not."""
    newer = version_text(NEWEST)
    if reading.refused and not newest.refused:
        return f"{newer} accepts this file: it needs a newer dkms than {version_text(reading.dkms_version)[5:]}"
    if newest.refused and not reading.refused:
        return f"{newest.verdict} (a newer dkms than {version_text(reading.dkms_version)[5:]} refuses it)"
    names = [m.built_name for m in newest.modules]
    return (f"{newer} reads it as {newest.name!r} {newest.version!r} with modules {names}: it needs a newer "
            f"dkms for that")


@functools.cache
def installed_dkms_version() -> Version | None:
    """The version `dkms --version` gives (dkms-3.0.10), None without a dkms on PATH."""
    program = shutil.which("dkms")
    if program is None:
        return None
    try:
        done = subprocess.run([program, "--version"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    match = re.search(r"(\d{1,6})\.(\d{1,6})(?:\.(\d{1,6}))?", done.stdout[:200])  # dkms-3.0.10
    return tuple(int(x or 0) for x in match.groups()) if match else None


def read_for_installed(conf: DkmsConf) -> DkmsReading:
    """As the dkms installed here reads it (the newest known rules when none is installed)."""
    return read_as_dkms(conf, installed_dkms_version() or NEWEST)


def _ver(release: str) -> str:
    """dkms's VER: every number padded to three digits, so versions compare as strings."""
    return re.sub(r"\d+", lambda m: m.group().zfill(3), release)


def _config_excludes(words: str, kernel_config: str | None) -> str:
    """BUILD_EXCLUSIVE_CONFIG="CONFIG_X !CONFIG_Y" against the kernel's .config text ('' = it allows)."""
    if kernel_config is None:  # dkms checks only when the kernel's config file exists
        return ""
    enabled = {line.split("=", 1)[0] for line in kernel_config.splitlines()
               if line.startswith("CONFIG_") and line.split("=", 1)[-1][:1] in ("y", "m")}
    for word in words.split():
        if word.startswith("!") and word[1:] in enabled:
            return f"BUILD_EXCLUSIVE_CONFIG wants {word[1:]} off"
        if not word.startswith("!") and word not in enabled:
            return f"BUILD_EXCLUSIVE_CONFIG wants {word} on"
    return ""


def _directive_excludes(conf: DkmsConf, version: Version, index: int | None, release: str, arch: str,
                        kernel_config: str | None) -> str:
    """Why one set of BUILD_EXCLUSIVE_* (the global ones, index None, or record `index`'s) excludes
    the kernel, '' when it does not. Regexes are matched as bash's =~ matches them (ere.py)."""
    from kmodtui.core.build.ere import EreError, ere_search

    def value(key: str) -> str:
        return _elements(conf, key, version).get(0 if index is None else index, "")

    keys = ["BUILD_EXCLUSIVE_KERNEL", "BUILD_EXCLUSIVE_ARCH"]
    if _since(version, "kernel_min_max"):
        keys[1:1] = ["BUILD_EXCLUSIVE_KERNEL_MIN", "BUILD_EXCLUSIVE_KERNEL_MAX"]
    for key in keys:
        pattern = value(key)
        if index is None and key == "BUILD_EXCLUSIVE_KERNEL_MAX" and not pattern and not any(
                _elements(conf, key, version).values()):
            pattern = value("OBSOLETE_BY") if _since(version, "per_module_exclusive") else ""
        if not pattern:
            continue
        if key == "BUILD_EXCLUSIVE_ARCH" and not arch:
            continue  # the arch is not known to the caller: dkms decides when it builds
        subject = arch if key == "BUILD_EXCLUSIVE_ARCH" else release
        if key.endswith(("_MIN", "_MAX")):
            if (_ver(release) < _ver(pattern)) if key.endswith("_MIN") else (_ver(release) > _ver(pattern)):
                return f"{key}={pattern} excludes {release}"
            continue
        try:
            if not ere_search(pattern, subject):
                return f"{key}={pattern} excludes {subject}"
        except EreError:
            continue  # a pattern not read here: dkms decides when it builds
    return _config_excludes(value("BUILD_EXCLUSIVE_CONFIG"), kernel_config)


EXCLUSIVE_KEYS = ("BUILD_EXCLUSIVE_KERNEL", "BUILD_EXCLUSIVE_KERNEL_MIN", "BUILD_EXCLUSIVE_KERNEL_MAX",
                  "BUILD_EXCLUSIVE_ARCH", "BUILD_EXCLUSIVE_CONFIG")


def ignored_exclusive(conf: DkmsConf, version: Version) -> list[str]:
    """BUILD_EXCLUSIVE_* directives the file gives that `version` does not honour (it builds anyway)."""
    ignored = []
    for key in EXCLUSIVE_KEYS:
        for index in _elements(conf, key, version):
            if key.endswith(("_MIN", "_MAX")) and not _since(version, "kernel_min_max"):
                ignored.append(f"{key}[{index}]" if index else key)
            elif index and not _since(version, "per_module_exclusive"):
                ignored.append(f"{key}[{index}]")
    return ignored


def excluded(conf: DkmsConf, version: Version, release: str, arch: str, kernel_config: str | None = None) -> str:
    """Why dkms `version` would not build the package for this kernel and arch (its build_exclude),
    '' when it would. `kernel_config` is the kernel's .config text (None: dkms finds none); an arch
    of "" is not known, and BUILD_EXCLUSIVE_ARCH is not checked."""
    if not _since(version, "per_module_exclusive"):
        return _directive_excludes(conf, version, None, release, arch, kernel_config)
    reading = read_as_dkms(conf, version)
    reasons = []
    for module in reading.modules:
        why = (_directive_excludes(conf, version, None, release, arch, kernel_config)
               or _directive_excludes(conf, version, module.index, release, arch, kernel_config))
        if not why:
            return ""
        reasons.append(why)
    has_directives = any(_elements(conf, key, version) for key in EXCLUSIVE_KEYS) or bool(
        _elements(conf, "OBSOLETE_BY", version))
    if not has_directives:
        return ""
    return reasons[0] if reasons else _directive_excludes(conf, version, None, release, arch, kernel_config) or \
        "no module left to build"
