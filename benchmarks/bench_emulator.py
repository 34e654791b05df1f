"""Bulk ingest into the emulator over loopback, in events per second.

The emulator runs in its own process (``python -m redo_kit.emulator``, rate
limit off, in-memory SQLite) so that the client threads do not share its GIL.
Each client thread sends pre-serialized bulk bodies of 100 distinct events
(each with its own uniqueId, customers spread over a pool of emails) through
one keep-alive urllib3 connection. The figure counts events stored, read back
from the emulator's stats, over the wall time of the sends.

    .venv/bin/python benchmarks/bench_emulator.py [--threads 4] [--requests 300]

Target: 15,000 events/s, so that the emulator is never the bottleneck for a
client at Redo's ceiling of 10,000 events/s per store.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time

import _emulator
import orjson
import urllib3

TARGET = 15_000
STORE = "64e5a8a1af49a89df37e4ee7"
KEY = "sk_bench"


def _bodies(thread: int, requests: int, batch: int) -> list[bytes]:
    bodies = []
    for request in range(requests):
        events = []
        for item in range(batch):
            n = (request * batch + item) % 5000
            events.append(
                {
                    "eventName": "Order Placed",
                    "customer": {"email": f"customer{n}@example.com"},
                    "uniqueId": f"t{thread}-r{request}-e{item}",
                    "eventTimestamp": "2026-04-02T12:00:00Z",
                    "value": 59.99,
                    "valueCurrency": "USD",
                    "data": {
                        "Order Total": 59.99,
                        "Item Count": 3,
                        "Channel": "web",
                        "Placed At": "2026-04-02T12:00:00Z",
                        "$extra": {"Line Items": [1, 2, 3]},
                    },
                }
            )
        bodies.append(orjson.dumps({"events": events}))
    return bodies


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=4, help="client threads (default 4)")
    parser.add_argument(
        "--requests", type=int, default=300, help="bulk requests per thread (default 300)"
    )
    parser.add_argument("--batch", type=int, default=100, help="events per request (default 100)")
    parser.add_argument("--db", help="SQLite file for the emulator (default: in memory)")
    args = parser.parse_args()

    extra = ["--rate-limit", "0", *(["--db", args.db] if args.db else [])]
    with _emulator.emulator({STORE: KEY}, extra=extra) as (base_url, root):
        bodies = [_bodies(t, args.requests, args.batch) for t in range(args.threads)]
        headers = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}
        url = f"{base_url}/stores/{STORE}/events/bulk"
        failures: list[str] = []

        def send(mine: list[bytes]) -> None:
            with urllib3.PoolManager(maxsize=1, retries=False, timeout=30.0) as http:
                for body in mine:
                    response = http.request("POST", url, body=body, headers=headers)
                    if response.status != 202:
                        failures.append(f"{response.status} {response.data[:200]!r}")

        threads = [threading.Thread(target=send, args=(b,)) for b in bodies]
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - started
        stats = _emulator.stats(root, KEY)

    sent = args.threads * args.requests * args.batch
    stored = stats["stored"]
    rate = stored / elapsed
    print(
        f"emulator bulk ingest: {stored:,} of {sent:,} events stored in {elapsed:.2f} s "
        f"with {args.threads} client threads, batches of {args.batch}"
    )
    print(f"{rate:,.0f} events/s; target {TARGET:,} events/s; ratio {rate / TARGET:.2f}")
    if failures:
        print(f"{len(failures)} requests failed, first: {failures[0]}")
        return 1
    return 0 if stored == sent else 1


if __name__ == "__main__":
    sys.exit(main())
