"""Fleet pacing beside rate-limiter libraries: processes sharing one store's budget in Redis.

    .venv/bin/python benchmarks/bench_rate_limiters.py [--seconds 10] [--processes 8]
        [--only NAME[,NAME...]] [--scenarios max,1x,2x] [--emulator]

A private redis-server (the fixture of ``tests_redis/``) holds one limit of
the spec's ``x-redo-rate-limit`` per second (``limits().rate_limit``). For
each contender and scenario, ``--processes`` OS processes take grants from
it for ``--seconds`` seconds, each waiting in the way its library documents:

- ``redo-kit``: ``use_fleet_pacing(url)``, then the bucket a client takes
  its slot from before every request (``bucket_for(...).acquire()``): GCRA
  in one Lua script; the caller sleeps until its reserved slot.
- ``pyrate-log``: pyrate-limiter's ``RedisBucket`` (sliding-window log in a
  sorted set), ``Limiter.try_acquire`` blocking (its default).
- ``pyrate-gcra``: pyrate-limiter's ``StateBucket`` on a ``RedisStateStore``
  (GCRA, ``burst`` at its default, the limit), ``try_acquire`` blocking.
- ``pyrate-gcra-b1``: the same with ``burst=1``, as redo-kit's bucket
  (pyrate-limiter's docs: "a perfectly smooth drip"); ``pyrate-gcra-b1-0ms``
  also without the 50 ms ``buffer_ms`` its ``Limiter`` adds to every wait.
- ``throttled-tb`` / ``throttled-gcra``: throttled-py's token bucket and
  GCRA on its ``RedisStore`` (``burst`` at its default, the limit), with
  ``timeout`` set: its wait-and-retry mode. ``throttled-gcra-b1``: GCRA
  with ``burst=1``.
- ``limits-moving`` / ``limits-fixed``: ``limits``' moving and fixed
  window on its ``RedisStorage``; ``hit()`` refuses, so the caller sleeps
  until ``get_window_stats().reset_time`` and hits again (at least 1 ms).

Scenarios: ``max`` (every process acquires as fast as it can), ``1x`` (each
process wants ``limit / processes`` per second from a random phase: the
fleet asks exactly the budget) and ``2x`` (twice that). A process that falls
behind its schedule asks again at once (its work queues up).

Each process records the wall time (``time.time()``) right after every
grant; the parent merges them and prints, per contender: grants/s against
the limit; the most grants in any sliding 1.0 s window (the spec does not
say how Redo counts its second: a server counting a sliding second answers
429 to what is above the limit); the share of 1 s windows (one starting
every 10 ms) above the limit; the share of grants that the emulator's own
limiter (``redo_kit.emulator``'s token bucket of one second's requests, the
class its server uses) refuses when the merged grants are replayed through
it; the most grants in any 100 ms (an even pace gives a tenth of the limit,
a burst up to all of it); p99 wait per acquire; process CPU per grant;
Redis round trips per grant (commands sent, counted at redis-py's
connections in each process) and commands per grant (Redis's ``INFO commandstats``, commands run
inside scripts included); redis-server CPU per grant. Then ratios against
``redo-kit`` measured in the same run.

With ``--emulator``, a ``redo-kit emulator`` process (its own process, the
spec's rate limit on) serves the fleet: each process posts one event to the
single-event endpoint right after each grant, and the table gains the share
of those requests answered 429 over real HTTP (the CPU figures then include
the HTTP request).

Not a test: it prints the figures.
"""

from __future__ import annotations

import argparse
import bisect
import contextlib
import importlib.metadata
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests_redis"))

import redis  # noqa: E402
from redis_server import RedisServer  # noqa: E402

from redo_kit._rules import limits  # noqa: E402

STORE = "64e5a8a1af49a89df37e4ee7"
BASE_URL = "http://127.0.0.1:9/v2.2"
EMULATOR_KEY = "sk_bench_rate_limiters"
SCENARIOS = {"max": 0.0, "1x": 1.0, "2x": 2.0}
"""Scenario name: the fleet's demand as a multiple of the limit (0: as fast as it can)."""

