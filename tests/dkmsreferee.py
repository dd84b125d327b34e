"""Real dkms reading a dkms.conf: `dkms add <folder>` in throw-away trees (--sourcetree, --dkmstree,
--installtree, --kernelsourcedir all private), and what its read_conf made of the file.

Two runs of the same installed dkms: the plain `dkms add` gives the verdict (exit status, its
"dkms.conf: Error!" lines); the same script sourced by bash with one addition, an `exit` function that
prints the variables read_conf set (declare -p) before the real exit, gives the names, the module
records and build_exclude. Both runs must end alike, so the second is the first, observed.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

# prints read_conf's results when dkms exits (die, or the end of the script)
_OBSERVER = r"""
_referee_script=$1; _referee_out=$2; shift 2
_referee_dump() {
    local v
    for v in PACKAGE_NAME PACKAGE_VERSION built_module_name built_module_location dest_module_name \
             DEST_MODULE_LOCATION build_exclude; do
        declare -p "$v" 2>/dev/null
    done > "$_referee_out"
}
exit() { _referee_dump; builtin exit "$@"; }
. "$_referee_script" "$@"
_referee_rc=$?
_referee_dump
builtin exit $_referee_rc
"""


@dataclass
class DkmsVerdict:
    exit_status: int
    errors: list[str]  # "dkms.conf: Error! ..." (a two-line message joined by \n), in dkms's order
    warnings: list[str]
    arrays: dict[str, dict[int, str]] = field(default_factory=dict)
    build_exclude: bool = False

    @property
    def refused(self) -> bool:
        return self.exit_status != 0

    def value(self, name: str) -> str:
        return self.arrays.get(name, {}).get(0, "")


def _declared(text: str) -> tuple[dict[str, dict[int, str]], bool]:
    """`declare -p` lines read back by bash itself, one element per line (names hold any byte)."""
    script = text + r"""
for v in PACKAGE_NAME PACKAGE_VERSION built_module_name built_module_location dest_module_name DEST_MODULE_LOCATION; do
    declare -n _a=$v
    for i in "${!_a[@]}"; do printf '%s\0%s\0%s\0' "$v" "$i" "${_a[$i]}"; done
    unset -n _a
done
printf 'build_exclude\0%s\0%s\0' 0 "$build_exclude"
"""
    out = subprocess.run(["bash", "-c", script], capture_output=True, check=True).stdout.decode("utf-8", "replace")
    fields = out.split("\0")[:-1]
    arrays: dict[str, dict[int, str]] = {}
    exclude = False
    for name, index, value in zip(fields[::3], fields[1::3], fields[2::3]):
        if name == "build_exclude":
            exclude = value == "yes"
        else:
            arrays.setdefault(name, {})[int(index)] = value
    return arrays, exclude


def _messages(stderr: str, kind: str) -> list[str]:
    lines = stderr.splitlines()
    found = []
    for i, line in enumerate(lines):
        if line.startswith(f"dkms.conf: {kind}!"):
            # dkms's one two-line message: "... does not begin with" / "'/kernel', ... in record #N."
            if line.endswith("does not begin with") and i + 1 < len(lines):
                line += "\n" + lines[i + 1]
            found.append(line)
    return found


def dkms_reads(conf_dir: Path, release: str = "6.1.0-99-amd64", arch: str = "x86_64", kernel_config: str | None = None,
               dkms: str = "dkms") -> DkmsVerdict:
    """What the installed dkms makes of conf_dir/dkms.conf for `release`/`arch` (a kernel tree of ours
    holding `kernel_config` as its .config, none if None)."""
    program = shutil.which(dkms)
    assert program is not None, "dkms is not installed"
    with tempfile.TemporaryDirectory(prefix="dkms-referee-") as tmp:
        root = Path(tmp)
        source = root / "conf"
        source.mkdir()
        shutil.copyfile(conf_dir / "dkms.conf", source / "dkms.conf")
        kernel = root / "kernel"
        kernel.mkdir()
        if kernel_config is not None:
            (kernel / ".config").write_text(kernel_config)
        statuses, outputs = [], []
        for observed in (False, True):
            trees = [root / f"{t}{int(observed)}" for t in ("source", "dkms", "install")]
            for tree in trees:
                tree.mkdir()
            argv = [program, "--sourcetree", str(trees[0]), "--dkmstree", str(trees[1]), "--installtree", str(trees[2]),
                    "--kernelsourcedir", str(kernel), "-k", release, "-a", arch, "add", str(source)]
            if observed:
                argv = ["bash", "-c", _OBSERVER, "observer", program, str(root / "declared"), *argv[1:]]
            done = subprocess.run(argv, capture_output=True, text=True, timeout=120, errors="replace")
            statuses.append(done.returncode)
            outputs.append(done.stderr)
        assert statuses[0] == statuses[1], f"the observed dkms ended otherwise: {statuses}"
        declared = (root / "declared").read_text(errors="replace") if (root / "declared").exists() else ""
        arrays, exclude = _declared(declared)
    return DkmsVerdict(statuses[0], _messages(outputs[0], "Error"), _messages(outputs[0], "Warning"), arrays, exclude)


def dkms_version(dkms: str = "dkms") -> tuple[int, ...]:
    done = subprocess.run([dkms, "--version"], capture_output=True, text=True, timeout=30)
    match = re.search(r"(\d+)\.(\d+)\.(\d+)", done.stdout)
    assert match, done.stdout
    return tuple(map(int, match.groups()))
