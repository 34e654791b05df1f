"""Pacing: evenly spaced slots per (store, endpoint), slowing after a 429, fork-safe."""

from __future__ import annotations

import itertools
import os
import threading
from collections.abc import Iterator

import pytest

from redo_kit import _pacing as pacing
from redo_kit import _retry as retry
from redo_kit._errors import ConfigurationError
from redo_kit._pacing import TokenBucket


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(autouse=True)
def fresh_registry() -> Iterator[None]:
    pacing.reset()
    yield
    pacing.reset()


def _take(bucket: TokenBucket, clock: Clock, n: int) -> list[float]:
    """Take n slots, advancing the fake clock through each wait; the send times."""
    times = []
    for _ in range(n):
        clock.now += bucket.reserve()
        times.append(clock.now)
    return times


def test_slots_are_spaced_at_the_limit() -> None:
    clock = Clock()
    bucket = TokenBucket(100, clock=clock)
    times = _take(bucket, clock, 301)
    assert times[-1] - times[0] == pytest.approx(3.0)
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert min(gaps) == pytest.approx(0.01)


def test_no_second_holds_more_than_the_limit() -> None:
    clock = Clock()
    bucket = TokenBucket(100, clock=clock)
    times = _take(bucket, clock, 1000)
    for i, start in enumerate(times):
        in_window = sum(1 for t in times[i:] if t < start + 1.0 - 1e-9)
        assert in_window <= 100


def test_burst_lets_a_few_go_back_to_back_after_idle() -> None:
    clock = Clock()
    bucket = TokenBucket(10, burst=3, clock=clock)
    assert [bucket.reserve() for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.reserve() == pytest.approx(0.1)


def test_idle_time_is_not_banked_beyond_the_burst() -> None:
    clock = Clock()
    bucket = TokenBucket(100, clock=clock)
    clock.now += 60
    assert bucket.reserve() == 0.0
    assert bucket.reserve() == pytest.approx(0.01)


def test_a_429_holds_every_sender_for_retry_after_and_slows_down() -> None:
    clock = Clock()
    bucket = TokenBucket(100, decrease=0.5, recovery=5.0, clock=clock)
    _take(bucket, clock, 10)
    bucket.on_rate_limited(2.0)
    assert bucket.rate_limited == 1
    assert bucket.rate == pytest.approx(50.0)
    first = bucket.reserve()
    assert first == pytest.approx(2.0, abs=0.011)
    clock.now += first
    assert bucket.reserve() == pytest.approx(1 / bucket.rate, rel=0.05)


def test_rate_recovers_gradually_to_the_limit() -> None:
    clock = Clock()
    bucket = TokenBucket(100, decrease=0.5, recovery=5.0, clock=clock)
    bucket.on_rate_limited(None)
    assert bucket.rate == pytest.approx(50.0)
    clock.now += 1.0
    assert bucket.rate == pytest.approx(70.0)
    clock.now += 1.5
    assert bucket.rate == pytest.approx(100.0)
    clock.now += 100
    assert bucket.rate == pytest.approx(100.0)


def test_repeated_429s_never_go_below_the_floor() -> None:
    clock = Clock()
    bucket = TokenBucket(100, floor=2.0, clock=clock)
    for _ in range(50):
        bucket.on_rate_limited(0)
    assert bucket.rate == pytest.approx(2.0)


def test_registry_shares_one_bucket_per_store_and_endpoint() -> None:
    a = pacing.bucket_for("https://api", "s1", "events", 100)
    assert pacing.bucket_for("https://api", "s1", "events", 100) is a
    assert pacing.bucket_for("https://api", "s1", "events/bulk", 100) is not a
    assert pacing.bucket_for("https://api", "s2", "events", 100) is not a
    assert pacing.bucket_for("https://api", "s1", "events", 50).limit == 50


def test_threads_share_the_pace() -> None:
    clock = Clock()
    bucket = TokenBucket(100, clock=clock)
    waits: list[float] = []
    lock = threading.Lock()

    def work() -> None:
        for _ in range(50):
            wait = bucket.reserve()
            with lock:
                waits.append(wait)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(waits) == pytest.approx([i / 100 for i in range(200)])


def test_acquire_skips_the_wait_in_testing_mode() -> None:
    retry.set_testing(True)
    try:
        bucket = TokenBucket(1)
        bucket.acquire()
        assert bucket.acquire() == pytest.approx(1.0, abs=0.05)
    finally:
        retry.set_testing(False)


@pytest.mark.parametrize(
    ("name", "options"),
    [
        ("limit", {"limit": 0}),
        ("limit", {"limit": -5}),
        ("limit", {"limit": float("nan")}),
        ("burst", {"limit": 100, "burst": 0}),
        ("decrease", {"limit": 100, "decrease": 1.5}),
        ("decrease", {"limit": 100, "decrease": 0}),
    ],
)
def test_invalid_settings_are_configuration_errors_naming_the_argument(
    name: str, options: dict[str, float]
) -> None:
    with pytest.raises(ConfigurationError, match=rf"^{name} must be"):
        TokenBucket(**options)  # type: ignore[arg-type]


def test_a_new_limit_is_checked_too() -> None:
    bucket = TokenBucket(10)
    with pytest.raises(ConfigurationError, match=r"^limit must be a positive number"):
        bucket.set_limit(0)
    assert bucket.limit == 10.0


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_starts_with_a_fresh_registry() -> None:
    parent_bucket = pacing.bucket_for("https://api", "s1", "events", 100)
    # A lock held at fork time (another thread mid-request) must not block the child.
    parent_bucket._lock.acquire()
    try:
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the child
            try:
                child_bucket = pacing.bucket_for("https://api", "s1", "events", 100)
                child_bucket.reserve()
                os.write(write, b"fresh" if child_bucket is not parent_bucket else b"shared")
            finally:
                os._exit(0)
        os.close(write)
        _, status = os.waitpid(pid, 0)
        answer = os.read(read, 16)
        os.close(read)
    finally:
        parent_bucket._lock.release()
    assert os.waitstatus_to_exitcode(status) == 0
    assert answer == b"fresh"
