"""Keeping modules alive across kernels: will my out-of-tree modules load on a new kernel
(like RHEL's weak-modules), signing for Secure Boot, and userspace/module version lock."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass

from kmodtui.core.errors import KmodError
from kmodtui.core.model import Kernel
from kmodtui.core.paths import state_dir
from kmodtui.core.resolve.engine import ResolveResult, resolve

OUT_OF_TREE_DIRS = ("updates", "extra", "weak-updates")


def installed_out_of_tree_modules(release: str | None = None, root: str = "/") -> list[str]:
    """Folders of out-of-tree modules installed for a kernel (default: the running one)."""
    release = release or os.uname().release
    base = os.path.join(root, "lib", "modules", release)
    return [os.path.join(base, d) for d in OUT_OF_TREE_DIRS if os.path.isdir(os.path.join(base, d))]


@dataclass(frozen=True)
class ModuleVerdict:
    module: str
    loads: bool
    problems: int
    reasons: tuple[str, ...]  # first few problems, in words


def check_update(modules: list[str], new_kernel: Kernel) -> tuple[ResolveResult, list[ModuleVerdict]]:
    """Resolve the modules (which may provide each other) against the new kernel's symvers."""
    result = resolve(modules, new_kernel)
    by_module: dict[str, list[str]] = {}
    for finding in result.problems:
        text = f"{finding.status} {finding.symbol}".strip()
        by_module.setdefault(finding.module, []).append(text)
    verdicts = [ModuleVerdict(m.path, m.path not in by_module, len(by_module.get(m.path, [])),
                              tuple(by_module.get(m.path, [])[:5])) for m in result.modules]
    verdicts += [ModuleVerdict(path, False, len(reasons), tuple(reasons[:5]))
                 for path, reasons in by_module.items() if path not in {m.path for m in result.modules}]
    return result, verdicts


# ---- signing -------------------------------------------------------------------------------------

def default_signing_key() -> tuple[str, str]:
    """Where the TUI keeps the key pair it makes on request (kmodtui's state dir, not /var/lib/dkms)."""
    directory = os.path.join(state_dir(), "mok")
    return os.path.join(directory, "MOK.priv"), os.path.join(directory, "MOK.der")


def make_signing_key(directory: str, common_name: str = "kmodtui module signing key") -> tuple[str, str]:
    """A new key pair for module signing (MOK): private key PEM and DER certificate."""
    openssl = shutil.which("openssl")
    if openssl is None:
        raise KmodError("openssl", "is not installed (Debian: apt-get install openssl)")
    os.makedirs(directory, mode=0o700, exist_ok=True)
    os.chmod(directory, 0o700)  # makedirs' mode is filtered by the umask (000 would give 0777)
    key, cert = os.path.join(directory, "MOK.priv"), os.path.join(directory, "MOK.der")
    if os.path.exists(key) or os.path.exists(cert):
        raise KmodError(directory, "already holds MOK.priv/MOK.der; kmodtui does not overwrite keys")
    old_umask = os.umask(0o077)  # the private key is never readable by others, not even for a moment
    try:
        result = _openssl_req(openssl, common_name, key, cert)
    finally:
        os.umask(old_umask)
    if result.returncode != 0:
        raise KmodError(directory, f"openssl could not make the key: {result.stderr.strip()[-200:]}")
    os.chmod(key, 0o600)
    return key, cert


def _openssl_req(openssl: str, common_name: str, key: str, cert: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([openssl, "req", "-new", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "36500",
                             "-subj", f"/CN={common_name}/", "-outform", "DER", "-keyout", key, "-out", cert,
                             "-addext", "extendedKeyUsage=codeSigning"], capture_output=True, text=True)


def sign_modules(modules: list[str], kernel: Kernel, key: str, cert: str, hash_algo: str = "sha256") -> list[str]:
    """Sign with the kernel's own scripts/sign-file (what kbuild and dkms use)."""
    sign_file = os.path.join(kernel.build_dir, "scripts", "sign-file")
    if not os.access(sign_file, os.X_OK):
        raise KmodError(sign_file, "not found in the kernel's build tree: cannot sign for this kernel")
    for path in (key, cert):
        if not os.path.isfile(path):
            raise KmodError(path, "no such key or certificate file")
    signed = []
    for module in modules:
        result = subprocess.run([sign_file, hash_algo, key, cert, module], capture_output=True, text=True)
        if result.returncode != 0:
            raise KmodError(module, f"sign-file failed: {result.stderr.strip()[-200:]}")
        signed.append(module)
    return signed


# ---- userspace lock ------------------------------------------------------------------------------

def upstream_version(version: str) -> str:
    """'1:2.1.11-1~bpo12+1' / '2.1.11-1.el9' -> '2.1.11': the part both sides are built from."""
    version = version.split(":", 1)[-1]
    return re.split(r"[-~+]", version, maxsplit=1)[0]


@dataclass(frozen=True)
class VersionLock:
    module_version: str
    tools_version: str
    matches: bool
    explanation: str


def check_userspace(module_version: str, module_label: str, tools_version: str, tools_label: str) -> VersionLock:
    a, b = upstream_version(module_version), upstream_version(tools_version)
    if not a or not b:
        return VersionLock(module_version, tools_version, False,
                           f"cannot tell: {module_label} has no version" if not a else f"{tools_label} has no version")
    if a == b:
        return VersionLock(module_version, tools_version, True,
                           f"{module_label} {a} and {tools_label} {b} come from the same release.")
    return VersionLock(module_version, tools_version, False,
                       f"{module_label} is {a} but {tools_label} is {b}: the tools talk to the module through "
                       "ioctls and on-disk formats that change between releases (the Guix ZFS thread's worry). "
                       f"Install {tools_label} {a}, or rebuild the module from the {b} source, before rebooting.")
