"""The catalogue of Redo's rules: each written once, with its numbers read from the spec.

Every place that applies a rule (preparation, validation, identity, the
emulator's store and server, the importer, the CLI) calls the definition here:
its predicate, and the :class:`~redo_kit._errors.Problem` that reports it
(rule id, wire path, message, hint). No number or pattern is typed here: each
comes from the spec, through :func:`limits`, so that changing the spec moves
every user of it.

The rules, by id (the ``rule`` of every problem that reports them):

- ``ignored-value``: top-level data ``0``, ``null`` and ``""`` are not stored
  (``x-redo-ignored-values``); :func:`is_ignored`, :func:`ignored_value`.
- ``nested-data``: top-level data values are scalars; objects and arrays go
  under ``$extra`` (EventData); :func:`nested_data`.
- ``customer-identifier``: at least one of ``id``, ``email``, ``phoneNumber``
  (Customer ``anyOf``); :func:`no_identifier`.
- ``pattern`` on ``customer.id``: an ObjectId (Customer ``id.pattern``);
  :func:`is_object_id`, :func:`bad_object_id`.
- ``format`` on ``customer.email``: the spec's ``format: email``;
  :func:`bad_email`; emails match by :func:`email_key`
  (``x-redo-email-matching``).
- ``phone-number``: E.164 (Customer ``phoneNumber.pattern``).
- ``string-size``, ``event-size``, ``depth``: ``x-redo-size-limits``;
  :func:`string_size`, :func:`event_size`, :func:`too_deep`.
- ``json-type``, ``non-finite``, ``unicode``: what JSON cannot carry, and
  integers beyond ``x-redo-integer-limit``; reported by the walker
  (:mod:`redo_kit._json`).
- ``unknown-key``: top-level keys the API ignores
  (``x-redo-unknown-top-level-keys``).
- ``duplicate-unique-id``: the first event with a ``uniqueId`` wins
  (``x-redo-deduplication``); :func:`duplicate_unique_id`.
- the store id (``StoreId`` parameter), the bulk envelope (BulkEventsRequest
  ``minItems``/``maxItems``, ``x-redo-max-body-bytes``) and the rate limit
  (``x-redo-rate-limit`` of each operation): :class:`Limits`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import attrs

from redo_kit._errors import Problem
from redo_kit._spec import component, derived, document, wire_path

__all__ = [
    "EVENT_RULES",
    "EXTRA",
    "Limits",
    "bad_email",
    "bad_object_id",
    "duplicate_unique_id",
    "email_key",
    "event_size",
    "ignored_value",
    "is_ignored",
    "is_object_id",
    "is_store_id",
    "limits",
    "nested_data",
    "no_identifier",
    "string_size",
    "too_deep",
]

EXTRA = "$extra"
"""The data key for non-segmentable metadata, stored verbatim (``x-redo-extra``)."""

EVENT_RULES: frozenset[str] = frozenset(
    {
        "customer-identifier",
        "depth",
        "event-size",
        "ignored-value",
        "json-type",
        "nested-data",
        "non-finite",
        "string-size",
        "unicode",
        "unknown-key",
    }
)
"""The ids of this catalogue's rules that ``validate_event`` reports on one event.

Beside them it reports the keywords of the spec's schemas under their own
names (``required``, ``pattern``, ``maxProperties``...). ``duplicate-unique-id``
needs two events (a bulk body) and ``phone-number`` is reported when a number
is normalized, so neither is here.
"""

SINGLE = "/stores/{storeId}/events"
"""The single-event operation's path in the spec."""
BULK = "/stores/{storeId}/events/bulk"
"""The bulk operation's path in the spec."""


