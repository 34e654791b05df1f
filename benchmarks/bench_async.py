"""AsyncRedoClient against the emulator at Redo's 100 requests/s per store and endpoint.

Two ways of sending, each to its own store of one emulator (started as a
separate process, so that it does not share this process's GIL;
``--in-process`` runs it in a thread instead), each with a loop-lag probe
running beside it (a task that sleeps 1 ms again and again and records how
late it wakes):

- ``send_bulk``: ``await client.send_bulk(events)``. Ceiling: 100 requests/s
  x 100 events = 10,000 events/s. Target >= 0.95 of it, nothing lost.
- ``1,000 x send()``: 1,000 ``await client.send(event)`` started at once
  (``asyncio.gather``), as a web service under a burst of webhooks. Ceiling:
  the single endpoint's 100 requests/s. Target >= 0.95 of it, nothing lost.

The baselines, measured in the same run to stores of their own: the sync
``RedoClient.send_bulk`` of as many events, and as many sync ``send()``s
from 4 threads (the async client's threads per endpoint).

Columns: ``fraction`` is events stored per second over the ceiling of the
endpoint used; ``CPU/req`` this process's CPU time (every thread, the
loop's included) per HTTP request, in ms; ``lag p99`` and ``lag max`` how
late the probe's 1 ms sleeps woke, in ms (target p99 < 5). Every event is
checked against the emulator's inspection API: stored, and duplicates.
Run::

    .venv/bin/python benchmarks/bench_async.py
    .venv/bin/python benchmarks/bench_async.py --bulk-events 100000 --sends 2000

Not a test: it prints a table and exits 0 unless an event was lost or
duplicated, or a target was missed.
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import sys
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import _emulator
from _events import request_shape

from redo_kit import AsyncRedoClient, RedoClient

BULK_CEILING = 10_000.0
SINGLE_CEILING = 100.0
STORES = {
    "async-bulk": "bulk_key",
    "async-send": "send_key",
    "sync-bulk": "sync_bulk_key",
    "sync-send": "sync_send_key",
}


def event(kind: str, n: int) -> dict[str, Any]:
    """The guide's "Request Shape" event, made unique."""
    return {**request_shape(n), "uniqueId": f"{kind}-{n}"}


async def probed(work: Callable[[], Awaitable[Any]]) -> tuple[Any, float, float, list[float]]:
    """``work()`` with the lag probe beside it: its result, seconds, CPU seconds, lags."""
    lags: list[float] = []

    async def probe() -> None:
        while True:
            started = time.perf_counter()
            await asyncio.sleep(0.001)
            lags.append(time.perf_counter() - started - 0.001)

    task = asyncio.ensure_future(probe())
    await asyncio.sleep(0.01)
    cpu = time.process_time()
    started = time.perf_counter()
    try:
        result = await work()
    finally:
        elapsed = time.perf_counter() - started
        cpu = time.process_time() - cpu
        task.cancel()
    return result, elapsed, cpu, lags


def client_for(base_url: str, store: str) -> AsyncRedoClient:
    return AsyncRedoClient(store_id=store, api_key=STORES[store], base_url=base_url)


async def bench_bulk(base_url: str, count: int) -> dict[str, Any]:
    events = [event("bulk", n) for n in range(count)]
    async with client_for(base_url, "async-bulk") as client:
        result, elapsed, cpu, lags = await probed(lambda: client.send_bulk(events))
    return {"sent": count, "seconds": elapsed, "cpu": cpu, "lags": lags,
            "requests": result.requests, "rate_limited": result.rate_limited}  # fmt: skip


async def bench_sends(base_url: str, count: int) -> dict[str, Any]:
    events = [event("send", n) for n in range(count)]
    async with client_for(base_url, "async-send") as client:

        async def burst() -> list[Any]:
            return await asyncio.gather(*(client.send(e) for e in events))

        results, elapsed, cpu, lags = await probed(burst)
    return {"sent": count, "seconds": elapsed, "cpu": cpu, "lags": lags,
            "requests": sum(r.requests for r in results),
            "rate_limited": sum(r.rate_limited for r in results)}  # fmt: skip


