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
alone costs at about the same pace (one every 10.5 ms, just under the
emulator's 100 requests/s): the same 100-event body posted by
``RedoClient.send_batch``, by bare urllib3, by ``http.client`` and by a
socket written to by hand. Code that runs once per 10 ms runs with cold
caches, and costs several times what the same code costs in a tight loop;
so the floor of a relay is the paced request, and the figures are
reported against it, layer by layer.
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


def paced_request_cpu(base: str, client: RedoClient, requests: int = 200) -> dict[str, float]:
    """CPU seconds per request, one every 10 ms, through each layer of HTTP code.

    The same 100-event body, to the same emulator: ``send_batch`` (the
    client, its transport and pacing), bare urllib3 (one pool's ``urlopen``,
    as the transport calls it), the standard library's ``http.client``, and
    a socket that writes the request and reads the answer's head by hand.
    The hand-written one is a floor only: it knows nothing of chunked
    answers, proxies or TLS.
    """
    import http.client
    import socket
    from urllib.parse import urlsplit

    import urllib3

    batch = Batch.of([prepare_event(page_view(n)) for n in range(100)])
    parts = urlsplit(base)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    path = f"{parts.path}/stores/{STORE}/events/bulk"
    headers = {"Authorization": "Bearer k", "Content-Type": "application/json"}
    pool = urllib3.HTTPConnectionPool(host, port, maxsize=1)
    stdlib = http.client.HTTPConnection(host, port)
    sock = socket.create_connection((host, port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: Bearer k\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(batch.body)}\r\n\r\n"
    ).encode()

    def bare() -> None:
        pool.urlopen("POST", path, body=batch.body, headers=headers, retries=False)

    def standard() -> None:
        stdlib.request("POST", path, body=batch.body, headers=headers)
        stdlib.getresponse().read()

    def by_hand() -> None:
        sock.sendall(head + batch.body)
        answer = b""
        while b"\r\n\r\n" not in answer:
            answer += sock.recv(65536)
        top, _, rest = answer.partition(b"\r\n\r\n")
        length = int(next((line.split(b":")[1] for line in top.split(b"\r\n")
                           if line.lower().startswith(b"content-length:")), b"0"))  # fmt: skip
        while len(rest) < length:
            rest += sock.recv(65536)

    posters: dict[str, Callable[[], object]] = {
        "send_batch": lambda: client.send_batch(batch),
        "urllib3": bare,
        "http.client": standard,
        "socket by hand": by_hand,
    }
    figures = {}
    for name, post in posters.items():
        for _ in range(10):
            post()
            time.sleep(0.01)
        started = time.thread_time()
        due = time.monotonic()
        for _ in range(requests):
            post()
            due += 0.0105
            time.sleep(max(0.0, due - time.monotonic()))
        figures[name] = (time.thread_time() - started) / requests
    pool.close()
    stdlib.close()
    sock.close()
    return figures


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
            floor: dict[str, float] | None = None
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
        print("the request alone, one every 10.5 ms, per event of 100:")
        for name, seconds in floor.items():
            print(
                f"  {name:<15} {seconds / 100 * 1e6:5.1f} µs"
                f"   relay / it {per_event * 100 / seconds:.2f}x"
            )


if __name__ == "__main__":
    main()
