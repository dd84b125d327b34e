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
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = _ASSIGN.match(line)
        if match is None:
            conf.build_time_only.append(f"line {number}: {line[:80]}")
            continue
        value_text = match.group("value")
        if _DYNAMIC.search(value_text):
            conf.build_time_only.append(f"line {number}: {match.group('key')} is computed by the shell: {value_text[:60]}")
            continue
        try:
            words = shlex.split(value_text, comments=True, posix=True)
        except ValueError:
            conf.build_time_only.append(f"line {number}: unbalanced quotes: {line[:80]}")
            continue
        value = " ".join(words)
        key, index = match.group("key"), match.group("index")
        if index is None:
            conf.values[key] = value
        elif len(index) > 6:  # dkms indexes arrays from 0; a 5,000-digit index is junk, not a module
            conf.build_time_only.append(f"line {number}: {key}[...] has an index of {len(index)} digits; ignored")
        else:
            conf.arrays.setdefault(key, {})[int(index)] = value
    if not conf.name and not conf.arrays:
        raise KmodError(path, "no PACKAGE_NAME and no BUILT_MODULE_NAME[]: not a dkms.conf kmodtui understands")
    return conf
