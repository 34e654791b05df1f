"""Fault injection and the rate limit, over real loopback HTTP."""

from __future__ import annotations

import threading
import time
from typing import Any

import orjson
import pytest
import urllib3
from helpers import inspect
from urllib3.exceptions import ProtocolError

from redo_kit.emulator import Emulator
from redo_kit.emulator._ratelimit import RateLimiter
from redo_kit.testing.plugin import EmulatorFactory

STORE = "store_a"
KEY = "sk_a"
OTHER_STORE = "store_b"
OTHER_KEY = "sk_b"
HEADERS = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}


def _event(unique_id: str | None = None) -> bytes:
    event: dict[str, Any] = {"eventName": "Order Placed", "customer": {"email": "a@example.com"}}
    if unique_id is not None:
        event["uniqueId"] = unique_id
    return orjson.dumps(event)


def _post(
    emu: Emulator,
    body: bytes,
    *,
    bulk: bool = False,
    store: str = STORE,
    key: str = KEY,
) -> urllib3.BaseHTTPResponse:
    path = f"/stores/{store}/events" + ("/bulk" if bulk else "")
    headers = {**HEADERS, "Authorization": f"Bearer {key}"}
    # A fresh pool per request: a dropped connection must not leak into the next one.
    with urllib3.PoolManager(retries=False, timeout=5.0) as http:
        response = http.request("POST", emu.base_url + path, body=body, headers=headers)
        response.read()
        return response


def _statuses(emu: Emulator, count: int) -> list[int | str]:
    seen: list[int | str] = []
    for n in range(count):
        try:
            seen.append(_post(emu, _event(f"u{n}")).status)
        except ProtocolError:
            seen.append("dropped")
    return seen


def _stores() -> dict[str, str]:
    return {STORE: KEY, OTHER_STORE: OTHER_KEY}


# -- faults --------------------------------------------------------------------


@pytest.mark.parametrize("status", [500, 502, 503])
def test_a_server_error_fault_answers_a_problem_and_stores_nothing(
    emulator_factory: EmulatorFactory, status: int
) -> None:
    emu = emulator_factory(stores=_stores(), faults=f"{status}=1", rate_limit=None)
    for bulk in (False, True):
        body = orjson.dumps({"events": [orjson.loads(_event())]}) if bulk else _event()
        response = _post(emu, body, bulk=bulk)
        assert response.status == status
        assert response.headers["Content-Type"] == "application/problem+json"
        assert orjson.loads(response.data)["status"] == status
    # The inspection API is never faulted.
    assert inspect(emu.url, STORE, KEY) == []
    stats = emu.stats()
    assert stats["faults"] == {str(status): 2}
    assert stats["requests"] == {str(status): 2}


def test_a_429_fault_carries_retry_after(emulator_factory: EmulatorFactory) -> None:
    emu = emulator_factory(stores=_stores(), faults="429=1", rate_limit=None)
    response = _post(emu, _event())
    assert response.status == 429
    assert response.headers["Retry-After"] == "1"
    assert emu.stats()["rateLimited"] == 0
    assert emu.events(STORE) == []


def test_a_reset_drops_the_connection_and_stores_nothing(emulator_factory: EmulatorFactory) -> None:
    emu = emulator_factory(stores=_stores(), faults="reset=1", rate_limit=None)
    with pytest.raises(ProtocolError):
        _post(emu, _event("reset-1"))
    assert emu.events(STORE) == []
    assert emu.stats()["faults"] == {"reset": 1}


def test_a_lost_ack_commits_then_drops_and_a_retry_is_deduplicated(
    emulator_factory: EmulatorFactory,
) -> None:
    emu = emulator_factory(stores=_stores(), faults="lost-ack=1", rate_limit=None)
    for _ in range(2):
        with pytest.raises(ProtocolError):
            _post(emu, _event("order-1"))
    events = inspect(emu.url, STORE, KEY)
    assert [e["uniqueId"] for e in events] == ["order-1"]
    stats = emu.stats()
    assert stats["stored"] == 1
    assert stats["deduplicated"] == 1
    assert stats["faults"] == {"lost-ack": 2}


