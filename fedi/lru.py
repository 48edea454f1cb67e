"""The one bounded in-memory cache: a mapping that forgets its least recently used entries past a size.

Every cache whose keys a client can choose (a page number, a key id, a host) is one of these, so that no
sequence of requests can grow the memory of a long-running server: served documents (``Context``), parsed
remote keys and fetch failures (``verify``), the signature style learned per host (``client``). Pure
functions memoized with ``functools.lru_cache`` are bounded by their ``maxsize`` and need nothing more.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import TypeVar, overload

K = TypeVar("K")
V = TypeVar("V")
D = TypeVar("D")

DEFAULT_SIZE = 4096
"""Entries kept when the size is not taken from the config (``server.cache_entries`` by default)."""


class LRU(OrderedDict[K, V]):
    """A dict of at most ``size`` entries: reading (``get``, ``[]``) or writing an entry makes it the most
    recent; writing past the size drops the least recent. Not thread-safe (each lives on one event loop)."""

    def __init__(self, size: int = DEFAULT_SIZE) -> None:
        if size < 1:
            raise ValueError(f"an LRU holds at least one entry, not {size}")
        super().__init__()
        self.size = size

    def __getitem__(self, key: K) -> V:
        value = super().__getitem__(key)
        self.move_to_end(key)
        return value

    @overload
    def get(self, key: K, default: None = None) -> V | None: ...
    @overload
    def get(self, key: K, default: V | D) -> V | D: ...

    def get(self, key: K, default: object = None) -> object:
        if key in self:
            return self[key]
        return default

    def __setitem__(self, key: K, value: V) -> None:
        super().__setitem__(key, value)
        self.move_to_end(key)
        while len(self) > self.size:
            self.popitem(last=False)
