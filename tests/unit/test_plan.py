"""User allocation and plans (pure)."""

from __future__ import annotations

from collections import Counter

from loadorch.run.plan import allocate, class_counts


def test_class_counts_follow_weights_and_add_up() -> None:
    assert class_counts(10, [("a", 4), ("b", 1)]) == {"a": 8, "b": 2}
    assert class_counts(3, [("a", 1), ("b", 1)]) == {"a": 2, "b": 1}
    assert sum(class_counts(7, [("a", 1), ("b", 2), ("c", 3)]).values()) == 7


def test_every_worker_gets_every_class_and_a_fair_total() -> None:
    plan = allocate(4, [("yaml", 1), ("python", 1)], 2)
    assert [slot for slot, _, _ in plan] == [0, 1, 2, 3]
    assert Counter((name, w) for _, name, w in plan) == {("yaml", 0): 1, ("yaml", 1): 1, ("python", 0): 1,
                                                         ("python", 1): 1}
    big = allocate(100, [("a", 3), ("b", 1)], 3)
    totals = Counter(w for _, _, w in big)
    assert max(totals.values()) - min(totals.values()) <= 1
    for name in ("a", "b"):
        per = Counter(w for _, n, w in big if n == name)
        assert max(per.values()) - min(per.values()) <= 1


def test_allocation_is_deterministic_and_interleaved() -> None:
    assert allocate(9, [("a", 2), ("b", 1)], 2) == allocate(9, [("a", 2), ("b", 1)], 2)
    names = [name for _, name, _ in allocate(6, [("a", 2), ("b", 1)], 1)]
    assert names.count("a") == 4 and names[:3] != ["a", "a", "a"]
