"""adeliver: the delivery engine's ordered, bounded delivery on an event loop."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from typing import Any

import pytest
from test_delivery import event

from redo_kit._delivery import Batch, Job, Outcome, adeliver
from redo_kit._errors import make_status_error


def jobs(count: int, *, read: list[int] | None = None) -> AsyncIterator[Job[int]]:
    async def source() -> AsyncIterator[Job[int]]:
        for n in range(count):
            if read is not None:
                read.append(n)
            yield Job(batch=Batch.of([event(n)]), context=n)

    return source()


class Poster:
    """Posts by sleeping a random moment; records how many requests were in flight at once."""

    def __init__(self, failing: frozenset[int] = frozenset(), seed: int = 16) -> None:
        self.failing = failing
        self.draw = random.Random(seed)
        self.in_flight = 0
        self.most = 0
        self.posted: list[str] = []

    async def __call__(self, batch: Batch) -> Outcome:
        self.in_flight += 1
        self.most = max(self.most, self.in_flight)
        self.posted.append(batch.events[0].unique_id)
        try:
            await asyncio.sleep(self.draw.random() * 0.005)
        finally:
            self.in_flight -= 1
        if len(self.posted) - 1 in self.failing:
            return Outcome(batch=batch, error=make_status_error(400))
        return Outcome(batch=batch)


def test_every_job_is_settled_once_in_input_order_with_bounded_concurrency() -> None:
    settled: list[tuple[int, bool]] = []
    poster = Poster()

    async def source() -> AsyncIterator[Job[int]]:
        async for job in jobs(30):
            yield job
        yield Job(batch=None, context=30)

    async def main() -> bool:
        return await adeliver(
            source(), poster, lambda j, o: settled.append((j.context, o is None)), concurrency=3
        )

    assert asyncio.run(main())
    assert settled == [(n, n == 30) for n in range(31)]
    assert poster.most == 3


def test_at_most_twice_concurrency_finished_jobs_wait_behind_a_slow_one() -> None:
    posted_when_head_ended: list[int] = []
    posted: list[int] = []

    async def head_slow(batch: Batch) -> Outcome:
        posted.append(len(posted))
        if len(posted) == 1:
            await asyncio.sleep(0.05)
            posted_when_head_ended.append(len(posted))
        return Outcome(batch=batch)

    async def main() -> bool:
        return await adeliver(jobs(20), head_slow, lambda j, o: None, concurrency=2)

    assert asyncio.run(main())
    assert posted_when_head_ended == [4]
    assert len(posted) == 20


def test_a_failure_stops_reading_and_the_requests_in_flight_still_settle() -> None:
    read: list[int] = []
    outcomes: list[Outcome | None] = []

    async def main() -> bool:
        return await adeliver(
            jobs(50, read=read),
            Poster(frozenset({1})),
            lambda j, o: outcomes.append(o),
            concurrency=1,
        )

    assert not asyncio.run(main())
    assert read == [0, 1]
    assert [o is not None and o.error is None for o in outcomes] == [True, False]


def test_cancelled_it_cancels_its_requests_and_settles_none() -> None:
    settled: list[Any] = []
    closed: list[bool] = []

    async def slow(batch: Batch) -> Outcome:
        await asyncio.sleep(10)
        raise AssertionError("never reached")

    async def source() -> AsyncIterator[Job[int]]:
        try:
            async for job in jobs(10):
                yield job
        finally:
            closed.append(True)

    async def main() -> None:
        delivery = asyncio.ensure_future(
            adeliver(source(), slow, lambda j, o: settled.append(o), concurrency=2)
        )
        await asyncio.sleep(0.01)
        delivery.cancel()
        with pytest.raises(asyncio.CancelledError):
            await delivery

    asyncio.run(main())
    assert settled == []
    assert closed == [True]


def test_concurrency_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="concurrency"):
        asyncio.run(adeliver(jobs(1), Poster(), lambda j, o: None, concurrency=0))
