"""Hypothesis strategies for Redo events: valid ones, and invalid ones tagged with their rule.

Every event from ``valid_events()`` passes ``redo_kit.validate_event`` with no
error, and every ``(event, rule, path)`` from ``invalid_events()`` breaks
exactly one rule, which ``validate_event`` reports as ``rule`` at ``path``::

    from hypothesis import given
    from redo_kit.testing.strategies import invalid_events, valid_events

    @given(valid_events())
    def test_my_handler_accepts_every_event(event):
        handle(event)

The strategies are written by hand from the spec (no hypothesis-jsonschema)
and kept small, so property tests stay fast. Needs the ``testing`` extra.
"""

from __future__ import annotations

import string
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

from hypothesis import strategies as st

from redo_kit._rules import limits
from redo_kit._spec import component, wire_path

__all__ = [
    "INVALID_CASES",
    "aware_datetimes",
    "customers",
    "emails",
    "event_data",
    "extra_values",
    "invalid_events",
    "locations",
    "object_ids",
    "phone_numbers",
    "property_names",
    "property_values",
    "rfc3339_datetimes",
    "valid_events",
]

_HEX = "0123456789abcdefABCDEF"
_LOCAL = string.ascii_letters + string.digits + "+_-"
_LABEL = string.ascii_lowercase + string.digits

# Country calling codes with the national significant number lengths that
# libphonenumber deems possible for them.
_PHONE_PLANS: tuple[tuple[str, int], ...] = (
    ("1", 10),  # US, CA
    ("44", 10),  # GB
    ("33", 9),  # FR
    ("49", 11),  # DE
    ("61", 9),  # AU
    ("81", 10),  # JP
    ("91", 10),  # IN
    ("55", 11),  # BR
    ("34", 9),  # ES
)
_DAYS = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def object_ids() -> st.SearchStrategy[str]:
    """Redo customer ids: 24 hexadecimal digits, in either case."""
    return st.text(alphabet=_HEX, min_size=24, max_size=24)


def emails() -> st.SearchStrategy[str]:
    """ASCII email addresses that the spec's ``format: email`` accepts."""
    atom = st.text(alphabet=_LOCAL, min_size=1, max_size=10)
    local = st.lists(atom, min_size=1, max_size=3).map(".".join)
    label = st.text(alphabet=_LABEL, min_size=1, max_size=10)
    hyphenated = st.tuples(label, label).map("-".join)
    domain = st.lists(st.one_of(label, hyphenated), min_size=1, max_size=3).map(".".join)
    tld = st.text(alphabet=string.ascii_lowercase, min_size=2, max_size=6)
    return st.builds(lambda lo, do, t: f"{lo}@{do}.{t}", local, domain, tld)


def _integers() -> st.SearchStrategy[int]:
    # Every integer the API stores exactly (x-redo-integer-limit).
    largest = limits().max_integer
    return st.integers(-largest, largest)


def phone_numbers() -> st.SearchStrategy[str]:
    """E.164 numbers that libphonenumber deems possible (``+12065550100``)."""
    return st.builds(
        lambda plan, first, rest: f"+{plan[0]}{first}{rest[: plan[1] - 1]}",
        st.sampled_from(_PHONE_PLANS),
        st.sampled_from("23456789"),
        st.text(alphabet=string.digits, min_size=10, max_size=10),
    )


def rfc3339_datetimes() -> st.SearchStrategy[str]:
    """Strings the spec detects as dates: every RFC 3339 ``date-time`` shape.

    Years 0000-9999, real calendar days (29 February only in leap years),
    ``T``/``t``, optional fractions of 1-9 digits, ``Z``/``z`` or offsets up to
    23:59, and leap seconds (``23:59:60`` in UTC).
    """

    @st.composite
    def build(draw: st.DrawFn) -> str:
        year = draw(st.integers(0, 9999))
        month = draw(st.integers(1, 12))
        leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
        last = _DAYS[month - 1] if month != 2 or leap else 28
        day = draw(st.integers(1, last))
        fraction = draw(st.one_of(st.just(""), st.text(string.digits, min_size=1, max_size=9)))
        fraction = f".{fraction}" if fraction else ""
        separator = draw(st.sampled_from("Tt"))
        if draw(st.integers(0, 15)) == 0:
            zone = draw(st.sampled_from(["Z", "z", "+00:00", "-00:00"]))
            return f"{year:04d}-{month:02d}-{day:02d}{separator}23:59:60{fraction}{zone}"
        hour = draw(st.integers(0, 23))
        minute = draw(st.integers(0, 59))
        second = draw(st.integers(0, 59))
        zone = draw(
            st.one_of(
                st.sampled_from(["Z", "z"]),
                st.builds(
                    lambda sign, h, m: f"{sign}{h:02d}:{m:02d}",
                    st.sampled_from("+-"),
                    st.integers(0, 23),
                    st.integers(0, 59),
                ),
            )
        )
        return (
            f"{year:04d}-{month:02d}-{day:02d}{separator}"
            f"{hour:02d}:{minute:02d}:{second:02d}{fraction}{zone}"
        )

    return build()


