"""Debian's bookworm `*-dkms` sources (the ones the project's tests use) against newer Debian kernels:
Debian 13's (6.12) and unstable's (7.x), each in its debootstrap chroot (tests/chroots.py). For each
source and kernel: real dkms's result; kmodtui's diagnosis of its own build (dkms mode); the
kernel-compat remedy applied for as long as the rebuild names another change the table marks
rewritable; and for a source it made build, real dkms again on the newer kernel, on this machine's
older one (bookworm's 6.1), and `kmodtui resolve` of the modules against the newer kernel.

Needs root (debootstrap, chroot) and Debian's archive. One build at a time. Prints the table
(markdown) and writes the raw results as JSON.

    sudo .venv/bin/python bench/dkms_compat.py [--suite trixie --suite sid] [--only PKG ...] [--json OUT]
"""

from __future__ import annotations

import argparse
import dataclasses
import glob
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.chroots import debian_chroot  # noqa: E402
from tests.dkmscompat import WorldResult, through_the_world  # noqa: E402
from tests.realtools import apt_download_from  # noqa: E402

# the bookworm *-dkms packages the project's tests build (tests/core/test_dkms_agreement.py,
# tests/core/test_sources.py), and their archive section
CORPUS = {"acpi-call-dkms": "main", "vpoll-dkms": "main", "v4l2loopback-dkms": "main", "ddcci-dkms": "main",
          "openrazer-driver-dkms": "main", "iptables-netflow-dkms": "main", "west-chamber-dkms": "main",
          "zfs-dkms": "contrib"}
# beyond the corpus: small bookworm *-dkms sources real dkms fails on with Debian 13's kernel for one
# change the table marks rewritable (found by building bookworm main's small *-dkms sources)
EXTRA = {"nat-rtsp-dkms": "main", "langford-dkms": "main", "tp-smapi-dkms": "main"}


def release_of(root: Path) -> str:
    found = sorted(glob.glob(str(root / "usr" / "src" / "linux-headers-*-amd64")))
    if not found:
        raise SystemExit(f"{root}: no linux-headers-*-amd64 in usr/src")
    return found[-1].split("linux-headers-", 1)[1]


def row(r: WorldResult) -> str:
    dkms = "builds" if r.dkms.ok else f"fails: `{r.dkms.first_error()[-90:]}`"
    d = r.diagnosis or {}
    change = (d.get("api_change") or {}).get("id", "")
    diagnosis = "builds" if r.kmodtui_built else f"{d.get('cause', '?')}" + (f" ({change})" if change else "")
    if r.remedied:
        older = "yes" if r.older and r.older.ok else (f"NO: {r.older.first_error()[-80:]}" if r.older else "not checked")
        after = "yes" if r.dkms_after and r.dkms_after.ok else "NO"
        remedy = f"builds after {', '.join(r.changes)}; real dkms {after}; 6.1 {older}; resolve {r.resolve or '-'}"
    elif r.kmodtui_built or r.dkms.ok:
        remedy = "-"
    else:
        remedy = f"no ({r.stopped}" + (f"; after {', '.join(r.changes)}" if r.changes else "") + ")"
    return f"| {r.package} | {r.release} | {dkms} | {diagnosis} | {remedy} |"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--suite", action="append", help="Debian releases whose kernel to build for (default: trixie, sid)")
    parser.add_argument("--only", nargs="*", help="these packages only")
    parser.add_argument("--older", default=release_of(Path("/")), help="this machine's older kernel (its headers)")
    parser.add_argument("--json", help="write the raw results here")
    args = parser.parse_args()
    sections = {**CORPUS, **EXTRA}
    packages = [p for p in sections if not args.only or p in args.only]
    rows, raw = [], []
    for suite in args.suite or ["trixie", "sid"]:
        root = debian_chroot(suite)
        release = release_of(root)
        for package in packages:
            deb = apt_download_from(package, "bookworm", sections[package])
            with tempfile.TemporaryDirectory(prefix="dkms-compat-older-") as tmp:
                result = through_the_world(deb, root, release, args.older, Path(tmp) / "src")
            rows.append(row(result))
            raw.append({**dataclasses.asdict(result), "dkms": {"ok": result.dkms.ok, "error": result.dkms.first_error()}})
            print(rows[-1], f"({', '.join(f'{k} {v:.0f} s' for k, v in result.seconds.items())})", flush=True)
    print("\n| source (bookworm) | kernel | real dkms | kmodtui's diagnosis (change) | compat remedy |")
    print("|---|---|---|---|---|")
    print("\n".join(rows))
    if args.json:
        for entry in raw:
            for key in ("dkms_after", "older"):
                if entry.get(key):
                    entry[key] = {"ok": entry[key]["ok"], "modules": entry[key]["modules"]}
        Path(args.json).write_text(json.dumps(raw, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
