"""Client throughput against the emulator at Redo's 100 requests/s per store and endpoint.

Three ways of sending, in one run, each to its own store of one emulator
(started as a separate process, so that it does not share this process's
GIL; ``--in-process`` runs it in a thread instead):

- ``send_bulk``: redo-kit's bulk path. Ceiling: 100 requests/s x 100 events =
  10,000 events/s. Target >= 0.95 of it, nothing lost, < 1% of requests 429.
- ``send() loop``: redo-kit's single-event path, one call after another.
  Ceiling: 100 events/s. Target >= 0.95 of it.
- ``naive``: the integration guide's pattern — one blocking POST per event
  (urllib3, JSON body, no retry, no pacing), as fast as it goes for a few
  seconds. Every answer other than 202 is an event lost.

``fraction`` is events stored per second over the ceiling of the endpoint
used; ``of 10k`` over the store's overall ceiling of 10,000 events/s.

Every path is checked against the emulator's inspection API: events stored,
and duplicates. Run::

    .venv/bin/python benchmarks/bench_client.py
    .venv/bin/python benchmarks/bench_client.py --bulk-events 100000 --single-events 1000 \
        --naive-seconds 10

Not a test: it prints a table and exits 0 unless an event was lost or
duplicated by redo-kit.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from typing import Any

import _emulator
import urllib3
from _events import request_shape

from redo_kit._client import RedoClient

BULK_CEILING = 10_000.0
SINGLE_CEILING = 100.0
STORES = {"bulk-store": "bulk_key", "send-store": "send_key", "naive-store": "naive_key"}


def event(kind: str, n: int) -> dict[str, Any]:
    """The guide's "Request Shape" event, made unique."""
    return {**request_shape(n), "uniqueId": f"{kind}-{n}"}


def stored_ids(root: str, store: str) -> list[str]:
    return _emulator.stored_ids(root, store, STORES[store])


def bench_bulk(base_url: str, count: int) -> dict[str, Any]:
    events = [event("bulk", n) for n in range(count)]
    with RedoClient(store_id="bulk-store", api_key=STORES["bulk-store"], base_url=base_url) as c:
        started = time.perf_counter()
        result = c.send_bulk(events)
        elapsed = time.perf_counter() - started
    return {
        "sent": count,
        "accepted": result.accepted,
        "seconds": elapsed,
        "requests": result.requests,
        "rate_limited": result.rate_limited,
    }


def bench_send(base_url: str, count: int) -> dict[str, Any]:
    events = [event("send", n) for n in range(count)]
    with RedoClient(store_id="send-store", api_key=STORES["send-store"], base_url=base_url) as c:
        started = time.perf_counter()
        requests = rate_limited = 0
        for item in events:
            result = c.send(item)
            requests += result.requests
            rate_limited += result.rate_limited
        elapsed = time.perf_counter() - started
    return {
        "sent": count,
        "accepted": count,
        "seconds": elapsed,
        "requests": requests,
        "rate_limited": rate_limited,
    }


def bench_naive(base_url: str, seconds: float) -> dict[str, Any]:
    """The guide's example, as fast as it goes for ``seconds``: a blocking POST per event."""
    url = f"{base_url}/stores/naive-store/events"
    headers = {
        "Authorization": f"Bearer {STORES['naive-store']}",
        "Content-Type": "application/json",
    }
    sent = accepted = rate_limited = 0
    with urllib3.PoolManager() as http:
        started = time.perf_counter()
        while time.perf_counter() - started < seconds:
            answer = http.request(
                "POST", url, body=json.dumps(event("naive", sent)), headers=headers, retries=False
            )
            sent += 1
            if answer.status == 202:
                accepted += 1
            elif answer.status == 429:
                rate_limited += 1
        elapsed = time.perf_counter() - started
    return {
        "sent": sent,
        "accepted": accepted,
        "seconds": elapsed,
        "requests": sent,
        "rate_limited": rate_limited,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--bulk-events", type=int, default=50_000, help="default 50,000 (~5 s)")
    parser.add_argument("--single-events", type=int, default=500, help="default 500 (~5 s)")
    parser.add_argument(
        "--naive-seconds", type=float, default=5.0, help="how long the naive loop runs; default 5"
    )
    parser.add_argument("--in-process", action="store_true", help="run the emulator in a thread")
    args = parser.parse_args(argv)

    print(
        f"redo-kit client benchmark — {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
        f"Python {platform.python_version()}, {platform.machine()}, "
        f"emulator {'in-process' if args.in_process else 'in its own process'} "
        "at 100 requests/s per store and endpoint"
    )
    with _emulator.emulator(STORES, in_process=args.in_process) as (base_url, root):
        rows = [
            ("send_bulk", "bulk-store", BULK_CEILING, bench_bulk(base_url, args.bulk_events)),
            ("send() loop", "send-store", SINGLE_CEILING, bench_send(base_url, args.single_events)),
            ("naive POST per event", "naive-store", SINGLE_CEILING, None),
        ]
        naive = bench_naive(base_url, args.naive_seconds)
        rows[2] = (rows[2][0], rows[2][1], rows[2][2], naive)
        checks = {store: stored_ids(root, store) for _, store, _, _ in rows}

    header = (
        f"{'pattern':<22}{'events':>8}{'stored':>8}{'lost':>8}{'dups':>6}{'seconds':>9}"
        f"{'events/s':>10}{'ceiling':>9}{'fraction':>10}{'of 10k':>8}{'429s':>8}"
    )
    print(header)
    print("-" * len(header))
    failed = False
    for name, store, ceiling, row in rows:
        assert row is not None
        ids = checks[store]
        stored, unique = len(ids), len(set(ids))
        lost = row["sent"] - unique
        dups = stored - unique
        rate = stored / row["seconds"]
        share = row["rate_limited"] / row["requests"] if row["requests"] else 0.0
        print(
            f"{name:<22}{row['sent']:>8,}{stored:>8,}{lost:>8,}{dups:>6,}{row['seconds']:>9.2f}"
            f"{rate:>10,.0f}{ceiling:>9,.0f}{rate / ceiling:>10.3f}{rate / BULK_CEILING:>8.3f}"
            f"{share:>8.1%}"
        )
        if name != "naive POST per event" and (lost or dups):
            failed = True
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
