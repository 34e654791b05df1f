"""RedoClient against MockTransport: configuration, retries, chunking, results, errors."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from helpers import STORE
from hypothesis import given
from hypothesis import strategies as st

from redo_kit import _pacing as pacing
from redo_kit._client import (
    DEFAULT_BASE_URL,
    NOT_GIVEN,
    BulkResult,
    RedoClient,
)
from redo_kit._errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ConfigurationError,
    InternalServerError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    RateLimitError,
    RedoError,
    UnprocessableEntityError,
    ValidationError,
)
from redo_kit._events import PrepareOptions, prepare_event
from redo_kit._retry import NO_RETRY, RetryPolicy
from redo_kit._rules import limits
from redo_kit._transport import MockTransport, Request, Response, Timeout, Urllib3Transport

KEY = "test_key_0123456789"


pytestmark = pytest.mark.usefixtures("isolated_env")


def event(n: int, **extra: Any) -> dict[str, Any]:
    return {
        "eventName": "Order Placed",
        "customer": {"email": f"user{n}@example.com"},
        "uniqueId": f"order-{n}",
        "data": {"Order Total": 10 + n},
        **extra,
    }


def client(transport: MockTransport, **options: Any) -> RedoClient:
    return RedoClient(store_id=STORE, api_key=KEY, transport=transport, **options)


def bulk_ids(request: Request) -> list[str]:
    return [e["uniqueId"] for e in request.json()["events"]]


# -- configuration ---------------------------------------------------------------


def test_arguments_win_over_environment_which_wins_over_defaults(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    mock = MockTransport()
    monkeypatch.setenv("REDO_STORE_ID", "envstore")
    monkeypatch.setenv("REDO_API_KEY", "env_key")
    from_env = RedoClient(transport=mock)
    assert from_env.store_id == "envstore"
    assert from_env.base_url == DEFAULT_BASE_URL
    from_env.send(event(1))
    assert mock.requests[-1].header("authorization") == "Bearer env_key"
    assert mock.requests[-1].url == f"{DEFAULT_BASE_URL}/stores/envstore/events"

    monkeypatch.setenv("REDO_BASE_URL", "http://127.0.0.1:9/v2.2/")
    assert RedoClient(transport=mock).base_url == "http://127.0.0.1:9/v2.2"
    given = RedoClient(
        store_id="argstore", api_key="arg_key", base_url="https://x.test/v9", transport=mock
    )
    assert (given.store_id, given.base_url) == ("argstore", "https://x.test/v9")
    given.send(event(2))
    assert mock.requests[-1].header("authorization") == "Bearer arg_key"
    assert mock.requests[-1].url == "https://x.test/v9/stores/argstore/events"


def test_missing_settings_name_the_argument_and_the_variable() -> None:
    with pytest.raises(ConfigurationError, match="REDO_STORE_ID"):
        RedoClient(api_key=KEY, transport=MockTransport())
    with pytest.raises(ConfigurationError, match="REDO_API_KEY"):
        RedoClient(store_id=STORE, transport=MockTransport())


def test_invalid_settings_are_configuration_errors() -> None:
    mock = MockTransport()
    for options in (
        {"timeout": None},
        {"timeout": 0},
        {"retry": 3},
        {"rate_limit": 0},
        {"rate_limit": True},
        {"concurrency": 0},
        {"transport": object()},
    ):
        base: dict[str, Any] = {"store_id": STORE, "api_key": KEY, "transport": mock}
        with pytest.raises(ConfigurationError):
            RedoClient(**{**base, **options})


def test_defaults_are_bounded() -> None:
    c = client(MockTransport())
    assert c.timeout == Timeout(5.0, 30.0)
    assert c.retry == RetryPolicy()
    assert c.rate_limit == 100.0
    assert repr(NOT_GIVEN) == "NOT_GIVEN"
    assert not NOT_GIVEN


def test_with_options_returns_a_changed_copy_and_leaves_the_original() -> None:
    mock = MockTransport()
    original = client(mock, timeout=3)
    copy = original.with_options(timeout=(1, 2), retry=NO_RETRY, rate_limit=None)
    assert original.timeout == Timeout(3, 3)
    assert original.retry == RetryPolicy()
    assert original.rate_limit == 100.0
    assert copy.timeout == Timeout(1, 2)
    assert copy.retry is NO_RETRY
    assert copy.rate_limit is None
    assert copy.store_id == original.store_id
    assert copy.transport is mock
    copy.send(event(1))
    assert mock.requests[-1].timeout == Timeout(1, 2)
    assert mock.requests[-1].header("authorization") == f"Bearer {KEY}"


def test_with_options_copy_shares_the_pool_without_closing_it() -> None:
    with RedoClient(store_id=STORE, api_key=KEY) as original:
        copy = original.with_options(store_id="other")
        assert copy.transport is original.transport
        copy.close()
        assert not original.closed
    assert original.closed


def test_close_releases_only_an_owned_transport() -> None:
    given = MockTransport()
    with client(given) as c:
        pass
    assert c.closed
    assert not given.closed
    c.close()  # idempotent
    with pytest.raises(RedoError, match="closed"):
        c.send(event(1))
    owned = RedoClient(store_id=STORE, api_key=KEY)
    assert isinstance(owned.transport, Urllib3Transport)
    owned.close()


# -- send -------------------------------------------------------------------------


def test_send_posts_the_prepared_bytes_to_the_single_endpoint() -> None:
    mock = MockTransport()
    result = client(mock).send(event(7))
    (request,) = mock.requests
    assert request.method == "POST"
    assert request.url == f"{DEFAULT_BASE_URL}/stores/{STORE}/events"
    assert request.header("content-type") == "application/json"
    assert request.body == prepare_event(event(7)).body
    assert result.unique_ids == ("order-7",)
    assert result.unique_id == "order-7"
    assert (result.requests, result.retries, result.rate_limited) == (1, 0, 0)


def test_send_gives_an_event_without_unique_id_one_that_every_retry_reuses() -> None:
    mock = MockTransport(responses=[503, APIConnectionError("reset"), 202])
    payload = event(1)
    del payload["uniqueId"]
    result = client(mock).send(payload)
    bodies = {r.body for r in mock.requests}
    assert len(mock.requests) == 3
    assert len(bodies) == 1
    assert orjson.loads(bodies.pop())["uniqueId"] == result.unique_id


def test_send_refuses_an_invalid_event_without_sending() -> None:
    mock = MockTransport()
    with pytest.raises(ValidationError) as caught:
        client(mock).send({"eventName": "", "customer": {}})
    assert mock.requests == []
    assert {p.path for p in caught.value.errors} >= {"$.customer"}


def _odd(n: int) -> dict[str, Any]:
    """An event with an unknown top-level key and a phone number in national format."""
    return {
        "eventName": "Signed Up",
        "customer": {"phoneNumber": "(206) 555-0100"},
        "uniqueId": f"odd-{n}",
        "source": "web",
    }


def test_send_prepares_with_the_clients_options_or_the_ones_given() -> None:
    mock = MockTransport()
    strict = client(mock)
    with pytest.raises(ValidationError):
        strict.send(_odd(1))
    lenient = PrepareOptions(allow_unknown_keys=True, default_region="US")
    assert strict.send(_odd(1), options=lenient).unique_id == "odd-1"
    assert strict.send(_odd(2), allow_unknown_keys=True, default_region="US").warnings
    assert mock.requests[-1].json()["customer"]["phoneNumber"] == "+12065550100"
    held = client(mock, prepare=lenient)
    assert held.send(_odd(3)).unique_id == "odd-3"
    with pytest.raises(ValidationError, match="source"):
        held.send(_odd(4), allow_unknown_keys=False)
    assert [r.json()["uniqueId"] for r in mock.requests] == ["odd-1", "odd-2", "odd-3"]


def test_send_takes_a_unique_id_and_refuses_unknown_keywords() -> None:
    mock = MockTransport()
    payload = event(1)
    del payload["uniqueId"]
    assert client(mock).send(payload, unique_id="natural-1").unique_id == "natural-1"
    assert mock.requests[0].json()["uniqueId"] == "natural-1"
    with pytest.raises(TypeError, match="allow_unknown"):
        client(mock).send(payload, allow_unknown=True)  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="unique_id"):
        client(mock).send_bulk([payload], unique_id="x")  # type: ignore[call-arg]
    assert len(mock.requests) == 1


def test_a_prepared_event_sent_with_another_unique_id_is_refused() -> None:
    mock = MockTransport()
    prepared = prepare_event(event(3))
    assert client(mock).send(prepared, unique_id="order-3").unique_id == "order-3"
    with pytest.raises(ValidationError, match="uniqueId"):
        client(mock).send(prepared, unique_id="order-4")
    assert len(mock.requests) == 1


def test_send_bulk_prepares_with_the_options_given() -> None:
    mock = MockTransport()
    strict = client(mock, concurrency=1)
    refused = strict.send_bulk([_odd(n) for n in range(3)])
    assert (refused.accepted, len(refused.rejections)) == (0, 3)
    accepted = strict.send_bulk(
        [_odd(n) for n in range(3)],
        options=PrepareOptions(allow_unknown_keys=True),
        default_region="US",
    )
    assert accepted.unique_ids == ("odd-0", "odd-1", "odd-2")
    phones = {e["customer"]["phoneNumber"] for e in mock.requests[0].json()["events"]}
    assert phones == {"+12065550100"}
    held = client(mock, prepare=PrepareOptions(allow_unknown_keys=True, default_region="US"))
    assert held.send_bulk([_odd(9)]).accepted == 1
    nested = {**_odd(10), "data": {"Items": [{"sku": "A-1"}]}}
    assert len(held.send_bulk([nested]).rejections) == 1
    assert held.send_bulk([nested], move_nested_to_extra=True).unique_ids == ("odd-10",)
    assert mock.requests[-1].json()["events"][0]["data"] == {"$extra": {"Items": [{"sku": "A-1"}]}}


def test_send_accepts_a_prepared_event_as_is() -> None:
    mock = MockTransport()
    prepared = prepare_event(event(3))
    assert client(mock).send(prepared).unique_id == "order-3"
    assert mock.requests[0].body is prepared.body


# -- retries ----------------------------------------------------------------------


def test_transient_failures_are_retried_with_the_same_bytes() -> None:
    mock = MockTransport(
        responses=[
            503,
            APIConnectionError("reset"),
            Response.problem(429, headers={"Retry-After": "1"}),
            APITimeoutError("read timeout"),
            500,
            502,
            504,
            408,
            202,
        ]
    )
    c = client(mock, retry=RetryPolicy(attempts=10))
    result = c.send(event(1))
    assert len(mock.requests) == 9
    assert len({r.body for r in mock.requests}) == 1
    assert (result.requests, result.retries, result.rate_limited) == (9, 8, 1)


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (400, BadRequestError),
        (401, AuthenticationError),
        (403, PermissionDeniedError),
        (404, NotFoundError),
        (413, PayloadTooLargeError),
        (422, UnprocessableEntityError),
    ],
)
def test_client_errors_are_never_retried(status: int, error: type[APIStatusError]) -> None:
    mock = MockTransport(
        responses=[
            Response.problem(
                status, title="Nope", detail="what went wrong", headers={"X-Request-Id": "r-9"}
            )
        ]
    )
    with pytest.raises(error) as caught:
        client(mock).send(event(1))
    assert len(mock.requests) == 1
    assert caught.value.status == status
    assert caught.value.detail == "what went wrong"
    assert caught.value.request_id == "r-9"
    assert f"/stores/{STORE}/events answered {status}" in str(caught.value)


def test_exhausted_retries_raise_the_last_typed_error() -> None:
    mock = MockTransport(lambda request: Response.problem(503, title="Unavailable"))
    with pytest.raises(InternalServerError) as caught:
        client(mock, retry=RetryPolicy(attempts=3)).send(event(1))
    assert caught.value.status == 503
    assert len(mock.requests) == 3


def test_exhausted_429s_raise_rate_limit_error_with_retry_after() -> None:
    mock = MockTransport(lambda request: Response.problem(429, headers={"Retry-After": "7"}))
    with pytest.raises(RateLimitError) as caught:
        client(mock, retry=RetryPolicy(attempts=2)).send(event(1))
    assert caught.value.retry_after == 7.0


def test_exhausted_connection_errors_raise_the_connection_error() -> None:
    boom = APITimeoutError("no answer within 30 s (read timeout)")
    mock = MockTransport(responses=[boom, boom])
    with pytest.raises(APITimeoutError):
        client(mock, retry=RetryPolicy(attempts=2)).send(event(1))
    assert len(mock.requests) == 2


def test_no_retry_policy_sends_once() -> None:
    mock = MockTransport(responses=[503])
    with pytest.raises(InternalServerError):
        client(mock, retry=NO_RETRY).send(event(1))
    assert len(mock.requests) == 1


def test_retry_after_sets_the_wait_and_holds_the_store_bucket(
    caplog: pytest.LogCaptureFixture,
) -> None:
    mock = MockTransport(responses=[Response.problem(429, headers={"Retry-After": "2"}), 202])
    with caplog.at_level(logging.INFO, logger="redo_kit"):
        client(mock).send(event(1))
    assert "retrying in 2.00 s" in caplog.text
    bucket = pacing.bucket_for(DEFAULT_BASE_URL, STORE, "events", 100)
    assert bucket.rate_limited == 1
    assert bucket.rate < 100


def test_every_request_takes_a_pacing_slot() -> None:
    mock = MockTransport()
    c = client(mock, rate_limit=10)
    for n in range(5):
        c.send(event(n))
    bucket = pacing.bucket_for(DEFAULT_BASE_URL, STORE, "events", 10)
    # Five slots taken at 10/s: the next one is about half a second away.
    assert bucket.reserve() == pytest.approx(0.5, abs=0.05)


# -- send_bulk --------------------------------------------------------------------


def test_send_bulk_chunks_at_100_events() -> None:
    mock = MockTransport()
    result = client(mock, concurrency=1).send_bulk(event(n) for n in range(250))
    assert [len(r.json()["events"]) for r in mock.requests] == [100, 100, 50]
    assert all(r.url.endswith(f"/stores/{STORE}/events/bulk") for r in mock.requests)
    assert result.unique_ids == tuple(f"order-{n}" for n in range(250))
    assert result.accepted == 250
    assert (result.requests, result.retries, result.rejections, result.duplicates) == (3, 0, (), ())
    first = mock.requests[0].body
    assert (
        first
        == b'{"events":[' + b",".join(prepare_event(event(n)).body for n in range(100)) + b"]}"
    )


def test_send_bulk_streams_its_input() -> None:
    produced = 0

    def source() -> Iterator[dict[str, Any]]:
        nonlocal produced
        for n in range(1000):
            produced += 1
            yield event(n)

    seen_when_sent: list[int] = []

    def handler(request: Request) -> Response:
        seen_when_sent.append(produced)
        return Response(202)

    client(MockTransport(handler), concurrency=1).send_bulk(source())
    assert seen_when_sent[0] <= 101
    assert len(seen_when_sent) == 10


def test_send_bulk_reports_local_rejections_and_never_sends_them() -> None:
    mock = MockTransport()
    events = [
        event(0),
        {"eventName": "Bad", "customer": {"email": "not an email"}, "uniqueId": "bad-1"},
        event(2),
        {"eventName": "No customer", "uniqueId": "bad-3"},
        "not an event",
        event(5),
    ]
    result = client(mock).send_bulk(events)
    assert result.unique_ids == ("order-0", "order-2", "order-5")
    assert [(r.index, r.unique_id) for r in result.rejections] == [
        (1, "bad-1"),
        (3, "bad-3"),
        (4, None),
    ]
    assert all(r.errors for r in result.rejections)
    assert "$.customer.email" in {p.path for p in result.rejections[0].problems}
    sent = [uid for r in mock.requests for uid in bulk_ids(r)]
    assert sent == ["order-0", "order-2", "order-5"]


def test_send_bulk_drops_repeated_unique_ids_before_sending() -> None:
    mock = MockTransport()
    events = [event(n % 3) for n in range(7)]
    result = client(mock).send_bulk(events)
    assert sorted(result.unique_ids) == ["order-0", "order-1", "order-2"]
    assert [(d.index, d.unique_id, d.first_index) for d in result.duplicates] == [
        (3, "order-0", 0),
        (4, "order-1", 1),
        (5, "order-2", 2),
        (6, "order-0", 0),
    ]
    assert sorted(uid for r in mock.requests for uid in bulk_ids(r)) == [
        "order-0",
        "order-1",
        "order-2",
    ]


def test_send_bulk_of_nothing_sends_nothing() -> None:
    mock = MockTransport()
    assert client(mock).send_bulk([]) == BulkResult()
    assert mock.requests == []


def _big_event(n: int, size: int) -> dict[str, Any]:
    """An event whose serialized body is exactly ``size`` bytes."""
    chunk = 100_000
    base = event(n, data={"$extra": {}})
    extra: dict[str, str] = {}
    base["data"]["$extra"] = extra
    overhead = len(prepare_event(base).body)
    remaining = size - overhead
    i = 0
    while remaining > 0:
        key = f"k{i:03d}"
        # "key":"value" plus a comma when it is not the first entry
        cost = len(key) + 5 + (1 if extra else 0)
        extra[key] = "x" * min(chunk, remaining - cost)
        remaining = size - len(prepare_event(base).body)
        i += 1
    assert len(prepare_event(base).body) == size
    return base


def test_send_bulk_keeps_every_request_under_5_mb() -> None:
    mock = MockTransport()
    events = [_big_event(n, 1_200_000) for n in range(10)]
    result = client(mock, concurrency=1).send_bulk(events)
    assert result.accepted == 10
    assert [len(r.json()["events"]) for r in mock.requests] == [4, 4, 2]
    assert all(len(r.body) <= limits().max_body_bytes for r in mock.requests)


def test_an_event_too_big_to_share_a_request_goes_through_the_single_endpoint() -> None:
    mock = MockTransport()
    huge = _big_event(1, limits().max_body_bytes - 5)
    result = client(mock, concurrency=1).send_bulk([event(0), huge, event(2)])
    # In input order: the request before it closes first, so nothing is sent out of turn.
    assert result.unique_ids == ("order-0", "order-1", "order-2")
    endpoints = [r.url.rsplit("/", 1)[-1] for r in mock.requests]
    assert endpoints == ["bulk", "events", "bulk"]
    assert len(mock.requests[1].body) == limits().max_body_bytes - 5


def test_send_bulk_retries_a_chunk_with_the_same_bytes() -> None:
    mock = MockTransport(responses=[202, 503, APIConnectionError("reset"), 202])
    result = client(mock, concurrency=1).send_bulk(event(n) for n in range(150))
    assert result.accepted == 150
    assert (result.requests, result.retries) == (4, 2)
    assert mock.requests[1].body == mock.requests[2].body == mock.requests[3].body


def test_a_failed_chunk_stops_the_run_and_says_what_was_delivered() -> None:
    mock = MockTransport(responses=[202, Response.problem(401, title="Unauthorized")])
    consumed = 0

    def source() -> Iterator[dict[str, Any]]:
        nonlocal consumed
        for n in range(1000):
            consumed += 1
            yield event(n)

    with pytest.raises(AuthenticationError) as caught:
        client(mock, concurrency=1).send_bulk(source())
    result = caught.value.result
    assert isinstance(result, BulkResult)
    assert result.unique_ids == tuple(f"order-{n}" for n in range(100))
    # The failed chunk, and the event read after it that no request carried.
    assert result.failed == tuple(f"order-{n}" for n in range(100, 201))
    assert result.requests == 2
    assert consumed == 201


def test_concurrent_bulk_delivers_every_event_exactly_once() -> None:
    lock = threading.Lock()
    stored: list[str] = []
    calls = 0

    def handler(request: Request) -> Response:
        nonlocal calls
        with lock:
            calls += 1
            flaky = calls % 4 == 0
            if not flaky:
                stored.extend(bulk_ids(request))
        return Response(503) if flaky else Response(202)

    result = client(MockTransport(handler), concurrency=4).send_bulk(event(n) for n in range(2000))
    assert sorted(stored) == sorted(f"order-{n}" for n in range(2000))
    assert len(stored) == len(set(stored))
    assert sorted(result.unique_ids) == sorted(stored)
    assert result.retries > 0


def test_concurrent_bulk_failure_accounts_for_every_event_read() -> None:
    read: list[str] = []

    def source() -> Iterator[dict[str, Any]]:
        for n in range(3000):
            read.append(f"order-{n}")
            yield event(n)

    def handler(request: Request) -> Response:
        return Response(403) if "order-500" in bulk_ids(request) else Response(202)

    with pytest.raises(PermissionDeniedError) as caught:
        client(MockTransport(handler), concurrency=4).send_bulk(source())
    result = caught.value.result
    assert "order-500" in result.failed
    assert not set(result.failed) & set(result.unique_ids)
    # Every event taken from the input was either delivered or reported as not.
    assert sorted(result.failed + result.unique_ids) == sorted(read)
    assert len(read) < 3000


def test_send_chunk_sends_prepared_events_as_one_request() -> None:
    mock = MockTransport()
    prepared = [prepare_event(event(n)) for n in range(3)]
    result = client(mock).send_chunk(prepared)
    assert result.unique_ids == ("order-0", "order-1", "order-2")
    assert bulk_ids(mock.requests[0]) == ["order-0", "order-1", "order-2"]
    with pytest.raises(ConfigurationError, match=r"^prepared holds 0 events.*1 to 100"):
        client(mock).send_chunk([])
    with pytest.raises(ConfigurationError, match=r"^prepared holds 101 events.*1 to 100"):
        client(mock).send_chunk([prepare_event(event(n)) for n in range(101)])
    big = [prepare_event(event(n, data={"Blob": "x" * 60_000})) for n in range(100)]
    with pytest.raises(ConfigurationError, match=r"^prepared makes .* over the 5,242,880"):
        client(mock).send_chunk(big)
    assert len(mock.requests) == 1


def test_one_client_is_safe_to_share_across_threads() -> None:
    mock = MockTransport()
    c = client(mock)
    errors: list[BaseException] = []

    def work(offset: int) -> None:
        try:
            for n in range(offset, offset + 50):
                c.send(event(n))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i * 1000,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    ids = [r.json()["uniqueId"] for r in mock.requests]
    assert len(ids) == 400 == len(set(ids))


def test_a_failed_send_says_what_it_took() -> None:
    mock = MockTransport(responses=[503, 503])
    with pytest.raises(InternalServerError) as caught:
        client(mock, retry=RetryPolicy(attempts=2)).send(event(1))
    result = caught.value.result
    assert (result.unique_ids, result.requests, result.retries) == ((), 2, 1)
    with pytest.raises(AuthenticationError) as chunk_caught:
        client(MockTransport(responses=[401])).send_chunk([prepare_event(event(1))])
    assert chunk_caught.value.result.requests == 1


def test_batcher_sends_through_this_client() -> None:
    from redo_kit._batcher import Batcher

    mock = MockTransport()
    with client(mock).batcher(flush_interval=0.01) as batcher:
        assert isinstance(batcher, Batcher)
        batcher.track(event(1))
        batcher.track(event(2))
    assert sorted(uid for r in mock.requests for uid in bulk_ids(r)) == ["order-1", "order-2"]


def test_retry_after_as_an_http_date_is_honoured(caplog: pytest.LogCaptureFixture) -> None:
    from email.utils import formatdate

    when = formatdate(time.time() + 3, usegmt=True)
    mock = MockTransport(responses=[Response(503, {"Retry-After": when}), 202])
    with caplog.at_level(logging.INFO, logger="redo_kit"):
        client(mock).send(event(1))
    (line,) = [r.getMessage() for r in caplog.records if "retrying in" in r.getMessage()]
    waited = float(line.split("retrying in ")[1].split(" s")[0])
    assert 1.5 <= waited <= 3.0


@given(
    plan=st.lists(
        st.tuples(st.integers(0, 60), st.booleans()),  # (uniqueId number, valid?)
        max_size=320,
    )
)
def test_send_bulk_accounts_for_every_event_once(plan: list[tuple[int, bool]]) -> None:
    pacing.reset()
    events = [
        event(number) if valid else {"eventName": "Bad", "uniqueId": f"order-{number}"}
        for number, valid in plan
    ]
    mock = MockTransport()
    result = client(mock, concurrency=1).send_bulk(iter(events))

    kept: dict[str, int] = {}
    expected_duplicates = []
    for index, (number, valid) in enumerate(plan):
        if not valid:
            continue
        uid = f"order-{number}"
        if uid in kept:
            expected_duplicates.append((index, uid, kept[uid]))
        else:
            kept[uid] = index
    sent = [uid for request in mock.requests for uid in bulk_ids(request)]
    assert sent == list(kept)
    assert result.unique_ids == tuple(kept)
    assert [r.index for r in result.rejections] == [i for i, (_, v) in enumerate(plan) if not v]
    assert [(d.index, d.unique_id, d.first_index) for d in result.duplicates] == (
        expected_duplicates
    )
    assert all(1 <= len(r.json()["events"]) <= 100 for r in mock.requests)
    assert len(mock.requests) == -(-len(kept) // 100)


# -- the error tree ----------------------------------------------------------------


def _redo_errors() -> list[type[RedoError]]:
    """Every RedoError subclass redo-kit defines, found by walking ``__subclasses__``."""
    import redo_kit

    for name in redo_kit.__all__:  # load every module that may define one
        getattr(redo_kit, name)
    found: list[type[RedoError]] = []
    todo: list[type[RedoError]] = [RedoError]
    while todo:
        cls = todo.pop()
        if cls.__module__.startswith("redo_kit") and cls not in found:
            found.append(cls)
            todo.extend(cls.__subclasses__())
    return found


def _drawn_tree(doc: str) -> dict[str, str | None]:
    """Each class drawn in a box-drawing tree, mapped to the class drawn as its parent."""
    import re

    lines = doc.splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() == "RedoError")
    parents: dict[str, str | None] = {"RedoError": None}
    stack = [(lines[start].index("RedoError"), "RedoError")]  # (column, name), root first
    for line in lines[start + 1 :]:
        if not line.strip():
            break
        match = re.match(r"^[\s│]*[├└]── ([A-Z][A-Za-z]+)", line)
        if match is None:
            continue  # a description running onto a second line
        column, name = match.start(1), match.group(1)
        while stack[-1][0] >= column:
            stack.pop()
        parents[name] = stack[-1][1]
        stack.append((column, name))
    return parents


def test_the_errors_module_draws_the_whole_tree() -> None:
    from redo_kit import _errors

    assert _errors.__doc__ is not None
    drawn = _drawn_tree(_errors.__doc__)
    classes = {cls.__name__: cls for cls in _redo_errors()}
    assert set(drawn) == set(classes)
    for name, parent in drawn.items():
        bases = [base.__name__ for base in classes[name].__bases__]
        assert parent in bases if parent else name == "RedoError", (name, parent, bases)


def test_every_error_is_exported_and_in_the_readme() -> None:
    from pathlib import Path

    import redo_kit

    readme = Path(__file__).resolve().parents[1].joinpath("README.md").read_text("utf-8")
    section = readme.split("## Errors", 1)[1].split("\n## ", 1)[0]
    for cls in _redo_errors():
        assert getattr(redo_kit, cls.__name__) is cls, cls
        assert cls.__name__ in redo_kit.__all__
        assert cls.__name__ in section, cls
