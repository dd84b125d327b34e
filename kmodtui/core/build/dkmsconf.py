"""Parse dkms.conf statically. dkms sources it as a shell script; kmodtui never executes it.

Understood: `KEY=value`, `KEY="value"`, `KEY='value'`, `KEY[0]=value` arrays, `KEY=(a b)` and
`KEY=([1]=a [3]=b)` array literals, comments, and `${var}`/`$var` references to dkms's own variables
(kernelver, arch, PACKAGE_NAME...), which are kept as written and substituted only when a kernel is
known. As in bash, `KEY` and `KEY[0]` are one variable, and an array may have gaps. Anything else
(command substitution, functions, conditionals, sourcing) is listed as "known only at build time".
What dkms itself makes of the values (defaulted names, refusals) is `dkmsread.py`'s.
"""

from __future__ import annotations

import os
import re
import shlex
from dataclasses import dataclass, field

from kmodtui.core.errors import KmodError

_ASSIGN = re.compile(r"^(?P<key>[A-Za-z_][A-Za-z0-9_]*)(?:\[(?P<index>\d+)\])?=(?P<value>.*)$")
_DYNAMIC = re.compile(r"\$\(|`|\$\(\(")
MAX_SIZE = 1024 * 1024
MAX_CONTINUED = 200  # lines one quoted value may run over
MAX_VALUE = 8 * 1024  # characters of one value (OpenZFS's PRE_BUILD, the longest known, has ~1,500): shlex's
# tokenizer grows a word a character at a time, in time quadratic in its length


def _scan(text: str, quote: str = "", array: bool = False) -> tuple[str, int]:
    """Reading on through a shell word list from inside `quote` (a value continued over lines is read
    line by line, each once): the quote it leaves open ("" when its quotes are closed) and, in an array
    literal `(a "b c" ...)`, where an unquoted `)` closes it (-1: not in `text`). Single quotes take
    everything literally; a comment (a # starting a word) runs to the end of its line."""
    escaped = comment = False
    previous = " "
    for at, c in enumerate(text):
        word_start = previous.isspace()
        previous = c
        if comment:
            comment = c != "\n"
        elif escaped:
            escaped = False
        elif c == "\\" and quote != "'":
            escaped = True
        elif quote:
            if c == quote:
                quote = ""
        elif c in "'\"":
            quote = c
        elif c == "#" and word_start:
            comment = True
        elif c == ")" and array:
            return quote, at
    return quote, -1


_ELEMENT = re.compile(r"^\[(?P<index>\d{1,6})\]=(?P<value>.*)$", re.S)


@dataclass
class DkmsConf:
    path: str
    values: dict[str, str] = field(default_factory=dict)  # a variable's element 0, as bash's $KEY
    arrays: dict[str, dict[int, str]] = field(default_factory=dict)  # variables given with an index or as (...)
    build_time_only: list[str] = field(default_factory=list)  # "line N: what", not understood statically
    # (KEY, index) whose line ended in a carriage return (a CRLF file): bash keeps the \r in the value
    # (dkms before 3.1.5 does too; later ones strip it)
    carriage_returns: set[tuple[str, int]] = field(default_factory=set)
    unread: set[str] = field(default_factory=set)  # keys whose value only the shell knows ("": any key)

    def assign(self, key: str, index: int | None, value: str) -> None:
        """`KEY=value` (index None) or `KEY[index]=value`, as bash assigns: KEY is KEY[0]."""
        if index is None or index == 0:
            self.values[key] = value
            if key in self.arrays:
                self.arrays[key][0] = value
            return
        items = self.arrays.setdefault(key, {})
        if not items and key in self.values:
            items[0] = self.values[key]  # a scalar given an index becomes the array's element 0
        items[index] = value

    def assign_all(self, key: str, items: dict[int, str]) -> None:
        """`KEY=(...)`: the whole array replaced."""
        self.arrays[key] = dict(items)
        self.values.pop(key, None)
        if 0 in items:
            self.values[key] = items[0]

    def elements(self, key: str) -> dict[int, str]:
        """Every set element of KEY by index, as bash's ${!KEY[@]} lists them (a scalar is element 0)."""
        if key in self.arrays:
            return {i: self.arrays[key][i] for i in sorted(self.arrays[key])}
        return {0: self.values[key]} if key in self.values else {}

    @property
    def name(self) -> str:
        return self.values.get("PACKAGE_NAME", "")

    @property
    def version(self) -> str:
        return self.values.get("PACKAGE_VERSION", "")

    def array(self, key: str) -> list[str]:
        return list(self.elements(key).values())

    @property
    def modules(self) -> list[str]:
        """The modules dkms builds: BUILT_MODULE_NAME per record, PACKAGE_NAME when there is one record
        and it names none (dkms 3.1.7 on; dkmsread.py has each version's rules and refusals)."""
        records = [self.elements(k) for k in ("BUILT_MODULE_NAME", "BUILT_MODULE_LOCATION", "DEST_MODULE_NAME",
                                              "DEST_MODULE_LOCATION")]
        count = max((max(r) + 1 for r in records if r), default=0)  # records run to the highest index
        names = records[0]
        if count == 1 and not names.get(0):
            return [self.name] if self.name else []
        return [n for n in names.values() if n]


