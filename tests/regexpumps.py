"""Every regular expression in kmodtui, found by itself, and the hostile strings to pump through it.

Inventory: the compiled patterns in every module's namespace and in its tables (RULES: tuples of
records holding a `pattern`), plus every `re.<function>("constant", ...)` call written inline
(found by reading the source with `ast`). A call whose pattern is built at run time must be listed
in DYNAMIC with the reason it is safe: a new one fails the test until someone looks at it.

Hostile strings (hostile_strings), 128 KB each: for each pattern, its own literal words and
characters, spaces, and terminal escapes (an OSC never terminated, CSI runs): each repeated, all the
words in order repeated, its opening text then a long run and one more character (the shape that
makes a lazy `.*?` followed by `\\s*$` fail late); each word followed by a long run of one filler;
and, for every repeat in the pattern (inside groups and each way of a branch), the text that leads to
it followed by a run of what it takes, of one of the pattern's words, or of spaces, alone or repeated
whole (many starts, each scanning far).
"""

from __future__ import annotations

import ast
import functools
import importlib
import importlib.util
import pkgutil
import re
import re._constants as sre_constants  # the pattern's parse tree: where its words and repeats are
import re._parser as sre_parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kmodtui

PACKAGE = Path(kmodtui.__file__).resolve().parent

# Patterns built at run time, each with why it cannot be pumped: (file relative to kmodtui/, function).
DYNAMIC = {
    ("core/diagnose/rule.py", "rule"): "compiles the log rules' patterns (diagnose/rules*.py): collected from RULES",
    ("core/diagnose/scan.py", "<module>"): "_PREFILTER, an alternation of the rules' escaped needles: collected "
                                           "from the namespace",
    ("core/elf/elffile.py", "symbols"): "an alternation of escaped literal prefixes (kmodtui's own constants) "
                                        "after a NUL: one literal test per NUL, linear",
    ("core/scriptnames.py", "_kind"): "one character class, then a run of another, fullmatched only after the "
                                      "length cap (at most 4,096 characters): linear",
    ("core/remedies/hookrun.py", "_installed_item"): "fullmatch on a package name from the install record, cut "
                                                     "to 256 characters before it runs",
    ("core/remedies/compatedits.py", "_uses"): "a one-character lookbehind, one escaped literal (a function name "
                                                "of the table), a [ \\t]* run and a literal '(': linear",
    ("core/remedies/compatedits.py", "_renamed"): "one escaped literal (a kernel symbol of the table) between two "
                                                   "one-character lookarounds: one literal test per place, linear",
    ("core/remedies/compatedits.py", "_constified"): "literals of the table separated by runs that cannot overlap "
                                                      "them; the optional '&' owns its own run (an '&?' between two "
                                                      "runs was quadratic on a run of blanks: 5 s at 20,000)",
    ("core/remedies/compatedits.py", "_dropped"): "one line: runs separated by literals; the optional ',' owns its "
                                                   "run (',?' between two runs was quadratic: 2.4 s at 20,000 blanks)",
    ("core/remedies/source.py", "plan_import_namespace"): "escaped literals (a symbol or namespace name) after a "
                                                            "literal: a \\s* run after one try cannot reach the next",
}

_FUNCTIONS = {"compile", "search", "match", "fullmatch", "finditer", "findall", "sub", "subn", "split"}


def _flags(node: ast.expr | None) -> int | None:
    """re.M | re.I ... as written in a call, or None when it is not that simple."""
    if node is None:
        return 0
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "re":
        value = getattr(re, node.attr, None)
        return int(value) if isinstance(value, re.RegexFlag) else None
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
        left, right = _flags(node.left), _flags(node.right)
        return None if left is None or right is None else left | right
    return None


def _constant(node: ast.expr) -> str | bytes | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, (str, bytes)):
        return node.value
    return None


