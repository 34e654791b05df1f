"""The emulator's HTTP side: both event operations under ``/v2.2``, and ``/_emulator``.

Standard library only: a ``ThreadingHTTPServer`` speaking HTTP/1.1 with
keep-alive, one thread per connection, at most
:attr:`EmulatorServer.max_connections` of them; a connection over that is
answered 503 from the accepting thread and closed. Every answer other than 202
and the inspection API's JSON is RFC 7807 problem+json.

Framing is strict, because the emulator runs in other services' CI and faces
whatever they send: the request head is read within a deadline and a size
budget, ``Content-Length`` is plain ASCII digits, ``Transfer-Encoding`` is
``chunked`` alone and never with a length, a chunk size is plain hex, and a
header line has a name and a colon. A request that breaks one of these is a
400 (or 431, 414, 408) with ``Connection: close``; nothing of it is stored.

Order of checks for an event operation, each answered as soon as it fails:
path (404), method (405), injected fault, Bearer key (401), store (404 for an
unknown store, 403 for another store's), scope (403), rate limit (429),
``Content-Type`` (415), size (413, decided from ``Content-Length`` before the
body is read), JSON (400), the spec's rules (400, or per item in bulk), then
the write, committed before the 202 is sent. An answer given before the body
is read still reads and drops up to :data:`DISCARD_BODY_BYTES` of it first,
so that a client sending the whole body before reading sees the answer.
"""

from __future__ import annotations

import base64
import contextlib
import email.utils
import hashlib
import hmac
import io
import logging
import math
import os
import re
import socket
import struct
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, cast
from urllib.parse import parse_qsl, quote, unquote, urlsplit

import attrs
import orjson

from redo_kit._errors import Problem
from redo_kit._json import loads_exact
from redo_kit._plan import TrackingPlan
from redo_kit._rules import BULK, SINGLE, limits
from redo_kit._version import __version__
from redo_kit.emulator._auth import WRITE_SCOPE, ApiKey, Keyring, bearer_secret
from redo_kit.emulator._faults import FaultInjector
from redo_kit.emulator._ratelimit import RateLimiter
from redo_kit.emulator._rules import bulk_errors, event_errors
from redo_kit.emulator._stats import Stats
from redo_kit.emulator._store import MAX_PAGE_LIMIT, PAGE_LIMIT, EventStore, Page, Rejection

__all__ = [
    "API_PREFIX",
    "DISCARD_BODY_BYTES",
    "HEADER_TIMEOUT_SECONDS",
    "IDLE_TIMEOUT_SECONDS",
    "LINGER_SECONDS",
    "MAX_BODY_BYTES",
    "MAX_CONNECTIONS",
    "MAX_HEADERS",
    "MAX_HEADER_BYTES",
    "MAX_HEADER_LINE_BYTES",
    "App",
    "EmulatorServer",
]

API_PREFIX = "/v2.2"
"""Where the spec's paths are served, as on ``https://api.getredo.com/v2.2``."""

MAX_BODY_BYTES: int
"""Largest request body, in bytes, the spec's ``x-redo-max-body-bytes``; larger is a 413.

Not a stored constant: :func:`__getattr__` reads it from the spec in use each
time it is asked for (5 MB in the shipped spec).
"""


def __getattr__(name: str) -> int:
    if name == "MAX_BODY_BYTES":
        return limits().max_body_bytes
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


_log = logging.getLogger("redo_kit.emulator")

_EVENTS = re.compile(r"^/v2\.2/stores/([^/]+)/events(/bulk)?/?$")
_INSPECT = re.compile(
    r"^/_emulator/stores/([^/]+)(?:/(events|customers|rejected|violations|summary))?/?$"
)
_URI_SAFE = "/%:@!$&'()*+,;=-._~"
_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_DIGITS = re.compile(r"[0-9]+")
_CHUNK_SIZE = re.compile(rb"([0-9A-Fa-f]{1,16})[ \t]*(?:;[^\r\n]*)?\r\n")
_READ_PIECE = 64 * 1024

# The emulator's own operating limits, not the API's: the API's numbers come
# from the spec through limits().

MAX_HEADER_LINE_BYTES = 8 * 1024
"""Longest request line or header line, CRLF included; longer is a 414 or a 431.

nginx's ``large_client_header_buffers 4 8k`` uses the same line size.
"""

