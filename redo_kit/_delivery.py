"""The delivery engine: prepared events packed into requests, sent with bounded concurrency.

Every front end stands on this module: ``RedoClient.send_bulk``,
``AsyncRedoClient.send_bulk``, the batcher's drain and the importer. They
differ in where events come from (an iterable, an outbox, a file) and in
what they do with each outcome; how events are packed into requests and how
requests are delivered is written once, here.

- **Packing.** :class:`Room` counts what one bulk request can still take
  (the spec's ``maxItems`` and body limit, 100 events and 5 MB in the shipped
  one); :class:`Packer` fills requests in input order and gives an event too
  large to share a bulk body its own request to the single-event endpoint.
- **Sending.** A :class:`Sender` (``RedoClient`` is one) posts one
  :class:`Batch`, paced and retried by its own policy, and says which
  failures a later try may get past.
- **Delivering.** :func:`deliver` keeps up to ``concurrency`` requests in
  flight on daemon threads and settles every job exactly once: in input order
  (``send_bulk``, the importer: a watermark moves only over settled lines), or
  as each finishes (the batcher). With ``stop_on_failure`` no job is read
  after a request failed for good; requests in flight still finish.
- **Delivering from asyncio.** :func:`adeliver` does the same on an event
  loop: up to ``concurrency`` requests awaited at once (each posted on a
  thread by ``AsyncRedoClient``), settled in input order, nothing read
  after a failure.
- **Accounting.** An :class:`Outcome` says what happened to each event of a
  request: accepted, rejected by the server (when a 2xx bulk answer carries
  Redo's per-event report), or undelivered with the typed error.

The worker threads are the engine's own daemon threads rather than a
``concurrent.futures`` pool: such a pool refuses new work once the
interpreter starts shutting down, which is exactly when a batcher's last
flush runs.
"""

from __future__ import annotations

import queue
import threading
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, wait
from typing import Any, Generic, Protocol, TypeVar

import attrs
import orjson

from redo_kit._errors import APIError, Problem
from redo_kit._events import PreparedEvent
from redo_kit._logging import logger
from redo_kit._rules import limits
from redo_kit._signals import start_daemon
from redo_kit._spec import bulk_report_validator

__all__ = [
    "BULK",
    "ENVELOPE_BYTES",
    "SINGLE",
    "Batch",
    "Job",
    "Outcome",
    "Packer",
    "Room",
    "Sender",
    "Sent",
    "ServerRejection",
    "adeliver",
    "bulk_body",
    "deliver",
    "pack",
    "send",
]

SINGLE = "events"
"""The single-event endpoint, relative to the store's URL."""

BULK = "events/bulk"
"""The bulk endpoint, relative to the store's URL."""

_BULK_OPEN = b'{"events":['
_BULK_CLOSE = b"]}"

ENVELOPE_BYTES = len(_BULK_OPEN) + len(_BULK_CLOSE)
"""Bytes a bulk body adds around its events' bodies (commas between them aside)."""


def bulk_body(events: Sequence[PreparedEvent]) -> bytes:
    """The bulk request body carrying ``events``, each as its prepared bytes."""
    return b"".join((_BULK_OPEN, b",".join(p.body for p in events), _BULK_CLOSE))


class Room:
    """What one bulk request can still take, by the spec's limits in use.

    ``take(size)`` says whether an event of ``size`` body bytes still fits
    and, if so, counts it. The first event is always taken: one too large
    for a bulk body goes alone to the single-event endpoint.
    """

    __slots__ = ("_bytes", "_events", "_max_bytes", "_max_events")

    def __init__(self) -> None:
        rules = limits()
        self._max_events = rules.bulk_events[1]
        self._max_bytes = rules.max_body_bytes
        self._events = 0
        self._bytes = ENVELOPE_BYTES

    def fits(self, size: int) -> bool:
        """Whether an event of ``size`` body bytes would be taken; counts nothing."""
        if self._events == 0:
            return True
        return self._events < self._max_events and self._bytes + 1 + size <= self._max_bytes

    def take(self, size: int) -> bool:
        """Count an event of ``size`` body bytes if it fits; whether it did."""
        if not self.fits(size):
            return False
        self._bytes += size + (1 if self._events else 0)
        self._events += 1
        return True

    def would_fill(self, events: int, size: int) -> bool:
        """Whether ``events`` events of ``size`` bytes in all would fill a request."""
        return events >= self._max_events or size + ENVELOPE_BYTES + events >= self._max_bytes


