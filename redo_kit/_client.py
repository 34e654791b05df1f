"""The client: every event delivered once, paced, retried safely, with typed errors.

::

    from redo_kit._client import RedoClient

    with RedoClient() as client:          # REDO_STORE_ID and REDO_API_KEY from the environment
        client.send({"eventName": "Order Placed", "customer": {"email": "a@example.com"}})
        result = client.send_bulk(events)  # any iterable, consumed as it is sent
        print(result.accepted, result.rejections)

Every event is prepared (built, cleaned, validated, serialized, given a fixed
``uniqueId``) before anything is sent: an invalid event never leaves the
process. ``send_bulk`` streams its input into requests of at most 100 events
and 5 MB, drops repeated ``uniqueId``s, and reports each local rejection.

Every request takes a slot from the store's pacing bucket
(:mod:`redo_kit._pacing`) and is retried by the :class:`~redo_kit._retry.RetryPolicy`
with the very same body bytes, which is safe because every event carries its
``uniqueId``: the API keeps the first copy and drops replays.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import platform
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import TYPE_CHECKING, Any, Final

import attrs
import orjson

from redo_kit import _logging, _retry
from redo_kit import _pacing as pacing
from redo_kit._errors import (
    APIConnectionError,
    APIError,
    APIStatusError,
    ConfigurationError,
    Problem,
    RedoError,
    ValidationError,
    make_status_error,
)
from redo_kit._retry import RetryPolicy, parse_retry_after
from redo_kit._transport import (
    DEFAULT_TIMEOUT,
    Request,
    Response,
    Timeout,
    Transport,
    Urllib3Transport,
    redact_headers,
)
from redo_kit._version import __version__

if TYPE_CHECKING:
    from redo_kit._batcher import Batcher
    from redo_kit._events import PreparedEvent

__all__ = [
    "DEFAULT_BASE_URL",
    "ENVELOPE_BYTES",
    "MAX_REQUEST_BYTES",
    "NOT_GIVEN",
    "BulkResult",
    "Duplicate",
    "NotGiven",
    "RedoClient",
    "Rejection",
    "SendResult",
]

DEFAULT_BASE_URL: Final = "https://api.getredo.com/v2.2"
"""Redo's production API, version included."""
MAX_REQUEST_BYTES: int
"""Largest request body sent, in bytes: the spec's ``x-redo-max-body-bytes``.

Not a stored constant: :func:`__getattr__` reads it from the spec in use each
time it is asked for (5 MB in the shipped spec).
"""

_BULK_OPEN = b'{"events":['
_BULK_CLOSE = b"]}"
ENVELOPE_BYTES: Final = len(_BULK_OPEN) + len(_BULK_CLOSE)
"""Bytes a bulk body adds around its comma-joined events (``{"events":[`` and ``]}``)."""
_SINGLE = "events"
_BULK = "events/bulk"


class NotGiven:
    """The type of :data:`NOT_GIVEN`: "use the environment or the default"."""

    _instance: NotGiven | None = None

    def __new__(cls) -> NotGiven:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __bool__(self) -> bool:
        return False

    def __repr__(self) -> str:
        return "NOT_GIVEN"


NOT_GIVEN: Final = NotGiven()
"""Marks an argument as not given, where ``None`` has a meaning of its own."""


