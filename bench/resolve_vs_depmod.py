#!/usr/bin/env python3
"""Benchmark: `kmodtui resolve` against `depmod -n -e -E` on a whole Debian module tree.

Downloads (apt-get download) two linux-image-6.1.0-*-amd64 packages of different ABIs and the
matching linux-headers packages (for Module.symvers), unpacks them, then times on the same input:
  (a) ABI A's whole tree against its own symvers
  (b) ABI B's whole tree against ABI A's symvers (tens of thousands of CRC disagreements)
kmodtui cold (empty cache) and warm (cache from the previous run), wall time and peak memory,
with ratios to depmod, and the agreement of the (module, symbol) pairs both report.

With --current, also the kernels people run today, as Debian ships them (every module .ko.xz
under /usr/lib/modules, from private apt lists of Debian 13 and unstable):
  (d) Debian 13's 6.12 tree against its own symvers
  (e) unstable's 7.x tree (MODVERSIONS off, exports scoped to modules) against its own symvers

Usage: python3 bench/resolve_vs_depmod.py [--runs 5] [--dir ~/.cache/kmodtui-bench] [--xz] [--current]
Needs: apt-get (Debian's archive reachable), dpkg-deb, depmod (kmod), kmodtui installed.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PAIR = re.compile(r"^depmod: WARNING: (\S+) (needs unknown symbol|disagrees about version of symbol) (\S+)$")


def sh(cmd: list[str], **kw) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, check=True, **kw)


def abis() -> list[str]:
    out = sh(["apt-cache", "search", "--names-only", r"^linux-image-6\.1\.0-[0-9]+-amd64$"]).stdout
    names = sorted({line.split(" - ")[0] for line in out.splitlines()},
                   key=lambda n: int(n.split("-")[3]))
    return [n.removeprefix("linux-image-").removesuffix("-amd64") for n in names]


def fetch(workdir: Path, abi: str) -> tuple[Path, Path]:
    """Unpacked /lib/modules/<rel> tree and the headers' Module.symvers for one ABI."""
    rel = f"{abi}-amd64"
    tree = workdir / f"image-{rel}"
    symvers = workdir / f"Module.symvers-{rel}"
    if not (tree / "lib" / "modules" / rel).is_dir():
        for pkg in (f"linux-image-{rel}", f"linux-headers-{rel}"):
            if not list(workdir.glob(f"{pkg}_*.deb")):
                sh(["apt-get", "download", pkg], cwd=workdir)
        shutil.rmtree(tree, ignore_errors=True)
        sh(["dpkg-deb", "-x", str(next(workdir.glob(f"linux-image-{rel}_*.deb"))), str(tree)])
        for name in ("modules.order", "modules.builtin", "modules.builtin.modinfo"):
            (tree / "lib" / "modules" / rel / name).touch()
    if not symvers.exists():
        headers = next(workdir.glob(f"linux-headers-{rel}_*.deb"))
        with tempfile.TemporaryDirectory() as tmp:
            sh(["dpkg-deb", "-x", str(headers), tmp])
            shutil.copy(next(Path(tmp).rglob("Module.symvers")), symvers)
    return tree, symvers


def private_apt(workdir: Path, suite: str) -> list[str]:
    """apt options for a private package list of another Debian release (this machine's untouched)."""
    apt = workdir / f"apt-{suite}"
    for sub in ("lists/partial", "cache/archives/partial"):
        (apt / sub).mkdir(parents=True, exist_ok=True)
    (apt / "sources.list").write_text("deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] "
                                      f"http://deb.debian.org/debian {suite} main\n")
    options = ["-o", f"Dir::Etc::SourceList={apt / 'sources.list'}", "-o", "Dir::Etc::SourceParts=-",
               "-o", f"Dir::State::Lists={apt / 'lists'}", "-o", f"Dir::Cache={apt / 'cache'}",
               "-o", "Acquire::Check-Valid-Until=false"]
    if not any((apt / "lists").glob("*Packages*")):
        sh(["apt-get", "-q", *options, "update"])
    return options


