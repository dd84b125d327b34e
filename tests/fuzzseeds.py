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
    }