MAX_HEADER_BYTES = 32 * 1024
"""Most bytes of all header lines of one request together; more is a 431.

nginx's four 8 KiB buffers. The emulator never holds more than this of a
request head before refusing it.
"""

MAX_HEADERS = 100
"""Most header lines in one request; more is a 431 (the standard library's own limit)."""

HEADER_TIMEOUT_SECONDS = 10.0
"""Seconds for the whole request line and headers, from the connection (or from
the first byte of a later keep-alive request); an unfinished head is answered
408 and closed. A deadline, not a per-read timeout, so one byte at a time does
not keep a connection forever. Default of :attr:`EmulatorServer.header_timeout`.
"""

IDLE_TIMEOUT_SECONDS = 60.0
"""Seconds a keep-alive connection may wait for its next request, and the
timeout of each read of a body; default of :attr:`EmulatorServer.idle_timeout`.
"""

MAX_CONNECTIONS = 64
"""Open connections, and so connection threads, at most; default of
:attr:`EmulatorServer.max_connections`. One more is answered 503 with
``Retry-After`` by the accepting thread and closed, without a thread of its own.
"""

DISCARD_BODY_BYTES = 16 * 1024 * 1024
"""Largest unread body, in bytes, read and thrown away before an early answer
(a 413, a 401, ...), so that a client which sends the whole body before
reading (``urllib.request`` does) sees the answer rather than a broken pipe.
Past it, the answer is followed by a lingering close.
"""

LINGER_SECONDS = 2.0
"""Seconds a connection closed after an error keeps reading what the client
still sends, after shutting its own side, so that closing does not reset the
connection before the client has read the answer.
"""


@attrs.frozen
class _Response:
    status: int
    body: bytes = b""
    content_type: str | None = None
    headers: Sequence[tuple[str, str]] = ()


@attrs.define
class App:
    """Everything the request threads share."""

    keyring: Keyring
    store: EventStore
    limiters: Mapping[str, RateLimiter]
    """One per operation, by its path in the spec (:data:`~redo_kit._rules.SINGLE`, ``BULK``)."""
    faults: FaultInjector
    fault_delay: float
    bulk_report: bool = False
    """Answer bulk requests with the per-event report (``x-redo-bulk-report``)."""
    plan: TrackingPlan | None = None
    """A tracking plan each stored event is checked against; its problems are recorded,
    never refused."""
    stats: Stats = attrs.field(factory=Stats)
    stopping: threading.Event = attrs.field(factory=threading.Event)
    cursor_key: bytes = attrs.field(factory=lambda: os.urandom(16), repr=False)
    """Seals the inspection API's page cursors, so that one shows no row id (fresh per start)."""


def _violations(app: App, events: Sequence[Any]) -> list[list[Problem]] | None:
    """Each event's tracking-plan problems, or ``None`` (no work at all) without a plan."""
    plan = app.plan
    if plan is None:
        return None
    return [plan.problems(event) for event in events]


def _bulk_report(events: list[Any], rejected: list[Rejection]) -> dict[str, Any]:
    """The spec's ``BulkEventsReport`` of a bulk request: one item per event, in order."""
    dropped = {item.position: item for item in rejected}
    items: list[dict[str, Any]] = []
    for index, event in enumerate(events):
        name = event.get("eventName") if isinstance(event, dict) else None
        item: dict[str, Any] = {
            "index": index,
            "status": "rejected" if index in dropped else "queued",
            "eventName": name if isinstance(name, str) else None,
        }
        if index in dropped:
            item["error"] = "; ".join(str(p) for p in dropped[index].problems)
        items.append(item)
    return {
        "total": len(events),
        "accepted": len(events) - len(dropped),
        "rejected": len(dropped),
        "events": items,
    }


