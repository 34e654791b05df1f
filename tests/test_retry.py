"""RetryPolicy: what is retried, how long it waits, and the switch that turns waits off."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime, timezone
from email.utils import format_datetime

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from redo_kit import _retry as retry
from redo_kit._errors import (
    APIConnectionError,
    APITimeoutError,
    BadRequestError,
    ConfigurationError,
)
from redo_kit._retry import (
    NEVER_RETRIED_STATUSES,
    NO_RETRY,
    RETRYABLE_STATUSES,
    RetryPolicy,
    parse_retry_after,
)


@pytest.fixture
def testing_on() -> Iterator[None]:
    retry.set_testing(True)
    yield
    retry.set_testing(False)


def test_retries_exactly_the_transient_statuses() -> None:
    policy = RetryPolicy()
    for status in (408, 429, 500, 502, 503, 504):
        assert policy.retries_status(status)
    for status in (200, 202, 400, 401, 403, 404, 413, 415, 422, 501):
        assert not policy.retries_status(status)
    assert {408, 429, 500, 502, 503, 504} == RETRYABLE_STATUSES


def test_refuses_to_retry_statuses_that_would_fail_again() -> None:
    for status in NEVER_RETRIED_STATUSES:
        with pytest.raises(ConfigurationError, match="never retried"):
            RetryPolicy(statuses={503, status})


def test_retries_connection_errors_and_timeouts_only() -> None:
    policy = RetryPolicy()
    assert policy.retries_error(APIConnectionError("reset"))
    assert policy.retries_error(APITimeoutError("read timeout"))
    assert not policy.retries_error(BadRequestError("bad", status=400))
    assert not policy.retries_error(ValueError("x"))
    assert not policy.with_options(retry_connection_errors=False).retries_error(
        APIConnectionError("reset")
    )


def test_policy_is_an_immutable_value() -> None:
    policy = RetryPolicy()
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        policy.attempts = 3  # type: ignore[misc]
    changed = policy.with_options(attempts=3)
    assert (policy.attempts, changed.attempts) == (6, 3)
    assert policy == RetryPolicy()
    with pytest.raises(ValueError, match="attempts"):
        RetryPolicy(attempts=0)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("attempts", 0),
        ("attempts", True),
        ("timeout", -1),
        ("backoff_base", -0.5),
        ("backoff_max", float("nan")),
        ("retry_after_max", -1),
        ("statuses", {503, 401}),
    ],
)
def test_a_bad_policy_is_a_configuration_error_naming_the_field(name: str, value: object) -> None:
    with pytest.raises(ConfigurationError, match=rf"^{name} "):
        RetryPolicy(**{name: value})  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match=rf"^{name} "):
        RetryPolicy().with_options(**{name: value})


@given(retry_number=st.integers(1, 40), draw=st.floats(0, 1))
def test_backoff_is_full_jitter_under_the_cap(retry_number: int, draw: float) -> None:
    policy = RetryPolicy(backoff_base=0.25, backoff_max=8.0)
    wait = policy.backoff(retry_number, draw=lambda: draw)
    ceiling = min(8.0, 0.25 * 2 ** (retry_number - 1))
    assert 0 <= wait <= ceiling
    assert wait == pytest.approx(ceiling * draw)


def test_backoff_grows_exponentially_until_the_cap() -> None:
    policy = RetryPolicy(backoff_base=0.5, backoff_max=3.0)
    top = [policy.backoff(n, draw=lambda: 1.0) for n in range(1, 6)]
    assert top == [0.5, 1.0, 2.0, 3.0, 3.0]


def test_bounded_by_attempts() -> None:
    policy = RetryPolicy(attempts=3, timeout=1000)
    assert policy.next_wait(attempts_made=1, elapsed=0) is not None
    assert policy.next_wait(attempts_made=2, elapsed=0) is not None
    assert policy.next_wait(attempts_made=3, elapsed=0) is None
    assert NO_RETRY.next_wait(attempts_made=1, elapsed=0) is None


def test_bounded_by_total_time() -> None:
    policy = RetryPolicy(attempts=100, timeout=10, backoff_base=1, backoff_max=4)
    assert policy.next_wait(attempts_made=3, elapsed=5.0, draw=lambda: 1.0) == 4.0
    assert policy.next_wait(attempts_made=3, elapsed=6.5, draw=lambda: 1.0) is None
    assert policy.next_wait(attempts_made=1, elapsed=5.0, retry_after=6.0) is None


def test_retry_after_is_honoured_and_capped() -> None:
    policy = RetryPolicy(retry_after_max=5)
    assert policy.next_wait(attempts_made=1, elapsed=0, retry_after=2.0) == 2.0
    assert policy.next_wait(attempts_made=1, elapsed=0, retry_after=120.0) == 5.0
    assert policy.next_wait(attempts_made=1, elapsed=0, retry_after=0.0) == 0.0


def test_parse_retry_after_seconds() -> None:
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after(" 0 ") == 0.0
    assert parse_retry_after("1.5") == 1.5
    for bad in (None, "", "soon", "-1", "nan", "inf"):
        assert parse_retry_after(bad) is None


def test_parse_retry_after_http_date() -> None:
    now = 1_790_000_000.0
    later = format_datetime(datetime.fromtimestamp(now + 42, timezone.utc), usegmt=True)
    earlier = format_datetime(datetime.fromtimestamp(now - 42, timezone.utc), usegmt=True)
    assert parse_retry_after(later, now=now) == pytest.approx(42.0)
    assert parse_retry_after(earlier, now=now) == 0.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00", now=now) is None


def test_set_testing_turns_every_wait_off(testing_on: None) -> None:
    assert retry.is_testing()
    started = time.monotonic()
    retry.sleep(30)
    assert time.monotonic() - started < 1


def test_sleep_waits_when_testing_is_off() -> None:
    assert not retry.is_testing()
    started = time.monotonic()
    retry.sleep(0.02)
    assert time.monotonic() - started >= 0.02


def test_backoff_jitter_leaves_the_random_module_s_state_alone() -> None:
    import random

    from redo_kit._retry import RetryPolicy

    state = random.getstate()
    waits = {RetryPolicy().backoff(3) for _ in range(50)}
    assert len(waits) > 1  # jittered
    assert random.getstate() == state