@attrs.frozen(kw_only=True)
class Limits:
    """Every number and pattern of the rules, read from one spec document."""

    max_event_bytes: int
    """Largest serialized event, bytes of UTF-8 JSON (Event ``x-redo-size-limits``)."""
    max_string_bytes: int
    """Largest string anywhere in an event, keys included, UTF-8 bytes (same)."""
    max_depth: int
    """Most levels of objects and arrays in an event, the event being level 1 (same)."""
    max_integer: int
    """Largest absolute value of an integer anywhere in an event (``x-redo-integer-limit``)."""
    max_properties: int
    """Most top-level properties of ``data`` (EventData ``maxProperties``)."""
    max_property_name: int
    """Longest property name of ``data``, characters (EventData ``propertyNames``)."""
    unique_id_length: tuple[int, int]
    """Fewest and most characters of a ``uniqueId`` (Event ``uniqueId``)."""
    bulk_events: tuple[int, int]
    """Fewest and most events of a bulk request (BulkEventsRequest ``events``)."""
    max_body_bytes: int
    """Largest request body on either endpoint (PayloadTooLarge ``x-redo-max-body-bytes``)."""
    rate_limits: dict[str, float] = attrs.field(eq=False)
    """Requests per second per store, by operation path (``x-redo-rate-limit``)."""
    store_id: re.Pattern[str]
    """A store id, as a whole (StoreId parameter ``pattern``)."""
    object_id: re.Pattern[str]
    """A Redo customer id, as a whole (Customer ``id.pattern``)."""
    phone_number: re.Pattern[str]
    """An E.164 phone number, as a whole (Customer ``phoneNumber.pattern``)."""
    email_trim: bool
    """Whether surrounding whitespace is ignored when emails are matched."""
    email_fold: Callable[[str], str] = attrs.field(eq=False)
    """The case folding emails are matched under (``x-redo-email-matching``)."""
    identifiers: tuple[str, ...]
    """The customer identifiers, in the order the API resolves by (Customer ``anyOf``)."""

    @property
    def rate_limit(self) -> float:
        """Requests per second per store on each endpoint (the lower of the two)."""
        return min(self.rate_limits.values())


_FOLDS: dict[str, Callable[[str], str]] = {"casefold": str.casefold, "lower": str.lower}


def _pattern(schema: dict[str, Any]) -> re.Pattern[str]:
    # The spec's patterns are anchored with ^...$; Python's $ also matches
    # before a final newline, so anchor with \Z instead.
    text = str(schema["pattern"])
    text = text[1:] if text.startswith("^") else text
    text = text[:-1] if text.endswith("$") else text
    return re.compile(rf"(?:{text})\Z", re.ASCII)


@derived
def limits() -> Limits:
    """The limits of the spec document in use (see :func:`redo_kit._spec.using`)."""
    event = component("Event")
    sizes = event["x-redo-size-limits"]
    data = component("EventData")
    unique = event["properties"]["uniqueId"]
    events = component("BulkEventsRequest")["properties"]["events"]
    customer = component("Customer")["properties"]
    matching = component("Customer")["x-redo-email-matching"]
    spec = document()
    fold = _FOLDS.get(str(matching["fold"]))
    if fold is None:
        raise ValueError(f"x-redo-email-matching fold {matching['fold']!r} is not one of {_FOLDS}")
    return Limits(
        max_event_bytes=int(sizes["maxEventBytes"]),
        max_string_bytes=int(sizes["maxStringBytes"]),
        max_depth=int(sizes["maxDepth"]),
        max_integer=int(event["x-redo-integer-limit"]["maximum"]),
        max_properties=int(data["maxProperties"]),
        max_property_name=int(data["propertyNames"]["maxLength"]),
        unique_id_length=(int(unique["minLength"]), int(unique["maxLength"])),
        bulk_events=(int(events["minItems"]), int(events["maxItems"])),
        max_body_bytes=int(
            spec["components"]["responses"]["PayloadTooLarge"]["x-redo-max-body-bytes"]
        ),
        rate_limits={
            path: float(spec["paths"][path]["post"]["x-redo-rate-limit"]["requests"])
            for path in (SINGLE, BULK)
        },
        store_id=_pattern(spec["components"]["parameters"]["StoreId"]["schema"]),
        object_id=_pattern(customer["id"]),
        phone_number=_pattern(customer["phoneNumber"]),
        email_trim=bool(matching["trim"]),
        email_fold=fold,
        identifiers=_identifiers(component("Customer")),
    )


def _identifiers(customer: dict[str, Any]) -> tuple[str, ...]:
    # "At least one of": the one allOf entry that is an anyOf of single
    # required fields, listed in the order x-redo-identity-resolution gives.
    for part in customer.get("allOf", []):
        options = part.get("anyOf", [])
        if options and all(len(option.get("required", [])) == 1 for option in options):
            return tuple(str(option["required"][0]) for option in options)
    raise ValueError("the Customer schema names no identifiers (allOf: [anyOf: [required]])")


# -- predicates ---------------------------------------------------------------


def is_ignored(value: object) -> bool:
    """Whether the API treats ``value`` as unset at the top level of data.

    True for ``None``, ``""`` and numbers equal to zero (``0``, ``0.0``,
    ``-0.0``, ``Decimal(0)``); never for ``False`` (``x-redo-ignored-values``).
    """
    cls = type(value)
    if cls is str or cls is int or cls is float:
        return not value
    if value is None:
        return True
    if isinstance(value, bool):
        return False
    if isinstance(value, str):
        return value == ""
    return isinstance(value, (int, float, Decimal)) and value == 0


