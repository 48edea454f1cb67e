"""lru: the one bounded cache, and where fedi uses it."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fedi.lru import LRU


def test_the_least_recently_used_entry_goes_first() -> None:
    """Reading an entry keeps it; writing past the size drops the entry read or written longest ago."""
    cache: LRU[str, int] = LRU(2)
    cache["a"], cache["b"] = 1, 2
    assert cache.get("a") == 1  # "a" is now the most recent
    cache["c"] = 3
    assert list(cache) == ["a", "c"] and "b" not in cache
    assert cache["a"] == 1
    cache["d"] = 4
    assert list(cache) == ["a", "d"]
    assert cache.get("zz") is None and cache.get("zz", 0) == 0


def test_rewriting_an_entry_refreshes_it() -> None:
    cache: LRU[str, int] = LRU(2)
    cache["a"], cache["b"] = 1, 2
    cache["a"] = 10
    cache["c"] = 3
    assert dict(cache) == {"a": 10, "c": 3}


def test_a_size_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one"):
        LRU(0)


@given(st.integers(min_value=1, max_value=8), st.lists(st.tuples(st.booleans(), st.integers(0, 20)), max_size=200))
def test_never_more_than_its_size_and_agrees_with_a_model(size: int, ops: list[tuple[bool, int]]) -> None:
    """Against a plain list model of recency: same keys, same values, never over the size."""
    cache: LRU[int, int] = LRU(size)
    model: list[tuple[int, int]] = []
    for write, key in ops:
        if write:
            model = [(k, v) for k, v in model if k != key] + [(key, key * 2)]
            model = model[-size:]
            cache[key] = key * 2
        else:
            hit = next((v for k, v in model if k == key), None)
            if hit is not None:
                model = [(k, v) for k, v in model if k != key] + [(key, hit)]
            assert cache.get(key) == hit
        assert len(cache) <= size
        assert list(cache.items()) == model