WINDOW = 1.0
"""Seconds of Redo's counting window (its limit is requests per second)."""

Acquire = Callable[[], None]
"""Blocks until the limiter grants one request."""


def _redo_kit(url: str, key: str, limit: int) -> Acquire:
    from redo_kit import _pacing as pacing
    from redo_kit import use_fleet_pacing
    from redo_kit._delivery import SINGLE

    use_fleet_pacing(url, namespace=key)
    bucket = pacing.bucket_for(BASE_URL, STORE, SINGLE, float(limit))

    def acquire() -> None:
        bucket.acquire()

    return acquire


def _pyrate_log(url: str, key: str, limit: int) -> Acquire:
    from pyrate_limiter import Duration, Limiter, Rate, RedisBucket

    bucket = RedisBucket.init([Rate(limit, Duration.SECOND)], redis.Redis.from_url(url), key)
    limiter = Limiter(bucket)

    def acquire() -> None:
        while not limiter.try_acquire("fleet"):
            pass

    return acquire


def _pyrate_gcra(burst: int | None, buffer_ms: int = 50) -> Callable[[str, str, int], Acquire]:
    def make(url: str, key: str, limit: int) -> Acquire:
        from pyrate_limiter import Duration, Limiter, Rate, RedisStateStore, StateBucket

        store = RedisStateStore(redis.Redis.from_url(url), key)
        rate = Rate(limit, Duration.SECOND, burst=burst)
        limiter = Limiter(StateBucket([rate], store=store), buffer_ms=buffer_ms)

        def acquire() -> None:
            while not limiter.try_acquire("fleet"):
                pass

        return acquire

    return make


def _throttled(using: str, burst: int | None = None) -> Callable[[str, str, int], Acquire]:
    def make(url: str, key: str, limit: int) -> Acquire:
        from throttled import Throttled, rate_limiter, store

        throttle = Throttled(
            key=key,
            using=using,
            quota=rate_limiter.per_sec(limit, burst=burst),
            store=store.RedisStore(server=url),
            # Longer than any retry_after it reports (whole seconds for the
            # token bucket): the wait-and-retry mode, never an early refusal.
            timeout=5,
        )

        def acquire() -> None:
            while throttle.limit().limited:
                pass

        return acquire

    return make


def _limits(strategy: str) -> Callable[[str, str, int], Acquire]:
    def make(url: str, key: str, limit: int) -> Acquire:
        from limits import RateLimitItemPerSecond, storage, strategies

        kind = {
            "moving": strategies.MovingWindowRateLimiter,
            "fixed": strategies.FixedWindowRateLimiter,
        }[strategy]
        limiter = kind(storage.RedisStorage(url))
        item = RateLimitItemPerSecond(limit)

        def acquire() -> None:
            while not limiter.hit(item, key):
                reset = limiter.get_window_stats(item, key).reset_time
                time.sleep(max(reset - time.time(), 0.001))

        return acquire

    return make


CONTENDERS: dict[str, Callable[[str, str, int], Acquire]] = {
    "redo-kit": _redo_kit,
    "pyrate-log": _pyrate_log,
    "pyrate-gcra": _pyrate_gcra(None),
    "pyrate-gcra-b1": _pyrate_gcra(1),
    "pyrate-gcra-b1-0ms": _pyrate_gcra(1, buffer_ms=0),
    "throttled-tb": _throttled("token_bucket"),
    "throttled-gcra": _throttled("gcra"),
    "throttled-gcra-b1": _throttled("gcra", burst=1),
    "limits-moving": _limits("moving"),
    "limits-fixed": _limits("fixed"),
}

PACKAGES = ["redis", "hiredis", "pyrate-limiter", "throttled-py", "limits"]


def _count_round_trips() -> list[int]:
    """Count every command this process sends to Redis (a script is one).

    At the connection, under ``Redis.execute_command``: redo-kit's scripts
    write to the pool's connections themselves.
    """
    import redis.connection

    counter = [0]
    send = redis.connection.AbstractConnection.send_packed_command

    def counted(self: Any, *args: Any, **options: Any) -> Any:
        counter[0] += 1
        return send(self, *args, **options)

    redis.connection.AbstractConnection.send_packed_command = counted  # type: ignore[method-assign]
    return counter


