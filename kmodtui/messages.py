"""Every message the TUI's screens and workers send, in one place (as toolong's messages.py).

A screen or a worker says what happened, with the facts it has; the App (app.py) decides what comes
next and keeps the wizard's state. Workers end by posting one of these (post_message is safe from a
thread) instead of reaching into the App.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from textual.message import Message

if TYPE_CHECKING:
    from kmodtui.core.build.sources import ModuleSource
    from kmodtui.core.model import Kernel
    from kmodtui.core.resolve.result import ResolveResult


@dataclass
class KernelsFound(Message):
    """The kernel picker's scan is done."""

    kernels: list[Kernel]


@dataclass
class KernelChosen(Message):
    kernel: Kernel


@dataclass
class SourceRead(Message):
    """The source step read a source (never running it): what it is, or why it cannot be used."""

    path: str
    source: ModuleSource | None
    error: str = ""


@dataclass
class SourceChosen(Message):
    source: ModuleSource
    kernel: Kernel


@dataclass
class ModeChosen(Message):
    source: ModuleSource
    kernel: Kernel
    mode: str


@dataclass
class BuildFinished(Message):
    """A build's record says it ended; `open_symbols`: the user asked to check what it made."""

    record: str
    status: dict[str, Any]
    open_symbols: bool = False


@dataclass
class RebuildRequested(Message):
    """`b` after a remedy: run the build `record` recorded again (its own request), then re-check
    and compare with the problems seen before the remedy."""

    record: str
    problems_before: frozenset[tuple[str, str]] = field(default_factory=frozenset)
    sign_modules: bool = False  # `s` on a package build: the same build, every module signed before packaging
    then_check: str = ""  # a provider's rebuild: when it is done, check this build's packages again instead
    mode: str = ""  # a remedy that is a rebuild in another mode (autotools-redhat-spec: rpm-redhat)


@dataclass
class ProviderBuildRequested(Message):
    """From the KBUILD_EXTRA_SYMBOLS remedy: build the module that exports the symbol first (kbuild,
    the same kernel); its Module.symvers is then found by the remedy."""

    source: str
    kernel: str  # as `build --kernel` takes it


@dataclass
class DemoRebuildRequested(Message):
    """After a remedy on the demo's spec: rebuild the demo provider RPM from it and check again."""

    spec: str
    problems_before: frozenset[tuple[str, str]] = field(default_factory=frozenset)


@dataclass
class RemedyDone(Message):
    """A remedy was applied or undone in a worker (backups, fsync and rename): its id, or why not."""

    action: str  # "applied" or "undone"
    undo_id: str = ""
    error: str = ""
    restored: tuple[str, ...] = ()


@dataclass
class ResolveDone(Message):
    """A symbol check finished: open the symbol browser on it."""

    result: ResolveResult
    source: str = ""
    record: str = ""  # the build it checked, when it was one of kmodtui's builds
    demo: bool = False
    remedy_target: str = ""
    context: str = ""  # what was checked, when it is not the wizard's build (an update check)


@dataclass
class Notice(Message):
    """Something to tell the user from a worker (an error, a hint)."""

    text: str
    severity: str = "information"
    timeout: float = 8.0


@dataclass
class SignaturesRead(Message):
    """The sign screen read its modules' signatures: one line each."""

    states: tuple[str, ...]


@dataclass
class SignDone(Message):
    """The sign screen's key making or signing finished."""

    outcome: str