class EmulatorServer(ThreadingHTTPServer):
    """A threading HTTP server with bounded connections that can close its open ones.

    The limits below are class attributes, read when the server is made, so
    that a test can lower them (``monkeypatch.setattr(EmulatorServer,
    "header_timeout", 1.0)``) without a new ``Emulator`` option.
    """

    daemon_threads = True
    # Room for many clients connecting at once (the default backlog is 5).
    request_queue_size = 128

    header_timeout: float = HEADER_TIMEOUT_SECONDS
    """Seconds for a whole request head; see :data:`HEADER_TIMEOUT_SECONDS`."""
    idle_timeout: float = IDLE_TIMEOUT_SECONDS
    """Seconds between keep-alive requests; see :data:`IDLE_TIMEOUT_SECONDS`."""
    max_connections: int = MAX_CONNECTIONS
    """Open connections at most; see :data:`MAX_CONNECTIONS`.

    No slot is reserved: while half-open connections fill every slot, a new
    client is answered 503 until the header deadline closes them, and
    ``Retry-After`` says when that will be.
    """

    def __init__(self, address: tuple[str, int], app: App) -> None:
        self.app = app
        self._open: dict[socket.socket, threading.Thread] = {}
        self._open_lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(self.max_connections)
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            self._refuse(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        with self._open_lock:
            self._open[request] = threading.current_thread()
        try:
            super().process_request_thread(request, client_address)
        finally:
            with self._open_lock:
                self._open.pop(request, None)
            self._slots.release()

    def _refuse(self, request: socket.socket) -> None:
        """Answer 503 on the accepting thread without waiting on the client, and close."""
        retry = max(1, math.ceil(self.header_timeout))
        response = _problem_response(
            503,
            f"the emulator has {self.max_connections} open connections, its limit",
            "/",
            headers=[("Retry-After", str(retry))],
        )
        with contextlib.suppress(OSError):
            request.setblocking(False)
            request.send(_encode(response, close=True))
            request.shutdown(socket.SHUT_WR)
            # Read what has already arrived, so that closing sends a FIN, not a reset.
            request.recv(MAX_HEADER_BYTES)
        self.shutdown_request(request)

    def close_connections(self, timeout: float = 5.0) -> None:
        """Wake every connection thread by shutting its socket, and wait for them to end."""
        with self._open_lock:
            open_now = list(self._open.items())
        for sock, _ in open_now:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        for _, thread in open_now:
            thread.join(timeout)


class _RequestTimeout(Exception):
    """The request head did not arrive within the header deadline."""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = f"redo-kit-emulator/{__version__}"
    timeout = IDLE_TIMEOUT_SECONDS
    server: EmulatorServer

    _body_read = False
    _linger = False
    _length: int | None = None
    _chunked = False
    _continued = True
    _received = 0
    _requests = 0
    _accepted = 0.0

    def setup(self) -> None:
        self._accepted = time.monotonic()
        super().setup()
        self.connection.settimeout(self.server.idle_timeout)
        # One write per answer, and no Nagle wait between keep-alive requests.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: an emulator in a test suite should not write a line per request."""

    def __getattr__(self, name: str) -> Callable[[], None]:
        # Every method, TRACE and made-up ones included, goes through one
        # router: a wrong method is a 405 problem, not the stdlib's 501 page.
        if name.startswith("do_"):
            return self._dispatch
        raise AttributeError(name)

    def handle_one_request(self) -> None:
        """Read one request head within the deadline and the size budget, then serve it."""
        self._body_read = True
        self._linger = False
        self._length, self._chunked, self._continued = None, False, True
        self._received = 0
        try:
            self._serve_one()
        except _RequestTimeout:
            self.close_connection = True
            if self._received:
                self._body_read = True
                with contextlib.suppress(OSError):
                    self.connection.settimeout(LINGER_SECONDS)
                self.send_error(408, "the request head did not arrive in time")
        except (TimeoutError, ConnectionError):
            self.close_connection = True
        if self._linger and self.close_connection:
            self._lingering_close()

    def _serve_one(self) -> None:
        server = self.server
        if self._requests == 0:
            deadline = self._accepted + server.header_timeout
        else:
            self.connection.settimeout(server.idle_timeout)
            if not self._peek():
                self.close_connection = True
                return
            deadline = time.monotonic() + server.header_timeout
        self._requests += 1
        line = self._read_line(MAX_HEADER_LINE_BYTES, deadline)
        if not line:
            self.close_connection = True
            return
        self.raw_requestline = line
        if len(line) > MAX_HEADER_LINE_BYTES:
            self.requestline = self.request_version = self.command = ""
            self.send_error(414, f"the request line is over {MAX_HEADER_LINE_BYTES:,} bytes")
            return
        if not line.endswith(b"\n"):
            self.requestline = self.request_version = self.command = ""
            self.send_error(400, "the request line ended early")
            return
        head = b"\r\n"
        if len(line.split()) == 3:
            read = self._read_head(deadline)
            if read is None:
                return
            head = read
        if not self._parse(head):
            return
        problem = self._framing_problem()
        if problem is not None:
            self.send_error(400, problem)
            return
        self.connection.settimeout(server.idle_timeout)
        self._dispatch()

    def _read_line(self, limit: int, deadline: float) -> bytes:
        """One line, LF included, of up to ``limit`` bytes; ``limit + 1`` bytes if longer.

        Each wait gets only the time left before ``deadline``. Shorter than
        asked and without LF means the client closed.
        """
        line = bytearray()
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise _RequestTimeout
            self.connection.settimeout(left)
            try:
                ready = self._peek()
            except TimeoutError:
                raise _RequestTimeout from None
            if not ready:
                return bytes(line)
            end = ready.find(b"\n")
            take = len(ready) if end < 0 else end + 1
            piece = self.rfile.read(min(take, limit + 1 - len(line)))
            self._received += len(piece)
            line += piece
            if line.endswith(b"\n") or len(line) > limit:
                return bytes(line)

    def _peek(self) -> bytes:
        """What has arrived and is not read yet, after at most one wait for it."""
        # The connection's read side is a BufferedReader (rbufsize -1).
        return cast("io.BufferedReader", self.rfile).peek(1)

    def _read_head(self, deadline: float) -> bytes | None:
        """The header lines and the blank line, checked; ``None`` once refused."""
        lines: list[bytes] = []
        total = 0
        while True:
            line = self._read_line(MAX_HEADER_LINE_BYTES, deadline)
            if line in (b"\r\n", b"\n"):
                lines.append(b"\r\n")
                return b"".join(lines)
            total += len(line)
            if len(line) > MAX_HEADER_LINE_BYTES:
                self.send_error(431, f"a header line is over {MAX_HEADER_LINE_BYTES:,} bytes")
                return None
            if total > MAX_HEADER_BYTES or len(lines) >= MAX_HEADERS:
                self.send_error(
                    431,
                    f"the headers are over {MAX_HEADER_BYTES:,} bytes or {MAX_HEADERS} lines",
                )
                return None
            if not line.endswith(b"\n"):
                self.send_error(400, "the request head ended early")
                return None
            if line[:1] in (b" ", b"\t"):
                self.send_error(400, "a header line is folded onto the previous one")
                return None
            content = line.removesuffix(b"\n").removesuffix(b"\r")
            if b"\r" in content or b"\0" in content:
                # The header parser would split at a bare CR: a header the checks never saw.
                self.send_error(400, "a header line holds a bare CR or a NUL")
                return None
            name, colon, _ = line.partition(b":")
            if not colon or _TOKEN.fullmatch(name) is None:
                self.send_error(400, "a header line has no name followed by a colon")
                return None
            lines.append(line)

    def _parse(self, head: bytes) -> bool:
        """The standard library's request line and header parsing, over a head already read."""
        wire = self.rfile
        self.rfile = io.BytesIO(head)
        try:
            return self.parse_request()
        finally:
            self.rfile = wire

    def _framing_problem(self) -> str | None:
        """Why the body's framing cannot be trusted, or ``None``; sets its length or chunking."""
        lengths = self.headers.get_all("Content-Length") or []
        codings = self.headers.get_all("Transfer-Encoding") or []
        if codings and lengths:
            return "send Transfer-Encoding or Content-Length, not both"
        if codings:
            if len(codings) > 1 or codings[0].strip(" \t").lower() != "chunked":
                return f"Transfer-Encoding must be 'chunked' alone, not {', '.join(codings)!r}"
            self._chunked = True
            self._body_read = False
            return None
        if not lengths:
            return None
        texts = {text.strip(" \t") for text in lengths}
        if len(texts) > 1:
            return "the request has Content-Lengths that differ"
        text = texts.pop()
        if _DIGITS.fullmatch(text) is None:
            return f"Content-Length {text!r} is not a number of bytes"
        # A huge digit string is only "too large": no int() of thousands of digits.
        self._length = int(text) if len(text) <= 18 else 10**18
        self._body_read = self._length == 0
        return None

    def handle_expect_100(self) -> bool:
        """Say "100 Continue" only for a well-framed body the emulator would read.

        For an oversized body the 413 comes straight away, so the client never
        sends megabytes only to see them refused.
        """
        problem = self._framing_problem()
        if problem is not None:
            self.send_error(400, problem)
            return False
        if self._length is not None and self._length > limits().max_body_bytes:
            self._continued = False
            return True
        return super().handle_expect_100()

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """Malformed request lines and unknown methods, answered as problem+json, and closed."""
        self.close_connection = True
        self._linger = True
        self._body_read = True
        self._write(self._problem(code, message or explain or _phrase(code)))

    def _dispatch(self) -> None:
        self._body_read = False
        path = urlsplit(self.path).path
        app = self.server.app
        try:
            if path == "/_emulator" or path.startswith("/_emulator/"):
                self._finish(self._inspect(path), count=False)
                return
            match = _EVENTS.match(path)
            if match is None:
                self._finish(self._problem(404, f"no such path: {path}"))
                return
            self._event_operation(unquote(match[1]), bulk=match[2] is not None)
        except Exception:
            _log.exception("emulator failed on %s %s", self.command, path)
            self.close_connection = True
            self._finish(self._problem(500, "the emulator failed; see its log"))
        finally:
            if app.stopping.is_set():
                self.close_connection = True

    def _event_operation(self, store_id: str, *, bulk: bool) -> None:
        app = self.server.app
        if self.command != "POST":
            self._finish(self._problem(405, f"use POST, not {self.command}", allow="POST"))
            return
        fault = app.faults.draw()
        if fault is not None:
            app.stats.fault(fault)
        if fault == "reset":
            self._drop()
            return
        if fault in ("500", "502", "503"):
            self._finish(self._problem(int(fault), "injected fault"))
            return
        if fault == "429":
            self._finish(self._problem(429, "injected fault", headers=[("Retry-After", "1")]))
            return
        response = self._ingest(store_id, bulk=bulk)
        if fault == "lost-ack":
            self._drop()
            return
        if fault == "delay":
            app.stopping.wait(app.fault_delay)
        self._finish(response)

    def _ingest(self, store_id: str, *, bulk: bool) -> _Response:
        app = self.server.app
        denied = self._authorize(store_id, write=True)
        if denied is not None:
            return denied
        limiter = app.limiters[BULK if bulk else SINGLE]
        wait = limiter.acquire(store_id)
        if wait is not None:
            app.stats.rate_limited()
            per_second = f"{limiter.rate:g}"
            return self._problem(
                429,
                f"over {per_second} requests per second for this store on this endpoint",
                headers=[("Retry-After", str(max(1, math.ceil(wait))))],
            )
        media, _, params = (self.headers.get("Content-Type") or "").partition(";")
        charset = _param(params, "charset")
        if media.strip().lower() != "application/json" or charset not in (None, "utf-8"):
            return self._problem(415, "send the body as JSON with 'Content-Type: application/json'")
        body = self._read_body()
        if isinstance(body, _Response):
            return body
        try:
            payload = loads_exact(body)
        except orjson.JSONDecodeError as exc:
            problem = Problem(
                path="$",
                rule="json",
                message=f"the body is not valid JSON: {exc}",
                hint="send UTF-8 JSON without NaN or Infinity",
            )
            return self._problem(400, "the body is not valid JSON", errors=[problem])
        if bulk:
            return self._ingest_bulk(store_id, payload)
        errors = event_errors(payload)
        if errors:
            noun = "problem" if len(errors) == 1 else "problems"
            return self._problem(400, f"the event has {len(errors)} {noun}", errors=errors)
        outcome = app.store.ingest(store_id, [payload], violations=_violations(app, [payload]))
        app.stats.ingested(outcome.stored, outcome.deduplicated, outcome.rejected)
        return _Response(202)

    def _ingest_bulk(self, store_id: str, body: Any) -> _Response:
        app = self.server.app
        envelope, per_event = bulk_errors(body)
        if envelope:
            return self._problem(
                400, "the bulk envelope is invalid; nothing was stored", errors=envelope
            )
        accepted: list[Mapping[str, Any]] = []
        rejected: list[Rejection] = []
        for position, (event, errors) in enumerate(zip(body["events"], per_event, strict=True)):
            if errors:
                rejected.append(Rejection(position, event, errors))
            else:
                accepted.append(event)
        outcome = app.store.ingest(store_id, accepted, rejected, _violations(app, accepted))
        app.stats.ingested(outcome.stored, outcome.deduplicated, outcome.rejected)
        if not app.bulk_report:
            return _Response(202)
        return _Response(
            202,
            orjson.dumps(_bulk_report(body["events"], rejected)),
            content_type="application/json",
        )

    def _authorize(self, store_id: str, *, write: bool) -> _Response | None:
        """``None`` when the request's key may use ``store_id`` of an event operation.

        As the spec's ``bearerAuth`` says: 401 without a valid key, 403 for a
        key of another configured store, 404 for a store id no store has, 403
        without the write scope.
        """
        app = self.server.app
        if store_id in app.keyring.store_ids:
            app.stats.attribute(store_id)
        secret = bearer_secret(self.headers.get("Authorization"))
        challenge = [("WWW-Authenticate", 'Bearer realm="redo"')]
        if secret is None:
            return self._problem(
                401,
                "send the store's API key as 'Authorization: Bearer <key>'",
                headers=challenge,
            )
        found = app.keyring.store_of(secret)
        if found is None:
            return self._problem(401, "this API key is not valid", headers=challenge)
        key_store, key = found
        if key_store != store_id:
            if store_id in app.keyring.store_ids:
                return self._problem(403, "this API key belongs to another store")
            return self._problem(404, f"no store has id {store_id!r}")
        if write and WRITE_SCOPE not in key.scopes:
            return self._problem(403, f"this API key lacks the {WRITE_SCOPE!r} scope")
        return None

    def _key(self) -> tuple[str, ApiKey] | _Response:
        """The store and key of the request's Bearer key, or the 401 that refuses it."""
        secret = bearer_secret(self.headers.get("Authorization"))
        found = None if secret is None else self.server.app.keyring.store_of(secret)
        if found is None:
            return self._problem(
                401,
                "send a configured API key as 'Authorization: Bearer <key>'",
                headers=[("WWW-Authenticate", 'Bearer realm="redo"')],
            )
        return found

    def _inspect(self, path: str) -> _Response:
        """The emulator's own API; a key sees its own store only.

        Another store's id and an id no store has get the same 404, so that a
        key cannot learn which stores exist. Emptying a store needs the write
        scope; reading needs only a key of the store.
        """
        app = self.server.app
        if path.rstrip("/") == "/_emulator/stats":
            if self.command != "GET":
                return self._problem(405, f"use GET, not {self.command}", allow="GET")
            found = self._key()
            if isinstance(found, _Response):
                return found
            return _json_response(app.stats.snapshot(found[0]))
        match = _INSPECT.match(path)
        if match is None:
            return self._problem(404, f"no such path: {path}")
        store_id, view = unquote(match[1]), match[2]
        allowed = "GET" if view else "DELETE"
        if self.command != allowed:
            return self._problem(405, f"use {allowed}, not {self.command}", allow=allowed)
        found = self._key()
        if isinstance(found, _Response):
            return found
        key_store, key = found
        if key_store != store_id:
            return self._problem(404, "no such store for this API key")
        if view is None:
            if WRITE_SCOPE not in key.scopes:
                return self._problem(
                    403, f"emptying a store needs the {WRITE_SCOPE!r} scope; this API key lacks it"
                )
            app.store.clear(store_id)
            return _Response(204)
        if view == "summary":
            return _json_response(app.store.summary(store_id, violations=app.plan is not None))
        seal = _Seal(app.cursor_key, f"{store_id}/{view}")
        page = _page_request(urlsplit(self.path).query, seal)
        if isinstance(page, Problem):
            return self._problem(400, page.message, errors=[page])
        readers: dict[str, Callable[[str, int, int | None], Page]] = {
            "events": app.store.events_page,
            "customers": app.store.customers_page,
            "rejected": app.store.rejected_page,
            "violations": app.store.violations_page,
        }
        items, after = readers[view](store_id, *page)
        return _json_response({view: items, "next": None if after is None else seal.close(after)})

    def _read_body(self) -> bytes | _Response:
        length = self._length
        if length is None and not self._chunked:
            self._body_read = True
            return b""
        if length is not None and length > limits().max_body_bytes:
            self.close_connection = True
            return _too_large(self, length)
        try:
            if self._chunked:
                return self._read_chunked()
            body = self.rfile.read(length or 0)
        except OSError as exc:
            # A client that stalls or resets mid-body gets an answer it may
            # never read, and the connection closes; nothing was stored.
            self.close_connection = True
            self._body_read = True
            if isinstance(exc, TimeoutError):
                return self._problem(408, "the body did not arrive in time")
            return self._problem(400, "the body could not be read")
        self._body_read = True
        if len(body) < (length or 0):
            self.close_connection = True
            return self._problem(400, "the body ended before Content-Length bytes")
        return body

    def _read_chunked(self) -> bytes | _Response:
        chunks: list[bytes] = []
        total = 0
        limit = limits().max_body_bytes
        while True:
            line = self.rfile.readline(MAX_HEADER_LINE_BYTES + 1)
            match = _CHUNK_SIZE.fullmatch(line)
            if match is None:
                self.close_connection = True
                return self._problem(400, "a chunk size is not hex digits ending in CRLF")
            size = int(match[1], 16)
            if size == 0:
                break
            total += size
            if total > limit:
                self.close_connection = True
                return _too_large(self, total)
            chunk = self.rfile.read(size)
            if len(chunk) < size or self.rfile.read(2) != b"\r\n":
                self.close_connection = True
                return self._problem(400, "a chunk ended early or without CRLF")
            chunks.append(chunk)
        trailers = 0
        while (line := self.rfile.readline(MAX_HEADER_LINE_BYTES + 1)) != b"\r\n":
            trailers += len(line)
            if not line.endswith(b"\r\n") or trailers > MAX_HEADER_BYTES:
                self.close_connection = True
                return self._problem(400, "the chunked body's trailer is malformed")
        self._body_read = True
        return b"".join(chunks)

    def _problem(
        self,
        status: int,
        detail: str,
        *,
        errors: Sequence[Problem] = (),
        headers: Sequence[tuple[str, str]] = (),
        allow: str | None = None,
    ) -> _Response:
        extra = list(headers)
        if allow is not None:
            extra.append(("Allow", allow))
        path = urlsplit(getattr(self, "path", "") or "/").path
        return _problem_response(status, detail, path, errors=errors, headers=extra)

    def _finish(self, response: _Response, *, count: bool = True) -> None:
        if count:
            self.server.app.stats.answered(response.status)
        if not self._body_read:
            self._discard_body()
        self._write(response)

    def _discard_body(self) -> None:
        """Read an unread body so the connection can serve the next request, or close it.

        A body of up to :data:`DISCARD_BODY_BYTES` is read even when the
        connection then closes, so that a client still sending it sees the
        answer; a longer or chunked one gets a lingering close instead.
        """
        self._body_read = True
        length = self._length
        if length is None and not self._chunked:
            return
        if length is not None and self._continued and length <= DISCARD_BODY_BYTES:
            while length > 0:
                try:
                    piece = self.rfile.read(min(length, _READ_PIECE))
                except OSError:
                    piece = b""
                if not piece:
                    self.close_connection = True
                    return
                length -= len(piece)
            if self._length is not None and self._length > limits().max_body_bytes:
                self.close_connection = True
            return
        self.close_connection = True
        self._linger = True

    def _write(self, response: _Response) -> None:
        head_only = getattr(self, "command", None) == "HEAD"
        data = _encode(response, close=self.close_connection, head_only=head_only)
        try:
            self.wfile.write(data)
        except OSError:
            self.close_connection = True

    def _lingering_close(self) -> None:
        """Shut our side, then read and drop what the client still sends, for a while."""
        sock = self.connection
        deadline = time.monotonic() + LINGER_SECONDS
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_WR)
            while (left := deadline - time.monotonic()) > 0:
                sock.settimeout(left)
                if not sock.recv(_READ_PIECE):
                    break

    def _drop(self) -> None:
        """Drop the connection with a TCP reset, without an answer."""
        self.close_connection = True
        self._linger = False
        sock = self.connection
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        # The socket really closes, and resets, once no file object holds it.
        self.rfile.close()
        sock.close()


