"""Bulk ingest into the emulator with a tracking plan, beside the same run without one.

Three emulators in their own processes, started the same way as in
``bench_emulator.py`` (rate limit off, in-memory SQLite) and fed the same
pre-serialized bulk bodies: without ``--plan`` (the baseline), with a plan
every event follows (each event checked, nothing recorded), and with a plan
every event breaks once (each event checked and one violation row written).
The runs alternate, ``--rounds`` times, and the best of each is kept.

    .venv/bin/python benchmarks/bench_emulator_plan.py [--threads 4] [--requests 150]

Target: with a plan, at least 15,000 events/s, the emulator's own target, so
that checking a plan in CI never makes the emulator the bottleneck.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from pathlib import Path

import _emulator
import orjson
import urllib3

TARGET = 15_000
"""The emulator's own target (``bench_emulator.py``), in events per second."""
STORE = "64e5a8a1af49a89df37e4ee7"
KEY = "sk_bench"

_PLAN = """\
version: '1.0.0'
events:
  Order Placed:
    properties:
      Order Total: {{type: number, required: true, minimum: 0}}
      Item Count: {{type: integer, required: true, minimum: 1}}
      Channel: {{type: string, enum: [{channels}]}}
      Placed At: {{type: date}}
    extra: {{type: object}}
    value: required
    valueCurrency: required
"""


def _bodies(thread: int, requests: int) -> list[bytes]:
    """Bulk bodies of 100 distinct events each, as ``bench_emulator.py`` sends them."""
    bodies = []
    for request in range(requests):
        events = [
            {
                "eventName": "Order Placed",
                "customer": {"email": f"customer{(request * 100 + item) % 5000}@example.com"},
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
            for item in range(100)
        ]
        bodies.append(orjson.dumps({"events": events}))
    return bodies


def _run(bodies: list[list[bytes]], extra: list[str]) -> float:
    """Events stored per second by one emulator started with ``extra`` options."""
    with _emulator.emulator({STORE: KEY}, extra=["--rate-limit", "0", *extra]) as (base, root):
        headers = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}
        url = f"{base}/stores/{STORE}/events/bulk"
        failures: list[int] = []

        def send(mine: list[bytes]) -> None:
            with urllib3.PoolManager(maxsize=1, retries=False, timeout=30.0) as http:
                for body in mine:
                    status = http.request("POST", url, body=body, headers=headers).status
                    if status != 202:
                        failures.append(status)

        threads = [threading.Thread(target=send, args=(b,)) for b in bodies]
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - started
        stored = _emulator.stats(root, KEY)["stored"]
    if failures or stored != sum(len(b) for b in bodies) * 100:
        raise RuntimeError(f"{len(failures)} requests failed; {stored:,} events stored")
    return float(stored) / elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=4, help="client threads (default 4)")
    parser.add_argument(
        "--requests", type=int, default=150, help="bulk requests per thread (default 150)"
    )
    parser.add_argument("--rounds", type=int, default=2, help="runs of each kind (default 2)")
    args = parser.parse_args()
    bodies = [_bodies(t, args.requests) for t in range(args.threads)]
    with tempfile.TemporaryDirectory() as folder:
        follows, breaks = Path(folder, "follows.yaml"), Path(folder, "breaks.yaml")
        follows.write_text(_PLAN.format(channels="web, pos"))
        breaks.write_text(_PLAN.format(channels="pos"))
        kinds = {
            "no plan (baseline)": [],
            "plan, every event follows it": ["--plan", str(follows)],
            "plan, every event breaks it once": ["--plan", str(breaks)],
        }
        best = dict.fromkeys(kinds, 0.0)
        for _ in range(args.rounds):
            for kind, extra in kinds.items():
                best[kind] = max(best[kind], _run(bodies, extra))
    sent = args.threads * args.requests * 100
    print(f"emulator bulk ingest, {sent:,} events a run, {args.threads} client threads, "
          f"best of {args.rounds}")  # fmt: skip
    baseline = best["no plan (baseline)"]
    for kind, rate in best.items():
        print(f"  {kind:<34} {rate:>9,.0f} events/s  {rate / baseline:.2f}x baseline  "
              f"{rate / TARGET:.2f}x target")  # fmt: skip
    return 0 if min(best.values()) >= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
