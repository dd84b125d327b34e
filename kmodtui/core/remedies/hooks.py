"""A kernel post-install hook that rebuilds a module source for every new kernel and leaves a
report (seed 002: "no automatic way to have all of this happen each time there is a kernel update").

Debian runs /etc/kernel/postinst.d/* with the new version as $1; Fedora/RHEL's kernel-install
runs /etc/kernel/install.d/*.install with `add <version> ...`. Written only when asked, shown first,
and undone like any remedy."""

from __future__ import annotations

import os

from kmodtui.core import scriptnames
from kmodtui.core.build.sources import detect_source
from kmodtui.core.errors import KmodError
from kmodtui.core.paths import self_command
from kmodtui.core.remedies.edits import FileEdit

SCRIPT = """#!/bin/sh
# kmodtui: build and install {names} ({mode}) for every new kernel, in this order (providers first).
# Installed by `kmodtui hook install`; `kmodtui remedy undo <id>` removes it and what it installed
# (kmodtui remedy history lists it).
{args}
[ -n "$version" ] || exit 0
names={names_word}
logdir="${{KMODTUI_HOOK_LOG_DIR:-/var/log/kmodtui}}"
mkdir -p "$logdir"
report="$logdir/hook-{name}-$version.log"
cd / || exit 0  # not the folder the admin ran the upgrade in
inhibit=""  # no shutdown or sleep in the middle of a module build
if command -v systemd-inhibit >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
    inhibit="systemd-inhibit --what=shutdown:sleep --who=kmodtui --why=building-modules-for-$version --mode=block"
fi
if $inhibit {python} hook run --kernel "$version" --mode {mode} --root {root} {sources} >"$report" 2>&1; then
    echo "kmodtui: built and installed $names for $version ($report)"
    grep '^kmodtui gate: ' "$report" | head -n 1
else
    echo "kmodtui: not everything was built and installed for $version: see $report (the kernel install goes on)" >&2
    grep '^kmodtui gate: ' "$report" | head -n 1 >&2  # which kernel boots next, and why
fi
gate=$(grep '^kmodtui gate: ' "$report" | head -n 1)
if [ -n "$gate" ] && [ {root} = / ] && command -v logger >/dev/null 2>&1; then
    logger -t kmodtui -- "$gate" 2>/dev/null || true  # the journal too
fi
exit 0
"""


def hook_plan(source: str | list[str], mode: str = "kbuild", root: str = "/", style: str = "") -> FileEdit:
    """The hook script for one source, or several in build order (a provider before its consumers).
    Every name in it is checked (scriptnames.check, naming the file that held it) and quoted."""
    from kmodtui.core.build import modes
    from kmodtui.core.build.providers import recorded_providers

    asked = [source] if isinstance(source, str) else list(source)
    sources: list[str] = []
    for item in asked:
        # the providers its builds record (a remedy recorded them), before it: built first for each kernel
        for folder in [*recorded_providers(item), item]:
            if os.path.abspath(folder) not in map(os.path.abspath, sources):
                sources.append(folder)
    if not sources:
        raise KmodError("hook", "needs at least one --source")
    if modes.find(mode) is None:
        raise KmodError(mode, f"unknown build mode; choose from {', '.join(modes.names())}")
    infos = [detect_source(s) for s in sources]
    names = [scriptnames.check(scriptnames.PACKAGE, i.name, i.name_file or i.path) for i in infos]
    info = infos[sources.index(asked[0])] if asked[0] in sources else infos[0]  # the hook is named for what was asked
    if not style:
        style = "install.d" if os.path.isdir(os.path.join(root, "etc", "kernel", "install.d")) and not \
            os.path.isdir(os.path.join(root, "etc", "kernel", "postinst.d")) else "postinst.d"
    safe = "".join(c if c.isalnum() or c in "-_." else "-" for c in info.name)
    if style == "postinst.d":
        path = os.path.join(root, "etc", "kernel", "postinst.d", f"zz-kmodtui-{safe}")
        args = 'version="$1"'
    elif style == "install.d":
        path = os.path.join(root, "etc", "kernel", "install.d", f"90-kmodtui-{safe}.install")
        args = '[ "$1" = add ] || exit 0\nversion="$2"'
    else:
        raise KmodError(style, "unknown hook style: postinst.d (Debian) or install.d (Fedora/RHEL kernel-install)")
    if os.path.lexists(path):
        raise KmodError(path, "a kmodtui hook for this source is already installed")
    script = SCRIPT.format(name=safe, mode=scriptnames.shell(mode), args=args, python=self_command(),
                           root=scriptnames.shell(os.path.abspath(root)), names=" ".join(names),
                           names_word=scriptnames.shell(" ".join(names)),
                           sources=" ".join(f"--source {scriptnames.shell(i.path)}" for i in infos))
    return FileEdit(path, b"", script.encode(), create=True, mode=0o755)
