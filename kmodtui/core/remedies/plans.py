"""What a remedy is planned from and what a plan is: the options a remedy takes (--target,
--symbol, ...), the plan it returns (the edits, shown as a diff, and the commands), and what the
planners share."""

from __future__ import annotations

from dataclasses import dataclass

from kmodtui.core import scriptnames
from kmodtui.core.errors import KmodError
from kmodtui.core.remedies.edits import FileEdit

SAFE, RISKY = "safe", "risky"


@dataclass(frozen=True)
class RemedyOptions:
    target: str = ""  # a spec, a source dir, a .deb, ... (each remedy says which)
    symbol: str = ""
    namespace: str = ""
    symvers: tuple[str, ...] = ()  # other modules' Module.symvers (KBUILD_EXTRA_SYMBOLS)
    providers: tuple[str, ...] = ()  # the sources of the other modules, for a build the consumer's request records
    mode: str = ""  # the mode the consumer is built in: a package build's provider must be built as packages too
    depends: str = ""  # deb: the Depends to write
    kernel_release: str = ""
    generator: str = ""  # how a spec calls kmodtui rpmdeps (default: this Python with -m kmodtui)
    change: str = ""  # kernel-compat: the api_change id diagnose named (kmodtui/core/diagnose/apichanges.toml)


@dataclass(frozen=True)
class RemedyPlan:
    remedy: str
    title: str
    risk: str
    explanation: str
    edits: tuple[FileEdit, ...] = ()
    commands: tuple[str, ...] = ()  # run by the user (or by `apply --run`), in the target's folder
    warning: str = ""  # for risky remedies: what safety is lost
    shown_diff: str = ""  # when the edit is binary (a .deb), the readable change
    # a remedy that is a rebuild, not an edit: "same" (the build's own request) or the mode to rebuild
    # in; the TUI's b runs it, headless it is `kmodtui build` with that mode
    rebuild: str = ""
    providers: tuple[str, ...] = ()  # provider sources the rebuild's request records (built first, per kernel)

    def diff(self) -> str:
        return self.shown_diff or "".join(edit.diff() for edit in self.edits)


def read_file(path: str) -> bytes:
    """A file a remedy reads or edits, whole; a failure is one KmodError naming it."""
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as err:
        raise KmodError(path, err.strerror or str(err)) from None


def command_release(options: RemedyOptions) -> str:
    """The kernel release a remedy names in the commands it shows (the finding's, or --kernel)."""
    if not options.kernel_release:
        return "RELEASE"
    return scriptnames.check(scriptnames.KERNEL_RELEASE, options.kernel_release, "--kernel")
