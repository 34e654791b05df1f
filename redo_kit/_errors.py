"""Every error redo-kit raises, under one root.

    RedoError
    ├── ConfigurationError        a bad argument or environment variable (also a ValueError)
    │   └── PlanError             a tracking plan file is not usable: every fault with its line
    ├── ValidationError           an event broke the spec's rules; nothing was sent (also a
    │                             ValueError)
    ├── ConversionError           a Python value cannot be written to the wire (naive datetime,
    │                             NaN) (also a ValueError)
    ├── QueueFullError            a batcher's queue is full and its overflow policy is "raise"
    ├── OutboxError               a durable outbox's file cannot be opened, read or written
    ├── KlaviyoFormatError        a payload is none of Klaviyo's event shapes (also a ValueError;
    │                             from redo_kit.klaviyo)
    ├── MockTransportExhausted    a MockTransport got more requests than scripted responses
    │                             (also an AssertionError, so a test fails; in redo_kit._transport)
    └── APIError                  something went wrong talking to the API
        ├── APIConnectionError    the request never got an HTTP answer
        │   └── APITimeoutError   connect or read timeout
        ├── DeliveryTimeoutError  a batcher's retryable failures outlasted its delivery
        │                         budget (``delivery_timeout``); the last one is ``__cause__``
        ├── UnexpectedResponseError   a 2xx whose body is not the API's (an HTML page: the
        │                             wrong base URL); nothing counts as delivered
        └── APIStatusError        the API answered with a non-2xx status
            ├── BadRequestError           400
            ├── AuthenticationError       401
            ├── PermissionDeniedError     403
            ├── NotFoundError             404
            ├── PayloadTooLargeError      413
            ├── UnsupportedMediaTypeError 415
            ├── UnprocessableEntityError  422
            ├── RateLimitError            429 (``retry_after`` in seconds)
            └── InternalServerError       5xx

Status errors are built by :func:`make_status_error` only. Transport exceptions
(urllib3's) are always wrapped and chained as ``__cause__``. No message, repr or
attribute of these errors ever holds an API key.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import attrs

if TYPE_CHECKING:
    from redo_kit._events import PreparedEvent

__all__ = [
    "APIConnectionError",
    "APIError",
    "APIStatusError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "ConfigurationError",
    "ConversionError",
    "DeliveryTimeoutError",
    "InternalServerError",
    "KlaviyoFormatError",
    "NotFoundError",
    "OutboxError",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "PlanError",
    "Problem",
    "QueueFullError",
    "RateLimitError",
    "RedoError",
    "UnexpectedResponseError",
    "UnprocessableEntityError",
    "UnsupportedMediaTypeError",
    "ValidationError",
    "make_status_error",
]


@attrs.frozen(kw_only=True)
class Problem:
    """One broken rule, located by its wire path.

    ``path`` is a JSONPath into the wire payload (``$.customer.phoneNumber``,
    ``$.events[3].data.Total``), ``rule`` a stable identifier of the rule
    (``format``, ``required``, ``unknown-key``, ``ignored-value`` ...),
    ``message`` what is wrong and ``hint`` how to fix it. ``severity`` is
    ``"error"`` (the API would refuse or drop the event) or ``"warning"`` (the
    API accepts it but does something the caller may not expect, such as
    dropping an ignored value).
    """

    path: str
    rule: str
    message: str
    hint: str = ""
    severity: str = "error"

    def __str__(self) -> str:
        text = f"{self.path}: {self.message} [{self.rule}]"
        return f"{text} — {self.hint}" if self.hint else text

    def to_dict(self) -> dict[str, str]:
        """The problem as a JSON-ready dict, as written in reports and problem+json bodies."""
        out = {"path": self.path, "rule": self.rule, "message": self.message}
        if self.hint:
            out["hint"] = self.hint
        if self.severity != "error":
            out["severity"] = self.severity
        return out


class RedoError(Exception):
    """The root of every error redo-kit raises."""


class ConfigurationError(RedoError, ValueError):
    """An argument or setting is missing or malformed.

    The message names the argument (and the environment variable it came
    from, if it did), says what is wrong and how to fix it; it never holds
    the API key. Raised for every bad argument: a client's settings, a
    batcher's, a ``RetryPolicy``'s, a ``Timeout``'s, a pacing bucket's, a
    ``send_chunk`` of the wrong size.

    Also a ``ValueError``: these arguments raised plain ``ValueError`` before,
    so ``except ValueError`` written for them keeps working, and a wrong value
    is what ``ValueError`` means in Python.
    """


class PlanError(ConfigurationError):
    """A tracking plan that cannot be used; ``problems`` names each fault, its line and the fix.

    ``source`` is where the plan was read from (a path, or ``"<plan>"``).
    """

    def __init__(self, source: str, problems: Sequence[Problem]) -> None:
        self.source = source
        self.problems = tuple(problems)
        listed = "\n".join(f"  {p}" for p in self.problems)
        super().__init__(f"{source} is not a usable tracking plan:\n{listed}")


class ConversionError(RedoError, ValueError):
    """A Python value cannot be written to the wire or read from it.

    ``problems`` holds every failure, each with its wire path.
    """

    def __init__(self, message: str, problems: Sequence[Problem] = ()) -> None:
        super().__init__(message)
        self.problems: tuple[Problem, ...] = tuple(problems)


class ValidationError(RedoError, ValueError):
    """An event breaks the spec's rules. ``problems`` lists every one, not the first only."""

    def __init__(self, problems: Iterable[Problem], *, subject: str = "event") -> None:
        self.problems: tuple[Problem, ...] = tuple(problems)
        errors = [p for p in self.problems if p.severity == "error"]
        shown = "\n".join(f"  - {p}" for p in errors[:20])
        more = f"\n  ... and {len(errors) - 20} more" if len(errors) > 20 else ""
        noun = "problem" if len(errors) == 1 else "problems"
        super().__init__(f"invalid {subject}: {len(errors)} {noun}\n{shown}{more}")

    @property
    def errors(self) -> tuple[Problem, ...]:
        """The problems that make the event invalid (warnings left out)."""
        return tuple(p for p in self.problems if p.severity == "error")


