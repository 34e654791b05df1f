"""The Outbox contract on RedisOutbox, plus what only a shared Redis stream promises.

The contract's tests are those of tests/test_outbox.py, run here against a
real redis-server: the same functions, with ``make`` opening Redis outboxes.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis
import test_outbox as contract
from test_outbox import event, ids, lease_now

from redo_kit._delivery import Room
from redo_kit._errors import ConfigurationError, OutboxError
from redo_kit._outbox import Outbox
from redo_kit._outbox_redis import RedisOutbox, stream_keys
from redo_kit._redis import safe_url

MakeOutbox = Callable[..., Outbox]
_stores = itertools.count()

for _name in dir(contract):
    if _name.startswith("test_"):
        globals()[_name] = getattr(contract, _name)


@pytest.fixture
def kind() -> str:
    return "redis"


@pytest.fixture
def make(redis_url: str) -> Iterator[MakeOutbox]:
    """Opens Redis outboxes, each on a store (a stream) of its own; closes them after."""
    opened: list[Outbox] = []

    def open_outbox(**options: Any) -> Outbox:
        outbox = RedisOutbox(redis_url, store_id=f"store{next(_stores)}", **options)
        opened.append(outbox)
        return outbox

    yield open_outbox
    for outbox in opened:
        outbox.close()


def test_two_handles_share_one_stream_and_never_lease_an_event_twice(redis_url: str) -> None:
    first = RedisOutbox(redis_url, store_id="shared")
    second = RedisOutbox(redis_url, store_id="shared")
    try:
        for n in range(150):
            (first if n % 2 else second).put(event(n))
        a = lease_now(first)
        b = lease_now(second)
        assert len(a.events) == 100
        assert len(b.events) == 50
        assert set(ids(a.events)).isdisjoint(ids(b.events))
        assert sorted(ids(a.events) + ids(b.events)) == sorted(f"ev-{n}" for n in range(150))
        assert first.size().leased == 150
        first.ack(a)
        second.ack(b)
        assert second.size().events == 0
    finally:
        first.close()
        second.close()


def test_a_dead_relays_lease_is_taken_over_after_the_visibility_timeout(redis_url: str) -> None:
    dead = RedisOutbox(redis_url, store_id="takeover", visibility_timeout=0.5)
    alive = RedisOutbox(redis_url, store_id="takeover", visibility_timeout=0.5)
    try:
        for n in range(3):
            dead.put(event(n))
        taken = lease_now(dead)
        assert ids(taken.events) == ["ev-0", "ev-1", "ev-2"]
        # The dead handle's keeper stops: as if its process had been killed.
        dead._stop.set()
        assert alive.lease(Room(), linger=0, wait=0.2) is None
        again = alive.lease(Room(), linger=0, wait=3)
        assert again is not None
        assert ids(again.events) == ["ev-0", "ev-1", "ev-2"]
        assert again.attempts == 1
        # The late answer of the dead one still acks: the event was delivered.
        dead.ack(taken)
        alive.ack(again)
        assert alive.size().events == 0
        assert alive.size().leased == 0
    finally:
        alive.close()
        dead.close()


def test_a_late_ack_of_entries_released_since_leaves_every_counter_at_zero(
    redis_url: str,
) -> None:
    dead = RedisOutbox(redis_url, store_id="late", visibility_timeout=0.3)
    alive = RedisOutbox(redis_url, store_id="late", visibility_timeout=0.3)
    try:
        for n in range(4):
            dead.put(event(n))
        taken = lease_now(dead)
        dead._stop.set()
        again = alive.lease(Room(), linger=0, wait=3)
        assert again is not None
        assert ids(again.events) == ids(taken.events)
        # The second relay's request fails and goes back for later...
        alive.release(again, retry_at=time.time() + 60)
        assert alive.size().leased == 0
        # ...then the first one's request turns out to have been delivered.
        dead.ack(taken)
        meta = redis.Redis.from_url(redis_url).hgetall(stream_keys("late")[1])
        assert {
            k: int(meta.get(k.encode(), 0))
            for k in (
                "events",
                "bytes",
                "leased",
                "leased_bytes",
                "later_bytes",
            )
        } == dict.fromkeys(("events", "bytes", "leased", "leased_bytes", "later_bytes"), 0)
        assert redis.Redis.from_url(redis_url).zcard(stream_keys("late")[2]) == 0
        assert alive.lease(Room(), linger=0, wait=0.3) is None
    finally:
        alive.close()
        dead.close()


def test_a_live_relays_slow_request_is_not_taken_over(redis_url: str) -> None:
    slow = RedisOutbox(redis_url, store_id="slow", visibility_timeout=0.4)
    other = RedisOutbox(redis_url, store_id="slow", visibility_timeout=0.4)
    try:
        slow.put(event(0))
        lease = lease_now(slow)
        # Three visibility timeouts pass while the request is still in flight.
        assert other.lease(Room(), linger=0, wait=1.2) is None
        slow.ack(lease)
        assert other.size().events == 0
    finally:
        slow.close()
        other.close()


def test_close_hands_its_leases_to_the_next_relay_at_once(redis_url: str) -> None:
    first = RedisOutbox(redis_url, store_id="handover")
    second = RedisOutbox(redis_url, store_id="handover")
    try:
        first.put(event(0))
        assert lease_now(first) is not None
        first.close()
        again = second.lease(Room(), linger=0, wait=1)
        assert ids(again.events) == ["ev-0"]
        assert again.attempts == 1
    finally:
        second.close()


def test_bounds_are_counted_across_handles(redis_url: str) -> None:
    a = RedisOutbox(redis_url, store_id="bound", max_events=3, overflow="drop_newest")
    b = RedisOutbox(redis_url, store_id="bound", max_events=3, overflow="drop_newest")
    try:
        a.put(event(0))
        b.put(event(1))
        a.put(event(2))
        assert b.put(event(3)) == (0, [(event(3), "queue-full")])
    finally:
        a.close()
        b.close()


def test_the_keys_live_in_one_hash_slot_per_store(redis_url: str) -> None:
    outbox = RedisOutbox(redis_url, store_id="slot")
    try:
        outbox.put(event(0))
        client = redis.Redis.from_url(redis_url)
        stream, meta, _, _ = stream_keys("slot")
        assert client.xlen(stream) == 1
        assert client.hget(meta, "seq") == b"1"
        assert all("{slot}" in key for key in stream_keys("slot"))
        client.close()
    finally:
        outbox.close()


def test_a_password_in_the_url_never_shows(redis_url: str) -> None:
    assert safe_url("redis://user:s3cret@127.0.0.1:1/0") == "redis://127.0.0.1:1/0"
    with pytest.raises(OutboxError) as caught:
        RedisOutbox("redis://user:s3cret@127.0.0.1:1/0", store_id="x", timeout=0.5)
    assert "s3cret" not in str(caught.value)
    assert "127.0.0.1:1" in str(caught.value)
    with pytest.raises(ConfigurationError, match="not a Redis URL"):
        RedisOutbox("http://user:s3cret@127.0.0.1:1/0", store_id="x")


def test_a_lease_carries_the_attempts_and_put_time_of_its_events(redis_url: str) -> None:
    outbox = RedisOutbox(redis_url, store_id="attempts")
    try:
        before = time.time()
        for n in range(200):
            outbox.put(event(n))
        first = lease_now(outbox)
        assert len(first.events) == 100
        assert before - 1 < first.enqueued_at <= time.time()
        outbox.release(first, retry_at=0)
        again = lease_now(outbox)
        assert ids(again.events) == ids(first.events)
        assert again.attempts == 1
        assert again.enqueued_at == first.enqueued_at
        outbox.ack(again)
        assert outbox.size().events == 100
    finally:
        outbox.close()