def fetch_current(workdir: Path, suite: str) -> tuple[Path, str, Path]:
    """A suite's amd64 kernel tree (root with lib -> usr/lib, as merged /usr has it), its release
    and its Module.symvers."""
    options = private_apt(workdir, suite)
    depends = sh(["apt-cache", *options, "depends", "linux-image-amd64"]).stdout
    image = next(line.split(":", 1)[1].strip() for line in depends.splitlines()
                 if line.strip().startswith("Depends:") and "linux-image-" in line)
    rel = image.removeprefix("linux-image-")
    root = workdir / f"{suite}-{rel}"
    if not (root / ".complete").exists():
        shutil.rmtree(root, ignore_errors=True)
        root.mkdir()
        packages = [f"linux-modules-{rel}" if suite != "trixie" else image, f"linux-headers-{rel}"]
        for pkg in packages:
            if not list(workdir.glob(f"{pkg}_*.deb")):
                sh(["apt-get", *options, "download", pkg], cwd=workdir)
            sh(["dpkg-deb", "-x", str(next(workdir.glob(f"{pkg}_*.deb"))), str(root)])
        if not (root / "lib").exists():
            (root / "lib").symlink_to("usr/lib")
        for name in ("modules.order", "modules.builtin", "modules.builtin.modinfo"):
            (root / "usr" / "lib" / "modules" / rel / name).touch()
        (root / ".complete").touch()
    return root, rel, root / "usr" / "src" / f"linux-headers-{rel}" / "Module.symvers"


GNU_TIME = "/usr/bin/time" if os.access("/usr/bin/time", os.X_OK) else None