class QueueFullError(RedoError):
    """``Batcher.track`` found the queue full and the overflow policy is ``raise``.

    The event was not queued and is not counted as dropped: the caller still
    holds it. ``event`` is the prepared event.
    """

    def __init__(self, message: str, event: PreparedEvent) -> None:
        super().__init__(message)
        self.event = event


class OutboxError(RedoError):
    """A durable outbox cannot be used: its file is not an outbox, or reading or writing it failed.

    The message names the file and says what to do; the SQLite error, when
    there is one, is chained as ``__cause__``. Raised by ``put`` (the event
    was not stored: the caller still holds it), by ``lease``, ``ack``,
    ``release`` and ``size``, by opening the file, and by any use of an
    outbox handle inherited through ``os.fork`` (use ``fork_child()``).
    """

    def __init__(self, message: str, *, path: str) -> None:
        super().__init__(message)
        self.path = path


class KlaviyoFormatError(RedoError, ValueError):
    """A payload given to ``redo_kit.klaviyo`` is none of the Klaviyo shapes it reads.

    The message says which shape was expected and what was found;
    ``problems`` locates it (``$.data.type``). Only the envelope raises: a
    field that cannot be converted inside a recognized payload is reported
    on its event instead, so the other events of a bulk job still convert.
    Also a ``ValueError``: the payload is a wrong value.
    """

    def __init__(self, message: str, problems: Sequence[Problem] = ()) -> None:
        super().__init__(message)
        self.problems: tuple[Problem, ...] = tuple(problems)


class APIError(RedoError):
    """A request to the API failed.

    ``result`` is set when a ``RedoClient`` call failed: for ``send_bulk``, a
    ``BulkResult`` of what was delivered before the failure, whose ``failed``
    lists the ``uniqueId``s that were not; for ``send`` and ``send_chunk``, a
    ``SendResult`` with no ``uniqueId`` and the attempts, retries and 429s it took.
    """

    result: Any = None


class APIConnectionError(APIError):
    """No HTTP answer: DNS, refused or reset connection, TLS failure."""


class APITimeoutError(APIConnectionError):
    """The connect or read timeout ran out."""


class DeliveryTimeoutError(APIError):
    """Events kept failing with retryable errors for longer than the delivery budget.

    Raised to a batcher's ``on_error`` (never from ``track``): the events
    were tried again and again, with backoff, for ``delivery_timeout``
    seconds from when they were tracked. ``__cause__`` is the last failure;
    ``elapsed`` the seconds since the oldest event was tracked.
    """

    def __init__(self, message: str, *, elapsed: float) -> None:
        super().__init__(message)
        self.elapsed = elapsed


