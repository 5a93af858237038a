"""Per-tenant token buckets: each tenant spends from its own bucket, so none starves another."""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable

__all__ = ["OverRate", "RateLimiter"]


class OverRate(Exception):
    """A tenant spent its budget: retry after retry_after whole seconds (at least 1)."""

    def __init__(self, tenant: str, wait: float) -> None:
        self.tenant = tenant
        self.retry_after = max(1, math.ceil(wait))
        super().__init__(
            f"tenant {tenant} is over its request rate; retry after {self.retry_after} s"
        )


class _Bucket:
    __slots__ = ("stamp", "tokens")

    def __init__(self, tokens: float, stamp: float) -> None:
        self.tokens = tokens
        self.stamp = stamp


class RateLimiter:
    """Allow `rate` requests per second per key, with bursts of up to `burst`."""

    def __init__(
        self,
        *,
        rate: float,
        burst: int,
        capacity: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if rate <= 0 or burst < 1 or capacity < 1:
            raise ValueError("rate must be > 0, burst >= 1 and capacity >= 1")
        self.rate = rate
        self.burst = burst
        self._capacity = capacity
        self._clock = clock
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    def acquire(self, key: str) -> float:
        """Spend one token of key's bucket; return 0, or the seconds to wait when it is empty."""
        now = self._clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = _Bucket(float(self.burst), now)
            self._buckets[key] = bucket
            self._evict()
        else:
            self._buckets.move_to_end(key)
            bucket.tokens = min(float(self.burst), bucket.tokens + (now - bucket.stamp) * self.rate)
            bucket.stamp = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return 0.0
        return (1.0 - bucket.tokens) / self.rate

    def spend(self, key: str) -> None:
        """Spend one token of key's bucket, else raise OverRate with the wait."""
        wait = self.acquire(key)
        if wait > 0:
            raise OverRate(key, wait)

    def _evict(self) -> None:
        # The least recently seen bucket goes first; it has refilled the most, so forgetting
        # it (a fresh full bucket next time) gives away at most one burst.
        while len(self._buckets) > self._capacity:
            self._buckets.popitem(last=False)
