"""Fleet-wide pacing: one rate limit per store and endpoint, shared through Redis.

Redo's limit (``x-redo-rate-limit``, 100 requests/s per store and endpoint in
the shipped spec) holds for every process that writes to a store. The
in-process :class:`~redo_kit._pacing.TokenBucket` keeps one process under it;
32 processes each keeping to it overshoot it 32 times. With fleet pacing on,
every request of every client of the process (``send``, ``send_bulk``, the
batcher, ``redo-kit import``, a relay) takes its slot from a bucket in Redis
instead, shared by every process on every machine that uses the same Redis::

    use_fleet_pacing("redis://redis:6379/0")     # or REDO_KIT_REDIS_URL=redis://...

**The algorithm.** GCRA, the same as the in-process bucket: one hash per
(base URL, store, endpoint) holds the theoretical arrival time of the next
slot; one short Lua script reserves a slot (``1 / rate`` seconds after the
previous one) and returns how long the caller waits for it, reading Redis's
clock (``TIME``), so that the machines' clocks never matter. Each slot is
handed out once, so the fleet's requests are spaced evenly, as one process's
are. (Compared with the libraries that do this: a moving-window counter
such as ``limits``' refuses over-limit callers rather than scheduling them,
which turns into polling and bursts at the window edges; pyrate-limiter's
and throttled-py's Redis buckets answer "allowed or not" too. A reserved
slot is one round trip per request and never polls; it is 30 lines of Lua,
not a dependency.)

**429.** A 429 with ``Retry-After`` holds the store's endpoint for the whole
fleet: the script pushes every later slot past the hold. Each process also
slows its own bucket, as without Redis.

**Without Redis.** If Redis does not answer, a request takes its slot from
the in-process bucket instead (logged at WARNING once a minute), so a Redis
outage slows nothing but the fleet's coordination.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from typing import Any

from redo_kit import _pacing as pacing
from redo_kit import _retry as retry
from redo_kit._logging import logger
from redo_kit._redis import Scripts, connect, safe_url

__all__ = ["ENV_URL", "FleetBucket", "stop_fleet_pacing", "use_fleet_pacing"]

ENV_URL = "REDO_KIT_REDIS_URL"
"""The environment variable that turns fleet pacing on for a process (a Redis URL)."""

# KEYS: the bucket's hash. ARGV: interval (s), burst. Returns the wait (s).
_RESERVE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local interval, burst = tonumber(ARGV[1]), tonumber(ARGV[2])
local s = redis.call('HMGET', KEYS[1], 'tat', 'hold')
local tat = math.max(tonumber(s[1]) or now, now)
local hold = tonumber(s[2]) or 0
local start = math.max(now, tat - (burst - 1) * interval, hold)
redis.call('HSET', KEYS[1], 'tat', string.format('%.6f', math.max(tat, start) + interval))
redis.call('PEXPIRE', KEYS[1], math.floor((start - now + 60) * 1000))
return string.format('%.6f', start - now)
"""

