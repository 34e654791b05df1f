"""Requests per second per store per endpoint (spec: ``x-redo-rate-limit``).

A token bucket per key: it holds at most one second's worth of requests and
refills continuously, so a client at the limit is never refused while a burst
above it is. A refused request learns how long to wait for the next token.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Hashable

from redo_kit._errors import ConfigurationError

__all__ = ["RateLimiter"]


class RateLimiter:
    """``rate`` requests per second per key; ``None`` or ``0`` switches the limit off."""

    def __init__(self, rate: float | None, *, clock: Callable[[], float] = time.monotonic) -> None:
        if rate is not None and (not math.isfinite(rate) or rate < 0):
            raise ConfigurationError(
                f"rate limit must be a positive number of requests/s, not {rate}"
            )
        self.rate = rate or None
        self._clock = clock
        self._buckets: dict[Hashable, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def acquire(self, key: Hashable) -> float | None:
        """Take a token for ``key``: ``None`` when allowed, else seconds until one is free."""
        rate = self.rate
        if rate is None:
            return None
        capacity = max(rate, 1.0)
        with self._lock:
            now = self._clock()
            tokens, last = self._buckets.get(key, (capacity, now))
            tokens = min(capacity, tokens + (now - last) * rate)
            if tokens >= 1.0:
                self._buckets[key] = (tokens - 1.0, now)
                return None
            self._buckets[key] = (tokens, now)
            return (1.0 - tokens) / rate
