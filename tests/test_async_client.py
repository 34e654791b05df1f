"""AsyncRedoClient: RedoClient's behaviour, awaited, with cancellation defined."""

from __future__ import annotations

import asyncio
import signal
import threading
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import pytest
from helpers import STORE, mock_client, page_view
from hypothesis import given
from hypothesis import strategies as st
from test_delivery import event

from redo_kit import (
    AsyncRedoClient,
    BadRequestError,
    ConfigurationError,
    MockTransport,
    RedoError,
    Request,
    Response,
    ValidationError,
)
from redo_kit import _signals as signals
from redo_kit._rules import limits
from redo_kit.emulator import Emulator
from redo_kit.testing import strategies as rs
from redo_kit.testing.plugin import EmulatorFactory

T = TypeVar("T")


def run(make: Callable[[], Coroutine[Any, Any, T]]) -> T:
    return asyncio.run(make())


def mock_async(transport: MockTransport, **options: Any) -> AsyncRedoClient:
    return AsyncRedoClient(
        store_id=STORE,
        api_key="sk_test",
        base_url="http://127.0.0.1:9/v2.2",
        transport=transport,
        **options,
    )


def emulator_async(emu: Emulator, **options: Any) -> AsyncRedoClient:
    return AsyncRedoClient(
        store_id=emu.store_id, api_key=emu.api_key, base_url=emu.base_url, **options
    )


async def each(events: list[dict[str, Any]]) -> AsyncIterator[dict[str, Any]]:
    for item in events:
        await asyncio.sleep(0)
        yield item


def test_send_and_send_bulk_store_every_event_once(emulator: Emulator) -> None:
    events = [page_view(n, unique_id=True) for n in range(250)]
    broken = {"eventName": "Page Viewed"}  # no customer identifier

    async def main() -> tuple[Any, Any, Any]:
        async with emulator_async(emulator) as client:
            one = await client.send(page_view(1000), unique_id="single-1")
            from_list = await client.send_bulk([*events[:120], broken, events[0]])
            from_async = await client.send_bulk(each(events[120:]))
        assert client.closed
        return one, from_list, from_async

    one, from_list, from_async = run(main)
    assert one.unique_id == "single-1"
    assert one.requests == 1
    assert from_list.accepted == 120
    assert from_list.requests == 2
    assert [r.index for r in from_list.rejections] == [120]
    assert [(d.index, d.first_index) for d in from_list.duplicates] == [(121, 0)]
    assert from_async.accepted == 130
    stored = [e["uniqueId"] for e in emulator.events()]
    assert sorted(stored) == sorted(["single-1", *(f"view-{n}" for n in range(250))])


def test_settings_come_from_the_environment_as_for_redo_client(
    monkeypatch: pytest.MonkeyPatch, clean_env: None
) -> None:
    monkeypatch.setenv("REDO_STORE_ID", STORE)
    monkeypatch.setenv("REDO_API_KEY", "sk_from_env")
    monkeypatch.setenv("REDO_BASE_URL", "http://127.0.0.1:9/v2.2")

    async def main() -> None:
        client = AsyncRedoClient(transport=MockTransport(), timeout=7)
        assert client.store_id == STORE
        assert client.base_url == "http://127.0.0.1:9/v2.2"
        assert client.settings.timeout.read == 7
        assert client.settings == client.sync.settings
        assert "sk_from_env" not in repr(client)
        assert "[redacted]" in repr(client)
        same_threads = client.with_options(timeout=60)
        assert same_threads.settings.timeout.read == 60
        assert client.settings.timeout.read == 7
        assert same_threads.sync.transport is client.sync.transport
        own_threads = client.with_options(concurrency=2)
        assert own_threads.settings.concurrency == 2
        await own_threads.send(page_view(1))
        await same_threads.send(page_view(2))
        await own_threads.aclose()
        await same_threads.aclose()
        await client.send(page_view(3))  # the copies left the original's threads running
        await client.aclose()
        await client.aclose()

    run(main)
    with pytest.raises(ConfigurationError, match="concurrency"):
        AsyncRedoClient(transport=MockTransport(), concurrency=0)


def test_an_invalid_event_raises_on_the_loop_and_nothing_is_sent(no_waits: None) -> None:
    mock = MockTransport()

    async def main() -> None:
        async with mock_async(mock) as client:
            with pytest.raises(ValidationError) as raised:
                await client.send({"eventName": "Page Viewed", "customer": {}})
            assert raised.value.problems

    run(main)
    assert mock.requests == []


