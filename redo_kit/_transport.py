"""The seam between the client and the network.

A transport does one thing: send a :class:`Request` and return a
:class:`Response`, or raise :class:`~redo_kit._errors.APIConnectionError`
(:class:`~redo_kit._errors.APITimeoutError` for timeouts) when no HTTP answer
came back. It never retries, never paces and never raises on a status code:
the client decides all of that, so every transport behaves the same.

- :class:`Urllib3Transport` is the real one: one pooled, thread-safe urllib3
  ``PoolManager`` with keep-alive, urllib3's own retries and redirects off.
  A forked child gets a fresh pool: it never reads from the parent's sockets.
- :class:`MockTransport` answers in memory, from a handler function or a
  script of responses, and records every request, for unit tests (redo-kit's
  and its users').
"""

from __future__ import annotations

import contextlib
import functools
import heapq
import http.client
import itertools
import os
import socket
import threading
import time
import warnings
import weakref
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol, runtime_checkable

import attrs
import orjson

from redo_kit._errors import APIConnectionError, APITimeoutError, ConfigurationError, RedoError
from redo_kit._signals import start_daemon

__all__ = [
    "DEFAULT_TIMEOUT",
    "MAX_ANSWER_BYTES",
    "InsecureTransportWarning",
    "MockTransport",
    "MockTransportExhausted",
    "Request",
    "Response",
    "Timeout",
    "Transport",
    "Urllib3Transport",
    "redact_headers",
]

_SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie"})


class InsecureTransportWarning(UserWarning):
    """TLS certificate verification was switched off: anyone on the path can read the key."""


def _positive(instance: object, attribute: attrs.Attribute[float], value: float) -> None:
    if not 0 < value < float("inf"):
        raise ConfigurationError(
            f"{attribute.name} must be a positive, finite number of seconds, got {value!r}"
        )


def _whole(timeout: Timeout) -> float:
    return timeout.connect + timeout.read


@attrs.frozen
class Timeout:
    """How long to wait on the network, in seconds. Never unbounded.

    ``connect``: seconds to open the connection (TCP and TLS); default 5.
    ``read``: seconds to wait for each read of the response; default 30.
    ``total``: seconds one attempt may take in all, however the server
    trickles its answer; default ``connect + read``.
    """

    connect: float = attrs.field(default=5.0, converter=float, validator=_positive)
    read: float = attrs.field(default=30.0, converter=float, validator=_positive)
    total: float = attrs.field(
        default=attrs.Factory(_whole, takes_self=True), converter=float, validator=_positive
    )

    @classmethod
    def of(cls, value: Timeout | float | tuple[float, float]) -> Timeout:
        """A timeout from seconds (both phases), a ``(connect, read)`` pair or a Timeout."""
        if isinstance(value, Timeout):
            return value
        if isinstance(value, tuple):
            return cls(*value)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError(f"timeout must be seconds or a Timeout, not {type(value).__name__}")
        return cls(value, value)


DEFAULT_TIMEOUT = Timeout()


def redact_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """A copy of ``headers`` safe to log or print: credentials replaced by ``[redacted]``."""
    return {
        name: "[redacted]" if name.lower() in _SECRET_HEADERS else value
        for name, value in headers.items()
    }


@attrs.frozen(repr=False)
class Request:
    """One HTTP request, as the client hands it to a transport.

    ``body`` is the exact bytes on the wire; a retry sends the same object
    again. The repr never shows credentials.
    """

    method: str
    url: str
    headers: Mapping[str, str] = attrs.field(factory=dict)
    body: bytes = b""
    timeout: Timeout = DEFAULT_TIMEOUT

    def header(self, name: str) -> str | None:
        """The value of header ``name`` (any case), or ``None``."""
        wanted = name.lower()
        for key, value in self.headers.items():
            if key.lower() == wanted:
                return value
        return None

    def json(self) -> Any:
        """The body parsed as JSON."""
        return orjson.loads(self.body)

    def __repr__(self) -> str:
        return (
            f"Request(method={self.method!r}, url={self.url!r}, "
            f"headers={redact_headers(self.headers)!r}, body=<{len(self.body)} bytes>, "
            f"timeout={self.timeout!r})"
        )


