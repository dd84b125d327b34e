"""Strip the debugging sections of built modules before they are signed and packaged, as dkms 3 does
(`strip -g` on each built module unless dkms.conf's STRIP[#] says no) and as rpm's brp-strip does
(`strip -g` on every unstripped ELF file of a package). What the loader and depmod read stays: the symbol table,
__versions, .modinfo and a kernel's .BTF. A distribution kernel's modules carry its DWARF (Debian 12:
OpenZFS's nine modules are ~90 MB, ~9 MB stripped), so an unstripped package is ten times the size and
takes as much longer to compress. The strip is the one of the kernel's toolchain: $(CROSS_COMPILE)strip,
as kbuild's INSTALL_MOD_STRIP runs it.

Runs as `python -m kmodtui.core.packages.stripmod [--strip TOOL] [--keep @FILE] MODULE...` inside a
build, confined like the build: strip reads the ELF files the source's build made.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys

from kmodtui.core.paths import existing_listed_files


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="kmodtui.core.packages.stripmod")
    parser.add_argument("--strip", default="strip", help="the strip of the kernel's toolchain ($(CROSS_COMPILE)strip)")
    parser.add_argument("--keep", action="append", default=[],
                        help="modules left as built (dkms.conf's STRIP[#]=no); @FILE: the paths listed in FILE")
    parser.add_argument("modules", nargs="+", help="module files; @FILE: the paths listed in FILE, one per line")
    args = parser.parse_args(argv)
    tool = shutil.which(args.strip)
    if tool is None:  # dkms goes on when its strip fails: the modules are packaged as built
        print(f"kmodtui: {args.strip} not found: the modules are packaged with their debugging sections "
              "(install binutils, or the cross binutils for this architecture, to strip them as dkms does)",
              file=sys.stderr)
        return 0
    keep = {os.path.normpath(path) for path in existing_listed_files(args.keep)}
    for module in existing_listed_files(args.modules):
        shown = os.path.normpath(module)
        if shown in keep:
            print(f"kmodtui: kept with its debugging sections (STRIP=no): {shown}")
            continue
        done = subprocess.run([tool, "-g", module], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              errors="replace")
        if done.returncode != 0:  # as dkms: said, and the module goes on as built
            said = (done.stdout.strip().splitlines() or [f"exit {done.returncode}"])[0][:300]
            print(f"kmodtui: {args.strip} -g could not strip {shown} ({said}): packaged as built", file=sys.stderr)
            continue
        print(f"kmodtui: stripped {shown}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
