"""Background delivery: ``track()`` on the hot path, bulk requests behind it.

::

    with client.batcher() as batcher:        # or Batcher(client)
        batcher.track({"eventName": "Order Placed", "customer": {"email": "a@example.com"}})

    batcher = client.batcher(outbox="/var/lib/shop/redo-outbox.sqlite3")  # survives a crash
    batcher = client.batcher(outbox="redis://redis:6379/0")  # a fleet's; `redo-kit relay` sends

``track`` prepares the event on the caller's thread (so an invalid event
raises :class:`~redo_kit._errors.ValidationError` right there, never queued)
and puts it in an outbox (:mod:`redo_kit._outbox`): in memory by default, or
a SQLite file, where ``track`` returns only once the event is committed. A
drain thread leases the oldest events that fit one bulk request and hands
them to the delivery engine (:mod:`redo_kit._delivery`), which sends up to
``senders`` requests at once through the client's pacing and retries. A
request goes out as soon as 100 events are waiting, or when the oldest has
waited ``flush_interval`` seconds. An event leaves the outbox only when the
API took it or it was given up and reported.

Nothing is given up early: a request that fails with a retryable error (no
answer, 408, 429, 5xx) goes back to the outbox and is tried again with
capped, jittered backoff, for ``delivery_timeout`` seconds (default 10
minutes) from when its oldest event was tracked, while ``track`` goes on
queueing. Nothing is lost without a trace:

- the outbox is bounded by events and by bytes; when it is full, the
  ``overflow`` policy decides (``block`` for a while, ``drop_newest``,
  ``drop_oldest`` or ``raise``), and every dropped event goes to
  ``on_drop(event, reason)`` and is counted;
- events refused for good, or past their delivery budget, go to
  ``on_error(events, exc)`` and, with ``dead_letter=PATH``, are appended to a
  JSONL file (one wire event per line) that ``redo-kit import`` can replay:
  their ``uniqueId``s make a replay safe;
- without callbacks, each incident is logged at WARNING on the ``redo_kit``
  logger, with counts, so that a program with no logging configured still
  sees it on stderr;
- ``flush(timeout)`` and ``close(timeout)`` keep their deadlines and say what
  was left; when the main thread ends (in a ``multiprocessing`` child too)
  queued events are flushed, and at interpreter exit every open batcher is
  closed, each step with a bounded deadline (``exit_timeout``). Events a
  SQLite outbox still holds then stay in its file for the next batcher
  that opens it (or ``redo-kit outbox drain``);
- after ``os.fork`` the child starts with its own drain and connections and
  a fresh outbox handle: a memory outbox starts empty (the child never sends
  the parent's events), a SQLite one is the same file.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import attrs

from redo_kit._delivery import Batch, Job, Outcome, Room, deliver
from redo_kit._errors import (
    APIError,
    ConfigurationError,
    DeliveryTimeoutError,
    OutboxError,
    QueueFullError,
    RateLimitError,
    ValidationError,
)
from redo_kit._events import PreparedEvent, PrepareOptions, overridden, prepare_event
from redo_kit._logging import logger
from redo_kit._outbox import (
    OVERFLOWS,
    Dropped,
    DropReason,
    Lease,
    MemoryOutbox,
    Outbox,
    Overflow,
    append_dead_letter,
)
from redo_kit._signals import flush_on_sigterm, in_daemon, start_daemon

if TYPE_CHECKING:
    from redo_kit._client import RedoClient
    from redo_kit._plan import TrackingPlan

__all__ = [
    "Batcher",
    "BatcherStats",
    "DropReason",
    "FlushResult",
    "Overflow",
    "QueueFullError",
]


@attrs.frozen(kw_only=True)
class BatcherStats:
    """A snapshot of a batcher's counters, taken at one instant.

    ``queued``: events ``track`` accepted into the outbox.
    ``sent``: events in bulk requests the API accepted (202).
    ``dropped``: events given up without being sent (each went to ``on_drop``).
    ``failed``: events refused for good or past their delivery budget (each
    went to ``on_error``).
    ``retried``: request attempts after the first, over all requests, the
    later tries of a request given back to the outbox included.
    ``requests``: bulk requests that succeeded.
    ``pending``: events the outbox holds, in a request now or waiting
    (for a shared SQLite outbox: those of every process);
    ``pending_bytes``: their serialized size.
    ``deferred``: requests given back to the outbox after a retryable failure.
    """

    queued: int
    sent: int
    dropped: int
    failed: int
    retried: int
    requests: int
    pending: int
    pending_bytes: int
    deferred: int = 0


@attrs.frozen(kw_only=True)
class FlushResult:
    """What ``flush`` or ``close`` left behind when it returned.

    ``completed``: every event tracked before the call was settled (sent,
    failed or dropped) within the deadline.
    ``queued``: events still waiting in the outbox (after ``close`` of a
    memory outbox: always 0, they were dropped as ``closed``; a SQLite outbox
    keeps them for later).
    ``in_flight``: events in a request still being tried; after a ``close``
    that ran out of time, they are delivered only if the process lives long
    enough.
    ``abandoned``: events ``close`` dropped because its deadline came first.
    ``elapsed``: seconds the call took.
    """

    completed: bool
    queued: int
    in_flight: int
    abandoned: int = 0
    elapsed: float = 0.0

    @property
    def left(self) -> int:
        """Events not settled when the call returned (queued, in flight or abandoned)."""
        return self.queued + self.in_flight + self.abandoned


OnDrop = Callable[[PreparedEvent, str], object]
OnError = Callable[[Sequence[PreparedEvent], BaseException], object]

_INCIDENT_GAP = 10.0
"""Seconds between two WARNING records of the same kind of loss; counts in between add up."""

_OUTBOX_RETRY = 1.0
"""Seconds the drain waits after the outbox failed to lease, before it looks again."""

_POLL = 0.05
"""Seconds between looks at a shared outbox, whose other processes cannot wake this one."""


class Batcher:
    """An outbox of events, drained into bulk requests by background threads.

    ``client``: the :class:`~redo_kit._client.RedoClient` that sends (its
    pacing, retries and timeouts apply to every request); the batcher never
    closes it.
    ``outbox``: where events wait: ``None`` (default) for memory, a path for
    a SQLite file (``track`` returns once the event is committed; several
    processes of one host may share the file, one of them draining at a
    time), a ``redis://`` URL for the store's stream in Redis
    (:class:`~redo_kit._outbox_redis.RedisOutbox`, shared by a whole fleet;
    ``track`` returns once Redis has the event), or an
    :class:`~redo_kit._outbox.Outbox`.
    ``relay``: whether this batcher delivers what its outbox holds. ``None``
    (default): yes, except for a Redis outbox, which ``redo-kit relay``
    processes drain; ``True`` with a Redis outbox relays in-process too (a
    single-process deployment); ``False`` only with a Redis outbox. A
    batcher that does not relay never waits at ``close`` or exit (its events
    are in Redis), while ``flush`` waits for the relays to deliver them.
    ``flush_interval``: seconds an event may wait for a fuller request; default 0.5.
    ``delivery_timeout``: seconds from ``track`` during which a request that
    fails with a retryable error is tried again (backoff between tries,
    capped by the client's retry policy's ``backoff_max``); past it the
    events go to ``on_error`` with a
    :class:`~redo_kit._errors.DeliveryTimeoutError`; default 600.
    ``max_events``: events the outbox holds, those in a request excluded;
    default 100,000 in memory, 1,000,000 in a file.
    ``max_bytes``: serialized bytes the outbox holds; default 64 MiB in
    memory, 1 GiB in a file. An event larger than that is still accepted
    into an empty outbox.
    ``overflow``: when the outbox is full, ``"block"`` (default) waits up to
    ``block_timeout`` seconds for room then drops the event as ``queue-full``;
    ``"drop_newest"`` drops the new event; ``"drop_oldest"`` drops the oldest
    waiting one (``evicted``) to make room; ``"raise"`` raises
    :class:`QueueFullError`.
    ``block_timeout``: seconds ``track`` may block with ``overflow="block"``; default 1.
    ``on_drop(event, reason)``: called for every dropped event, on the thread
    that dropped it (``reason`` is a :data:`DropReason`); default: a warning.
    ``on_error(events, exc)``: called on a sender thread with the events of a
    request refused for good or past its delivery budget, and the typed
    error; default: a warning.
    ``dead_letter``: a JSONL file that failed and abandoned events are appended
    to, one wire event per line; default none.
    ``senders``: requests in flight at once; default 8. The store's pacing
    caps the rate whatever their number: they only hide the round trip.
    Reaching 100 requests/s needs about 100 x the round trip in seconds (8
    covers round trips up to 80 ms); keep it within the transport's pool
    size (10 connections for the default one).
    ``exit_timeout``: seconds each exit step may wait; default 5. When the main
    thread ends (also in a ``multiprocessing`` child) queued events are
    flushed; at ``atexit`` the batcher is closed.
    ``handle_sigterm``: flush queued events, within ``exit_timeout``, when the
    process gets SIGTERM, which otherwise ends it without ``atexit``; the
    signal then takes effect as before (see :mod:`redo_kit._signals`);
    default ``True``.
    ``options``: the :class:`~redo_kit._events.PrepareOptions` every tracked
    event is prepared with; default the client's ``settings.prepare``.
    ``allow_unknown_keys``, ``default_region``, ``move_nested_to_extra``,
    ``plan``: override those fields of ``options``; ``None`` (default) keeps
    them.

    Thread-safe. Use it as a context manager or call :meth:`close`; from
    asyncio code, ``async with`` or ``await`` :meth:`aclose` (and
    :meth:`aflush`), which wait on a thread. ``track`` stays a plain call,
    returning in microseconds, except that ``overflow="block"`` holds it up
    to ``block_timeout`` when the outbox is full: on an event loop, prefer
    another policy.
    """

    def __init__(
        self,
        client: RedoClient,
        *,
        outbox: str | os.PathLike[str] | Outbox | None = None,
        flush_interval: float = 0.5,
        delivery_timeout: float = 600.0,
        max_events: int | None = None,
        max_bytes: int | None = None,
        overflow: Overflow = "block",
        block_timeout: float = 1.0,
        on_drop: OnDrop | None = None,
        on_error: OnError | None = None,
        dead_letter: str | os.PathLike[str] | None = None,
        senders: int = 8,
        exit_timeout: float = 5.0,
        handle_sigterm: bool = True,
        relay: bool | None = None,
        options: PrepareOptions | None = None,
        allow_unknown_keys: bool | None = None,
        default_region: str | None = None,
        move_nested_to_extra: bool | None = None,
        plan: TrackingPlan | None = None,
    ) -> None:
        if overflow not in OVERFLOWS:
            raise ConfigurationError(
                f"overflow must be one of {sorted(OVERFLOWS)}, got {overflow!r}"
            )
        for name, number in (
            ("flush_interval", flush_interval),
            ("delivery_timeout", delivery_timeout),
            ("block_timeout", block_timeout),
            ("exit_timeout", exit_timeout),
        ):
            if (
                isinstance(number, bool)
                or not isinstance(number, (int, float))
                or not 0 <= number < float("inf")
            ):
                raise ConfigurationError(
                    f"{name} must be a finite number of seconds >= 0, got {number!r}"
                )
        for name, count in (
            ("max_events", max_events),
            ("max_bytes", max_bytes),
            ("senders", senders),
        ):
            if count is None and name != "senders":
                continue
            if isinstance(count, bool) or not isinstance(count, int) or count < 1:
                raise ConfigurationError(f"{name} must be an integer >= 1, got {count!r}")
        for name, callback in (("on_drop", on_drop), ("on_error", on_error)):
            if callback is not None and not callable(callback):
                raise ConfigurationError(
                    f"{name} must be a function or None, not {type(callback).__name__}"
                )
        if not isinstance(handle_sigterm, bool):
            raise ConfigurationError(
                f"handle_sigterm must be True or False, not {type(handle_sigterm).__name__}"
            )
        if options is not None and not isinstance(options, PrepareOptions):
            raise ConfigurationError(
                f"options must be a PrepareOptions or None, not {type(options).__name__}"
            )
        self._client = client
        self._flush_interval = float(flush_interval)
        self._delivery_timeout = float(delivery_timeout)
        self._on_drop = on_drop
        self._on_error = on_error
        self._dead_letter = os.fspath(dead_letter) if dead_letter is not None else None
        self._senders = senders
        self._exit_timeout = float(exit_timeout)
        # Merged once here rather than by prepare_event on every track(): the hot path.
        self._options = overridden(
            client.settings.prepare if options is None else options,
            allow_unknown_keys=allow_unknown_keys,
            default_region=default_region,
            move_nested_to_extra=move_nested_to_extra,
            plan=plan,
        )
        if relay is not None and not isinstance(relay, bool):
            raise ConfigurationError(
                f"relay must be True, False or None, not {type(relay).__name__}"
            )
        self._outbox = _open_outbox(
            outbox,
            store_id=client.store_id,
            max_events=max_events,
            max_bytes=max_bytes,
            overflow=overflow,
            block_timeout=float(block_timeout),
        )
        self._shared = not isinstance(self._outbox, MemoryOutbox)
        fed = _relay_fed(self._outbox)
        if relay is False and not fed:
            self._outbox.close()
            raise ConfigurationError(
                "relay=False needs a Redis outbox (outbox='redis://...'), which relays drain: "
                "with any other outbox nothing would deliver the events"
            )
        self._relays = (not fed) if relay is None else relay
        self._closed = False
        self._close_result: FlushResult | None = None
        self._fresh_state()
        # Events a durable outbox held before this batcher opened it count as
        # tracked before its first flush: they are delivered by it, and waited for.
        self._last_seq = self._outbox.size().last_put
        # Started now rather than on the first track(), which would pay for
        # starting it (milliseconds); a forked child starts its own lazily.
        self._start_drain()
        _live.add(self)
        if handle_sigterm:
            flush_on_sigterm(self._flush_at_exit, self._exit_timeout)

    def _fresh_state(self) -> None:
        """Zero counters, new locks, no drain thread (also after a fork)."""
        self._lock = threading.Lock()
        self._settled = threading.Condition(self._lock)  # flush waits for deliveries
        self._close_lock = threading.Lock()
        self._dead_letter_lock = threading.Lock()
        self._last_seq = 0  # the highest seq this batcher put
        self._flush_upto = 0  # every event with seq <= this is due now
        self._stopping = False  # close() began: no new events
        self._halted = False  # the drain takes no new lease
        self._drain: threading.Thread | None = None
        self._in_flight: dict[int, Lease] = {}
        self._queued = 0
        self._sent = 0
        self._dropped = 0
        self._failed = 0
        self._retried = 0
        self._requests = 0
        self._deferred = 0
        # kind -> (when last logged, count held since, message, its arguments)
        self._incidents: dict[str, tuple[float, int, str, tuple[object, ...]]] = {}

    # -- the hot path --------------------------------------------------------

    def track(self, event: Any, *, unique_id: str | None = None) -> str:
        """Prepare ``event``, put it in the outbox and return its ``uniqueId``.

        ``event``: a wire dict, a ``redo_kit_models.Event`` or a
        :class:`~redo_kit._events.PreparedEvent`. ``unique_id``: as for
        :func:`~redo_kit._events.prepare_event`. Raises
        :class:`~redo_kit._errors.ValidationError` when the event is invalid
        (nothing queued), and :class:`QueueFullError` when the outbox is full
        and ``overflow="raise"``. With the other policies a full outbox drops
        an event (reported to ``on_drop``) and the ``uniqueId`` is still
        returned. No network I/O; a SQLite outbox commits the event first.
        """
        if isinstance(event, PreparedEvent):
            prepared = event
            if unique_id is not None and unique_id != event.unique_id:
                prepared = prepare_event(event.payload, options=self._options, unique_id=unique_id)
        else:
            prepared = prepare_event(event, options=self._options, unique_id=unique_id)
        if self._stopping:
            self._report_drops([(prepared, "closed")])
            return prepared.unique_id
        seq, dropped = self._outbox.put(prepared)
        with self._lock:
            if seq:
                self._queued += 1
                if seq > self._last_seq:
                    self._last_seq = seq
            self._dropped += len(dropped)
            if self._drain is None and self._relays:
                self._start_drain()
        if dropped:
            self._report_drops(dropped)
        return prepared.unique_id

    # -- the drain -----------------------------------------------------------

    def _start_drain(self) -> None:
        if self._relays:
            self._drain = start_daemon(self._run, "redo-kit-batcher")

    def _run(self) -> None:
        try:
            deliver(
                self._leases(),
                self._client,
                self._settle,
                concurrency=self._senders,
                ordered=False,
                stop_on_failure=False,
            )
        except Exception:  # the drain must report, never die silently
            logger.exception("redo-kit batcher: the drain stopped")

    def _leases(self) -> Iterator[Job[Lease]]:
        """Each request to send, as soon as it is due; ends when the batcher halts."""
        outbox = self._outbox
        while not self._halted:
            try:
                lease = outbox.lease(
                    Room(),
                    linger=0.0 if self._stopping else self._flush_interval,
                    wait=_POLL if self._shared else max(self._flush_interval, _POLL),
                    urgent_through=self._flush_upto,
                )
            except OutboxError as error:
                # A file busy past its timeout, a full disk: the events stay
                # in it, and the drain looks again rather than stopping.
                self._incident(
                    "outbox", 1, "redo-kit batcher: %d failed look(s) into the outbox: %s", error
                )
                time.sleep(_OUTBOX_RETRY)
                continue
            if lease is None:
                continue
            with self._lock:
                self._in_flight[lease.token] = lease
            yield Job(batch=Batch.of(lease.events), context=lease)

    def _settle(self, job: Job[Lease], outcome: Outcome | None) -> None:
        lease = job.context
        if outcome is None:  # every lease has a request: not reached
            return
        error = outcome.error
        events = list(lease.events)
        retries = outcome.sent.retries + (1 if lease.attempts else 0)
        if error is None:
            rejected = [r.event for r in outcome.rejected]
            if rejected:
                # Reported before the events count as settled: when flush or
                # close returns, on_error has run and the dead-letter file is written.
                self._fail(
                    rejected,
                    ValidationError(
                        [r.problem() for r in outcome.rejected],
                        subject="events (the API's bulk report)",
                    ),
                )
            self._count(
                lease,
                sent=len(events) - len(rejected),
                failed=len(rejected),
                retries=retries,
                request=True,
            )
            return
        age = time.time() - lease.enqueued_at
        if outcome.retryable and age < self._delivery_timeout and not self._halted:
            self._count(
                lease,
                retries=retries,
                deferred=True,
                retry_at=time.time() + self._backoff(lease.attempts + 1, error),
            )
            self._incident(
                "retrying",
                len(events),
                "redo-kit batcher: %d event(s) not delivered yet (%s); trying again for up to "
                "%.0f s after they were tracked",
                error,
                self._delivery_timeout,
            )
            return
        if outcome.retryable and not self._halted:
            expired = DeliveryTimeoutError(
                f"{len(events)} event(s) not delivered within the delivery budget of "
                f"{self._delivery_timeout:g} s (oldest tracked {age:.0f} s ago): {error}",
                elapsed=age,
            )
            expired.__cause__ = error
            error = expired
        elif outcome.retryable:
            # Halted (close ran out of time): a memory outbox is about to
            # forget them; a durable one keeps them for a later process.
            self._count(lease, retries=retries, retry_at=time.time())
            return
        self._fail(events, error)
        self._count(lease, failed=len(events), retries=retries)

    def _count(
        self,
        lease: Lease,
        *,
        sent: int = 0,
        failed: int = 0,
        retries: int = 0,
        request: bool = False,
        deferred: bool = False,
        retry_at: float | None = None,
    ) -> None:
        """Settle ``lease`` in the outbox (ack, or release until ``retry_at``) and count it.

        Both under the batcher's lock, which flush holds while it looks at the
        outbox: it never sees the events gone before the counters say so.
        """
        with self._lock:
            if retry_at is None:
                self._outbox.ack(lease)
            else:
                self._outbox.release(lease, retry_at=retry_at)
            self._in_flight.pop(lease.token, None)
            self._sent += sent
            self._failed += failed
            self._retried += retries
            self._requests += request
            self._deferred += deferred
            self._settled.notify_all()

    def _backoff(self, attempt: int, error: APIError) -> float:
        """Seconds before the next try of a request given back: jittered, capped."""
        policy = self._client.settings.retry
        wait = policy.backoff(attempt)
        if isinstance(error, RateLimitError) and error.retry_after is not None:
            wait = max(wait, min(error.retry_after, policy.retry_after_max))
        return wait

    # -- reporting -----------------------------------------------------------

    def _report_drops(self, dropped: Sequence[Dropped]) -> None:
        if self._on_drop is None:
            by_reason: dict[str, int] = {}
            for _, why in dropped:
                by_reason[why] = by_reason.get(why, 0) + 1
            for reason, count in by_reason.items():
                self._incident(
                    f"drop-{reason}",
                    count,
                    "redo-kit batcher dropped %d event(s) (%s)%s; pass on_drop= to handle drops",
                    reason,
                    f"; written to {self._dead_letter}" if self._dead_letter else "",
                )
        else:
            for event, reason in dropped:
                try:
                    self._on_drop(event, reason)
                except Exception:
                    logger.exception("on_drop raised for event %s", event.unique_id)
        self._write_dead_letter([event for event, _ in dropped])

    def _fail(self, events: Sequence[PreparedEvent], error: BaseException) -> None:
        self._write_dead_letter(events)
        if self._on_error is None:
            self._incident(
                f"failed-{type(error).__name__}",
                len(events),
                "redo-kit batcher: %d event(s) not delivered: %s%s",
                error,
                f"; written to {self._dead_letter}" if self._dead_letter else "",
            )
            return
        try:
            self._on_error(events, error)
        except Exception:
            logger.exception("on_error raised for %d event(s)", len(events))

    def _incident(self, kind: str, count: int, message: str, *args: object) -> None:
        """Log ``message % (count, *args)`` at WARNING, at most once per ``_INCIDENT_GAP``.

        Counts of the same kind in between add up into the next record (or
        the one ``close`` writes), so a storm of failures gives a few lines
        with totals, not one per request.
        """
        now = time.monotonic()
        with self._lock:
            last, held, _, _ = self._incidents.get(kind, (-_INCIDENT_GAP, 0, message, args))
            held += count
            due = now - last >= _INCIDENT_GAP
            self._incidents[kind] = (now, 0, message, args) if due else (last, held, message, args)
        if due:
            logger.warning(message, held, *args)

    def _report_held_incidents(self) -> None:
        """Say at once what the rate limit of :meth:`_incident` held back (at close)."""
        with self._lock:
            held = [(n, m, a) for _, n, m, a in self._incidents.values() if n]
            self._incidents.clear()
        for count, message, args in held:
            logger.warning(message, count, *args)

    def _write_dead_letter(self, events: Sequence[PreparedEvent]) -> None:
        if self._dead_letter is not None and events:
            append_dead_letter(self._dead_letter, events, self._dead_letter_lock)

    def stats(self) -> BatcherStats:
        """The counters now, as one consistent snapshot; cheap enough to poll."""
        size = self._outbox.size()
        with self._lock:
            return BatcherStats(
                queued=self._queued,
                sent=self._sent,
                dropped=self._dropped,
                failed=self._failed,
                retried=self._retried,
                requests=self._requests,
                pending=size.events,
                pending_bytes=size.bytes,
                deferred=self._deferred,
            )

    # -- lifecycle -----------------------------------------------------------

    def flush(self, timeout: float = 30.0) -> FlushResult:
        """Send every event tracked so far now; wait at most ``timeout`` seconds.

        Returns when each of them is sent, failed or dropped, or when the
        deadline comes, whichever is first; events tracked meanwhile may ride
        along. The result says what was left (``completed`` is ``False`` if
        anything tracked before the call was). A request in backoff after a
        retryable failure is not hurried: its events count as left.
        """
        started = time.monotonic()
        deadline = started + max(0.0, timeout)
        with self._lock:
            target = self._last_seq
            if target > self._flush_upto:
                self._flush_upto = target
        self._outbox.wake()
        self._wait_settled(target, deadline)
        return self._result(target, started)

    def _wait_settled(self, target: int, deadline: float) -> bool:
        with self._lock:
            while not self._settled_through(target):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                # Settled by this process's drain, or seen on the next look.
                self._settled.wait(min(remaining, _POLL if self._shared else remaining))
        return True

    def close(self, timeout: float = 30.0) -> FlushResult:
        """Stop accepting events, send what is queued and stop the drain.

        Waits at most ``timeout`` seconds. With a memory outbox, events still
        queued at the deadline are dropped as ``closed`` (to ``on_drop`` and
        the dead-letter file) and counted in ``abandoned``; a SQLite outbox
        keeps them for the next batcher that opens it. A request still being
        tried is left to its thread and counted in ``in_flight``; with a
        memory outbox its events are written to the dead-letter file too,
        since the process may end before they are delivered (a replay of a
        delivered one is deduplicated by its ``uniqueId``). Idempotent: a
        second call returns the first one's result. ``track`` after close
        drops the event as ``closed``.
        """
        with self._close_lock:
            if self._close_result is not None:
                return self._close_result
            started = time.monotonic()
            deadline = started + max(0.0, timeout)
            with self._lock:
                self._stopping = True
                target = self._last_seq
            self._outbox.wake()
            if self._relays:
                self._wait_settled(target, deadline)
            self._halted = True
            self._outbox.wake()
            lost = self._outbox.close()
            with self._lock:
                self._dropped += len(lost)
            result = attrs.evolve(self._result(target, started), abandoned=len(lost))
            if lost and self._on_drop is None:
                # One warning with the count, not one per event.
                logger.warning(
                    "redo-kit batcher closed with %d queued event(s) not delivered within %.1f s%s",
                    len(lost),
                    timeout,
                    f"; written to {self._dead_letter}" if self._dead_letter else "",
                )
                self._write_dead_letter(lost)
            elif lost:
                self._report_drops([(event, "closed") for event in lost])
            result = attrs.evolve(result, completed=result.completed and not lost)
            drain = self._drain
            if drain is not None and drain is not threading.current_thread():
                drain.join(max(0.0, deadline - time.monotonic()))
            if result.in_flight:
                with self._lock:
                    unsure = [e for lease in self._in_flight.values() for e in lease.events]
                if not self._shared:
                    self._write_dead_letter(unsure)
                logger.warning(
                    "redo-kit batcher closed with %d event(s) still in flight after %.1f s%s",
                    result.in_flight,
                    result.elapsed,
                    f"; written to {self._dead_letter}"
                    if self._dead_letter and not self._shared
                    else "",
                )
            if result.queued and self._shared and self._relays:
                logger.warning(
                    "redo-kit batcher closed with %d event(s) left in its outbox; the next "
                    "batcher that opens it delivers them (or run `redo-kit outbox drain`)",
                    result.queued,
                )
            self._report_held_incidents()
            self._closed = True
            self._close_result = result
            _live.discard(self)
            return result

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` has finished."""
        return self._closed

    def _settled_through(self, target: int) -> bool:
        """Whether the outbox holds no event with a seq <= ``target``."""
        oldest = self._outbox.size().oldest
        return oldest is None or oldest > target

    def _result(self, target: int, started: float) -> FlushResult:
        size = self._outbox.size()
        with self._lock:
            in_flight = sum(len(lease.events) for lease in self._in_flight.values())
        completed = size.oldest is None or size.oldest > target
        return FlushResult(
            completed=completed,
            queued=max(0, size.events - in_flight) if not self._halted or self._shared else 0,
            in_flight=in_flight,
            elapsed=time.monotonic() - started,
        )

    def __enter__(self) -> Batcher:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    async def aflush(self, timeout: float = 30.0) -> FlushResult:
        """:meth:`flush` for asyncio code: it waits on a thread, the loop goes on.

        Cancelling the await does not stop the flush, which keeps its deadline.
        """
        return await in_daemon(lambda: self.flush(timeout), "redo-kit-batcher-flush")

    async def aclose(self, timeout: float = 30.0) -> FlushResult:
        """:meth:`close` for asyncio code: it waits on a thread, the loop goes on.

        Cancelling the await does not stop the close, which keeps its deadline.
        """
        return await in_daemon(lambda: self.close(timeout), "redo-kit-batcher-close")

    async def __aenter__(self) -> Batcher:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        stats = self.stats()
        state = "closed" if self._closed else "open"
        return (
            f"<Batcher {state} queued={stats.queued} sent={stats.sent} "
            f"dropped={stats.dropped} failed={stats.failed} pending={stats.pending}>"
        )

    # -- process events ------------------------------------------------------

    def _after_fork_in_child(self) -> None:
        """Forget the parent's counters and threads, take a fresh outbox handle.

        The drain restarts with the child's first ``track``.

        The client's default transport renews its connection pool in the
        child by itself, so the child never reads from the parent's sockets.
        """
        self._outbox = self._outbox.fork_child()
        self._fresh_state()
        self._stopping = self._halted = self._closed

    def _close_at_exit(self, deadline: float) -> None:
        if self._closed:
            return
        self.close(timeout=min(self._exit_timeout, max(0.0, deadline - time.monotonic())))

    def _flush_at_exit(self, deadline: float) -> None:
        if self._closed or not self._relays:
            return
        self.flush(timeout=min(self._exit_timeout, max(0.0, deadline - time.monotonic())))