@attrs.frozen(kw_only=True)
class Batch:
    """One request: its endpoint (:data:`BULK` or :data:`SINGLE`), its events, its body."""

    endpoint: str
    events: tuple[PreparedEvent, ...]
    body: bytes = attrs.field(repr=False)

    @classmethod
    def of(cls, events: Sequence[PreparedEvent]) -> Batch:
        """The request for ``events``, which must fit one (a :class:`Room` took them).

        A lone event too large for a bulk body goes to the single-event
        endpoint; any other set goes to the bulk endpoint.
        """
        if len(events) == 1 and len(events[0].body) + ENVELOPE_BYTES > limits().max_body_bytes:
            return cls(endpoint=SINGLE, events=tuple(events), body=events[0].body)
        return cls(endpoint=BULK, events=tuple(events), body=bulk_body(events))


class Packer:
    """Fills requests with prepared events in the order they come.

    ``add(event)`` returns the requests that the event closed, in order: none
    while the current one has room; the full one before it otherwise; and,
    for an event too large for a bulk body, the partly filled one and then
    the event's own single-event request. ``finish()`` returns the last,
    partly filled one.
    """

    def __init__(self) -> None:
        self._events: list[PreparedEvent] = []
        self._room = Room()
        self._max_bytes = limits().max_body_bytes

    @property
    def pending(self) -> list[PreparedEvent]:
        """Events added but not yet returned in a request."""
        return self._events

    def add(self, event: PreparedEvent) -> tuple[Batch, ...]:
        """Add ``event``; the requests it closed (usually none)."""
        size = len(event.body)
        if size + ENVELOPE_BYTES > self._max_bytes:
            alone = Batch(endpoint=SINGLE, events=(event,), body=event.body)
            before = self.finish()
            return (alone,) if before is None else (before, alone)
        if self._room.take(size):
            self._events.append(event)
            return ()
        full = self.finish()
        self._room.take(size)
        self._events.append(event)
        return () if full is None else (full,)

    def finish(self) -> Batch | None:
        """The request of the events added since the last one, or ``None`` if none were."""
        if not self._events:
            return None
        batch = Batch(endpoint=BULK, events=tuple(self._events), body=bulk_body(self._events))
        self._events = []
        self._room = Room()
        return batch


def pack(events: Iterable[PreparedEvent]) -> Iterator[Batch]:
    """The requests that carry ``events``, in order, each within the spec's limits."""
    packer = Packer()
    for event in events:
        yield from packer.add(event)
    last = packer.finish()
    if last is not None:
        yield last


@attrs.frozen(kw_only=True)
class Sent:
    """What a :class:`Sender` reports for a request the API accepted.

    ``body``: the 2xx answer's body (empty for Redo's 202); ``requests``:
    HTTP attempts; ``retries``: attempts after the first; ``rate_limited``:
    429 answers seen.
    """

    body: bytes = b""
    requests: int = 1
    retries: int = 0
    rate_limited: int = 0


class Sender(Protocol):
    """Posts one request. ``RedoClient`` is the sender of every front end."""

    def send_batch(self, batch: Batch) -> Sent:
        """Post ``batch``, paced and retried; raise the typed :class:`APIError` when it fails."""
        ...

    def retryable(self, error: APIError) -> bool:
        """Whether a later try may get past ``error`` (no answer, 408, 429, 5xx)."""
        ...


@attrs.frozen(kw_only=True)
class ServerRejection:
    """An event of an accepted bulk request that the server's report says it dropped.

    ``index``: its position in the request; ``message``: the server's reason.
    """

    event: PreparedEvent
    index: int
    message: str

    def problem(self) -> Problem:
        """The rejection as a :class:`Problem`, for a report beside local rejections."""
        return Problem(
            path="$",
            rule="server-rejected",
            message=f"the API's bulk report rejected this event: {self.message}",
            hint="fix what the message names and send the event again",
        )


@attrs.frozen(kw_only=True)
class Outcome:
    """How one request ended.

    ``error`` is ``None`` when the API accepted it; then ``rejected`` lists
    the events its per-event report (if it sent one) says were dropped, and
    every other event was accepted. Otherwise no event counts as delivered:
    ``error`` is the typed failure and ``retryable`` whether a later try may
    get past it. ``sent`` carries the attempt counters either way.
    """

    batch: Batch
    error: APIError | None = None
    retryable: bool = False
    sent: Sent = Sent()
    rejected: tuple[ServerRejection, ...] = ()

    @property
    def accepted(self) -> list[PreparedEvent]:
        """The events the API took: all of an accepted request but the rejected ones."""
        if self.error is not None:
            return []
        if not self.rejected:
            return list(self.batch.events)
        dropped = {r.index for r in self.rejected}
        return [e for i, e in enumerate(self.batch.events) if i not in dropped]


T = TypeVar("T")


@attrs.frozen(kw_only=True)
class Job(Generic[T]):
    """A request to deliver (``batch``; ``None`` for a job with nothing to send) and its context.

    ``context`` travels to the job's settlement unchanged: the importer's
    position in its input, the batcher's outbox lease.
    """

    batch: Batch | None
    context: T