def email_key(value: str) -> str:
    """The form two emails are compared in (``x-redo-email-matching``).

    ``email_key("Stewart@Example.com ") == email_key("stewart@example.com")``:
    the API treats them as one customer.
    """
    rules = limits()
    return rules.email_fold(value.strip() if rules.email_trim else value)


def is_object_id(value: object) -> bool:
    """Whether ``value`` is a Redo customer id under the spec's pattern (either case)."""
    return isinstance(value, str) and limits().object_id.match(value) is not None


def is_store_id(value: object) -> bool:
    """Whether ``value`` is a store id under the spec's StoreId pattern."""
    return isinstance(value, str) and limits().store_id.match(value) is not None


# -- problems -----------------------------------------------------------------


def ignored_value(key: str, shown: str, root: str = "$", *, dropped: bool) -> Problem:
    """``data[key]`` (``shown`` as JSON) is one of the values the API does not store."""
    if dropped:
        message = f'data[{key!r}] was dropped: the API treats 0, null and "" as unset'
        hint = "put it under data['$extra'] to keep it verbatim"
    else:
        message = f"data[{key!r}] is {shown}: the API treats it as unset and does not store it"
        hint = "omit it, or put it under data['$extra'] to keep it verbatim"
    return Problem(
        path=wire_path(["data", key], root),
        rule="ignored-value",
        message=message,
        hint=hint,
        severity="warning",
    )


def nested_data(key: str, kind: str, data_path: str = "$.data") -> Problem:
    """``data[key]`` is ``kind`` (``"an object"``, ``"an array"``): only ``$extra`` may nest."""
    return Problem(
        path=wire_path([key], data_path),
        rule="nested-data",
        message=(
            f"data[{key!r}] is {kind}: top-level data values must be a "
            "string, number, boolean or null"
        ),
        hint=(
            f"move it under '$extra' (data['$extra'][{key!r}]), where it is stored "
            "but not segmentable; clean_data(data, move_nested_to_extra=True) does it"
        ),
    )


def no_identifier(path: str = "$.customer") -> Problem:
    """The customer at ``path`` has none of the identifiers the API resolves by."""
    return Problem(
        path=path,
        rule="customer-identifier",
        message=f"customer needs at least one of {', '.join(limits().identifiers)}",
        hint=(
            "add customer.email, customer.phoneNumber (E.164, e.g. '+12065550100') "
            "or customer.id (the 24-hex-digit Redo customer id)"
        ),
    )


def bad_object_id(path: str, shown: str) -> Problem:
    """``shown`` (the value as JSON) is not a Redo customer id."""
    return Problem(
        path=path,
        rule="pattern",
        message=f"{shown} is not a Redo customer id (24 hexadecimal digits)",
        hint=(
            "customer.id is the Redo customer ObjectId, e.g. '665f1a2b3c4d5e6f7a8b9c0d'; "
            "identify by email or phoneNumber otherwise"
        ),
    )


def bad_email(path: str, shown: str) -> Problem:
    """``shown`` (the value as JSON) is not an email address under the spec's format."""
    return Problem(
        path=path,
        rule="format",
        message=f"{shown} is not a valid email address",
        hint="write an address such as 'name@example.com', without surrounding spaces",
    )


def string_size(path: str, size: int, *, is_key: bool) -> Problem:
    """A string (or key) of ``size`` UTF-8 bytes is over the limit."""
    what = "key" if is_key else "string"
    limit = limits().max_string_bytes
    return Problem(
        path=path,
        rule="string-size",
        message=f"this {what} is {size:,} bytes of UTF-8; the limit is {limit:,}",
        hint=f"shorten it; the API limits every string, keys included, to {limit:,} bytes",
    )


def event_size(path: str, size: int) -> Problem:
    """The serialized event is ``size`` bytes, over the limit."""
    limit = limits().max_event_bytes
    return Problem(
        path=path,
        rule="event-size",
        message=f"the event is {size:,} bytes of JSON; the limit is {limit:,}",
        hint="move bulky metadata out of the event; large blobs belong in your own storage",
    )


def too_deep(path: str) -> Problem:
    """The value at ``path`` nests deeper than the event may."""
    return Problem(
        path=path,
        rule="depth",
        message=(f"the event nests objects and arrays more than {limits().max_depth} levels deep"),
        hint="flatten data['$extra'], or keep deeply nested documents in your own storage",
    )


def duplicate_unique_id(root: str, unique: str, first: int) -> Problem:
    """The event at ``root`` repeats the ``uniqueId`` of ``$.events[first]``."""
    return Problem(
        path=f"{root}.uniqueId",
        rule="duplicate-unique-id",
        message=(
            f"uniqueId {unique!r} is also used by $.events[{first}]: "
            "the API stores the first and silently drops this one"
        ),
        hint="give every distinct event its own uniqueId",
        severity="warning",
    )
