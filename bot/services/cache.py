"""A small in-process cache with a time to live and a size bound (least recently used out).

What services read on every request and change rarely (offers, rates, link targets, labels,
running races) is kept here for seconds; whoever changes it clears it at once.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")
MISSING = object()


class TtlCache(Generic[K, V]):
    def __init__(
        self, ttl: float, size: int = 10_000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.ttl = ttl
        self.size = size
        self.clock = clock
        self._items: OrderedDict[K, tuple[float, V]] = OrderedDict()

    def get(self, key: K, stale_ok: bool = False) -> tuple[bool, V | None]:
        """(found, value); `stale_ok` also takes an expired entry, for when the source is
        down and the last known answer is better than none."""
        item = self._items.get(key)
        if item is None or (item[0] < self.clock() and not stale_ok):
            return False, None
        self._items.move_to_end(key)
        return True, item[1]

    def put(self, key: K, value: V) -> None:
        self._items[key] = (self.clock() + self.ttl, value)
        self._items.move_to_end(key)
        while len(self._items) > self.size:
            self._items.popitem(last=False)

    def clear(self) -> None:
        self._items.clear()

    def __len__(self) -> int:
        return len(self._items)