def bench_sync_bulk(base_url: str, count: int) -> dict[str, Any]:
    """The baseline: ``RedoClient.send_bulk`` of the same events, blocking."""
    events = [event("sync-bulk", n) for n in range(count)]
    with RedoClient(store_id="sync-bulk", api_key=STORES["sync-bulk"], base_url=base_url) as c:
        cpu, started = time.process_time(), time.perf_counter()
        result = c.send_bulk(events)
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    return {"sent": count, "seconds": elapsed, "cpu": cpu, "lags": [],
            "requests": result.requests, "rate_limited": result.rate_limited}  # fmt: skip


def bench_sync_sends(base_url: str, count: int, threads: int) -> dict[str, Any]:
    """The baseline: ``RedoClient.send`` of the same events from ``threads`` threads."""
    events = [event("sync-send", n) for n in range(count)]
    with (
        RedoClient(store_id="sync-send", api_key=STORES["sync-send"], base_url=base_url) as c,
        ThreadPoolExecutor(threads) as pool,
    ):
        cpu, started = time.process_time(), time.perf_counter()
        results = list(pool.map(c.send, events))
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    return {"sent": count, "seconds": elapsed, "cpu": cpu, "lags": [],
            "requests": sum(r.requests for r in results),
            "rate_limited": sum(r.rate_limited for r in results)}  # fmt: skip


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--bulk-events", type=int, default=50_000, help="default 50,000 (~5 s)")
    parser.add_argument("--sends", type=int, default=1000, help="default 1,000 (~10 s)")
    parser.add_argument("--in-process", action="store_true", help="run the emulator in a thread")
    args = parser.parse_args(argv)

    print(
        f"redo-kit async client benchmark — {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
        f"Python {platform.python_version()}, {platform.machine()}, "
        f"emulator {'in-process' if args.in_process else 'in its own process'} "
        "at 100 requests/s per store and endpoint"
    )
    with _emulator.emulator(STORES, in_process=args.in_process) as (base_url, root):
        rows = [
            ("send_bulk", "async-bulk", BULK_CEILING,
             asyncio.run(bench_bulk(base_url, args.bulk_events))),
            (f"{args.sends:,} x send()", "async-send", SINGLE_CEILING,
             asyncio.run(bench_sends(base_url, args.sends))),
            ("sync send_bulk", "sync-bulk", BULK_CEILING,
             bench_sync_bulk(base_url, args.bulk_events)),
            ("sync send(), 4 thr", "sync-send", SINGLE_CEILING,
             bench_sync_sends(base_url, args.sends, 4)),
        ]  # fmt: skip
        checks = {store: _emulator.stored_ids(root, store, STORES[store]) for store in STORES}

    header = (
        f"{'pattern':<20}{'events':>8}{'stored':>8}{'lost':>6}{'dups':>6}{'seconds':>9}"
        f"{'events/s':>10}{'fraction':>10}{'req/s':>8}{'CPU/req':>9}{'429s':>6}"
        f"{'lag p99':>9}{'lag max':>9}"
    )
    print(header)
    print("-" * len(header))
    failed = False
    for name, store, ceiling, row in rows:
        ids = checks[store]
        stored, unique = len(ids), len(set(ids))
        lost, dups = row["sent"] - unique, stored - unique
        rate = stored / row["seconds"]
        lags = row["lags"]
        p99 = percentile(lags, 0.99) * 1000 if lags else 0.0
        print(
            f"{name:<20}{row['sent']:>8,}{stored:>8,}{lost:>6,}{dups:>6,}{row['seconds']:>9.2f}"
            f"{rate:>10,.0f}{rate / ceiling:>10.3f}{row['requests'] / row['seconds']:>8.1f}"
            f"{row['cpu'] / row['requests'] * 1000:>9.2f}{row['rate_limited']:>6,}"
            + (f"{p99:>9.2f}{max(lags) * 1000:>9.2f}" if lags else f"{'-':>9}{'-':>9}")
        )
        if lost or dups or rate / ceiling < 0.95 or p99 >= 5:
            failed = True
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
