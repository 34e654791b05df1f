"""Real processes of a fleet for the Redis tests: producers, relays, the emulator's counters."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time
from typing import Any

import orjson
import urllib3
from helpers import STORE, EmulatorProcess

# Tracks COUNT events with uniqueIds PREFIX-N into the Redis outbox, CHUNK at a
# time; after each chunk's track() calls returned it prints how many did.
PRODUCER = textwrap.dedent(
    """
    import sys
    from redo_kit._client import RedoClient

    url, prefix, count, chunk = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    client = RedoClient()
    batcher = client.batcher(outbox=url)
    for n in range(count):
        batcher.track({
            "eventName": "Page Viewed",
            "customer": {"email": f"user{n % 300}@example.com"},
            "data": {"Page": f"/pages/{n}"},
            "uniqueId": f"{prefix}-{n}",
        })
        if (n + 1) % chunk == 0 or n + 1 == count:
            print(n + 1, flush=True)
    batcher.close(0)
    """
)


def producer(
    emulator: EmulatorProcess, url: str, prefix: str, count: int, chunk: int = 1000
) -> subprocess.Popen[str]:
    """A producer process tracking ``count`` events ``{prefix}-N`` into Redis at ``url``."""
    return subprocess.Popen(
        [sys.executable, "-c", PRODUCER, url, prefix, str(count), str(chunk)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=emulator.env(),
    )


def relay(emulator: EmulatorProcess, url: str, *options: str) -> subprocess.Popen[str]:
    """``redo-kit relay`` for the emulator's store, its key read from the environment."""
    return subprocess.Popen(
        [sys.executable, "-m", "redo_kit._cli", "relay", "--redis", url,
         "--store", f"{STORE}=env:REDO_API_KEY", "--base-url", emulator.base_url, *options],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=emulator.env(),
    )  # fmt: skip


def stats(emulator: EmulatorProcess) -> dict[str, Any]:
    """The emulator's counters for its store (``GET /_emulator/stats``)."""
    root = emulator.base_url.rsplit("/v2.2", 1)[0]
    with urllib3.PoolManager(retries=False, timeout=10.0) as http:
        response = http.request(
            "GET", f"{root}/_emulator/stats", headers={"Authorization": f"Bearer {emulator.key}"}
        )
    assert response.status == 200, response.data
    answer: dict[str, Any] = orjson.loads(response.data)
    return answer


def wait_stored(emulator: EmulatorProcess, count: int, timeout: float) -> int:
    """Wait until the emulator stored ``count`` events (or the timeout); how many it has."""
    deadline = time.monotonic() + timeout
    stored = 0
    while time.monotonic() < deadline:
        stored = int(stats(emulator)["stored"])
        if stored >= count:
            return stored
        time.sleep(0.25)
    return stored


def last_line(process: subprocess.Popen[str]) -> int:
    """Read a producer's lines to its end; the last count it printed (0 if none)."""
    assert process.stdout is not None
    last = 0
    for line in process.stdout:
        if line.strip():
            last = int(line)
    return last


def end(process: subprocess.Popen[str], how: signal.Signals = signal.SIGTERM) -> str:
    """Stop ``process`` with ``how`` and return what it wrote to stderr."""
    if process.poll() is None:
        process.send_signal(how)
    try:
        _, err = process.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        _, err = process.communicate()
    return err or ""
