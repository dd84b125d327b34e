"""Module signing for Secure Boot: a MOK key pair made with openssl (never overwriting one, private
under any umask), and signing with the kernel's own scripts/sign-file.

In the build layer because a package build's sign step runs it (`python -m kmodtui.core.build.signing`,
named by this module's own __name__ where the step is planned, so the import-linter layers see it);
`kmodtui sign` and the TUI's sign screen reach it through kmodtui.core.lifecycle.signing.
"""

from __future__ import annotations

import os
import shutil
import subprocess

from kmodtui.core.errors import KmodError
from kmodtui.core.model import Kernel
from kmodtui.core.paths import state_dir


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
    return sign_files(modules, kernel.build_dir, key, cert, hash_algo)


def sign_files(modules: list[str], build_dir: str, key: str, cert: str, hash_algo: str = "sha256") -> list[str]:
    sign_file = os.path.join(build_dir, "scripts", "sign-file")
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


def ensure_signing_key() -> tuple[str, str]:
    """kmodtui's key pair, made on first use (the one the TUI's s and `kmodtui sign` use)."""
    key, cert = default_signing_key()
    if os.path.isfile(key) and os.path.isfile(cert):
        return key, cert
    return make_signing_key(os.path.dirname(key))


def _make_key_pair(key: str, cert: str) -> None:
    """A key pair at these paths, as dkms 3 makes its MOK (private key never readable by others)."""
    openssl = shutil.which("openssl")
    if openssl is None:
        raise KmodError("openssl", "is not installed (Debian: apt-get install openssl)")
    os.makedirs(os.path.dirname(key), mode=0o700, exist_ok=True)
    old_umask = os.umask(0o077)
    try:
        result = _openssl_req(openssl, "DKMS module signing key", key, cert)
    finally:
        os.umask(old_umask)
    if result.returncode != 0:
        raise KmodError(key, f"openssl could not make the key: {result.stderr.strip()[-200:]}")
    print(f"kmodtui: made the signing key {key} (enroll {cert} with mokutil --import)")


def _not_plainly_inside(path: str, folder: str) -> str:
    """Why `path` may not be signed in place by a step outside the sandbox ("" = it may)."""
    import stat

    if not os.path.realpath(path).startswith(os.path.realpath(folder) + os.sep):
        return "is not inside the build's folder: not signed"
    try:
        st = os.lstat(path)
    except OSError as err:
        return f"cannot be read: {err.strerror}"
    return "" if stat.S_ISREG(st.st_mode) else "is not a plain file (a link?): not signed"


def main(argv: list[str] | None = None) -> int:
    """The sign step of a package build: sign every module before it is packaged."""
    import argparse
    import sys

    parser = argparse.ArgumentParser(prog="kmodtui.core.build.signing")
    parser.add_argument("--build-dir", required=True, help="the kernel's build tree (its scripts/sign-file)")
    parser.add_argument("--key", help="private key (default: kmodtui's key pair, made on first use)")
    parser.add_argument("--cert", help="certificate that goes with --key")
    parser.add_argument("--inside", help="the build's folder: a module that is not a plain file in it is refused "
                        "(the sandboxed build wrote it; a link could point this step, outside, at any file)")
    parser.add_argument("--find", help="sign every *.ko under this folder (dkms's tree)")
    parser.add_argument("--make-key", action="store_true", help="make --key and --cert when both are missing "
                        "(as dkms 3 makes its MOK on first use)")
    parser.add_argument("modules", nargs="*", help="module files; @FILE: the paths listed in FILE")
    args = parser.parse_args(argv)
    from kmodtui.core.paths import existing_listed_files

    modules = existing_listed_files(args.modules)
    if args.find:
        from kmodtui.core.trees import find

        modules += sorted(find(args.find, "*.ko"))
    if not modules:
        print("kmodtui: no built module to sign", file=sys.stderr)
        return 1
    if args.inside:
        for module in modules:
            refused = _not_plainly_inside(module, args.inside)
            if refused:
                print(f"kmodtui: {module}: {refused}", file=sys.stderr)
                return 1
    try:
        if args.make_key and args.key and args.cert and not os.path.exists(args.key) and not os.path.exists(args.cert):
            _make_key_pair(args.key, args.cert)
        key, cert = (args.key, args.cert) if args.key and args.cert else ensure_signing_key()
        for module in sign_files(modules, args.build_dir, key, cert):
            print(f"kmodtui: signed {module} (key {cert})")
    except KmodError as err:
        print(f"kmodtui: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
