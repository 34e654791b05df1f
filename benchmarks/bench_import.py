#!/usr/bin/env python3
"""Backfill throughput and memory: `redo-kit import` of N events into the emulator.

    .venv/bin/python benchmarks/bench_import.py [--events 1000000] [--naive-seconds 10]
        [--format jsonl|csv]

Starts `redo-kit emulator` at its default limit of 100 requests/s per store
per endpoint, generates N events with scripts/make_examples.py, and runs
`redo-kit import` on them as a separate process. Prints delivered events/s as
a fraction of the documented ceiling (100 requests/s x 100 events = 10,000
events/s), the importer's peak RSS, and, as a baseline in the same run, the
guide's naive pattern (one blocking POST per event, no retry) over the same
emulator for a few seconds. Targets: >= 0.95 of the ceiling; peak RSS <= 150 MB.

With --format csv the input is N orders in a shop's own columns (as
examples/orders.csv, plus its 2 invalid rows), imported through the README's
column mapping.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import _emulator
import orjson
import urllib3

ROOT = Path(__file__).resolve().parents[1]
# The README's CSV command: the shop's columns mapped to wire paths.
CSV_MAPPING = [
    "--event-name", "Order Placed", "--column", "Order Id=uniqueId", "--column",
    "Placed At=eventTimestamp", "--column", "Email=customer.email", "--column",
    "Phone=customer.phoneNumber", "--column", "First Name=customer.firstName", "--column",
    "Zip=customer.location.postalCode", "--column", "Total=value", "--column",
    "Currency=valueCurrency",
]  # fmt: skip
STORE = "64e5a8a1af49a89df37e4ee7"
KEY = "sk_bench"
CEILING = 10_000.0


def naive(base_url: str, events: list[bytes], seconds: float) -> float:
    """The guide's pattern: one blocking POST per event, no retry. Events/s."""
    http = urllib3.PoolManager()
    url = f"{base_url}/stores/{STORE}/events"
    headers = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}
    sent = 0
    start = time.perf_counter()
    for body in events:
        if time.perf_counter() - start >= seconds:
            break
        response = http.request("POST", url, body=body, headers=headers, retries=False)
        if response.status == 202:
            sent += 1
    elapsed = time.perf_counter() - start
    http.clear()
    return sent / elapsed


def _naive_sample(source: Path, count: int) -> list[bytes]:
    """Up to ``count`` valid events of ``source``, each with a uniqueId of its own."""
    from redo_kit import validate_event

    sample = []
    with source.open("rb") as fh:
        for line in fh:
            try:
                event = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue
            if not any(p.severity == "error" for p in validate_event(event)):
                sample.append(orjson.dumps({**event, "uniqueId": f"naive-{len(sample)}"}))
            if len(sample) == count:
                break
    return sample


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--naive-seconds", type=float, default=10.0)
    parser.add_argument("--db", help="SQLite file for the emulator (default: in memory)")
    parser.add_argument("--concurrency", default="8", help="redo-kit import --concurrency")
    parser.add_argument("--format", choices=("jsonl", "csv"), default="jsonl")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        jsonl = Path(tmp) / "events.jsonl"
        csv = Path(tmp) / "orders.csv"
        as_csv = args.format == "csv"
        # In CSV mode the JSON Lines only feed the naive baseline.
        subprocess.run(
            [sys.executable, str(ROOT / "scripts" / "make_examples.py"), "--count",
             str(5000 if as_csv else args.events), "--seed", "11", "--out", str(jsonl),
             *(["--csv", str(csv), "--csv-rows", str(args.events + 2)] if as_csv else [])],
            check=True,
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        source = csv if as_csv else jsonl
        size = source.stat().st_size / 1e6
        invalid = "2 invalid rows" if as_csv else "8 invalid lines"
        print(f"input: {args.events:,} valid events (+{invalid}), {args.format}, {size:.0f} MB")

        extra = ["--db", args.db] if args.db else []
        with _emulator.emulator({STORE: KEY}, extra=extra) as (base_url, root):
            env = {
                **os.environ,
                "REDO_API_KEY": KEY,
                "REDO_STORE_ID": STORE,
                "REDO_BASE_URL": base_url,
            }
            start = time.perf_counter()
            importer = subprocess.Popen(
                [sys.executable, "-m", "redo_kit._cli", "import", str(source), "--no-checkpoint",
                 "--max-rejects", "8", "--progress-every", "10", "--concurrency", args.concurrency,
                 *(CSV_MAPPING if as_csv else [])],
                env=env,
                stdout=subprocess.PIPE,
                text=True,
            )  # fmt: skip
            _, status, usage = os.wait4(importer.pid, 0)
            elapsed = time.perf_counter() - start
            output = importer.stdout.read() if importer.stdout else ""
            if importer.stdout is not None:
                importer.stdout.close()
            importer.returncode = os.waitstatus_to_exitcode(status)
            stored = int(_emulator.stats(root, KEY)["stored"])
            rate = stored / elapsed
            cpu = usage.ru_utime + usage.ru_stime
            print(output.strip().splitlines()[-1] if output else "")
            print(
                f"import: {stored:,} events stored in {elapsed:.1f} s (exit {importer.returncode})"
            )
            print(
                f"  rate: {rate:,.0f} events/s = {rate / CEILING:.3f} of the 10,000 events/s "
                "ceiling (target >= 0.95)"
            )
            print(f"  importer peak RSS: {usage.ru_maxrss / 1024:.0f} MB (target <= 150 MB)")
            print(f"  importer CPU: {cpu:.1f} s ({cpu / elapsed:.0%} of one core)")
            print(f"  lost or duplicated: {args.events - stored:,}")

            sample = _naive_sample(jsonl, 5000)
            naive_rate = naive(base_url, sample, args.naive_seconds)
            print(
                f"naive (one POST per event, no retry): {naive_rate:,.0f} events/s "
                f"= {naive_rate / CEILING:.3f} of the ceiling"
            )
            print(f"ratio import / naive: {rate / naive_rate:.1f}x")


if __name__ == "__main__":
    main()