def _problem_response(
    status: int,
    detail: str,
    path: str,
    *,
    errors: Sequence[Problem] = (),
    headers: Sequence[tuple[str, str]] = (),
) -> _Response:
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": _phrase(status),
        "status": status,
        "detail": detail,
        "instance": quote(path or "/", safe=_URI_SAFE),
    }
    if errors:
        body["errors"] = [problem.to_dict() for problem in errors]
    return _Response(status, orjson.dumps(body), "application/problem+json", headers)


def _encode(response: _Response, *, close: bool, head_only: bool = False) -> bytes:
    """The status line, headers and body of ``response``, as sent."""
    lines = [
        f"HTTP/1.1 {response.status} {_phrase(response.status)}",
        f"Server: {_Handler.server_version}",
        f"Date: {email.utils.formatdate(usegmt=True)}",
    ]
    if response.status not in (204, 304):
        lines.append(f"Content-Length: {len(response.body)}")
    if response.content_type:
        lines.append(f"Content-Type: {response.content_type}")
    lines.extend(f"{name}: {value}" for name, value in response.headers)
    if close:
        lines.append("Connection: close")
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    return head if head_only else head + response.body


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def _param(params: str, name: str) -> str | None:
    for item in params.split(";"):
        key, _, value = item.partition("=")
        if key.strip().lower() == name:
            return value.strip().strip('"').lower()
    return None


