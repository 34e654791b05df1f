"""A real uvicorn server whose app tracks events, stopped by SIGTERM during a request."""

from __future__ import annotations

import http.client
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from redo_kit.testing.plugin import EmulatorFactory

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")

REQUESTS = 50

APP = """\
import asyncio
from pathlib import Path

from redo_kit import RedoClient

client = RedoClient(store_id={store!r}, api_key={key!r}, base_url={url!r})
batcher = client.batcher(flush_interval=60)


def track(name):
    batcher.track(
        {{"eventName": "Page Served", "customer": {{"email": f"{{name}}@example.com"}}}},
        unique_id=f"request-{{name}}",
    )


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            await send({{"type": message["type"] + ".complete"}})
            if message["type"] == "lifespan.shutdown":
                return
    name = scope["path"].strip("/")
    if name == "slow":
        Path({started!r}).touch()
        await asyncio.sleep(1.5)
    track(name)
    await send({{"type": "http.response.start", "status": 200, "headers": []}})
    await send({{"type": "http.response.body", "body": b"tracked"}})
"""


def get(port: int, path: str) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def test_sigterm_during_a_request_stores_every_event_once_the_server_drained(
    emulator_factory: EmulatorFactory, tmp_path: Path
) -> None:
    emu = emulator_factory(rate_limit=None)
    started = tmp_path / "slow-started"
    (tmp_path / "tracking_app.py").write_text(
        APP.format(store=emu.store_id, key=emu.api_key, url=emu.base_url, started=str(started))
    )
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--port", str(port), "--app-dir", str(tmp_path),
         "tracking_app:app"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    answers: list[tuple[int, bytes]] = []
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                answers.append(get(port, "/0"))
                break
            except ConnectionRefusedError:
                assert server.poll() is None, server.communicate()[1]
                assert time.monotonic() < deadline, "uvicorn did not start listening"
                time.sleep(0.05)
        answers.extend(get(port, f"/{n}") for n in range(1, REQUESTS))
        slow = threading.Thread(target=lambda: answers.append(get(port, "/slow")))
        slow.start()
        while not started.exists():
            assert time.monotonic() < deadline, "the slow request never started"
            time.sleep(0.01)
        assert emu.events() == []
        server.send_signal(signal.SIGTERM)
        slow.join(20)
        _, errors = server.communicate(timeout=30)
        # uvicorn hands SIGTERM back once it drained: the process ends terminated by it.
        assert server.returncode == -signal.SIGTERM, errors
    finally:
        if server.poll() is None:
            server.kill()
            server.communicate()
    assert answers == [(200, b"tracked")] * (REQUESTS + 1)
    stored = [item["uniqueId"] for item in emu.events()]
    assert len(stored) == REQUESTS + 1
    assert sorted(stored) == sorted([f"request-{n}" for n in range(REQUESTS)] + ["request-slow"])
