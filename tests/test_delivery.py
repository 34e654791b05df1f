"""The delivery engine: packing within the spec's limits, ordered and unordered delivery."""

from __future__ import annotations

import itertools
import threading
import time
from typing import Any

import orjson
import pytest
from helpers import emulator_client, mock_client

from redo_kit import _retry
from redo_kit._batcher import Batcher
from redo_kit._delivery import (
    BULK,
    ENVELOPE_BYTES,
    SINGLE,
    Batch,
    Job,
    Outcome,
    Packer,
    Room,
    Sent,
    deliver,
    pack,
    server_rejections,
)
from redo_kit._errors import (
    APIConnectionError,
    APIError,
    BadRequestError,
    DeliveryTimeoutError,
    InternalServerError,
    ValidationError,
    make_status_error,
)
from redo_kit._events import PreparedEvent, prepare_event
from redo_kit._rules import limits
from redo_kit._transport import MockTransport, Request, Response


def event(n: int, *, padding: int = 0) -> PreparedEvent:
    """Event ``n``, with about ``padding`` bytes more in strings of 100,000 under ``$extra``."""
    data: dict[str, Any] = {"n": n}
    if padding:
        chunks = [min(100_000, padding - start) for start in range(0, padding, 100_000)]
        data["$extra"] = {f"k{i:03d}": "x" * size for i, size in enumerate(chunks)}
    return prepare_event(
        {
            "eventName": "Order Placed",
            "customer": {"email": f"c{n}@example.com"},
            "data": data,
            "uniqueId": f"order-{n}",
        }
    )


def test_packing_fills_requests_by_count_in_input_order() -> None:
    most = limits().bulk_events[1]
    events = [event(n) for n in range(2 * most + 5)]
    batches = list(pack(events))
    assert [len(b.events) for b in batches] == [most, most, 5]
    assert [e for b in batches for e in b.events] == events
    assert all(b.endpoint == BULK for b in batches)
    assert orjson.loads(batches[2].body) == {"events": [e.payload for e in events[-5:]]}


