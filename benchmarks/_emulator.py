"""An emulator for the benchmarks: started in its own process (or in-process), and read back.

Shared by the client, batcher and import benchmarks so that each measures
against the same server, started the same way.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import orjson
import urllib3


@contextmanager
def emulator(
    stores: Mapping[str, str], *, in_process: bool = False, extra: Sequence[str] = ()
) -> Iterator[tuple[str, str]]:
    """``(base_url, root_url)`` of an emulator at its default rate limit (100 requests/s).

    ``extra`` adds command-line options (``--db PATH``...) to the separate process.
    """
    if in_process:
        from redo_kit.emulator import Emulator

        with Emulator(dict(stores)) as emu:
            yield emu.base_url, emu.url
        return
    args = [sys.executable, "-m", "redo_kit.emulator", "--port", "0", *extra]
    for store, key in stores.items():
        args += ["--store", f"{store}={key}"]
    with serving(args, "emulator") as urls:
        yield urls


@contextmanager
def serving(args: Sequence[str], what: str) -> Iterator[tuple[str, str]]:
    """``(base_url, root_url)`` of a server process that prints ``listening on BASE_URL`` first."""
    process = subprocess.Popen(list(args), stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        first = process.stdout.readline().strip()
        if not first.startswith("listening on "):
            raise RuntimeError(f"{what} did not start: {first!r}")
        base_url = first.removeprefix("listening on ")
        yield base_url, base_url.rsplit("/", 1)[0]
    finally:
        process.terminate()
        process.wait(timeout=30)
        if process.stdout is not None:
            process.stdout.close()


def _get(url: str, key: str) -> Any:
    with urllib3.PoolManager() as http:
        answer = http.request(
            "GET", url, headers={"Authorization": f"Bearer {key}"}, retries=False, timeout=300
        )
    if answer.status != 200:
        raise RuntimeError(f"inspection answered {answer.status}")
    return orjson.loads(answer.data)


def stored_ids(root: str, store: str, key: str) -> list[str]:
    """The uniqueIds the emulator stored for ``store``, oldest first (every page)."""
    ids: list[str] = []
    url = f"{root}/_emulator/stores/{store}/events?limit=10000"
    while True:
        page = _get(url, key)
        ids.extend(e["uniqueId"] for e in page["events"])
        if page["next"] is None:
            return ids
        url = f"{root}/_emulator/stores/{store}/events?limit=10000&after={page['next']}"


def stats(root: str, key: str) -> dict[str, Any]:
    """The counters of the key's store (``GET /_emulator/stats``)."""
    found: dict[str, Any] = _get(f"{root}/_emulator/stats", key)
    return found
