"""Relay CPU per event: a private redis-server, a filled stream, one relay in this process.

    .venv/bin/python benchmarks/bench_relay_cpu.py [--events N] [--emulator]

The stream is filled first (not measured); then a :class:`redo_kit.Relay`
drains it in this process. By default it sends into a ``MockTransport``
that answers 202, so the figure is the relay's own work (leases, the
engine, acks) per event, without HTTP. With ``--emulator`` it posts to the
emulator in a process of its own, at its 100 requests/s, through the
client's default transport and pacing: what a relay spends per event moved.
CPU time of the relay's threads, user + system.

Beside the relay, ``--emulator`` measures in the same run what the request
alone costs at the same pace (one every 10 ms, as 100 requests/s gives):
the same 100-event body posted by bare urllib3, and by
``RedoClient.send_batch``. Code that runs once per 10 ms runs with cold
caches, and costs several times what the same code costs in a tight loop;
so the floor of a relay is the paced request, and the figures are
reported against it.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests_redis"))
sys.path.insert(0, str(ROOT / "tests"))

from _emulator import emulator, stats  # noqa: E402
from helpers import STORE, page_view  # noqa: E402
from redis_server import RedisServer  # noqa: E402

from redo_kit._client import RedoClient  # noqa: E402
from redo_kit._delivery import Batch  # noqa: E402
from redo_kit._events import prepare_event  # noqa: E402
from redo_kit._outbox_redis import RedisOutbox  # noqa: E402
from redo_kit._relay import Relay  # noqa: E402
from redo_kit._transport import MockTransport  # noqa: E402


def drain(url: str, client: RedoClient, done: Callable[[], bool]) -> float:
    """CPU seconds of the relay's threads while it drains the stream until ``done()``.

    Read from each thread's own CPU clock, so the polling of ``done()`` on
    the main thread is left out.
    """
    relay = Relay(url, [client])
    relay.start()
    while not done():
        time.sleep(0.1)
    cpu = sum(
        time.clock_gettime(time.pthread_getcpuclockid(thread.ident))
        for thread in threading.enumerate()
        if thread is not threading.main_thread() and thread.ident is not None
    )
    relay.stop(10)
    return cpu


def paced_request_cpu(base: str, client: RedoClient, requests: int = 200) -> tuple[float, float]:
    """CPU seconds per request, one every 10 ms: bare urllib3, then ``send_batch``."""
    import urllib3

    batch = Batch.of([prepare_event(page_view(n)) for n in range(100)])
    pool = urllib3.PoolManager()
    url = f"{base}/stores/{STORE}/events/bulk"
    headers = {"Authorization": "Bearer k", "Content-Type": "application/json"}

    def bare() -> None:
        pool.request("POST", url, body=batch.body, headers=headers, retries=False)

    figures = []
    for post in (bare, lambda: client.send_batch(batch)):
        for _ in range(10):
            post()
        started = time.thread_time()
        for _ in range(requests):
            post()
            time.sleep(0.01)
        figures.append((time.thread_time() - started) / requests)
    pool.clear()
    return figures[0], figures[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000, help="events; default 20,000")
    parser.add_argument("--emulator", action="store_true", help="post to the emulator")
    options = parser.parse_args()
    events = options.events
    parser_name = "hiredis" if importlib.util.find_spec("hiredis") else "pure-Python"
    with tempfile.TemporaryDirectory() as tmp:
        server = RedisServer(Path(tmp)).start()
        try:
            box = RedisOutbox(server.url, store_id=STORE)
            for n in range(events):
                box.put(prepare_event(page_view(n)))
            box.close()
            floor: tuple[float, float] | None = None
            if options.emulator:
                with emulator({STORE: "k"}) as (base, root):
                    client = RedoClient(store_id=STORE, api_key="k", base_url=base)
                    cpu = drain(server.url, client, lambda: stats(root, "k")["stored"] >= events)
                    floor = paced_request_cpu(base, client)
                    client.close()
                target = "the emulator"
            else:
                transport = MockTransport()
                client = RedoClient(
                    store_id=STORE, api_key="k", base_url="http://127.0.0.1:9/v2.2",
                    transport=transport, rate_limit=None,
                )  # fmt: skip
                cpu = drain(server.url, client, lambda: len(transport.requests) >= events // 100)
                target = "a MockTransport"
        finally:
            server.stop()
    per_event = cpu / events
    print(
        f"relay CPU per event into {target} ({parser_name} reply parser): {per_event * 1e6:.1f} µs"
    )
    if floor is not None:
        bare, batch = (seconds / 100 for seconds in floor)
        print(f"the request alone, one every 10 ms, per event of 100: bare urllib3 "
              f"{bare * 1e6:.1f} µs, send_batch {batch * 1e6:.1f} µs")  # fmt: skip
        print(f"relay / bare urllib3 {per_event / bare:.2f}x, "
              f"relay / send_batch {per_event / batch:.2f}x")  # fmt: skip


if __name__ == "__main__":
    main()
