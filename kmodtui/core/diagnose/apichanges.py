"""The kernel API changes that break out-of-tree modules, as data (apichanges.toml, one [[change]] per
change, like OpenZFS's one configure probe per change), and which of them a compiler or modpost line
names. `diagnose` and the build screen ask `change_for_line` about each line a kernel-API rule of the
log table read (rules.py), so both name the same change.

A change's fields: `id`; `symbol`, the name the compiler's line quotes (a function, macro, member,
type, or a header for `header`); `struct`, when the symbol is a member, the struct the line must name
too; `text`, a literal the line must hold instead of (or besides) the symbol; `texts`, for a change
named by its text alone, other literals any one of which may stand in for `text`; `errors`, which kinds
of line it produces (below); `version`, the first kernel release without the old API; `commit`, the
upstream commit (12+ hex digits) and its `subject` where the record that verified it quotes it;
`replacement`; `rename`, for a pure rename, the new name; `mechanical`, whether the fix is a rewrite
needing no judgement; how the compat remedy rewrites it, one of `rename` (with `statement_only`),
`call`, `const_callback` + `const_param`, `string_arg`, `drop_initializer` (core/remedies/compatedits.py); `compat`, the LINUX_VERSION_CODE guard a maintainer would write; `verified`,
the public record the commit id was checked against.

The kinds of line (`errors`), as gcc (any locale's quotes: ' ‘’ « » „“ 「」) and modpost print them:
  implicit   implicit declaration of function ‘X’, ‘X’ undeclared
  args       too few/many arguments to function ‘X’, macro "X" passed/requires N arguments
  member     ‘struct S’ has no member named ‘X’
  field      unknown field ‘X’ specified in initializer
  readonly   assignment of read-only member ‘X’ (or location)
  pointer    incompatible pointer type (passing argument N of ‘X’; near initialization for ‘v.X’)
  type       unknown type name ‘X’, incomplete type ‘struct X’
  header     fatal error: X: No such file or directory
  undefined  modpost: "X" [module] undefined!, Unknown symbol X
  redefined  "X" redefined
  source     gcc's echo of the source line under an error (`  12 | X(...)`)
  warning    any other compiler line holding `text`
  make_command  a make command into a kernel tree (make -C .../build ...), kbuild's DESCEND into the tree's tools
Reading a line is a few substring tests and one linear scan for quoted names: no backtracking.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from functools import cache
from importlib import resources

KINDS = ("implicit", "args", "member", "field", "readonly", "pointer", "type", "header", "undefined", "redefined",
         "source", "warning", "make_command")


@dataclass(frozen=True)
class ApiChange:
    id: str
    symbol: str
    errors: tuple[str, ...]
    version: str
    commit: str
    replacement: str
    mechanical: bool
    compat: str
    verified: str
    subject: str = ""
    struct: str = ""
    text: str = ""
    texts: tuple[str, ...] = ()  # a text-only change: other literals that stand in for `text`
    rename: str = ""
    statement_only: bool = False  # rename: only calls whose value is unused
    call: tuple[str, ...] = ()  # ("f(a, b)", "f(b)"): the call before and from the change's release
    const_callback: str = ""  # the member whose callback gained a const parameter
    const_param: str = ""  # that parameter's type ("struct device")
    string_arg: int = -1  # the argument that became a string literal (a namespace)
    drop_initializer: bool = False  # `.member = symbol` lines kept for older kernels only


    @property
    def rewritable(self) -> bool:
        """Whether the compat remedy rewrites it (core/remedies/compatedits.py: one kind per field)."""
        return self.rewrite != ""

    @property
    def rewrite(self) -> str:
        """The kind of rewrite the compat remedy does for it ("" when it does none)."""
        if not self.mechanical:
            return ""
        kinds = (("rename", bool(self.rename)), ("call", bool(self.call)), ("const_callback", bool(self.const_callback)),
                 ("string_arg", self.string_arg >= 0), ("drop_initializer", self.drop_initializer))
        return next((kind for kind, used in kinds if used), "")

    def sentence(self) -> str:
        """What diagnose says of it: the change, its release and commit, and what to use."""
        if self.struct:
            name = f"struct {self.struct}'s member {self.symbol}"
        elif set(self.errors) & {"member", "field", "readonly", "type"} or not self.symbol.islower() \
                or "/" in self.symbol or "." in self.symbol:
            name = f"<{self.symbol}>" if "header" in self.errors else self.symbol  # a member, a type, a constant or macro, a header
        else:
            name = f"{self.symbol}()"
        v = f"Linux {self.version}"
        verbs = {"source": f"takes the namespace as a string literal since {v}", "header": f"is gone since {v}", "undefined": f"is not exported to modules since {v}",
                 "args": f"takes other arguments since {v}", "readonly": f"is read-only since {v}",
                 "redefined": f"is defined by the kernel since {v}", "pointer": f"expects another type since {v}"}
        kind = next((k for k in verbs if k in self.errors), "")
        if "make_command" in self.errors:  # a make variable kbuild stopped reading
            said = f"kbuild ignores {self.text} since {v}"
        elif self.rename:
            new = f"{self.rename}()" if name.endswith("()") else self.rename
            said = f"{name} was renamed {new} in {v}"
        elif kind and (name or kind != "pointer"):
            said = f"{name} {verbs[kind]}"
        elif name:
            said = f"{name} is gone since {v}"
        else:
            said = f"{v} changed this API"
        subject = f': "{self.subject}"' if self.subject else ""
        return f"{said} (commit {self.commit}{subject}). Instead: {self.replacement}."

    def as_json(self) -> dict[str, object]:
        return {"id": self.id, "symbol": self.symbol, "version": self.version, "commit": self.commit,
                "subject": self.subject, "replacement": self.replacement, "rename": self.rename,
                "mechanical": self.mechanical, "rewrite": self.rewrite, "compat": self.compat, "sentence": self.sentence()}


def _parse(data: dict[str, object]) -> tuple[ApiChange, ...]:
    rows = data.get("change")
    if not isinstance(rows, list):
        raise ValueError("apichanges.toml: no [[change]] tables")
    changes = []
    for row in rows:
        row = dict(row)
        row.setdefault("symbol", "")
        errors = tuple(row.pop("errors"))
        unknown = set(errors) - set(KINDS)
        if unknown:
            raise ValueError(f"apichanges.toml: {row.get('id')}: unknown error kinds {sorted(unknown)}")
        if "texts" in row:
            row["texts"] = tuple(row["texts"])
        if "call" in row:
            row["call"] = tuple(row["call"])
            if len(row["call"]) != 2:
                raise ValueError(f"apichanges.toml: {row.get('id')}: call is [before, after]")
        changes.append(ApiChange(errors=errors, **row))
    return tuple(changes)


@cache
def table() -> tuple[ApiChange, ...]:
    """Every change of apichanges.toml, in its order."""
    text = resources.files("kmodtui.core.diagnose").joinpath("apichanges.toml").read_text(encoding="utf-8")
    return _parse(tomllib.loads(text))


def by_id(change_id: str) -> ApiChange | None:
    return next((c for c in table() if c.id == change_id), None)


@cache
def _by_symbol() -> dict[str, tuple[ApiChange, ...]]:
    index: dict[str, list[ApiChange]] = {}
    for change in table():
        if change.symbol:
            index.setdefault(change.symbol, []).append(change)
    return {name: tuple(found) for name, found in index.items()}


# a quoted name, in any locale's quotes: ‘from_timer’, ‘struct hd_struct’, ‘foo_ops.get_acl’ (the part
# after the last dot is the name)
_QUOTED = re.compile(r"['‘`\"«„“「]\s?(?:(?:struct|union|enum) )?([A-Za-z_][\w.]*)\s?['’\"»“”」]")
_HEADER = re.compile(r"fatal error: ([\w./+-]+): ")
_UNKNOWN_SYMBOL = re.compile(r"Unknown symbol ([A-Za-z_]\w*)")
_SOURCE_ECHO = re.compile(r"^\s*\d+\s*\|\s*([A-Za-z_]\w*)\s*\(")


def _kinds(line: str) -> set[str]:
    kinds = set()
    if "implicit declaration of function" in line or "implicit function declaration" in line or "undeclared" in line:
        kinds.add("implicit")
    if "arguments to function" in line or "passed" in line and "arguments, but takes" in line or \
            "requires" in line and "arguments, but only" in line:
        kinds.add("args")
    if "has no member named" in line:
        kinds.add("member")
    if "unknown field" in line:
        kinds.add("field")
    if "read-only" in line:
        kinds.add("readonly")
    if "incompatible pointer type" in line or "near initialization for" in line or "incompatible type for" in line:
        kinds.add("pointer")
    if "unknown type name" in line or "incomplete type" in line or "storage size of" in line:
        kinds.add("type")
    if "fatal error: " in line and "No such file" in line:
        kinds.add("header")
    if "undefined!" in line or "Unknown symbol" in line:
        kinds.add("undefined")
    if "redefined" in line:
        kinds.add("redefined")
    if "|" in line and _SOURCE_ECHO.match(line):
        kinds.add("source")
    if "warning:" in line or "error:" in line:
        kinds.add("warning")
    if "DESCEND" in line or "make" in line and "-C " in line:
        kinds.add("make_command")
    return kinds


def _names(line: str) -> list[str]:
    names = [m[1].rsplit(".", 1)[-1] for m in _QUOTED.finditer(line)]
    header = _HEADER.search(line)
    if header:
        names.append(header[1])
    if "undefined!" in line:
        names += re.findall(r'"([A-Za-z_]\w*)"', line)
    unknown = _UNKNOWN_SYMBOL.search(line)
    if unknown:
        names.append(unknown[1])
    echo = _SOURCE_ECHO.match(line)
    if echo:
        names.append(echo[1])
    return names


def change_for_line(line: str) -> ApiChange | None:
    """The change a compiler or modpost line names, if the table knows it (None otherwise)."""
    kinds = _kinds(line)
    if not kinds:
        return None
    echo = "source" in kinds
    for name in _names(line):
        for change in _by_symbol().get(name, ()):
            if echo:  # gcc's echo of a source line: only a namespace written the pre-6.13 way
                if "source" in change.errors and _bare_namespace(line):
                    return change
                continue
            if not kinds & set(change.errors):
                continue
            if change.struct and change.struct not in line:
                continue
            if change.text and change.text not in line:
                continue
            return change
    for change in table():  # the changes a line names by its text alone (a callback's type, a warning, kbuild)
        if not change.symbol and kinds & set(change.errors) and \
                any(text in line for text in (change.text, *change.texts) if text):
            return change
    return None


def _bare_namespace(line: str) -> bool:
    """gcc's echo of MODULE_IMPORT_NS(NS) / EXPORT_SYMBOL_NS(sym, NS): the namespace not a string."""
    inside = line[line.find("(") + 1: line.rfind(")")] if ")" in line else ""
    return bool(inside) and '"' not in inside
