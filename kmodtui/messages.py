"""Every message the TUI's screens and workers send, in one place (as toolong's messages.py).

A screen or a worker says what happened, with the facts it has; the App (app.py) decides what comes
next and keeps the wizard's state. Workers end by posting one of these (post_message is safe from a
thread) instead of reaching into the App.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from textual.message import Message

if TYPE_CHECKING:
    from kmodtui.core.build.logscan import LogFinding
    from kmodtui.core.build.recheck import PackageSet
    from kmodtui.core.build.sources import ModuleSource
    from kmodtui.core.model import Kernel
    from kmodtui.core.remedies.catalogue import RemedyPlan
    from kmodtui.core.remedies.edits import FileEdit
    from kmodtui.core.resolve.result import ResolveResult


@dataclass
class KernelsFound(Message):
    """The kernel picker's scan is done."""

    kernels: list[Kernel]
    last: str = ""  # the kernel chosen last time (its release)


@dataclass
class UpdateCheckEmpty(Message):
    """u on the kernel picker found no out-of-tree module installed for the running kernel."""

    kernel: Kernel  # the kernel the check was asked for
    running: str  # the running kernel's release


@dataclass
class FollowedRead(Message):
    """The boards kmodtui follows (kmodtui follow), each one's last result."""

    targets: list[dict[str, Any]]
    gate: dict[str, Any] | None = None  # this machine's kernel gate (kmodtui gate --json's shape)


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
class ExamplesCopied(Message):
    """The bundled examples are copied where remedies may edit them: their folders."""

    paths: list[str]


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
class ModeFacts(Message):
    """What this host says about each mode of a source: the programs it lacks (and the command that
    installs them), why it cannot run it at all, and the mode chosen last time for the source."""

    missing: dict[str, list[str]]
    install: dict[str, str]
    unavailable: dict[str, str]
    last: str = ""


@dataclass
class BuildStarted(Message):
    """A worker started a build (its record made, its runner detached): follow it."""

    record: str
    problems_before: frozenset[tuple[str, str]] | None = None  # a rebuild after a remedy: compared at its check
    # a provider's rebuild: check this build's packages (or this package set, with the rebuild's) again after it
    then_check: str | PackageSet = ""
    provider: bool = False  # the provider a remedy needs, built first: not the wizard's own build
    replaces: str = ""  # a rebuild: the build it was made from (its screen, if still below, is history now)


@dataclass
class RunningBuilds(Message):
    """How many builds started from this session still run (their records read in a worker)."""

    count: int

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, RunningBuilds)  # only the latest count matters


@dataclass
class BuildLogRead(Message, bubble=False):
    """New complete lines of a followed build's log, made safe to show, and what they found. Every
    batch is shown (never replaced); the worker reads on once the screen has written this one."""

    lines: list[str]
    findings: list[LogFinding]
    line_count: int  # lines read so far, these included
    shown: threading.Event = field(default_factory=threading.Event)


@dataclass
class BuildRecordRead(Message, bubble=False):
    """A followed build's record (status.json) and the state to show; `done`: it ended and its whole
    log has been read."""

    status: dict[str, Any]
    state: str
    log_path: str
    done: bool = False

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, BuildRecordRead)  # only the latest record matters


@dataclass
class BuildKernelRead(Message, bubble=False):
    """The kernel a build was for, as its stored request names it (None: gone since), for `then`."""

    kernel: Kernel | None
    then: str


@dataclass
class BuildsListed(Message, bubble=False):
    """Every recorded build, newest first."""

    records: list[dict[str, Any]]


@dataclass
class HookPlanned(Message, bubble=False):
    """The hook's file, or why there is none; whether this user may write where it goes."""

    edit: FileEdit | None
    error: str = ""
    writable: bool = False


@dataclass
class RemedyPlanned(Message, bubble=False):
    """A remedy's plan for the preview (its target read), or why it cannot be previewed yet."""

    remedy_id: str
    plan: RemedyPlan | None
    error: str = ""


@dataclass
class ProvidersFound(Message, bubble=False):
    """Which earlier builds' Module.symvers and which sources export the symbol."""

    built: list[str]
    sources: list[str]
    origins: dict[str, str] = field(default_factory=dict)  # a Module.symvers -> its build and source, in words
    asked: bool = False  # the remedy found builds of several sources: the user says which


@dataclass
class ProviderSpecFound(Message, bubble=False):
    """The spec a provider package was built from and its build's record, for a remedy on it."""

    target: str
    record: str
    index: int  # the symbol browser's row the remedy is for


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
    # a provider's rebuild: when it is done, check this build's packages (or this package set) again instead
    then_check: str | PackageSet = ""
    mode: str = ""  # a remedy that is a rebuild in another mode (autotools-redhat-spec: rpm-redhat)
    providers: tuple[str, ...] = ()  # provider sources the rebuild's request records (kbuild-extra-symbols)


@dataclass
class ProviderBuildRequested(Message):
    """From the KBUILD_EXTRA_SYMBOLS remedy: build the module that exports the symbol first (the same
    kernel, the consumer's mode: a package build's provider is a package); the remedy then finds it."""

    source: str
    kernel: str  # as `build --kernel` takes it
    mode: str = "kbuild"


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
    previous: frozenset[tuple[str, str]] | None = None  # the problems before the remedy this check follows


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
    have_key: bool = False  # kmodtui's key pair is there


@dataclass
class SignDone(Message):
    """The sign screen's key making or signing finished."""

    outcome: str
