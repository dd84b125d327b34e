"""A binary-module .deb (dkms 3 dropped `mkbmdeb`): `<name>-modules-<release>`, modules in
/lib/modules/<release>/updates/, depmod in postinst/postrm, and a Depends that names packages
that really exist on the target (the kernel's, found by kernels/kernelpkg.py; the providers'), never
the `linux-image-<release>` guess.

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
    depmod ${{DPKG_ROOT:+-b "$DPKG_ROOT"}} -a {release_word} || true
fi
"""
POSTRM = """#!/bin/sh
set -e
if [ "$1" = remove ] || [ "$1" = purge ]; then
    if command -v depmod >/dev/null 2>&1; then depmod ${{DPKG_ROOT:+-b "$DPKG_ROOT"}} -a {release_word} || true; fi
fi
"""


def modules_dir_for(release: str, tree_dirs: tuple[str, ...] = ()) -> str:
    """Where the target's own kernel package puts modules: usr/lib/modules from Debian 13 on (its
    kernel packages ship /usr/lib/modules, and a package shipping the /lib alias of a merged-/usr
    path risks dpkg losing files), else lib/modules. tree_dirs: folders where the kernel's tree was
    seen (e.g. <root>/usr/lib/modules/<release>)."""
    import re

    if any(os.sep + os.path.join("usr", "lib", "modules") + os.sep in d + os.sep for d in tree_dirs):
        return "usr/lib/modules"
    match = re.search(r"\+deb(\d+)", release)
    return "usr/lib/modules" if match and int(match.group(1)) >= 13 else "lib/modules"


def build_deb(modules: list[str], release: str, name: str, version: str, arch: str, depends: str | None,
              out_dir: str, compress: str = "", modules_dir: str = "lib/modules") -> str:
    from kmodtui.core import scriptnames
    from kmodtui.core.packages.compressmod import compress_module

    # each goes into the control file or the maintainer scripts dpkg runs as root
    scriptnames.check(scriptnames.KERNEL_RELEASE, release, "--release")
    scriptnames.check(scriptnames.PACKAGE, name, "--name")
    scriptnames.check(scriptnames.VERSION, version, "--version")
    scriptnames.check(scriptnames.ARCH, arch, "--arch")
    scriptnames.one_line(depends or "", "--depends", "the Depends field")
    package = scriptnames.check(scriptnames.DEBIAN_PACKAGE, f"{name}-modules-{release}".lower().replace("_", "-"),
                                "--name")
    with tempfile.TemporaryDirectory(prefix="kmodtui-deb-") as tree:
        target = os.path.join(tree, *modules_dir.split("/"), release, "updates")
        os.makedirs(target)
        for module in modules:
            if compress:
                compress_module(module, compress, target)  # signed before, compressed as the kernel does
            else:
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
                f.write(text.format(release_word=scriptnames.shell(release)))
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
    parser.add_argument("--compress", default="", help="xz, gzip or zstd: as the kernel compresses its modules")
    parser.add_argument("--modules-dir", default="lib/modules", help="lib/modules, or usr/lib/modules (Debian 13+)")
    parser.add_argument("--note", action="append", default=[], help="a line for the build log (where Depends came from)")
    parser.add_argument("modules", nargs="+", help="module files; @FILE: the paths listed in FILE, one per line")
    args = parser.parse_args(argv)
    from kmodtui.core.errors import KmodError
    from kmodtui.core.paths import existing_listed_files

    modules = existing_listed_files(args.modules)  # @FILE: dkms.conf's modules, known once the build ran
    if not modules:
        print("kmodtui: no built module to package", file=sys.stderr)
        return 1
    try:
        out = build_deb(modules, args.release, args.name, args.version, args.arch, args.depends or None, args.out,
                        args.compress, args.modules_dir)
    except KmodError as err:
        print(f"kmodtui: {err}", file=sys.stderr)
        return 1
    print(f"kmodtui: wrote {out}")
    print(f"kmodtui: Depends: {args.depends or '(none)'}")
    for note in args.note:
        print(f"kmodtui: note: {note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
