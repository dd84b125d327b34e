"""Real dkms against kmodtui on every `*-dkms` package of a Debian release (default: bookworm main
and contrib): for each package that real dkms builds against the installed headers, kmodtui builds
it in dkms, kbuild and deb modes and must make the same .ko files (names, vermagic, __versions
entries); for each one real dkms fails on, kmodtui must fail too and name the cause.

Needs root (real dkms adds and builds under /var/lib/dkms and /usr/src; everything is removed after
each package), the headers of the kernel given, and the Debian archive. Prints the agreement table
(markdown) and writes the raw results as JSON.

    sudo .venv/bin/python bench/dkms_agreement.py [--kernel RELEASE] [--only PKG ...] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.dkmsagree import MODES, compare, run_kmodtui, run_real_dkms  # noqa: E402
from tests.realtools import _private_apt, apt_download_from  # noqa: E402


def dkms_packages(suite: str) -> list[tuple[str, str]]:
    found = []
    for component in ("main", "contrib"):
        out = subprocess.run(["apt-cache", *_private_apt(suite, component), "search", "--names-only", "[-]dkms$"],
                             capture_output=True, text=True).stdout
        found += [(line.split(" - ", 1)[0], component) for line in out.splitlines() if line.strip()]
    return sorted(set(found))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kernel", default=os.uname().release, help="the installed headers' release")
    parser.add_argument("--suite", default="bookworm")
    parser.add_argument("--only", nargs="*", help="these packages only")
    parser.add_argument("--json", help="write the raw results here")
    args = parser.parse_args()
    packages = dkms_packages(args.suite)
    if args.only:
        packages = [p for p in packages if p[0] in args.only]
    rows, raw = [], []
    for package, component in packages:
        deb = apt_download_from(package, args.suite, component)
        try:
            reference = run_real_dkms(deb, args.kernel)
        except LookupError as err:  # dh-dkms: the debhelper add-on, no module source
            rows.append(f"| {package} | not a module source | - | - | - | {err} |")
            continue
        cells, details = [], []
        entry = {"package": package, "real_dkms": {"ok": reference.ok, "seconds": round(reference.seconds, 1),
                                              "modules": sorted(reference.modules), "detail": reference.detail}}
        for mode in MODES:
            with tempfile.TemporaryDirectory(prefix="kmodtui-agree-state-") as state:
                outcome = run_kmodtui(deb, args.kernel, mode, Path(state))
            difference = compare(reference, outcome)
            agree = not difference
            cells.append(("same" if reference.ok else f"fails too ({outcome.cause})") if agree else "DIFFERS")
            if difference:
                details.append(f"{mode}: {difference}")
            entry[mode] = {"ok": outcome.ok, "seconds": round(outcome.seconds, 1), "cause": outcome.cause,
                           "detail": outcome.detail, "difference": difference}
        raw.append(entry)
        dkms_cell = (f"built {len(reference.modules)} .ko ({reference.seconds:.0f} s)" if reference.ok
                     else f"fails: {reference.detail[:60]}")
        rows.append(f"| {package} | {dkms_cell} | {' | '.join(cells)} | {'; '.join(details)[:300]} |")
        print(rows[-1], flush=True)
    print(f"\n# {args.suite} *-dkms: real dkms vs kmodtui on {args.kernel}\n")
    print("| package | real dkms | kmodtui dkms | kmodtui kbuild | kmodtui deb | differences |")
    print("|---|---|---|---|---|---|")
    print("\n".join(rows))
    agreeing = sum(1 for e in raw if all(not e[m]["difference"] for m in MODES))
    print(f"\n{agreeing} of {len(raw)} packages agree in all three modes")
    if args.json:
        Path(args.json).write_text(json.dumps(raw, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