def _poster(base_url: str, key: str, prefix: str) -> Callable[[], int]:
    """Posts one event to the emulator's single-event endpoint per call; the status."""
    import orjson
    import urllib3

    http = urllib3.PoolManager(maxsize=1)
    url = f"{base_url}/stores/{STORE}/events"
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    sent = [0]

    def post() -> int:
        sent[0] += 1
        body = orjson.dumps(
            {
                "eventName": "Page Viewed",
                "customer": {"email": f"user{sent[0] % 300}@example.com"},
                "uniqueId": f"{prefix}-{sent[0]}",
            }
        )
        answer = http.request("POST", url, body=body, headers=headers, retries=False)
        return int(answer.status)

    return post


def worker(
    name: str, url: str, limit: int, rate: float, seconds: float, seed: int, emulator: str
) -> None:
    """One process of the fleet: grants for ``seconds`` from the start time read on stdin.

    ``rate``: requests per second this process wants (0: as fast as it can).
    ``emulator``: its base URL to post an event to after each grant, or ``-``.
    Prints one JSON line: grant times, waits, CPU seconds, round trips, statuses.
    """
    make = CONTENDERS[name]
    post = None
    if emulator != "-":
        post = _poster(emulator, EMULATOR_KEY, f"{name}-{rate:g}-{seed}-{time.time()!r}")
    # Connections opened and scripts loaded on a key of its own, not measured.
    make(url, "warm", limit)()
    acquire = make(url, "bench", limit)
    round_trips = _count_round_trips()
    print("ready", flush=True)
    start = float(sys.stdin.readline())
    end = start + seconds
    phase = random.Random(seed).random() / rate if rate else 0.0
    time.sleep(max(0.0, start - time.time()))
    grants: list[float] = []
    waits: list[float] = []
    statuses: dict[int, int] = {}
    trips = round_trips[0]
    cpu = time.process_time()
    while True:
        if rate:
            due = start + phase + len(grants) / rate
            time.sleep(max(0.0, due - time.time()))
        asked = time.time()
        if asked >= end:
            break
        acquire()
        granted = time.time()
        grants.append(granted)
        waits.append(granted - asked)
        if post is not None and granted < end:
            status = post()
            statuses[status] = statuses.get(status, 0) + 1
    result = {
        "statuses": statuses,
        "grants": grants,
        "waits": waits,
        "cpu": time.process_time() - cpu,
        "round_trips": round_trips[0] - trips,
    }
    print(json.dumps(result), flush=True)


def _commands(client: redis.Redis) -> tuple[int, float]:
    """Commands Redis ran (scripts' own commands included) and its CPU seconds so far."""
    stats = client.info("commandstats")
    own = ("cmdstat_info", "cmdstat_flushall", "cmdstat_config|resetstat")
    calls = sum(int(v["calls"]) for k, v in stats.items() if k not in own)
    cpu = client.info("cpu")
    return calls, float(cpu["used_cpu_user"]) + float(cpu["used_cpu_sys"])


def max_in_window(times: list[float], window: float = WINDOW) -> int:
    """The most of ``times`` (sorted) inside any half-open window of ``window`` seconds."""
    best = 0
    first = 0
    for last, t in enumerate(times):
        while times[first] <= t - window:
            first += 1
        best = max(best, last - first + 1)
    return best


def share_over(
    times: list[float], start: float, end: float, limit: float, step: float = 0.01
) -> float:
    """Share of the 1 s windows starting every ``step`` seconds in the run that hold > ``limit``."""
    over = total = 0
    s = start
    while s + WINDOW <= end:
        count = bisect.bisect_left(times, s + WINDOW) - bisect.bisect_left(times, s)
        over += count > limit
        total += 1
        s += step
    return over / total if total else 0.0