# KEYS: the bucket's hash. ARGV: hold (s). Holds every sender that long from now.
_HOLD = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local s = redis.call('HMGET', KEYS[1], 'tat', 'hold')
local hold = math.max(tonumber(s[2]) or 0, now + tonumber(ARGV[1]))
local tat = math.max(tonumber(s[1]) or now, hold)
redis.call('HSET', KEYS[1], 'tat', string.format('%.6f', tat), 'hold', string.format('%.6f', hold))
redis.call('PEXPIRE', KEYS[1], math.floor((tat - now + 60) * 1000))
return 0
"""

_WARN_GAP = 60.0
"""Seconds between two warnings that Redis did not answer a pacing call."""


class FleetBucket:
    """The fleet's pace for one (base URL, store, endpoint), kept in Redis; see the module doc.

    ``client``: a redis-py client; ``key``: the bucket's hash; ``limit``:
    requests per second for the whole fleet; ``burst``: slots that may go
    back to back after an idle spell (default 1). Has the methods of
    :class:`~redo_kit._pacing.TokenBucket` that senders use. Thread-safe.
    """

    def __init__(self, client: Any, key: str, limit: float, *, burst: int = 1) -> None:
        self._client = client
        self._key = key
        self._burst = burst
        self._local = pacing.TokenBucket(limit, burst=burst)
        self._scripts = Scripts(client, {"reserve": _RESERVE, "hold": _HOLD})
        self._lock = threading.Lock()
        self._warned = -_WARN_GAP
        self.rate_limited = 0
        """429s reported to this bucket by this process."""

    @property
    def key(self) -> str:
        """The Redis key of the bucket."""
        return self._key

    @property
    def limit(self) -> float:
        """The fleet's rate, in requests per second."""
        return self._local.limit

    def set_limit(self, limit: float) -> None:
        """Change the rate (requests per second) this process asks for."""
        self._local.set_limit(limit)

    def reserve(self) -> float:
        """Take the fleet's next slot; the seconds to wait before using it.

        At the in-process bucket's current rate, so that a 429 seen here
        slows this process's share as well.
        """
        import redis

        interval = 1.0 / self._local.rate
        try:
            return max(
                0.0, float(self._scripts("reserve", [self._key], [repr(interval), self._burst]))
            )
        except redis.RedisError as error:
            self._warn(error)
            return self._local.reserve()

    def acquire(self) -> float:
        """Take the next slot and wait for it; the seconds waited."""
        wait = self.reserve()
        retry.sleep(wait)
        return wait

    def on_rate_limited(self, retry_after: float | None = None) -> None:
        """Report a 429: hold the whole fleet ``retry_after`` seconds, and slow this process."""
        import redis

        with self._lock:
            self.rate_limited += 1
        self._local.on_rate_limited(retry_after)
        if retry_after and retry_after > 0:
            try:
                self._scripts("hold", [self._key], [repr(float(retry_after))])
            except redis.RedisError as error:
                self._warn(error)

    def _warn(self, error: Exception) -> None:
        now = time.monotonic()
        with self._lock:
            due = now - self._warned >= _WARN_GAP
            if due:
                self._warned = now
        if due:
            logger.warning(
                "redo-kit fleet pacing: Redis did not answer (%s: %s); pacing this process "
                "alone until it does",
                type(error).__name__,
                error,
            )

    def __repr__(self) -> str:
        return f"FleetBucket(key={self._key!r}, limit={self.limit:g}/s)"


def bucket_key(namespace: str, base_url: str, store_id: str, endpoint: str) -> str:
    """The Redis key of the bucket of (``base_url``, ``store_id``, ``endpoint``).

    The base URL is hashed in: the emulator and Redo are different servers
    with limits of their own.
    """
    server = hashlib.sha256(base_url.encode()).hexdigest()[:12]
    return f"{namespace}:{{{store_id}}}:pace:{server}:{endpoint}"


def use_fleet_pacing(url: str, *, namespace: str = "redo-kit", burst: int = 1) -> None:
    """Pace every request of this process through Redis at ``url``, shared by the fleet.

    From the next request on, each client's (base URL, store, endpoint) takes
    its slots from a :class:`FleetBucket` at the client's ``rate_limit``
    (``rate_limit=None`` still turns pacing off). ``namespace``: the key
    prefix; ``burst``: as for the in-process bucket. Also turned on by
    setting ``REDO_KIT_REDIS_URL``. Raises
    :class:`~redo_kit._errors.ConfigurationError` for a URL that is not Redis's
    (a Redis that does not answer is not an error: see the module doc).
    """
    client = connect(url, timeout=2.0)

    def make(base_url: str, store_id: str, endpoint: str, limit: float) -> FleetBucket:
        return FleetBucket(
            client, bucket_key(namespace, base_url, store_id, endpoint), limit, burst=burst
        )

    logger.info("redo-kit: pacing through Redis at %s, shared by the fleet", safe_url(url))
    pacing.set_shared(make)


def stop_fleet_pacing() -> None:
    """Go back to in-process pacing (fresh buckets)."""
    pacing.set_shared(None)


def from_environment() -> bool:
    """Turn fleet pacing on if ``REDO_KIT_REDIS_URL`` is set; whether it is on now."""
    url = os.environ.get(ENV_URL, "").strip()
    if not url:
        return False
    use_fleet_pacing(url)
    return True
