"""The test tiers and the order parallel workers take tests in (tests/conftest.py, README "tests")."""

from __future__ import annotations

from dataclasses import dataclass, field

from tests.conftest import is_quick, space_the_first


@dataclass
class Item:
    nodeid: str
    keywords: set[str] = field(default_factory=set)
    fixturenames: tuple[str, ...] = ()


def test_a_test_is_quick_unless_it_needs_headers_or_is_marked_out_of_the_hermetic_tier() -> None:
    assert is_quick(Item("a"))
    assert not is_quick(Item("b", fixturenames=("installed_kernel",)))
    for marker in ("slow", "network", "realtool", "heavy"):
        assert not is_quick(Item("c", {marker}))


def test_each_workers_second_test_is_a_short_one() -> None:
    """xdist gives every worker its first test and at once a second: with two workers the first two
    are the long builds, so the next two must be short hermetic tests, and the third build waits for
    whichever worker is free first."""
    slow = [Item(f"slow{i}", {"slow"}) for i in range(3)]
    quick = [Item(f"quick{i}") for i in range(4)]
    heavy = Item("heavy", {"heavy"})
    items = [*slow, heavy, *quick]
    space_the_first(items, 2, grouped=set())  # type: ignore[arg-type]
    assert [i.nodeid for i in items] == ["slow0", "slow1", "quick3", "quick2", "slow2", "heavy", "quick0", "quick1"]
    # a group (a module-scoped fixture) among the first: left as it is
    items = [*slow, *quick]
    space_the_first(items, 2, grouped={"slow1"})  # type: ignore[arg-type]
    assert [i.nodeid for i in items] == [i.nodeid for i in [*slow, *quick]]