def _json_response(value: Any) -> _Response:
    return _Response(200, orjson.dumps(value), "application/json")


def _too_large(handler: _Handler, size: int) -> _Response:
    return handler._problem(
        413,
        f"the body is {size:,} bytes; the limit is {limits().max_body_bytes:,} "
        "(split bulk requests into smaller ones)",
    )


def _page_request(query: str, seal: _Seal) -> tuple[int, int | None] | Problem:
    """``(limit, after)`` from a list view's query string, or the problem with one parameter."""
    params: dict[str, str] = {}
    for name, value in parse_qsl(query, keep_blank_values=True):
        if name in params:
            return Problem(path=name, rule="query", message=f"{name} is given more than once")
        params[name] = value
    limit = PAGE_LIMIT
    text = params.get("limit")
    if text is not None:
        limit = int(text) if text.isascii() and text.isdigit() and len(text) <= 6 else 0
        if not 1 <= limit <= MAX_PAGE_LIMIT:
            return Problem(
                path="limit",
                rule="query",
                message=f"limit must be a whole number from 1 to {MAX_PAGE_LIMIT:,}, not {text!r}",
                hint=f"leave it out for pages of {PAGE_LIMIT:,}",
            )
    after = None
    text = params.get("after")
    if text is not None:
        after = seal.open(text)
        if after is None:
            return Problem(
                path="after",
                rule="query",
                message=f"after must be a cursor from a page's 'next', not {text!r}",
                hint="leave it out for the first page",
            )
    return limit, after


