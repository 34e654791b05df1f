"""Background batching: track() cost on the caller's thread, and delivery at the store's ceiling.

Three measurements in one run, against one emulator at its default limit of
100 requests/s per store and endpoint (started as a separate process, so it
does not share this process's GIL; ``--in-process`` runs it in a thread):

- ``track() latency``: one thread calls ``Batcher.track`` on the guide's
  "Request Shape" event while the senders deliver in the background. The
  queue is large enough never to block, so this is the cost on the caller's
  thread: preparing (normalize, clean, validate, serialize) plus queueing.
  ``prepare_event`` alone, and ``track`` of already prepared events (the
  queueing alone), are timed the same way for the split.
  Target: p50 <= 20 us, p99 <= 200 us.
- ``batcher``: 8 threads track ``--events`` events (default 100,000) between
  them; the clock stops when the last one is stored. Ceiling: 100 bulk
  requests/s x 100 events = 10,000 events/s. Target >= 9,500 events/s,
  nothing lost or duplicated.
- ``send_bulk (ref.)``: the same number of events, prepared beforehand and
  sent by one ``send_bulk`` call: the client's own bulk path, for reference
  (no tracking threads, no queue).
- ``send() per event``: the same traffic, 8 threads each calling
  ``RedoClient.send`` per event, for ``--send-seconds`` (default 10); its
  events/s gives the time 100,000 events would take and the speed-up.

Every delivery is checked through the emulator's inspection API. Run::

    .venv/bin/python benchmarks/bench_batcher.py
    .venv/bin/python benchmarks/bench_batcher.py --events 800000 --send-seconds 20

Not a test: it prints the figures and exits 1 if an event was lost or
duplicated.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import threading
import time
from typing import Any

import _emulator
from _events import request_shape

from redo_kit._batcher import Batcher
from redo_kit._client import RedoClient
from redo_kit._events import prepare_event

BULK_CEILING = 10_000.0
THREADS = 8
STORES = {
    "latency-store": "latency_key",
    "batch-store": "batch_key",
    "bulk-store": "bulk_key",
    "send-store": "send_key",
}


def event(kind: str, n: int) -> dict[str, Any]:
    """The guide's "Request Shape" event; the batcher gives it a uniqueId."""
    built = request_shape(n)
    built["data"]["Source"] = f"{kind}-{n}"
    return built


def stored_ids(root: str, store: str) -> list[str]:
    return _emulator.stored_ids(root, store, STORES[store])


OUTBOX_DIR: list[str] = []
"""With --outbox sqlite: the directory each batcher's SQLite outbox file goes in."""


def outbox(name: str) -> dict[str, Any]:
    """The batcher's outbox argument: memory (none given), or a fresh SQLite file."""
    if not OUTBOX_DIR:
        return {}
    return {"outbox": os.path.join(OUTBOX_DIR[0], f"{name}.sqlite3")}


def client(base_url: str, store: str) -> RedoClient:
    return RedoClient(store_id=store, api_key=STORES[store], base_url=base_url)


def percentiles(samples_ns: list[int]) -> dict[str, float]:
    ordered = sorted(samples_ns)

    def at(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] / 1000

    return {"p50": at(0.50), "p90": at(0.90), "p99": at(0.99), "max": ordered[-1] / 1000}


