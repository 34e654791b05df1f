"""Where a batcher keeps events until Redo has them: the :class:`Outbox` protocol.

The batcher puts each prepared event into an outbox on the caller's thread;
its drain leases the oldest events that fit one request, delivers them
through the delivery engine, then acks the lease (delivered, or given up for
good) or releases it (a retryable failure: the events are due again later).
An event leaves the outbox only through an ack, so an event is never lost
between a lease and its answer.

Backends: :class:`MemoryOutbox` (the default, bounded by events and bytes,
gone with the process) and :class:`~redo_kit._outbox_sqlite.SqliteOutbox`
(a file, committed before ``track()`` returns). The protocol is kept narrow so
that other stores can stand behind it.

Times are Unix seconds (``time.time()``), so that a persisted outbox keeps
its meaning across processes; ``seq`` numbers grow with every put and order
the events.
"""

from __future__ import annotations

import heapq
import logging
import threading
import time
from collections import deque
from collections.abc import Sequence
from typing import Literal, Protocol

import attrs

from redo_kit._delivery import Room
from redo_kit._errors import ConfigurationError, QueueFullError
from redo_kit._events import PreparedEvent
from redo_kit._rules import limits

__all__ = [
    "OVERFLOWS",
    "DropReason",
    "Dropped",
    "Lease",
    "MemoryOutbox",
    "Outbox",
    "OutboxSize",
    "Overflow",
    "admits",
    "append_dead_letter",
    "check_overflow",
    "queue_full",
]

logger = logging.getLogger("redo_kit")

Overflow = Literal["block", "drop_newest", "drop_oldest", "raise"]
"""What ``put`` does when the outbox is full (see :class:`MemoryOutbox`)."""

OVERFLOWS: frozenset[str] = frozenset({"block", "drop_newest", "drop_oldest", "raise"})

DropReason = Literal["queue-full", "evicted", "closed", "expired", "undelivered"]
"""Why an event was given up without being delivered: refused by a full
outbox (``drop_newest``, or ``block`` after its timeout), pushed out by a
newer one (``drop_oldest``), tracked or still held when the batcher closed,
past its delivery budget (``expired``), or refused by the API for good
(``undelivered``)."""

Dropped = tuple[PreparedEvent, DropReason]


def check_overflow(overflow: str) -> None:
    """Raise :class:`ConfigurationError` unless ``overflow`` is one of :data:`OVERFLOWS`."""
    if overflow not in OVERFLOWS:
        raise ConfigurationError(f"overflow must be one of {sorted(OVERFLOWS)}, got {overflow!r}")


def admits(held: int, held_bytes: int, size: int, *, max_events: int, max_bytes: int) -> bool:
    """Whether an outbox holding ``held`` events of ``held_bytes`` takes one of ``size`` bytes.

    Leased events are not counted as held: they are on their way. An empty
    outbox takes any event, however large, so that one event over
    ``max_bytes`` is still delivered rather than refused for ever.
    """
    if held == 0:
        return True
    return held < max_events and held_bytes + size <= max_bytes


def queue_full(held: int, held_bytes: int, event: PreparedEvent) -> QueueFullError:
    """The error ``put`` raises when the outbox is full and its overflow policy is ``"raise"``."""
    return QueueFullError(
        f"the batcher's queue is full ({held:,} events, {held_bytes:,} bytes): "
        f"event {event.unique_id!r} was not queued",
        event,
    )


@attrs.frozen(kw_only=True)
class Lease:
    """Events taken from an outbox for one request; they stay there until acked.

    ``events``: in ``seq`` order; ``enqueued_at``: when the oldest of them
    was put (Unix seconds), where its delivery budget starts; ``attempts``:
    requests already tried for any of them and released; ``token``: the
    backend's handle for this lease.
    """

    events: tuple[PreparedEvent, ...]
    enqueued_at: float
    attempts: int
    token: int


