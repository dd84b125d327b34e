"""A binary-module .deb (dkms 3 dropped `mkbmdeb`): `<name>-modules-<release>`, modules in
/lib/modules/<release>/updates/, depmod in postinst/postrm, and a Depends that names a package
that really exists on the target (or none), never the `linux-image-<release>` guess.

Runs as `python -m kmodtui.core.packages.debpack ...` inside a build, so its output lands in the build log.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile

DEB_ARCH = {"x86_64": "amd64", "aarch64": "arm64", "i686": "i386", "armv7l": "armhf", "ppc64le": "ppc64el",
            "s390x": "s390x", "riscv64": "riscv64", "loongarch64": "loong64"}

# DPKG_ROOT is set when dpkg installs into another root (--root with chrootless scripts):
# depmod must then work on that root, not on the machine running dpkg.
POSTINST = """#!/bin/sh
set -e
if [ "$1" = configure ] && command -v depmod >/dev/null 2>&1; then
    depmod ${{DPKG_ROOT:+-b "$DPKG_ROOT"}} -a {release} || true
fi
"""
POSTRM = """#!/bin/sh
set -e
if [ "$1" = remove ] || [ "$1" = purge ]; then
    if command -v depmod >/dev/null 2>&1; then depmod ${{DPKG_ROOT:+-b "$DPKG_ROOT"}} -a {release} || true; fi
fi
"""


def kernel_package_owner(release: str) -> str | None:
    """The installed package that owns /boot/vmlinuz-<release> here (dpkg -S), if any."""
    if not shutil.which("dpkg-query"):
        return None
    out = subprocess.run(["dpkg-query", "-S", f"/boot/vmlinuz-{release}"], capture_output=True, text=True)
    if out.returncode != 0 or ":" not in out.stdout:
        return None
    return out.stdout.split(":", 1)[0].split(",")[0].strip() or None


def build_deb(modules: list[str], release: str, name: str, version: str, arch: str, depends: str | None,
              out_dir: str) -> str:
    package = f"{name}-modules-{release}".lower().replace("_", "-")
    with tempfile.TemporaryDirectory(prefix="kmodtui-deb-") as tree:
        target = os.path.join(tree, "lib", "modules", release, "updates")
        os.makedirs(target)
        for module in modules:
            shutil.copy(module, target)
        debian = os.path.join(tree, "DEBIAN")
        os.makedirs(debian)
        control = [
            f"Package: {package}",
            f"Version: {version}",
            f"Architecture: {DEB_ARCH.get(arch, arch)}",
            "Maintainer: kmodtui <kmodtui@localhost>",
            "Section: kernel",
            "Priority: optional",
        ]
        if depends:
            control.append(f"Depends: {depends}")
        control.append(f"Description: {name} kernel modules for Linux {release}")
        control.append(f" Built by kmodtui against the {release} build tree.")
        with open(os.path.join(debian, "control"), "w") as f:
            f.write("\n".join(control) + "\n")
        for script, text in (("postinst", POSTINST), ("postrm", POSTRM)):
            path = os.path.join(debian, script)
            with open(path, "w") as f:
                f.write(text.format(release=release))
            os.chmod(path, 0o755)
        os.makedirs(out_dir, exist_ok=True)
        out = os.path.join(out_dir, f"{package}_{version}_{DEB_ARCH.get(arch, arch)}.deb")
        subprocess.run(["dpkg-deb", "--root-owner-group", "-b", tree, out], check=True)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="kmodtui.core.packages.debpack")
    parser.add_argument("--release", required=True)
    parser.add_argument("--name", required=True)
    parser.add_argument("--version", required=True)
    parser.add_argument("--arch", required=True)
    parser.add_argument("--depends", default="")
    parser.add_argument("--out", required=True)
    parser.add_argument("modules", nargs="+", help="module files; @FILE: the paths listed in FILE, one per line")
    args = parser.parse_args(argv)
    from kmodtui.core.paths import existing_listed_files

    modules = existing_listed_files(args.modules)  # @FILE: dkms.conf's modules, known once the build ran
    if not modules:
        print("kmodtui: no built module to package", file=sys.stderr)
        return 1
    out = build_deb(modules, args.release, args.name, args.version, args.arch, args.depends or None, args.out)
    print(f"kmodtui: wrote {out}")
    if not args.depends:
        print(f"kmodtui: note: no package owns /boot/vmlinuz-{args.release} here, so the .deb names no kernel "
              "package in Depends (set one with --deb-depends)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
