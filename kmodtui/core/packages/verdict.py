"""Ask the package manager itself whether it would install a package set, in a scratch root: apt-get
--simulate for .debs (dpkg --dry-run never checks Depends: it stops before configuring), rpm -i --test
against a scratch rpmdb for RPMs. The scratch root holds what the target has: the kernel's own
package and the installed packages given. The answer is the tool's own words; a missing tool is
"not asked", never a guess.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass

from kmodtui.core.packages.read import read_package

TIMEOUT = 30.0  # seconds; apt answers a small set in ~0.05 s, rpm with its kernel package in ~1 s
WORDS_LIMIT = 4000  # characters of the tool's answer kept


@dataclass(frozen=True)
class Installed:
    """A package the scratch root has installed."""

    name: str
    version: str
    arch: str = ""
    provides: str = ""  # as a control file writes it


@dataclass(frozen=True)
class Verdict:
    tool: str  # "apt-get", "rpm"
    command: str  # as run, the scratch root left out
    asked: bool  # False: the tool is not here (words says so)
    accepted: bool
    words: str  # what the tool said: its refusal, or what it would install

    @property
    def summary(self) -> str:
        """One line: the tool's answer, in its words."""
        if not self.asked:
            return self.words
        lines = [line.strip() for line in self.words.splitlines() if line.strip()]
        first = next((line for line in lines if not line.endswith(":")), lines[0] if lines else "")  # not a heading
        return f"{self.tool} would accept them" if self.accepted else f"{self.tool} refuses them: {first}"


def not_asked(tool: str, why: str) -> Verdict:
    return Verdict(tool, "", False, False, f"not asked: {why}")


def ask(paths: Sequence[str], installed: Sequence[Installed] = (), kernel_symvers: str = "", arch: str = "") -> Verdict:
    """The package manager's answer on installing `paths` together (all .deb or all .rpm); `arch`: the
    debs' architecture, when the caller has read them."""
    if paths and all(p.endswith(".rpm") for p in paths):
        return ask_rpm(paths, kernel_symvers)
    return ask_apt(paths, installed, arch)


# ---- Debian: apt-get --simulate ----------------------------------------------------------------

def _stanza(package: Installed, native: str) -> str:
    lines = [f"Package: {package.name}", "Status: install ok installed", f"Version: {package.version or '0'}",
             f"Architecture: {package.arch or native}", "Maintainer: kmodtui <kmodtui@localhost>"]
    if package.provides:
        lines.append(f"Provides: {package.provides}")
    lines.append("Description: installed in kmodtui's scratch root")
    return "\n".join(lines) + "\n"


def ask_apt(debs: Sequence[str], installed: Sequence[Installed] = (), arch: str = "") -> Verdict:
    """apt-get --simulate install of the .debs, in a scratch apt state whose dpkg status holds
    `installed` (and no archive): what `apt install ./x.deb` says on the target."""
    if shutil.which("apt-get") is None:
        return not_asked("apt-get", "apt-get is not installed")
    if not arch:
        arch = next((a for a in (read_package(d).arch for d in debs) if a and a != "all"), "")
    native = arch if arch and arch != "all" else _dpkg_arch()
    with tempfile.TemporaryDirectory(prefix="kmodtui-apt-") as scratch:
        for sub in ("lists/partial", "cache/archives/partial", "etc/apt.conf.d", "etc/sources.list.d",
                    "etc/preferences.d"):
            os.makedirs(os.path.join(scratch, sub))
        with open(os.path.join(scratch, "status"), "w", encoding="utf-8") as f:
            f.write("\n".join(_stanza(p, native) for p in installed if "\n" not in p.name + p.version + p.provides))
        open(os.path.join(scratch, "etc", "sources.list"), "w").close()
        config = os.path.join(scratch, "apt.conf")
        with open(config, "w", encoding="utf-8") as f:  # read first (APT_CONFIG): this machine's apt.conf.d is not
            f.write(f'Dir::Etc::Parts "{scratch}/etc/apt.conf.d";\n')
        options = [f"Dir::State::status={scratch}/status", f"Dir::State::Lists={scratch}/lists",
                   f"Dir::State::extended_states={scratch}/extended_states", f"Dir::Cache={scratch}/cache",
                   f"Dir::Etc::SourceList={scratch}/etc/sources.list", f"Dir::Etc::SourceParts={scratch}/etc/sources.list.d",
                   f"Dir::Etc::Preferences={scratch}/etc/preferences", f"Dir::Etc::PreferencesParts={scratch}/etc/preferences.d",
                   f"APT::Architecture={native}", "APT::Architectures::=", "Debug::NoLocking=1", "quiet=1"]
        argv = ["apt-get", *(a for o in options for a in ("-o", o)), "--simulate", "--no-install-recommends",
                "install", *(os.path.abspath(d) for d in debs)]
        shown = "apt-get --simulate install " + " ".join(os.path.basename(d) for d in debs)
        try:
            result = subprocess.run(argv, capture_output=True, text=True, timeout=TIMEOUT, errors="replace",
                                    env={**os.environ, "LC_ALL": "C", "APT_CONFIG": config})
        except subprocess.TimeoutExpired:
            return Verdict("apt-get", shown, True, False, f"no answer in {TIMEOUT:.0f} s")
    lines = (result.stdout + "\n" + result.stderr).splitlines()
    if result.returncode == 0:
        words = [line for line in lines if line.startswith(("Inst ", "Conf "))]
    else:
        unmet = [line.strip() for line in lines if " : " in line and line.startswith(" ")]
        errors = [line for line in lines if line.startswith("E: ")]
        words = unmet + errors or lines[-5:]
    return Verdict("apt-get", shown, True, result.returncode == 0, "\n".join(words)[:WORDS_LIMIT])


