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

``--server sink`` puts a paced sink in the emulator's place: its own
process, answering 202 to every request and 429 with ``Retry-After`` above
the spec's requests/s per store and endpoint, as Redo does, but checking
nothing and storing only the uniqueIds: like Redo's remote servers, it costs
the machine next to nothing, so that the figures are about the client. The
emulator (the default) validates and stores every event on the same CPUs.

``--outbox both`` runs the latency and the 8-thread patterns with the
memory outbox and then with a SQLite file, and prints the SQLite figures as
ratios of the memory ones measured in the same run; CPU per event is this
process's ``process_time`` over the 8-thread run, divided by the events.

Every delivery is checked through the server's inspection API. Run::

    .venv/bin/python benchmarks/bench_batcher.py
    .venv/bin/python benchmarks/bench_batcher.py --events 800000 --send-seconds 20
    .venv/bin/python benchmarks/bench_batcher.py --outbox both --server sink

Not a test: it prints the figures and exits 1 if an event was lost or
duplicated.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import re
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import _emulator
import _sink
import orjson
import urllib3
from _events import request_shape

from redo_kit._batcher import Batcher
from redo_kit._client import RedoClient
from redo_kit._events import prepare_event
from redo_kit._rules import BULK, SINGLE, limits
from redo_kit.emulator._ratelimit import RateLimiter

BULK_CEILING = 10_000.0
THREADS = 8
OUTBOXES = ("memory", "sqlite")
STORES = {
    **{f"latency-{kind}": f"latency_{kind}_key" for kind in OUTBOXES},
    **{f"batch-{kind}": f"batch_{kind}_key" for kind in OUTBOXES},
    "bulk-store": "bulk_key",
    "send-store": "send_key",
}


# -- the paced sink ------------------------------------------------------------

_SINK_PATH = re.compile(r"^/v2\.2/stores/([^/]+)/events(/bulk)?/?$")


class _SinkState:
    """What the sink keeps: each store's uniqueIds in the order first seen."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.ids: dict[str, dict[str, None]] = {}
        self.limiters = {path: RateLimiter(limits().rate_limits[path]) for path in (SINGLE, BULK)}
        self.refused = 0


_SINK = _SinkState()


class _SinkHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def log_message(self, *args: Any) -> None:
        """Quiet: one line per request would cost more than the request."""

    def _answer(self, status: int, body: bytes = b"", headers: str = "") -> None:
        kind = "Content-Type: application/problem+json\r\n" if body else ""
        head = f"HTTP/1.1 {status} -\r\n{kind}{headers}Content-Length: {len(body)}\r\n\r\n"
        self.wfile.write(head.encode("ascii") + body)

    def do_GET(self) -> None:
        store = self.path.removeprefix("/_sink/")
        with _SINK.lock:
            ids = list(_SINK.ids.get(store, {}))
        self._answer(200, orjson.dumps({"ids": ids, "refused": _SINK.refused}))

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        found = _SINK_PATH.match(self.path)
        if found is None:
            self._answer(404, b'{"status":404,"title":"Not Found"}')
            return
        store, bulk = found.group(1), bool(found.group(2))
        wait = _SINK.limiters[BULK if bulk else SINGLE].acquire(store)
        if wait is not None:
            with _SINK.lock:
                _SINK.refused += 1
            self._answer(
                429,
                b'{"status":429,"title":"Too Many Requests"}',
                f"Retry-After: {max(1, math.ceil(wait))}\r\n",
            )
            return
        body = orjson.loads(raw)
        events = body["events"] if bulk else [body]
        with _SINK.lock:
            kept = _SINK.ids.setdefault(store, {})
            for event in events:
                kept[event["uniqueId"]] = None
        self._answer(202)


def serve_sink() -> None:
    """Serve the paced sink on a free loopback port until killed; print its URL first."""
    _sink.serve(_SinkHandler, "/v2.2")


@contextmanager
def sink() -> Iterator[tuple[str, str]]:
    """``(base_url, root_url)`` of the paced sink, started in its own process."""
    with _emulator.serving(
        [sys.executable, str(Path(__file__).resolve()), "--serve-sink"], "sink"
    ) as urls:
        yield urls


def sink_answer(root: str, store: str) -> dict[str, Any]:
    with urllib3.PoolManager() as http:
        answer = http.request("GET", f"{root}/_sink/{store}", retries=False, timeout=60)
    found: dict[str, Any] = orjson.loads(answer.data)
    return found


SERVER: list[str] = ["emulator"]
"""Which server the run sends to: ``emulator`` or ``sink``."""


def event(kind: str, n: int) -> dict[str, Any]:
    """The guide's "Request Shape" event; the batcher gives it a uniqueId."""
    built = request_shape(n)
    built["data"]["Source"] = f"{kind}-{n}"
    return built