def send(sender: Sender, batch: Batch) -> Outcome:
    """Post ``batch`` through ``sender`` and say how it ended; raises nothing but bugs."""
    try:
        sent = sender.send_batch(batch)
    except APIError as exc:
        result = getattr(exc, "result", None)
        counters = Sent(
            requests=getattr(result, "requests", 0),
            retries=getattr(result, "retries", 0),
            rate_limited=getattr(result, "rate_limited", 0),
        )
        return Outcome(batch=batch, error=exc, retryable=sender.retryable(exc), sent=counters)
    return Outcome(batch=batch, sent=sent, rejected=server_rejections(batch, sent.body))


def server_rejections(batch: Batch, body: bytes) -> tuple[ServerRejection, ...]:
    """The events a 2xx bulk answer's per-event report says were rejected.

    Redo's published bulk answer is 202 with no body; its schema sources also
    hold a report (``events``: one item per request item, with ``index``,
    ``status`` ``queued`` or ``rejected`` and ``error``). When an answer
    carries one, its rejections are the server's word; anything else in the
    body is ignored.
    """
    if batch.endpoint != BULK or not body.strip():
        return ()
    try:
        report = orjson.loads(body)
    except orjson.JSONDecodeError:
        return ()
    if not bulk_report_validator().is_valid(report):
        return ()
    rejected: list[ServerRejection] = []
    for item in report["events"]:
        index = item["index"]
        if item["status"] == "rejected" and index < len(batch.events):
            rejected.append(
                ServerRejection(
                    event=batch.events[index],
                    index=index,
                    message=item.get("error") or "rejected by the server",
                )
            )
    return tuple(rejected)


def deliver(
    jobs: Iterable[Job[T]],
    sender: Sender,
    settle: Callable[[Job[T], Outcome | None], object],
    *,
    concurrency: int,
    ordered: bool = True,
    stop_on_failure: bool = True,
) -> bool:
    """Deliver every job's request, up to ``concurrency`` at a time; settle each one once.

    ``settle(job, outcome)`` gets every job read from ``jobs``: with its
    :class:`Outcome`, or ``None`` for a job without a request. With
    ``ordered`` (default) jobs are settled in input order, on the calling
    thread, and at most ``2 x concurrency`` finished jobs wait behind a slower
    one; otherwise each is settled as its request ends, on the thread that
    sent it. The next job is read only when a request slot is free, so
    nothing read waits unsent. With ``stop_on_failure`` (default) no job is
    read after a request failed for good. Returns whether every request
    read was accepted.

    An exception other than :class:`APIError`, from the sender or from an
    ordered ``settle``, is a bug: it propagates once the requests in flight
    have ended (at once if it is an interrupt, such as Ctrl-C). An unordered
    ``settle`` must not raise: what it raises is logged.
    """
    if concurrency < 1:
        raise ValueError(f"concurrency must be >= 1, got {concurrency}")
    workers = _Workers(sender, concurrency, None if ordered else settle)
    if not ordered:
        # A drain lives as long as its batcher: its threads start now, not at
        # the last flush, when Python 3.12+ no longer starts threads.
        workers.start_all()
    window: deque[tuple[Job[T], Future[Outcome] | None]] = deque()

    def settle_done(block: bool) -> None:
        while window:
            job, future = window[0]
            if future is not None and not future.done():
                if not block:
                    return
                wait([future])
            window.popleft()
            settle(job, None if future is None else future.result())

    iterator = iter(jobs)
    finished = False
    try:
        while True:
            workers.slot.acquire()
            if stop_on_failure and workers.failed:
                workers.slot.release()
                break
            try:
                job = next(iterator, _END)
            except BaseException:
                workers.slot.release()
                raise
            if job is _END or job.batch is None:
                workers.slot.release()
                if job is _END:
                    break
                if ordered:
                    window.append((job, None))
                    settle_done(block=False)
                else:
                    settle(job, None)
                continue
            future = workers.submit(job, job.batch)
            if ordered:
                window.append((job, future))
                settle_done(block=False)
                while len(window) > 2 * concurrency:
                    head = window[0][1]
                    if head is not None:
                        wait([head])
                    settle_done(block=False)
        settle_done(block=True)
        finished = True
    finally:
        workers.stop(wait=finished)
    return not workers.failed


_END: Any = object()