def test_packing_fills_requests_by_bytes_and_never_over_the_body_limit() -> None:
    max_bytes = limits().max_body_bytes
    events = [event(n, padding=max_bytes // 7) for n in range(20)]
    batches = list(pack(events))
    assert all(len(b.body) <= max_bytes for b in batches)
    # As full as the limit allows: one more event would not have fitted.
    for first, second in itertools.pairwise(batches):
        assert len(first.body) + 1 + len(second.events[0].body) > max_bytes
    assert [e for b in batches for e in b.events] == events


def test_an_event_too_large_for_a_bulk_body_closes_the_request_before_it() -> None:
    max_bytes = limits().max_body_bytes
    huge = event(1, padding=max_bytes - 648)  # a body 5 bytes under the limit
    assert len(huge.body) + ENVELOPE_BYTES > max_bytes
    packer = Packer()
    assert packer.add(event(0)) == ()
    before, alone = packer.add(huge)
    assert before.endpoint == BULK
    assert [e.unique_id for e in before.events] == ["order-0"]
    assert alone.endpoint == SINGLE
    assert alone.body == huge.body
    assert packer.finish() is None
    assert Batch.of([huge]).endpoint == SINGLE


def test_a_request_packed_but_not_sent_when_one_failed_counts_as_failed(no_waits: None) -> None:
    huge = event(1, padding=limits().max_body_bytes - 648)  # closes two requests at once
    transport = MockTransport(responses=[Response(400)])
    with mock_client(transport, concurrency=1) as client, pytest.raises(BadRequestError) as raised:
        client.send_bulk([event(0), huge, event(2)])
    assert raised.value.result is not None
    assert raised.value.result.failed == ("order-0", "order-1")
    assert len(transport.requests) == 1


def test_a_room_always_takes_the_first_event_and_counts_commas() -> None:
    room = Room()
    assert room.take(limits().max_body_bytes * 2)
    assert not room.fits(1)
    room = Room()
    free = limits().max_body_bytes - ENVELOPE_BYTES
    assert room.take(free - 11)
    assert room.fits(10)
    assert not room.fits(11)  # one byte for the comma


class Script:
    """A sender whose answers are scripted per request, in the order requests start."""

    def __init__(self, *answers: Any, delay: float = 0.0) -> None:
        self.answers = list(answers)
        self.sent: list[Batch] = []
        self.delay = delay
        self.lock = threading.Lock()

    def send_batch(self, batch: Batch) -> Sent:
        with self.lock:
            answer = self.answers.pop(0) if self.answers else b""
            self.sent.append(batch)
        time.sleep(self.delay)
        if isinstance(answer, BaseException):
            raise answer
        return Sent(body=answer)

    def retryable(self, error: APIError) -> bool:
        return isinstance(error, APIConnectionError)


def jobs(count: int) -> list[Job[int]]:
    return [Job(batch=Batch.of([event(n)]), context=n) for n in range(count)]


def test_ordered_delivery_settles_every_job_once_in_input_order() -> None:
    settled: list[tuple[int, bool]] = []
    script = Script(delay=0.01)
    everything = [*jobs(10), Job(batch=None, context=10)]
    ok = deliver(
        everything, script, lambda j, o: settled.append((j.context, o is None)), concurrency=4
    )
    assert ok
    assert settled == [(n, n == 10) for n in range(11)]


def test_a_failure_stops_reading_and_the_requests_in_flight_still_settle() -> None:
    read: list[int] = []

    def source() -> Any:
        for job in jobs(50):
            read.append(job.context)
            yield job

    outcomes: list[Outcome | None] = []
    ok = deliver(
        source(),
        Script(b"", make_status_error(400)),
        lambda j, o: outcomes.append(o),
        concurrency=1,
    )
    assert not ok
    assert read == [0, 1]
    assert [o.error is None for o in outcomes if o is not None] == [True, False]
    assert outcomes[1] is not None
    assert not outcomes[1].retryable


def test_unordered_delivery_settles_on_the_sending_thread_and_does_not_stop() -> None:
    threads: set[str] = set()
    errors: list[bool] = []

    def settle(job: Job[int], outcome: Outcome | None) -> None:
        threads.add(threading.current_thread().name)
        assert outcome is not None
        errors.append(outcome.retryable)

    ok = deliver(
        jobs(6),
        Script(APIConnectionError("refused"), *[b""] * 5),
        settle,
        concurrency=3,
        ordered=False,
        stop_on_failure=False,
    )
    assert not ok
    assert sorted(errors) == [False] * 5 + [True]
    assert threads == {"redo-kit-delivery"}


def test_a_bug_in_the_sender_is_raised_not_swallowed() -> None:
    with pytest.raises(ZeroDivisionError):
        deliver(jobs(3), Script(ZeroDivisionError()), lambda j, o: None, concurrency=2)


def test_the_servers_per_event_report_names_the_rejected_events() -> None:
    batch = Batch.of([event(n) for n in range(3)])
    report = {
        "total": 3,
        "accepted": 2,
        "rejected": 1,
        "events": [
            {"index": 0, "status": "queued", "eventId": "e0"},
            {"index": 1, "status": "rejected", "eventName": None, "error": "eventName missing"},
            {"index": 2, "status": "queued", "eventId": "e2"},
        ],
    }
    rejected = server_rejections(batch, orjson.dumps(report))
    assert [(r.index, r.event.unique_id, r.message) for r in rejected] == [
        (1, "order-1", "eventName missing")
    ]
    outcome = Outcome(batch=batch, rejected=rejected)
    assert [e.unique_id for e in outcome.accepted] == ["order-0", "order-2"]
    # Anything else in a 2xx body is not a report.
    for body in (b"", b"{}", b"[]", b'{"events": 3}', b'{"events": [{"index": true}]}'):
        assert server_rejections(batch, body) == ()


def test_send_bulk_reports_the_servers_rejections_beside_its_own() -> None:
    def answer(request: Request) -> Response:
        sent = orjson.loads(request.body)["events"]
        items = [
            {"index": i, "status": "rejected" if e["uniqueId"] == "order-3" else "queued",
             "error": "Customer could not be resolved"}
            for i, e in enumerate(sent)
        ]  # fmt: skip
        report = {"total": len(sent), "accepted": len(sent) - 1, "rejected": 1, "events": items}
        return Response(202, {"content-type": "application/json"}, orjson.dumps(report))

    client = mock_client(MockTransport(answer))
    result = client.send_bulk([event(n).payload for n in range(5)] + [{"eventName": ""}])
    assert "order-3" not in result.unique_ids
    assert result.accepted == 4
    assert [(r.index, r.unique_id) for r in result.rejections] == [(3, "order-3"), (5, None)]
    assert result.rejections[0].problems[0].rule == "server-rejected"
    assert "could not be resolved" in result.rejections[0].problems[0].message


@pytest.fixture
def no_waits() -> Any:
    _retry.set_testing(True)
    yield
    _retry.set_testing(False)


def test_a_retryable_failure_goes_back_to_the_outbox_until_it_is_delivered(
    no_waits: None,
) -> None:
    answers = iter([APIConnectionError("refused")] * 4 + [Response(503)] * 4)

    def flaky(request: Request) -> Response:
        answer = next(answers, None)
        if isinstance(answer, Exception):
            raise answer
        return answer or Response(202)

    failures: list[BaseException] = []
    client = mock_client(MockTransport(flaky), retry=_retry.RetryPolicy(attempts=2))
    with Batcher(client, on_error=lambda events, exc: failures.append(exc)) as batcher:
        ids = [batcher.track(event(n).payload) for n in range(30)]
        # Backoff between tries is real (a request waits in the outbox): a few seconds at most.
        assert batcher.flush(30).completed
        stats = batcher.stats()
    assert failures == []
    assert (stats.sent, stats.failed, stats.pending) == (len(ids), 0, 0)
    assert stats.deferred == 4  # four requests of two attempts each failed, then one got through


def test_past_the_delivery_budget_events_go_to_on_error_with_the_cause(no_waits: None) -> None:
    failures: list[tuple[int, BaseException]] = []
    client = mock_client(MockTransport(lambda request: Response(503)))
    with Batcher(
        client,
        delivery_timeout=0.5,
        on_error=lambda events, exc: failures.append((len(events), exc)),
    ) as batcher:
        for n in range(10):
            batcher.track(event(n).payload)
        started = time.monotonic()
        assert batcher.flush(10).completed
        elapsed = time.monotonic() - started
        stats = batcher.stats()
    assert sum(count for count, _ in failures) == 10
    (_, error), *_ = failures
    assert isinstance(error, DeliveryTimeoutError)
    assert error.elapsed >= 0.5
    assert isinstance(error.__cause__, InternalServerError)
    assert "delivery budget of 0.5 s" in str(error)
    assert stats.deferred >= 1
    assert stats.failed == 10
    assert 0.5 <= elapsed < 5


def test_a_refusal_is_never_retried_later(no_waits: None) -> None:
    failures: list[BaseException] = []
    transport = MockTransport(lambda request: Response.problem(400, title="Bad"))
    with Batcher(
        mock_client(transport), on_error=lambda events, exc: failures.append(exc)
    ) as batcher:
        batcher.track(event(1).payload)
        assert batcher.flush(5).completed
        assert batcher.stats().deferred == 0
    assert len(transport.requests) == 1
    assert isinstance(failures[0], BadRequestError)


def unchecked(n: int) -> PreparedEvent:
    """An event with no customer, made by hand: a prepared event is sent as it is."""
    body = orjson.dumps({"eventName": "Order Placed", "uniqueId": f"order-{n}"})
    return PreparedEvent(payload=orjson.loads(body), body=body, unique_id=f"order-{n}")


def test_the_emulators_bulk_report_reaches_send_bulk_and_the_batcher(
    emulator_factory: Any,
) -> None:
    emu = emulator_factory(rate_limit=None, bulk_report=True)
    with emulator_client(emu) as client:
        result = client.send_bulk([event(n) for n in range(3)] + [unchecked(3)])
        assert sorted(result.unique_ids) == ["order-0", "order-1", "order-2"]
        assert [(r.index, r.unique_id) for r in result.rejections] == [(3, "order-3")]
        assert "customer" in result.rejections[0].problems[0].message
        failures: list[tuple[list[str], BaseException]] = []
        with client.batcher(
            on_error=lambda events, exc: failures.append(([e.unique_id for e in events], exc))
        ) as batcher:
            batcher.track(unchecked(4))
            batcher.track(event(5))
            assert batcher.flush(10).completed
            stats = batcher.stats()
    assert (stats.sent, stats.failed) == (1, 1)
    ((ids, error),) = failures
    assert ids == ["order-4"]
    assert isinstance(error, ValidationError)
    assert error.problems[0].rule == "server-rejected"
    stored = sorted(e["uniqueId"] for e in emu.events())
    assert stored == ["order-0", "order-1", "order-2", "order-5"]