def aware_datetimes() -> st.SearchStrategy[datetime]:
    """Timezone-aware datetimes with fixed offsets up to ±23:59.

    From 1000-01-02 to 9999-12-30, so that every one has a UTC instant with a
    four-digit year.
    """
    offsets = st.integers(-(24 * 60 - 1), 24 * 60 - 1).map(
        lambda minutes: timezone(timedelta(minutes=minutes))
    )
    return st.datetimes(
        min_value=datetime(1000, 1, 2), max_value=datetime(9999, 12, 30), timezones=offsets
    )


def property_names() -> st.SearchStrategy[str]:
    """Top-level data keys: 1 to 30 characters, never ``$extra``."""
    return st.text(min_size=1, max_size=30).filter(lambda key: key != "$extra")


def property_values() -> st.SearchStrategy[Any]:
    """Every top-level data value the spec allows, the ignored ones included.

    Strings (dates among them), integers within the spec's limit, finite floats, booleans,
    ``None``, ``""``, ``0``, ``0.0`` and ``-0.0``.
    """
    return st.one_of(
        st.text(max_size=40),
        rfc3339_datetimes(),
        _integers(),
        st.floats(allow_nan=False, allow_infinity=False),
        st.booleans(),
        st.sampled_from([None, "", 0, 0.0, -0.0]),
    )


def extra_values() -> st.SearchStrategy[dict[str, Any]]:
    """``$extra`` objects: arbitrary nested JSON, ignored values included."""
    leaves = st.one_of(
        st.none(),
        st.booleans(),
        _integers(),
        st.floats(allow_nan=False, allow_infinity=False),
        st.text(max_size=20),
    )
    json = st.recursive(
        leaves,
        lambda inner: st.one_of(
            st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=10), inner, max_size=4)
        ),
        max_leaves=12,
    )
    return st.dictionaries(st.text(max_size=15), json, max_size=5)


def event_data() -> st.SearchStrategy[dict[str, Any]]:
    """``data`` objects: up to 12 scalar properties and sometimes ``$extra``."""
    scalars = st.dictionaries(property_names(), property_values(), max_size=12)
    return st.builds(
        lambda props, extra: {**props, "$extra": extra} if extra is not None else props,
        scalars,
        st.none() | extra_values(),
    )


def _custom_field_values() -> st.SearchStrategy[Any]:
    return st.one_of(
        st.text(max_size=30),
        rfc3339_datetimes(),
        _integers(),
        st.floats(allow_nan=False, allow_infinity=False),
        st.booleans(),
    )


def locations() -> st.SearchStrategy[dict[str, Any]]:
    """``customer.location`` objects with any subset of their fields."""
    zones = st.sampled_from(
        ["America/Los_Angeles", "Europe/Paris", "UTC", "Etc/GMT+5", "America/Argentina/Salta"]
    )
    return st.fixed_dictionaries(
        {},
        optional={
            "street1": st.text(max_size=30),
            "street2": st.text(max_size=30),
            "city": st.text(max_size=20),
            "state": st.text(max_size=20),
            "stateCode": st.text(max_size=3),
            "postalCode": st.text(max_size=10),
            "country": st.text(max_size=20),
            "countryCode": st.sampled_from(sorted(component("CountryCode")["enum"])),
            "ianaTimeZoneName": zones,
            "latitude": st.floats(-90, 90),
            "longitude": st.floats(-180, 180),
        },
    )


def customers() -> st.SearchStrategy[dict[str, Any]]:
    """Customers with at least one identifier and any profile fields."""
    identifiers = st.fixed_dictionaries(
        {}, optional={"id": object_ids(), "email": emails(), "phoneNumber": phone_numbers()}
    ).filter(bool)
    profile = st.fixed_dictionaries(
        {},
        optional={
            "firstName": st.text(max_size=20),
            "lastName": st.text(max_size=20),
            "location": locations(),
            "customFields": st.dictionaries(
                st.text(min_size=1, max_size=20), _custom_field_values(), max_size=6
            ),
        },
    )
    return st.builds(lambda ids, rest: {**ids, **rest}, identifiers, profile)