def _relay_fed(outbox: Outbox) -> bool:
    """Whether ``outbox`` is one that relays drain (a Redis stream)."""
    from redo_kit._outbox_redis import RedisOutbox

    return isinstance(outbox, RedisOutbox)


def _open_outbox(
    outbox: str | os.PathLike[str] | Outbox | None,
    *,
    store_id: str,
    max_events: int | None,
    max_bytes: int | None,
    overflow: Overflow,
    block_timeout: float,
) -> Outbox:
    bounds: dict[str, Any] = {
        name: value
        for name, value in (("max_events", max_events), ("max_bytes", max_bytes))
        if value is not None
    }
    if isinstance(outbox, str) and outbox.startswith(("redis://", "rediss://", "unix://")):
        from redo_kit._outbox_redis import RedisOutbox

        return RedisOutbox(
            outbox, store_id=store_id, overflow=overflow, block_timeout=block_timeout, **bounds
        )
    if isinstance(outbox, (str, os.PathLike)):
        from redo_kit._outbox_sqlite import SqliteOutbox

        return SqliteOutbox(outbox, overflow=overflow, block_timeout=block_timeout, **bounds)
    if outbox is None:
        return MemoryOutbox(
            max_events=bounds.get("max_events", 100_000),
            max_bytes=bounds.get("max_bytes", 64 * 1024 * 1024),
            overflow=overflow,
            block_timeout=block_timeout,
        )
    for method in ("put", "lease", "ack", "release", "wake", "size", "close", "fork_child"):
        if not callable(getattr(outbox, method, None)):
            raise ConfigurationError(
                f"outbox must be None, a path or an Outbox, not {type(outbox).__name__} "
                f"(it has no {method}() method)"
            )
    return outbox