@functools.cache  # parsed once per process: at collection (all_patterns), then by a test
def inline_patterns() -> tuple[list[tuple[str, re.Pattern[Any], str]], list[tuple[str, str]]]:
    """(where, pattern, how it is called) of every re.<function>("constant") call in kmodtui, and
    the (file, function) of calls whose pattern is not a constant."""
    found: list[tuple[str, re.Pattern[Any], str]] = []
    dynamic: list[tuple[str, str]] = []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE).as_posix()
        tree = ast.parse(path.read_text(encoding="utf-8"))
        functions = [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
        owner = {id(child): f.name for f in functions for child in ast.walk(f)}
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and isinstance(node.func.value, ast.Name) and node.func.value.id == "re"
                    and node.func.attr in _FUNCTIONS and node.args):
                continue
            where = f"{relative}:{node.lineno}"
            pattern = _constant(node.args[0])
            if pattern is None:
                dynamic.append((relative, owner.get(id(node), "<module>")))
                continue
            flag_arg: ast.expr | None = None
            position = {"compile": 1, "search": 2, "match": 2, "fullmatch": 2, "finditer": 2, "findall": 2,
                        "split": 3, "sub": 4, "subn": 4}[node.func.attr]
            if len(node.args) > position:
                flag_arg = node.args[position]
            for keyword in node.keywords:
                if keyword.arg == "flags":
                    flag_arg = keyword.value
            flags = _flags(flag_arg)
            assert flags is not None, f"{where}: flags kmodtui's regex test cannot read"
            how = node.func.attr if node.func.attr in ("match", "fullmatch") else "search"
            found.append((where, re.compile(pattern, flags), how))
    return found, dynamic


