"""Parse dkms.conf statically. dkms sources it as a shell script; kmodtui never executes it.

Understood: `KEY=value`, `KEY="value"`, `KEY='value'`, `KEY[0]=value` arrays, comments, and
`${var}`/`$var` references to dkms's own variables (kernelver, arch, PACKAGE_NAME...), which are
kept as written and substituted only when a kernel is known. Anything else (command
substitution, functions, conditionals, sourcing) is listed as "known only at build time".
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


def _open_quote(text: str, quote: str = "") -> str:
    """The quote a shell word list leaves open ("" when its quotes are closed), reading on from inside
    `quote` (a value continued over lines is read line by line, each once; single quotes take
    everything literally)."""
    escaped = False
    previous = " "
    for c in text:
        word_start = previous.isspace()
        previous = c
        if escaped:
            escaped = False
        elif c == "\\" and quote != "'":
            escaped = True
        elif quote:
            if c == quote:
                quote = ""
        elif c in "'\"":
            quote = c
        elif c == "#" and word_start:
            break  # a comment (a # inside a word is just a character)
    return quote


@dataclass
class DkmsConf:
    path: str
    values: dict[str, str] = field(default_factory=dict)
    arrays: dict[str, dict[int, str]] = field(default_factory=dict)
    build_time_only: list[str] = field(default_factory=list)  # "line N: what", not understood statically

    @property
    def name(self) -> str:
        return self.values.get("PACKAGE_NAME", "")

    @property
    def version(self) -> str:
        return self.values.get("PACKAGE_VERSION", "")

    def array(self, key: str) -> list[str]:
        items = self.arrays.get(key, {})
        return [items[i] for i in sorted(items)]

    @property
    def modules(self) -> list[str]:
        return self.array("BUILT_MODULE_NAME")


def parse_dkms_conf(path: str) -> DkmsConf:
    try:
        if os.path.getsize(path) > MAX_SIZE:
            raise KmodError(path, "dkms.conf larger than 1 MiB; refusing to read it")
        with open(path, encoding="utf-8", errors="replace") as f:
            text = f.read()
    except OSError as err:
        raise KmodError(path, err.strerror or str(err)) from None
    if "\0" in text:
        raise KmodError(path, "binary data in dkms.conf")
    conf = DkmsConf(path)
    lines = text.splitlines()
    number = 0
    while number < len(lines):
        number += 1
        first = number
        line = lines[number - 1].strip()
        if not line or line.startswith("#"):
            continue
        match = _ASSIGN.match(line)
        if match is None:
            conf.build_time_only.append(f"line {number}: {line[:80]}")
            continue
        value_text = match.group("value")
        # A quoted value may run over several lines (OpenZFS's PRE_BUILD="configure ... "): read on
        # until the quotes balance, as the shell would (at most MAX_CONTINUED lines).
        quote = _open_quote(value_text)
        continued = [value_text]
        while quote and number < len(lines) and number - first < MAX_CONTINUED:
            number += 1
            continued.append(lines[number - 1])
            quote = _open_quote("\n" + lines[number - 1], quote)
        value_text = "\n".join(continued)
        where = f"line {first}" if number == first else f"lines {first}-{number}"
        key = match.group("key")
        if _DYNAMIC.search(value_text):
            shown = " ".join(value_text.split())[:60]
            conf.build_time_only.append(f"{where}: {key} is computed by the shell: {shown}")
            continue
        if len(value_text) > MAX_VALUE:
            conf.build_time_only.append(f"{where}: {key}'s value is longer than {MAX_VALUE} characters; not read")
            continue
        try:
            words = shlex.split(value_text, comments=True, posix=True)
        except ValueError:
            conf.build_time_only.append(f"{where}: unbalanced quotes: {line[:80]}")
            continue
        value = " ".join(words)
        index = match.group("index")
        if index is None:
            conf.values[key] = value
        elif len(index) > 6:  # dkms indexes arrays from 0; a 5,000-digit index is junk, not a module
            conf.build_time_only.append(f"{where}: {key}[...] has an index of {len(index)} digits; ignored")
        else:
            conf.arrays.setdefault(key, {})[int(index)] = value
    if not conf.name and not conf.arrays:
        raise KmodError(path, "no PACKAGE_NAME and no BUILT_MODULE_NAME[]: not a dkms.conf kmodtui understands")
    return conf