def stored_ids(root: str, store: str) -> list[str]:
    if SERVER[0] == "sink":
        ids: list[str] = sink_answer(root, store)["ids"]
        return ids
    return _emulator.stored_ids(root, store, STORES[store])


OUTBOX_DIR: list[str] = []
"""The directory each batcher's SQLite outbox file goes in."""


def outbox(kind: str, name: str) -> dict[str, Any]:
    """The batcher's outbox argument: memory (none given), or a fresh SQLite file."""
    if kind == "memory":
        return {}
    return {"outbox": os.path.join(OUTBOX_DIR[0], f"{name}.sqlite3")}


def client(base_url: str, store: str) -> RedoClient:
    return RedoClient(store_id=store, api_key=STORES[store], base_url=base_url)


def percentiles(samples_ns: list[int]) -> dict[str, float]:
    ordered = sorted(samples_ns)

    def at(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] / 1000

    return {"p50": at(0.50), "p90": at(0.90), "p99": at(0.99), "max": ordered[-1] / 1000}


def bench_latency(base_url: str, count: int, kind: str) -> dict[str, Any]:
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
        client(base_url, f"latency-{kind}") as sender,
        Batcher(
            sender, max_events=2 * count, max_bytes=1 << 30, **outbox(kind, "latency")
        ) as batcher,
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


