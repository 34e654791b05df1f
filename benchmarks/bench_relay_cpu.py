"""Relay CPU per event, the relay alone: a private redis-server, a filled stream, no HTTP.

    .venv/bin/python benchmarks/bench_relay_cpu.py [--events N]

The stream is filled first (not measured); then a :class:`redo_kit.Relay`
drains it in this process into a ``MockTransport`` that answers 202, so the
figure is the relay's own work (leases, the engine, acks) per event, without
the emulator or a socket to it. Process CPU time, user + system.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests_redis"))
sys.path.insert(0, str(ROOT / "tests"))

from helpers import STORE, page_view  # noqa: E402
from redis_server import RedisServer  # noqa: E402

from redo_kit._client import RedoClient  # noqa: E402
from redo_kit._events import prepare_event  # noqa: E402
from redo_kit._outbox_redis import RedisOutbox  # noqa: E402
from redo_kit._relay import Relay  # noqa: E402
from redo_kit._transport import MockTransport  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000, help="events; default 20,000")
    events = parser.parse_args().events
    parser_name = "hiredis" if importlib.util.find_spec("hiredis") else "pure-Python"
    with tempfile.TemporaryDirectory() as tmp:
        server = RedisServer(Path(tmp)).start()
        try:
            box = RedisOutbox(server.url, store_id=STORE)
            for n in range(events):
                box.put(prepare_event(page_view(n)))
            box.close()
            transport = MockTransport()
            client = RedoClient(
                store_id=STORE, api_key="k", base_url="http://127.0.0.1:9/v2.2",
                transport=transport, rate_limit=None,
            )  # fmt: skip
            relay = Relay(server.url, [client])
            started = time.process_time()
            relay.start()
            while len(transport.requests) < events // 100:
                time.sleep(0.02)
            cpu = time.process_time() - started
            relay.stop(10)
        finally:
            server.stop()
    print(f"relay CPU per event ({parser_name} reply parser): {cpu / events * 1e6:.1f} µs")


if __name__ == "__main__":
    main()