def valid_events() -> st.SearchStrategy[dict[str, Any]]:
    """Wire events the spec accepts, in every shape it allows."""
    return st.builds(
        lambda name, customer, rest: {"eventName": name, "customer": customer, **rest},
        st.text(min_size=1, max_size=30),
        customers(),
        st.fixed_dictionaries(
            {},
            optional={
                "eventTimestamp": rfc3339_datetimes(),
                "value": st.one_of(_integers(), st.floats(allow_nan=False, allow_infinity=False)),
                "valueCurrency": st.sampled_from(sorted(component("CurrencyCode")["enum"])),
                "uniqueId": st.text(min_size=1, max_size=255),
                "data": event_data(),
            },
        ),
    )


def invalid_events(
    cases: Sequence[str] | None = None,
) -> st.SearchStrategy[tuple[dict[str, Any], str, str]]:
    """``(event, rule, path)``: a valid event with exactly one rule broken.

    ``rule`` and ``path`` are what ``validate_event`` reports for it, e.g.
    ``("customer-identifier", "$.customer")`` or ``("nested-data", "$.data.Items")``.
    ``cases`` picks some of ``INVALID_CASES`` (default: all of them).
    """
    chosen = [_BREAKERS[name] for name in (cases if cases is not None else INVALID_CASES)]
    if not chosen:
        raise ValueError("invalid_events needs at least one case")
    return valid_events().flatmap(lambda event: st.one_of(*(b(event) for b in chosen)))


Broken = st.SearchStrategy[tuple[dict[str, Any], str, str]]


def _without(event: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in event.items() if k != key}