_live: weakref.WeakSet[Batcher] = weakref.WeakSet()


_exit_deadline_at: list[float] = []
"""When the process's exit began, plus the longest exit timeout: set by the first exit step."""


def _exit_deadline() -> float:
    """The one deadline every exit step shares: the whole exit waits at most the
    longest ``exit_timeout``, however many steps (flush at thread shutdown, close
    at ``atexit``) it takes."""
    if not _exit_deadline_at:
        longest = max((b._exit_timeout for b in list(_live)), default=0.0)
        _exit_deadline_at.append(time.monotonic() + longest)
    return _exit_deadline_at[0]


def _flush_all_at_thread_shutdown() -> None:
    """Deliver what is queued when the main thread is done.

    Runs from ``threading._shutdown()``: at interpreter exit (before non-daemon
    threads are joined and before ``atexit``), and at the end of a
    ``multiprocessing`` child, which then leaves by ``os._exit`` without
    running ``atexit`` handlers. Batchers stay open for the threads still running.
    """
    deadline = _exit_deadline()
    for batcher in list(_live):
        with contextlib.suppress(Exception):
            batcher._flush_at_exit(deadline)


def _close_all_at_exit() -> None:
    """Close every open batcher at interpreter exit, sharing one bounded deadline."""
    deadline = _exit_deadline()
    for batcher in list(_live):
        with contextlib.suppress(Exception):
            batcher._close_at_exit(deadline)


def _after_fork_in_child() -> None:
    _exit_deadline_at.clear()
    for batcher in list(_live):
        batcher._after_fork_in_child()


atexit.register(_close_all_at_exit)
# threading._register_atexit is private, but it is the only hook a
# multiprocessing child runs on its way out (concurrent.futures relies on it
# for the same reason). Without it, such a child would lose its queue silently.
_register_thread_shutdown = getattr(threading, "_register_atexit", None)
if callable(_register_thread_shutdown):
    with contextlib.suppress(RuntimeError):  # first imported while the interpreter exits
        _register_thread_shutdown(_flush_all_at_thread_shutdown)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
