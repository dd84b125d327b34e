"""Real inputs to mutate: a built module (plain and xz), the kernel's symvers, dkms.conf, an RPM
and a .deb made by the real tools, a build log, a dpkg status file, a build status record; for
the container and compression kinds, tar streams made by GNU tar in its gnu, pax and ustar formats
(long names and links included), the RPM's cpio payload as rpm2cpio gives it, and the module
compressed by gzip, xz and zstd."""

from __future__ import annotations

import gzip
import json
import lzma
import subprocess
from pathlib import Path

import zstandard

from tests.pkgtools import build_deb, build_kmod_rpm
from tests.realtools import EXAMPLES, BuiltModules, require_tool, run_ok


def make_seeds(built: BuiltModules, symvers_path: str, release: str, tmp: Path) -> dict[str, list[bytes]]:
    ko = built.provider_ko.read_bytes()
    symvers_lines = Path(symvers_path).read_text().splitlines()
    rpm = build_kmod_rpm(tmp / "rpm", "kmod-fuzz", [built.provider_ko], release, generator="internal").read_bytes()
    deb = build_deb(tmp, "fuzz-modules", "1", {f"/lib/modules/{release}/updates/p.ko": built.provider_ko},
                    depends="linux-image-x").read_bytes()
    tree = tmp / "tree"
    deep = tree / "usr" / "src" / ("long-folder-name-" * 8) / "include"
    deep.mkdir(parents=True)
    (deep / ("a-header-with-a-name-longer-than-one-hundred-bytes-" * 3 + ".h")).write_text("#define X 1\n")
    (tree / "usr" / "src" / "link").symlink_to("../" + "x" * 150)
    (tree / "Makefile").write_bytes(b"obj-m += provider.o\n")
    tars = []
    for form in ("gnu", "pax", "ustar"):
        out = tmp / f"seed-{form}.tar"
        result = subprocess.run([require_tool("tar"), f"--format={form}", "-C", str(tree), "-cf", str(out), "."],
                                capture_output=True)
        if result.returncode == 0:  # ustar refuses the long names: the gnu and pax forms hold them
            tars.append(out.read_bytes())
    rpm_path = tmp / "rpm" / "seed.rpm"
    rpm_path.write_bytes(rpm)
    cpio = run_ok(["sh", "-c", f"{require_tool('rpm2cpio')} {rpm_path}"], text=False).stdout
    make_log = (b"make -C /lib/modules/6.1.0-57-amd64/build M=/src modules\n  CC [M]  /src/p.o\n"
                b"/src/p.c:3:10: fatal error: linux/genhd.h: No such file or directory\n"
                b"make[2]: *** [scripts/Makefile.build:250: /src/p.o] Error 1\n"
                b"\x1b]8;;http://x\x07link\x1b]8;;\x07 \xe2\x80\x98quoted\xe2\x80\x99\n")
    return {
        "ko": [ko, lzma.compress(ko, preset=0)],
        "ko-resolver": [ko],
        "ko-resolver-c": [ko, built.consumer_ko.read_bytes()],
        "symvers": ["\n".join(symvers_lines[:200]).encode(), built.provider_symvers.read_bytes()],
        "dkms.conf": [(EXAMPLES / "provider" / "dkms.conf").read_bytes()],
        "spec": [(tmp / "rpm" / "kmod-fuzz.spec").read_bytes(),
                 b"Name: zfs-kmod\n%define v %(echo 1)\n%kernel_module_package -n zfs\n%prep\n"],
        "rpm": [rpm],
        "deb": [deb],
        "meta": [b"Meta:         1\nName:         zfs\nBranch:       1.0\nVersion:      2.1.11\nRelease:      1\n"
                 b"Release-Tags: relext\nLicense:      CDDL\nAuthor:       OpenZFS\nLinux-Maximum: 6.2\n"
                 b"Linux-Minimum: 3.10\n"],
        "diagnose": [make_log, gzip.compress(make_log)],
        "gzip": [gzip.compress(ko)],
        "xz": [lzma.compress(ko, preset=0)],
        "zstd": [zstandard.ZstdCompressor().compress(ko)],
        "tar": tars,
        "cpio": [cpio],
        "ar": [deb],
        "log": [b"  CC [M]  x.o\nERROR: modpost: \"f\" [m.ko] undefined!\n\xff\xfe\x00junk\r\nprogress 1\rprogress 2\n"],
        "dpkg-status": [b"Package: linux-image\nStatus: install ok installed\nVersion: 1\nProvides: a (= 1), b\n\n"],
        "json": [json.dumps({"state": "running", "runner_pid": 1, "artifacts": ["a.ko"]}).encode()],
        **cache_seeds(built, symvers_path, tmp / "cache"),
    }


def cache_seeds(built: BuiltModules, symvers_path: str, cache: Path) -> dict[str, list[bytes]]:
    """The module cache and result cache entries resolve wrote (their content, past the seal), for
    the consumer alone (unknown symbols) and with the provider, as the C and the Python reader
    store a module."""
    from kmodtui.core.kernels.discover import find_kernel
    from kmodtui.core.paths import read_cache_file
    from kmodtui.core.resolve.engine import resolve

    kernel = find_kernel(symvers_path)
    resolve([str(built.consumer_ko)], kernel, cache_dir=str(cache))
    resolve([str(built.consumer_ko), str(built.provider_ko)], kernel, cache_dir=str(cache))
    seeds: dict[str, list[bytes]] = {"cache-modules": [], "cache-summary": [], "cache-rows": []}
    for entry in sorted(cache.rglob("*")):
        kind = {".columns": "cache-modules", ".summary": "cache-summary", ".rows": "cache-rows"}.get(entry.suffix)
        content = read_cache_file(str(entry)) if kind else None
        if kind and content is not None:
            seeds[kind].append(bytes(content))
    from kmodtui.core.elf.module import pack_module_symbols, read_module_symbols
    from kmodtui.core.resolve.modset import _cache_file, _write_cache

    packed = pack_module_symbols(read_module_symbols(str(built.provider_ko)))  # the Python reader's form
    python_entry = _cache_file(str(cache / "python"), [str(built.provider_ko)])
    _write_cache(python_entry, {str(built.provider_ko): ((1, 2, 3, -4), 1, (packed, 0, len(packed)))})
    seeds["cache-modules"].append(bytes(read_cache_file(python_entry) or b""))
    return seeds