@attrs.frozen(kw_only=True)
class OutboxSize:
    """What an outbox holds at one instant.

    ``events`` and ``bytes`` (serialized): every event not yet acked, leased
    ones included; ``leased``: those in a request now; ``oldest``: the lowest
    ``seq`` still held, ``None`` when empty; ``last_put``: the highest ``seq``
    ever given (0 before the first put), so that a batcher opening a durable
    outbox knows which events were there before it.
    """

    events: int
    bytes: int
    leased: int
    oldest: int | None
    last_put: int = 0


class Outbox(Protocol):
    """Keeps prepared events until they are acked. Thread-safe."""

    def put(self, event: PreparedEvent) -> tuple[int, list[Dropped]]:
        """Keep ``event``; its ``seq`` (0 if it was refused) and the events given up for it.

        Runs on the caller of ``track()``: a durable backend returns only
        once the event is stored. When full, the backend's overflow policy
        decides; ``"raise"`` raises :class:`QueueFullError`.
        """
        ...

    def lease(
        self, room: Room, *, linger: float, wait: float, urgent_through: int = 0
    ) -> Lease | None:
        """Take the oldest due events that fit ``room``, or ``None`` if none is ready.

        Ready means: due events fill a request, the oldest due one was put at
        least ``linger`` seconds ago, or its ``seq`` is at most
        ``urgent_through`` (a flush asked for it). Waits up to ``wait``
        seconds for that, or until :meth:`wake`. Events released for later
        are due at their ``retry_at``.
        """
        ...

    def ack(self, lease: Lease) -> None:
        """Forget the lease's events: delivered, or given up and reported."""
        ...

    def release(self, lease: Lease, *, retry_at: float) -> None:
        """Give the lease's events back, due again at ``retry_at`` (Unix seconds)."""
        ...

    def wake(self) -> None:
        """Make a waiting :meth:`lease` (or the next one) return at once, so its caller
        can call again with new arguments."""
        ...

    def size(self) -> OutboxSize:
        """The counts now."""
        ...

    def close(self) -> list[PreparedEvent]:
        """Stop accepting events; the events lost with this outbox (none for a durable one)."""
        ...

    def fork_child(self) -> Outbox:
        """The outbox to use in a child process after ``os.fork``.

        A memory outbox gives an empty one (the child never sends the
        parent's events); a durable one gives a new handle on the same store.
        """
        ...


# An entry of a memory outbox: (seq, event, body size, put at, attempts).
_Entry = tuple[int, PreparedEvent, int, float, int]


