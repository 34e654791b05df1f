"""AsyncRedoClient never blocks the event loop: a probe measures how late a 1 ms sleep wakes.

Each scenario runs in a child process, this file run as a script, that
coverage does not trace: its tracer slows every line of Python several
times over, on the loop's thread and on the client's threads alike, and the
promise is about the code as it runs in a service. The emulator runs in a
process of its own too: in the measured one, its request handling would
share the GIL with the loop, and the probe would measure the emulator.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from helpers import STORE, EmulatorProcess, page_view

from redo_kit import AsyncRedoClient, MockTransport, Response

P99_LIMIT = 0.005
"""Seconds: the most a 1 ms sleep may wake late, at the 99th percentile, beyond
twice what the same probe measures on an idle loop in the same process just
before (which is what other work on the machine costs the probe)."""


class LagProbe:
    """A task that sleeps 1 ms again and again and records how late each sleep woke, in seconds."""

    def __init__(self) -> None:
        self.lags: list[float] = []
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while True:
            started = time.perf_counter()
            await asyncio.sleep(0.001)
            self.lags.append(time.perf_counter() - started - 0.001)

    def __enter__(self) -> LagProbe:
        self._task = asyncio.ensure_future(self._run())
        return self

    def __exit__(self, *exc_info: object) -> None:
        assert self._task is not None
        self._task.cancel()

    def p99(self) -> float:
        ordered = sorted(self.lags)
        return ordered[int(len(ordered) * 0.99)]


async def sends_and_bulk(base_url: str, key: str) -> dict[str, Any]:
    """1,000 concurrent ``send()``s and a 10,000-event ``send_bulk``, all at once."""
    singles = [{**page_view(n), "uniqueId": f"single-{n}"} for n in range(1000)]
    bulk = [page_view(n, unique_id=True) for n in range(10_000)]
    async with AsyncRedoClient(store_id=STORE, api_key=key, base_url=base_url) as client:
        with LagProbe() as probe:
            sends = asyncio.gather(*(client.send(event) for event in singles))
            result = await client.send_bulk(bulk)
            sent = await sends
    return {"p99": probe.p99(), "samples": len(probe.lags), "sent": len(sent),
            "accepted": result.accepted}  # fmt: skip


async def retry_after() -> dict[str, Any]:
    """One ``send()`` answered 429 with ``Retry-After: 1``, then 202."""
    mock = MockTransport(responses=[Response(429, {"Retry-After": "1"}), Response(202)])
    async with AsyncRedoClient(
        store_id=STORE, api_key="sk_test", base_url="http://127.0.0.1:9/v2.2", transport=mock
    ) as client:
        with LagProbe() as probe:
            started = time.monotonic()
            result = await client.send(page_view(1))
            waited = time.monotonic() - started
    return {"p99": probe.p99(), "samples": len(probe.lags), "waited": waited,
            "rate_limited": result.rate_limited, "requests": result.requests}  # fmt: skip


def measure(scenario: str, *args: str) -> dict[str, Any]:
    """Run ``scenario`` in an untraced child process; what it measured."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("COVERAGE_")}
    done = subprocess.run(
        [sys.executable, __file__, scenario, *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    found: dict[str, Any] = orjson.loads(done.stdout.splitlines()[-1])
    return found


@pytest.fixture
def emulator_process() -> Iterator[EmulatorProcess]:
    """The emulator at the spec's 100 requests/s per endpoint, in a process of its own."""
    emu = EmulatorProcess()
    try:
        yield emu
    finally:
        emu.stop()


def test_the_loop_keeps_up_during_1000_sends_and_a_10000_event_send_bulk(
    emulator_process: EmulatorProcess,
) -> None:
    found = measure("sends_and_bulk", emulator_process.base_url, emulator_process.key)
    assert found["sent"] == 1000
    assert found["accepted"] == 10_000
    stored = [e["uniqueId"] for e in emulator_process.events()]
    assert len(stored) == len(set(stored)) == 11_000
    assert found["samples"] > 1000
    assert found["p99"] < allowed(found), (
        f"p99 lag {found['p99'] * 1000:.2f} ms, idle {found['idle_p99'] * 1000:.2f} ms"
    )


def test_the_loop_keeps_up_while_a_send_waits_out_retry_after() -> None:
    found = measure("retry_after")
    assert found["rate_limited"] == 1
    assert found["requests"] == 2
    assert found["waited"] >= 0.9
    assert found["samples"] > 300
    assert found["p99"] < allowed(found), (
        f"p99 lag {found['p99'] * 1000:.2f} ms, idle {found['idle_p99'] * 1000:.2f} ms"
    )


async def idle_then(scenario: str, *arguments: str) -> dict[str, Any]:
    """The probe on an idle loop for one second, then ``scenario``; both measured."""
    with LagProbe() as idle:
        await asyncio.sleep(1.0)
    found = await SCENARIOS[scenario](*arguments)
    return {**found, "idle_p99": idle.p99()}


def allowed(found: dict[str, Any]) -> float:
    """The p99 lag allowed: the limit, plus twice what an idle loop showed."""
    return P99_LIMIT + 2 * float(found["idle_p99"])


SCENARIOS = {"sends_and_bulk": sends_and_bulk, "retry_after": retry_after}

if __name__ == "__main__":
    name, *arguments = sys.argv[1:]
    print(orjson.dumps(asyncio.run(idle_then(name, *arguments))).decode())
