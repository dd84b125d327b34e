"""CPU time of a build and everything it starts, from a cgroup: the confined builds run under bwrap,
which does not hand its children's times up to a waiting parent, so getrusage misses them (and the
TUI's rebuild is a detached runner). Shared by the Lustre benchmarks."""

from __future__ import annotations

import os
from pathlib import Path

CPUACCT = Path("/sys/fs/cgroup/cpuacct")  # cgroup v1's CPU accounting; v2 keeps cpu.stat in every group


def own_cgroup(prefix: str) -> Path | None:
    """A cgroup of this process's own (v1 cpuacct or v2), which what it starts inherits; None where none
    can be made (not root, a read-only cgroup tree)."""
    for root, stat in ((CPUACCT, "cpuacct.usage"), (Path("/sys/fs/cgroup"), "cpu.stat")):
        if not (root / stat).is_file():
            continue
        group = root / f"{prefix}-{os.getpid()}"
        try:
            group.mkdir()
            (group / "cgroup.procs").write_text(str(os.getpid()))
        except OSError:
            continue
        return group
    return None


def cgroup_cpu(group: Path) -> float:
    """CPU seconds (user+sys) a cgroup's processes used: v2's cpu.stat, or v1's cpuacct.usage."""
    if (group / "cpu.stat").is_file():
        usage = dict(line.split() for line in (group / "cpu.stat").read_text().splitlines())
        return int(usage["usage_usec"]) / 1e6
    return int((group / "cpuacct.usage").read_text()) / 1e9
