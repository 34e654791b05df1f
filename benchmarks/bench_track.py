"""track() on the caller's thread and CPU per delivered event, beside Segment's and PostHog's SDKs.

One run measures three SDKs the same way, on the same machine, against one
local sink (``_sink.py``: a threaded HTTP server on 127.0.0.1, started as its
own process, so neither its CPU time nor its GIL is this process's):

- redo-kit: ``Batcher.track(event)``, a ``RedoClient`` with ``rate_limit=None``
  (no pacing: the sink's speed is what counts), 8 sender threads (its
  default; ``--senders`` changes it);
- Segment's ``analytics-python`` (``segment.analytics.Client.track``), one
  consumer thread, its defaults otherwise;
- PostHog's ``posthog`` (``Posthog.capture``), one consumer thread, its
  defaults otherwise.

The event is the guide's "Request Shape" event (``_events.request_shape``):
for redo-kit the wire dict as it is; for the others the same content in their
own terms: the customer's email as the user id, ``data`` with ``value`` and
``currency`` as properties, the names as person traits (Segment's
``context.traits``, PostHog's ``$set``), the timestamp as a datetime. Every
SDK's queue holds the whole run, so no event is dropped for want of room.

For each SDK, ``--events`` events (default 100,000) are built beforehand
(outside the clocks, frozen out of the garbage collector's scans) and tracked
by one thread, each call timed with ``perf_counter_ns``; senders deliver in the
background. The CPU window opens before the first call and closes when the
sink has counted every event (after the SDK's ``flush``): ``process_time`` of
the whole process, sender threads included, divided by the events delivered.
A warm-up of ``--warmup`` events (default 2,000) opens connections first.
``--rounds`` (default 3) repeats everything with the order of the SDKs
rotated; the table gives each figure's median over the rounds.

Targets for redo-kit: track p50 <= 10 us, p99 <= 100 us; CPU <= 20 us per
delivered event. Run::

    .venv/bin/python benchmarks/bench_track.py
    .venv/bin/python benchmarks/bench_track.py --events 20000 --rounds 1

Not a test: it prints the figures and exits 1 if any SDK lost an event.
"""

from __future__ import annotations

import argparse
import functools
import gc
import logging
import platform
import statistics
import sys
import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

import _sink
from _events import request_shape

from redo_kit._batcher import Batcher
from redo_kit._client import RedoClient

TARGETS = {"p50": 10.0, "p99": 100.0, "cpu": 20.0}

Args = tuple[tuple[Any, ...], dict[str, Any]]
# (track, flush, close) of one SDK's client, opened against the sink.
Opened = tuple[Callable[..., object], Callable[[], object], Callable[[], object]]


def _parts(n: int) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any], datetime]:
    """The event, its properties, its person traits and its timestamp, for the baselines."""
    event = request_shape(n)
    properties = dict(event["data"])
    properties["value"] = event["value"]
    properties["currency"] = event["valueCurrency"]
    stamp = datetime.fromisoformat(event["eventTimestamp"].replace("Z", "+00:00"))
    return event, properties, dict(event["customer"]), stamp


def redo_args(n: int) -> Args:
    return (request_shape(n),), {}


def open_redo(url: str, events: int, senders: int = 8) -> Opened:
    client = RedoClient(
        store_id="bench-store", api_key="bench_key", base_url=f"{url}/v2.2", rate_limit=None
    )
    batcher = Batcher(client, max_events=events + 1, max_bytes=1 << 30, senders=senders)

    def close() -> None:
        batcher.close(timeout=60)
        client.close()

    return batcher.track, lambda: batcher.flush(timeout=300), close


def segment_args(n: int) -> Args:
    event, properties, traits, stamp = _parts(n)
    context = {"traits": traits}
    return (traits["email"], event["eventName"], properties, context, stamp), {}


def open_segment(url: str, events: int) -> Opened:
    from segment.analytics import Client

    client = Client("bench-write-key", host=url, max_queue_size=events + 1)
    return client.track, client.flush, client.join


def posthog_args(n: int) -> Args:
    event, properties, traits, stamp = _parts(n)
    properties["$set"] = traits
    return (event["eventName"],), {
        "distinct_id": traits["email"],
        "properties": properties,
        "timestamp": stamp,
    }


def open_posthog(url: str, events: int) -> Opened:
    from posthog import Posthog

    client = Posthog("phc_bench_key", host=url, max_queue_size=events + 1)
    return client.capture, lambda: client.flush(timeout_seconds=300), client.shutdown


# label -> (the sink's name for its format, arguments of one call, client factory)
SDKS: dict[str, tuple[str, Callable[[int], Args], Callable[[str, int], Opened]]] = {
    "redo-kit": ("redo", redo_args, open_redo),
    "Segment": ("segment", segment_args, open_segment),
    "PostHog": ("posthog", posthog_args, open_posthog),
}


def percentile(ordered: list[int], q: float) -> float:
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] / 1000


def wait_for(url: str, fmt: str, count: int, timeout: float) -> dict[str, int]:
    """Poll the sink until it has ``count`` distinct events of ``fmt`` (or the timeout)."""
    deadline = time.monotonic() + timeout
    while True:
        found: dict[str, int] = _sink.counts(url)[fmt]
        if found["unique"] >= count or time.monotonic() >= deadline:
            return found
        time.sleep(0.005)


