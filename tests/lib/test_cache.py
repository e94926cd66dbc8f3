"""mwl_ris/lib/cache.py: bounded by entries and by (estimated) bytes."""

from __future__ import annotations

from mwl_ris.lib.cache import LruCache


def test_the_least_recently_used_goes_first_when_the_bytes_run_out() -> None:
    cache: LruCache[str, bytes] = LruCache(100, max_bytes=30, weigh=lambda key, value: len(value))
    cache.put("a", b"x" * 10)
    cache.put("b", b"x" * 10)
    assert cache.get("a") == b"x" * 10  # "a" is now the most recently used
    cache.put("c", b"x" * 15)  # 35 bytes > 30: the least recently used ("b") goes
    assert cache.get("b") is None
    assert (cache.get("a"), cache.get("c")) == (b"x" * 10, b"x" * 15)
    assert cache.bytes == 25


def test_an_entry_larger_than_the_whole_cache_is_not_kept_and_replacing_counts_once() -> None:
    cache: LruCache[str, bytes] = LruCache(100, max_bytes=30, weigh=lambda key, value: len(value))
    cache.put("huge", b"x" * 31)
    assert cache.get("huge") is None
    cache.put("a", b"x" * 10)
    cache.put("a", b"x" * 20)
    assert (len(cache), cache.bytes) == (1, 20)


def test_entries_are_bounded_too_and_size_zero_keeps_nothing() -> None:
    cache: LruCache[int, int] = LruCache(2)
    for n in range(5):
        cache.put(n, n)
    assert len(cache) == 2
    assert cache.get(4) == 4
    empty: LruCache[int, int] = LruCache(0)
    empty.put(1, 1)
    assert empty.get(1) is None