class MemoryOutbox:
    """An outbox in this process's memory, bounded by events and bytes.

    ``max_events``: events held, leased ones excluded; default 10,000.
    ``max_bytes``: serialized bytes held, leased ones excluded; default 32 MiB.
    An event larger than that is still taken into an empty outbox.
    ``overflow``: when full, ``"block"`` (default) waits up to
    ``block_timeout`` seconds for room, then refuses the event as
    ``queue-full``; ``"drop_newest"`` refuses the new event; ``"drop_oldest"``
    gives up the oldest waiting ones (``evicted``) to make room; ``"raise"``
    raises :class:`QueueFullError`.
    ``block_timeout``: seconds a put may block; default 1.
    """

    def __init__(
        self,
        *,
        max_events: int = 10_000,
        max_bytes: int = 32 * 1024 * 1024,
        overflow: Overflow = "block",
        block_timeout: float = 1.0,
    ) -> None:
        check_overflow(overflow)
        self._max_events = max_events
        self._max_bytes = max_bytes
        self._overflow = overflow
        self._block_timeout = block_timeout
        self._lock = threading.Lock()
        self._ready = threading.Condition(self._lock)
        self._room = threading.Condition(self._lock)
        self._waiting: deque[_Entry] = deque()
        self._waiting_bytes = 0
        self._later_bytes = 0
        self._most = limits().bulk_events[1]
        # Released events, by when they are due again: (retry_at, seq, entry).
        self._later: list[tuple[float, int, _Entry]] = []
        self._leases: dict[int, list[_Entry]] = {}
        self._leased_bytes = 0
        self._tokens = 0
        self._seq = 0
        self._blocked = 0
        self._leasing = 0  # leases waiting on _ready
        self._closed = False
        self._woken = False

    # -- put -----------------------------------------------------------------

    def put(self, event: PreparedEvent) -> tuple[int, list[Dropped]]:
        size = len(event.body)
        dropped: list[Dropped] = []
        with self._lock:
            if self._closed:
                return 0, [(event, "closed")]
            waiting = self._waiting
            if not self._has_room(size):
                if self._overflow == "drop_oldest":
                    while not self._has_room(size):
                        if waiting:
                            oldest = waiting.popleft()
                            self._waiting_bytes -= oldest[2]
                        else:
                            oldest = self._pop_later()
                        dropped.append((oldest[1], "evicted"))
                elif self._overflow == "block":
                    refused = self._wait_for_room(size)
                    if refused:
                        return 0, [(event, refused)]
                elif self._overflow == "drop_newest":
                    return 0, [(event, "queue-full")]
                else:
                    raise queue_full(self._held(), self._waiting_bytes + self._later_bytes, event)
            self._seq += 1
            waiting.append((self._seq, event, size, time.time(), 0))
            self._waiting_bytes += size
            # A lease waiting for events learns of the first one (to start its
            # linger) and of a full request. Condition.notify costs about a
            # microsecond even with nobody waiting, so it is skipped then.
            if self._leasing and (len(waiting) == 1 or len(waiting) >= self._most):
                self._ready.notify()
            return self._seq, dropped

    def _held(self) -> int:
        return len(self._waiting) + len(self._later)

    def _has_room(self, size: int) -> bool:
        # Every put asks: the count is written out rather than asked of _held.
        return admits(
            len(self._waiting) + len(self._later),
            self._waiting_bytes + self._later_bytes,
            size,
            max_events=self._max_events,
            max_bytes=self._max_bytes,
        )

    def _pop_later(self) -> _Entry:
        later = min(self._later, key=lambda item: item[1])
        self._later.remove(later)
        heapq.heapify(self._later)
        self._later_bytes -= later[2][2]
        return later[2]

    def _wait_for_room(self, size: int) -> DropReason | None:
        deadline = time.monotonic() + self._block_timeout
        self._blocked += 1
        try:
            while not self._has_room(size):
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._closed:
                    return "closed" if self._closed else "queue-full"
                self._room.wait(remaining)
        finally:
            self._blocked -= 1
        return "closed" if self._closed else None

    # -- lease ---------------------------------------------------------------

    def lease(
        self, room: Room, *, linger: float, wait: float, urgent_through: int = 0
    ) -> Lease | None:
        deadline = time.monotonic() + wait
        with self._lock:
            while True:
                now = time.time()
                self._move_due(now)
                waiting = self._waiting
                remaining = deadline - time.monotonic()
                if waiting:
                    head_seq, head_at = waiting[0][0], waiting[0][3]
                    if (
                        head_seq <= urgent_through
                        or now - head_at >= linger
                        or room.would_fill(len(waiting), self._waiting_bytes)
                    ):
                        break
                    pause = min(head_at + linger - now, remaining)
                else:
                    pause = remaining
                    if self._later:
                        pause = min(pause, self._later[0][0] - now)
                if self._woken:
                    self._woken = False
                    return None
                if remaining <= 0:
                    return None
                if pause > 0:
                    self._leasing += 1
                    try:
                        self._ready.wait(pause)
                    finally:
                        self._leasing -= 1
            self._woken = False
            taken: list[_Entry] = []
            events: list[PreparedEvent] = []
            taken_bytes = attempts = 0
            enqueued_at = waiting[0][3]
            # One pass over the taken events: this runs for every event delivered.
            while waiting and room.take(waiting[0][2]):
                entry = waiting.popleft()
                taken.append(entry)
                events.append(entry[1])
                taken_bytes += entry[2]
                if entry[3] < enqueued_at:
                    enqueued_at = entry[3]
                if entry[4] > attempts:
                    attempts = entry[4]
            self._waiting_bytes -= taken_bytes
            self._leased_bytes += taken_bytes
            self._tokens += 1
            self._leases[self._tokens] = taken
            if self._blocked:
                self._room.notify(len(taken))
            if waiting and self._leasing:
                self._ready.notify()
            return Lease(
                events=tuple(events),
                enqueued_at=enqueued_at,
                attempts=attempts,
                token=self._tokens,
            )

    def _move_due(self, now: float) -> None:
        """Move released events whose time came back to the front of the line. Lock held."""
        if not self._later or self._later[0][0] > now:
            return
        due: list[_Entry] = []
        while self._later and self._later[0][0] <= now:
            due.append(heapq.heappop(self._later)[2])
        due.sort(key=lambda entry: entry[0])
        moved = sum(entry[2] for entry in due)
        self._later_bytes -= moved
        self._waiting_bytes += moved
        self._waiting.extendleft(reversed(due))

    def ack(self, lease: Lease) -> None:
        with self._lock:
            taken = self._leases.pop(lease.token, [])
            self._leased_bytes -= sum(entry[2] for entry in taken)

    def release(self, lease: Lease, *, retry_at: float) -> None:
        with self._lock:
            taken = self._leases.pop(lease.token, [])
            for seq, event, size, put_at, attempts in taken:
                self._leased_bytes -= size
                self._later_bytes += size
                heapq.heappush(
                    self._later, (retry_at, seq, (seq, event, size, put_at, attempts + 1))
                )
            self._ready.notify()

    def wake(self) -> None:
        with self._lock:
            self._woken = True
            self._ready.notify_all()

    def size(self) -> OutboxSize:
        with self._lock:
            oldest: list[int] = []
            if self._waiting:
                oldest.append(self._waiting[0][0])
            if self._later:
                oldest.append(min(item[1] for item in self._later))
            for taken in self._leases.values():
                if taken:
                    oldest.append(taken[0][0])
            leased = sum(len(taken) for taken in self._leases.values())
            return OutboxSize(
                events=self._held() + leased,
                bytes=self._waiting_bytes + self._later_bytes + self._leased_bytes,
                leased=leased,
                oldest=min(oldest) if oldest else None,
                last_put=self._seq,
            )

    def close(self) -> list[PreparedEvent]:
        with self._lock:
            self._closed = True
            lost = [entry[1] for entry in self._waiting]
            lost.extend(item[2][1] for item in sorted(self._later, key=lambda item: item[1]))
            self._waiting.clear()
            self._later.clear()
            self._waiting_bytes = 0
            self._later_bytes = 0
            self._ready.notify_all()
            self._room.notify_all()
            return lost

    def fork_child(self) -> MemoryOutbox:
        return MemoryOutbox(
            max_events=self._max_events,
            max_bytes=self._max_bytes,
            overflow=self._overflow,
            block_timeout=self._block_timeout,
        )


def append_dead_letter(path: str, events: Sequence[PreparedEvent], lock: threading.Lock) -> bool:
    """Append ``events`` to the dead-letter file ``path``, one JSON line each; whether it worked.

    ``lock`` keeps the lines of two writers of one process apart. A file
    that cannot be written is logged with the count and the path, never
    raised: the caller decides what becomes of the events.
    """
    lines = b"".join(event.body + b"\n" for event in events)
    try:
        with lock, open(path, "ab") as file:
            file.write(lines)
    except OSError:
        logger.exception(
            "redo-kit could not write %d event(s) to the dead-letter file %s", len(events), path
        )
        return False
    return True