def timed(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, int, str, str]:
    """Wall seconds, peak RSS (KiB) of the largest process, stdout, stderr.

    The peak comes from GNU time when present: a child's own ru_maxrss also counts the memory of
    this (large, by then) Python process it was forked from, so small tools would look bigger."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err, \
            tempfile.NamedTemporaryFile("r") as peak:
        wrapped = [GNU_TIME, "-q", "-f", "%M", "-o", peak.name, *cmd] if GNU_TIME else cmd
        start = time.perf_counter()
        proc = subprocess.Popen(wrapped, stdout=out, stderr=err, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        try:
            kib = int(peak.read().split()[-1]) if GNU_TIME else usage.ru_maxrss
        except (ValueError, IndexError):
            kib = usage.ru_maxrss
        return wall, kib, out.read(), err.read()


def xz_copy(workdir: Path, tree: Path, rel: str) -> Path:
    """A copy of a tree with each module compressed by `xz -1` (made once)."""
    target = workdir / f"xz-{rel}"
    moddir = target / "lib" / "modules" / rel
    if not (target / ".complete").exists():
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(tree / "lib" / "modules" / rel, moddir, symlinks=True)
        modules = [str(p) for p in moddir.rglob("*.ko")]
        for i in range(0, len(modules), 200):
            sh(["xz", "-1", "--check=crc32", "-T0", *modules[i : i + 200]])
        (target / ".complete").touch()
    return target


def compile_bytecode(kmodtui: str) -> None:
    """Time kmodtui as pip installs it, with its bytecode compiled: an editable install under
    PYTHONDONTWRITEBYTECODE=1 would otherwise compile every module on every run (~60 ms)."""
    try:
        with open(shutil.which(kmodtui) or kmodtui, "rb") as f:
            first = f.readline()
    except OSError:
        return
    python = first[2:].strip().decode() if first.startswith(b"#!") else sys.executable
    subprocess.run([python, "-c", "import compileall, os, kmodtui; "
                    "compileall.compile_dir(os.path.dirname(kmodtui.__file__), quiet=1)"], check=False)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--dir", default=os.path.expanduser("~/.cache/kmodtui-bench"))
    parser.add_argument("--kmodtui", default=shutil.which("kmodtui") or "kmodtui")
    parser.add_argument("--xz", action="store_true", help="also time a copy of the tree with xz-compressed modules")
    parser.add_argument("--current", action="store_true", help="also Debian 13's and unstable's trees (.ko.xz)")
    parser.add_argument("--only-current", action="store_true", help="only Debian 13's and unstable's trees")
    args = parser.parse_args()
    workdir = Path(args.dir)
    workdir.mkdir(parents=True, exist_ok=True)
    available = abis()
    if len(available) < 2:
        print("need two linux-image-6.1.0-*-amd64 ABIs in Debian's archive (apt-get update?)", file=sys.stderr)
        return 2
    abi_a, abi_b = available[-1], available[0]
    tree_a, symvers_a = fetch(workdir, abi_a)
    tree_b, _ = fetch(workdir, abi_b)
    depmod = shutil.which("depmod") or "/usr/sbin/depmod"
    confdir = workdir / "empty-depmod.d"
    confdir.mkdir(exist_ok=True)
    cases = [
        (f"(a) {abi_a} tree vs its own symvers", tree_a, f"{abi_a}-amd64", symvers_a),
        (f"(b) {abi_b} tree vs {abi_a} symvers", tree_b, f"{abi_b}-amd64", symvers_a),
    ]
    if args.xz:
        cases.append((f"(c) {abi_a} tree with every module xz-compressed (as Fedora and Debian 13 ship them)",
                      xz_copy(workdir, tree_a, f"{abi_a}-amd64"), f"{abi_a}-amd64", symvers_a))
    if args.current or args.only_current:
        for label, suite in (("(d) Debian 13", "trixie"), ("(e) unstable", "sid")):
            root, rel, symvers = fetch_current(workdir, suite)
            cases.append((f"{label}'s {rel} tree (.ko.xz) vs its own symvers", root, rel, symvers))
        if args.only_current:
            cases = cases[-2:]
    compile_bytecode(args.kmodtui)
    print(f"{os.cpu_count()} CPUs, {args.runs} runs each, medians; kmodtui = {args.kmodtui}")
    for title, tree, rel, symvers in cases:
        moddir = tree / "lib" / "modules" / rel
        n_modules = sum(1 for _ in moddir.rglob("*.ko*"))
        depmod_cmd = [depmod, "-b", str(tree), "-C", str(confdir), "-n", "-e", "-E", str(symvers), rel]
        cache = Path(tempfile.mkdtemp(prefix="kmodtui-bench-cache-"))
        env = {**os.environ, "KMODTUI_CACHE_DIR": str(cache)}
        ours_cmd = [args.kmodtui, "resolve", str(moddir), "--kernel", str(symvers)]
        rows: dict[str, list[tuple[float, int]]] = {"depmod": [], "kmodtui cold": [], "kmodtui warm": [],
                                                    "cold --json": [], "warm --json": []}
        depmod_err = ""
        for _ in range(args.runs):
            wall, rss, _, depmod_err = timed(depmod_cmd)
            rows["depmod"].append((wall, rss))
            shutil.rmtree(cache, ignore_errors=True)
            wall, rss, _, _ = timed(ours_cmd, env)
            rows["kmodtui cold"].append((wall, rss))
            wall, rss, _, _ = timed(ours_cmd, env)
            rows["kmodtui warm"].append((wall, rss))
            shutil.rmtree(cache, ignore_errors=True)
            wall, rss, _, _ = timed([*ours_cmd, "--json"], env)
            rows["cold --json"].append((wall, rss))
            wall, rss, json_out, _ = timed([*ours_cmd, "--json"], env)
            rows["warm --json"].append((wall, rss))
            json_size = len(json_out.encode())
        shutil.rmtree(cache, ignore_errors=True)
        theirs = set()
        for line in depmod_err.splitlines():
            if m := PAIR.match(line):
                status = "unknown_symbol" if m.group(2).startswith("needs") else "crc_mismatch"
                theirs.add((m.group(1), status, m.group(3)))
        _, _, out, _ = timed([*ours_cmd, "--json", "--problems-only"], env)
        ours = {(f["module"], f["status"], f["symbol"]) for f in json.loads(out)["findings"]
                if f["status"] in ("unknown_symbol", "crc_mismatch")}
        shutil.rmtree(cache, ignore_errors=True)
        base = statistics.median(w for w, _ in rows["depmod"])
        print(f"\n{title}: {n_modules} modules")
        print(f"  {'':14} {'wall s':>8} {'ratio':>7} {'peak MiB':>9}")
        for name, samples in rows.items():
            wall = statistics.median(w for w, _ in samples)
            rss = max(r for _, r in samples) / 1024
            print(f"  {name:14} {wall:8.3f} {wall / base:6.2f}x {rss:9.1f}")
        print(f"  --json output: {json_size / 1e6:.1f} MB (problems only, the default for a directory)")
        print(f"  pairs: depmod {len(theirs)}, kmodtui {len(ours)}, agreeing {len(theirs & ours)}, "
              f"only depmod {len(theirs - ours)}, only kmodtui {len(ours - theirs)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
