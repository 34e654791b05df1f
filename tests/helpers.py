"""Helpers shared by the test modules; fixtures live in conftest.py."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import orjson
import urllib3

from redo_kit._batcher import Batcher
from redo_kit._client import RedoClient
from redo_kit._errors import ConversionError
from redo_kit._transport import MockTransport
from redo_kit.emulator import Emulator

ROOT = Path(__file__).resolve().parents[1]
"""The repository's root directory."""

STORE = "64e5a8a1af49a89df37e4ee7"
"""A store id shaped like Redo's (24 hexadecimal digits)."""

FAULTS = "503=0.1,429=0.05,reset=0.05,lost-ack=0.05"
"""Emulator faults that strike about one attempt in four."""


def page_view(n: int, *, unique_id: bool = False) -> dict[str, Any]:
    """Event number ``n`` for one of 300 customers; with ``uniqueId`` ``view-{n}`` if asked."""
    event: dict[str, Any] = {
        "eventName": "Page Viewed",
        "customer": {"email": f"user{n % 300}@example.com"},
        "data": {"Page": f"/pages/{n}", "Visits": n + 1},
    }
    if unique_id:
        event["uniqueId"] = f"view-{n}"
    return event


def mock_client(transport: MockTransport, **options: Any) -> RedoClient:
    """A client of ``STORE`` whose requests go to ``transport``, never to the network."""
    return RedoClient(
        store_id=STORE,
        api_key="sk_test",
        base_url="http://127.0.0.1:9/v2.2",
        transport=transport,
        **options,
    )


def emulator_client(emu: Emulator, **options: Any) -> RedoClient:
    """A client of the emulator's store, with its key, over loopback."""
    return RedoClient(store_id=emu.store_id, api_key=emu.api_key, base_url=emu.base_url, **options)


def inspect(url: str, store: str, key: str, view: str = "events") -> list[dict[str, Any]]:
    """One inspection view (events, rejected...) of an emulator at ``url``, read over HTTP.

    Every item: the pages are followed to the last.
    """
    items: list[dict[str, Any]] = []
    query = ""
    with urllib3.PoolManager(retries=False, timeout=10.0) as http:
        while True:
            response = http.request(
                "GET",
                f"{url}/_emulator/stores/{store}/{view}{query}",
                headers={"Authorization": f"Bearer {key}"},
            )
            assert response.status == 200, response.data
            page = orjson.loads(response.data)
            items.extend(page[view])
            if page["next"] is None:
                return items
            query = f"?after={page['next']}"


def track_from_threads(batcher: Batcher, streams: Sequence[Iterable[dict[str, Any]]]) -> list[str]:
    """Track each stream of events from a thread of its own, all at once; every id tracked."""
    tracked: list[list[str]] = [[] for _ in streams]

    def produce(slot: int) -> None:
        for event in streams[slot]:
            tracked[slot].append(batcher.track(event))

    threads = [threading.Thread(target=produce, args=(slot,)) for slot in range(len(streams))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return [unique_id for slot in tracked for unique_id in slot]


def year_zero_timestamp(event: dict[str, Any], error: ConversionError) -> bool:
    """Whether ``error`` is only Python's datetime refusing the year 0000 of ``eventTimestamp``.

    RFC 3339 and the spec allow the years 0000 to 9999; datetime starts at year 1.
    (A leap second is no such case: it is read as 23:59:59.999999.)
    """
    stamp = event.get("eventTimestamp")
    return (
        isinstance(stamp, str)
        and stamp.startswith("0000-")
        and [p.path for p in error.problems] == ["$.eventTimestamp"]
    )


class EmulatorProcess:
    """``redo-kit emulator`` run as a subprocess on a free port, with one store (``STORE``)."""

    key = "sk_process_test"

    def __init__(self, *options: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "redo_kit._cli", "emulator", "--port", "0", "--store",
             f"{STORE}={self.key}", *options],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        assert self.process.stdout is not None
        first = self.process.stdout.readline()
        match = re.search(r"listening on (http://\S+/v2\.2)", first)
        assert match, first
        self.base_url = match.group(1)

    def events(self) -> list[dict[str, Any]]:
        """The events the store holds, in the order stored."""
        return inspect(self.base_url.rsplit("/v2.2", 1)[0], STORE, self.key, "events")

    def env(self, **extra: str) -> dict[str, str]:
        """The environment of a ``redo-kit`` subprocess that sends to this emulator."""
        return {
            **os.environ,
            "REDO_API_KEY": self.key,
            "REDO_STORE_ID": STORE,
            "REDO_BASE_URL": self.base_url,
            **extra,
        }

    def stop(self) -> None:
        """Stop the emulator (Ctrl-C, then a kill if it lingers) and close its pipes."""
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=10)
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait()
            for stream in (self.process.stdout, self.process.stderr):
                if stream is not None:
                    stream.close()
