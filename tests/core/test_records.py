"""records.record stands in for @dataclass(frozen=True, slots=True) on the core's facts: the same
behaviour where the code relies on it (equality, hashing, immutability, pickling for the caches,
replace), checked against a real dataclass of the same shape."""

from __future__ import annotations

import copy
import dataclasses
import pickle
from functools import cached_property

import pytest

from kmodtui.core.model import Finding, Kernel
from kmodtui.core.records import FrozenRecordError, record, replace


@record
class Point:
    """A doc."""

    x: int
    y: str = "q"
    tags: tuple[str, ...] = ()

    @property
    def double(self) -> int:
        return self.x * 2


@dataclasses.dataclass(frozen=True, slots=True)
class PointDC:
    x: int
    y: str = "q"
    tags: tuple[str, ...] = ()


def test_a_record_behaves_as_the_frozen_slotted_dataclass_it_replaces() -> None:
    a, b, c = Point(1), Point(1, "q", ()), Point(2, y="z", tags=("t",))
    assert a == b and hash(a) == hash(b) and a != c and len({a, b, c}) == 2
    assert a != PointDC(1) and (a.x, a.y, a.tags) == dataclasses.astuple(PointDC(1))
    assert repr(c) == "Point(x=2, y='z', tags=('t',))" == repr(PointDC(2, "z", ("t",))).replace("PointDC", "Point")
    assert Point.__match_args__ == ("x", "y", "tags") and Point.__slots__ == ("x", "y", "tags")
    assert not hasattr(a, "__dict__") and a.double == 2 and Point.__doc__ == "A doc."
    with pytest.raises(FrozenRecordError):
        a.x = 5  # type: ignore[misc]
    with pytest.raises(AttributeError):
        del a.y  # type: ignore[misc]
    for clone in (pickle.loads(pickle.dumps(c)), copy.copy(c), copy.deepcopy(c)):
        assert clone == c and clone is not c
    assert replace(c, x=9) == Point(9, "z", ("t",))
    with pytest.raises(TypeError):
        replace(c, nope=1)
    with pytest.raises(TypeError):
        Point()  # type: ignore[call-arg]


def test_a_record_with_cached_properties_keeps_a_dict() -> None:
    calls = []

    @record(slots=False)
    class Lazy:
        name: str

        @cached_property
        def upper(self) -> str:
            calls.append(1)
            return self.name.upper()

    lazy = Lazy("x")
    assert lazy.upper == lazy.upper == "X" and calls == [1]
    with pytest.raises(FrozenRecordError):
        lazy.name = "y"  # type: ignore[misc]


def test_the_core_facts_pickle_and_compare_as_before(installed_kernel: Kernel) -> None:
    finding = Finding("/m.ko", "sym", "crc_mismatch", 1, 2, "vmlinux", "why", ("rebuild-for-kernel",))
    assert pickle.loads(pickle.dumps(finding)) == finding
    assert Finding(*(getattr(finding, n) for n in Finding.__match_args__)) == finding  # the result cache's form
    assert pickle.loads(pickle.dumps(installed_kernel)) == installed_kernel
    assert replace(installed_kernel, symvers_path=None).symvers_path is None
