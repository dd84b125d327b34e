"""The compat remedy: for a kernel API change the table marks mechanical and a rename
(kmodtui/core/diagnose/apichanges.toml), rewrite the module's source to the new name and add the
table's LINUX_VERSION_CODE guard to each file it rewrote, so that older kernels keep building. The
source is read as text, never built or run here; the rebuild is the plan's command (or the TUI's b)."""

from __future__ import annotations

import os
import re

from kmodtui.core import scriptnames
from kmodtui.core.diagnose.apichanges import ApiChange, by_id, table
from kmodtui.core.errors import KmodError
from kmodtui.core.remedies.edits import FileEdit, check_editable
from kmodtui.core.remedies.plans import SAFE, RemedyOptions, RemedyPlan, command_release, read_file

MAX_FILES = 2_000  # .c and .h files read below a source folder


def compat_change(options: RemedyOptions) -> ApiChange:
    """The change --change names (its id, or the old symbol); only a mechanical rename can be planned."""
    wanted = options.change or options.symbol
    change = by_id(wanted) or next((c for c in table() if c.symbol == wanted and c.rename), None)
    if change is None:
        raise KmodError(wanted or "kernel-compat", "needs --change: the api_change id diagnose named (kmodtui "
                                                   "diagnose --json: primary.api_change.id)")
    if not (change.mechanical and change.rename):
        raise KmodError(change.id, f"is not a mechanical rename: {change.sentence()} The compat guard to write by "
                                   f"hand:\n{change.compat}")
    return change


def _sources(folder: str) -> list[str]:
    from kmodtui.core.remedies.source import c_files

    headers = []
    for dirpath, _dirs, names in os.walk(folder):
        headers += [os.path.join(dirpath, n) for n in sorted(names) if n.endswith(".h")
                    and os.path.isfile(os.path.join(dirpath, n)) and not os.path.islink(os.path.join(dirpath, n))]
        if len(headers) > MAX_FILES:
            break
    return (c_files(folder, MAX_FILES) + sorted(headers))[:MAX_FILES]


def _rewritten(text: bytes, change: ApiChange) -> bytes | None:
    """The file with the old name rewritten and the guard after its last #include (None: no use of it)."""
    old, new = change.symbol.encode(), change.rename.encode()
    word = re.compile(rb"(?<![\w$])" + re.escape(old) + rb"(?![\w$])")
    if not word.search(text) or change.compat.encode() in text:
        return None
    after = word.sub(new, text)
    guard = f"/* kmodtui: {change.id}, Linux {change.version}, commit {change.commit} */\n{change.compat}\n".encode()
    if b"LINUX_VERSION_CODE" in guard and not re.search(rb"#\s*include\s*<linux/version\.h>", after):
        guard = b"#include <linux/version.h>\n" + guard
    includes = list(re.finditer(rb"^[ \t]*#[ \t]*include\b[^\n]*\n", after, re.M))
    at = includes[-1].end() if includes else 0
    return after[:at] + guard + after[at:]


def plan_kernel_compat(options: RemedyOptions) -> RemedyPlan:
    source = options.target
    change = compat_change(options)
    if not os.path.isdir(source):
        raise KmodError(source, "is not a module source folder")
    edits = []
    for path in _sources(source):
        before = read_file(path)
        after = _rewritten(before, change)
        if after is not None:
            check_editable(path)
            edits.append(FileEdit(path, before, after))
    if not edits:
        raise KmodError(source, f"no .c or .h file here uses {change.symbol} (or each already has the guard)")
    release = command_release(options)
    return RemedyPlan(
        "kernel-compat", f"{change.symbol} -> {change.rename}, guarded for kernels before {change.version}", SAFE,
        f"{change.sentence()} The source calls the new name, and each file it was rewritten in gets the "
        "LINUX_VERSION_CODE guard that maps it back on older kernels, so they keep building.",
        tuple(edits), (f"kmodtui build --kernel {release} --source {scriptnames.shell(source)}",), rebuild="same",
    )