def _tables(value: Any) -> Iterator[re.Pattern[Any]]:
    if isinstance(value, re.Pattern):
        yield value
    elif isinstance(value, (tuple, list, frozenset, set)):
        for item in value:
            yield from _tables(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _tables(item)
    elif isinstance(getattr(value, "pattern", None), re.Pattern):
        yield value.pattern


def namespace_patterns() -> list[tuple[str, re.Pattern[Any], str]]:
    """(where, pattern, "search") of every compiled pattern in a kmodtui module's namespace or its
    tables (how it is called is not known: searched, the hardest case)."""
    found: list[tuple[str, re.Pattern[Any], str]] = []
    for info in pkgutil.walk_packages(kmodtui.__path__, "kmodtui."):
        if info.name.endswith(".__main__"):
            continue  # running it is its only job
        spec = importlib.util.find_spec(info.name)
        if spec is None or not (spec.origin or "").endswith(".py") and not info.ispkg:
            continue  # the C reader's shared library (loaded with ctypes, not imported)
        module = importlib.import_module(info.name)
        for name, value in vars(module).items():
            if isinstance(value, type) or callable(value) and not isinstance(value, re.Pattern):
                continue
            for index, pattern in enumerate(_tables(value)):
                found.append((f"{info.name}.{name}[{index}]", pattern, "search"))
    return found


def all_patterns() -> list[tuple[str, re.Pattern[Any], str]]:
    """Every distinct (pattern, flags, how it is called) in kmodtui, with one place it is written."""
    patterns: dict[tuple[str | bytes, int, str], tuple[str, re.Pattern[Any], str]] = {}
    inline, _ = inline_patterns()
    for where, pattern, how in namespace_patterns() + inline:
        patterns.setdefault((pattern.pattern, pattern.flags, how), (where, pattern, how))
    return list(patterns.values())


def run(pattern: re.Pattern[Any], how: str, text: str | bytes) -> None:
    """The pattern over text as kmodtui calls it (search: every match, as finditer and sub go)."""
    if how == "match":
        pattern.match(text)
    elif how == "fullmatch":
        pattern.fullmatch(text)
    else:
        for _ in pattern.finditer(text):
            pass


# ---- hostile strings --------------------------------------------------------------------------

_CATEGORY_SAMPLES = {
    sre_constants.CATEGORY_DIGIT: "0", sre_constants.CATEGORY_NOT_DIGIT: "x",
    sre_constants.CATEGORY_SPACE: " ", sre_constants.CATEGORY_NOT_SPACE: "x",
    sre_constants.CATEGORY_WORD: "a", sre_constants.CATEGORY_NOT_WORD: " ",
    sre_constants.CATEGORY_LINEBREAK: "\n", sre_constants.CATEGORY_NOT_LINEBREAK: "x",
}
for _name in dir(sre_constants):
    if _name.startswith("CATEGORY_UNI_") or _name.startswith("CATEGORY_LOC_"):
        base = getattr(sre_constants, "CATEGORY_" + _name.split("_", 2)[2])
        _CATEGORY_SAMPLES[getattr(sre_constants, _name)] = _CATEGORY_SAMPLES[base]


class _Shape:
    """What a parsed pattern is made of: its literal words, sample characters, and an opening text."""

    def __init__(self) -> None:
        self.words: list[str] = []
        self.chars: dict[str, None] = {}

    def walk(self, items: Any, word: list[str]) -> None:
        for op, arg in items:
            if op is sre_constants.LITERAL:
                word.append(chr(arg))
                if not chr(arg).isalnum():  # letters and digits come with the words they are in
                    self.chars[chr(arg)] = None
                continue
            self._end(word)
            if op is sre_constants.NOT_LITERAL:
                self.chars["x" if arg != ord("x") else "y"] = None
            elif op is sre_constants.ANY:
                self.chars["a"] = None
            elif op is sre_constants.IN:
                negated = any(o is sre_constants.NEGATE for o, _ in arg)
                for o, a in arg:
                    if o is sre_constants.LITERAL and not negated:
                        self.chars[chr(a)] = None
                    elif o is sre_constants.RANGE and not negated:
                        self.chars[chr(a[0])] = self.chars[chr(a[1])] = None
                    elif o is sre_constants.CATEGORY and a in _CATEGORY_SAMPLES:
                        self.chars[_CATEGORY_SAMPLES[a]] = None
                    elif o is sre_constants.LITERAL and negated:
                        self.chars[chr(a)] = None  # the character a negated class stops at
                if negated:
                    self.chars["a"] = None
            elif op in (sre_constants.MAX_REPEAT, sre_constants.MIN_REPEAT,
                        getattr(sre_constants, "POSSESSIVE_REPEAT", None)):
                self.walk(arg[2], [])
            elif op is sre_constants.SUBPATTERN:
                self.walk(arg[-1], [])
            elif op is sre_constants.BRANCH:
                for branch in arg[1]:
                    self.walk(branch, [])
            elif op in (sre_constants.ASSERT, sre_constants.ASSERT_NOT):
                self.walk(arg[1], [])
            elif op is getattr(sre_constants, "ATOMIC_GROUP", None):
                self.walk(arg, [])
        self._end(word)

    def _end(self, word: list[str]) -> None:
        if word:
            text = "".join(word)
            if text not in self.words:
                self.words.append(text)
            word.clear()


def _opening(items: Any) -> str:
    """A short text the pattern's first elements match (a repeat once, a branch's first way)."""
    out = []
    for op, arg in items:
        if op is sre_constants.LITERAL:
            out.append(chr(arg))
        elif op is sre_constants.ANY or op is sre_constants.NOT_LITERAL:
            out.append("x" if arg != ord("x") else "y")
        elif op is sre_constants.IN:
            sample = next((chr(a) if o is sre_constants.LITERAL else chr(a[0]) if o is sre_constants.RANGE
                           else _CATEGORY_SAMPLES.get(a, "x") for o, a in arg if o is not sre_constants.NEGATE), "x")
            out.append("x" if any(o is sre_constants.NEGATE for o, _ in arg) else sample)
        elif op in (sre_constants.MAX_REPEAT, sre_constants.MIN_REPEAT,
                    getattr(sre_constants, "POSSESSIVE_REPEAT", None)):
            out.append(_opening(arg[2]) * max(1, min(arg[0], 3)))
        elif op is sre_constants.SUBPATTERN:
            out.append(_opening(arg[-1]))
        elif op is sre_constants.BRANCH:
            out.append(_opening(arg[1][0]))
        elif op is getattr(sre_constants, "ATOMIC_GROUP", None):
            out.append(_opening(arg))
    return "".join(out)


_REPEATS = tuple(op for op in (sre_constants.MAX_REPEAT, sre_constants.MIN_REPEAT,
                                getattr(sre_constants, "POSSESSIVE_REPEAT", None)) if op is not None)


def _pumps(items: Any, before: str = "") -> Iterator[tuple[str, str]]:
    """(prefix, unit): a text the pattern matches up to one of its repeats, and what that repeat
    takes, for every repeat, inside groups and each way of a branch too."""
    for index, (op, arg) in enumerate(items):
        prefix = before + _opening(items[:index])
        if op in _REPEATS:
            yield prefix, _opening(arg[2]) or "x"
            yield from _pumps(arg[2], prefix)
        elif op is sre_constants.SUBPATTERN:
            yield from _pumps(arg[-1], prefix)
        elif op is sre_constants.BRANCH:
            for branch in arg[1]:
                yield from _pumps(branch, prefix)
        elif op in (sre_constants.ASSERT, sre_constants.ASSERT_NOT):
            yield from _pumps(arg[1], prefix)
        elif op is getattr(sre_constants, "ATOMIC_GROUP", None):
            yield from _pumps(arg, prefix)


FILLERS = (" ", "\t", "a", "0", ".", "/", "-", "\x1b]", "\x1b[", "\n")
WORD_FILLERS = (" ", "a", "0", "/", "\x1b]", "\n")
ESCAPES = ("\x1b]", "\x1b[", "\x1b]0;", "\x1b[0;")
# 128 KB, not 1 MB: the 46 quadratic patterns the pump has caught (41 before 9adb1c1, 5 before 7b8911d)
# are all still caught at 128 KB (each over its 0.5 s budget), as at 256 KB and 1 MB (measured on those
# trees' own patterns)
LENGTH = 1 << 17


def hostile_strings(pattern: re.Pattern[Any]) -> Iterator[tuple[str, str | bytes]]:
    """(what, text) pairs in the pattern's own type (str or bytes), 128 KB each: each of its words and
    characters, the escapes and the fillers repeated; every word followed by a run of one filler; and
    every opening of the pattern up to one of its repeats followed by a run of what
    that repeat takes (or of one of its words, or spaces), with and without one more character."""
    source = pattern.pattern.decode("latin-1") if isinstance(pattern.pattern, bytes) else pattern.pattern
    parsed = sre_parse.parse(source, pattern.flags & ~re.LOCALE if isinstance(pattern.pattern, str) else 0)
    shape = _Shape()
    shape.walk(parsed, [])
    opening = _opening(parsed)
    words = shape.words[:40]
    chars = list(shape.chars)[:40]

    def pump(unit: str, size: int) -> str:
        return unit * max(1, size // max(1, len(unit)))

    cases: dict[str, str] = {}
    for unit in words + chars + list(ESCAPES) + list(FILLERS):
        cases[f"{unit!r} repeated"] = pump(unit, LENGTH)
    cases["all its words repeated"] = pump("".join(words) or "x", LENGTH)
    cases["all its words, spaced, repeated"] = pump(" ".join(words) + " ", LENGTH)
    cases["all its characters repeated"] = pump("".join(chars) or "x", LENGTH)
    cases["an OSC never terminated"] = "\x1b]0;" + pump("a", LENGTH)
    for filler in FILLERS:
        cases[f"its opening then {filler!r} repeated, then x"] = opening + pump(filler, LENGTH) + "x"
        cases[f"its opening, x, {filler!r} repeated, y"] = opening + "x" + pump(filler, LENGTH) + "y"
        cases[f"(its opening then {filler!r}) repeated"] = pump(opening + filler, LENGTH)
    for word in words:
        for filler in WORD_FILLERS:
            cases[f"{word!r} then {filler!r} repeated"] = word + pump(filler, LENGTH)
    pumps = list(dict.fromkeys(_pumps(parsed)))[:40]
    for prefix, unit in pumps:
        for what in dict.fromkeys([unit, " ", "a"] + words[:12]):
            for tail in ("", "!"):
                cases[f"{prefix!r} then {what!r} repeated{tail}"] = prefix + pump(what, LENGTH) + tail
            cases[f"({prefix!r} then {what!r}) repeated"] = pump(prefix + what, LENGTH)
    for what, text in cases.items():
        yield what, (text.encode("latin-1", "replace") if isinstance(pattern.pattern, bytes) else text)
