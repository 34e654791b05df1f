"""Background delivery: ``track()`` on the hot path, bulk requests behind it.

::

    with client.batcher() as batcher:        # or Batcher(client)
        batcher.track({"eventName": "Order Placed", "customer": {"email": "a@example.com"}})

``track`` prepares the event on the caller's thread (so an invalid event
raises :class:`~redo_kit._errors.ValidationError` right there, never enqueued),
puts it in a bounded in-memory queue and returns its ``uniqueId``; it does no
I/O. Daemon sender threads drain the queue into bulk requests of at most 100
events and 5 MB, through the client's pacing and retries
(:meth:`RedoClient.send_chunk <redo_kit._client.RedoClient.send_chunk>`): a
request goes out as soon as 100 events are waiting, or when the oldest has
waited ``flush_interval`` seconds.

Nothing is lost without a trace:

- the queue is bounded by events and by bytes; when it is full, the
  ``overflow`` policy decides (``block`` for a while, ``drop_newest``,
  ``drop_oldest`` or ``raise``), and every dropped event goes to
  ``on_drop(event, reason)`` and is counted;
- events whose request failed for good go to ``on_error(events, exc)`` and,
  with ``dead_letter=PATH``, are appended to a JSONL file (one wire event per
  line) that ``redo-kit import`` can replay: their ``uniqueId``s make a replay
  safe;
- ``flush(timeout)`` and ``close(timeout)`` keep their deadlines and say what
  was left; when the main thread ends (in a ``multiprocessing`` child too)
  queued events are flushed, and at interpreter exit every open batcher is
  closed, each step with a bounded deadline (``exit_timeout``);
- after ``os.fork`` the child starts with an empty queue, its own sender
  threads and its own connections: it never sends the parent's events, and
  the parent's queue is untouched.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Literal

import attrs

from redo_kit._client import ENVELOPE_BYTES
from redo_kit._errors import ConfigurationError, QueueFullError
from redo_kit._events import PreparedEvent, PrepareOptions, prepare_event
from redo_kit._logging import logger
from redo_kit._rules import limits
from redo_kit._signals import flush_on_sigterm

if TYPE_CHECKING:
    from redo_kit._client import RedoClient

__all__ = [
    "Batcher",
    "BatcherStats",
    "DropReason",
    "FlushResult",
    "Overflow",
    "QueueFullError",
]

Overflow = Literal["block", "drop_newest", "drop_oldest", "raise"]
"""What ``track`` does when the queue is full (see :class:`Batcher`)."""

DropReason = Literal["queue-full", "evicted", "closed"]
"""Why an event was dropped: refused by a full queue (``drop_newest``, or
``block`` after its timeout), pushed out by a newer one (``drop_oldest``), or
still queued or tracked after ``close``."""

_OVERFLOWS: frozenset[str] = frozenset({"block", "drop_newest", "drop_oldest", "raise"})


@attrs.frozen(kw_only=True)
class BatcherStats:
    """A snapshot of a batcher's counters, taken at one instant.

    ``queued``: events ``track`` accepted into the queue.
    ``sent``: events in bulk requests the API accepted (202).
    ``dropped``: events given up without being sent (each went to ``on_drop``).
    ``failed``: events whose request failed for good (each went to ``on_error``).
    ``retried``: request attempts after the first, over all requests.
    ``requests``: bulk requests that succeeded.
    ``pending``: events waiting in the queue or in a request now;
    ``pending_bytes``: their serialized size.

    Every queued event is pending until it is sent, failed, or dropped from
    the queue (``evicted``, or ``closed`` when ``close`` ran out of time);
    ``dropped`` also counts events refused before they were queued.
    """

    queued: int
    sent: int
    dropped: int
    failed: int
    retried: int
    requests: int
    pending: int
    pending_bytes: int


@attrs.frozen(kw_only=True)
class FlushResult:
    """What ``flush`` or ``close`` left behind when it returned.

    ``completed``: every event tracked before the call was settled (sent,
    failed or dropped) within the deadline.
    ``queued``: events still waiting in the queue (after ``close``: always 0,
    they were dropped as ``closed``).
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

# An item of the queue: (event, sequence number, enqueue time, body size).
_Item = tuple[PreparedEvent, int, float, int]