async def adeliver(
    jobs: AsyncIterator[Job[T]],
    post: Callable[[Batch], Awaitable[Outcome]],
    settle: Callable[[Job[T], Outcome | None], object],
    *,
    concurrency: int,
) -> bool:
    """:func:`deliver` for asyncio: up to ``concurrency`` requests at once, settled in order.

    ``post(batch)`` sends one request and says how it ended (raising
    nothing but bugs, as :func:`send` does), typically on a thread.
    ``settle`` gets every job read from ``jobs`` in input order, on the
    loop: with its outcome, or ``None`` for a job without a request; at
    most ``2 x concurrency`` finished jobs wait behind a slower one. The
    next job is read only when a request may start, and none after a
    request failed for good; the requests in flight still finish and are
    settled. Returns whether every request read was accepted. ``jobs`` is
    closed when delivery ends.

    Cancelled (or on a bug), it cancels its requests and raises: a
    ``post`` that has not handed its request over yet sends nothing, one
    that has lets it finish on its own; none of them is settled.
    """
    import asyncio

    if concurrency < 1:
        raise ValueError(f"concurrency must be >= 1, got {concurrency}")
    window: deque[tuple[Job[T], asyncio.Future[Outcome] | None]] = deque()
    # The loop holds tasks weakly: this set holds every request until it has ended.
    alive: set[asyncio.Future[Outcome]] = set()
    failed = False

    def settle_finished() -> None:
        nonlocal failed
        while window and (window[0][1] is None or window[0][1].done()):
            job, request = window.popleft()
            outcome = None if request is None else request.result()
            failed = failed or (outcome is not None and outcome.error is not None)
            settle(job, outcome)

    def unfinished() -> list[asyncio.Future[Outcome]]:
        return [r for _, r in window if r is not None and not r.done()]

    def any_failed() -> bool:
        return failed or any(
            r is not None and r.done() and r.result().error is not None for _, r in window
        )

    try:
        while True:
            settle_finished()
            running = unfinished()
            if len(window) >= 2 * concurrency:
                await asyncio.wait(running[:1])  # the head: the oldest unfinished
                continue
            if len(running) >= concurrency:
                await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
                continue
            if any_failed():
                break
            job = await anext(jobs, _END)
            if job is _END:
                break
            if job.batch is None:
                window.append((job, None))
                continue
            started = asyncio.ensure_future(post(job.batch))
            alive.add(started)
            started.add_done_callback(alive.discard)
            window.append((job, started))
        while window:
            running = unfinished()
            if running:
                await asyncio.wait(running[:1])
            settle_finished()
    except BaseException:
        for _, request in window:
            if request is not None:
                request.cancel()
        raise
    finally:
        close = getattr(jobs, "aclose", None)
        if close is not None:
            await close()
    return not failed


class _Workers:
    """Daemon threads that send jobs; a semaphore of free slots bounds them."""

    def __init__(
        self,
        sender: Sender,
        count: int,
        settle: Callable[[Job[Any], Outcome | None], object] | None,
    ) -> None:
        self.slot = threading.Semaphore(count)
        self.failed = False
        self._sender = sender
        self._settle = settle
        self._count = count
        self._tasks: queue.SimpleQueue[tuple[Job[Any], Batch, Future[Outcome]] | None] = (
            queue.SimpleQueue()
        )
        self._threads: list[threading.Thread] = []

    def start_all(self) -> None:
        """Start every thread now, not on demand: for a long-lived delivery."""
        while len(self._threads) < self._count and self._start():
            pass

    def submit(self, job: Job[Any], batch: Batch) -> Future[Outcome]:
        future: Future[Outcome] = Future()
        if len(self._threads) < self._count:
            self._start()
        self._tasks.put((job, batch, future))
        if not self._threads:
            # No thread could start (Python 3.12+ at interpreter exit): send here.
            self._tasks.put(None)
            self._run()
        return future

    def _start(self) -> bool:
        thread = start_daemon(self._run, "redo-kit-delivery")
        if thread is None:
            return False
        self._threads.append(thread)
        return True

    def _run(self) -> None:
        while True:
            task = self._tasks.get()
            if task is None:
                return
            job, batch, future = task
            try:
                outcome = send(self._sender, batch)
                if outcome.error is not None:
                    self.failed = True
                if self._settle is not None:
                    self._settle(job, outcome)
            except BaseException as exc:  # a bug: surfaced by the future, never swallowed
                if self._settle is not None:
                    logger.exception("redo-kit delivery: settling a request failed")
                future.set_exception(exc)
            else:
                future.set_result(outcome)
            finally:
                self.slot.release()

    def stop(self, *, wait: bool) -> None:
        """Let the threads go once idle; with ``wait``, after every request in flight ended."""
        if wait:
            for _ in range(self._count):
                self.slot.acquire()
        for _ in self._threads:
            self._tasks.put(None)
        if wait:
            # Idle now, they end at once: joined, so that nothing they hold
            # (a batcher's settle) outlives the delivery.
            for thread in self._threads:
                if thread is not threading.current_thread():
                    thread.join()