class UnexpectedResponseError(APIError):
    """A 2xx answer whose body is neither empty nor JSON: not Redo's API.

    Redo answers 202 with no body; a page of HTML with 200 is what a wrong
    ``base_url`` (a proxy, a login page, a web server) sends back. The
    request's events are not counted as delivered. Carries ``status``,
    ``content_type`` and ``url``; never retried, since the same address would
    answer the same.
    """

    def __init__(self, message: str, *, status: int, content_type: str | None, url: str) -> None:
        super().__init__(message)
        self.status = status
        self.content_type = content_type
        self.url = url


class APIStatusError(APIError):
    """The API answered with a non-2xx status.

    Carries ``status``, the RFC 7807 fields (``type``, ``title``, ``detail``,
    ``instance``), the parsed ``body`` (a dict for problem+json, else ``None``),
    ``problems`` listed by the server, and the ``request_id`` when the response
    named one.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int,
        body: Mapping[str, Any] | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.body: Mapping[str, Any] | None = body
        self.request_id = request_id
        fields = body or {}
        self.type: str = str(fields.get("type", "about:blank"))
        self.title: str | None = _optional_str(fields.get("title"))
        self.detail: str | None = _optional_str(fields.get("detail"))
        self.instance: str | None = _optional_str(fields.get("instance"))
        self.problems: tuple[Problem, ...] = _problems_from(fields.get("errors"))


class BadRequestError(APIStatusError):
    """400: the body broke a rule. Fix the payload; retrying sends the same mistake."""


class AuthenticationError(APIStatusError):
    """401: the API key is missing or wrong. Check REDO_API_KEY (Redo: Settings > API Keys)."""


class PermissionDeniedError(APIStatusError):
    """403: the key may not write events to this store (needs ``customer_events_write``)."""


class NotFoundError(APIStatusError):
    """404: no such store, or the base URL points at the wrong place."""


class PayloadTooLargeError(APIStatusError):
    """413: the request body is over the API's size limit (5 MB per event)."""


class UnsupportedMediaTypeError(APIStatusError):
    """415: the request was not sent as application/json."""


class UnprocessableEntityError(APIStatusError):
    """422: the body was well-formed but could not be processed."""


class RateLimitError(APIStatusError):
    """429: over 100 requests/s for this store. ``retry_after`` is in seconds, when sent."""

    def __init__(
        self,
        message: str,
        *,
        status: int = 429,
        body: Mapping[str, Any] | None = None,
        request_id: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, status=status, body=body, request_id=request_id)
        self.retry_after = retry_after


class InternalServerError(APIStatusError):
    """5xx: the API failed. Retried automatically; raised once retries run out."""


_BY_STATUS: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    413: PayloadTooLargeError,
    415: UnsupportedMediaTypeError,
    422: UnprocessableEntityError,
    429: RateLimitError,
}


def make_status_error(
    status: int,
    *,
    body: Mapping[str, Any] | None = None,
    request_id: str | None = None,
    retry_after: float | None = None,
    method: str = "POST",
    path: str = "",
) -> APIStatusError:
    """Build the error class that matches ``status``, with a message that says what to do.

    ``path`` must be the request path only: never a URL with credentials.
    """
    cls = _BY_STATUS.get(status)
    if cls is None:
        cls = InternalServerError if status >= 500 else APIStatusError
    fields = body or {}
    summary = _optional_str(fields.get("detail")) or _optional_str(fields.get("title")) or ""
    message = f"{method} {path} answered {status}" if path else f"API answered {status}"
    if summary:
        message += f": {summary}"
    if cls.__doc__:
        message += f" ({cls.__doc__.splitlines()[0]})"
    if request_id:
        message += f" [request id {request_id}]"
    if cls is RateLimitError:
        return RateLimitError(
            message, status=status, body=body, request_id=request_id, retry_after=retry_after
        )
    return cls(message, status=status, body=body, request_id=request_id)


def _optional_str(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _problems_from(items: object) -> tuple[Problem, ...]:
    if not isinstance(items, list):
        return ()
    found = []
    for item in items:
        if isinstance(item, Mapping):
            found.append(
                Problem(
                    path=str(item.get("path", "$")),
                    rule=str(item.get("rule", "")),
                    message=str(item.get("message", "")),
                    hint=str(item.get("hint", "")),
                    severity=str(item.get("severity", "error")),
                )
            )
    return tuple(found)