def bench_latency(base_url: str, count: int) -> dict[str, Any]:
    """track() and prepare_event() alone, per call, in microseconds."""
    items = [event("latency", n) for n in range(count)]
    for item in items[:1000]:
        prepare_event(item)
    prepare_ns = []
    for item in items:
        started = time.perf_counter_ns()
        prepare_event(item)
        prepare_ns.append(time.perf_counter_ns() - started)
    track_ns = []
    ids = []
    with (
        client(base_url, "latency-store") as sender,
        Batcher(sender, max_events=2 * count, max_bytes=1 << 30, **outbox("latency")) as batcher,
    ):
        for item in items:
            started = time.perf_counter_ns()
            unique = batcher.track(item)
            track_ns.append(time.perf_counter_ns() - started)
            ids.append(unique)
        # The queueing part alone: events prepared beforehand, as track() accepts them.
        ready = [prepare_event(item) for item in items[: count // 4]]
        queue_ns = []
        for prepared in ready:
            started = time.perf_counter_ns()
            ids.append(batcher.track(prepared))
            queue_ns.append(time.perf_counter_ns() - started)
        batcher.close(timeout=count / 5_000 + 30)
    return {
        "track": percentiles(track_ns),
        "prepare": percentiles(prepare_ns),
        "queue": percentiles(queue_ns),
        "ids": ids,
    }


def bench_batcher(base_url: str, count: int) -> dict[str, Any]:
    per_thread = [list(range(slot, count, THREADS)) for slot in range(THREADS)]
    tracked: list[list[str]] = [[] for _ in range(THREADS)]
    with client(base_url, "batch-store") as sender, Batcher(sender, **outbox("batch")) as batcher:

        def produce(slot: int) -> None:
            out = tracked[slot]
            for n in per_thread[slot]:
                out.append(batcher.track(event("batch", n)))

        threads = [threading.Thread(target=produce, args=(s,)) for s in range(THREADS)]
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        tracked_at = time.perf_counter() - started
        result = batcher.flush(timeout=count / 1_000 + 60)
        elapsed = time.perf_counter() - started
        stats = batcher.stats()
    return {
        "ids": [i for slot in tracked for i in slot],
        "seconds": elapsed,
        "tracking_seconds": tracked_at,
        "completed": result.completed,
        "stats": stats,
    }


def bench_send_bulk(base_url: str, count: int) -> dict[str, Any]:
    """The reference: the same events, built beforehand, through one send_bulk call."""
    prepared = [prepare_event(event("bulk", n)) for n in range(count)]
    with client(base_url, "bulk-store") as sender:
        started = time.perf_counter()
        result = sender.send_bulk(prepared)
        elapsed = time.perf_counter() - started
    return {"ids": [p.unique_id for p in prepared], "seconds": elapsed, "result": result}


def bench_send(base_url: str, seconds: float) -> dict[str, Any]:
    sent: list[list[str]] = [[] for _ in range(THREADS)]
    stop = threading.Event()
    with client(base_url, "send-store") as sender:

        def produce(slot: int) -> None:
            n = slot
            while not stop.is_set():
                sent[slot].append(sender.send(event("send", n)).unique_id)
                n += THREADS

        threads = [threading.Thread(target=produce, args=(s,)) for s in range(THREADS)]
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        stop.wait(seconds)
        stop.set()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - started
    return {"ids": [i for slot in sent for i in slot], "seconds": elapsed}


def check(tracked: list[str], stored: list[str]) -> tuple[int, int]:
    """(lost, duplicated) events."""
    unique = set(stored)
    return len(set(tracked) - unique), len(stored) - len(unique)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--events", type=int, default=100_000, help="default 100,000 (~10 s)")
    parser.add_argument(
        "--latency-events", type=int, default=20_000, help="track() calls timed; default 20,000"
    )
    parser.add_argument(
        "--send-seconds", type=float, default=10.0, help="how long send() runs; default 10"
    )
    parser.add_argument("--in-process", action="store_true", help="run the emulator in a thread")
    parser.add_argument(
        "--outbox",
        choices=["memory", "sqlite"],
        default="memory",
        help="the batchers' outbox: memory (default) or a SQLite file in a temporary directory",
    )
    args = parser.parse_args(argv)
    if args.outbox == "sqlite":
        OUTBOX_DIR.append(tempfile.mkdtemp(prefix="redo-kit-bench-"))

    print(
        f"redo-kit batcher benchmark — {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
        f"Python {platform.python_version()}, {platform.machine()}, "
        f"emulator {'in-process' if args.in_process else 'in its own process'} "
        f"at 100 requests/s per store and endpoint, {args.outbox} outbox"
    )
    failed = False
    with _emulator.emulator(STORES, in_process=args.in_process) as (base_url, root):
        latency = bench_latency(base_url, args.latency_events)
        lost, dups = check(latency["ids"], stored_ids(root, "latency-store"))
        failed |= bool(lost or dups)
        print(f"\ntrack() on the caller's thread, {args.latency_events:,} calls, 1 thread (us):")
        labels = {
            "track": "track(dict)",
            "prepare": "prepare_event(dict) alone",
            "queue": "track(prepared): queueing",
        }
        for name, label in labels.items():
            row = latency[name]
            print(
                f"  {label:<28} p50 {row['p50']:7.1f}  p90 {row['p90']:7.1f}  "
                f"p99 {row['p99']:7.1f}  max {row['max']:9.1f}"
            )
        print(f"  delivered: lost {lost}, duplicated {dups}")

        batch = bench_batcher(base_url, args.events)
        stored = stored_ids(root, "batch-store")
        lost, dups = check(batch["ids"], stored)
        failed |= bool(lost or dups or not batch["completed"])
        batch_rate = len(set(stored)) / batch["seconds"]
        stats = batch["stats"]

        bulk = bench_send_bulk(base_url, args.events)
        bulk_stored = stored_ids(root, "bulk-store")
        bulk_lost, bulk_dups = check(bulk["ids"], bulk_stored)
        bulk_rate = len(set(bulk_stored)) / bulk["seconds"]

        single = bench_send(base_url, args.send_seconds)
        sent_stored = stored_ids(root, "send-store")
        send_lost, send_dups = check(single["ids"], sent_stored)
        failed |= bool(send_lost or send_dups)
        send_rate = len(set(sent_stored)) / single["seconds"]

    header = (
        f"{'pattern':<20}{'events':>9}{'stored':>9}{'lost':>6}{'dups':>6}{'seconds':>9}"
        f"{'events/s':>10}{'of 10k':>8}"
    )
    print(f"\n{THREADS} threads tracking through one store:")
    print(header)
    print("-" * len(header))
    for name, ids, stored_list, seconds, rate, gone, twice in (
        ("batcher.track()", batch["ids"], stored, batch["seconds"], batch_rate, lost, dups),
        (
            "send_bulk (ref.)",
            bulk["ids"],
            bulk_stored,
            bulk["seconds"],
            bulk_rate,
            bulk_lost,
            bulk_dups,
        ),
        (
            "send() per event",
            single["ids"],
            sent_stored,
            single["seconds"],
            send_rate,
            send_lost,
            send_dups,
        ),
    ):
        print(
            f"{name:<20}{len(ids):>9,}{len(stored_list):>9,}{gone:>6,}{twice:>6,}"
            f"{seconds:>9.2f}{rate:>10,.0f}{rate / BULK_CEILING:>8.3f}"
        )
    print(
        f"\nbatcher: {stats.requests:,} bulk requests, {stats.retried:,} retries, "
        f"{stats.dropped:,} dropped, {stats.failed:,} failed; the {THREADS} threads were done "
        f"tracking after {batch['tracking_seconds']:.2f} s"
    )
    print(
        f"send() per event: {args.events:,} events would take "
        f"{args.events / send_rate:,.0f} s; the batcher took {batch['seconds']:.1f} s "
        f"({batch_rate / send_rate:,.0f}x the throughput)"
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
