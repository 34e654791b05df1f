"""The batcher in asyncio code: track() stays plain; aflush and aclose wait off the loop."""

from __future__ import annotations

import asyncio
import threading

from helpers import emulator_client, mock_client, page_view

from redo_kit import MockTransport, Request, Response
from redo_kit.emulator import Emulator


def test_async_with_tracks_flushes_and_closes(emulator: Emulator) -> None:
    async def main() -> None:
        with emulator_client(emulator) as client:
            async with client.batcher(flush_interval=10, handle_sigterm=False) as batcher:
                for n in range(250):
                    batcher.track(page_view(n, unique_id=True))
                flushed = await batcher.aflush(10)
                assert flushed.completed
                assert batcher.stats().sent == 250
                batcher.track(page_view(250, unique_id=True))
            assert batcher.closed
            closed = await batcher.aclose(1)  # idempotent: the first close's result
            assert closed.completed

    asyncio.run(main())
    assert len(emulator.events()) == 251


def test_aflush_lets_the_loop_run_while_the_api_is_slow(no_waits: None) -> None:
    release = threading.Event()

    def slow(request: Request) -> Response:
        release.wait(5)
        return Response(202)

    async def main() -> None:
        ticks = 0

        async def tick() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.001)
                ticks += 1

        ticker = asyncio.ensure_future(tick())
        with mock_client(MockTransport(slow)) as client:
            batcher = client.batcher(flush_interval=10, handle_sigterm=False)
            batcher.track(page_view(1))
            flushed = await batcher.aflush(0.2)
            assert not flushed.completed
            assert flushed.in_flight == 1
            assert ticks > 50  # the loop ran all along the 0.2 s flush
            release.set()
            assert (await batcher.aclose(5)).completed
        ticker.cancel()

    asyncio.run(main())
