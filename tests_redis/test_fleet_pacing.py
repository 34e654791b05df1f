"""Fleet pacing: buckets in Redis that every process of a fleet shares."""

from __future__ import annotations

import itertools
import logging
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from redo_kit import _pacing as pacing
from redo_kit._client import RedoClient
from redo_kit._fleet_pacing import FleetBucket, bucket_key, stop_fleet_pacing, use_fleet_pacing
from redo_kit._redis import connect
from redo_kit.emulator import Emulator

STORE = "64e5a8a1af49a89df37e4ee7"


@pytest.fixture
def fleet(redis_url: str) -> Iterator[str]:
    """Fleet pacing on for this process during the test."""
    use_fleet_pacing(redis_url)
    yield redis_url
    stop_fleet_pacing()


def test_two_processes_buckets_hand_out_one_evenly_spaced_sequence(redis_url: str) -> None:
    # Two clients of their own, as two processes have: only the key is shared.
    first = FleetBucket(connect(redis_url), "k", 50)
    second = FleetBucket(connect(redis_url), "k", 50)
    # Connected and the script loaded first: a slot is never handed out in the past.
    first.reserve()
    second.reserve()
    # Each slot is known to within its call's round trip (Redis reads its own
    # clock in between): a gap may be off by the two round trips around it.
    slots, trips = [], []
    for n in range(40):
        bucket = first if n % 2 else second
        asked = time.monotonic()
        wait = bucket.reserve()
        trips.append(time.monotonic() - asked)
        slots.append(asked + wait)
    for i, (a, b) in enumerate(itertools.pairwise(slots)):
        slack = trips[i] + trips[i + 1] + 0.002
        assert 0.02 - slack < b - a < 0.02 + slack, (i, b - a, trips[i], trips[i + 1])
    assert slots[-1] - slots[0] == pytest.approx(39 / 50, abs=0.01 + max(trips))


def test_a_429_holds_every_process_for_its_retry_after(redis_url: str) -> None:
    first = FleetBucket(connect(redis_url), "k429", 100)
    second = FleetBucket(connect(redis_url), "k429", 100)
    assert second.reserve() < 0.02
    first.on_rate_limited(1.0)
    assert first.rate_limited == 1
    assert 0.9 < second.reserve() <= 1.01
    # Without Retry-After the fleet is not held; the reporting process slows down.
    third = FleetBucket(connect(redis_url), "k-none", 100)
    third.on_rate_limited(None)
    assert third.reserve() < 0.05


def test_a_redis_that_does_not_answer_falls_back_to_in_process_pacing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    bucket = FleetBucket(connect("redis://127.0.0.1:1/0", timeout=0.2), "k", 20)
    with caplog.at_level(logging.WARNING, logger="redo_kit"):
        waits = [bucket.reserve() for _ in range(5)]
        bucket.on_rate_limited(0.5)
    assert waits[0] == 0
    assert waits[-1] == pytest.approx(4 / 20, abs=0.02)
    warnings = [r for r in caplog.records if "fleet pacing" in r.getMessage()]
    assert len(warnings) == 1
    assert "pacing this process alone" in warnings[0].getMessage()


def test_use_fleet_pacing_gives_every_client_a_bucket_in_redis(fleet: str) -> None:
    with (
        Emulator({STORE: "sk"}) as emu,
        RedoClient(store_id=STORE, api_key="sk", base_url=emu.base_url) as client,
    ):
        client.send({"eventName": "Signed Up", "customer": {"email": "a@example.com"}})
        bucket = pacing.bucket_for(emu.base_url, STORE, "events", client.rate_limit or 0)
        assert isinstance(bucket, FleetBucket)
        assert bucket.key == bucket_key("redo-kit", emu.base_url, STORE, "events")
        assert connect(fleet).exists(bucket.key) == 1
    stop_fleet_pacing()
    assert not isinstance(pacing.bucket_for("http://x", STORE, "events", 100), FleetBucket)


def test_the_environment_variable_turns_fleet_pacing_on(redis_url: str) -> None:
    script = (
        "from redo_kit import _pacing as p\n"
        "from redo_kit._fleet_pacing import FleetBucket\n"
        "b = p.bucket_for('http://127.0.0.1:9/v2.2', 'S', 'events/bulk', 100)\n"
        "print(type(b).__name__, b.key)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        env={"REDO_KIT_REDIS_URL": redis_url, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.startswith("FleetBucket redo-kit:{S}:pace:")
    bad = subprocess.run(
        [sys.executable, "-c", script],
        env={"REDO_KIT_REDIS_URL": "http://user:pw@x/0", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert bad.returncode != 0
    assert "REDO_KIT_REDIS_URL" in bad.stderr
    assert "pw" not in bad.stderr.replace("pw@", "")
