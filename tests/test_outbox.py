"""The Outbox contract, held by every backend: MemoryOutbox and SqliteOutbox run the same tests.

Real clocks with short times: lingers and timeouts of a few tenths of a
second, so each test stays well under two seconds.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from redo_kit._delivery import ENVELOPE_BYTES, Room
from redo_kit._errors import ConfigurationError, QueueFullError
from redo_kit._events import PreparedEvent
from redo_kit._outbox import MemoryOutbox, Outbox
from redo_kit._outbox_sqlite import SqliteOutbox
from redo_kit._rules import limits

MakeOutbox = Callable[..., Outbox]


def event(n: int, *, pad: int = 0) -> PreparedEvent:
    """Event number ``n``, its body about 100 bytes plus ``pad``, its uniqueId ``ev-{n}``."""
    payload: dict[str, Any] = {
        "eventName": "Page Viewed",
        "uniqueId": f"ev-{n}",
        "customer": {"email": f"user{n}@example.com"},
        "data": {"Page": "p" * pad, "Visits": n},
    }
    return PreparedEvent(payload=payload, body=orjson.dumps(payload), unique_id=f"ev-{n}")


def ids(events: Any) -> list[str]:
    return [e.unique_id for e in events]


@pytest.fixture(params=["memory", "sqlite"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def make(kind: str, tmp_path: Path) -> Iterator[MakeOutbox]:
    """Opens outboxes of the backend under test; closes them after the test."""
    opened: list[Outbox] = []
    counter = iter(range(1000))

    def open_outbox(**options: Any) -> Outbox:
        outbox: Outbox
        if kind == "memory":
            outbox = MemoryOutbox(**options)
        else:
            outbox = SqliteOutbox(tmp_path / f"outbox{next(counter)}.sqlite3", **options)
        opened.append(outbox)
        return outbox

    yield open_outbox
    for outbox in opened:
        outbox.close()


def lease_now(outbox: Outbox) -> Any:
    return outbox.lease(Room(), linger=0, wait=0)


def test_put_lease_ack_in_seq_order(make: MakeOutbox) -> None:
    outbox = make()
    seqs = [outbox.put(event(n))[0] for n in range(5)]
    assert seqs == sorted(seqs)
    assert len(set(seqs)) == 5
    assert all(s > 0 for s in seqs)
    before = time.time()
    lease = lease_now(outbox)
    assert lease is not None
    assert ids(lease.events) == [f"ev-{n}" for n in range(5)]
    assert lease.events == tuple(event(n) for n in range(5))
    assert lease.events[0].payload == event(0).payload
    assert lease.attempts == 0
    assert before - 5 < lease.enqueued_at <= before
    assert outbox.size().leased == 5
    assert lease_now(outbox) is None
    outbox.ack(lease)
    assert outbox.size().events == 0
    assert outbox.size().oldest is None


def test_seq_keeps_growing_after_ack(make: MakeOutbox) -> None:
    outbox = make()
    first, _ = outbox.put(event(1))
    lease = lease_now(outbox)
    outbox.ack(lease)
    second, _ = outbox.put(event(2))
    assert second > first


def test_release_makes_events_due_at_retry_at_with_one_attempt_more(make: MakeOutbox) -> None:
    outbox = make()
    for n in range(3):
        outbox.put(event(n))
    lease = lease_now(outbox)
    outbox.put(event(3))
    outbox.release(lease, retry_at=time.time() + 0.3)
    newer = lease_now(outbox)
    assert ids(newer.events) == ["ev-3"]
    assert lease_now(outbox) is None
    started = time.monotonic()
    again = outbox.lease(Room(), linger=0, wait=1.0)
    assert 0.2 <= time.monotonic() - started < 0.9
    assert ids(again.events) == ["ev-0", "ev-1", "ev-2"]
    assert again.attempts == 1
    assert again.enqueued_at == lease.enqueued_at


def test_released_due_events_go_before_newer_ones(make: MakeOutbox) -> None:
    outbox = make()
    outbox.put(event(0))
    lease = lease_now(outbox)
    outbox.put(event(1))
    outbox.release(lease, retry_at=time.time() - 1)
    again = lease_now(outbox)
    assert ids(again.events) == ["ev-0", "ev-1"]
    assert again.attempts == 1


def test_room_fills_by_count(make: MakeOutbox) -> None:
    most = limits().bulk_events[1]
    outbox = make()
    for n in range(most + 20):
        outbox.put(event(n))
    first = outbox.lease(Room(), linger=10, wait=0)
    assert first is not None
    assert len(first.events) == most
    second = lease_now(outbox)
    assert ids(second.events) == [f"ev-{n}" for n in range(most, most + 20)]


def test_room_fills_by_bytes_without_lingering(make: MakeOutbox) -> None:
    max_body = limits().max_body_bytes
    pad = max_body // 3 - len(event(0).body)
    big = [event(n, pad=pad) for n in range(3)]
    assert 2 * len(big[0].body) + ENVELOPE_BYTES + 1 <= max_body
    assert 3 * len(big[0].body) + ENVELOPE_BYTES + 2 > max_body
    outbox = make()
    for e in big:
        outbox.put(e)
    started = time.monotonic()
    lease = outbox.lease(Room(), linger=10, wait=1)
    assert time.monotonic() - started < 0.5
    assert ids(lease.events) == ["ev-0", "ev-1"]
    assert ids(lease_now(outbox).events) == ["ev-2"]


def test_linger_waits_for_the_oldest_event(make: MakeOutbox) -> None:
    outbox = make()
    outbox.put(event(0))
    assert outbox.lease(Room(), linger=5, wait=0.1) is None
    started = time.monotonic()
    lease = outbox.lease(Room(), linger=0.4, wait=1.5)
    assert lease is not None
    assert 0.15 <= time.monotonic() - started < 1.2


def test_lease_on_empty_outbox_waits_then_gives_none(make: MakeOutbox) -> None:
    outbox = make()
    started = time.monotonic()
    assert outbox.lease(Room(), linger=0, wait=0.2) is None
    assert 0.15 <= time.monotonic() - started < 1.0


def test_put_wakes_a_waiting_lease(make: MakeOutbox) -> None:
    outbox = make()
    got: list[Any] = []
    waiter = threading.Thread(target=lambda: got.append(outbox.lease(Room(), linger=0, wait=1.5)))
    waiter.start()
    time.sleep(0.1)
    put_at = time.monotonic()
    outbox.put(event(0))
    waiter.join()
    assert time.monotonic() - put_at < 0.5
    assert ids(got[0].events) == ["ev-0"]


def test_filling_a_request_ends_a_lingering_lease(make: MakeOutbox) -> None:
    most = limits().bulk_events[1]
    outbox = make()
    outbox.put(event(0))
    got: list[Any] = []
    waiter = threading.Thread(target=lambda: got.append(outbox.lease(Room(), linger=10, wait=5)))
    waiter.start()
    time.sleep(0.1)
    filled_at = time.monotonic()
    for n in range(1, most):
        outbox.put(event(n))
    waiter.join()
    assert time.monotonic() - filled_at < 1.0
    assert len(got[0].events) == most


def test_wake_ends_a_wait_on_an_empty_outbox(make: MakeOutbox) -> None:
    outbox = make()
    got: list[Any] = []
    waiter = threading.Thread(target=lambda: got.append(outbox.lease(Room(), linger=10, wait=5)))
    waiter.start()
    time.sleep(0.1)
    woken_at = time.monotonic()
    outbox.wake()
    waiter.join()
    assert time.monotonic() - woken_at < 0.5
    assert got == [None]


def test_urgent_events_cut_a_linger_short(make: MakeOutbox) -> None:
    outbox = make()
    first, _ = outbox.put(event(0))
    outbox.put(event(1))
    # A flush asks for everything up to its seq: those events go at once,
    # with what follows them in the same request.
    started = time.monotonic()
    lease = outbox.lease(Room(), linger=10, wait=5, urgent_through=first)
    assert time.monotonic() - started < 1
    assert lease is not None
    assert ids(lease.events) == ["ev-0", "ev-1"]
    outbox.put(event(2))
    assert outbox.lease(Room(), linger=10, wait=0.2, urgent_through=first) is None


def test_a_wake_makes_a_lingering_lease_return_so_its_caller_can_look_again(
    make: MakeOutbox,
) -> None:
    outbox = make()
    outbox.put(event(0))
    timer = threading.Timer(0.2, outbox.wake)
    timer.start()
    started = time.monotonic()
    assert outbox.lease(Room(), linger=10, wait=5) is None
    assert time.monotonic() - started < 2
    timer.join()


def test_drop_newest_refuses_the_new_event(make: MakeOutbox) -> None:
    outbox = make(max_events=3, overflow="drop_newest")
    for n in range(3):
        assert outbox.put(event(n))[1] == []
    assert outbox.put(event(3)) == (0, [(event(3), "queue-full")])
    assert outbox.size().events == 3


def test_drop_oldest_evicts_the_oldest_waiting(make: MakeOutbox) -> None:
    outbox = make(max_events=3, overflow="drop_oldest")
    for n in range(3):
        outbox.put(event(n))
    seq, dropped = outbox.put(event(3))
    assert seq > 0
    assert dropped == [(event(0), "evicted")]
    assert ids(lease_now(outbox).events) == ["ev-1", "ev-2", "ev-3"]


def test_drop_oldest_by_bytes_evicts_as_many_as_needed(make: MakeOutbox) -> None:
    size = len(event(0).body)
    outbox = make(max_bytes=3 * size + 10, overflow="drop_oldest")
    for n in range(3):
        outbox.put(event(n))
    _, dropped = outbox.put(event(3, pad=size))
    assert [(e.unique_id, why) for e, why in dropped] == [("ev-0", "evicted"), ("ev-1", "evicted")]
    assert outbox.size().events == 2


def test_raise_raises_queue_full_with_the_event(make: MakeOutbox) -> None:
    outbox = make(max_events=2, overflow="raise")
    outbox.put(event(0))
    outbox.put(event(1))
    with pytest.raises(QueueFullError, match="ev-2") as caught:
        outbox.put(event(2))
    assert caught.value.event == event(2)
    assert outbox.size().events == 2


def test_block_refuses_after_its_timeout(make: MakeOutbox) -> None:
    outbox = make(max_events=1, overflow="block", block_timeout=0.2)
    outbox.put(event(0))
    started = time.monotonic()
    assert outbox.put(event(1)) == (0, [(event(1), "queue-full")])
    assert 0.15 <= time.monotonic() - started < 1.0


def test_block_takes_the_event_once_a_lease_makes_room(make: MakeOutbox) -> None:
    outbox = make(max_events=1, overflow="block", block_timeout=1.5)
    outbox.put(event(0))
    leased: list[Any] = []

    def drain() -> None:
        time.sleep(0.1)
        leased.append(lease_now(outbox))

    drainer = threading.Thread(target=drain)
    drainer.start()
    seq, dropped = outbox.put(event(1))
    drainer.join()
    assert seq > 0
    assert dropped == []
    assert ids(leased[0].events) == ["ev-0"]


def test_block_gives_up_as_closed_when_the_outbox_closes(make: MakeOutbox) -> None:
    outbox = make(max_events=1, overflow="block", block_timeout=1.5)
    outbox.put(event(0))
    closer = threading.Timer(0.1, outbox.close)
    closer.start()
    started = time.monotonic()
    assert outbox.put(event(1)) == (0, [(event(1), "closed")])
    assert time.monotonic() - started < 1.0
    closer.join()


def test_leased_events_do_not_count_against_the_bounds(make: MakeOutbox) -> None:
    outbox = make(max_events=2, overflow="drop_newest")
    outbox.put(event(0))
    outbox.put(event(1))
    lease = lease_now(outbox)
    assert outbox.put(event(2))[1] == []
    assert outbox.put(event(3))[1] == []
    assert outbox.put(event(4))[1] == [(event(4), "queue-full")]
    outbox.release(lease, retry_at=time.time() + 60)
    assert outbox.put(event(5))[1] == [(event(5), "queue-full")]


def test_bytes_bound_refuses_and_an_empty_outbox_takes_any_size(make: MakeOutbox) -> None:
    size = len(event(0).body)
    outbox = make(max_bytes=2 * size + size // 2, overflow="drop_newest")
    assert outbox.put(event(0))[1] == []
    assert outbox.put(event(1))[1] == []
    assert outbox.put(event(2))[1] == [(event(2), "queue-full")]
    huge = make(max_bytes=10, overflow="drop_newest")
    assert huge.put(event(9))[1] == []
    assert huge.put(event(10))[1] == [(event(10), "queue-full")]


def test_size_counts_and_oldest(make: MakeOutbox) -> None:
    outbox = make()
    assert outbox.size().events == 0
    seqs = [outbox.put(event(n))[0] for n in range(3)]
    total = sum(len(event(n).body) for n in range(3))
    size = outbox.size()
    assert (size.events, size.bytes, size.leased, size.oldest) == (3, total, 0, seqs[0])
    lease = outbox.lease(Room(), linger=0, wait=0)
    size = outbox.size()
    assert (size.events, size.bytes, size.leased, size.oldest) == (3, total, 3, seqs[0])
    outbox.release(lease, retry_at=time.time() + 60)
    assert outbox.size().leased == 0
    assert outbox.size().oldest == seqs[0]


def test_close_refuses_new_events_and_leases_nothing(make: MakeOutbox, kind: str) -> None:
    outbox = make()
    outbox.put(event(0))
    outbox.put(event(1))
    lost = outbox.close()
    # A durable backend (every one but memory) keeps them for a later process.
    assert lost == ([event(0), event(1)] if kind == "memory" else [])
    assert outbox.put(event(2)) == (0, [(event(2), "closed")])
    assert outbox.lease(Room(), linger=0, wait=0) is None
    assert outbox.close() == []


def test_unknown_overflow_is_a_configuration_error(make: MakeOutbox) -> None:
    with pytest.raises(ConfigurationError, match="overflow"):
        make(overflow="spill")


def test_threads_put_concurrently_and_nothing_is_lost(make: MakeOutbox) -> None:
    outbox = make()
    seqs: list[int] = []

    def put_many(t: int) -> None:
        for n in range(50):
            seqs.append(outbox.put(event(t * 1000 + n))[0])

    threads = [threading.Thread(target=put_many, args=(t,)) for t in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(seqs)) == 400
    got: list[str] = []
    while (lease := lease_now(outbox)) is not None:
        got.extend(ids(lease.events))
        outbox.ack(lease)
    assert sorted(got) == sorted(f"ev-{t * 1000 + n}" for t in range(8) for n in range(50))
