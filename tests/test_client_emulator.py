"""RedoClient against the emulator over loopback HTTP, faults on: every event stored once."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import orjson
import pytest
import urllib3
from helpers import FAULTS, emulator_client, inspect, page_view
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from redo_kit import _pacing as pacing
from redo_kit import _retry as retry
from redo_kit._client import RedoClient
from redo_kit._errors import AuthenticationError, NotFoundError, RateLimitError
from redo_kit._retry import NO_RETRY, RetryPolicy
from redo_kit.emulator import Emulator
from redo_kit.testing.plugin import EmulatorFactory
from redo_kit.testing.strategies import INVALID_CASES, invalid_events, valid_events

# Faults strike about one attempt in four: 12 attempts make a lost event
# (0.25**12) practically impossible. Short waits keep the run short; the
# injected 429s say "Retry-After: 1", capped here to 0.1 s for the same reason.
FAST_RETRY = RetryPolicy(attempts=12, backoff_base=0.05, backoff_max=0.5, retry_after_max=0.1)


@pytest.fixture(autouse=True)
def _real_waits(clean_env: None) -> Iterator[None]:
    # Against a server with a rate limit the waits are real.
    retry.set_testing(False)
    pacing.reset()
    yield
    pacing.reset()


@pytest.mark.slow
def test_10000_events_through_send_bulk_with_faults_are_stored_exactly_once(
    emulator_factory: EmulatorFactory,
) -> None:
    emu = emulator_factory(faults=FAULTS, seed=5)
    with emulator_client(emu, retry=FAST_RETRY) as client:
        result = client.send_bulk(page_view(n, unique_id=True) for n in range(10_000))
        stored = [e["uniqueId"] for e in inspect(emu.url, emu.store_id, emu.api_key)]
        stats = emu.stats()
    assert result.accepted == 10_000
    assert result.rejections == ()
    assert result.duplicates == ()
    assert len(stored) == 10_000
    assert len(set(stored)) == 10_000
    assert set(stored) == {f"view-{n}" for n in range(10_000)}
    # The faults really struck, and the retries really happened.
    assert stats["faults"]["lost-ack"] > 0
    assert stats["faults"]["reset"] > 0
    assert stats["deduplicated"] > 0
    assert result.retries > 0
    assert result.rate_limited == stats["faults"]["429"]


@pytest.mark.slow
def test_500_events_through_send_with_faults_are_stored_exactly_once(
    emulator_factory: EmulatorFactory,
) -> None:
    emu = emulator_factory(faults=FAULTS, seed=11)
    with emulator_client(emu, retry=FAST_RETRY) as client:
        # One client shared by eight threads, as in a web server.
        with ThreadPoolExecutor(8) as pool:
            sent = (page_view(n, unique_id=True) for n in range(500))
            results = list(pool.map(client.send, sent))
        stored = [e["uniqueId"] for e in inspect(emu.url, emu.store_id, emu.api_key)]
        stats = emu.stats()
    assert [r.unique_id for r in results] == [f"view-{n}" for n in range(500)]
    assert len(stored) == 500
    assert set(stored) == {f"view-{n}" for n in range(500)}
    assert stats["faults"]["lost-ack"] > 0
    assert stats["deduplicated"] > 0
    assert sum(r.retries for r in results) > 0


def test_a_paced_client_sees_no_429_in_steady_state(emulator_factory: EmulatorFactory) -> None:
    emu = emulator_factory()  # Redo's limit: 100 requests/s per store and endpoint
    with emulator_client(emu) as client:
        # 150 requests: past the server's one-second allowance, into its steady state.
        result = client.send_bulk(page_view(n, unique_id=True) for n in range(15_000))
        assert result.rate_limited == 0
        assert "429" not in emu.stats()["requests"]
        assert len(emu.events()) == 15_000


def test_without_pacing_traffic_over_the_limit_is_refused_with_429() -> None:
    # A low limit, so that even a slow machine sends faster than it allows.
    with (
        Emulator(seed=1, rate_limit=20) as emu,
        emulator_client(emu, rate_limit=None, retry=NO_RETRY) as client,
    ):
        with pytest.raises(RateLimitError) as caught:
            client.send_bulk(page_view(n, unique_id=True) for n in range(100_000))
        assert caught.value.retry_after is not None
        assert caught.value.retry_after >= 1
        assert caught.value.result.accepted < 100_000


def test_refusals_come_back_as_typed_errors_without_retries(emulator: Emulator) -> None:
    with (
        RedoClient(
            store_id=emulator.store_id, api_key="wrong_key", base_url=emulator.base_url
        ) as client,
        pytest.raises(AuthenticationError) as caught,
    ):
        client.send(page_view(1, unique_id=True))
    assert caught.value.status == 401
    assert caught.value.result.requests == 1
    assert "REDO_API_KEY" in str(caught.value)
    with (
        RedoClient(
            store_id="no-such-store", api_key=emulator.api_key, base_url=emulator.base_url
        ) as other,
        pytest.raises((NotFoundError, AuthenticationError)),
    ):
        other.send(page_view(2, unique_id=True))
    assert emulator.events() == []
    # Two requests in all: neither refusal was retried.
    assert sum(emulator.stats()["requests"].values()) == 2


# The API lets unknown top-level keys through (the client refuses them unless
# told otherwise: compared here with the API's setting), and an event over
# 5 MB cannot share a bulk request at all.
_CASES = [case for case in INVALID_CASES if case != "event-too-large"]
_RAW = "raw-store"
_CLIENT = "client-store"


@pytest.fixture(scope="module")
def two_stores() -> Iterator[Emulator]:
    with Emulator({_RAW: "raw_key", _CLIENT: "client_key"}, rate_limit=None) as emu:
        yield emu


@settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(
    batch=st.lists(
        st.one_of(valid_events(), invalid_events(_CASES).map(lambda case: case[0])),
        min_size=1,
        max_size=12,
    )
)
def test_local_rejections_are_exactly_what_the_emulator_rejects(
    two_stores: Emulator, batch: list[dict[str, Any]]
) -> None:
    emu = two_stores
    # Every generated value is JSON orjson can write: NaN and infinities go out as null.
    raw_body = orjson.dumps({"events": batch})
    emu.clear(_RAW)
    emu.clear(_CLIENT)

    # The batch as is, straight to the API: which items does it drop?
    with urllib3.PoolManager() as http:
        answer = http.request(
            "POST",
            f"{emu.base_url}/stores/{_RAW}/events/bulk",
            body=raw_body,
            headers={"Authorization": "Bearer raw_key", "Content-Type": "application/json"},
            retries=False,
        )
    assert answer.status == 202
    dropped_by_api = sorted(item["index"] for item in emu.rejected(_RAW))
    event(f"{min(len(dropped_by_api), 2)}+ dropped by the API")

    # The same batch through the client, with the API's verdict on unknown keys.
    with RedoClient(
        store_id=_CLIENT, api_key="client_key", base_url=emu.base_url, rate_limit=None
    ) as client:
        result = client.send_bulk(batch, allow_unknown_keys=True)

    assert sorted(r.index for r in result.rejections) == dropped_by_api
    # Nothing the client let through was dropped by the API, and all of it was stored.
    assert emu.rejected(_CLIENT) == []
    assert len(emu.events(_CLIENT)) == result.accepted