def _lower_keys(headers: Mapping[str, str]) -> Mapping[str, str]:
    return {name.lower(): value for name, value in headers.items()}


@attrs.frozen
class Response:
    """One HTTP answer: status, headers (names in lower case) and the body bytes."""

    status: int
    headers: Mapping[str, str] = attrs.field(factory=dict, converter=_lower_keys)
    body: bytes = b""

    def header(self, name: str) -> str | None:
        """The value of header ``name`` (any case), or ``None``."""
        return self.headers.get(name.lower())

    @classmethod
    def problem(
        cls,
        status: int,
        *,
        title: str | None = None,
        detail: str | None = None,
        headers: Mapping[str, str] | None = None,
        **fields: Any,
    ) -> Response:
        """An RFC 7807 ``application/problem+json`` answer, for scripted tests."""
        body: dict[str, Any] = {"type": "about:blank", "status": status}
        if title is not None:
            body["title"] = title
        if detail is not None:
            body["detail"] = detail
        body.update(fields)
        return cls(
            status,
            {"content-type": "application/problem+json", **(headers or {})},
            orjson.dumps(body),
        )


@runtime_checkable
class Transport(Protocol):
    """Sends one request. Raises APIConnectionError/APITimeoutError when no answer came."""

    def request(self, request: Request) -> Response: ...


class Urllib3Transport:
    """The network transport: one urllib3 ``PoolManager``, thread-safe, keep-alive.

    ``verify``: ``True`` (default) checks TLS certificates against the system's
    trust store; a path checks them against that CA bundle; ``False`` turns the
    check off and warns with :class:`InsecureTransportWarning`.
    ``maxsize``: connections kept alive per host; default 10.

    urllib3's retries and redirects are off: the client retries by its own
    policy, and a redirect would carry the Authorization header elsewhere.
    """

    def __init__(self, *, verify: bool | str = True, maxsize: int = 10) -> None:

        if verify is False:
            warnings.warn(
                "TLS certificate verification is off: the API key and events can be "
                "read and changed by anyone between this process and the server",
                InsecureTransportWarning,
                stacklevel=2,
            )
        options: dict[str, Any] = {
            "num_pools": 4,
            "maxsize": maxsize,
            "block": False,
            "retries": False,
        }
        if verify is False:
            options["cert_reqs"] = "CERT_NONE"
        else:
            options["cert_reqs"] = "CERT_REQUIRED"
            if isinstance(verify, str):
                options["ca_certs"] = verify
        self._options = options
        self._pool = _pool_manager(options)
        self._inherited: list[Any] = []
        self._verify = verify
        _live_transports.add(self)

    def _after_fork_in_child(self) -> None:

        # The pooled sockets are shared with the parent: reading an answer here
        # would steal the parent's. Keep them open (closing could block on a lock
        # a parent thread held at fork time) but never use them again.
        self._inherited.append(self._pool)
        self._pool = _pool_manager(self._options)

    def request(self, request: Request) -> Response:
        import urllib3
        from urllib3 import exceptions as u3

        timeout = request.timeout
        attempt = _WATCH.start(timeout.total)
        try:
            scheme, host, port, target = _route(request.url)
            # The host's pool and its urlopen, not PoolManager.request: the
            # manager parses the URL and merges headers again on every call,
            # a quarter of the transport's CPU for a bulk request.
            pool = self._pool.connection_from_host(host, port, scheme)
            answer = pool.urlopen(
                request.method,
                target,
                body=request.body,
                headers=dict(request.headers),
                assert_same_host=False,
                timeout=urllib3.Timeout(
                    connect=min(timeout.connect, timeout.total),
                    read=min(timeout.read, timeout.total),
                ),
                retries=False,
                redirect=False,
                preload_content=False,
            )
            try:
                body = answer.read(MAX_ANSWER_BYTES + 1)
            except BaseException:
                answer.close()
                raise
        except (u3.HTTPError, OSError, http.client.HTTPException) as exc:
            if _WATCH.stop(attempt):
                raise APITimeoutError(
                    f"{request.method} {request.url}: no whole answer within "
                    f"{timeout.total:g} s (total timeout)"
                ) from exc
            raise _wrap(exc, request) from exc
        if _WATCH.stop(attempt) or len(body) > MAX_ANSWER_BYTES:
            # Past its deadline, or more than any answer of the API: the
            # connection goes, with whatever it still holds.
            answer.close()
        else:
            answer.release_conn()
        return Response(answer.status, dict(answer.headers.items()), body[:MAX_ANSWER_BYTES])

    def close(self) -> None:
        """Close every pooled connection. The transport can still be used afterwards."""
        self._pool.clear()

    def __repr__(self) -> str:
        return f"Urllib3Transport(verify={self._verify!r})"


