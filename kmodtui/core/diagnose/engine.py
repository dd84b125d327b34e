"""Name the root cause of a failure log people have in hand: dkms's make.log, an apt/dpkg run whose
dkms hook failed, yum/dnf/rpm dependency errors, akmods logs, dmesg/journal lines after modprobe,
rpmbuild and kbuild output.

Every line is cleaned (CR, ANSI colours, dmesg/journal/akmods timestamps and prefixes) and matched
against the one table of log rules the build screen reads too (rules.py, through scan.py); each
match is a signal with a tier:
  ROOT      a specific cause (the compiler's error, modpost's, the loader's...)
  WEAK      a cause, but generic or often a consequence (a bare C error, "Invalid module format")
  FALLBACK  only says that something failed ("Bad return status", a failed post-installation script)
  KNOCKON   a consequence of an earlier error ("make: *** Error 2", "dpkg: error processing package")
  HARMLESS  noise that looks alarming (BTF skipped, unsigned-module taint, same-major compiler notice)
The primary cause is the first ROOT signal, else the first WEAK, else the first FALLBACK; knock-on
lines after it are attached to it; HARMLESS lines are never chosen. When no rule named a cause but a
line records a failure (failure.py: make's `***` lines, `error:`, FATAL, a non-zero exit...), the first
such line is the primary as `unrecognised_failure`. None (nothing is wrong) only when no line failed.
Beyond the table, what earlier lines said is kept (the kernel dkms targets, the rpm section, the
module paths: a rule's `refine` reads it), a make command building for another kernel than dkms's
target is judged here, and a line a terminal wrapped is read joined. Its JSON: report.py.
Reading a log never runs anything.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from kmodtui.core.diagnose import meanings
from kmodtui.core.diagnose.apichanges import change_for_line
from kmodtui.core.diagnose.failure import failure_evidence
from kmodtui.core.diagnose.logread import (  # noqa: F401 (read_logs, decode_log: this module's API too)
    LINE_BYTES,
    decode_log,
    read_logs,
)
from kmodtui.core.diagnose.rule import (  # noqa: F401 (the tiers: this module's API too)
    FALLBACK,
    HARMLESS,
    KNOCKON,
    ROOT,
    WEAK,
    Context,
)
from kmodtui.core.diagnose.scan import clean_line, first_match, match_details
from kmodtui.core.vocabulary import Cause

_TIER_ORDER = (ROOT, WEAK, FALLBACK)
API_CAUSES = frozenset({Cause.KERNEL_API_CHANGE, Cause.MODPOST_UNDEFINED})  # lines apichanges.py may name
FAILURE_EVIDENCE = "failure-evidence"  # the rule id of a failing line no rule of the table read (failure.py)
MAX_SIGNALS = 5000  # a runaway log repeats its errors: the first ones are what matter


@dataclass(frozen=True)
class Signal:
    cause: Cause
    tier: str
    line_number: int
    line: str  # the line as it was in the log (without its line end)
    details: tuple[tuple[str, str], ...] = ()
    source: str = ""  # the file it came from, when several were given
    rule: str = ""  # the id of the rule that read the line (rules.py)

    def detail(self, key: str) -> str:
        return dict(self.details).get(key, "")


@dataclass
class Diagnosis:
    primary: Signal | None
    knock_on: list[Signal] = field(default_factory=list)
    signals: list[Signal] = field(default_factory=list)
    lines: int = 0


_DKMS_TARGET = re.compile(r"DKMS make\.log for \S+ for kernel (?P<rel>\S+)|"
                          r"(?:dkms \w+ )(?:(?!dkms \w+ ).)*(?:-k|--kernelver) (?P<k>[^\s/]+)")
_MAKE_C = re.compile(r"-C /lib/modules/(?P<rel>[^/\s]+)/build\b")
_MODULE_PATH = re.compile(r"/lib/modules/(?P<rel>[^/\s]+)/")
_RPM_SECTION = re.compile(r"Failed (?P<build>build )?dependencies")


# Image-based systems, by what their logs say of them (a journal tag, a kernel release, a store path), read
# on the line as it came (a journal's tag is cut off before the rules see the line).
_HOSTS = (("rpm-ostree", "ostree"), ("ostree", "ostree"), ("silverblue", "ostree"), ("kinoite", "ostree"),
          ("bazzite", "ostree"), ("neptune", "steamos"), ("steamos", "steamos"), ("steamdeck", "steamos"),
          ("/nix/store/", "nixos"), ("nixos", "nixos"))


def _host_line(raw: str, ctx: Context) -> None:
    for needle, host in _HOSTS:
        if needle in raw:
            ctx.host = host
            return


def _context_line(text: str, ctx: Context) -> None:
    if text.startswith("### confined: bwrap"):
        ctx.confined = True
    if "/lib/modules/" in text:
        for match in _MODULE_PATH.finditer(text):
            ctx.module_paths.add(match["rel"])
    if "DKMS make.log" in text or "dkms " in text:
        target = _DKMS_TARGET.search(text)
        if target:
            ctx.target_kernel = target["rel"] or target["k"] or ctx.target_kernel
    if "ailed" in text and "dependencies" in text:
        section = _RPM_SECTION.search(text)
        if section:
            ctx.rpm_section = "build" if section["build"] else "install"


def diagnose_lines(lines: Iterable[str], source: str = "") -> Diagnosis:
    """The primary cause of a log given as lines (with or without their line ends)."""
    return diagnose_sources([(source, lines)])


def diagnose_sources(sources: Iterable[tuple[str, Iterable[str]]]) -> Diagnosis:
    """One diagnosis of several logs read in order (dkms's output, then the make.log it names):
    what one says is context for the next; line numbers are each file's own."""
    ctx = Context()
    signals: list[Signal] = []
    failed: list[tuple[int, Signal]] = []  # the first line that records a failure, and where it goes in signals
    total = 0
    for source, lines in sources:
        total += _scan(source, lines, ctx, signals, failed)
    return _choose(signals, total, failed)


def _scan(source: str, lines: Iterable[str], ctx: Context, signals: list[Signal],
          failed: list[tuple[int, Signal]]) -> int:
    count = 0
    pending: tuple[int, str, str] | None = None  # a full-width line no rule matched: maybe wrapped
    for count, raw in enumerate(lines, 1):
        text = clean_line(raw)
        if not ctx.host:
            _host_line(raw, ctx)
        if pending is not None:
            number, first_raw, first_text = pending
            pending = None
            # A terminal wrapped a long line (pasted from an 80-column screen): read the two as one.
            if text and not text[0].isspace() and _match_line(first_text + text, first_raw, number, source, ctx,
                                                             signals):
                continue
            _note_failure(first_text, first_raw, number, source, None, signals, failed)
        _context_line(text, ctx)
        if "-C /lib/modules/" in text:  # the make command of a module build: does it build for the target?
            make_c = _MAKE_C.search(text)
            judged = make_c and (meanings.make_command(make_c, ctx, count) or meanings.build_dir(make_c, ctx, count))
            if make_c and judged:
                hint = (meanings.SUBDIRS_HINT,) if judged[0] == Cause.KERNEL_API_CHANGE else ()
                details = (("built_against", make_c["rel"]),) + (
                    (("target_kernel", ctx.target_kernel),) if ctx.target_kernel else ())
                change = change_for_line(text) if judged[0] in API_CAUSES else None  # SUBDIRS= (apichanges.toml)
                details += (("api_change", change.id),) if change is not None else ()
                signals.append(Signal(judged[0], judged[1], count, raw[:LINE_BYTES].rstrip("\r\n"),
                                      details + tuple(("hint", h) for h in hint), source, "make-command"))
                continue
        if len(signals) >= MAX_SIGNALS:
            continue
        tier = _match_line(text, raw, count, source, ctx, signals)
        if tier is None and len(text) in _WRAP_WIDTHS:
            pending = (count, raw, text)  # judged with the next line (or alone, above)
            continue
        _note_failure(text, raw, count, source, tier, signals, failed)
    if pending is not None:
        _note_failure(pending[2], pending[1], pending[0], source, None, signals, failed)
    return count


def _note_failure(text: str, raw: str, number: int, source: str, tier: str | None, signals: list[Signal],
                  failed: list[tuple[int, Signal]]) -> None:
    """Keep the first line that records a failure (failure.py), unless a rule read it as harmless."""
    if failed or tier == HARMLESS or not failure_evidence(text):
        return
    taken = tier is not None and bool(signals) and signals[-1].line_number == number and signals[-1].source == source
    rule_id = signals[-1].rule if taken else FAILURE_EVIDENCE  # a knock-on rule may have read it: keep its id
    failed.append((len(signals) - 1 if taken else len(signals),
                   Signal(Cause.UNRECOGNISED_FAILURE, FALLBACK, number, raw[:LINE_BYTES].rstrip("\r\n"),
                          signals[-1].details if taken else (), source, rule_id)))


_WRAP_WIDTHS = {79, 80, 99, 100, 119, 120, 131, 132}


def _match_line(text: str, raw: str, number: int, source: str, ctx: Context, signals: list[Signal]) -> str | None:
    """Match one cleaned line against the rules; the tier it was given when a rule took it (the rule's own
    when the line only fed the context), None when none did."""
    found = first_match(text)
    if found is None:
        return None
    rule, match = found
    cause, tier = rule.cause, rule.tier
    if rule.refine is not None:
        refined = rule.refine(match, ctx, number)
        if refined is None:
            return tier  # the line only fed the context
        cause, tier = refined[0], refined[1]
        hint = " ".join(h for h in (refined[2] if len(refined) > 2 else "", rule.hint) if h)
    else:
        hint = rule.hint
    details = match_details(match)
    if hint:
        details += (("hint", hint),)
    if cause in API_CAUSES:  # a compiler or modpost line: does it name a kernel API change of the table?
        change = change_for_line(text)
        if change is not None:
            details += (("api_change", change.id),)
            cause = Cause.KERNEL_API_CHANGE  # a symbol the kernel stopped exporting: no KBUILD_EXTRA_SYMBOLS helps
    signals.append(Signal(cause, tier, number, raw[:LINE_BYTES].rstrip("\r\n"), details, source, rule.id))
    return tier


def _choose(signals: list[Signal], line_count: int, failed: list[tuple[int, Signal]]) -> Diagnosis:
    primary = None
    for tier in _TIER_ORDER:
        primary = next((s for s in signals if s.tier == tier), None)
        if primary is not None:
            break
    if primary is None and failed:  # the log records a failure no rule named: never the all-clear
        at, primary = failed[0]
        replaced = at < len(signals) and signals[at].line_number == primary.line_number \
            and signals[at].source == primary.source
        signals = signals[:at] + [primary] + signals[at + 1 if replaced else at:]
    knock_on = []
    if primary is not None:
        at = signals.index(primary)
        knock_on = [s for s in signals[at + 1:] if s.tier in (KNOCKON, FALLBACK)]
    return Diagnosis(primary, knock_on, signals, line_count)


def diagnose_text(text: str) -> Diagnosis:
    return diagnose_lines(text.splitlines())


def diagnose_log_file(path: str) -> Diagnosis | None:
    """A build's own log, diagnosed; None when it cannot be read."""
    from kmodtui.core.errors import KmodError

    try:
        return diagnose_sources(read_logs([path]))
    except KmodError:
        return None
