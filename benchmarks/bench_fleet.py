"""A fleet on Redis: 8 producer processes, 2 relays, the emulator at its limit.

Each part runs real processes against ``redo-kit emulator`` (its own process,
the spec's 100 requests/s per endpoint unless said) and a private
``redis-server`` (the fixture of ``tests_redis/``, ``--save ''``):

- ``fleet``: 8 producer processes in two groups of 4 track ``--events``
  events (default 200,000) between them into Redis (``outbox="redis://..."``)
  while 2 ``redo-kit relay`` processes deliver them with fleet pacing.
  Aggregate events/s from the first track to the last event stored, against
  the ceiling of 10,000 events/s (100 requests/s x 100 events), and the share
  of requests answered 429. Baseline in the same run: the same 8 processes
  each with its own memory batcher and in-process pacing, no Redis.
  Targets: >= 0.95 of the ceiling, < 1% 429.
- ``stores``: 4 stores with the emulator's limit lowered to 20 requests/s,
  2 relays serving all 4; each store's rate against its own ceiling (2,000
  events/s). Target: each >= 0.95.
- ``cpu``: relay CPU time (user + system, from the kernel at its exit) per
  event delivered in the fleet run. Target: <= 5 µs.
- ``track``: ``track()`` into Redis on the caller's thread, p50 and p99.
- ``aof``: ``RedisOutbox.put`` with ``appendonly yes`` at ``appendfsync
  everysec`` and ``always``: latency and what a ``kill -9`` of redis-server
  loses of the puts it had acknowledged.

Run::

    .venv/bin/python benchmarks/bench_fleet.py                 # every part
    .venv/bin/python benchmarks/bench_fleet.py --parts track,aof --events 50000

Not a test: it prints the figures; it exits 1 if an event was lost or stored twice.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

from _emulator import stats, stored_ids

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests_redis"))

from redis_server import RedisServer

from redo_kit._events import prepare_event
from redo_kit._outbox_redis import RedisOutbox

STORES = [f"64e5a8a1af49a89df37e4e{n:02x}" for n in range(4)]
KEYS = {store: f"sk_bench_{n}" for n, store in enumerate(STORES)}
CEILING = 10_000.0

PRODUCER = textwrap.dedent(
    """
    import sys, time
    from redo_kit._client import RedoClient

    outbox, store, key, prefix = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
    count = int(sys.argv[5])
    client = RedoClient(store_id=store, api_key=key)
    batcher = client.batcher(outbox=None if outbox == "-" else outbox, max_events=10**6)
    print("ready", flush=True)
    sys.stdin.readline()
    started = time.time()
    for n in range(count):
        batcher.track({
            "eventName": "Page Viewed",
            "customer": {"email": f"user{n % 300}@example.com"},
            "data": {"Page": f"/pages/{n}", "Visits": n},
            "uniqueId": f"{prefix}-{n}",
        })
    print(started, time.time(), flush=True)
    if outbox == "-":
        batcher.close(600)
    """
)


def start_emulator(rate_limit: float | None) -> tuple[subprocess.Popen[str], str, str]:
    args = [sys.executable, "-m", "redo_kit.emulator", "--port", "0"]
    for store in STORES:
        args += ["--store", f"{store}={KEYS[store]}"]
    if rate_limit is not None:
        args += ["--rate-limit", str(rate_limit)]
    process = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    first = process.stdout.readline().strip()
    base = first.removeprefix("listening on ")
    return process, base, base.rsplit("/", 1)[0]


def stop(process: subprocess.Popen[Any], how: int = signal.SIGTERM) -> Any:
    """Stop ``process`` and return its resource usage (CPU times) from the kernel."""
    usage = None
    if process.returncode is None:
        # Not send_signal(): it reaps an ended process first, and its usage with it.
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, how)
        _, _, usage = os.wait4(process.pid, 0)
        process.returncode = 0
    for stream in (process.stdin, process.stdout, process.stderr):
        if stream is not None:
            stream.close()
    return usage


def producers(
    base: str, outbox: str, stores: list[str], per: int, groups: int = 2, size: int = 4
) -> tuple[list[tuple[float, float]], list[subprocess.Popen[str]]]:
    """Start groups x size producers and let them go at once.

    Returns (first track, last track) of each, once its track() calls returned,
    and the processes (a memory batcher's go on delivering until closed).
    """
    env = {**os.environ, "REDO_BASE_URL": base}
    procs = []
    for g in range(groups):
        for w in range(size):
            store = stores[(g * size + w) % len(stores)]
            procs.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        "-c",
                        PRODUCER,
                        outbox,
                        store,
                        KEYS[store],
                        f"m{g}w{w}",
                        str(per),
                    ],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    text=True,
                    env=env,
                )
            )
    for p in procs:
        assert p.stdout is not None
        assert p.stdout.readline().strip() == "ready"
        p.started_cpu = cpu_seconds(p.pid)  # type: ignore[attr-defined]
    for p in procs:
        assert p.stdin is not None
        p.stdin.write("go\n")
        p.stdin.flush()
    spans = []
    for p in procs:
        assert p.stdout is not None
        first, last = p.stdout.readline().split()
        spans.append((float(first), float(last)))
    return spans, procs


def relays(base: str, url: str, stores: list[str], count: int, *extra: str) -> list[Any]:
    """Start ``count`` relays and wait until each says it started (its imports done)."""
    env = {**os.environ, "REDO_BASE_URL": base}
    store_args = [a for s in stores for a in ("--store", f"{s}={KEYS[s]}")]
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "redo_kit._cli",
                "relay",
                "--redis",
                url,
                *store_args,
                "--status-every",
                "0",
                *extra,
            ],
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for _ in range(count)
    ]
    for p in procs:
        assert p.stderr is not None
        line = p.stderr.readline()
        assert "relay started" in line, line
        p.started_cpu = cpu_seconds(p.pid)  # type: ignore[attr-defined]
    return procs


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a running process so far (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def relay_cpu(relay_procs: list[Any]) -> tuple[float, float]:
    """Stop the relays; their CPU seconds after start-up, and of their start-up."""
    started = sum(p.started_cpu for p in relay_procs)
    usages = [stop(r) for r in relay_procs]
    return sum(u.ru_utime + u.ru_stime for u in usages) - started, started


def relay_line(cpu: tuple[float, float], events: int) -> str:
    moving, starting = cpu
    return (
        f"relay CPU {moving:.2f} s for {events:,} events = "
        f"{moving / events * 1e6:.1f} µs per event (target <= 5); "
        f"{(moving + starting) / events * 1e6:.1f} µs with the relays' start-up "
        f"({starting:.2f} s)"
    )


def wait_stored(root: str, store: str, total: int, timeout: float) -> float:
    """Wait until the emulator stored ``total`` events of ``store``; the Unix time it did."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if stats(root, KEYS[store])["stored"] >= total:
            return time.time()
        time.sleep(0.1)
    raise RuntimeError(f"not every event was stored within {timeout:.0f} s")


def share_429(counters: dict[str, Any]) -> tuple[int, int]:
    requests = counters["requests"]
    return int(requests.get("429", 0)), int(sum(requests.values()))


def check_exact(root: str, store: str, expected: set[str]) -> bool:
    ids = stored_ids(root, store, KEYS[store])
    ok = len(ids) == len(set(ids)) and set(ids) == expected
    if not ok:
        print(f"  !! store {store}: {len(ids)} stored, {len(set(ids))} distinct, "
              f"{len(expected)} expected")  # fmt: skip
    return ok


def fleet(args: argparse.Namespace, workdir: Path) -> bool:
    per = args.events // 8
    expected = {f"m{g}w{w}-{n}" for g in range(2) for w in range(4) for n in range(per)}
    ok = True
    print(f"\n## fleet: 8 producers (2 x 4), {8 * per:,} events, one store")
    # Baseline: per-process memory batchers, in-process pacing, no Redis.
    emu, base, root = start_emulator(None)
    try:
        spans, procs = producers(base, "-", STORES[:1], per)
        for p in procs:
            p.wait(900)
        done = time.time()
        for p in procs:
            stop(p)
        start = min(s[0] for s in spans)
        limited, total = share_429(stats(root, KEYS[STORES[0]]))
        rate = 8 * per / (done - start)
        ok = check_exact(root, STORES[0], expected) and ok
        print(f"baseline (no Redis): {rate:,.0f} events/s = {rate / CEILING:.3f} of the ceiling, "
              f"{limited}/{total} requests 429 = {limited / total:.1%}")  # fmt: skip
        baseline = rate
    finally:
        stop(emu)
    server = RedisServer(workdir / "redis-fleet").start()
    emu, base, root = start_emulator(None)
    try:
        relay_procs = relays(base, server.url, STORES[:1], 2)
        assert server.process is not None
        others = {"redis-server": server.process.pid, "emulator": emu.pid}
        others_before = {name: cpu_seconds(pid) for name, pid in others.items()}
        spans, procs = producers(base, server.url, STORES[:1], per)
        tracked = max(s[1] for s in spans)
        done = wait_stored(root, STORES[0], 8 * per, timeout=600)
        start = min(s[0] for s in spans)
        spent = {name: cpu_seconds(pid) - others_before[name] for name, pid in others.items()}
        spent["producers"] = sum(
            u.ru_utime + u.ru_stime - p.started_cpu for p, u in ((p, stop(p)) for p in procs)
        )
        cpu = relay_cpu(relay_procs)
        spent["relays"] = cpu[0]
        limited, total = share_429(stats(root, KEYS[STORES[0]]))
        rate = 8 * per / (done - start)
        ok = check_exact(root, STORES[0], expected) and ok
        print(f"Redis fleet, 2 relays: {rate:,.0f} events/s = {rate / CEILING:.3f} of the ceiling "
              f"(target 0.95), {limited}/{total} requests 429 = {limited / total:.2%} "
              f"(target < 1%); {rate / baseline:.2f}x the baseline")  # fmt: skip
        print(f"  tracking took {tracked - start:.1f} s of the {done - start:.1f} s; "
              f"{relay_line(cpu, 8 * per)}")  # fmt: skip
        wall = done - start
        used = sum(spent.values())
        cores = os.cpu_count() or 1
        print("  CPU per event: " + ", ".join(
            f"{name} {seconds / (8 * per) * 1e6:.1f} µs" for name, seconds in spent.items()
        ) + f"; {used:.1f} CPU-s in all, of the {cores * wall:.1f} the run had on {cores} CPUs"
          f" ({os.getloadavg()[0]:.1f} load average at the end)")  # fmt: skip
    finally:
        stop(emu)
        server.stop()
    return ok


def stores(args: argparse.Namespace, workdir: Path) -> bool:
    per_store = args.store_events
    print(f"\n## 4 stores at 20 requests/s each, 2 relays, {per_store:,} events per store")
    server = RedisServer(workdir / "redis-stores").start()
    emu, base, root = start_emulator(20)
    ok = True
    try:
        relay_procs = relays(base, server.url, STORES, 2, "--rate-limit", "20")
        spans, procs = producers(base, server.url, STORES, per_store // 2)
        start = min(s[0] for s in spans)
        ids_done: dict[str, float] = {}
        deadline = time.monotonic() + 900
        while len(ids_done) < 4 and time.monotonic() < deadline:
            for store in STORES:
                if store not in ids_done and stats(root, KEYS[store])["stored"] >= per_store:
                    ids_done[store] = time.time()
            time.sleep(0.1)
        for p in procs:
            stop(p)
        for r in relay_procs:
            stop(r)
        for n, store in enumerate(STORES):
            rate = per_store / (ids_done[store] - start)
            limited, total = share_429(stats(root, KEYS[store]))
            expected = {
                f"m{g}w{w}-{k}"
                for g in range(2)
                for w in range(4)
                if (g * 4 + w) % 4 == n
                for k in range(per_store // 2)
            }
            ok = check_exact(root, store, expected) and ok
            print(f"store {n}: {rate:,.0f} events/s = {rate / 2000:.3f} of its 2,000 "
                  f"(target 0.95); {limited}/{total} requests 429")  # fmt: skip
    finally:
        stop(emu)
        server.stop()
    return ok


def track(args: argparse.Namespace, workdir: Path) -> bool:
    from redo_kit._client import RedoClient

    print(f"\n## track() into Redis on the caller's thread, {args.tracks:,} calls")
    server = RedisServer(workdir / "redis-track").start()
    try:
        client = RedoClient(store_id=STORES[0], api_key="sk", base_url="http://127.0.0.1:9/v2.2")
        batcher = client.batcher(outbox=server.url)
        times = []
        for n in range(args.tracks):
            event = {
                "eventName": "Page Viewed",
                "customer": {"email": f"user{n % 300}@example.com"},
                "data": {"Page": f"/pages/{n}", "Visits": n},
            }
            started = time.perf_counter()
            batcher.track(event)
            times.append(time.perf_counter() - started)
        batcher.close(0)
        times.sort()
        p50, p99 = times[len(times) // 2], times[int(len(times) * 0.99)]
        print(f"track() p50 {p50 * 1e6:.0f} µs, p99 {p99 * 1e6:.0f} µs, "
              f"max {times[-1] * 1e6:.0f} µs")  # fmt: skip
    finally:
        server.stop()
    return True


def aof(args: argparse.Namespace, workdir: Path) -> bool:
    print(f"\n## put() with the append-only file, {args.puts:,} puts, then kill -9 of redis-server")
    events = [
        prepare_event(
            {"eventName": "Page Viewed", "customer": {"email": f"u{n}@example.com"}},
            unique_id=f"aof-{n}",
        )
        for n in range(args.puts)
    ]
    for fsync in ("everysec", "always"):
        server = RedisServer(workdir / f"redis-aof-{fsync}", appendonly=True, appendfsync=fsync)
        server.start()
        outbox = RedisOutbox(server.url, store_id=STORES[0])
        times = []
        for event in events:
            started = time.perf_counter()
            outbox.put(event)
            times.append(time.perf_counter() - started)
        server.kill()
        server.start()
        kept = RedisOutbox(server.url, store_id=STORES[0]).size().events
        outbox.close()
        server.stop()
        times.sort()
        p50, p99 = times[len(times) // 2], times[int(len(times) * 0.99)]
        rate = len(times) / sum(times)
        print(f"appendfsync {fsync}: put p50 {p50 * 1e6:.0f} µs, p99 {p99 * 1e6:.0f} µs, "
              f"{rate:,.0f} puts/s from one thread; after kill -9 and restart "
              f"{kept:,} of {len(events):,} acknowledged puts kept")  # fmt: skip
    return True


def prefilled(args: argparse.Namespace, workdir: Path) -> bool:
    """The relays alone: the streams filled first, then 2 relays drain them.

    Producers of a fleet run on machines of their own; on this machine they
    share its two cores with the relays, the emulator and Redis. Here they
    are done before the relays start, so the figures are those of delivery
    from Redis, timed from the first event stored to the last.
    """
    ok = True
    for label, chosen, limit, count in (
        ("one store at 100 requests/s", STORES[:1], None, args.events),
        ("4 stores at 20 requests/s", STORES, 20.0, 4 * args.store_events),
    ):
        per = count // 8
        ceiling = (limit or 100.0) * 100
        print(f"\n## prefilled, {label}: {8 * per:,} events in Redis, then 2 relays")
        server = RedisServer(workdir / f"redis-pre-{len(chosen)}").start()
        emu, base, root = start_emulator(limit)
        try:
            _, procs = producers(base, server.url, chosen, per)
            for p in procs:
                stop(p)
            extra = ("--rate-limit", str(limit)) if limit else ()
            relay_procs = relays(base, server.url, chosen, 2, *extra)
            goal = {s: sum(per for i in range(8) if chosen[i % len(chosen)] == s) for s in chosen}
            first: dict[str, tuple[float, int]] = {}
            last: dict[str, float] = {}
            deadline = time.monotonic() + 900
            while len(last) < len(chosen) and time.monotonic() < deadline:
                for store in chosen:
                    if store in last:
                        continue
                    stored = stats(root, KEYS[store])["stored"]
                    if stored and store not in first:
                        first[store] = (time.time(), stored)
                    if stored >= goal[store]:
                        last[store] = time.time()
                time.sleep(0.05)
            cpu = relay_cpu(relay_procs)
            for n, store in enumerate(chosen):
                began, already = first[store]
                rate = (goal[store] - already) / (last[store] - began)
                limited, total = share_429(stats(root, KEYS[store]))
                expected = {
                    f"m{g}w{w}-{k}"
                    for g in range(2)
                    for w in range(4)
                    if chosen[(g * 4 + w) % len(chosen)] == store
                    for k in range(per)
                }
                ok = check_exact(root, store, expected) and ok
                print(f"store {n}: {rate:,.0f} events/s = {rate / ceiling:.3f} of its "
                      f"{ceiling:,.0f} (target 0.95); {limited}/{total} requests 429")  # fmt: skip
            print(relay_line(cpu, 8 * per))
        finally:
            stop(emu)
            server.stop()
    return ok


PARTS = {"fleet": fleet, "stores": stores, "prefilled": prefilled, "track": track, "aof": aof}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--parts", default=",".join(PARTS), help="comma-separated parts to run")
    parser.add_argument("--events", type=int, default=200_000, help="events of the fleet run")
    parser.add_argument("--store-events", type=int, default=20_000, help="events per store")
    parser.add_argument("--tracks", type=int, default=20_000, help="track() calls timed")
    parser.add_argument("--puts", type=int, default=20_000, help="puts per AOF setting")
    args = parser.parse_args()
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    print(f"bench_fleet on {platform.node()} ({os.cpu_count()} CPUs, "
          f"Python {platform.python_version()}), {when}; "
          f"load average {os.getloadavg()[0]:.1f}")  # fmt: skip
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.parts.split(","):
            ok = PARTS[name](args, Path(tmp)) and ok
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
