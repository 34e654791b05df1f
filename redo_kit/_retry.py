"""When to try a request again, and how long to wait first.

:class:`RetryPolicy` is an immutable value: the client asks it, after each
failed attempt, whether to go again and after how many seconds. It retries
what a later attempt can fix — no HTTP answer at all (connection refused or
reset, timeouts) and the statuses 408, 429, 500, 502, 503, 504 — and never
what it cannot: 400, 401, 403, 404, 413, 422 would fail the same way again.

Retrying a POST is safe here because every event carries a fixed
``uniqueId`` and the same body bytes go out on every attempt: an event the
API stored before the answer was lost is deduplicated, not stored twice.

Waits are exponential with full jitter (a uniform draw between 0 and
``backoff_base * 2**n``, capped at ``backoff_max``), or the server's
``Retry-After`` when it sent one (capped at ``retry_after_max``). A policy is
bounded twice: by ``attempts`` and by ``timeout`` seconds in all.

Tests switch every wait off with one call, instead of patching
``time.sleep``::

    import redo_kit._retry
    redo_kit._retry.set_testing(True)   # retries and pacing no longer sleep

"""

from __future__ import annotations

import email.utils
import random
import threading
import time
from collections.abc import Callable
from typing import Any

import attrs

from redo_kit._errors import APIConnectionError, ConfigurationError

__all__ = [
    "NEVER_RETRIED_STATUSES",
    "NO_RETRY",
    "RETRYABLE_STATUSES",
    "RetryPolicy",
    "is_testing",
    "parse_retry_after",
    "set_testing",
    "sleep",
]

RETRYABLE_STATUSES: frozenset[int] = frozenset({408, 429, 500, 502, 503, 504})
"""Statuses a later attempt may get past."""

NEVER_RETRIED_STATUSES: frozenset[int] = frozenset({400, 401, 403, 404, 413, 422})
"""Statuses that say the request itself is wrong: the same bytes would fail again."""

# Jitter draws from a generator of its own, never from the random module's
# shared one: a batcher retrying in the background must not move the state a
# caller seeded, nor trip hypothesis, which refuses generation that touches it.
_JITTER = random.Random()  # noqa: S311  # jitter, not a secret


def _at_least(minimum: float) -> Callable[[object, Any, Any], None]:
    def check(instance: object, attribute: Any, value: Any) -> None:
        if isinstance(value, bool) or not value >= minimum:
            raise ConfigurationError(f"{attribute.name} must be >= {minimum}, got {value!r}")

    return check


def _safe_statuses(
    instance: object, attribute: attrs.Attribute[frozenset[int]], value: frozenset[int]
) -> None:
    refused = sorted(value & NEVER_RETRIED_STATUSES)
    if refused:
        raise ConfigurationError(
            f"statuses {refused} are never retried: the request itself is wrong "
            "and would fail the same way again; leave them out"
        )


@attrs.frozen(kw_only=True)
class RetryPolicy:
    """How many times, for how long, and how far apart a request is tried.

    ``attempts``: tries in all, the first included; default 6 (``1`` = no retry).
    ``timeout``: seconds from the first try after which no new try starts,
    waits included; default 60.
    ``backoff_base``: seconds; the n-th retry waits a uniform random time in
    ``[0, min(backoff_max, backoff_base * 2**(n-1))]``; default 0.25.
    ``backoff_max``: seconds, the cap on one backoff wait; default 8.
    ``retry_after_max``: seconds, the cap on a wait the server asks for with
    ``Retry-After``; default 30.
    ``statuses``: the HTTP statuses retried; default 408, 429, 500, 502, 503,
    504. 400, 401, 403, 404, 413 and 422 are refused.
    ``retry_connection_errors``: retry when no HTTP answer came (refused or
    reset connection, connect or read timeout); default ``True``.
    """

    attempts: int = attrs.field(default=6, validator=_at_least(1))
    timeout: float = attrs.field(default=60.0, converter=float, validator=_at_least(0.0))
    backoff_base: float = attrs.field(default=0.25, converter=float, validator=_at_least(0.0))
    backoff_max: float = attrs.field(default=8.0, converter=float, validator=_at_least(0.0))
    retry_after_max: float = attrs.field(default=30.0, converter=float, validator=_at_least(0.0))
    statuses: frozenset[int] = attrs.field(
        default=RETRYABLE_STATUSES, converter=frozenset, validator=_safe_statuses
    )
    retry_connection_errors: bool = True

    def with_options(self, **changes: Any) -> RetryPolicy:
        """A copy with ``changes`` applied; this policy is left as it is."""
        return attrs.evolve(self, **changes)

    def retries_status(self, status: int) -> bool:
        """Whether an answer with ``status`` is worth another attempt."""
        return status in self.statuses

    def retries_error(self, error: BaseException) -> bool:
        """Whether a failure with no HTTP answer is worth another attempt."""
        return self.retry_connection_errors and isinstance(error, APIConnectionError)

    def backoff(self, retry: int, *, draw: Callable[[], float] = _JITTER.random) -> float:
        """Seconds to wait before retry number ``retry`` (1 for the first): full jitter."""
        ceiling = min(self.backoff_max, self.backoff_base * 2.0 ** max(0, retry - 1))
        return ceiling * draw()

    def next_wait(
        self,
        *,
        attempts_made: int,
        elapsed: float,
        retry_after: float | None = None,
        draw: Callable[[], float] = _JITTER.random,
    ) -> float | None:
        """Seconds to wait before the next attempt, or ``None`` to give up.

        ``attempts_made``: tries so far (1 after the first); ``elapsed``:
        seconds since the first began; ``retry_after``: the server's
        ``Retry-After`` in seconds, when it sent one.
        """
        if attempts_made >= self.attempts:
            return None
        if retry_after is not None:
            wait = min(max(0.0, retry_after), self.retry_after_max)
        else:
            wait = self.backoff(attempts_made, draw=draw)
        if elapsed + wait > self.timeout:
            return None
        return wait


NO_RETRY = RetryPolicy(attempts=1)
"""A policy that never retries."""


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` value: delta-seconds or an HTTP-date.

    ``now`` is the current Unix time (default: ``time.time()``); a date in the
    past gives ``0.0``. Anything unreadable gives ``None``, as if absent.
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        return seconds if seconds >= 0 and seconds == seconds and seconds != float("inf") else None
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    current = time.time() if now is None else now
    return max(0.0, when.timestamp() - current)


_testing = False
_testing_lock = threading.Lock()


def set_testing(testing: bool) -> None:
    """Switch every redo-kit wait off (``True``) or back on (``False``).

    With testing on, retry backoffs, ``Retry-After`` waits and pacing delays
    are still computed and counted but not slept, so a test that scripts
    ten 503s runs in microseconds. Meant for unit tests with
    :class:`~redo_kit._transport.MockTransport`; leave it off against a real
    server or the emulator, whose rate limit needs the waits.
    """
    global _testing
    with _testing_lock:
        _testing = bool(testing)


def is_testing() -> bool:
    """Whether :func:`set_testing` switched the waits off."""
    return _testing


def sleep(seconds: float) -> None:
    """Wait ``seconds``, unless testing is on. Every redo-kit wait goes through here."""
    if seconds > 0 and not _testing:
        time.sleep(seconds)
