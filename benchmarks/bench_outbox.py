"""Outbox backends: the cost of put() on the caller's thread, and events through put+lease+ack.

Two measurements, each for ``SqliteOutbox`` (a file in a temporary
directory, WAL, ``synchronous=normal``) beside ``MemoryOutbox`` as the
reference; ``--full`` adds ``SqliteOutbox(synchronous="full")`` to the
latency table:

- ``put() latency``: one thread puts ``--puts`` prepared copies of the
  guide's "Request Shape" event with a note (about 600 bytes of body),
  nothing draining.
  Target for the file: p50 <= 40 us, p99 <= 400 us.
- ``throughput``: 8 threads put ``--events`` events (default 100,000)
  between them while one drainer thread leases up to 100 at a time
  (``linger`` 5 ms) and acks each lease; the clock stops when the last event
  is acked. Target: well above 10,000 events/s (the API's ceiling for one
  store), nothing lost or leased twice.

Run::

    .venv/bin/python benchmarks/bench_outbox.py
    .venv/bin/python benchmarks/bench_outbox.py --puts 50000 --events 400000 --full

Not a test: it prints the figures and exits 1 if an event was lost or
delivered twice.
"""

from __future__ import annotations

import argparse
import os
import platform
import sqlite3
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from typing import Any

from _events import request_shape

from redo_kit._delivery import Room
from redo_kit._events import PreparedEvent, prepare_event
from redo_kit._outbox import MemoryOutbox, Outbox
from redo_kit._outbox_sqlite import SqliteOutbox

THREADS = 8
PUT_P50_US = 40.0
PUT_P99_US = 400.0
CEILING = 10_000.0


def prepared(count: int) -> list[PreparedEvent]:
    """The "Request Shape" event with a note that brings its body to about 600 bytes."""
    events = []
    for n in range(count):
        shaped = request_shape(n)
        shaped["data"]["Note"] = f"order {n:08d} " + "n" * 232
        events.append(prepare_event(shaped, unique_id=f"bench-{n}"))
    return events


def percentiles(samples_ns: list[int]) -> dict[str, float]:
    ordered = sorted(samples_ns)

    def at(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] / 1000

    return {"p50": at(0.50), "p90": at(0.90), "p99": at(0.99), "max": ordered[-1] / 1000}


def bench_put(outbox: Outbox, events: list[PreparedEvent]) -> dict[str, float]:
    for item in events[:500]:
        outbox.put(item)
    samples = []
    for item in events:
        started = time.perf_counter_ns()
        outbox.put(item)
        samples.append(time.perf_counter_ns() - started)
    outbox.close()
    return percentiles(samples)


def bench_flow(outbox: Outbox, events: list[PreparedEvent]) -> dict[str, Any]:
    """8 putting threads, one drainer: events/s from the first put to the last ack."""
    slices = [events[slot::THREADS] for slot in range(THREADS)]
    acked: list[str] = []
    put_ns: list[list[int]] = [[] for _ in range(THREADS)]
    putting = threading.Event()
    putting.set()

    def produce(slot: int) -> None:
        out = put_ns[slot]
        for item in slices[slot]:
            started = time.perf_counter_ns()
            outbox.put(item)
            out.append(time.perf_counter_ns() - started)

    def drain() -> None:
        while True:
            lease = outbox.lease(Room(), linger=0.005, wait=0.05)
            if lease is None:
                if not putting.is_set() and outbox.size().events == 0:
                    return
                continue
            acked.extend(e.unique_id for e in lease.events)
            outbox.ack(lease)

    producers = [threading.Thread(target=produce, args=(s,)) for s in range(THREADS)]
    drainer = threading.Thread(target=drain)
    started = time.perf_counter()
    drainer.start()
    for thread in producers:
        thread.start()
    for thread in producers:
        thread.join()
    put_done = time.perf_counter() - started
    putting.clear()
    drainer.join()
    elapsed = time.perf_counter() - started
    outbox.close()
    expected = {e.unique_id for e in events}
    return {
        "seconds": elapsed,
        "put_seconds": put_done,
        "rate": len(acked) / elapsed,
        "lost": len(expected - set(acked)),
        "dups": len(acked) - len(set(acked)),
        "put": percentiles([ns for part in put_ns for ns in part]),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--puts", type=int, default=20_000, help="puts timed one by one")
    parser.add_argument("--events", type=int, default=100_000, help="events through the flow")
    parser.add_argument("--full", action="store_true", help="also time synchronous=full")
    args = parser.parse_args()
    print(
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}, SQLite "
        f"{sqlite3.sqlite_version}, {platform.machine()}, {platform.system()} "
        f"{platform.release()}"
    )
    events = prepared(max(args.puts, args.events) + 500)
    body = sum(len(e.body) for e in events) / len(events)
    print(f"event body: {body:.0f} bytes on average")
    folder = tempfile.mkdtemp(prefix="bench-outbox-")

    def sqlite(name: str, **options: Any) -> Callable[[], Outbox]:
        return lambda: SqliteOutbox(os.path.join(folder, name), **options)

    backends: list[tuple[str, Callable[[], Outbox]]] = [
        ("SqliteOutbox (normal)", sqlite("put.sqlite3")),
        ("MemoryOutbox (ref.)", lambda: MemoryOutbox(max_events=10**7, max_bytes=1 << 34)),
    ]
    if args.full:
        backends.append(("SqliteOutbox (full)", sqlite("full.sqlite3", synchronous="full")))

    print(f"\nput() from one thread, {args.puts:,} calls (us):")
    print(f"  {'backend':<24} {'p50':>8} {'p90':>8} {'p99':>8} {'max':>9}")
    for name, make in backends:
        puts = args.puts if "full" not in name else min(args.puts, 2_000)
        got = bench_put(make(), events[:puts])
        print(
            f"  {name:<24} {got['p50']:>8.1f} {got['p90']:>8.1f} {got['p99']:>8.1f} "
            f"{got['max']:>9.1f}"
        )
    print(f"  targets for the file: p50 <= {PUT_P50_US:g}, p99 <= {PUT_P99_US:g}")

    failed = False
    print(
        f"\n{THREADS} threads putting {args.events:,} events, one drainer leasing 100 and acking:"
    )
    print(
        f"  {'backend':<24} {'events/s':>10} {'seconds':>8} {'lost':>5} {'dups':>5} "
        f"{'put p50':>8} {'put p99':>8}"
    )
    flows = [
        ("SqliteOutbox (normal)", sqlite("flow.sqlite3")),
        ("MemoryOutbox (ref.)", lambda: MemoryOutbox(max_events=10**7, max_bytes=1 << 34)),
    ]
    for name, make in flows:
        got = bench_flow(make(), events[: args.events])
        failed = failed or got["lost"] > 0 or got["dups"] > 0
        print(
            f"  {name:<24} {got['rate']:>10,.0f} {got['seconds']:>8.2f} {got['lost']:>5} "
            f"{got['dups']:>5} {got['put']['p50']:>8.1f} {got['put']['p99']:>8.1f}"
        )
    print(f"  target for the file: well above {CEILING:,.0f} events/s, nothing lost or doubled")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