class _Secret:
    """Holds the API key; its repr and str never show it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "'[redacted]'"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __reduce__(self) -> Any:
        raise TypeError("the API key is not picklable")


@attrs.frozen(kw_only=True)
class Rejection:
    """An event ``send_bulk`` refused locally; it was never sent.

    ``index``: its position in the input (0-based); ``unique_id``: its
    ``uniqueId`` when it had a readable one; ``problems``: every rule it broke,
    paths rooted at the event (``$.customer.email``).
    """

    index: int
    unique_id: str | None
    problems: tuple[Problem, ...]

    @property
    def errors(self) -> tuple[Problem, ...]:
        """The problems that made the event invalid (warnings left out)."""
        return tuple(p for p in self.problems if p.severity == "error")


@attrs.frozen(kw_only=True)
class Duplicate:
    """An event ``send_bulk`` skipped because an earlier one had the same ``uniqueId``.

    ``index``: its position in the input; ``first_index``: where the kept one was.
    """

    index: int
    unique_id: str
    first_index: int


@attrs.frozen(kw_only=True)
class SendResult:
    """What one ``send`` (or ``send_chunk``) delivered.

    ``unique_ids``: the ``uniqueId``s the API accepted (202); ``requests``:
    HTTP attempts made; ``retries``: attempts after the first; ``rate_limited``:
    429 answers seen; ``warnings``: non-fatal problems found while preparing.
    """

    unique_ids: tuple[str, ...]
    requests: int = 0
    retries: int = 0
    rate_limited: int = 0
    warnings: tuple[Problem, ...] = ()

    @property
    def unique_id(self) -> str:
        """The ``uniqueId`` of the one event sent (first of them for a chunk)."""
        return self.unique_ids[0]


@attrs.frozen(kw_only=True)
class BulkResult:
    """What a ``send_bulk`` run did.

    ``unique_ids``: accepted events, in the order their requests succeeded;
    ``rejections``: events refused locally and never sent; ``duplicates``:
    events skipped for a repeated ``uniqueId``; ``failed``: ``uniqueId``s read
    but not delivered, those of the request that failed for good included
    (non-empty only on the error a failed run raises, as ``error.result``);
    ``requests``, ``retries``, ``rate_limited``: HTTP attempts, attempts after
    the first, 429 answers.
    """

    unique_ids: tuple[str, ...] = ()
    rejections: tuple[Rejection, ...] = ()
    duplicates: tuple[Duplicate, ...] = ()
    failed: tuple[str, ...] = ()
    requests: int = 0
    retries: int = 0
    rate_limited: int = 0

    @property
    def accepted(self) -> int:
        """Events answered 202 by the API."""
        return len(self.unique_ids)


class _Tally:
    """Request counters shared by the threads of one call."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests = 0
        self.retries = 0
        self.rate_limited = 0

    def add(self, *, requests: int = 0, retries: int = 0, rate_limited: int = 0) -> None:
        with self._lock:
            self.requests += requests
            self.retries += retries
            self.rate_limited += rate_limited

    def failed_result(self) -> SendResult:
        return SendResult(
            unique_ids=(),
            requests=self.requests,
            retries=self.retries,
            rate_limited=self.rate_limited,
        )


@attrs.frozen(kw_only=True)
class _Config:
    store_id: str
    api_key: _Secret
    base_url: str
    timeout: Timeout
    retry: RetryPolicy
    rate_limit: float | None
    verify: bool | str
    concurrency: int


