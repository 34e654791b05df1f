"""examples/webhook_app.py served by a real uvicorn: every order stored once, /health never held.

A platform delivers each order webhook twice, drops some connections before
the answer (and then delivers again, having seen none), and keeps
delivering an order until it gets a 200, while the emulator fails, loses
acknowledgements, answers slowly and rate-limits.
"""

from __future__ import annotations

import http.client
import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from helpers import ROOT

from redo_kit.testing.plugin import EmulatorFactory

pytest.importorskip("starlette")
pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")

ORDERS = 60


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def order(n: int) -> dict[str, Any]:
    return {
        "id": 1000 + n,
        "email": f"buyer{n}@example.com",
        "total": 10 + n,
        "currency": "USD",
        "items": [{"sku": f"SKU-{n}", "qty": 1}],
    }


def post(port: int, body: bytes) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request(
            "POST", "/webhooks/orders", body=body, headers={"Content-Type": "application/json"}
        )
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


def post_and_drop(port: int, body: bytes) -> None:
    """Send the whole request, then close the connection without waiting for the answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(
            b"POST /webhooks/orders HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/json\r\nContent-Length: "
            + str(len(body)).encode()
            + b"\r\n\r\n"
            + body
        )


def deliver(port: int, n: int, draw: random.Random) -> list[int]:
    """Deliver order ``n`` twice, each time until answered 200; the statuses seen."""
    body = json.dumps(order(n)).encode()
    seen: list[int] = []
    for _ in range(2):
        for _ in range(10):
            if draw.random() < 0.25:
                post_and_drop(port, body)
                continue
            seen.append(post(port, body))
            if seen[-1] == 200:
                break
    return seen


def test_every_order_is_stored_once_however_often_it_is_delivered(
    emulator_factory: EmulatorFactory,
) -> None:
    emu = emulator_factory(
        rate_limit=None,
        faults="503=0.1,429=0.02,lost-ack=0.1,delay=0.1",
        fault_delay=0.3,
        seed=16,
    )
    port = free_port()
    env = {
        **os.environ,
        "REDO_API_KEY": emu.api_key,
        "REDO_STORE_ID": emu.store_id,
        "REDO_BASE_URL": emu.base_url,
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--port", str(port), "--app-dir",
         str(ROOT / "examples"), "webhook_app:app"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )  # fmt: skip
    health: list[float] = []
    done = threading.Event()

    def watch_health() -> None:
        while not done.is_set():
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            started = time.perf_counter()
            connection.request("GET", "/health")
            assert connection.getresponse().read() == b'{"ok":true}'
            health.append(time.perf_counter() - started)
            connection.close()
            time.sleep(0.01)

    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=5).close()
                break
            except ConnectionRefusedError:
                assert server.poll() is None, server.communicate()[1]
                assert time.monotonic() < deadline, "uvicorn did not start listening"
                time.sleep(0.05)
        watcher = threading.Thread(target=watch_health)
        watcher.start()
        draws = [random.Random(n) for n in range(ORDERS)]
        with ThreadPoolExecutor(8) as platform:
            statuses = list(platform.map(lambda n: deliver(port, n, draws[n]), range(ORDERS)))
        done.set()
        watcher.join(10)
        server.send_signal(signal.SIGTERM)
        _, errors = server.communicate(timeout=60)
    finally:
        done.set()
        if server.poll() is None:
            server.kill()
            server.communicate()
    assert all(seen.count(200) == 2 for seen in statuses), statuses
    stored = [event["uniqueId"] for event in emu.events()]
    assert sorted(stored) == sorted(f"order-{1000 + n}" for n in range(ORDERS)), errors
    assert emu.stats()["deduplicated"] >= ORDERS
    # Redo answered slowly (0.3 s) one attempt in ten and asked for 1 s pauses (429, Retry-After)
    # one in fifty: none of it held /health up.
    assert emu.stats()["faults"].get("429", 0) > 0
    assert len(health) > 20
    assert max(health) < 0.25, max(health)
