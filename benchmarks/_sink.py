"""A counting HTTP sink on loopback, in its own process: where every SDK of a benchmark sends.

It speaks just enough of three ingestion APIs to make each SDK's sender
succeed, and counts the events of every request body (gzip or plain JSON):

- Redo: ``POST /v2.2/stores/{storeId}/events/bulk`` with ``{"events": [...]}``,
  answered 202 with no body; events counted by ``uniqueId``;
- Segment: ``POST /v1/batch`` with ``{"batch": [...]}``, answered 200 with
  ``{"success": true}``; events counted by ``messageId``;
- PostHog: ``POST /batch/`` with ``{"batch": [...]}``, answered 200 with
  ``{"status": 1}``; events counted by ``uuid``.

``GET /_counts`` answers ``{format: {"events": n, "unique": u}, "other": [...]}``
(``other``: the first paths it could not place), ``POST /_reset`` forgets
everything. Run as ``python benchmarks/_sink.py``: the first line on stdout is
``listening on http://127.0.0.1:PORT``. Its own process keeps its CPU time
and its GIL away from the process being measured.
"""

from __future__ import annotations

import gzip
import re
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import orjson
import urllib3
from _emulator import serving

_REDO_BULK = re.compile(r"^/v2\.2/stores/[^/]+/events/bulk/?$")
# format -> (the key of the event list, the key of an event's id, status, answer)
_FORMATS: dict[str, tuple[str, str, int, bytes]] = {
    "redo": ("events", "uniqueId", 202, b""),
    "segment": ("batch", "messageId", 200, b'{"success":true}'),
    "posthog": ("batch", "uuid", 200, b'{"status":1}'),
}


class _Counts:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        self.events = dict.fromkeys(_FORMATS, 0)
        self.ids: dict[str, set[str]] = {name: set() for name in _FORMATS}
        self.other: list[str] = []

    def add(self, name: str, ids: list[str]) -> None:
        with self.lock:
            self.events[name] += len(ids)
            self.ids[name].update(ids)

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            found: dict[str, Any] = {
                name: {"events": self.events[name], "unique": len(self.ids[name])}
                for name in _FORMATS
            }
            found["other"] = list(self.other)
        return found


_COUNTS = _Counts()


def _format_of(path: str) -> str | None:
    path = path.split("?", 1)[0]
    if _REDO_BULK.match(path):
        return "redo"
    if path.rstrip("/") == "/v1/batch":
        return "segment"
    if path == "/batch/" or path == "/batch":
        return "posthog"
    return None


class _Handler(BaseHTTPRequestHandler):
    # Keep-alive, as every SDK's pooled connections expect.
    protocol_version = "HTTP/1.1"
    # An answer goes out in one write with Nagle off: a status line and a
    # body in two segments would wait for the client's delayed ACK (40 ms).
    disable_nagle_algorithm = True

    def log_message(self, *args: Any) -> None:
        """Quiet: one line per request would cost more than the request."""

    def _answer(self, status: int, body: bytes = b"") -> None:
        kind = "Content-Type: application/json\r\n" if body else ""
        head = (
            f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\n{kind}"
            f"Content-Length: {len(body)}\r\n\r\n"
        )
        self.wfile.write(head.encode("ascii") + body)

    def do_GET(self) -> None:
        if self.path == "/_counts":
            self._answer(200, orjson.dumps(_COUNTS.snapshot()))
        else:
            self._answer(404, b'{"error":"not found"}')

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        if self.path == "/_reset":
            with _COUNTS.lock:
                _COUNTS.reset()
            self._answer(204)
            return
        name = _format_of(self.path)
        if name is None:
            with _COUNTS.lock:
                if len(_COUNTS.other) < 20:
                    _COUNTS.other.append(f"{self.command} {self.path}")
            self._answer(404, b'{"error":"not found"}')
            return
        list_key, id_key, status, answer = _FORMATS[name]
        try:
            if (self.headers.get("Content-Encoding") or "").lower() == "gzip":
                raw = gzip.decompress(raw)
            body = orjson.loads(raw)
            events = body[list_key]
            ids = [str(event[id_key]) for event in events]
        except (OSError, EOFError, orjson.JSONDecodeError, KeyError, TypeError):
            self._answer(400, b'{"error":"unreadable body"}')
            return
        _COUNTS.add(name, ids)
        self._answer(status, answer)


def serve(handler: type[BaseHTTPRequestHandler] = _Handler, path: str = "") -> None:
    """Serve ``handler`` on a free loopback port until killed; print ``listening on URL`` first.

    ``path`` is appended to the printed URL (``/v2.2`` for a sink that stands for the API).
    """
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    print(f"listening on http://127.0.0.1:{server.server_address[1]}{path}", flush=True)
    server.serve_forever()


@contextmanager
def sink() -> Iterator[str]:
    """The URL of a sink started in its own process, stopped on exit."""
    with serving([sys.executable, str(Path(__file__).resolve())], "sink") as (url, _):
        yield url


_HTTP = urllib3.PoolManager(num_pools=1, maxsize=1)


def counts(url: str) -> dict[str, Any]:
    """What the sink at ``url`` has counted so far."""
    answer = _HTTP.request("GET", f"{url}/_counts", retries=False, timeout=30)
    found: dict[str, Any] = orjson.loads(answer.data)
    return found


def reset(url: str) -> None:
    """Forget every count."""
    _HTTP.request("POST", f"{url}/_reset", body=b"", retries=False, timeout=30)


if __name__ == "__main__":
    serve()
