"""A small thread-safe LRU mapping bounded by entries and by bytes."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class LruCache(Generic[K, V]):
    """At most ``size`` entries and, with ``max_bytes``, at most that many
    bytes as ``weigh`` estimates them; the least recently used go first.
    ``size`` 0 keeps nothing. (functools.lru_cache bounds entries only, and
    caches by call arguments, not by a key the caller chooses.)"""

    def __init__(self, size: int, *, max_bytes: int | None = None, weigh: Callable[[K, V], int] | None = None):
        self.size = size
        self.max_bytes = max_bytes
        self._weigh = weigh
        self._entries: OrderedDict[K, tuple[V, int]] = OrderedDict()
        self.bytes = 0
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: K) -> V | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            self._entries.move_to_end(key)
            return entry[0]

    def put(self, key: K, value: V) -> None:
        if self.size <= 0:
            return
        weight = self._weigh(key, value) if self._weigh is not None else 0
        if self.max_bytes is not None and weight > self.max_bytes:
            return
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self.bytes -= old[1]
            self._entries[key] = (value, weight)
            self.bytes += weight
            while len(self._entries) > self.size or (self.max_bytes is not None and self.bytes > self.max_bytes):
                _, (_, dropped) = self._entries.popitem(last=False)
                self.bytes -= dropped

    def get_or_build(self, key: K, build: Callable[[], V]) -> V:
        value = self.get(key)
        if value is None:
            value = build()
            self.put(key, value)
        return value

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self.bytes = 0
