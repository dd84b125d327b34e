"""Compress modules as the kernel's `make modules_install` does (scripts/Makefile.modinst), for a
kernel built with CONFIG_MODULE_COMPRESS_*: the same tool and the same settings, so the kernel's
own decompressor (xz with CRC32 checks only, a 1 MiB dictionary) and depmod/modinfo read the result.
A signature is part of the .ko before it is compressed: sign first, then compress.

Runs as `python -m kmodtui.core.packages.compressmod --kind xz --out DIR MODULE...` inside a build.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys

from kmodtui.core.errors import KmodError

# scripts/Makefile.modinst (6.x): cmd_gzip = $(KGZIP) -n -f $<; cmd_xz = $(XZ) --check=crc32
# --lzma2=dict=1MiB -f $<; cmd_zstd = $(ZSTD) -T0 --rm -f -q $<. Here each writes to stdout, so the
# built .ko stays where kbuild left it.
COMMANDS = {
    "xz": (("xz", "--check=crc32", "--lzma2=dict=1MiB", "-c"), ".xz", "xz-utils"),
    "gzip": (("gzip", "-n", "-c"), ".gz", "gzip"),
    "zstd": (("zstd", "-T0", "-q", "-c"), ".zst", "zstd"),
}


def suffix_for(kind: str | None) -> str:
    """".xz" for a kernel that compresses with xz; "" for none or an unknown kind."""
    return COMMANDS[kind][1] if kind in COMMANDS else ""


def compress_module(module: str, kind: str, out_dir: str) -> str:
    """Write `<out_dir>/<name>.ko<suffix>`; raises KmodError naming the tool when it is missing."""
    argv, suffix, package = COMMANDS[kind]
    tool = shutil.which(argv[0])
    if tool is None:
        raise KmodError(argv[0], f"not found: the kernel compresses its modules with {kind}; "
                                 f"install it (apt-get install {package} / dnf install {package})")
    os.makedirs(out_dir, exist_ok=True)
    target = os.path.join(out_dir, os.path.basename(module) + suffix)
    with open(module, "rb") as src, open(target + ".part", "wb") as dst:
        subprocess.run([tool, *argv[1:]], stdin=src, stdout=dst, check=True)
    os.replace(target + ".part", target)
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="kmodtui.core.packages.compressmod")
    parser.add_argument("--kind", required=True, choices=sorted(COMMANDS))
    parser.add_argument("--out", required=True)
    parser.add_argument("modules", nargs="+", help="module files; @FILE: the paths listed in FILE, one per line")
    args = parser.parse_args(argv)
    from kmodtui.core.paths import existing_listed_files

    modules = existing_listed_files(args.modules)
    if not modules:
        print("kmodtui: no built module to compress", file=sys.stderr)
        return 1
    try:
        for module in modules:
            print(f"kmodtui: {args.kind} {compress_module(module, args.kind, args.out)}")
    except KmodError as err:
        print(f"kmodtui: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