def bench_batcher(base_url: str, count: int, kind: str) -> dict[str, Any]:
    per_thread = [list(range(slot, count, THREADS)) for slot in range(THREADS)]
    tracked: list[list[str]] = [[] for _ in range(THREADS)]
    with (
        client(base_url, f"batch-{kind}") as sender,
        Batcher(sender, **outbox(kind, "batch")) as batcher,
    ):

        def produce(slot: int) -> None:
            out = tracked[slot]
            for n in per_thread[slot]:
                out.append(batcher.track(event("batch", n)))

        threads = [threading.Thread(target=produce, args=(s,)) for s in range(THREADS)]
        cpu = time.process_time()
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        tracked_at = time.perf_counter() - started
        result = batcher.flush(timeout=count / 1_000 + 60)
        elapsed = time.perf_counter() - started
        cpu = time.process_time() - cpu
        stats = batcher.stats()
    return {
        "ids": [i for slot in tracked for i in slot],
        "seconds": elapsed,
        "tracking_seconds": tracked_at,
        "cpu_us": cpu / count * 1e6,
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
        "--send-seconds",
        type=float,
        default=10.0,
        help="how long send() runs; default 10; 0 leaves send_bulk and send() out",
    )
    parser.add_argument("--in-process", action="store_true", help="run the emulator in a thread")
    parser.add_argument(
        "--outbox",
        choices=["memory", "sqlite", "both"],
        default="memory",
        help="the batchers' outbox: memory (default), a SQLite file in a temporary "
        "directory, or both in turn (SQLite as ratios of memory)",
    )
    parser.add_argument(
        "--server",
        choices=["emulator", "sink"],
        default="emulator",
        help="where requests go: the emulator (default) or a paced sink (see above)",
    )
    parser.add_argument("--serve-sink", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_sink:
        serve_sink()
        return 0
    kinds = OUTBOXES if args.outbox == "both" else (args.outbox,)
    OUTBOX_DIR.append(tempfile.mkdtemp(prefix="redo-kit-bench-"))
    SERVER[0] = args.server

    print(
        f"redo-kit batcher benchmark — {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
        f"Python {platform.python_version()}, {platform.machine()}, "
        + (
            "paced sink in its own process"
            if args.server == "sink"
            else f"emulator {'in-process' if args.in_process else 'in its own process'}"
        )
        + f" at 100 requests/s per store and endpoint, {' then '.join(kinds)} outbox, "
        f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )
    failed = False
    server = (
        sink() if args.server == "sink" else _emulator.emulator(STORES, in_process=args.in_process)
    )
    latencies: dict[str, dict[str, Any]] = {}
    batches: dict[str, dict[str, Any]] = {}
    with server as (base_url, root):
        for kind in kinds:
            latency = bench_latency(base_url, args.latency_events, kind)
            lost, dups = check(latency["ids"], stored_ids(root, f"latency-{kind}"))
            failed |= bool(lost or dups)
            latency["lost"], latency["dups"] = lost, dups
            latencies[kind] = latency

            batch = bench_batcher(base_url, args.events, kind)
            stored = stored_ids(root, f"batch-{kind}")
            lost, dups = check(batch["ids"], stored)
            failed |= bool(lost or dups or not batch["completed"])
            batch.update(
                stored=stored, lost=lost, dups=dups, rate=len(set(stored)) / batch["seconds"]
            )
            batches[kind] = batch

        references: list[tuple[str, list[str], list[str], float, int, int]] = []
        if args.send_seconds > 0:
            bulk = bench_send_bulk(base_url, args.events)
            bulk_stored = stored_ids(root, "bulk-store")
            references.append(
                (
                    "send_bulk (ref.)",
                    bulk["ids"],
                    bulk_stored,
                    bulk["seconds"],
                    *check(bulk["ids"], bulk_stored),
                )
            )
            single = bench_send(base_url, args.send_seconds)
            sent_stored = stored_ids(root, "send-store")
            send_lost, send_dups = check(single["ids"], sent_stored)
            failed |= bool(send_lost or send_dups)
            references.append(
                (
                    "send() per event",
                    single["ids"],
                    sent_stored,
                    single["seconds"],
                    send_lost,
                    send_dups,
                )
            )
        refused = sink_answer(root, "-")["refused"] if args.server == "sink" else None

    print(f"\ntrack() on the caller's thread, {args.latency_events:,} calls, 1 thread (us):")
    labels = {
        "track": "track(dict)",
        "prepare": "prepare_event(dict) alone",
        "queue": "track(prepared): queueing",
    }
    for kind in kinds:
        latency = latencies[kind]
        for name, label in labels.items():
            row = latency[name]
            print(
                f"  {kind:<7}{label:<28} p50 {row['p50']:7.1f}  p90 {row['p90']:7.1f}  "
                f"p99 {row['p99']:7.1f}  max {row['max']:9.1f}"
            )
        print(f"  {kind:<7}delivered: lost {latency['lost']}, duplicated {latency['dups']}")

    header = (
        f"{'pattern':<26}{'events':>9}{'stored':>9}{'lost':>6}{'dups':>6}{'seconds':>9}"
        f"{'events/s':>10}{'of 10k':>8}{'CPU us/ev':>11}"
    )
    print(f"\n{THREADS} threads tracking through one store:")
    print(header)
    print("-" * len(header))
    rows = [
        (
            f"batcher.track(), {kind}",
            b["ids"],
            b["stored"],
            b["seconds"],
            b["lost"],
            b["dups"],
            f"{b['cpu_us']:>11.1f}",
        )
        for kind, b in batches.items()
    ] + [(*ref, "") for ref in references]
    for name, ids, stored_list, seconds, gone, twice, cpu in rows:
        rate = len(set(stored_list)) / seconds
        print(
            f"{name:<26}{len(ids):>9,}{len(stored_list):>9,}{gone:>6,}{twice:>6,}"
            f"{seconds:>9.2f}{rate:>10,.0f}{rate / BULK_CEILING:>8.3f}{cpu}"
        )
    for kind, b in batches.items():
        stats = b["stats"]
        print(
            f"{kind}: {stats.requests:,} bulk requests, {stats.retried:,} retries, "
            f"{stats.dropped:,} dropped, {stats.failed:,} failed; the {THREADS} threads were "
            f"done tracking after {b['tracking_seconds']:.2f} s"
        )
    if refused is not None:
        print(f"the sink answered 429 {refused:,} time(s)")
    if len(kinds) == 2:
        mem, sql = latencies["memory"]["track"], latencies["sqlite"]["track"]
        print(
            "\nSQLite / memory in this run: "
            f"track p50 {sql['p50'] / mem['p50']:.2f}x, p99 {sql['p99'] / mem['p99']:.2f}x; "
            f"8 threads events/s {batches['sqlite']['rate'] / batches['memory']['rate']:.3f}x, "
            f"CPU per event {batches['sqlite']['cpu_us'] / batches['memory']['cpu_us']:.2f}x"
        )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