def _dpkg_arch() -> str:
    try:
        return subprocess.run(["dpkg", "--print-architecture"], capture_output=True, text=True).stdout.strip() or "amd64"
    except OSError:
        return "amd64"


def installed_from(db: object) -> list[Installed]:
    """The scratch root's packages from an installed-package list (packageset.InstalledDb)."""
    from kmodtui.core.packages.packageset import InstalledDb

    if not isinstance(db, InstalledDb):
        return []
    return [Installed(p.name, p.version, "", ", ".join(f"{d.name} ({d.relation} {d.version})" if d.relation else d.name
                                                      for d in p.provides)) for p in db.packages.values()]


# ---- RPM: rpm -i --test ------------------------------------------------------------------------

def ask_rpm(rpms: Sequence[str], kernel_symvers: str = "") -> Verdict:
    """rpm -i --test of the RPMs against a scratch rpmdb holding the kernel's package: one that
    Provides kernel(<symbol>) = <crc> for every export of the kernel's symvers, as RHEL's kernel-core
    does (made with rpmbuild, installed --justdb)."""
    if shutil.which("rpm") is None:
        return not_asked("rpm", "rpm is not installed")
    shown = "rpm -i --test " + " ".join(os.path.basename(r) for r in rpms)
    with tempfile.TemporaryDirectory(prefix="kmodtui-rpm-") as scratch:
        root = os.path.join(scratch, "root")
        base = ["rpm", "--root", root, "--dbpath", "/var/lib/rpm"]
        try:
            subprocess.run([*base, "--initdb"], capture_output=True, check=True, timeout=TIMEOUT)
            if kernel_symvers:
                if shutil.which("rpmbuild") is None:
                    return not_asked("rpm", "rpmbuild is not installed (it makes the scratch rpmdb's kernel package)")
                stub = _kernel_stub(scratch, kernel_symvers)
                subprocess.run([*base, "-i", "--justdb", "--nodeps", "--ignorearch", "--ignoreos", stub],
                               capture_output=True, check=True, timeout=TIMEOUT)
            result = subprocess.run([*base, "-i", "--test", "--ignorearch", "--ignoreos",
                                     *(os.path.abspath(r) for r in rpms)],
                                    capture_output=True, text=True, timeout=TIMEOUT, errors="replace",
                                    env={**os.environ, "LC_ALL": "C"})
        except subprocess.TimeoutExpired:
            return Verdict("rpm", shown, True, False, f"no answer in {TIMEOUT:.0f} s")
        except subprocess.CalledProcessError as err:
            return not_asked("rpm", f"the scratch rpmdb could not be made ({(err.stderr or b'').decode(errors='replace').strip()[-200:]})")
    lines = [line.strip() for line in (result.stdout + "\n" + result.stderr).splitlines()
             if line.strip() and "should not be used directly" not in line and "know what you are doing" not in line]
    words = lines if result.returncode != 0 else [f"{os.path.basename(r)}: no failed dependencies" for r in rpms]
    return Verdict("rpm", shown, True, result.returncode == 0, "\n".join(words)[:WORDS_LIMIT])


def _kernel_stub(scratch: str, symvers: str) -> str:
    """An RPM that Provides what a RHEL kernel package does for this symvers: kernel(<symbol>) = <crc>."""
    from kmodtui.core.symvers.parse import read_symvers

    provides = [f"Provides: kernel({s.name}) = 0x{s.crc:08x}" for s in read_symvers(symvers).by_name.values()
                if s.crc is not None and _rpm_word(s.name)]
    topdir = os.path.join(scratch, "rpmbuild")
    os.makedirs(topdir)
    spec = os.path.join(topdir, "kernel.spec")
    with open(spec, "w", encoding="utf-8") as f:
        f.write("\n".join(["Name: kmodtui-scratch-kernel", "Version: 1", "Release: 1", "License: GPL",
                           "Summary: the kernel's kernel() Provides", "BuildArch: noarch", *provides,
                           "%description", "The kernel package of kmodtui's scratch rpmdb.", "%files", ""]))
    subprocess.run(["rpmbuild", "-bb", "--define", f"_topdir {topdir}", spec], capture_output=True, check=True,
                   timeout=TIMEOUT)
    return os.path.join(topdir, "RPMS", "noarch", "kmodtui-scratch-kernel-1-1.noarch.rpm")


def _rpm_word(text: str) -> bool:
    return bool(text) and all(c.isalnum() or c in "_.+-~^" for c in text)
