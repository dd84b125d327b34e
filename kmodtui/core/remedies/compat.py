"""The compat remedy: for a kernel API change the table marks mechanical and rewritable
(kmodtui/core/diagnose/apichanges.toml: a rename, a call's arguments, a callback's const parameter, a
namespace's string form), rewrite the module's source for the newer kernel and add a LINUX_VERSION_CODE
guard to each file it rewrote, so that older kernels keep building (the rewrites: compatedits.py). The
source is read as text, never built or run here; the rebuild is the plan's command (or the TUI's b)."""

from __future__ import annotations

import os
import stat

from kmodtui.core import scriptnames
from kmodtui.core.diagnose.apichanges import ApiChange, by_id, table
from kmodtui.core.errors import KmodError
from kmodtui.core.remedies.compatedits import rewritten
from kmodtui.core.remedies.edits import FileEdit, check_editable
from kmodtui.core.remedies.plans import SAFE, RemedyOptions, RemedyPlan, command_release, read_file

MAX_BYTES = 16 * 1024 * 1024  # a .h file bigger than this is not read (c_files caps .c files the same)
MAX_FILES = 2_000  # .c and .h files read below a source folder


def compat_change(options: RemedyOptions) -> ApiChange:
    """The change --change names (its id, or the old symbol); only a mechanical rewrite can be planned."""
    wanted = options.change or options.symbol
    change = by_id(wanted) or next((c for c in table() if c.symbol == wanted and c.rewritable), None)
    if change is None:
        raise KmodError(wanted or "kernel-compat", "needs --change: the api_change id diagnose named (kmodtui "
                                                   "diagnose --json: primary.api_change.id)")
    if not change.rewritable:
        raise KmodError(change.id, f"is not a mechanical rewrite kmodtui knows: {change.sentence()} The compat guard "
                                   f"to write by hand:\n{change.compat}")
    return change


def _sources(folder: str) -> list[str]:
    from kmodtui.core.remedies.source import c_files

    headers = []
    for dirpath, _dirs, names in os.walk(folder):
        headers += [os.path.join(dirpath, n) for n in sorted(names) if n.endswith(".h")
                    and _small_regular(os.path.join(dirpath, n))]
        if len(headers) > MAX_FILES:
            break
    return (c_files(folder, MAX_FILES) + sorted(headers))[:MAX_FILES]


def _small_regular(path: str) -> bool:
    """A regular file (not a link, FIFO or device) of at most MAX_BYTES, as the .c files are read."""
    try:
        st = os.lstat(path)
    except OSError:
        return False
    return stat.S_ISREG(st.st_mode) and st.st_size <= MAX_BYTES


def plan_kernel_compat(options: RemedyOptions) -> RemedyPlan:
    source = options.target
    change = compat_change(options)
    if not os.path.isdir(source):
        raise KmodError(source, "is not a module source folder")
    edits = []
    for path in _sources(source):
        before = read_file(path)
        after = rewritten(before, change)
        if after is not None:
            check_editable(path)
            edits.append(FileEdit(path, before, after))
    if not edits:
        raise KmodError(source, f"no .c or .h file here uses {change.symbol or change.const_callback} the way "
                                f"{change.id} rewrites (or each already has the guard)")
    release = command_release(options)
    return RemedyPlan(
        "kernel-compat", f"{_what(change)}, guarded for kernels before {change.version}", SAFE,
        f"{change.sentence()} The source is rewritten for the newer kernel, and each file it was rewritten in gets "
        "the LINUX_VERSION_CODE guard that keeps the old form on older kernels, so they keep building.",
        tuple(edits), (f"kmodtui build --kernel {release} --source {scriptnames.shell(source)}",), rebuild="same",
    )


def _what(change: ApiChange) -> str:
    if change.rename:
        return f"{change.symbol} -> {change.rename}"
    if change.call:
        return f"{change.call[0]} -> {change.call[1]}"
    if change.const_callback:
        return f"const {change.const_param} * in the {change.const_callback} callbacks"
    if change.drop_initializer:
        return f"initializers set to {change.symbol} kept for older kernels"
    return f"{change.symbol}'s argument {change.string_arg + 1} as a string literal"