MAX_ANSWER_BYTES = 1024 * 1024
"""The most of an answer's body read, in bytes: the API answers with no body or a
small problem+json, so more than this is not its answer (and is not kept)."""


@functools.lru_cache(maxsize=256)
def _route(url: str) -> tuple[str, str, int | None, str]:
    """``url``'s scheme, host, port and request target (path and query), parsed once."""
    from urllib3.util import parse_url

    parts = parse_url(url)
    return parts.scheme or "http", parts.host or "", parts.port, parts.request_uri


def _pool_manager(options: dict[str, Any]) -> Any:
    import urllib3

    manager = urllib3.PoolManager(**options)
    # Pools whose connections register their sockets with the deadline watch.
    manager.pool_classes_by_scheme = _guarded_pools()
    return manager


@functools.cache
def _guarded_pools() -> dict[str, type]:
    from urllib3.connection import HTTPConnection, HTTPSConnection
    from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

    def guarded(base: type[Any]) -> Any:
        class Guarded(base):  # type: ignore[misc]  # base is a class given at run time
            def connect(self) -> None:
                super().connect()
                _WATCH.guard(self.sock)

            def request(self, *args: Any, **kwargs: Any) -> None:
                # A kept-alive connection is already open: guard it for this attempt.
                _WATCH.guard(self.sock)
                super().request(*args, **kwargs)

        return Guarded

    class Pool(HTTPConnectionPool):
        ConnectionCls = guarded(HTTPConnection)

    class TLSPool(HTTPSConnectionPool):
        ConnectionCls = guarded(HTTPSConnection)

    return {"http": Pool, "https": TLSPool}


class _Attempt:
    """One attempt in flight: its deadline and the sockets it reads from."""

    __slots__ = ("deadline", "done", "fired", "sockets")

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.sockets: list[socket.socket] = []
        self.fired = False
        self.done = False


class _Watch:
    """Ends attempts at their total timeout: one thread shuts the socket of any past it.

    urllib3's timeouts bound each read, so a server that sends a byte now and
    then could hold an attempt forever; shutting the socket ends the read.
    """

    def __init__(self) -> None:
        self._reset()

    def _reset(self) -> None:
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, _Attempt]] = []
        self._order = itertools.count()
        self._local = threading.local()
        self._thread: threading.Thread | None = None

    def start(self, seconds: float) -> _Attempt:
        attempt = _Attempt(time.monotonic() + seconds)
        self._local.attempt = attempt
        with self._cond:
            heapq.heappush(self._heap, (attempt.deadline, next(self._order), attempt))
            if self._thread is None or not self._thread.is_alive():
                # None while the interpreter exits on Python 3.12+ (a batcher's
                # last flush): the attempt goes on, bounded by the per-read
                # timeouts alone, rather than failing.
                self._thread = start_daemon(self._run, "redo-kit-deadlines")
            self._cond.notify()
        return attempt

    def guard(self, sock: socket.socket | None) -> None:
        attempt: _Attempt | None = getattr(self._local, "attempt", None)
        if attempt is None or sock is None:
            return
        with self._cond:
            if attempt.done:
                return
            attempt.sockets.append(sock)
            fired = attempt.fired
        if fired:
            _shut(sock)

    def stop(self, attempt: _Attempt) -> bool:
        """End ``attempt``'s watch; whether its deadline had already passed."""
        self._local.attempt = None
        with self._cond:
            attempt.done = True
            attempt.sockets.clear()
            return attempt.fired

    def _run(self) -> None:
        while True:
            with self._cond:
                while True:
                    while self._heap and self._heap[0][2].done:
                        heapq.heappop(self._heap)
                    if not self._heap:
                        self._cond.wait()
                        continue
                    wait = self._heap[0][0] - time.monotonic()
                    if wait <= 0:
                        break
                    self._cond.wait(wait)
                _, _, attempt = heapq.heappop(self._heap)
                attempt.fired = True
                sockets = list(attempt.sockets)
            for sock in sockets:
                _shut(sock)