def emulator_refusals(times: list[float], limit: float) -> int:
    """Grants the emulator's 429 limiter refuses when ``times`` (sorted) reach it in order."""
    from redo_kit.emulator._ratelimit import RateLimiter

    now = [times[0] if times else 0.0]
    limiter = RateLimiter(limit, clock=lambda: now[0])
    refused = 0
    for t in times:
        now[0] = t
        refused += limiter.acquire("store") is not None
    return refused


def run(
    server: RedisServer,
    name: str,
    scenario: str,
    processes: int,
    seconds: float,
    limit: int,
    emulator: str = "-",
) -> dict[str, float]:
    """The fleet of ``processes`` for one contender and scenario; its figures."""
    client = redis.Redis.from_url(server.url)
    client.flushall()
    rate = SCENARIOS[scenario] * limit / processes
    command = [sys.executable, __file__, "--worker", name, server.url, str(limit), str(rate)]
    workers = [
        subprocess.Popen(
            [*command, str(seconds), str(n), emulator],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for n in range(processes)
    ]
    try:
        for process in workers:
            assert process.stdout is not None
            line = process.stdout.readline()
            if line.strip() != "ready":
                raise RuntimeError(f"{name}: a worker did not start ({line!r})")
        commands, redis_cpu = _commands(client)
        start = time.time() + 0.2
        for process in workers:
            assert process.stdin is not None
            process.stdin.write(f"{start!r}\n")
            process.stdin.flush()
        results = []
        for process in workers:
            out, _ = process.communicate(timeout=seconds + 120)
            if process.returncode:
                raise RuntimeError(f"{name}: a worker exited {process.returncode}")
            results.append(json.loads(out.strip().splitlines()[-1]))
        commands_after, redis_cpu_after = _commands(client)
    finally:
        for process in workers:
            if process.poll() is None:
                process.kill()
                process.wait()
        client.close()
    end = start + seconds
    times = sorted(t for r in results for t in r["grants"] if t < end)
    everything = sum(len(r["grants"]) for r in results)
    waits = sorted(w for r in results for w in r["waits"])
    statuses: dict[str, int] = {}
    for r in results:
        for status, count in r["statuses"].items():
            statuses[status] = statuses.get(status, 0) + count
    posted = sum(statuses.values())
    odd = {s: c for s, c in statuses.items() if s not in ("202", "429")}
    if odd:
        print(f"  {name}: the emulator also answered {odd}", file=sys.stderr)
    return {
        "http_429": statuses.get("429", 0) / posted if posted else float("nan"),
        "grants_s": len(times) / seconds,
        "max_1s": max_in_window(times),
        "max_100ms": max_in_window(times, WINDOW / 10),
        "over": share_over(times, start, end, limit),
        "refused": emulator_refusals(times, limit) / len(times) if times else 0.0,
        "p99_wait_ms": statistics.quantiles(waits, n=100)[98] * 1000 if len(waits) > 1 else 0.0,
        "cpu_us": sum(r["cpu"] for r in results) / everything * 1e6,
        "trips": sum(r["round_trips"] for r in results) / everything,
        "commands": (commands_after - commands) / everything,
        "redis_cpu_us": (redis_cpu_after - redis_cpu) / everything * 1e6,
    }


HTTP_COLUMN = ("http_429", "HTTP 429s (emulator)", "{:.2%}")

COLUMNS = [
    ("grants_s", "grants/s", "{:.1f}"),
    ("max_1s", "max in 1 s", "{:.0f}"),
    ("over", "1 s windows > limit", "{:.1%}"),
    ("max_100ms", "max in 100 ms", "{:.0f}"),
    ("refused", "emulator 429s (replay)", "{:.2%}"),
    ("p99_wait_ms", "p99 wait ms", "{:.1f}"),
    ("cpu_us", "CPU/grant µs", "{:.0f}"),
    ("trips", "round trips/grant", "{:.2f}"),
    ("commands", "Redis cmds/grant", "{:.2f}"),
    ("redis_cpu_us", "Redis CPU/grant µs", "{:.0f}"),
]


def _table(rows: dict[str, dict[str, float]], limit: int, http: bool) -> str:
    columns = [*COLUMNS[:5], HTTP_COLUMN, *COLUMNS[5:]] if http else COLUMNS
    head = ["contender", *(title for _, title, _ in columns), "grants/s ÷ limit"]
    lines = ["| " + " | ".join(head) + " |", "| --- |" + " ---: |" * (len(head) - 1)]
    for name, row in rows.items():
        cells = [fmt.format(row[key]) for key, _, fmt in columns]
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {row['grants_s'] / limit:.3f} |")
    return "\n".join(lines)


def _ratios(rows: dict[str, dict[str, float]]) -> str:
    base = rows.get("redo-kit")
    if base is None:
        return "(no redo-kit row in this run: no ratios)"
    keys = ["max_1s", "p99_wait_ms", "cpu_us", "trips"]
    lines = ["vs redo-kit (same run): " + ", ".join(f"{k}" for k in keys)]
    for name, row in rows.items():
        if name == "redo-kit":
            continue
        cells = [
            f"{k} {row[k] / base[k]:.2f}x" if base[k] else f"{k} n/a (redo-kit 0)" for k in keys
        ]
        lines.append(f"  {name}: " + ", ".join(cells))
    return "\n".join(lines)


def _versions() -> str:
    found = []
    for package in PACKAGES:
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            found.append(f"{package} {importlib.metadata.version(package)}")
    return ", ".join(found)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        name, url, limit, rate, seconds, seed, emulator = sys.argv[2:9]
        worker(name, url, int(limit), float(rate), float(seconds), int(seed), emulator)
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="per run; default 10")
    parser.add_argument("--processes", type=int, default=8, help="fleet size; default 8")
    parser.add_argument(
        "--only", action="append", default=[], help="contender(s), comma-separated; repeatable"
    )
    parser.add_argument(
        "--scenarios", default=",".join(SCENARIOS), help="comma-separated; default max,1x,2x"
    )
    parser.add_argument(
        "--emulator", action="store_true", help="post an event to a redo-kit emulator per grant"
    )
    args = parser.parse_args()
    names = [n for item in args.only for n in item.split(",") if n] or list(CONTENDERS)
    unknown = sorted(set(names) - set(CONTENDERS))
    scenarios = [s for s in args.scenarios.split(",") if s]
    unknown += sorted(set(scenarios) - set(SCENARIOS))
    if unknown:
        parser.error(f"unknown: {', '.join(unknown)} (contenders: {', '.join(CONTENDERS)})")
    budget = limits().rate_limit
    limit = int(budget)
    if limit != budget:
        parser.error(f"the spec's rate limit {budget} is not a whole number of requests/s")
    print(
        f"{args.processes} processes, {args.seconds:g} s per run, limit {limit}/s "
        f"(spec x-redo-rate-limit); Python {platform.python_version()}; {_versions()}; "
        f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}",
        flush=True,
    )
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        server = RedisServer(Path(tmp)).start()
        stack.callback(server.stop)
        emulator = "-"
        if args.emulator:
            from _emulator import emulator as start_emulator

            emulator, _ = stack.enter_context(start_emulator({STORE: EMULATOR_KEY}))
            print(f"emulator at {emulator}, its rate limit on (the spec's)", flush=True)
        version = redis.Redis.from_url(server.url).info("server")["redis_version"]
        print(f"redis-server {version}", flush=True)
        for scenario in scenarios:
            rows = {}
            for name in names:
                rows[name] = run(
                    server, name, scenario, args.processes, args.seconds, limit, emulator
                )
                print(f"  {scenario} {name}: done", file=sys.stderr, flush=True)
            demand = (
                "as fast as each can"
                if not SCENARIOS[scenario]
                else (f"{SCENARIOS[scenario] * limit / args.processes:g}/s each")
            )
            print(f"\n### {scenario}: {args.processes} processes asking {demand}\n")
            print(_table(rows, limit, http=args.emulator))
            print()
            print(_ratios(rows), flush=True)
    print(f"\nload average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
