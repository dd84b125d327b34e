"""dkms.conf's BUILD_EXCLUSIVE_KERNEL, matched as dkms matches it and in bounded time.

dkms tests `[[ $kernelver =~ $BUILD_EXCLUSIVE_KERNEL ]]`: a POSIX extended regular expression (glibc's,
through bash), searched anywhere in the release. The pattern comes with the source, so it is not
trusted: Python's re backtracks (`(.*){20}y` against "6.1.0-56-amd64" would run for hours), and it
reads `[[:digit:]]` otherwise than POSIX. Here the pattern is compiled to a Thompson automaton and the
release is read once, keeping the set of live states: time is at most states x characters, with both
capped. Back-references and GNU word anchors are not supported: such a pattern raises EreError
(the caller then leaves the decision to dkms at build time).
"""

from __future__ import annotations

from collections.abc import Callable

MAX_PATTERN = 512  # characters
MAX_SUBJECT = 256  # characters of the release read (real ones have fewer than 64)
MAX_STATES = 4000  # automaton states: x{1,255} repeats x's states 255 times
MAX_REPEAT = 255  # RE_DUP_MAX, glibc's bound on {m,n}

_CHAR, _SPLIT, _BOL, _EOL, _MATCH = range(5)
_CLASSES: dict[str, Callable[[str], bool]] = {
    "alpha": str.isalpha, "digit": lambda c: "0" <= c <= "9", "alnum": str.isalnum, "upper": str.isupper,
    "lower": str.islower, "space": str.isspace, "blank": lambda c: c in " \t", "print": str.isprintable,
    "punct": lambda c: c.isprintable() and not c.isalnum() and not c.isspace(),
    "graph": lambda c: c.isprintable() and not c.isspace(), "cntrl": lambda c: ord(c) < 32 or ord(c) == 127,
    "xdigit": lambda c: c in "0123456789abcdefABCDEF",
}
_ESCAPES = {"w": lambda c: c.isalnum() or c == "_", "s": str.isspace}


class EreError(ValueError):
    """A pattern this matcher does not read (malformed, too large, or a GNU extension)."""


Node = tuple  # ("char", test) ("bol",) ("eol",) ("empty",) ("cat", [..]) ("alt", [..]) ("rep", node, lo, hi)


class _Parser:
    def __init__(self, pattern: str) -> None:
        self.text, self.at = pattern, 0

    def peek(self) -> str:
        return self.text[self.at] if self.at < len(self.text) else ""

    def take(self) -> str:
        c = self.peek()
        self.at += 1
        return c

    def regex(self) -> Node:
        branches = [self.branch()]
        while self.peek() == "|":
            self.take()
            branches.append(self.branch())
        return branches[0] if len(branches) == 1 else ("alt", branches)

    def branch(self) -> Node:
        pieces = []
        while self.peek() not in ("", "|", ")"):
            pieces.append(self.piece())
        return ("cat", pieces)

    def piece(self) -> Node:
        node = self.atom()
        while self.peek() in ("*", "+", "?", "{"):
            op = self.take()
            lo, hi = {"*": (0, None), "+": (1, None), "?": (0, 1)}.get(op) or self.bounds()
            node = ("rep", node, lo, hi)
        return node

    def bounds(self) -> tuple[int, int | None]:
        end = self.text.find("}", self.at)
        low, comma, high = self.text[self.at:end].partition(",") if end >= 0 else ("", "", "")
        if not low.isdigit() or (high and not high.isdigit()):
            raise EreError("a malformed {m,n}")
        self.at = end + 1
        lo, hi = int(low), (int(high) if high else None if comma else int(low))
        if lo > MAX_REPEAT or (hi is not None and (hi > MAX_REPEAT or hi < lo)):
            raise EreError("a repetition bound past 255")
        return lo, hi

    def atom(self) -> Node:
        c = self.take()
        if c == "(":
            inner = self.regex()
            if self.take() != ")":
                raise EreError("an unclosed (")
            return inner
        if c == ".":
            return ("char", lambda _c: True)
        if c in ("^", "$"):
            return ("bol",) if c == "^" else ("eol",)
        if c == "[":
            return ("char", self.bracket())
        if c == "\\":
            e = self.take()
            if e == "" or e.isdigit() or e in "bB<>`'":
                raise EreError("a back-reference or a GNU anchor")
            if e.lower() in _ESCAPES:
                test = _ESCAPES[e.lower()]
                return ("char", test if e.islower() else lambda ch: not test(ch))
            return ("char", e.__eq__)
        if c in ("*", "+", "?", "{"):
            raise EreError(f"nothing to repeat before {c}")
        return ("char", c.__eq__)

    def bracket(self) -> Callable[[str], bool]:
        negate = self.peek() == "^"
        if negate:
            self.take()
        tests: list[Callable[[str], bool]] = []
        first = True
        while True:
            c = self.take()
            if c == "":
                raise EreError("an unclosed [")
            if c == "]" and not first:
                break
            first = False
            if c == "[" and self.peek() in (":", ".", "="):
                kind = self.take()
                end = self.text.find(kind + "]", self.at)
                if end < 0:
                    raise EreError("an unclosed [: :]")
                name, self.at = self.text[self.at:end], end + 2
                if kind == ":":
                    if name not in _CLASSES:
                        raise EreError(f"an unknown class [:{name}:]")
                    tests.append(_CLASSES[name])
                    continue
                c = name  # [.x.] [=x=]: one character
            if self.peek() == "-" and self.text[self.at + 1:self.at + 2] not in ("]", ""):
                self.take()
                high = self.take()
                tests.append(_between(c, high))
            else:
                tests.append(c.__eq__)
        return (lambda ch: not any(t(ch) for t in tests)) if negate else (lambda ch: any(t(ch) for t in tests))