def test_a_delay_holds_the_answer_for_fault_delay_seconds(
    emulator_factory: EmulatorFactory,
) -> None:
    emu = emulator_factory(stores=_stores(), faults="delay=1", fault_delay=0.3, rate_limit=None)
    started = time.monotonic()
    response = _post(emu, _event())
    assert time.monotonic() - started >= 0.3
    assert response.status == 202
    assert len(emu.events(STORE)) == 1


def test_closing_cuts_a_delay_short(emulator_factory: EmulatorFactory) -> None:
    emu = emulator_factory(stores=_stores(), faults="delay=1", fault_delay=30, rate_limit=None)
    outcome: list[object] = []

    def send() -> None:
        try:
            outcome.append(_post(emu, _event()).status)
        except urllib3.exceptions.HTTPError as exc:
            outcome.append(exc)

    sender = threading.Thread(target=send)
    sender.start()
    while not emu.stats()["faults"]:
        time.sleep(0.01)
    started = time.monotonic()
    emu.close()
    sender.join(10)
    assert time.monotonic() - started < 5
    assert outcome
    assert outcome[0] == 202 or isinstance(outcome[0], urllib3.exceptions.HTTPError)


def test_faults_repeat_exactly_under_the_same_seed(emulator_factory: EmulatorFactory) -> None:
    plan = "500=0.15,503=0.15,429=0.1,reset=0.1,lost-ack=0.1"
    runs = [
        _statuses(emulator_factory(stores=_stores(), faults=plan, seed=seed, rate_limit=None), 40)
        for seed in (7, 7, 8)
    ]
    assert runs[0] == runs[1]
    assert runs[0] != runs[2]
    assert {202, 500, 503, 429, "dropped"} <= set(runs[0])


def test_without_faults_nothing_is_injected(emulator_factory: EmulatorFactory) -> None:
    emu = emulator_factory(stores=_stores(), faults="", rate_limit=None)
    assert set(_statuses(emu, 20)) == {202}
    assert emu.stats()["faults"] == {}


# -- rate limit ----------------------------------------------------------------


def test_over_the_rate_limit_is_429_with_retry_after_and_nothing_stored(
    emulator_factory: EmulatorFactory,
) -> None:
    emu = emulator_factory(stores=_stores(), rate_limit=5)
    statuses = [_post(emu, _event(f"u{n}")).status for n in range(12)]
    assert statuses[:5] == [202] * 5
    assert 429 in statuses
    with urllib3.PoolManager(retries=False) as http:
        response = http.request(
            "POST", f"{emu.base_url}/stores/{STORE}/events", body=_event(), headers=HEADERS
        )
    if response.status == 429:
        assert response.headers["Retry-After"].isdigit()
        assert int(response.headers["Retry-After"]) >= 1
        assert response.headers["Content-Type"] == "application/problem+json"
        assert "5 requests per second" in orjson.loads(response.data)["detail"]
    stored = statuses.count(202) + (response.status == 202)
    assert len(emu.events(STORE)) == stored
    assert emu.stats()["rateLimited"] == 13 - stored


def test_the_rate_limit_is_per_store_and_per_endpoint(emulator_factory: EmulatorFactory) -> None:
    emu = emulator_factory(stores=_stores(), rate_limit=3)
    single = [_post(emu, _event()).status for _ in range(6)]
    assert 429 in single
    bulk_body = orjson.dumps({"events": [orjson.loads(_event())]})
    assert _post(emu, bulk_body, bulk=True).status == 202
    assert _post(emu, _event(), store=OTHER_STORE, key=OTHER_KEY).status == 202


@pytest.mark.parametrize("rate_limit", [None, 0])
def test_no_rate_limit_when_switched_off(
    emulator_factory: EmulatorFactory, rate_limit: Any
) -> None:
    emu = emulator_factory(stores=_stores(), rate_limit=rate_limit)
    assert {_post(emu, _event()).status for _ in range(150)} == {202}


def test_the_bucket_refills_continuously_up_to_one_second_of_requests() -> None:
    now = [0.0]
    limiter = RateLimiter(100, clock=lambda: now[0])
    assert [limiter.acquire("k") for _ in range(100)] == [None] * 100
    wait = limiter.acquire("k")
    assert wait == pytest.approx(0.01)
    assert limiter.acquire("other") is None
    now[0] += 0.05
    assert [limiter.acquire("k") is None for _ in range(6)] == [True] * 5 + [False]
    now[0] += 60
    assert sum(limiter.acquire("k") is None for _ in range(150)) == 100
