"""Batchers that put into Redis, relays that deliver, against the emulator in this process."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import orjson
import pytest
import redis
from helpers import FAULTS, page_view

from redo_kit._client import RedoClient
from redo_kit._errors import ConfigurationError
from redo_kit._outbox_redis import RedisOutbox, stream_keys
from redo_kit._relay import Relay
from redo_kit.emulator import Emulator

STORE_A = "64e5a8a1af49a89df37e4ee7"
STORE_B = "64e5a8a1af49a89df37e4ee8"


def client_of(emu: Emulator, store: str = STORE_A, key: str = "sk_a") -> RedoClient:
    return RedoClient(store_id=store, api_key=key, base_url=emu.base_url)


def stored_ids(emu: Emulator, store: str = STORE_A) -> list[str]:
    return [e["uniqueId"] for e in emu.events(store)]


def test_a_batcher_relaying_in_process_delivers_every_event_once(redis_url: str) -> None:
    with Emulator({STORE_A: "sk_a"}, faults=FAULTS, seed=3) as emu, client_of(emu) as client:
        with client.batcher(outbox=redis_url, relay=True, flush_interval=0.05) as batcher:
            tracked = [batcher.track(page_view(n, unique_id=True)) for n in range(600)]
            assert batcher.flush(60).completed
            stats = batcher.stats()
        assert stats.sent == 600
        assert stats.pending == 0
        stored = stored_ids(emu)
        assert sorted(stored) == sorted(tracked)
        assert len(set(stored)) == len(stored)


def test_track_returns_once_redis_has_the_event_and_a_relay_delivers_it(redis_url: str) -> None:
    with Emulator({STORE_A: "sk_a"}) as emu, client_of(emu) as client:
        batcher = client.batcher(outbox=redis_url)
        tracked = [batcher.track(page_view(n, unique_id=True)) for n in range(250)]
        stream = stream_keys(STORE_A)[0]
        assert redis.Redis.from_url(redis_url).xlen(stream) == 250
        # Nothing in this process delivers: the events wait for a relay.
        assert not batcher.flush(0.3).completed
        assert emu.events(STORE_A) == []
        relay = Relay(redis_url, [client], linger=0.05)
        relay.start()
        try:
            assert batcher.flush(30).completed
        finally:
            assert relay.stop(30)
        stats = relay.stats()
        assert (stats.delivered, stats.queued, stats.in_flight, stats.dead_lettered) == (
            250,
            0,
            0,
            0,
        )
        assert stats.requests == 3
        assert sorted(stored_ids(emu)) == sorted(tracked)
        # close does not wait for relays: the events are safe in Redis.
        started = time.monotonic()
        batcher.close(10)
        assert time.monotonic() - started < 1


def run_until(relay: Relay, counter: str, goal: int, *, timeout: float) -> None:
    """Run ``relay`` until its ``counter`` reaches ``goal`` or ``timeout`` s pass, then stop it."""
    relay.start()
    try:
        deadline = time.monotonic() + timeout
        while getattr(relay.stats(), counter) < goal and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        relay.stop(timeout)


def test_one_relay_fills_requests_of_many_producers_for_many_stores(redis_url: str) -> None:
    with Emulator({STORE_A: "sk_a", STORE_B: "sk_b"}) as emu:
        clients = [client_of(emu), client_of(emu, STORE_B, "sk_b")]
        producers = [c.batcher(outbox=redis_url) for c in clients for _ in range(3)]
        tracked: dict[str, list[str]] = {STORE_A: [], STORE_B: []}
        for n in range(600):
            batcher = producers[n % len(producers)]
            tracked[batcher._client.store_id].append(batcher.track(page_view(n, unique_id=True)))
        relay = Relay(redis_url, clients, linger=0.5)
        run_until(relay, "delivered", 600, timeout=30)
        assert relay.stats().delivered == 600
        # 300 events of 3 producers each: 3 full requests per store.
        assert relay.stats().requests == 6
        for store in (STORE_A, STORE_B):
            assert sorted(stored_ids(emu, store)) == sorted(tracked[store])
        for batcher in producers:
            batcher.close(0)
        for c in clients:
            c.close()


def test_events_refused_for_good_are_dead_lettered_and_acked(
    redis_url: str, tmp_path: Path
) -> None:
    dead = tmp_path / "dead.jsonl"
    with Emulator({STORE_A: "sk_a"}) as emu:
        wrong = RedoClient(store_id=STORE_A, api_key="sk_wrong", base_url=emu.base_url)
        producer = wrong.batcher(outbox=redis_url)
        for n in range(30):
            producer.track(page_view(n, unique_id=True))
        relay = Relay(redis_url, [wrong], linger=0, dead_letter=dead)
        run_until(relay, "dead_lettered", 30, timeout=20)
        assert relay.stats().dead_lettered == 30
        lines = [orjson.loads(line) for line in dead.read_bytes().splitlines()]
        assert sorted(e["uniqueId"] for e in lines) == sorted(f"view-{n}" for n in range(30))
        outbox = RedisOutbox(redis_url, store_id=STORE_A)
        assert outbox.size().events == 0
        outbox.close()
        producer.close(0)
        wrong.close()


def test_retryable_failures_go_back_to_the_stream_until_delivered(redis_url: str) -> None:
    with (
        Emulator({STORE_A: "sk_a"}, faults="503=0.5", seed=1) as emu,
        client_of(emu) as client,
    ):
        quick = RedoClient(
            store_id=STORE_A,
            api_key="sk_a",
            base_url=emu.base_url,
            retry=client.settings.retry.__class__(attempts=1),
        )
        producer = client.batcher(outbox=redis_url)
        tracked = [producer.track(page_view(n, unique_id=True)) for n in range(400)]
        relay = Relay(redis_url, [quick], linger=0)
        relay.start()
        try:
            assert producer.flush(60).completed
        finally:
            relay.stop(10)
        faults = emu.stats()["faults"].get("503", 0)
        assert faults > 0
        # Each 503 was one request given back to the stream and tried again.
        assert relay.stats().retried == faults
        assert relay.stats().requests == 4
        assert sorted(stored_ids(emu)) == sorted(tracked)
        producer.close(0)
        quick.close()


def test_relay_false_needs_a_redis_outbox(tmp_path: Path) -> None:
    client = RedoClient(store_id=STORE_A, api_key="sk", base_url="http://127.0.0.1:9/v2.2")
    with pytest.raises(ConfigurationError, match="relay=False needs a Redis outbox"):
        client.batcher(relay=False)
    with pytest.raises(ConfigurationError, match="relay must be"):
        client.batcher(relay="yes")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="at least one store"):
        Relay("redis://127.0.0.1:1/0", [])


def test_stop_lets_requests_in_flight_finish(redis_url: str) -> None:
    with (
        Emulator({STORE_A: "sk_a"}, faults="delay=1.0", fault_delay=0.5) as emu,
        client_of(emu) as client,
    ):
        producer = client.batcher(outbox=redis_url)
        tracked = [producer.track(page_view(n, unique_id=True)) for n in range(50)]
        relay = Relay(redis_url, [client], linger=0)
        stopping = threading.Event()
        runner = threading.Thread(target=relay.run, args=(stopping,))
        runner.start()
        deadline = time.monotonic() + 10
        while relay.stats().in_flight == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert relay.stats().in_flight == 50
        stopping.set()
        runner.join(20)
        assert not runner.is_alive()
        assert relay.stats().delivered == 50
        assert sorted(stored_ids(emu)) == sorted(tracked)
        producer.close(0)