class Batcher:
    """A bounded queue of events, drained into bulk requests by daemon threads.

    ``client``: the :class:`~redo_kit._client.RedoClient` that sends (its
    pacing, retries and timeouts apply); the batcher never closes it.
    ``flush_interval``: seconds an event may wait for a fuller request; default 0.5.
    ``max_events``: events the queue holds, in flight excluded; default 10,000.
    ``max_bytes``: serialized bytes the queue holds; default 32 MiB. An event
    larger than that is still accepted into an empty queue.
    ``overflow``: when the queue is full, ``"block"`` (default) waits up to
    ``block_timeout`` seconds for room then drops the event as ``queue-full``;
    ``"drop_newest"`` drops the new event; ``"drop_oldest"`` drops the oldest
    queued one (``evicted``) to make room; ``"raise"`` raises
    :class:`QueueFullError`.
    ``block_timeout``: seconds ``track`` may block with ``overflow="block"``; default 1.
    ``on_drop(event, reason)``: called for every dropped event, on the thread
    that dropped it (``reason`` is a :data:`DropReason`); default: log it.
    ``on_error(events, exc)``: called on a sender thread with the events of a
    request that failed for good and the typed error; default: log it.
    ``dead_letter``: a JSONL file that failed and abandoned events are appended
    to, one wire event per line; default none.
    ``senders``: threads sending requests, so requests in flight at once;
    default 8. The store's pacing caps the rate whatever their number: they
    only hide the round trip. Reaching 100 requests/s needs about 100 x the
    round trip in seconds (8 covers round trips up to 80 ms); keep it within
    the transport's pool size (10 connections for the default one).
    ``exit_timeout``: seconds each exit step may wait; default 5. When the main
    thread ends (also in a ``multiprocessing`` child) queued events are
    flushed; at ``atexit`` the batcher is closed.
    ``handle_sigterm``: flush queued events, within ``exit_timeout``, when the
    process gets SIGTERM, which otherwise ends it without ``atexit``; the
    signal then takes effect as before (see :mod:`redo_kit._signals`);
    default ``True``.
    ``options``: the :class:`~redo_kit._events.PrepareOptions` every tracked
    event is prepared with; default the client's ``settings.prepare``.
    ``allow_unknown_keys``, ``default_region``, ``move_nested_to_extra``:
    override those fields of ``options``; ``None`` (default) keeps them.

    Thread-safe. Use it as a context manager or call :meth:`close`.
    """

    def __init__(
        self,
        client: RedoClient,
        *,
        flush_interval: float = 0.5,
        max_events: int = 10_000,
        max_bytes: int = 32 * 1024 * 1024,
        overflow: Overflow = "block",
        block_timeout: float = 1.0,
        on_drop: OnDrop | None = None,
        on_error: OnError | None = None,
        dead_letter: str | os.PathLike[str] | None = None,
        senders: int = 8,
        exit_timeout: float = 5.0,
        handle_sigterm: bool = True,
        options: PrepareOptions | None = None,
        allow_unknown_keys: bool | None = None,
        default_region: str | None = None,
        move_nested_to_extra: bool | None = None,
    ) -> None:
        if overflow not in _OVERFLOWS:
            raise ConfigurationError(
                f"overflow must be one of {sorted(_OVERFLOWS)}, got {overflow!r}"
            )
        for name, number in (
            ("flush_interval", flush_interval),
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
        self._max_events = max_events
        self._max_bytes = max_bytes
        self._overflow = overflow
        self._block_timeout = float(block_timeout)
        self._on_drop = on_drop
        self._on_error = on_error
        self._dead_letter = os.fspath(dead_letter) if dead_letter is not None else None
        self._senders = senders
        self._exit_timeout = float(exit_timeout)
        # Merged once here rather than by prepare_event on every track(): the hot path.
        overrides: dict[str, Any] = {
            name: value
            for name, value in (
                ("allow_unknown_keys", allow_unknown_keys),
                ("default_region", default_region),
                ("move_nested_to_extra", move_nested_to_extra),
            )
            if value is not None
        }
        self._options = attrs.evolve(
            client.settings.prepare if options is None else options, **overrides
        )
        self._closed = False
        self._close_result: FlushResult | None = None
        self._fresh_state()
        # Started now rather than on the first track(), which would pay for
        # starting them (milliseconds); a forked child starts its own lazily.
        self._start_senders()
        _live.add(self)
        if handle_sigterm:
            flush_on_sigterm(self._flush_at_exit, self._exit_timeout)

    def _fresh_state(self) -> None:
        """Empty queue, zero counters, new locks, no sender threads (also after a fork)."""
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)  # senders wait for work
        self._room = threading.Condition(self._lock)  # blocked producers wait for room
        self._settled = threading.Condition(self._lock)  # flush waits for deliveries
        self._close_lock = threading.Lock()
        self._dead_letter_lock = threading.Lock()
        self._queue: deque[_Item] = deque()
        self._queue_bytes = 0
        self._seq = 0
        self._flush_upto = 0  # every event with seq <= this is due now
        self._stopping = False
        self._blocked = 0
        # batch id -> (first sequence number, its events, their bytes)
        self._in_flight: dict[int, tuple[int, list[PreparedEvent], int]] = {}
        self._batch_ids = 0
        self._threads: list[threading.Thread] = []
        self._queued = 0
        self._sent = 0
        self._dropped = 0
        self._failed = 0
        self._retried = 0
        self._requests = 0
        self._warned: set[str] = set()

    # -- the hot path --------------------------------------------------------

    def track(self, event: Any, *, unique_id: str | None = None) -> str:
        """Prepare ``event``, queue it and return its ``uniqueId``. No I/O.

        ``event``: a wire dict, a ``redo_kit_models.Event`` or a
        :class:`~redo_kit._events.PreparedEvent`. ``unique_id``: as for
        :func:`~redo_kit._events.prepare_event`. Raises
        :class:`~redo_kit._errors.ValidationError` when the event is invalid
        (nothing queued), and :class:`QueueFullError` when the queue is full
        and ``overflow="raise"``. With the other policies a full queue drops
        an event (reported to ``on_drop``) and the ``uniqueId`` is still
        returned.
        """
        if isinstance(event, PreparedEvent):
            prepared = event
            if unique_id is not None and unique_id != event.unique_id:
                prepared = prepare_event(event.payload, options=self._options, unique_id=unique_id)
        else:
            prepared = prepare_event(event, options=self._options, unique_id=unique_id)
        size = len(prepared.body)
        evicted: list[PreparedEvent] = []
        with self._lock:
            if self._stopping:
                refused = "closed"
            elif self._has_room(size):
                refused = ""
            elif self._overflow == "drop_oldest":
                while not self._has_room(size):
                    oldest = self._queue.popleft()
                    self._queue_bytes -= oldest[3]
                    evicted.append(oldest[0])
                self._dropped += len(evicted)
                refused = ""
            elif self._overflow == "block":
                refused = self._wait_for_room(size)
            elif self._overflow == "drop_newest":
                refused = "queue-full"
            else:
                raise QueueFullError(
                    f"the batcher's queue is full ({len(self._queue):,} events, "
                    f"{self._queue_bytes:,} bytes): event {prepared.unique_id!r} was not queued",
                    prepared,
                )
            if refused:
                self._dropped += 1
            else:
                self._seq += 1
                self._queue.append((prepared, self._seq, time.monotonic(), size))
                self._queue_bytes += size
                self._queued += 1
                waiting = len(self._queue)
                if not self._threads:
                    self._start_senders()
                if waiting == 1 or waiting >= limits().bulk_events[1]:
                    self._wake.notify()
        for oldest_event in evicted:
            self._drop(oldest_event, "evicted")
        if refused:
            self._drop(prepared, refused)
        return prepared.unique_id

    def _has_room(self, size: int) -> bool:
        queue = self._queue
        return not queue or (
            len(queue) < self._max_events and self._queue_bytes + size <= self._max_bytes
        )

    def _wait_for_room(self, size: int) -> str:
        deadline = time.monotonic() + self._block_timeout
        self._blocked += 1
        try:
            while not self._has_room(size):
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._stopping:
                    return "closed" if self._stopping else "queue-full"
                self._room.wait(remaining)
        finally:
            self._blocked -= 1
        return "closed" if self._stopping else ""

    # -- sender threads ------------------------------------------------------

    def _start_senders(self) -> None:
        for number in range(self._senders):
            thread = threading.Thread(
                target=self._run, name=f"redo-kit-batcher-{number}", daemon=True
            )
            self._threads.append(thread)
            thread.start()

    def _run(self) -> None:
        while True:
            with self._lock:
                batch = self._next_batch()
                if batch is None:
                    return
                batch_id, events = batch
            self._deliver(batch_id, events)

    def _next_batch(self) -> tuple[int, list[PreparedEvent]] | None:
        """Wait until a request is due and take its events; ``None`` to stop. Lock held."""
        queue = self._queue
        most, max_bytes = limits().bulk_events[1], limits().max_body_bytes
        while True:
            if queue:
                head = queue[0]
                now = time.monotonic()
                due_at = head[2] + self._flush_interval
                if (
                    len(queue) >= most
                    or self._queue_bytes + ENVELOPE_BYTES + len(queue) >= max_bytes
                    or head[1] <= self._flush_upto
                    or self._stopping
                    or now >= due_at
                ):
                    break
                self._wake.wait(due_at - now)
            elif self._stopping:
                return None
            else:
                self._wake.wait()
        items: list[_Item] = []
        size = ENVELOPE_BYTES
        while queue and len(items) < most:
            grown = size + queue[0][3] + (1 if items else 0)
            if items and grown > max_bytes:
                break
            item = queue.popleft()
            items.append(item)
            size = grown
        taken = size - ENVELOPE_BYTES - (len(items) - 1)
        self._queue_bytes -= taken
        self._batch_ids += 1
        events = [item[0] for item in items]
        self._in_flight[self._batch_ids] = (items[0][1], events, taken)
        if self._blocked:
            self._room.notify(len(items))
        if queue:
            self._wake.notify()  # another sender may take the rest
        return self._batch_ids, events

    def _deliver(self, batch_id: int, events: list[PreparedEvent]) -> None:
        retries = 0
        error: BaseException | None = None
        try:
            retries = self._send(events)
        except Exception as exc:  # every failure is reported; none may stop the sender
            error = exc
            # Reported before the events count as settled: when flush or close
            # returns, on_error has run and the dead-letter file is written.
            self._fail(events, exc)
        with self._lock:
            del self._in_flight[batch_id]
            if error is None:
                self._sent += len(events)
                self._requests += 1
                self._retried += retries
            else:
                self._failed += len(events)
                self._retried += _retries_of(error)
            self._settled.notify_all()

    def _send(self, events: list[PreparedEvent]) -> int:
        """Send one request; return the retries it took. Raises when it failed for good."""
        client = self._client
        too_large = len(events[0].body) + ENVELOPE_BYTES > limits().max_body_bytes
        if len(events) == 1 and too_large:
            # Too large to wrap in a bulk body: the single-event endpoint takes it.
            return client.send(events[0]).retries
        return client.send_chunk(events).retries

    # -- reporting -----------------------------------------------------------

    def _drop(self, event: PreparedEvent, reason: str) -> None:
        if self._on_drop is None:
            self._log_once(
                reason,
                "redo-kit batcher dropped event %s (%s); pass on_drop= to handle drops",
                event.unique_id,
                reason,
            )
            return
        try:
            self._on_drop(event, reason)
        except Exception:
            logger.exception("on_drop raised for event %s", event.unique_id)

    def _fail(self, events: list[PreparedEvent], error: BaseException) -> None:
        self._write_dead_letter(events)
        if self._on_error is None:
            logger.error(
                "redo-kit batcher: %d event(s) not delivered: %s%s",
                len(events),
                error,
                f"; written to {self._dead_letter}" if self._dead_letter else "",
            )
            return
        try:
            self._on_error(events, error)
        except Exception:
            logger.exception("on_error raised for %d event(s)", len(events))

    def _write_dead_letter(self, events: Sequence[PreparedEvent]) -> None:
        if self._dead_letter is None or not events:
            return
        lines = b"".join(event.body + b"\n" for event in events)
        try:
            with self._dead_letter_lock, open(self._dead_letter, "ab") as file:
                file.write(lines)
        except OSError:
            logger.exception(
                "could not write %d event(s) to the dead-letter file %s",
                len(events),
                self._dead_letter,
            )

    def _log_once(self, key: str, message: str, *args: object) -> None:
        level = logging.DEBUG if key in self._warned else logging.WARNING
        self._warned.add(key)
        logger.log(level, message, *args)

    def stats(self) -> BatcherStats:
        """The counters now, as one consistent snapshot; cheap enough to poll."""
        with self._lock:
            in_flight = self._in_flight.values()
            return BatcherStats(
                queued=self._queued,
                sent=self._sent,
                dropped=self._dropped,
                failed=self._failed,
                retried=self._retried,
                requests=self._requests,
                pending=len(self._queue) + sum(len(f[1]) for f in in_flight),
                pending_bytes=self._queue_bytes + sum(f[2] for f in in_flight),
            )

    # -- lifecycle -----------------------------------------------------------

    def flush(self, timeout: float = 30.0) -> FlushResult:
        """Send every event tracked so far now; wait at most ``timeout`` seconds.

        Returns when each of them is sent, failed or dropped, or when the
        deadline comes, whichever is first; events tracked meanwhile may ride
        along. The result says what was left (``completed`` is ``False`` if
        anything tracked before the call was).
        """
        started = time.monotonic()
        deadline = started + max(0.0, timeout)
        with self._lock:
            target = self._seq
            if target > self._flush_upto:
                self._flush_upto = target
                self._wake.notify_all()
            while not self._settled_through(target):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._settled.wait(remaining)
            return self._result_locked(target, started)

    def close(self, timeout: float = 30.0) -> FlushResult:
        """Stop accepting events, send what is queued and stop the senders.

        Waits at most ``timeout`` seconds. Events still queued at the
        deadline are dropped as ``closed`` (to ``on_drop`` and the dead-letter
        file) and counted in ``abandoned``; a request still being tried is
        left to its daemon thread and counted in ``in_flight``; its events
        are written to the dead-letter file too, since the process may end
        before they are delivered (a replay of a delivered one is
        deduplicated by its ``uniqueId``). Idempotent:
        a second call returns the first one's result. ``track`` after close
        drops the event as ``closed``.
        """
        with self._close_lock:
            if self._close_result is not None:
                return self._close_result
            started = time.monotonic()
            deadline = started + max(0.0, timeout)
            with self._lock:
                self._stopping = True
                target = self._seq
                self._wake.notify_all()
                self._room.notify_all()
                while not self._settled_through(target):
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    self._settled.wait(remaining)
                abandoned = list(self._queue)
                self._queue.clear()
                self._queue_bytes = 0
                self._dropped += len(abandoned)
                self._wake.notify_all()
                threads = list(self._threads)
            if self._on_drop is not None:
                for item in abandoned:
                    self._drop(item[0], "closed")
            elif abandoned:
                # One warning with the count, not one per event.
                logger.warning(
                    "redo-kit batcher closed with %d queued event(s) not delivered "
                    "within %.1f s%s",
                    len(abandoned),
                    timeout,
                    f"; written to {self._dead_letter}" if self._dead_letter else "",
                )
            self._write_dead_letter([item[0] for item in abandoned])
            for thread in threads:
                if thread is not threading.current_thread():
                    thread.join(max(0.0, deadline - time.monotonic()))
            with self._lock:
                result = attrs.evolve(
                    self._result_locked(target, started), abandoned=len(abandoned)
                )
                result = attrs.evolve(result, completed=result.completed and not abandoned)
            if result.in_flight:
                with self._lock:
                    unsure = [e for f in self._in_flight.values() for e in f[1]]
                self._write_dead_letter(unsure)
                logger.warning(
                    "redo-kit batcher closed with %d event(s) still in flight after %.1f s%s",
                    result.in_flight,
                    result.elapsed,
                    f"; written to {self._dead_letter}" if self._dead_letter else "",
                )
            self._closed = True
            self._close_result = result
            _live.discard(self)
            return result

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` has finished."""
        return self._closed

    def _settled_through(self, target: int) -> bool:
        """Whether every event with a sequence number <= ``target`` is settled. Lock held."""
        if self._queue and self._queue[0][1] <= target:
            return False
        return all(first > target for first, _, _ in self._in_flight.values())

    def _result_locked(self, target: int, started: float) -> FlushResult:
        return FlushResult(
            completed=self._settled_through(target),
            queued=len(self._queue),
            in_flight=sum(len(f[1]) for f in self._in_flight.values()),
            elapsed=time.monotonic() - started,
        )

    def __enter__(self) -> Batcher:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        stats = self.stats()
        state = "closed" if self._closed else "open"
        return (
            f"<Batcher {state} queued={stats.queued} sent={stats.sent} "
            f"dropped={stats.dropped} failed={stats.failed} pending={stats.pending}>"
        )

    # -- process events ------------------------------------------------------

    def _after_fork_in_child(self) -> None:
        """Forget the parent's queue, counters and threads (the senders restart lazily).

        The client's default transport renews its connection pool in the
        child by itself, so the child never reads from the parent's sockets.
        """
        self._fresh_state()
        self._stopping = self._closed

    def _close_at_exit(self, deadline: float) -> None:
        if self._closed:
            return
        self.close(timeout=min(self._exit_timeout, max(0.0, deadline - time.monotonic())))

    def _flush_at_exit(self, deadline: float) -> None:
        if self._closed:
            return
        self.flush(timeout=min(self._exit_timeout, max(0.0, deadline - time.monotonic())))


def _retries_of(error: BaseException) -> int:
    result = getattr(error, "result", None)
    retries = getattr(result, "retries", 0)
    return retries if isinstance(retries, int) else 0


_live: weakref.WeakSet[Batcher] = weakref.WeakSet()


def _exit_deadline() -> float:
    longest = max((b._exit_timeout for b in list(_live)), default=0.0)
    return time.monotonic() + longest


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
