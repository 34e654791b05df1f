"""The batcher against the in-memory transport: queue bounds, overflow, lifecycle, fork, exit."""

from __future__ import annotations

import inspect
import logging
import os
import subprocess
import sys
import textwrap
import threading
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from helpers import STORE, mock_client, track_from_threads

from redo_kit import _batcher as batcher_module
from redo_kit._batcher import Batcher, QueueFullError
from redo_kit._client import RedoClient
from redo_kit._errors import (
    ConfigurationError,
    DeliveryTimeoutError,
    InternalServerError,
    ValidationError,
)
from redo_kit._events import PreparedEvent, PrepareOptions, prepare_event
from redo_kit._retry import RetryPolicy
from redo_kit._transport import MockTransport, Request, Response

pytestmark = pytest.mark.usefixtures("no_waits")


def event(n: int, **extra: Any) -> dict[str, Any]:
    return {
        "eventName": "Order Placed",
        "customer": {"email": f"c{n}@example.com"},
        "data": {"n": n + 1, **extra},
    }


def sent_ids(transport: MockTransport) -> list[str]:
    ids = []
    for request in transport.requests:
        body = request.json()
        items = body.get("events", [body])
        ids.extend(item["uniqueId"] for item in items)
    return ids


def wait_until(condition: Any, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        threading.Event().wait(0.005)
    return bool(condition())


class Gate:
    """A transport handler that holds every request until released."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.entered = threading.Semaphore(0)
        self.transport = MockTransport(self.handle)

    def handle(self, request: Request) -> Response:
        self.entered.release()
        self.release.wait(10)
        return Response(202)


@pytest.fixture
def mock() -> Iterator[tuple[MockTransport, RedoClient]]:
    transport = MockTransport()
    with mock_client(transport) as client:
        yield transport, client


# -- track ---------------------------------------------------------------------


def test_track_returns_the_unique_id_that_is_sent(mock: tuple[MockTransport, RedoClient]) -> None:
    transport, client = mock
    with Batcher(client) as batcher:
        given = batcher.track({**event(1), "uniqueId": "order-1"})
        made = batcher.track(event(2))
        assert batcher.flush(5).completed
    assert given == "order-1"
    assert sent_ids(transport) == ["order-1", made]


def test_an_invalid_event_raises_on_the_callers_thread_and_is_never_queued(
    mock: tuple[MockTransport, RedoClient],
) -> None:
    transport, client = mock
    drops: list[Any] = []
    with Batcher(client, on_drop=lambda e, r: drops.append(r)) as batcher:
        with pytest.raises(ValidationError) as caught:
            batcher.track({"eventName": "Order Placed", "customer": {"email": "not-an-email"}})
        assert any(p.path == "$.customer.email" for p in caught.value.errors)
        stats = batcher.stats()
    assert (stats.queued, stats.dropped, stats.pending) == (0, 0, 0)
    assert drops == []
    assert transport.requests == []


def test_track_takes_a_prepared_event_and_the_prepare_options(
    mock: tuple[MockTransport, RedoClient],
) -> None:
    transport, client = mock
    prepared = prepare_event(event(1))
    with Batcher(client, default_region="US", allow_unknown_keys=True) as batcher:
        assert batcher.track(prepared) == prepared.unique_id
        phone = batcher.track(
            {"eventName": "Signed Up", "customer": {"phoneNumber": "(206) 555-0100"}, "x": 1}
        )
        assert batcher.track(event(2), unique_id="natural-2") == "natural-2"
        batcher.flush(5)
    bodies = [item for r in transport.requests for item in r.json()["events"]]
    assert bodies[0]["uniqueId"] == prepared.unique_id
    assert bodies[1]["uniqueId"] == phone
    assert bodies[1]["customer"]["phoneNumber"] == "+12065550100"


# -- batching --------------------------------------------------------------------


def test_requests_carry_at_most_100_events_and_each_event_once(
    mock: tuple[MockTransport, RedoClient],
) -> None:
    transport, client = mock
    with Batcher(client, flush_interval=60) as batcher:
        ids = [batcher.track(event(n)) for n in range(250)]
        result = batcher.flush(5)
    assert result.completed
    assert result.left == 0
    sizes = sorted(len(r.json()["events"]) for r in transport.requests)
    assert sizes == [50, 100, 100]
    assert all(r.url.endswith(f"/stores/{STORE}/events/bulk") for r in transport.requests)
    assert sorted(sent_ids(transport)) == sorted(ids)


def test_a_full_request_goes_out_without_waiting_for_the_interval(
    mock: tuple[MockTransport, RedoClient],
) -> None:
    transport, client = mock
    with Batcher(client, flush_interval=60) as batcher:
        for n in range(130):
            batcher.track(event(n))
        assert wait_until(lambda: len(transport.requests) == 1)
        assert len(transport.requests[0].json()["events"]) == 100
        assert batcher.stats().pending == 30


def test_a_partial_request_goes_out_after_the_flush_interval(
    mock: tuple[MockTransport, RedoClient],
) -> None:
    transport, client = mock
    with Batcher(client, flush_interval=0.05) as batcher:
        started = time.monotonic()
        batcher.track(event(1))
        assert wait_until(lambda: len(transport.requests) == 1, timeout=2)
        assert time.monotonic() - started >= 0.05


def test_requests_stay_under_5_mb() -> None:
    transport = MockTransport()
    big = "x" * 100_000
    # About 1.1 MB per event: four fit in one 5 MB request, not five.
    heavy = [event(n, **{f"p{k}": big for k in range(11)}) for n in range(6)]
    with mock_client(transport) as client, Batcher(client, flush_interval=60) as batcher:
        for item in heavy:
            batcher.track(item)
        assert batcher.flush(10).completed
    assert sorted(len(r.json()["events"]) for r in transport.requests) == [2, 4]
    assert all(len(r.body) <= 5_242_880 for r in transport.requests)


def test_an_event_too_large_for_a_bulk_body_goes_alone_to_the_single_endpoint(
    mock: tuple[MockTransport, RedoClient],
) -> None:
    transport, client = mock
    body = b'{"eventName":"E","customer":{"email":"a@example.com"},"uniqueId":"big"}'
    huge = PreparedEvent(payload={}, body=body + b" " * (5_242_875 - len(body)), unique_id="big")
    with Batcher(client, max_bytes=6_000_000) as batcher:
        batcher.track(event(1))
        batcher.track(huge)
        assert batcher.flush(10).completed
        assert batcher.stats().sent == 2
    urls = sorted(r.url.rsplit("/", 1)[-1] for r in transport.requests)
    assert urls == ["bulk", "events"]


def test_threads_tracking_at_once_send_every_event_once(
    mock: tuple[MockTransport, RedoClient],
) -> None:
    transport, client = mock
    with Batcher(client, flush_interval=0.01, max_events=500) as batcher:
        tracked = track_from_threads(batcher, [[event(n) for n in range(1_000)]] * 8)
        assert batcher.flush(10).completed
        stats = batcher.stats()
    ids = sent_ids(transport)
    assert len(ids) == len(set(ids)) == 8_000
    assert set(ids) == set(tracked)
    assert (stats.queued, stats.sent, stats.dropped, stats.pending) == (8_000, 8_000, 0, 0)


# -- overflow --------------------------------------------------------------------


@pytest.fixture
def gate() -> Iterator[tuple[Gate, RedoClient]]:
    held = Gate()
    with mock_client(held.transport) as client:
        yield held, client
    held.release.set()


def fill(gate: Gate, batcher: Batcher, count: int) -> list[str]:
    """One event held in flight, then ``count`` more waiting in the queue."""
    ids = [batcher.track(event(0))]
    assert gate.entered.acquire(timeout=5)
    ids += [batcher.track(event(n)) for n in range(1, count + 1)]
    return ids


def test_drop_newest_refuses_the_new_event_and_reports_it(
    gate: tuple[Gate, RedoClient],
) -> None:
    held, client = gate
    drops: list[tuple[str, str]] = []
    with Batcher(
        client,
        overflow="drop_newest",
        max_events=5,
        senders=1,
        flush_interval=0,
        on_drop=lambda e, r: drops.append((e.unique_id, r)),
    ) as batcher:
        kept = fill(held, batcher, 5)
        refused = batcher.track(event(99))
        assert drops == [(refused, "queue-full")]
        assert batcher.stats().dropped == 1
        held.release.set()
        assert batcher.flush(5).completed
        stats = batcher.stats()
    assert sorted(sent_ids(held.transport)) == sorted(kept)
    assert (stats.queued, stats.sent, stats.dropped) == (6, 6, 1)


def test_drop_oldest_evicts_the_oldest_queued_event(gate: tuple[Gate, RedoClient]) -> None:
    held, client = gate
    drops: list[tuple[str, str]] = []
    with Batcher(
        client,
        overflow="drop_oldest",
        max_events=5,
        senders=1,
        flush_interval=0,
        on_drop=lambda e, r: drops.append((e.unique_id, r)),
    ) as batcher:
        ids = fill(held, batcher, 5)
        newest = batcher.track(event(99))
        assert drops == [(ids[1], "evicted")]
        held.release.set()
        assert batcher.flush(5).completed
        stats = batcher.stats()
    assert sorted(sent_ids(held.transport)) == sorted([ids[0], *ids[2:], newest])
    assert (stats.queued, stats.sent, stats.dropped) == (7, 6, 1)


def test_raise_refuses_with_an_error_and_keeps_the_queue(gate: tuple[Gate, RedoClient]) -> None:
    held, client = gate
    drops: list[Any] = []
    with Batcher(
        client,
        overflow="raise",
        max_events=5,
        senders=1,
        flush_interval=0,
        on_drop=lambda e, r: drops.append(r),
    ) as batcher:
        kept = fill(held, batcher, 5)
        with pytest.raises(QueueFullError, match="queue is full") as caught:
            batcher.track({**event(99), "uniqueId": "refused-99"})
        assert caught.value.event.unique_id == "refused-99"
        held.release.set()
        assert batcher.flush(5).completed
        stats = batcher.stats()
    assert drops == []
    assert sorted(sent_ids(held.transport)) == sorted(kept)
    assert (stats.queued, stats.sent, stats.dropped) == (6, 6, 0)


def test_block_waits_for_room_then_queues(gate: tuple[Gate, RedoClient]) -> None:
    held, client = gate
    with Batcher(client, max_events=5, senders=1, flush_interval=0, block_timeout=5) as batcher:
        kept = fill(held, batcher, 5)
        timer = threading.Timer(0.1, held.release.set)
        timer.start()
        started = time.monotonic()
        kept.append(batcher.track(event(99)))
        waited = time.monotonic() - started
        timer.join()
        assert batcher.flush(5).completed
        stats = batcher.stats()
    assert 0.05 <= waited < 4
    assert sorted(sent_ids(held.transport)) == sorted(kept)
    assert (stats.queued, stats.sent, stats.dropped) == (7, 7, 0)


def test_block_drops_after_its_timeout(gate: tuple[Gate, RedoClient]) -> None:
    held, client = gate
    drops: list[str] = []
    with Batcher(
        client,
        max_events=5,
        senders=1,
        flush_interval=0,
        block_timeout=0.1,
        on_drop=lambda e, r: drops.append(r),
    ) as batcher:
        fill(held, batcher, 5)
        started = time.monotonic()
        batcher.track(event(99))
        waited = time.monotonic() - started
        held.release.set()
        batcher.flush(5)
    assert 0.1 <= waited < 2
    assert drops == ["queue-full"]


def test_the_queue_is_bounded_by_bytes_too(gate: tuple[Gate, RedoClient]) -> None:
    held, client = gate
    drops: list[str] = []
    size = len(prepare_event(event(1)).body)
    with Batcher(
        client,
        overflow="drop_newest",
        max_bytes=3 * size + 10,
        senders=1,
        flush_interval=0,
        on_drop=lambda e, r: drops.append(r),
    ) as batcher:
        fill(held, batcher, 3)
        batcher.track(event(4))
        assert drops == ["queue-full"]
        assert batcher.stats().pending_bytes <= 4 * size + 10
        held.release.set()


# -- counters and failures ---------------------------------------------------------


def test_retries_are_counted(mock: tuple[MockTransport, RedoClient]) -> None:
    transport = MockTransport(responses=[503, 503, 202])
    with mock_client(transport) as client, Batcher(client) as batcher:
        batcher.track(event(1))
        assert batcher.flush(5).completed
        stats = batcher.stats()
    assert (stats.sent, stats.retried, stats.requests, stats.failed) == (1, 2, 1, 0)
    assert transport.requests[0].body == transport.requests[2].body


def test_exhausted_retries_go_to_on_error_and_the_dead_letter_file(tmp_path: Path) -> None:
    transport = MockTransport(lambda request: Response(503))
    dead = tmp_path / "dead.jsonl"
    failures: list[tuple[list[str], BaseException]] = []
    with (
        mock_client(transport, retry=RetryPolicy(attempts=3)) as client,
        Batcher(
            client,
            flush_interval=60,
            delivery_timeout=0,
            dead_letter=dead,
            on_error=lambda events, exc: failures.append(([e.unique_id for e in events], exc)),
        ) as batcher,
    ):
        ids = [batcher.track(event(n)) for n in range(150)]
        assert batcher.flush(5).completed
        stats = batcher.stats()
    assert sorted(i for batch, _ in failures for i in batch) == sorted(ids)
    # Past the delivery budget (none here): the last failure is the cause.
    assert all(isinstance(exc, DeliveryTimeoutError) for _, exc in failures)
    assert all(isinstance(exc.__cause__, InternalServerError) for _, exc in failures)
    assert (stats.failed, stats.sent, stats.pending) == (150, 0, 0)
    # Two requests, each tried three times.
    assert stats.retried == 4
    lines = dead.read_bytes().splitlines()
    replay = [orjson.loads(line) for line in lines]
    assert sorted(item["uniqueId"] for item in replay) == sorted(ids)
    # Each line is the event exactly as it was sent, ready to be prepared again.
    assert prepare_event(replay[0]).body == lines[0]


def test_a_failing_callback_does_not_stop_delivery(mock: tuple[MockTransport, RedoClient]) -> None:
    transport = MockTransport(responses=[400, 202])

    def broken(*args: Any) -> None:
        raise RuntimeError("callback bug")

    with mock_client(transport) as client, Batcher(client, on_error=broken) as batcher:
        batcher.track(event(1))
        batcher.flush(5)
        batcher.track(event(2))
        assert batcher.flush(5).completed
        stats = batcher.stats()
    assert (stats.failed, stats.sent) == (1, 1)


# -- flush and close -----------------------------------------------------------------


def test_flush_keeps_its_deadline_while_a_request_hangs(gate: tuple[Gate, RedoClient]) -> None:
    held, client = gate
    with Batcher(client, flush_interval=60) as batcher:
        for n in range(120):
            batcher.track(event(n))
        started = time.monotonic()
        result = batcher.flush(0.2)
        elapsed = time.monotonic() - started
        assert 0.2 <= elapsed < 1.0
        assert not result.completed
        assert result.left == 120
        held.release.set()
        assert batcher.flush(5).completed


def test_close_keeps_its_deadline_and_hands_back_what_was_left(
    gate: tuple[Gate, RedoClient], tmp_path: Path
) -> None:
    held, client = gate
    dead = tmp_path / "left.jsonl"
    drops: list[str] = []
    batcher = Batcher(
        client,
        flush_interval=60,
        senders=1,
        dead_letter=dead,
        on_drop=lambda e, r: drops.append(r),
    )
    for n in range(150):
        batcher.track(event(n))
    started = time.monotonic()
    result = batcher.close(0.2)
    assert time.monotonic() - started < 1.0
    assert (result.completed, result.in_flight, result.abandoned, result.queued) == (
        False,
        100,
        50,
        0,
    )
    assert drops == ["closed"] * 50
    # The 50 abandoned, then the 100 whose request had not come back.
    assert len(dead.read_bytes().splitlines()) == 150
    assert batcher.track(event(1000))
    assert drops[-1] == "closed"
    assert batcher.close() is result
    held.release.set()
    assert wait_until(lambda: batcher.stats().sent == 100)


def test_close_delivers_what_is_queued(mock: tuple[MockTransport, RedoClient]) -> None:
    transport, client = mock
    batcher = Batcher(client, flush_interval=60)
    ids = [batcher.track(event(n)) for n in range(42)]
    result = batcher.close(5)
    assert result.completed
    assert result.left == 0
    assert batcher.closed
    assert sorted(sent_ids(transport)) == sorted(ids)
    assert batcher._drain is not None
    assert not batcher._drain.is_alive()


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("overflow", "wait"),
        ("flush_interval", -1),
        ("flush_interval", "soon"),
        ("flush_interval", float("inf")),
        ("block_timeout", float("nan")),
        ("exit_timeout", True),
        ("handle_sigterm", 1),
        ("max_events", 0),
        ("max_events", 1.5),
        ("max_bytes", -1),
        ("senders", 0),
        ("on_drop", "log"),
        ("on_error", 3),
        ("options", {"allow_unknown_keys": True}),
        ("allow_unknown_keys", "yes"),
        ("default_region", "USA"),
        ("move_nested_to_extra", 1),
    ],
)
def test_each_bad_setting_is_a_configuration_error_naming_it(
    mock: tuple[MockTransport, RedoClient], name: str, value: object
) -> None:
    transport, client = mock
    threads = set(threading.enumerate())
    with pytest.raises(ConfigurationError, match=rf"^{name} must be"):
        Batcher(client, **{name: value})
    with pytest.raises(ConfigurationError, match=rf"^{name} must be"):
        client.batcher(**{name: value})
    # A refused batcher started no sender thread.
    assert not {t for t in threading.enumerate() if t.name.startswith("redo-kit")} - threads
    assert transport.requests == []


# -- fork and exit ---------------------------------------------------------------------


def _fork() -> int:
    with warnings.catch_warnings():
        # Python 3.12+ warns about fork() in a threaded process: exactly the case under test.
        warnings.simplefilter("ignore", DeprecationWarning)
        return os.fork()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_sends_its_own_events_and_none_of_the_parents(
    mock: tuple[MockTransport, RedoClient],
) -> None:
    transport, client = mock
    batcher = Batcher(client, flush_interval=60)
    parent_ids = [batcher.track(event(n)) for n in range(30)]
    read_end, write_end = os.pipe()
    pid = _fork()
    if pid == 0:  # the child: report what it sent through the pipe, then leave at once
        code = 1
        try:
            os.close(read_end)
            before = batcher.stats()
            child_ids = [batcher.track(event(n)) for n in range(20)]
            result = batcher.close(5)
            report = {
                "before": before.pending,
                "tracked": child_ids,
                "sent": sent_ids(transport),
                "completed": result.completed,
            }
            os.write(write_end, orjson.dumps(report))
            code = 0
        finally:
            os._exit(code)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        report = orjson.loads(pipe.read())
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert report["before"] == 0
    assert report["completed"]
    assert sorted(report["sent"]) == sorted(report["tracked"])
    assert not set(report["sent"]) & set(parent_ids)
    # The parent's queue was left as it was, and is delivered by the parent.
    assert batcher.stats().pending == 30
    assert batcher.close(5).completed
    assert sorted(sent_ids(transport)) == sorted(parent_ids)


def test_a_process_that_exits_without_close_delivers_its_queue(tmp_path: Path) -> None:
    log = tmp_path / "sent.txt"
    script = textwrap.dedent(
        f"""
        from redo_kit._batcher import Batcher
        from redo_kit._client import RedoClient
        from redo_kit._transport import MockTransport, Response

        def record(request):
            with open({str(log)!r}, "a") as out:
                for item in request.json()["events"]:
                    out.write(item["uniqueId"] + "\\n")
            return Response(202)

        client = RedoClient(store_id="s1", api_key="k", base_url="http://127.0.0.1:9",
                            transport=MockTransport(record), rate_limit=None)
        batcher = Batcher(client, flush_interval=60)
        for n in range(500):
            print(batcher.track({{"eventName": "E", "customer": {{"email": "a@example.com"}}}}))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    tracked = done.stdout.split()
    sent = log.read_text().split()
    assert len(tracked) == 500
    assert sorted(sent) == sorted(tracked)


def test_exit_with_a_hung_server_takes_one_exit_timeout_not_one_per_step(tmp_path: Path) -> None:
    script = textwrap.dedent(
        """
        import socket, threading
        from redo_kit._client import RedoClient

        hung = socket.create_server(("127.0.0.1", 0))
        held = []
        threading.Thread(target=lambda: held.extend(hung.accept() for _ in range(8)),
                         daemon=True).start()
        client = RedoClient(store_id="s1", api_key="k",
                            base_url=f"http://127.0.0.1:{hung.getsockname()[1]}/v2.2",
                            timeout=60, rate_limit=None)
        batcher = client.batcher(flush_interval=0, exit_timeout=3)
        for n in range(300):
            batcher.track({"eventName": "E", "customer": {"email": "a@example.com"}})
        import time
        print(time.monotonic(), flush=True)  # the exit starts here
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    # CLOCK_MONOTONIC is one clock for every process of the machine: the exit's
    # own length, whatever the interpreter's start and imports cost.
    exiting = time.monotonic() - float(done.stdout.split()[-1])
    assert done.returncode == 0, done.stderr
    # The flush at thread shutdown and the close at atexit share one deadline:
    # one exit_timeout (3 s), not 6 s.
    assert 3 <= exiting < 4.5, exiting
    assert "still in flight" in done.stderr


def test_the_client_makes_batchers(mock: tuple[MockTransport, RedoClient]) -> None:
    transport, client = mock
    with client.batcher(flush_interval=60) as batcher:
        assert isinstance(batcher, Batcher)
        unique = batcher.track(event(1))
        assert "queued=1" in repr(batcher)
    assert sent_ids(transport) == [unique]
    assert "closed" in repr(batcher)


def test_the_clients_batcher_takes_exactly_the_batchers_arguments() -> None:
    ours = inspect.signature(RedoClient.batcher).parameters
    theirs = inspect.signature(Batcher.__init__).parameters
    assert [(p.name, p.kind, p.default, p.annotation) for p in list(ours.values())[1:]] == [
        (p.name, p.kind, p.default, p.annotation) for p in list(theirs.values())[2:]
    ]
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in list(ours.values())[1:])


def test_a_batcher_prepares_with_its_clients_options_unless_given_others() -> None:
    odd = {"eventName": "Signed Up", "customer": {"phoneNumber": "(206) 555-0100"}, "x": 1}
    transport = MockTransport()
    lenient = PrepareOptions(allow_unknown_keys=True, default_region="US")
    with mock_client(transport, prepare=lenient) as client:
        with client.batcher(flush_interval=60) as batcher:
            batcher.track(odd)
        with Batcher(client, allow_unknown_keys=False) as strict, pytest.raises(ValidationError):
            strict.track(odd)
        with Batcher(client, options=PrepareOptions()) as plain, pytest.raises(ValidationError):
            plain.track(odd)
    with mock_client(transport) as client, client.batcher(options=lenient) as batcher:
        batcher.track(odd)
    phones = [e["customer"]["phoneNumber"] for r in transport.requests for e in r.json()["events"]]
    assert phones == ["+12065550100", "+12065550100"]


def test_a_prepared_event_keeps_its_unique_id(mock: tuple[MockTransport, RedoClient]) -> None:
    _, client = mock
    prepared = prepare_event({**event(1), "uniqueId": "kept"})
    with Batcher(client) as batcher:
        assert batcher.track(prepared, unique_id="kept") == "kept"
        with pytest.raises(ValidationError, match="uniqueId"):
            batcher.track(prepared, unique_id="other")
        assert batcher.stats().queued == 1


def test_without_callbacks_drops_and_failures_are_logged(
    gate: tuple[Gate, RedoClient], caplog: pytest.LogCaptureFixture
) -> None:
    held, client = gate
    caplog.set_level(logging.DEBUG, logger="redo_kit")
    with Batcher(client, overflow="drop_newest", max_events=1, senders=1, flush_interval=0) as b:
        fill(held, b, 1)
        b.track(event(2))
        b.track(event(3))
        held.release.set()
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    # One warning per incident with its count, not one per event: the first
    # drop is said at once, the one right after it is added up and said at close.
    assert [m for m in warned if "dropped" in m] == [
        "redo-kit batcher dropped 1 event(s) (queue-full); pass on_drop= to handle drops"
    ] * 2

    caplog.clear()
    failing = MockTransport(responses=[400])
    with mock_client(failing) as other, Batcher(other) as batcher:
        batcher.track(event(1))
        batcher.flush(5)
    assert any(
        r.levelno == logging.WARNING and "1 event(s) not delivered" in r.getMessage()
        for r in caplog.records
    )


def test_a_failing_on_drop_is_logged_not_raised(
    gate: tuple[Gate, RedoClient], caplog: pytest.LogCaptureFixture
) -> None:
    held, client = gate

    def broken(event: Any, reason: str) -> None:
        raise RuntimeError("callback bug")

    with Batcher(
        client, overflow="drop_newest", max_events=1, senders=1, flush_interval=0, on_drop=broken
    ) as batcher:
        fill(held, batcher, 1)
        batcher.track(event(2))
        assert batcher.stats().dropped == 1
        held.release.set()
    assert any("on_drop raised" in r.getMessage() for r in caplog.records)


def test_an_unwritable_dead_letter_file_is_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    failing = MockTransport(responses=[400])
    failures: list[int] = []
    with (
        mock_client(failing) as client,
        Batcher(
            client, dead_letter=tmp_path, on_error=lambda events, exc: failures.append(len(events))
        ) as batcher,
    ):
        batcher.track(event(1))
        batcher.flush(5)
    assert failures == [1]
    assert any("dead-letter file" in r.getMessage() for r in caplog.records)


def test_the_exit_hooks_flush_then_close_every_open_batcher(
    mock: tuple[MockTransport, RedoClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(batcher_module, "_exit_deadline_at", [])
    transport, client = mock
    batcher = Batcher(client, flush_interval=60)
    first = batcher.track(event(1))
    batcher_module._flush_all_at_thread_shutdown()
    assert sent_ids(transport) == [first]
    assert not batcher.closed
    second = batcher.track(event(2))
    batcher_module._close_all_at_exit()
    assert batcher.closed
    assert sent_ids(transport) == [first, second]