def test_send_raises_the_typed_error_with_the_attempts(no_waits: None) -> None:
    mock = MockTransport(responses=[503, 400])

    async def main() -> None:
        async with mock_async(mock) as client:
            with pytest.raises(BadRequestError) as raised:
                await client.send(page_view(1))
            assert raised.value.result is not None
            assert raised.value.result.requests == 2

    run(main)


def test_a_failed_send_bulk_stops_reading_and_reports_what_was_not_delivered(
    no_waits: None,
) -> None:
    mock = MockTransport(responses=[Response(202), Response(400)])
    read: list[int] = []

    def events() -> Any:
        for n in range(1000):
            read.append(n)
            yield page_view(n, unique_id=True)

    async def main() -> None:
        async with mock_async(mock, concurrency=1) as client:
            with pytest.raises(BadRequestError) as raised:
                await client.send_bulk(events())
            result = raised.value.result
            assert result is not None
            assert result.accepted == 100
            assert result.failed[:100] == tuple(f"view-{n}" for n in range(100, 200))
            assert set(result.failed) == {f"view-{n}" for n in range(100, len(read))}

    run(main)
    assert len(mock.requests) == 2
    assert len(read) < 400


def test_a_closed_client_refuses_to_send(no_waits: None) -> None:
    async def main() -> None:
        client = mock_async(MockTransport())
        await client.aclose()
        with pytest.raises(RedoError, match="closed"):
            await client.send(page_view(1))
        with pytest.raises(RedoError, match="closed"):
            await client.send_bulk([page_view(1)])

    run(main)


def test_a_copy_whose_original_closed_says_so(no_waits: None) -> None:
    async def main() -> None:
        client = mock_async(MockTransport())
        copy = client.with_options(timeout=3)
        await client.aclose()
        with pytest.raises(RedoError, match="close copies before their original"):
            await copy.send(page_view(1))

    run(main)


class Gate:
    """A transport handler that holds every request until it is opened."""

    def __init__(self) -> None:
        self.opened = threading.Event()
        self.entered = threading.Semaphore(0)

    def __call__(self, request: Request) -> Response:
        self.entered.release()
        assert self.opened.wait(10)
        return Response(202)

    async def wait_entered(self) -> None:
        while not self.entered.acquire(blocking=False):
            await asyncio.sleep(0.001)


def test_a_send_cancelled_while_it_waits_for_a_thread_is_never_sent(no_waits: None) -> None:
    gate = Gate()
    mock = MockTransport(gate)

    async def main() -> None:
        async with mock_async(mock, concurrency=1) as client:
            first = asyncio.ensure_future(client.send(page_view(1), unique_id="first"))
            await gate.wait_entered()
            second = asyncio.ensure_future(client.send(page_view(2), unique_id="second"))
            await asyncio.sleep(0.05)
            second.cancel()
            with pytest.raises(asyncio.CancelledError):
                await second
            gate.opened.set()
            assert (await first).unique_id == "first"

    run(main)
    assert [r.json()["uniqueId"] for r in mock.requests] == ["first"]


def test_a_send_waiting_for_a_thread_when_the_client_closes_is_refused(no_waits: None) -> None:
    gate = Gate()
    mock = MockTransport(gate)

    async def main() -> None:
        client = mock_async(mock, concurrency=1)
        first = asyncio.ensure_future(client.send(page_view(1), unique_id="first"))
        await gate.wait_entered()
        second = asyncio.ensure_future(client.send(page_view(2), unique_id="second"))
        await asyncio.sleep(0.01)
        closing = asyncio.ensure_future(client.aclose())
        await asyncio.sleep(0.01)
        gate.opened.set()
        assert (await first).unique_id == "first"
        with pytest.raises(RedoError, match="closed"):
            await second
        await closing

    run(main)
    assert [r.json()["uniqueId"] for r in mock.requests] == ["first"]


def test_a_request_packed_but_not_sent_when_one_failed_counts_as_failed(no_waits: None) -> None:
    # Event 1 is too large to share a bulk body: adding it closes two requests at once.
    huge = event(1, padding=limits().max_body_bytes - 648)
    mock = MockTransport(responses=[Response(400)])

    async def main() -> None:
        async with mock_async(mock, concurrency=1) as client:
            with pytest.raises(BadRequestError) as raised:
                await client.send_bulk([event(0), huge, event(2)])
        assert raised.value.result is not None
        assert raised.value.result.failed == ("order-0", "order-1")

    run(main)
    assert len(mock.requests) == 1


