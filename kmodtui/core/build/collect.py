"""A build step after an autotools tree's own build (OpenZFS, Lustre-style): gather what it made.

--list FILE: the .ko files its module build left under module/, one per line (what deb mode packages).
--out DIR: the packages `make rpm-kmod` left at the top of the tree, moved into the build's output;
and the Module.symvers its -devel package carries (OpenZFS's kmod-zfs-devel ships
/usr/src/zfs-<version>/<kernel>/Module.symvers for Lustre's --with-zfs-obj) copied to the tree's top,
where a consumer's KBUILD_EXTRA_SYMBOLS and kmodtui's provider search find it. Nothing is executed:
the package is read with kmodtui's own rpm reader.
"""

from __future__ import annotations

import argparse
import glob
import os
import shutil
import sys

from kmodtui.core.errors import KmodError
from kmodtui.core.trees import find

SYMVERS = "Module.symvers"


def list_modules(src_dir: str, list_file: str, under: tuple[str, ...] = ("module",)) -> list[str]:
    modules = sorted(m for folder in under for m in find(os.path.join(src_dir, folder), "*.ko"))
    if not modules:
        raise KmodError(src_dir, f"the module build made no .ko files under {', '.join(f + '/' for f in under)} "
                                 "(see the build log above)")
    with open(list_file, "w", encoding="utf-8") as f:
        f.writelines(m + "\n" for m in modules)
    return modules


def copy_symvers(packages: list[str], dest: str) -> bool:
    """The first Module.symvers a binary package carries, copied to `dest`; False when none has one."""
    from kmodtui.core.packages.streams import RpmReader

    for package in packages:
        if package.endswith(".src.rpm"):
            continue
        with RpmReader(package) as rpm:
            for member, body in rpm.members():
                if os.path.basename(member.name) == SYMVERS:
                    with open(dest, "wb") as f:
                        shutil.copyfileobj(body, f)
                    return True
    return False


def collect_packages(src_dir: str, out_dir: str) -> tuple[list[str], str]:
    """Move the tree's packages into out_dir; return them and where the Module.symvers went ("" if none)."""
    packages = sorted(glob.glob(os.path.join(src_dir, "*.rpm")))
    if not packages:
        raise KmodError(src_dir, "`make rpm-kmod` left no .rpm in the tree (see the build log above)")
    os.makedirs(out_dir, exist_ok=True)
    moved = []
    for package in packages:
        target = os.path.join(out_dir, os.path.basename(package))
        shutil.move(package, target)
        moved.append(target)
    symvers = os.path.join(src_dir, SYMVERS)
    return moved, symvers if copy_symvers(moved, symvers) else ""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="kmodtui-collect", description=__doc__)
    parser.add_argument("--src", required=True, help="the build's copy of the tree")
    parser.add_argument("--list", help="write the .ko files under module/ to this file")
    parser.add_argument("--under", action="append", help="where the .ko files are in the tree (repeatable; "
                                                         "default module/)")
    parser.add_argument("--out", help="move the tree's .rpm files here")
    args = parser.parse_args(argv)
    try:
        if args.list:
            modules = list_modules(args.src, args.list, tuple(args.under or ("module",)))
            print(f"kmodtui: {len(modules)} modules built: " + ", ".join(os.path.basename(m) for m in modules))
        if args.out:
            moved, symvers = collect_packages(args.src, args.out)
            print("kmodtui: packages: " + ", ".join(os.path.basename(p) for p in moved))
            print(f"kmodtui: {SYMVERS} for consumers: {symvers}" if symvers else
                  f"kmodtui: no package carries a {SYMVERS}: a consumer needs the provider built in kbuild mode")
    except (KmodError, OSError) as err:
        print(f"kmodtui: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
