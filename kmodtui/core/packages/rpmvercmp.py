"""rpm's version comparison (rpmvercmp) and dependency matching, as rpm itself does them.

Hand-written (~40 lines): the algorithm is small and stable, and no maintained pure-Python
package implements it; python-rpm is a C binding not on PyPI. Matters here because rpm compares
`ksym(x) = 0x037a0cba` with `= 0x37a0cba` by segments: equal, while `0x0abc1234` and `0xabc1234`
are not.
"""

from __future__ import annotations

import re

from kmodtui.core.model import Dependency

_SEGMENT = re.compile(r"(\d+|[a-zA-Z]+|~|\^)")


def rpmvercmp(a: str, b: str) -> int:
    if a == b:
        return 0
    sa, sb = _segments(a), _segments(b)
    for x, y in zip(sa, sb):
        if x == y:
            continue
        if x == "~" or y == "~":
            return -1 if x == "~" else 1
        if x == "^" or y == "^":
            return 1 if x == "^" else -1
        x_num, y_num = x.isdigit(), y.isdigit()
        if x_num != y_num:
            return 1 if x_num else -1  # a numeric segment is newer than an alphabetic one
        if x_num:
            xi, yi = int(x), int(y)
            if xi != yi:
                return 1 if xi > yi else -1
        elif x != y:
            return 1 if x > y else -1
    if len(sa) == len(sb):
        return 0
    longer, rest = (sa, 1) if len(sa) > len(sb) else (sb, -1)
    tail = longer[min(len(sa), len(sb))]
    if tail == "~":
        return -rest
    return rest


def _segments(version: str) -> list[str]:
    return _SEGMENT.findall(version)


def _split_evr(evr: str) -> tuple[int, str, str]:
    epoch, _, rest = evr.rpartition(":") if ":" in evr else ("0", "", evr)
    version, _, release = rest.partition("-")
    try:
        return int(epoch or 0), version, release
    except ValueError:
        return 0, version, release


def evr_compare(a: str, b: str) -> int:
    ea, va, ra = _split_evr(a)
    eb, vb, rb = _split_evr(b)
    if ea != eb:
        return 1 if ea > eb else -1
    c = rpmvercmp(va, vb)
    if c or not ra or not rb:  # a missing release matches any release, as in rpm
        return c
    return rpmvercmp(ra, rb)


def rpm_satisfies(provide: Dependency, require: Dependency) -> bool:
    """Does a Provides entry satisfy a Requires entry (names equal, ranges overlap)?"""
    if provide.name != require.name:
        return False
    if not provide.relation or not require.relation:
        return True  # an unversioned side matches any version
    c = evr_compare(provide.version, require.version)
    # does some version in provide's range also lie in require's range?
    p, r = provide.relation, require.relation
    if c == 0:
        return ("=" in p and "=" in r) or ("<" in p and "<" in r) or (">" in p and ">" in r)
    if c < 0:  # provide's version is lower
        return ">" in p or "<" in r
    return "<" in p or ">" in r