def _between(low: str, high: str) -> Callable[[str], bool]:
    return lambda ch: low <= ch <= high


class _Automaton:
    def __init__(self) -> None:
        self.kind: list[int] = []
        self.test: list[Callable[[str], bool] | None] = []
        self.out: list[list[int]] = []

    def state(self, kind: int, test: Callable[[str], bool] | None = None) -> int:
        if len(self.kind) >= MAX_STATES:
            raise EreError("a pattern too large to check")
        self.kind.append(kind)
        self.test.append(test)
        self.out.append([])
        return len(self.kind) - 1

    def build(self, node: Node) -> tuple[int, list[int]]:
        """(first state, states whose next is still open) of a node."""
        what = node[0]
        if what in ("char", "bol", "eol", "empty"):
            s = self.state({"char": _CHAR, "bol": _BOL, "eol": _EOL, "empty": _SPLIT}[what],
                           node[1] if what == "char" else None)
            return s, [s]
        if what == "cat":
            return self.chain([self.build(n) for n in node[1]])
        if what == "alt":
            s = self.state(_SPLIT)
            ends: list[int] = []
            for branch in node[1]:
                start, open_ends = self.build(branch)
                self.out[s].append(start)
                ends += open_ends
            return s, ends
        _, inner, lo, hi = node
        parts = [self.build(inner) for _ in range(lo)]
        if hi is None:  # a loop: the split goes into the node and on
            s = self.state(_SPLIT)
            start, open_ends = self.build(inner)
            self.out[s].append(start)
            for e in open_ends:
                self.out[e].append(s)
            parts.append((s, [s]))
        for _ in range(hi - lo if hi is not None else 0):
            s = self.state(_SPLIT)
            start, open_ends = self.build(inner)
            self.out[s].append(start)
            parts.append((s, open_ends + [s]))
        return self.chain(parts)

    def chain(self, parts: list[tuple[int, list[int]]]) -> tuple[int, list[int]]:
        if not parts:
            s = self.state(_SPLIT)
            return s, [s]
        for (_, open_ends), (start, _) in zip(parts, parts[1:]):
            for e in open_ends:
                self.out[e].append(start)
        return parts[0][0], parts[-1][1]


def ere_search(pattern: str, subject: str) -> bool:
    """Does the extended regular expression match somewhere in subject (bash's =~)?"""
    if len(pattern) > MAX_PATTERN:
        raise EreError(f"a pattern longer than {MAX_PATTERN} characters")
    parser = _Parser(pattern)
    tree = parser.regex()
    if parser.at < len(pattern):
        raise EreError("an unmatched )")
    automaton = _Automaton()
    start, open_ends = automaton.build(tree)
    accept = automaton.state(_MATCH)
    for e in open_ends:
        automaton.out[e].append(accept)
    subject = subject[:MAX_SUBJECT]
    kind, test, out = automaton.kind, automaton.test, automaton.out
    live: list[int] = []
    for at in range(len(subject) + 1):
        # the states reachable without reading (a search: a match may start here too)
        seen: set[int] = set()
        stack = live + [start]
        ready: list[int] = []
        while stack:
            s = stack.pop()
            if s in seen:
                continue
            seen.add(s)
            k = kind[s]
            if k == _MATCH:
                return True
            if k == _CHAR:
                ready.append(s)
            elif k == _SPLIT or (k == _BOL and at == 0) or (k == _EOL and at == len(subject)):
                stack.extend(out[s])
        if at == len(subject):
            break
        c = subject[at]
        live = [n for s in ready if test[s](c) for n in out[s]]  # type: ignore[misc]
    return False