class RedoClient:
    """A client for one Redo store.

    ``store_id``: the store, else ``REDO_STORE_ID``; letters, digits, ``_`` and
    ``-`` only (the spec's StoreId pattern).
    ``api_key``: the store's key, else ``REDO_API_KEY``; never shown in a repr,
    a log line or an error.
    ``base_url``: the API root with its version, else ``REDO_BASE_URL``, else
    ``https://api.getredo.com/v2.2``. HTTPS is required except for loopback
    hosts (127.0.0.0/8, ``::1``, ``localhost``).
    ``timeout``: seconds, or a :class:`~redo_kit._transport.Timeout`; default
    5 to connect and 30 to read. Never unbounded.
    ``retry``: a :class:`~redo_kit._retry.RetryPolicy`; default ``RetryPolicy()``
    (6 attempts within 60 s). :data:`~redo_kit._retry.NO_RETRY` turns retries off.
    ``rate_limit``: requests per second per endpoint for this store, shared by
    every client of the process; default 100. ``None`` turns pacing off.
    ``transport``: where requests go; default a :class:`~redo_kit._transport.Urllib3Transport`
    that this client owns and closes. A given transport is never closed here.
    ``verify``: TLS verification for the default transport: ``True``
    (default), a CA bundle path, or ``False`` (warns).
    ``concurrency``: bulk requests in flight at once in ``send_bulk``; default
    4. With more than 1, requests may reach the API out of input order.

    Thread-safe: share one client across threads. Use it as a context
    manager, or call :meth:`close`.
    """

    def __init__(
        self,
        *,
        store_id: str | NotGiven = NOT_GIVEN,
        api_key: str | NotGiven = NOT_GIVEN,
        base_url: str | NotGiven = NOT_GIVEN,
        timeout: Timeout | float | tuple[float, float] | NotGiven = NOT_GIVEN,
        retry: RetryPolicy | NotGiven = NOT_GIVEN,
        rate_limit: float | NotGiven | None = NOT_GIVEN,
        transport: Transport | NotGiven = NOT_GIVEN,
        verify: bool | str | NotGiven = NOT_GIVEN,
        concurrency: int | NotGiven = NOT_GIVEN,
    ) -> None:
        _logging.configure_from_env()
        config = _Config(
            store_id=_store_id(_from_env(store_id, "REDO_STORE_ID", None, "store_id")),
            api_key=_api_key(_from_env(api_key, "REDO_API_KEY", None, "api_key")),
            base_url=_base_url(_from_env(base_url, "REDO_BASE_URL", DEFAULT_BASE_URL, "base_url")),
            timeout=DEFAULT_TIMEOUT if isinstance(timeout, NotGiven) else _timeout(timeout),
            retry=RetryPolicy() if isinstance(retry, NotGiven) else _policy(retry),
            rate_limit=(
                pacing.DEFAULT_RATE_LIMIT if isinstance(rate_limit, NotGiven) else _rate(rate_limit)
            ),
            verify=True if isinstance(verify, NotGiven) else verify,
            concurrency=4 if isinstance(concurrency, NotGiven) else _concurrency(concurrency),
        )
        if isinstance(transport, NotGiven):
            self._init(config, Urllib3Transport(verify=config.verify), owns_transport=True)
        else:
            if not isinstance(transport, Transport):
                raise ConfigurationError(
                    f"transport must have a request(Request) -> Response method, "
                    f"got {type(transport).__name__}"
                )
            self._init(config, transport, owns_transport=False)

    def _init(self, config: _Config, transport: Transport, *, owns_transport: bool) -> None:
        self._config = config
        self._transport = transport
        self._owns_transport = owns_transport
        self._closed = False
        self._lock = threading.Lock()
        store = urllib.parse.quote(config.store_id, safe="")
        self._urls = {
            _SINGLE: f"{config.base_url}/stores/{store}/events",
            _BULK: f"{config.base_url}/stores/{store}/events/bulk",
        }
        self._paths = {name: urllib.parse.urlsplit(url).path for name, url in self._urls.items()}

    # -- configuration -------------------------------------------------------

    @property
    def store_id(self) -> str:
        """The store events are sent to."""
        return self._config.store_id

    @property
    def base_url(self) -> str:
        """The API root, version included, without a trailing slash."""
        return self._config.base_url

    @property
    def timeout(self) -> Timeout:
        """Connect and read timeouts, in seconds."""
        return self._config.timeout

    @property
    def retry(self) -> RetryPolicy:
        """The retry policy."""
        return self._config.retry

    @property
    def rate_limit(self) -> float | None:
        """Requests per second per endpoint, or ``None`` when pacing is off."""
        return self._config.rate_limit

    @property
    def transport(self) -> Transport:
        """The transport requests go through."""
        return self._transport

    def with_options(
        self,
        *,
        store_id: str | NotGiven = NOT_GIVEN,
        api_key: str | NotGiven = NOT_GIVEN,
        base_url: str | NotGiven = NOT_GIVEN,
        timeout: Timeout | float | tuple[float, float] | NotGiven = NOT_GIVEN,
        retry: RetryPolicy | NotGiven = NOT_GIVEN,
        rate_limit: float | NotGiven | None = NOT_GIVEN,
        transport: Transport | NotGiven = NOT_GIVEN,
        verify: bool | str | NotGiven = NOT_GIVEN,
        concurrency: int | NotGiven = NOT_GIVEN,
    ) -> RedoClient:
        """A new client with these settings changed; this one is left as it is.

        The copy shares this client's connection pool (unless ``transport`` or
        ``verify`` is given) and does not close it: close the original when done.
        """
        old = self._config
        config = _Config(
            store_id=old.store_id if isinstance(store_id, NotGiven) else _store_id(store_id),
            api_key=old.api_key if isinstance(api_key, NotGiven) else _api_key(api_key),
            base_url=old.base_url if isinstance(base_url, NotGiven) else _base_url(base_url),
            timeout=old.timeout if isinstance(timeout, NotGiven) else _timeout(timeout),
            retry=old.retry if isinstance(retry, NotGiven) else _policy(retry),
            rate_limit=old.rate_limit if isinstance(rate_limit, NotGiven) else _rate(rate_limit),
            verify=old.verify if isinstance(verify, NotGiven) else verify,
            concurrency=(
                old.concurrency if isinstance(concurrency, NotGiven) else _concurrency(concurrency)
            ),
        )
        copy = RedoClient.__new__(RedoClient)
        if not isinstance(transport, NotGiven):
            copy._init(config, transport, owns_transport=False)
        elif not isinstance(verify, NotGiven) and verify != old.verify:
            copy._init(config, Urllib3Transport(verify=verify), owns_transport=True)
        else:
            copy._init(config, self._transport, owns_transport=False)
        return copy

    # -- lifecycle -----------------------------------------------------------

    def close(self) -> None:
        """Release the connection pool this client created. Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        if self._owns_transport:
            close = getattr(self._transport, "close", None)
            if callable(close):
                close()

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closed

    def __enter__(self) -> RedoClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return (
            f"RedoClient(store_id={self._config.store_id!r}, base_url={self._config.base_url!r}, "
            f"api_key='[redacted]')"
        )

    def batcher(self, **options: Any) -> Batcher:
        """A background :class:`~redo_kit._batcher.Batcher` sending through this client.

        ``options`` go to ``Batcher`` (``flush_interval``, ``max_events``,
        ``overflow``, ``on_drop``, ``on_error``, ``dead_letter`` ...).
        """
        from redo_kit._batcher import Batcher

        return Batcher(self, **options)

    # -- sending -------------------------------------------------------------

    def send(self, event: Any, **options: Any) -> SendResult:
        """Send one event through the single-event endpoint.

        ``event``: a wire dict, a generated model or a prepared event;
        ``options`` go to :func:`redo_kit._events.prepare_event`. Raises
        :class:`~redo_kit._errors.ValidationError` (nothing sent) when the
        event is invalid, and an :class:`~redo_kit._errors.APIError` subclass
        when the API refuses it or retries run out.
        """
        prepared = _prepare(event, options)
        tally = _Tally()
        try:
            self._post(_SINGLE, prepared.body, tally, events=1)
        except APIError as exc:
            exc.result = tally.failed_result()
            raise
        return SendResult(
            unique_ids=(prepared.unique_id,),
            requests=tally.requests,
            retries=tally.retries,
            rate_limited=tally.rate_limited,
            warnings=tuple(prepared.warnings),
        )

    def send_chunk(self, prepared: Sequence[PreparedEvent]) -> SendResult:
        """Send already prepared events as one bulk request, within the spec's limits.

        The spec in use says how many events and bytes a request carries (1
        to 100 and 5 MB in the shipped one). The building block of
        :meth:`send_bulk` and of background batching: paced and retried like
        every request; raises the typed error when the request fails for good.
        Does not deduplicate.
        """
        from redo_kit._rules import limits

        rules = limits()
        fewest, most = rules.bulk_events
        if not fewest <= len(prepared) <= most:
            raise ValueError(f"a bulk request carries {fewest} to {most} events")
        body = _bulk_body(prepared)
        if len(body) > rules.max_body_bytes:
            raise ValueError(
                f"a bulk request of {len(body):,} bytes is over the "
                f"{rules.max_body_bytes:,} limit"
            )
        tally = _Tally()
        try:
            self._post(_BULK, body, tally, events=len(prepared))
        except APIError as exc:
            exc.result = tally.failed_result()
            raise
        return SendResult(
            unique_ids=tuple(p.unique_id for p in prepared),
            requests=tally.requests,
            retries=tally.retries,
            rate_limited=tally.rate_limited,
        )

    def send_bulk(self, events: Iterable[Any], **options: Any) -> BulkResult:
        """Send any number of events through the bulk endpoint, streaming ``events``.

        Each event is prepared on its own (``options`` go to
        :func:`redo_kit._events.prepare_event`): an invalid one is never sent
        and is reported in ``rejections``; one whose ``uniqueId`` came earlier
        in this call is skipped and reported in ``duplicates``. The rest go
        out in requests of at most the spec's number of events and bytes (100
        and 5 MB in the shipped spec), up to ``concurrency`` at a time; an
        event too large to share a request goes alone through the
        single-event endpoint.

        When a request fails for good, no new request starts and no more input
        is read; requests in flight finish, and the typed error is raised with
        ``error.result``: a :class:`BulkResult` of what was delivered, whose
        ``failed`` lists every ``uniqueId`` read but not delivered. Events not
        yet read from ``events`` stay in the iterator.
        """
        rejections: list[Rejection] = []
        duplicates: list[Duplicate] = []
        seen: dict[str, int] = {}
        tally = _Tally()
        # Events read from the input but not yet handed out in a request: on a
        # failure they are reported as not delivered, never forgotten.
        building: list[PreparedEvent] = []

        def chunks() -> Iterator[tuple[str, list[PreparedEvent], bytes]]:
            from redo_kit._rules import limits

            most, max_bytes = limits().bulk_events[1], limits().max_body_bytes
            size = ENVELOPE_BYTES
            for index, event in enumerate(events):
                try:
                    prepared = _prepare(event, options)
                except ValidationError as exc:
                    unique_id = _raw_unique_id(event)
                    rejections.append(
                        Rejection(index=index, unique_id=unique_id, problems=exc.problems)
                    )
                    continue
                first = seen.setdefault(prepared.unique_id, index)
                if first != index:
                    duplicates.append(
                        Duplicate(index=index, unique_id=prepared.unique_id, first_index=first)
                    )
                    continue
                if len(prepared.body) + ENVELOPE_BYTES > max_bytes:
                    yield _SINGLE, [prepared], prepared.body
                    continue
                grown = size + len(prepared.body) + (1 if building else 0)
                if building and (len(building) == most or grown > max_bytes):
                    full = building[:]
                    building[:] = [prepared]
                    size = ENVELOPE_BYTES + len(prepared.body)
                    yield _BULK, full, _bulk_body(full)
                    continue
                building.append(prepared)
                size = grown
            if building:
                last = building[:]
                building.clear()
                yield _BULK, last, _bulk_body(last)

        delivered, failed, error = self._deliver(chunks(), tally)
        if error is not None:
            failed.extend(p.unique_id for p in building)

        result = BulkResult(
            unique_ids=tuple(delivered),
            rejections=tuple(rejections),
            duplicates=tuple(duplicates),
            failed=tuple(failed),
            requests=tally.requests,
            retries=tally.retries,
            rate_limited=tally.rate_limited,
        )
        if error is not None:
            error.result = result
            raise error
        return result

    # -- internals -----------------------------------------------------------

    def _deliver(
        self, chunks: Iterator[tuple[str, list[PreparedEvent], bytes]], tally: _Tally
    ) -> tuple[list[str], list[str], APIError | None]:
        """Send every chunk, ``concurrency`` at a time; stop starting new ones on a failure."""
        delivered: list[str] = []
        failed: list[str] = []
        error: APIError | None = None

        def record(batch: list[PreparedEvent], exc: BaseException | None) -> None:
            nonlocal error
            ids = [p.unique_id for p in batch]
            if exc is None:
                delivered.extend(ids)
                return
            failed.extend(ids)
            if error is None:
                if not isinstance(exc, APIError):
                    raise exc
                error = exc

        if self._config.concurrency == 1:
            for endpoint, batch, body in chunks:
                try:
                    self._post(endpoint, body, tally, events=len(batch))
                except APIError as exc:
                    record(batch, exc)
                    break
                record(batch, None)
            return delivered, failed, error

        in_flight: dict[Future[Any], list[PreparedEvent]] = {}
        with ThreadPoolExecutor(
            max_workers=self._config.concurrency, thread_name_prefix="redo-kit-bulk"
        ) as pool:
            try:
                while True:
                    # Wait for room before reading more input, so that nothing is
                    # read after a failure is known.
                    while len(in_flight) >= self._config.concurrency:
                        self._settle(in_flight, record, block=True)
                    self._settle(in_flight, record, block=False)
                    if error is not None:
                        break
                    chunk = next(chunks, None)
                    if chunk is None:
                        break
                    endpoint, batch, body = chunk
                    future = pool.submit(self._post, endpoint, body, tally, events=len(batch))
                    in_flight[future] = batch
            finally:
                while in_flight:
                    self._settle(in_flight, record, block=True)
        return delivered, failed, error

    @staticmethod
    def _settle(
        in_flight: dict[Future[Any], list[PreparedEvent]],
        record: Callable[[list[PreparedEvent], BaseException | None], None],
        *,
        block: bool,
    ) -> None:
        if block:
            done, _ = wait(in_flight, return_when=FIRST_COMPLETED)
        else:
            done = {f for f in in_flight if f.done()}
        # Keep input order among requests that finished together.
        for future in [f for f in in_flight if f in done]:
            batch = in_flight.pop(future)
            record(batch, future.exception())

    def _post(self, endpoint: str, body: bytes, tally: _Tally, *, events: int) -> Response:
        """POST ``body`` to ``endpoint``, paced and retried; the 2xx response or a typed error."""
        if self._closed:
            raise RedoError("this RedoClient is closed; create a new one")
        config = self._config
        path = self._paths[endpoint]
        request = Request(
            "POST",
            self._urls[endpoint],
            _headers(config.api_key),
            body,
            config.timeout,
        )
        log = _logging.logger
        if log.isEnabledFor(logging.DEBUG):
            log.debug(
                "POST %s: %d event(s), %d bytes, headers %s",
                path,
                events,
                len(body),
                redact_headers(request.headers),
            )
        started = time.monotonic()
        attempts = 0
        while True:
            if config.rate_limit is not None:
                bucket = pacing.bucket_for(
                    config.base_url, config.store_id, endpoint, config.rate_limit
                )
                bucket.acquire()
            attempts += 1
            tally.add(requests=1, retries=0 if attempts == 1 else 1)
            sent_at = time.monotonic()
            try:
                response = self._transport.request(request)
            except APIConnectionError as exc:
                failure: APIError = exc
                retry_after = None
                outcome = str(exc)
                retryable = config.retry.retries_error(exc)
            else:
                status = response.status
                if 200 <= status < 300:
                    log.debug(
                        "POST %s: %d in %.1f ms (attempt %d)",
                        path,
                        status,
                        (time.monotonic() - sent_at) * 1000,
                        attempts,
                    )
                    return response
                retry_after = parse_retry_after(response.header("retry-after"))
                if status == 429:
                    tally.add(rate_limited=1)
                    if config.rate_limit is not None:
                        hold = retry_after
                        if hold is not None:
                            hold = min(hold, config.retry.retry_after_max)
                        pacing.bucket_for(
                            config.base_url, config.store_id, endpoint, config.rate_limit
                        ).on_rate_limited(hold)
                failure = _status_error(response, retry_after, path, config.api_key)
                outcome = f"answered {status}"
                retryable = config.retry.retries_status(status)
            elapsed = time.monotonic() - started
            pause = (
                config.retry.next_wait(
                    attempts_made=attempts, elapsed=elapsed, retry_after=retry_after
                )
                if retryable
                else None
            )
            if pause is None:
                if retryable:
                    log.warning(
                        "POST %s: %s; giving up after %d attempt(s) in %.2f s",
                        path,
                        outcome,
                        attempts,
                        elapsed,
                    )
                else:
                    log.info("POST %s: %s; not retried", path, outcome)
                raise failure
            log.info(
                "POST %s: %s; retrying in %.2f s (attempt %d of %d)",
                path,
                outcome,
                pause,
                attempts + 1,
                config.retry.attempts,
            )
            _retry.sleep(pause)


def _headers(api_key: _Secret) -> dict[str, str]:
    return {
        "Authorization": f"Bearer {api_key.reveal()}",
        "Content-Type": "application/json",
        "Accept": "application/json, application/problem+json",
        "User-Agent": _USER_AGENT,
    }


_USER_AGENT = f"redo-kit/{__version__} python/{platform.python_version()}"


def _bulk_body(batch: Sequence[PreparedEvent]) -> bytes:
    return b"".join((_BULK_OPEN, b",".join(p.body for p in batch), _BULK_CLOSE))


def _status_error(
    response: Response, retry_after: float | None, path: str, api_key: _Secret
) -> APIStatusError:
    body: dict[str, Any] | None = None
    if response.body:
        try:
            parsed = orjson.loads(response.body)
        except orjson.JSONDecodeError:
            parsed = None
        if isinstance(parsed, dict):
            # A server that echoes the Authorization header must not put the key in an error.
            body = _scrub(parsed, api_key.reveal())
    request_id = response.header("x-request-id") or response.header("request-id")
    if request_id is not None:
        request_id = _scrub(request_id, api_key.reveal())
    return make_status_error(
        response.status,
        body=body,
        request_id=request_id,
        retry_after=retry_after,
        method="POST",
        path=path,
    )


def _scrub(value: Any, secret: str) -> Any:
    if isinstance(value, str):
        return value.replace(secret, "[redacted]")
    if isinstance(value, dict):
        return {_scrub(k, secret): _scrub(v, secret) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrub(item, secret) for item in value]
    return value


def _prepare(event: Any, options: dict[str, Any]) -> PreparedEvent:
    from redo_kit._events import PreparedEvent, prepare_event

    if isinstance(event, PreparedEvent):
        return event
    return prepare_event(event, **options)


def _raw_unique_id(event: Any) -> str | None:
    unique = event.get("uniqueId") if isinstance(event, dict) else getattr(event, "unique_id", None)
    return unique if isinstance(unique, str) else None


# -- configuration checks ------------------------------------------------------


def _from_env(value: str | NotGiven, variable: str, default: str | None, name: str) -> str:
    if not isinstance(value, NotGiven):
        return value
    found = os.environ.get(variable)
    if found:
        return found
    if default is not None:
        return default
    raise ConfigurationError(f"{name} is required: pass {name}= or set {variable}")


def _store_id(value: object) -> str:
    from redo_kit._rules import is_store_id

    if not isinstance(value, str) or not is_store_id(value):
        shown = repr(value) if isinstance(value, str) and len(value) <= 80 else type(value).__name__
        raise ConfigurationError(
            f"store_id {shown} is not a Redo store id under the spec's StoreId pattern: "
            "letters, digits, '_' or '-' (for example 64e5a8a1af49a89df37e4ee7)"
        )
    return value


def _api_key(value: object) -> _Secret:
    # The key's value never goes into a message, whatever is wrong with it.
    if not isinstance(value, str):
        raise ConfigurationError(f"api_key must be a string, not {type(value).__name__}")
    if not value:
        raise ConfigurationError("api_key is empty: pass api_key= or set REDO_API_KEY")
    if not all("!" <= c <= "~" for c in value):
        raise ConfigurationError(
            "api_key holds whitespace, control or non-ASCII characters: copy it again "
            "from Redo (Settings > API Keys)"
        )
    return _Secret(value)


def _base_url(value: object) -> str:
    if not isinstance(value, str):
        raise ConfigurationError(f"base_url must be a string, not {type(value).__name__}")
    try:
        parts = urllib.parse.urlsplit(value.strip())
        host = parts.hostname
        parts.port  # noqa: B018  # raises ValueError on a bad port
    except ValueError as exc:
        raise ConfigurationError(f"base_url is not a URL: {exc}") from None
    if parts.username is not None or parts.password is not None:
        raise ConfigurationError(
            "base_url must not carry credentials; give the key as api_key= or REDO_API_KEY"
        )
    shown = urllib.parse.urlunsplit(parts)
    if parts.scheme not in ("https", "http") or not host:
        raise ConfigurationError(
            f"base_url {shown!r} must be an http(s) URL such as {DEFAULT_BASE_URL!r}"
        )
    if parts.query or parts.fragment:
        raise ConfigurationError(f"base_url {shown!r} must not have a query or fragment")
    if parts.scheme == "http" and not _is_loopback(host):
        raise ConfigurationError(
            f"base_url {shown!r} must use https: plain http would send the API key in "
            "clear text (http is allowed only for loopback hosts such as 127.0.0.1)"
        )
    return shown.rstrip("/")


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _timeout(value: object) -> Timeout:
    if value is None:
        raise ConfigurationError("timeout cannot be None: a request must not wait forever")
    try:
        return Timeout.of(value)  # type: ignore[arg-type]  # checked by Timeout.of
    except (TypeError, ValueError) as exc:
        raise ConfigurationError(f"timeout: {exc}") from None


def _policy(value: object) -> RetryPolicy:
    if not isinstance(value, RetryPolicy):
        raise ConfigurationError(
            "retry must be a RetryPolicy (NO_RETRY to turn retries off), "
            f"not {type(value).__name__}"
        )
    return value


def _rate(value: object) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ConfigurationError(
            f"rate_limit must be a positive number of requests/s or None, got {value!r}"
        )
    return float(value)


def _concurrency(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigurationError(f"concurrency must be an integer >= 1, got {value!r}")
    return value


def __getattr__(name: str) -> int:
    if name == "MAX_REQUEST_BYTES":
        from redo_kit._rules import limits

        return limits().max_body_bytes
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
