"""Real inputs to mutate: a built module (plain and xz), the kernel's symvers, dkms.conf, an RPM
and a .deb made by the real tools, a build log, a dpkg status file, a build status record."""

from __future__ import annotations

import json
import lzma
from pathlib import Path

from tests.pkgtools import build_deb, build_kmod_rpm
from tests.realtools import EXAMPLES, BuiltModules


def make_seeds(built: BuiltModules, symvers_path: str, release: str, tmp: Path) -> dict[str, list[bytes]]:
    ko = built.provider_ko.read_bytes()
    symvers_lines = Path(symvers_path).read_text().splitlines()
    rpm = build_kmod_rpm(tmp / "rpm", "kmod-fuzz", [built.provider_ko], release, generator="internal").read_bytes()
    deb = build_deb(tmp, "fuzz-modules", "1", {f"/lib/modules/{release}/updates/p.ko": built.provider_ko},
                    depends="linux-image-x").read_bytes()
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
