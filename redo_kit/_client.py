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
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, Final, TypedDict

import attrs
import orjson

from redo_kit import _logging, _retry
from redo_kit import _pacing as pacing
from redo_kit._delivery import (
    BULK,
    SINGLE,
    Batch,
    Job,
    Outcome,
    Packer,
    Sent,
    bulk_body,
    deliver,
)
from redo_kit._errors import (
    APIConnectionError,
    APIError,
    APIStatusError,
    ConfigurationError,
    ConversionError,
    Problem,
    RedoError,
    UnexpectedResponseError,
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
    # typing.Unpack is Python 3.11+; type checkers ship typing_extensions' stubs.
    from typing_extensions import Unpack

    from redo_kit._batcher import Batcher, OnDrop, OnError
    from redo_kit._events import PreparedEvent, PrepareOptions
    from redo_kit._outbox import Outbox, Overflow
    from redo_kit._plan import TrackingPlan

__all__ = [
    "DEFAULT_BASE_URL",
    "NOT_GIVEN",
    "BulkResult",
    "BulkRun",
    "ClientOptions",
    "ClientSettings",
    "Duplicate",
    "NotGiven",
    "RedoClient",
    "Rejection",
    "SendResult",
]

DEFAULT_BASE_URL: Final = "https://api.getredo.com/v2.2"
"""Redo's production API, version included."""


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


class BulkRun:
    """The bookkeeping of one ``send_bulk`` call, whatever delivers its requests.

    ``add(event)`` prepares the next input event (with ``options`` and the
    keywords that override its fields) and packs it, or reports it as a
    :class:`Rejection` or a :class:`Duplicate`; ``finish()`` closes the last
    request once the input is read. While ``ready``, ``take()`` hands out
    the next request to send, in input order. ``settle(outcome)`` counts how
    each sent request ended: delivered, rejected by the server's per-event
    report, or failed. ``result()`` is the :class:`BulkResult`, or raises
    the first failure with it as ``error.result``; every event read but not
    delivered (in a request that failed, never taken, or not yet packed) is
    in its ``failed``. ``RedoClient.send_bulk`` and
    ``AsyncRedoClient.send_bulk`` differ only in how they send the requests
    in between.

    Not thread-safe: call it from one thread (``deliver`` settles ordered
    jobs on the calling thread).
    """

    def __init__(
        self,
        options: PrepareOptions,
        *,
        allow_unknown_keys: bool | None = None,
        default_region: str | None = None,
        move_nested_to_extra: bool | None = None,
    ) -> None:
        self._options = options
        self._allow_unknown_keys = allow_unknown_keys
        self._default_region = default_region
        self._move_nested_to_extra = move_nested_to_extra
        self._packer = Packer()
        self._ready: deque[Batch] = deque()
        self._read = 0
        self._rejections: list[Rejection] = []
        self._duplicates: list[Duplicate] = []
        self._delivered: list[str] = []
        self._failed: list[str] = []
        self._tally = _Tally()
        self._error: APIError | None = None
        # Where each event came from in the input, for the server's per-event report.
        self._index_of: dict[str, int] = {}

    @property
    def ready(self) -> bool:
        """Whether a packed request waits to be taken."""
        return bool(self._ready)

    def take(self) -> Batch:
        """The oldest packed request not yet taken; ``IndexError`` when none is ``ready``."""
        return self._ready.popleft()

    def add(self, event: Any) -> None:
        """Prepare and pack the next input event, or report why it cannot go."""
        index = self._read
        self._read += 1
        try:
            prepared = _prepare(
                event,
                self._options,
                allow_unknown_keys=self._allow_unknown_keys,
                default_region=self._default_region,
                move_nested_to_extra=self._move_nested_to_extra,
            )
        except (ValidationError, ConversionError) as exc:
            self._rejections.append(
                Rejection(index=index, unique_id=_raw_unique_id(event), problems=exc.problems)
            )
            return
        unique = prepared.unique_id
        first = self._index_of.setdefault(unique, index)
        if first != index:
            self._duplicates.append(Duplicate(index=index, unique_id=unique, first_index=first))
            return
        self._ready.extend(self._packer.add(prepared))

    def finish(self) -> None:
        """Close the last, partly filled request: the input is read to its end."""
        last = self._packer.finish()
        if last is not None:
            self._ready.append(last)

    def settle(self, outcome: Outcome) -> None:
        """Count how one request ended."""
        sent = outcome.sent
        self._tally.add(
            requests=sent.requests, retries=sent.retries, rate_limited=sent.rate_limited
        )
        if outcome.error is not None:
            self._failed.extend(p.unique_id for p in outcome.batch.events)
            self._error = self._error or outcome.error
            return
        self._delivered.extend(p.unique_id for p in outcome.accepted)
        for dropped in outcome.rejected:
            unique = dropped.event.unique_id
            self._rejections.append(
                Rejection(
                    index=self._index_of[unique], unique_id=unique, problems=(dropped.problem(),)
                )
            )

    def result(self) -> BulkResult:
        """What the call did; raises its first failure, with this as ``error.result``.

        Events read but never sent (the input stopped at a failure) count as
        ``failed``: not delivered, never forgotten.
        """
        error = self._error
        failed = self._failed
        if error is not None:
            unsent = [p for batch in self._ready for p in batch.events]
            failed = [*failed, *(p.unique_id for p in (*unsent, *self._packer.pending))]
        tally = self._tally
        result = BulkResult(
            unique_ids=tuple(self._delivered),
            rejections=tuple(sorted(self._rejections, key=lambda r: r.index)),
            duplicates=tuple(self._duplicates),
            failed=tuple(failed),
            requests=tally.requests,
            retries=tally.retries,
            rate_limited=tally.rate_limited,
        )
        if error is not None:
            error.result = result
            raise error
        return result


# -- configuration ---------------------------------------------------------------

# Every field of ClientSettings defaults to NOT_GIVEN, which its converter resolves
# (environment, then default). Typed Any because mypy checks a field's default
# against the field's converted type, which NOT_GIVEN never is.
_UNRESOLVED: Any = NOT_GIVEN


def _resolve(
    value: object, name: str, variable: str, default: str | None, check: Callable[[object], str]
) -> str:
    """The argument, else the environment variable, else the default; checked."""
    if not isinstance(value, NotGiven):
        return check(value)
    found = os.environ.get(variable)
    if found:
        try:
            return check(found)
        except ConfigurationError as exc:
            raise ConfigurationError(f"{exc} (read from {variable})") from None
    if default is not None:
        return default
    raise ConfigurationError(f"{name} is required: pass {name}= or set {variable}")


def _store_id(value: str | NotGiven) -> str:
    return _resolve(value, "store_id", "REDO_STORE_ID", None, _valid_store_id)


def _api_key(value: str | _Secret | NotGiven) -> _Secret:
    if isinstance(value, _Secret):  # attrs.evolve hands the resolved key back in
        return value
    return _Secret(_resolve(value, "api_key", "REDO_API_KEY", None, _valid_api_key))


def _base_url(value: str | NotGiven) -> str:
    return _resolve(value, "base_url", "REDO_BASE_URL", DEFAULT_BASE_URL, _valid_base_url)


def _timeout(value: Timeout | float | tuple[float, float] | NotGiven) -> Timeout:
    if isinstance(value, NotGiven):
        return DEFAULT_TIMEOUT
    if value is None:
        raise ConfigurationError("timeout cannot be None: a request must not wait forever")
    try:
        return Timeout.of(value)
    except (TypeError, ValueError) as exc:
        message = str(exc)
        if not message.startswith("timeout"):
            message = f"timeout: {message}"
        raise ConfigurationError(message) from None


def _retry_policy(value: RetryPolicy | NotGiven) -> RetryPolicy:
    if isinstance(value, NotGiven):
        return RetryPolicy()
    if not isinstance(value, RetryPolicy):
        raise ConfigurationError(
            "retry must be a RetryPolicy (NO_RETRY to turn retries off), "
            f"not {type(value).__name__}"
        )
    return value


def _rate_limit(value: float | NotGiven | None) -> float | None:
    if isinstance(value, NotGiven):
        from redo_kit._rules import limits

        return limits().rate_limit
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ConfigurationError(
            f"rate_limit must be a positive number of requests/s or None, got {value!r}"
        )
    return float(value)


def _verify(value: bool | str | os.PathLike[str] | NotGiven) -> bool | str:
    if isinstance(value, NotGiven):
        return True
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if isinstance(value, bool) or (isinstance(value, str) and value):
        return value
    raise ConfigurationError(
        f"verify must be True, False or the path of a CA bundle file, got {value!r}"
    )


def _concurrency(value: int | NotGiven) -> int:
    if isinstance(value, NotGiven):
        return 4
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigurationError(f"concurrency must be an integer >= 1, got {value!r}")
    return value


def _prepare_options(value: PrepareOptions | NotGiven) -> PrepareOptions:
    from redo_kit._events import DEFAULT_OPTIONS, PrepareOptions

    if isinstance(value, NotGiven):
        return DEFAULT_OPTIONS
    if not isinstance(value, PrepareOptions):
        raise ConfigurationError(
            f"prepare must be a PrepareOptions, such as PrepareOptions(allow_unknown_keys=True), "
            f"not {type(value).__name__}"
        )
    return value


@attrs.frozen(kw_only=True)
class ClientSettings:
    """Everything a :class:`RedoClient` is configured with: one immutable value.

    Each field is resolved once, when the value is made: the argument, then
    the environment variable (``REDO_STORE_ID``, ``REDO_API_KEY``,
    ``REDO_BASE_URL``), then the default. Every field defaults to
    :data:`NOT_GIVEN`, so ``None`` keeps its own meaning where it has one
    (``rate_limit=None``). ``attrs.evolve(settings, timeout=10)`` (what
    :meth:`RedoClient.with_options` does) makes a changed copy and never reads
    the environment again. A bad value raises
    :class:`~redo_kit._errors.ConfigurationError` naming the field, what is
    wrong with it and how to fix it.

    ``store_id``: the store, else ``REDO_STORE_ID``; letters, digits, ``_`` and
    ``-`` only (the spec's StoreId pattern).
    ``api_key``: the store's key, else ``REDO_API_KEY``; held in a wrapper
    whose repr is ``'[redacted]'``, so it is never shown in a repr, a log line
    or an error (``settings.api_key.reveal()`` gives it back).
    ``base_url``: the API root with its version, else ``REDO_BASE_URL``, else
    ``https://api.getredo.com/v2.2``; kept without a trailing slash. HTTPS is
    required except for loopback hosts (127.0.0.0/8, ``::1``, ``localhost``).
    ``timeout``: seconds, a ``(connect, read)`` pair or a
    :class:`~redo_kit._transport.Timeout`; default 5 to connect and 30 to
    read. Never unbounded.
    ``retry``: a :class:`~redo_kit._retry.RetryPolicy`; default ``RetryPolicy()``
    (6 attempts within 60 s). :data:`~redo_kit._retry.NO_RETRY` turns retries off.
    ``rate_limit``: requests per second per endpoint for this store, shared by
    every client of the process; default 100. ``None`` turns pacing off.
    ``verify``: TLS verification for the default transport: ``True``
    (default), the path of a CA bundle, or ``False`` (warns).
    ``concurrency``: bulk requests in flight at once in ``send_bulk``; default
    4. With more than 1, requests may reach the API out of input order.
    ``prepare``: the :class:`~redo_kit._events.PrepareOptions` every event
    sent is prepared with; default ``PrepareOptions()`` (all off).
    """

    store_id: str = attrs.field(default=_UNRESOLVED, converter=_store_id)
    api_key: _Secret = attrs.field(default=_UNRESOLVED, converter=_api_key)
    base_url: str = attrs.field(default=_UNRESOLVED, converter=_base_url)
    timeout: Timeout = attrs.field(default=_UNRESOLVED, converter=_timeout)
    retry: RetryPolicy = attrs.field(default=_UNRESOLVED, converter=_retry_policy)
    rate_limit: float | None = attrs.field(default=_UNRESOLVED, converter=_rate_limit)
    verify: bool | str = attrs.field(default=_UNRESOLVED, converter=_verify)
    concurrency: int = attrs.field(default=_UNRESOLVED, converter=_concurrency)
    prepare: PrepareOptions = attrs.field(default=_UNRESOLVED, converter=_prepare_options)


class ClientOptions(TypedDict, total=False):
    """The keyword arguments of :class:`RedoClient` and :meth:`RedoClient.with_options`.

    One key per field of :class:`ClientSettings` (see there for what each
    means), each also taking :data:`NOT_GIVEN`: "the environment or the
    default" for ``RedoClient``, "unchanged" for ``with_options``.
    """

    store_id: str | NotGiven
    api_key: str | NotGiven
    base_url: str | NotGiven
    timeout: Timeout | float | tuple[float, float] | NotGiven
    retry: RetryPolicy | NotGiven
    rate_limit: float | NotGiven | None
    verify: bool | str | os.PathLike[str] | NotGiven
    concurrency: int | NotGiven
    prepare: PrepareOptions | NotGiven


def _evolve(settings: ClientSettings, changes: ClientOptions) -> ClientSettings:
    given: dict[str, Any] = {k: v for k, v in changes.items() if not isinstance(v, NotGiven)}
    return attrs.evolve(settings, **given) if given else settings


def _checked_transport(transport: object) -> Transport:
    if not isinstance(transport, Transport):
        raise ConfigurationError(
            f"transport must have a request(Request) -> Response method, "
            f"got {type(transport).__name__}"
        )
    return transport


def _valid_store_id(value: object) -> str:
    from redo_kit._rules import is_store_id

    if not isinstance(value, str) or not is_store_id(value):
        shown = repr(value) if isinstance(value, str) and len(value) <= 80 else type(value).__name__
        raise ConfigurationError(
            f"store_id {shown} is not a Redo store id under the spec's StoreId pattern: "
            "letters, digits, '_' or '-' (for example 64e5a8a1af49a89df37e4ee7)"
        )
    return value


def _valid_api_key(value: object) -> str:
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
    return value


def _valid_base_url(value: object) -> str:
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


class RedoClient:
    """A client for one Redo store.

    ``settings``: a ready :class:`ClientSettings`; the keyword arguments
    (:class:`ClientOptions`: ``store_id``, ``api_key``, ``base_url``,
    ``timeout``, ``retry``, ``rate_limit``, ``verify``, ``concurrency``,
    ``prepare``) make one, or change the given one. Each is resolved once, here:
    the argument, then ``REDO_STORE_ID``/``REDO_API_KEY``/``REDO_BASE_URL``,
    then the default (see :class:`ClientSettings`).
    ``transport``: where requests go; default a :class:`~redo_kit._transport.Urllib3Transport`
    (with ``verify``) that this client owns and closes. A given transport is
    never closed here.

    Thread-safe: share one client across threads. Use it as a context
    manager, or call :meth:`close`.
    """

    def __init__(
        self,
        *,
        settings: ClientSettings | None = None,
        transport: Transport | NotGiven = NOT_GIVEN,
        plan: TrackingPlan | None = None,
        **options: Unpack[ClientOptions],
    ) -> None:
        _logging.configure_from_env()
        if settings is None:
            settings = ClientSettings(**options)
        elif not isinstance(settings, ClientSettings):
            raise ConfigurationError(
                f"settings must be a ClientSettings, not {type(settings).__name__}"
            )
        else:
            settings = _evolve(settings, options)
        if plan is not None:
            # A shortcut for prepare=PrepareOptions(plan=plan): the plan travels there.
            settings = attrs.evolve(settings, prepare=attrs.evolve(settings.prepare, plan=plan))
        if isinstance(transport, NotGiven):
            self._init(settings, Urllib3Transport(verify=settings.verify), owns_transport=True)
        else:
            self._init(settings, _checked_transport(transport), owns_transport=False)

    def _init(self, config: ClientSettings, transport: Transport, *, owns_transport: bool) -> None:
        self._config = config
        self._transport = transport
        self._owns_transport = owns_transport
        self._closed = False
        self._lock = threading.Lock()
        store = urllib.parse.quote(config.store_id, safe="")
        self._urls = {
            SINGLE: f"{config.base_url}/stores/{store}/events",
            BULK: f"{config.base_url}/stores/{store}/events/bulk",
        }
        self._paths = {name: urllib.parse.urlsplit(url).path for name, url in self._urls.items()}

    # -- configuration -------------------------------------------------------

    @property
    def settings(self) -> ClientSettings:
        """Every setting of this client, as one immutable value."""
        return self._config

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
        transport: Transport | NotGiven = NOT_GIVEN,
        **changes: Unpack[ClientOptions],
    ) -> RedoClient:
        """A new client with these settings changed; this one is left as it is.

        The settings are ``attrs.evolve(client.settings, **changes)``: checked
        like the client's own, and never read from the environment again.
        The copy shares this client's connection pool (unless ``transport`` is
        given or ``verify`` changes) and does not close it: close the original
        when done.
        """
        old = self._config
        settings = _evolve(old, changes)
        copy = RedoClient.__new__(RedoClient)
        if not isinstance(transport, NotGiven):
            copy._init(settings, _checked_transport(transport), owns_transport=False)
        elif settings.verify != old.verify:
            copy._init(settings, Urllib3Transport(verify=settings.verify), owns_transport=True)
        else:
            copy._init(settings, self._transport, owns_transport=False)
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

    def batcher(
        self,
        *,
        outbox: str | os.PathLike[str] | Outbox | None = None,
        flush_interval: float = 0.5,
        delivery_timeout: float = 600.0,
        max_events: int | None = None,
        max_bytes: int | None = None,
        overflow: Overflow = "block",
        block_timeout: float = 1.0,
        on_drop: OnDrop | None = None,
        on_error: OnError | None = None,
        dead_letter: str | os.PathLike[str] | None = None,
        senders: int = 8,
        exit_timeout: float = 5.0,
        handle_sigterm: bool = True,
        relay: bool | None = None,
        options: PrepareOptions | None = None,
        allow_unknown_keys: bool | None = None,
        default_region: str | None = None,
        move_nested_to_extra: bool | None = None,
        plan: TrackingPlan | None = None,
    ) -> Batcher:
        """A background :class:`~redo_kit._batcher.Batcher` sending through this client.

        The arguments are ``Batcher``'s, with the same defaults (see there);
        events are prepared with this client's ``settings.prepare`` unless
        ``options`` is given.
        """
        from redo_kit._batcher import Batcher

        return Batcher(
            self,
            outbox=outbox,
            flush_interval=flush_interval,
            delivery_timeout=delivery_timeout,
            max_events=max_events,
            max_bytes=max_bytes,
            overflow=overflow,
            block_timeout=block_timeout,
            on_drop=on_drop,
            on_error=on_error,
            dead_letter=dead_letter,
            senders=senders,
            exit_timeout=exit_timeout,
            handle_sigterm=handle_sigterm,
            relay=relay,
            options=options,
            allow_unknown_keys=allow_unknown_keys,
            default_region=default_region,
            move_nested_to_extra=move_nested_to_extra,
            plan=plan,
        )

    # -- sending -------------------------------------------------------------

    def prepare(
        self,
        event: Any,
        *,
        unique_id: str | None = None,
        options: PrepareOptions | None = None,
        allow_unknown_keys: bool | None = None,
        default_region: str | None = None,
        move_nested_to_extra: bool | None = None,
    ) -> PreparedEvent:
        """``event`` exactly as :meth:`send` would put it on the wire; nothing is sent.

        Built, cleaned, validated and serialized with this client's
        ``settings.prepare`` (or ``options``, and the keywords that override
        its fields), its ``uniqueId`` fixed. A prepared event is returned as
        it is (a different ``unique_id`` prepares its payload again). Sending
        the result twice, after a timeout for instance, stores it once.
        Raises :class:`~redo_kit._errors.ValidationError` when it is invalid.
        """
        return _prepare(
            event,
            self._config.prepare if options is None else options,
            unique_id=unique_id,
            allow_unknown_keys=allow_unknown_keys,
            default_region=default_region,
            move_nested_to_extra=move_nested_to_extra,
        )

    def send(
        self,
        event: Any,
        *,
        unique_id: str | None = None,
        options: PrepareOptions | None = None,
        allow_unknown_keys: bool | None = None,
        default_region: str | None = None,
        move_nested_to_extra: bool | None = None,
    ) -> SendResult:
        """Send one event through the single-event endpoint.

        ``event``: a wire dict, a generated model or a prepared event (sent
        as it is). ``unique_id``: as for :func:`redo_kit._events.prepare_event`.
        ``options``: the :class:`~redo_kit._events.PrepareOptions` to prepare
        it with; default this client's ``settings.prepare``. The other
        keywords override single fields of ``options`` (``None``: keep them).
        Raises :class:`~redo_kit._errors.ValidationError` (nothing sent) when
        the event is invalid, and an :class:`~redo_kit._errors.APIError`
        subclass when the API refuses it or retries run out.
        """
        prepared = self.prepare(
            event,
            unique_id=unique_id,
            options=options,
            allow_unknown_keys=allow_unknown_keys,
            default_region=default_region,
            move_nested_to_extra=move_nested_to_extra,
        )
        sent = self.send_batch(Batch(endpoint=SINGLE, events=(prepared,), body=prepared.body))
        return SendResult(
            unique_ids=(prepared.unique_id,),
            requests=sent.requests,
            retries=sent.retries,
            rate_limited=sent.rate_limited,
            warnings=tuple(prepared.warnings),
        )

    def send_chunk(self, prepared: Sequence[PreparedEvent]) -> SendResult:
        """Send already prepared events as one bulk request, within the spec's limits.

        The spec in use says how many events and bytes a request carries (1
        to 100 and 5 MB in the shipped one). Paced and retried like every
        request; raises the typed error when the request fails for good.
        Does not deduplicate.
        """
        from redo_kit._rules import limits

        rules = limits()
        fewest, most = rules.bulk_events
        if not fewest <= len(prepared) <= most:
            raise ConfigurationError(
                f"prepared holds {len(prepared)} events: a bulk request carries {fewest} to "
                f"{most} events (send_bulk splits any number)"
            )
        batch = Batch(endpoint=BULK, events=tuple(prepared), body=bulk_body(prepared))
        if len(batch.body) > rules.max_body_bytes:
            raise ConfigurationError(
                f"prepared makes a bulk request of {len(batch.body):,} bytes, over the "
                f"{rules.max_body_bytes:,} limit: send fewer events at once (send_bulk splits them)"
            )
        sent = self.send_batch(batch)
        return SendResult(
            unique_ids=tuple(p.unique_id for p in prepared),
            requests=sent.requests,
            retries=sent.retries,
            rate_limited=sent.rate_limited,
        )

    def send_batch(self, batch: Batch) -> Sent:
        """Post one request the delivery engine packed; the :class:`Sender` protocol.

        Paced and retried by this client's policy; raises the typed
        :class:`~redo_kit._errors.APIError` (with ``error.result`` counting
        the attempts) when the request fails for good.
        """
        tally = _Tally()
        try:
            response = self._post(batch.endpoint, batch.body, tally, events=len(batch.events))
        except APIError as exc:
            exc.result = tally.failed_result()
            raise
        return Sent(
            body=response.body,
            requests=tally.requests,
            retries=tally.retries,
            rate_limited=tally.rate_limited,
        )

    def retryable(self, error: APIError) -> bool:
        """Whether a later request may get past ``error``, by this client's retry policy.

        No HTTP answer (refused, reset, timed out) and the policy's statuses
        (408, 429, 5xx by default) are; a refusal of the request itself
        (400, 401, 403, 404, 413, 422) and a 2xx that is not Redo's answer
        are not.
        """
        policy = self._config.retry
        if isinstance(error, APIStatusError):
            return policy.retries_status(error.status)
        return isinstance(error, APIConnectionError)

    def send_bulk(
        self,
        events: Iterable[Any],
        *,
        options: PrepareOptions | None = None,
        allow_unknown_keys: bool | None = None,
        default_region: str | None = None,
        move_nested_to_extra: bool | None = None,
    ) -> BulkResult:
        """Send any number of events through the bulk endpoint, streaming ``events``.

        Each event is prepared on its own, with ``options`` and the keywords
        that override its fields, as for :meth:`send`: an invalid one is never sent
        and is reported in ``rejections``; one whose ``uniqueId`` came earlier
        in this call is skipped and reported in ``duplicates``. The rest go
        out in requests of at most the spec's number of events and bytes (100
        and 5 MB in the shipped spec), up to ``concurrency`` at a time; an
        event too large to share a request goes alone through the
        single-event endpoint. When a bulk answer carries Redo's per-event
        report, the events it says were rejected are in ``rejections`` with
        the server's reason, not in ``unique_ids``.

        When a request fails for good, no new request starts and no more input
        is read; requests in flight finish, and the typed error is raised with
        ``error.result``: a :class:`BulkResult` of what was delivered, whose
        ``failed`` lists every ``uniqueId`` read but not delivered. Events not
        yet read from ``events`` stay in the iterator.
        """
        run = BulkRun(
            self._config.prepare if options is None else options,
            allow_unknown_keys=allow_unknown_keys,
            default_region=default_region,
            move_nested_to_extra=move_nested_to_extra,
        )

        def jobs() -> Iterator[Job[None]]:
            for event in events:
                run.add(event)
                while run.ready:
                    yield Job(batch=run.take(), context=None)
            run.finish()
            while run.ready:
                yield Job(batch=run.take(), context=None)

        def settle(job: Job[None], outcome: Outcome | None) -> None:
            if outcome is not None:
                run.settle(outcome)

        deliver(jobs(), self, settle, concurrency=self._config.concurrency)
        return run.result()

    # -- internals -----------------------------------------------------------

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
                    if not _is_api_body(response.body):
                        raise _unexpected(response, self._urls[endpoint], config.base_url)
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
                    # The caller gets the error (a batcher retries it later): no warning here.
                    log.info(
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


def _is_api_body(body: bytes) -> bool:
    """Whether a 2xx body can be Redo's: empty (its 202), or JSON (a bulk report)."""
    if not body.strip():
        return True
    try:
        orjson.loads(body)
    except orjson.JSONDecodeError:
        return False
    return True


def _unexpected(response: Response, url: str, base_url: str) -> UnexpectedResponseError:
    content_type = response.header("content-type")
    kind = f" of {content_type}" if content_type else ""
    return UnexpectedResponseError(
        f"POST {url} answered {response.status} with {len(response.body):,} bytes{kind} that "
        f"are not Redo's answer (202, no body): is base_url {base_url!r} right? The events "
        "were not counted as delivered",
        status=response.status,
        content_type=content_type,
        url=url,
    )


def _scrub(value: Any, secret: str) -> Any:
    """``value`` (parsed JSON from the API) with ``secret`` redacted from every string and key."""
    from redo_kit._json import walk

    return walk(value, strings=lambda text: text.replace(secret, "[redacted]")).value


def _prepare(
    event: Any,
    options: PrepareOptions,
    *,
    unique_id: str | None = None,
    allow_unknown_keys: bool | None = None,
    default_region: str | None = None,
    move_nested_to_extra: bool | None = None,
) -> PreparedEvent:
    from redo_kit._events import PreparedEvent, prepare_event

    if isinstance(event, PreparedEvent):
        if unique_id is None or unique_id == event.unique_id:
            return event
        # As Batcher.track does: a different uniqueId is refused, never ignored.
        event = event.payload
    return prepare_event(
        event,
        options=options,
        unique_id=unique_id,
        allow_unknown_keys=allow_unknown_keys,
        default_region=default_region,
        move_nested_to_extra=move_nested_to_extra,
    )


def _raw_unique_id(event: Any) -> str | None:
    unique = event.get("uniqueId") if isinstance(event, dict) else getattr(event, "unique_id", None)
    return unique if isinstance(unique, str) else None
