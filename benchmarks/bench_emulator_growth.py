#!/usr/bin/env python3
"""Emulator ingest of the example backfill while its store grows to N events.

    .venv/bin/python benchmarks/bench_emulator_growth.py [--events 1000000] [--threads 4]

bench_emulator.py measures a fresh store; this one measures whether the
emulator keeps its pace as the store fills, with the data of the README's
main job (scripts/make_examples.py: repeat customers, profiles, dates,
`$extra`). It starts `python -m redo_kit.emulator` with the rate limit off
and an in-memory database, sends N events in bulk requests of 100 from
client threads, and prints events/s for each tenth of the run. The first
tenth is the baseline: the ratio of the last tenth to it shows how much the
pace falls with the store's size. Target: every tenth >= 15,000 events/s, so
the emulator is never the bottleneck of a client at Redo's ceiling of
10,000 events/s.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import _emulator
import orjson
import urllib3

ROOT = Path(__file__).resolve().parents[1]
STORE = "64e5a8a1af49a89df37e4ee7"
KEY = "sk_bench"
TARGET = 15_000.0


def _bodies(events: int) -> list[bytes]:
    """Bulk bodies of 100 example lines each: every line that is JSON goes, the invalid
    ones included, to be dropped (or, for the unknown key, stored) as the API would."""
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "events.jsonl"
        subprocess.run(
            [sys.executable, str(ROOT / "scripts" / "make_examples.py"), "--count",
             str(events), "--seed", "11", "--out", str(source)],
            check=True,
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        lines = []
        with source.open("rb") as fh:
            for line in fh:
                try:
                    orjson.loads(line)
                except orjson.JSONDecodeError:
                    continue
                lines.append(line.rstrip(b"\n"))
    return [
        b'{"events":[' + b",".join(lines[i : i + 100]) + b"]}" for i in range(0, len(lines), 100)
    ]


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--threads", type=int, default=4)
    args = parser.parse_args()

    bodies = _bodies(args.events)
    finished: list[tuple[float, int]] = []  # (time, events) of each request, in any order
    failures: list[str] = []
    lock = threading.Lock()
    headers = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}

    with _emulator.emulator({STORE: KEY}, extra=["--rate-limit", "0"]) as (base_url, root):
        url = f"{base_url}/stores/{STORE}/events/bulk"
        queue = iter(enumerate(bodies))

        def send() -> None:
            with urllib3.PoolManager(maxsize=1, retries=False, timeout=60.0) as http:
                while True:
                    with lock:
                        item = next(queue, None)
                    if item is None:
                        return
                    _, body = item
                    response = http.request("POST", url, body=body, headers=headers)
                    with lock:
                        if response.status != 202:
                            failures.append(f"{response.status} {response.data[:200]!r}")
                        finished.append((time.perf_counter(), body.count(b'"customer"')))

        threads = [threading.Thread(target=send) for _ in range(args.threads)]
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - started
        stored = int(_emulator.stats(root, KEY)["stored"])

    finished.sort()
    tenth = len(finished) // 10
    rates = []
    previous = started
    for part in range(10):
        window = finished[part * tenth : (part + 1) * tenth if part < 9 else len(finished)]
        end = window[-1][0]
        rates.append(sum(n for _, n in window) / (end - previous))
        previous = end
    print(
        f"emulator, example data: {stored:,} events stored in {elapsed:.1f} s with "
        f"{args.threads} client threads = {stored / elapsed:,.0f} events/s"
    )
    print("events/s per tenth of the run: " + ", ".join(f"{r:,.0f}" for r in rates))
    print(
        f"last tenth / first tenth: {rates[-1] / rates[0]:.2f}; slowest tenth "
        f"{min(rates):,.0f} events/s = {min(rates) / TARGET:.2f} of the 15,000 target"
    )
    if failures:
        print(f"{len(failures)} requests failed, first: {failures[0]}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
