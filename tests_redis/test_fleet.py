"""A fleet in real processes: producers into Redis, `redo-kit relay`s, the emulator, kill -9.

Faults on in the emulator (503s, connection resets, answers lost after the
events were stored), at its 100 requests/s. Injected 429s are left out of
the fleet run: each one holds the whole fleet for its Retry-After (1 s),
which would measure that hold rather than delivery; test_fleet_pacing.py
and the import test below test the hold.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator

import pytest
from fleet import end, last_line, producer, relay, stats, wait_stored
from helpers import EmulatorProcess

FLEET_FAULTS = "503=0.1,reset=0.05,lost-ack=0.05"


@pytest.fixture
def emulator() -> Iterator[EmulatorProcess]:
    process = EmulatorProcess("--faults", FLEET_FAULTS, "--seed", "11")
    try:
        yield process
    finally:
        process.stop()


def stored_exactly(emulator: EmulatorProcess) -> list[str]:
    ids = [event["uniqueId"] for event in emulator.events()]
    assert len(ids) == len(set(ids)), "an event was stored twice"
    return ids


@pytest.mark.slow
def test_eight_producers_on_two_machines_and_two_relays_store_every_event_once(
    emulator: EmulatorProcess, redis_url: str
) -> None:
    per_producer = int(os.environ.get("REDO_KIT_FLEET_EVENTS", "200000")) // 8
    relays = [relay(emulator, redis_url, "--status-every", "5") for _ in range(2)]
    # Two groups of four: "machines" differ only in their processes here.
    producers = [
        producer(emulator, redis_url, f"m{m}w{w}", per_producer, chunk=5000)
        for m in range(2)
        for w in range(4)
    ]
    tracked = [last_line(p) for p in producers]
    for p in producers:
        err = end(p)
        assert p.returncode == 0, err
    total = sum(tracked)
    assert total == 8 * per_producer
    assert wait_stored(emulator, total, timeout=240) == total
    for r in relays:
        err = end(r)
        assert r.returncode == 0, err
        assert "relay stopped" in err
    ids = stored_exactly(emulator)
    assert sorted(ids) == sorted(
        f"m{m}w{w}-{n}" for m in range(2) for w in range(4) for n in range(per_producer)
    )
    counters = stats(emulator)
    assert counters["faults"], counters
    requests = counters["requests"]
    assert requests.get("429", 0) < 0.01 * sum(requests.values()), requests


@pytest.mark.slow
def test_kill_9_of_a_relay_mid_run_another_finishes_its_work(
    emulator: EmulatorProcess, redis_url: str
) -> None:
    count = 20_000
    doomed = relay(emulator, redis_url, "--visibility-timeout", "2", "--senders", "4")
    survivor = relay(emulator, redis_url, "--visibility-timeout", "2", "--senders", "4")
    producers = [producer(emulator, redis_url, f"p{i}", count // 2) for i in range(2)]
    # Killed while it has requests in flight: a quarter of the way in.
    assert wait_stored(emulator, count // 4, timeout=120) >= count // 4
    doomed.send_signal(signal.SIGKILL)
    assert doomed.wait(10) == -signal.SIGKILL
    end(doomed)
    assert sum(last_line(p) for p in producers) == count
    for p in producers:
        end(p)
    assert wait_stored(emulator, count, timeout=180) == count
    err = end(survivor)
    assert survivor.returncode == 0, err
    ids = stored_exactly(emulator)
    assert sorted(ids) == sorted(f"p{i}-{n}" for i in range(2) for n in range(count // 2))


@pytest.mark.slow
def test_kill_9_of_a_producer_loses_none_of_the_events_its_track_returned(
    emulator: EmulatorProcess, redis_url: str
) -> None:
    relays = [relay(emulator, redis_url) for _ in range(2)]
    victim = producer(emulator, redis_url, "victim", 1_000_000, chunk=500)
    assert victim.stdout is not None
    acknowledged = 0
    while acknowledged < 3000:
        acknowledged = int(victim.stdout.readline())
    victim.send_signal(signal.SIGKILL)
    assert victim.wait(10) == -signal.SIGKILL
    end(victim)
    # Every event whose track() returned is delivered; those after it may be too.
    assert wait_stored(emulator, acknowledged, timeout=120) >= acknowledged
    time.sleep(1)
    ids = stored_exactly(emulator)
    numbers = sorted(int(i.split("-")[1]) for i in ids)
    assert numbers[:acknowledged] == list(range(acknowledged))
    assert numbers == list(range(len(numbers)))
    for r in relays:
        end(r)
        assert r.returncode == 0
