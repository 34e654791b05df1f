"""Pacing: keep each store under the API's rate limit, so 429s stay rare.

Redo allows ``x-redo-rate-limit`` requests per second per store (100 in the
shipped spec), counted separately for the single-event and the bulk endpoint;
``DEFAULT_RATE_LIMIT`` is that figure, read from the spec in use each time it
is asked for. Every request the client sends first
takes a slot from the :class:`TokenBucket` of its (base URL, store,
endpoint). The buckets live in one process-wide registry, so every client
and every thread of the process that writes to a store shares its pace.

Slots are spaced evenly (``1 / rate`` seconds apart; ``burst`` of them may go
back to back after a pause), so a client at the default pace does not cross
the limit in the first place. When the API answers 429 anyway (another
process writes to the same store, or the server counts differently), the
bucket stops every sender until ``Retry-After`` has passed, drops its rate to
``decrease`` times what it was, and climbs back to the limit linearly over
``recovery`` seconds.

Processes do not share buckets, unless fleet pacing is on
(:mod:`redo_kit._fleet_pacing`: ``use_fleet_pacing(url)`` or the
``REDO_KIT_REDIS_URL`` variable), which makes the registry hand out buckets
kept in Redis. After ``os.fork`` the child starts with an empty registry: a
lock held by a parent thread at fork time never blocks it.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from typing import Protocol

from redo_kit import _retry as retry
from redo_kit._errors import ConfigurationError

__all__ = [
    "Pacer",
    "TokenBucket",
    "bucket_for",
    "reset",
    "set_shared",
]


def _check_limit(limit: float) -> None:
    if not limit > 0:
        raise ConfigurationError(f"limit must be a positive number of requests/s, got {limit!r}")


class TokenBucket:
    """Spaces requests to at most ``limit`` per second, slowing down after a 429.

    ``limit``: requests per second when all is well.
    ``burst``: requests that may go back to back after an idle spell; default 1.
    ``decrease``: factor applied to the current rate on each 429; default 0.8.
    ``recovery``: seconds to climb from zero back to ``limit``; default 2.
    ``floor``: the lowest rate, in requests per second; default 1.
    ``clock``: monotonic seconds; injectable for tests.
    Thread-safe.
    """

    def __init__(
        self,
        limit: float,
        *,
        burst: int = 1,
        decrease: float = 0.8,
        recovery: float = 2.0,
        floor: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        _check_limit(limit)
        if burst < 1:
            raise ConfigurationError(f"burst must be >= 1, got {burst!r}")
        if not 0 < decrease < 1:
            raise ConfigurationError(
                f"decrease must be a factor between 0 and 1 (exclusive), got {decrease!r}"
            )
        self._lock = threading.Lock()
        self._clock = clock
        self._limit = float(limit)
        self._burst = burst
        self._decrease = decrease
        self._recovery = float(recovery)
        self._floor = min(float(floor), self._limit)
        now = clock()
        self._tat = now  # theoretical arrival time of the next slot (GCRA)
        self._blocked_until = now
        self._reduced = self._limit  # the rate right after the last 429
        self._reduced_at = now
        self.rate_limited = 0
        """429s reported to this bucket."""

    @property
    def limit(self) -> float:
        """The configured rate, in requests per second."""
        return self._limit

    def set_limit(self, limit: float) -> None:
        """Change the configured rate (requests per second)."""
        _check_limit(limit)
        with self._lock:
            self._limit = float(limit)
            self._floor = min(self._floor, self._limit)
            self._reduced = min(self._reduced, self._limit)

    @property
    def rate(self) -> float:
        """The current rate, in requests per second: ``limit`` unless a 429 slowed it."""
        with self._lock:
            return self._rate_at(self._clock())

    def _rate_at(self, now: float) -> float:
        if self._recovery <= 0:
            return self._limit
        climbed = (now - self._reduced_at) * self._limit / self._recovery
        return min(self._limit, self._reduced + max(0.0, climbed))

    def reserve(self) -> float:
        """Take the next slot; return the seconds to wait before using it (0 if none)."""
        with self._lock:
            now = self._clock()
            interval = 1.0 / self._rate_at(now)
            tat = max(self._tat, now)
            start = max(now, tat - (self._burst - 1) * interval, self._blocked_until)
            self._tat = max(tat, start) + interval
            return start - now

    def acquire(self) -> float:
        """Take the next slot and wait for it; return the seconds waited.

        The wait is skipped (still returned) when :func:`redo_kit._retry.set_testing` is on.
        """
        wait = self.reserve()
        retry.sleep(wait)
        return wait

    def on_rate_limited(self, retry_after: float | None = None) -> None:
        """Report a 429: hold every sender ``retry_after`` seconds and slow down."""
        with self._lock:
            now = self._clock()
            self.rate_limited += 1
            self._reduced = max(self._floor, self._rate_at(now) * self._decrease)
            hold = now + (retry_after if retry_after and retry_after > 0 else 0.0)
            self._blocked_until = max(self._blocked_until, hold)
            # The climb back starts when sending resumes, not during the hold.
            self._reduced_at = self._blocked_until
            # Slots handed out at the old pace are pushed after the pause.
            self._tat = max(self._tat, self._blocked_until)

    def __repr__(self) -> str:
        return f"TokenBucket(limit={self._limit:g}/s, rate={self.rate:.3g}/s)"


class Pacer(Protocol):
    """What a sender asks of a bucket: :class:`TokenBucket`, or a fleet's bucket in Redis."""

    @property
    def limit(self) -> float: ...

    def set_limit(self, limit: float) -> None: ...

    def acquire(self) -> float: ...

    def on_rate_limited(self, retry_after: float | None = None) -> None: ...


Factory = Callable[[str, str, str, float], Pacer]
"""Makes the bucket of (base URL, store, endpoint) at a limit in requests per second."""

_registry_lock = threading.Lock()
_registry: dict[tuple[str, str, str], Pacer] = {}
_shared: Factory | None = None
_environment_read = False


def set_shared(factory: Factory | None) -> None:
    """Make every new bucket with ``factory`` (``None``: in-process ones); forget the old ones."""
    global _shared, _environment_read
    _shared = factory
    _environment_read = True
    reset()


def _read_environment() -> None:
    """Turn fleet pacing on, once per process, if ``REDO_KIT_REDIS_URL`` asks for it."""
    global _environment_read
    if _environment_read:
        return
    _environment_read = True
    if os.environ.get("REDO_KIT_REDIS_URL", "").strip():
        from redo_kit._fleet_pacing import from_environment

        try:
            from_environment()
        except ConfigurationError as error:
            raise ConfigurationError(f"REDO_KIT_REDIS_URL: {error}") from None


def bucket_for(base_url: str, store_id: str, endpoint: str, limit: float) -> Pacer:
    """The process-wide bucket of (``base_url``, ``store_id``, ``endpoint``).

    Created at ``limit`` requests per second on first use (in Redis when
    fleet pacing is on); a later caller with another ``limit`` changes it
    for everyone.
    """
    _read_environment()
    key = (base_url, store_id, endpoint)
    with _registry_lock:
        bucket = _registry.get(key)
        if bucket is None:
            made = TokenBucket(limit) if _shared is None else _shared(*key, limit)
            bucket = _registry[key] = made
            return bucket
    if bucket.limit != limit:
        bucket.set_limit(limit)
    return bucket


def reset() -> None:
    """Forget every bucket (a forked child does this itself; tests may too)."""
    global _registry_lock, _registry
    _registry_lock = threading.Lock()
    _registry = {}


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=reset)
