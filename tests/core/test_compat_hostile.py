"""The compat remedy reads a stranger's source: its rewrites cost the file's length, not uses times
length. Each input below was quadratic once (a 20,000-blank run took 5 s in one regex; 50,000 unclosed
calls took 33 s), so a quadratic return would take minutes here, not seconds."""

from __future__ import annotations

import time

import pytest

from kmodtui.core.diagnose.apichanges import table
from kmodtui.core.remedies.compatedits import rewritten

BLANKS = b" " * 60_000
HOSTILE = b"".join([
    b".devnode =", BLANKS, b"!\n",                      # a callback member, then no function
    b".llseek = no_llseek", BLANKS, b"!\n",             # an initializer line that never ends
    b"class_create(", b"(" * 60_000, b"\n",             # a call that never closes
    b"class_create(\n" * 15_000,                        # many calls, none closed
    b"strlcpy(a, b, c);" * 15_000, b"x" * 60_000,       # many statements on one line
    b"MODULE_IMPORT_NS(X);" * 15_000,
    b"".join(b".devnode = f%d;" % i for i in range(6_000)),  # many callbacks
])


@pytest.mark.heavy  # a time bound: not in --quick (README)
def test_every_rewrite_is_linear_on_a_hostile_source() -> None:
    started = time.process_time()
    for change in table():
        rewritten(HOSTILE, change)
    assert time.process_time() - started < 30, "a compat rewrite is no longer linear in the source's length"