def test_a_send_cancelled_on_its_thread_completes_in_the_background(no_waits: None) -> None:
    gate = Gate()
    mock = MockTransport(gate)

    async def main() -> None:
        client = mock_async(mock, concurrency=1)
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(client.send(page_view(1), unique_id="late"), 0.05)
        gate.opened.set()
        await client.aclose()  # waits for the request left in the background

    run(main)
    assert [r.json()["uniqueId"] for r in mock.requests] == ["late"]


def test_resending_after_a_timeout_stores_the_event_once(
    emulator_factory: EmulatorFactory,
) -> None:
    # Every answer is held 0.3 s: the first send times out while its request is on the wire.
    emu = emulator_factory(rate_limit=None, faults="delay=1", fault_delay=0.3)

    async def main() -> None:
        async with emulator_async(emu) as client:
            prepared = client.prepare(page_view(7))
            timeout = getattr(asyncio, "timeout", None)
            if timeout is not None:
                with pytest.raises(TimeoutError):
                    async with timeout(0.05):
                        await client.send(prepared)
            else:  # pragma: no cover  (Python 3.10)
                with pytest.raises(asyncio.TimeoutError):
                    await asyncio.wait_for(client.send(prepared), 0.05)
            again = await client.send(prepared)
            assert again.unique_id == prepared.unique_id

    run(main)
    stored = [e["uniqueId"] for e in emu.events()]
    assert stored == [stored[0]]
    assert emu.stats()["deduplicated"] == 1


def test_a_cancelled_send_bulk_sends_no_new_request(no_waits: None) -> None:
    gate = Gate()
    mock = MockTransport(gate)

    async def main() -> None:
        client = mock_async(mock, concurrency=1)
        bulk = asyncio.ensure_future(
            client.send_bulk([page_view(n, unique_id=True) for n in range(1000)])
        )
        await gate.wait_entered()
        bulk.cancel()
        with pytest.raises(asyncio.CancelledError):
            await bulk
        gate.opened.set()
        await client.aclose()

    run(main)
    assert len(mock.requests) == 1


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="reads Linux's /proc")
def test_the_client_threads_leave_signals_to_the_main_thread(no_waits: None) -> None:
    def blocked(thread: threading.Thread) -> int:
        status = Path(f"/proc/self/task/{thread.native_id}/status").read_text()
        (mask,) = (line.split()[1] for line in status.splitlines() if line.startswith("SigBlk:"))
        return int(mask, 16)

    async def main() -> None:
        async with mock_async(MockTransport()) as client:
            await asyncio.gather(*(client.send(page_view(n)) for n in range(20)))
            ours = [t for t in threading.enumerate() if t.name.startswith("redo-kit-async")]
            assert ours
            for thread in ours:
                for number in (signal.SIGTERM, signal.SIGINT):
                    assert blocked(thread) & (1 << (number - 1)), (thread.name, number)

    run(main)
    assert not blocked(threading.main_thread()) & (1 << (signal.SIGTERM - 1))


def test_in_daemon_hands_back_results_and_errors_and_runs_inline_at_exit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def fail() -> None:
        raise LookupError("from the thread")

    async def main() -> None:
        assert await signals.in_daemon(threading.current_thread, "t") is not (
            threading.current_thread()
        )
        with pytest.raises(LookupError, match="from the thread"):
            await signals.in_daemon(fail, "t")
        slow = asyncio.ensure_future(signals.in_daemon(lambda: time.sleep(0.05), "t"))
        await asyncio.sleep(0.01)
        slow.cancel()
        with pytest.raises(asyncio.CancelledError):
            await slow
        await asyncio.sleep(0.1)  # the thread ends and finds the future cancelled
        monkeypatch.setattr(signals, "start_daemon", lambda target, name: None)
        assert await signals.in_daemon(threading.current_thread, "t") is (
            threading.current_thread()
        )

    run(main)


@given(
    st.lists(
        st.one_of(rs.valid_events(), rs.invalid_events().map(lambda case: case[0])), max_size=12
    ),
    st.lists(st.integers(min_value=0, max_value=11), max_size=4),
)
def test_send_bulk_reports_exactly_what_the_sync_send_bulk_reports(
    drawn: list[dict[str, Any]], repeats: list[int]
) -> None:
    # Events without a uniqueId get a random one: fix them, so that both runs send the same.
    events = [{"uniqueId": f"u-{n}", **e} for n, e in enumerate(drawn)]
    events += [events[n] for n in repeats if n < len(events)]
    with mock_client(MockTransport(), rate_limit=None, concurrency=2) as client:
        expected = client.send_bulk(events)

    async def main() -> Any:
        async with mock_async(MockTransport(), rate_limit=None, concurrency=2) as client:
            return await client.send_bulk(events)

    assert run(main) == expected