def _shut(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


_WATCH = _Watch()

_live_transports: weakref.WeakSet[Urllib3Transport] = weakref.WeakSet()


def _renew_pools_in_child() -> None:
    # The watch's thread and lock stay in the parent: the child starts its own.
    _WATCH._reset()
    for transport in list(_live_transports):
        transport._after_fork_in_child()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_renew_pools_in_child)


def _wrap(exc: BaseException, request: Request) -> APIConnectionError:
    from urllib3 import exceptions as u3

    cause: BaseException = exc
    if isinstance(cause, u3.MaxRetryError) and cause.reason is not None:
        cause = cause.reason
    where = f"{request.method} {request.url}"
    # NewConnectionError subclasses ConnectTimeoutError in urllib3 2: test it first.
    if isinstance(cause, u3.NewConnectionError):
        return APIConnectionError(f"{where}: could not connect ({_reason(cause)})")
    if isinstance(cause, u3.ConnectTimeoutError):
        return APITimeoutError(
            f"{where}: no connection within {request.timeout.connect:g} s (connect timeout)"
        )
    if isinstance(cause, (u3.ReadTimeoutError, TimeoutError)):
        return APITimeoutError(
            f"{where}: no answer within {request.timeout.read:g} s (read timeout)"
        )
    if isinstance(cause, u3.SSLError):
        return APIConnectionError(f"{where}: TLS failed ({_reason(cause)})")
    return APIConnectionError(f"{where}: connection failed ({_reason(cause)})")


def _reason(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


Handler = Callable[[Request], Response]
Scripted = Response | BaseException | int


class MockTransport:
    """An in-memory transport for unit tests; records every request in ``requests``.

    Answers come from ``handler(request)`` (which may return a Response or
    raise, for example :class:`~redo_kit._errors.APIConnectionError`), or from
    ``responses`` in order: a Response, a status code, or an exception to
    raise. With neither, every request is answered ``202 Accepted``. Running
    out of scripted responses raises :class:`MockTransportExhausted`.
    Thread-safe.
    """

    def __init__(
        self,
        handler: Handler | None = None,
        *,
        responses: Iterable[Scripted] | None = None,
    ) -> None:
        if handler is not None and responses is not None:
            raise TypeError("give a handler or scripted responses, not both")
        self._handler = handler
        self._script = list(responses) if responses is not None else None
        self._lock = threading.Lock()
        self._requests: list[Request] = []
        self.closed = False

    @property
    def requests(self) -> list[Request]:
        """Every request received so far, oldest first (a copy)."""
        with self._lock:
            return list(self._requests)

    def request(self, request: Request) -> Response:
        with self._lock:
            self._requests.append(request)
            if self._handler is None and self._script is not None:
                if not self._script:
                    raise MockTransportExhausted(
                        f"no scripted response left for request #{len(self._requests)}"
                    )
                item: Scripted | None = self._script.pop(0)
            else:
                item = None
        if self._handler is not None:
            return self._handler(request)
        if item is None:
            return Response(202)
        if isinstance(item, BaseException):
            raise item
        if isinstance(item, int):
            return Response(item)
        return item

    def close(self) -> None:
        self.closed = True

    def __repr__(self) -> str:
        return f"MockTransport(requests={len(self._requests)})"


class MockTransportExhausted(RedoError, AssertionError):
    """A MockTransport got more requests than it had scripted responses."""