def measure(url: str, label: str, events: int, warmup: int) -> dict[str, Any]:
    fmt, build, open_client = SDKS[label]
    track, flush, close = open_client(url, events + warmup)
    try:
        for n in range(warmup):
            args, kwargs = build(n)
            track(*args, **kwargs)
        flush()
        wait_for(url, fmt, warmup, 60)
        _sink.reset(url)
        calls = [build(n) for n in range(events)]
        samples = [0] * events
        gc.collect()
        gc.freeze()  # the prebuilt inputs are not the SDK's garbage
        clock = time.perf_counter_ns
        cpu_started = time.process_time()
        started = time.perf_counter()
        for i, (args, kwargs) in enumerate(calls):
            before = clock()
            track(*args, **kwargs)
            samples[i] = clock() - before
        tracked = time.perf_counter() - started
        flush()
        found = wait_for(url, fmt, events, 120)
        cpu = time.process_time() - cpu_started
        elapsed = time.perf_counter() - started
    finally:
        close()
        gc.unfreeze()
    samples.sort()
    return {
        "p50": percentile(samples, 0.50),
        "p99": percentile(samples, 0.99),
        "max": samples[-1] / 1000,
        "cpu": cpu * 1e6 / max(1, found["unique"]),
        "cpu_seconds": cpu,
        "delivered": found["unique"],
        "duplicated": found["events"] - found["unique"],
        "total": events,
        "tracked_seconds": tracked,
        "seconds": elapsed,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--events", type=int, default=100_000, help="per SDK; default 100,000")
    parser.add_argument("--warmup", type=int, default=2_000, help="per SDK; default 2,000")
    parser.add_argument("--rounds", type=int, default=3, help="default 3, SDK order rotated")
    parser.add_argument(
        "--senders", type=int, default=8, help="redo-kit's sender threads; default 8 (its own)"
    )
    parser.add_argument(
        "--threads", action="store_true", help="list the threads left after each SDK's close"
    )
    args = parser.parse_args(argv)
    # The baselines log a warning per failed request; nothing should fail here,
    # and if something does, the counts say so.
    logging.basicConfig(level=logging.ERROR)

    from importlib.metadata import version

    print(
        "track() and CPU per delivered event — "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
        f"Python {platform.python_version()}, {platform.machine()}; "
        f"redo-kit {version('redo-kit')}, segment-analytics-python "
        f"{version('segment-analytics-python')}, posthog {version('posthog')}; "
        f"{args.events:,} events per SDK, {args.rounds} round(s), redo-kit with "
        f"{args.senders} sender thread(s), sink in its own process"
    )
    if args.senders != 8:
        SDKS["redo-kit"] = ("redo", redo_args, functools.partial(open_redo, senders=args.senders))
    labels = list(SDKS)
    runs: dict[str, list[dict[str, Any]]] = {label: [] for label in labels}
    with _sink.sink() as url:
        for round_number in range(args.rounds):
            order = labels[round_number % len(labels) :] + labels[: round_number % len(labels)]
            for label in order:
                result = measure(url, label, args.events, args.warmup)
                runs[label].append(result)
                if args.threads:
                    print(f"  threads after {label}: {[t.name for t in threading.enumerate()]}")
                print(
                    f"  round {round_number + 1} {label:<9} p50 {result['p50']:6.1f} us  "
                    f"p99 {result['p99']:7.1f} us  max {result['max']:9.1f} us  "
                    f"CPU {result['cpu']:6.1f} us/event  "
                    f"{result['delivered']:,}/{result['total']:,} in {result['seconds']:.2f} s "
                    f"(tracking {result['tracked_seconds']:.2f} s)"
                )
        other = _sink.counts(url)["other"]
    if other:
        print(f"  the sink also saw requests it does not count: {other}")

    def median(label: str, key: str) -> float:
        return statistics.median(r[key] for r in runs[label])

    header = (
        f"{'SDK':<10}{'p50 us':>9}{'p99 us':>9}{'CPU us/event':>14}"
        f"{'delivered/total':>19}{'dups':>6}{'events/s':>10}"
    )
    print(f"\nmedian of {args.rounds} round(s):")
    print(header)
    print("-" * len(header))
    lost = False
    for label in labels:
        delivered = sum(r["delivered"] for r in runs[label])
        total = sum(r["total"] for r in runs[label])
        dups = sum(r["duplicated"] for r in runs[label])
        lost |= delivered < total
        rate = statistics.median(r["total"] / r["seconds"] for r in runs[label])
        print(
            f"{label:<10}{median(label, 'p50'):>9.1f}{median(label, 'p99'):>9.1f}"
            f"{median(label, 'cpu'):>14.1f}{f'{delivered:,}/{total:,}':>19}{dups:>6,}"
            f"{rate:>10,.0f}"
        )
    print()
    for key, name in (("p50", "track p50"), ("p99", "track p99"), ("cpu", "CPU per event")):
        figure = median("redo-kit", key)
        verdict = "met" if figure <= TARGETS[key] else "MISSED"
        print(f"redo-kit {name}: {figure:.1f} us (target <= {TARGETS[key]:g} us: {verdict})")
    for baseline in labels[1:]:
        ratios = ", ".join(
            f"{name} {median('redo-kit', key) / median(baseline, key):.2f}x"
            for key, name in (("p50", "p50"), ("p99", "p99"), ("cpu", "CPU"))
        )
        print(f"redo-kit / {baseline}: {ratios}")
    if lost:
        print("\nan SDK lost events (delivered < total)")
    return 1 if lost else 0


if __name__ == "__main__":
    sys.exit(main())