@attrs.frozen
class _Seal:
    """Page cursors that hide the row id they carry and only open for the list that gave them.

    A bare row id would tell a key how many rows every store together holds
    (row ids are shared by all stores). A cursor is a random nonce, the row id
    masked with a keyed hash of the nonce, and a keyed tag over the list's
    name (store and view), the nonce and the masked id: base64url, 32 characters.
    """

    key: bytes = attrs.field(repr=False)
    scope: str

    def _hash(self, purpose: bytes, data: bytes) -> bytes:
        return hashlib.blake2b(data, key=self.key, digest_size=8, person=purpose).digest()

    def _mask(self, nonce: bytes) -> int:
        return int.from_bytes(self._hash(b"mask", nonce), "big")

    def close(self, row_id: int) -> str:
        """The cursor of ``row_id``, a fresh string each time."""
        nonce = os.urandom(8)
        masked = (row_id ^ self._mask(nonce)).to_bytes(8, "big")
        tag = self._hash(b"tag", self.scope.encode() + b"\0" + nonce + masked)
        return base64.urlsafe_b64encode(nonce + masked + tag).decode().rstrip("=")

    def open(self, cursor: str) -> int | None:
        """The row id in ``cursor``, or ``None`` when this list did not give it."""
        if len(cursor) != 32 or not cursor.isascii():
            return None
        try:
            raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        except ValueError:
            return None
        nonce, masked, tag = raw[:8], raw[8:16], raw[16:]
        expected = self._hash(b"tag", self.scope.encode() + b"\0" + nonce + masked)
        if not hmac.compare_digest(tag, expected):
            return None
        return int.from_bytes(masked, "big") ^ self._mask(nonce)