def parse_dkms_conf(path: str) -> DkmsConf:
    try:
        if os.path.getsize(path) > MAX_SIZE:
            raise KmodError(path, "dkms.conf larger than 1 MiB; refusing to read it")
        with open(path, encoding="utf-8", errors="replace", newline="") as f:  # a CR is data, as for bash
            text = f.read()
    except OSError as err:
        raise KmodError(path, err.strerror or str(err)) from None
    if "\0" in text:
        raise KmodError(path, "binary data in dkms.conf")
    conf = DkmsConf(path)
    lines = text.split("\n")  # bash ends lines at \n only: a CR stays in the line (see carriage_returns)
    number = 0
    while number < len(lines):
        number += 1
        first = number
        line = lines[number - 1].strip(" \t")
        if not line.strip() or line.startswith("#"):
            continue
        match = _ASSIGN.match(line)
        if match is None:
            conf.build_time_only.append(f"line {number}: {line.rstrip()[:80]}")
            conf.unread.add("")  # a line of shell that is not an assignment may set anything
            continue
        value_text = match.group("value")
        is_literal = value_text.startswith("(") and match.group("index") is None
        # A quoted value (or an array literal) may run over several lines (OpenZFS's PRE_BUILD="configure
        # ... "): read on until the quotes balance (the parenthesis closes), as the shell would (at most
        # MAX_CONTINUED lines).
        quote, end = _scan(value_text[1:] if is_literal else value_text, array=is_literal)
        closed = end >= 0 or not is_literal
        continued = [value_text]
        while (quote or not closed) and number < len(lines) and number - first < MAX_CONTINUED:
            number += 1
            continued.append(lines[number - 1])
            quote, end = _scan("\n" + lines[number - 1], quote, array=is_literal)
            closed = end >= 0 or not is_literal
        value_text = "\n".join(continued)
        where = f"line {first}" if number == first else f"lines {first}-{number}"
        key = match.group("key")
        carriage_return = value_text.endswith("\r")
        value_text = value_text.removesuffix("\r")
        if _DYNAMIC.search(value_text):
            shown = " ".join(value_text.split())[:60]
            conf.build_time_only.append(f"{where}: {key} is computed by the shell: {shown}")
            conf.unread.add(key)
            continue
        if len(value_text) > MAX_VALUE:
            conf.build_time_only.append(f"{where}: {key}'s value is longer than {MAX_VALUE} characters; not read")
            conf.unread.add(key)
            continue
        if is_literal:
            _read_literal(conf, key, value_text, where)
            continue
        try:
            words = shlex.split(value_text, comments=True, posix=True)
        except ValueError:
            conf.build_time_only.append(f"{where}: unbalanced quotes: {line[:80]}")
            conf.unread.add(key)
            continue
        value = " ".join(words)
        index = match.group("index")
        if index is not None and len(index) > 6:  # dkms indexes arrays from 0; a 5,000-digit index is junk
            conf.build_time_only.append(f"{where}: {key}[...] has an index of {len(index)} digits; ignored")
            conf.unread.add(key)
            continue
        position = None if index is None else int(index)
        conf.assign(key, position, value)
        if carriage_return:
            conf.carriage_returns.add((key, position or 0))
    return conf


def _read_literal(conf: DkmsConf, key: str, value_text: str, where: str) -> None:
    """`KEY=(a "b c" [5]=d)`: bash's array literal, element by element."""
    _, end = _scan(value_text[1:], array=True)
    if end < 0:
        conf.build_time_only.append(f"{where}: {key}=( is not closed; not read")
        conf.unread.add(key)
        return
    inner, rest = value_text[1:end + 1], value_text[end + 2:]
    try:
        words = shlex.split(inner, comments=True, posix=True)
        after = shlex.split(rest, comments=True, posix=True)
    except ValueError:
        conf.build_time_only.append(f"{where}: unbalanced quotes in {key}=(...)")
        conf.unread.add(key)
        return
    if after:
        conf.build_time_only.append(f"{where}: {key}=(...) is followed by more words; not read")
        conf.unread.add(key)
        return
    items: dict[int, str] = {}
    position = 0
    for word in words:
        element = _ELEMENT.match(word)
        if element is not None:
            position = int(element.group("index"))
            word = element.group("value")
        items[position] = word
        position += 1
    conf.assign_all(key, items)