def _with_customer(event: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {**event, "customer": {**event["customer"], **fields}}


def _missing_event_name(event: dict[str, Any]) -> Broken:
    return st.just((_without(event, "eventName"), "required", "$.eventName"))


def _empty_event_name(event: dict[str, Any]) -> Broken:
    return st.just(({**event, "eventName": ""}, "minLength", "$.eventName"))


def _missing_customer(event: dict[str, Any]) -> Broken:
    return st.just((_without(event, "customer"), "required", "$.customer"))


def _no_identifier(event: dict[str, Any]) -> Broken:
    rest = {k: v for k, v in event["customer"].items() if k not in ("id", "email", "phoneNumber")}
    return st.just(({**event, "customer": rest}, "customer-identifier", "$.customer"))


def _bad_email(event: dict[str, Any]) -> Broken:
    bad = st.sampled_from(["stewart", "stewart@", "@example.com", "a..b@example.com", "a@b.c."])
    return bad.map(lambda e: (_with_customer(event, email=e), "format", "$.customer.email"))


def _bad_phone(event: dict[str, Any]) -> Broken:
    bad = st.sampled_from(["12065550100", "(206) 555-0100", "+0123456789", "+1234567890123456"])
    return bad.map(
        lambda p: (_with_customer(event, phoneNumber=p), "pattern", "$.customer.phoneNumber")
    )


def _bad_object_id(event: dict[str, Any]) -> Broken:
    bad = st.one_of(
        st.text(alphabet=_HEX, max_size=23),
        st.text(alphabet=_HEX, min_size=25, max_size=30),
        st.just("665f1a2b3c4d5e6f7a8b9c0g"),
    )
    return bad.map(lambda i: (_with_customer(event, id=i), "pattern", "$.customer.id"))


def _unknown_customer_key(event: dict[str, Any]) -> Broken:
    key = st.sampled_from(["phone", "name", "customer_id", "Email"])
    return key.map(lambda k: (_with_customer(event, **{k: "x"}), "unknown-key", f"$.customer.{k}"))


def _bad_country(event: dict[str, Any]) -> Broken:
    bad = st.sampled_from(["us", "USA", "XX", "United States"])
    return bad.map(
        lambda c: (
            _with_customer(event, location={"countryCode": c}),
            "enum",
            "$.customer.location.countryCode",
        )
    )


def _bad_latitude(event: dict[str, Any]) -> Broken:
    bad = st.floats(min_value=90, exclude_min=True, allow_nan=False, allow_infinity=False)
    return bad.map(
        lambda lat: (
            _with_customer(event, location={"latitude": lat}),
            "maximum",
            "$.customer.location.latitude",
        )
    )


def _null_custom_field(event: dict[str, Any]) -> Broken:
    return property_names().map(
        lambda k: (
            _with_customer(event, customFields={k: None}),
            "type",
            wire_path(["customer", "customFields", k]),
        )
    )


def _bad_currency(event: dict[str, Any]) -> Broken:
    bad = st.sampled_from(["usd", "Eur", "XXX", "US$", "dollars"])
    return bad.map(lambda c: ({**event, "valueCurrency": c}, "enum", "$.valueCurrency"))


def _bad_value_type(event: dict[str, Any]) -> Broken:
    bad = st.one_of(st.text(max_size=5), st.booleans(), st.just([1]))
    return bad.map(lambda v: ({**event, "value": v}, "type", "$.value"))


def _non_finite_value(event: dict[str, Any]) -> Broken:
    bad = st.sampled_from([float("nan"), float("inf"), float("-inf")])
    return bad.map(lambda v: ({**event, "value": v}, "non-finite", "$.value"))


def _bad_timestamp(event: dict[str, Any]) -> Broken:
    bad = st.sampled_from(
        [
            "2024-01-01",
            "2024-01-01 12:00:00Z",
            "2024-01-01T12:00:00",
            "2023-02-29T00:00:00Z",
            "2024-01-01T24:00:00Z",
            "2024-01-01T12:00:00+24:00",
            "yesterday",
        ]
    )
    return bad.map(lambda t: ({**event, "eventTimestamp": t}, "format", "$.eventTimestamp"))


def _bad_unique_id(event: dict[str, Any]) -> Broken:
    return st.one_of(
        st.just(({**event, "uniqueId": ""}, "minLength", "$.uniqueId")),
        st.text(alphabet="ab", min_size=256, max_size=300).map(
            lambda u: ({**event, "uniqueId": u}, "maxLength", "$.uniqueId")
        ),
    )


def _unknown_top_level_key(event: dict[str, Any]) -> Broken:
    key = st.sampled_from(["uniqueID", "event", "properties", "timestamp", "$event_id", "foo"])
    return key.map(lambda k: ({**event, k: "x"}, "unknown-key", wire_path([k])))


def _data(event: dict[str, Any]) -> dict[str, Any]:
    data = event.get("data")
    return dict(data) if isinstance(data, dict) else {}


def _nested_data(event: dict[str, Any]) -> Broken:
    nested = st.one_of(st.lists(st.integers(-1000, 1000), max_size=3), st.just({"tier": "gold"}))
    return st.tuples(property_names(), nested).map(
        lambda kv: (
            {**event, "data": {**_data(event), kv[0]: kv[1]}},
            "nested-data",
            wire_path(["data", kv[0]]),
        )
    )


def _extra_not_object(event: dict[str, Any]) -> Broken:
    bad = st.one_of(
        st.lists(st.integers(-1000, 1000), max_size=3),
        st.integers(-1000, 1000),
        st.text(max_size=5),
        st.booleans(),
    )
    return bad.map(
        lambda x: ({**event, "data": {**_data(event), "$extra": x}}, "type", "$.data['$extra']")
    )


def _too_many_properties(event: dict[str, Any]) -> Broken:
    data = {f"p{i}": i + 1 for i in range(401)}
    return st.just(({**event, "data": data}, "maxProperties", "$.data"))


def _empty_property_name(event: dict[str, Any]) -> Broken:
    return st.just(({**event, "data": {**_data(event), "": 1}}, "propertyNames", "$.data['']"))


def _string_too_large(event: dict[str, Any]) -> Broken:
    # Fewer characters than maxLength, more bytes than 100 KB: only the byte rule sees it.
    big = "é" * 51_201
    return property_names().map(
        lambda k: (
            {**event, "data": {**_data(event), k: big}},
            "string-size",
            wire_path(["data", k]),
        )
    )


def _event_too_large(event: dict[str, Any]) -> Broken:
    chunk = "x" * 100_000
    extra = {f"blob{i}": chunk for i in range(53)}
    return st.just(({**event, "data": {"$extra": extra}}, "event-size", "$"))


_BREAKERS: dict[str, Any] = {
    "missing-event-name": _missing_event_name,
    "empty-event-name": _empty_event_name,
    "missing-customer": _missing_customer,
    "no-identifier": _no_identifier,
    "bad-email": _bad_email,
    "bad-phone": _bad_phone,
    "bad-object-id": _bad_object_id,
    "unknown-customer-key": _unknown_customer_key,
    "bad-country-code": _bad_country,
    "latitude-out-of-range": _bad_latitude,
    "null-custom-field": _null_custom_field,
    "bad-currency": _bad_currency,
    "value-not-a-number": _bad_value_type,
    "value-not-finite": _non_finite_value,
    "bad-timestamp": _bad_timestamp,
    "bad-unique-id-length": _bad_unique_id,
    "unknown-top-level-key": _unknown_top_level_key,
    "nested-data": _nested_data,
    "extra-not-object": _extra_not_object,
    "too-many-properties": _too_many_properties,
    "empty-property-name": _empty_property_name,
    "string-too-large": _string_too_large,
    "event-too-large": _event_too_large,
}

INVALID_CASES: tuple[str, ...] = tuple(_BREAKERS)
"""The names of the ways ``invalid_events`` breaks an event, one rule each."""
