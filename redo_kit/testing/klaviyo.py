"""Hypothesis strategies for Klaviyo payloads: Track bodies, Create Event bodies, bulk jobs.

They draw what a Klaviyo export or a Klaviyo call site holds: mostly values
Klaviyo accepts (emails, E.164 and national phone numbers, UNIX seconds, ISO
times, nested properties, ``0`` and ``""``), with a share of what it would not
(wrong types, unknown keys, unreadable times), so that a converter meets both::

    from hypothesis import given
    from redo_kit import klaviyo
    from redo_kit.testing.klaviyo import klaviyo_payloads

    @given(klaviyo_payloads())
    def test_every_payload_converts_or_is_reported(payload):
        klaviyo.convert(payload)   # never raises

Needs the ``testing`` extra.
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from redo_kit.testing.strategies import emails, phone_numbers, property_names

__all__ = [
    "bulk_create_jobs",
    "create_event_bodies",
    "klaviyo_payloads",
    "profiles",
    "properties",
    "track_payloads",
]

_SCALARS: st.SearchStrategy[Any] = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**6), max_value=10**6),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
    st.text(max_size=12),
    st.sampled_from(["", 0, 0.0, "2024-04-02T12:00:00Z"]),
)
_JSON: st.SearchStrategy[Any] = st.recursive(
    _SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=6,
)
_NAMES = st.one_of(property_names(), st.sampled_from(["Items", "$extra", "$klaviyo", "Total"]))
_METRICS = st.one_of(
    st.sampled_from(["Placed Order", "Viewed Product", "Started Checkout", "Active on Site"]),
    st.text(max_size=10),
)
_PHONES = st.one_of(
    phone_numbers(), st.sampled_from(["(206) 555-0100", "206-555-0100", "+1 206 555 0100", "12"])
)
_TIMES: st.SearchStrategy[Any] = st.one_of(
    st.integers(min_value=946684800, max_value=2000000000),
    st.sampled_from(
        [
            "2026-04-02T12:00:00Z",
            "2026-04-02T12:00:00+02:00",
            "2026-04-02T12:00:00",
            "2026-04-02",
            "1712059200",
            "yesterday",
            1712059200.75,
            -1,
            10**20,
        ]
    ),
)
_COUNTRIES = st.sampled_from(["US", "us", "United States", "FR", "Atlantis", None])


def properties() -> st.SearchStrategy[dict[str, Any]]:
    """Event properties: scalars (``0``, ``""`` and ``null`` among them), arrays and objects."""
    return st.dictionaries(_NAMES, _JSON, max_size=5)


def _maybe(fields: dict[str, st.SearchStrategy[Any]]) -> st.SearchStrategy[dict[str, Any]]:
    """A dict holding a subset of ``fields``, each drawn from its strategy."""
    return st.fixed_dictionaries({}, optional=fields)


def _track_profile() -> st.SearchStrategy[dict[str, Any]]:
    named = _maybe(
        {
            "$email": st.one_of(emails(), st.just("not-an-email")),
            "$phone_number": _PHONES,
            "$id": st.one_of(st.text(min_size=1, max_size=8), st.integers(1, 10**6)),
            "$first_name": st.text(max_size=8),
            "$last_name": st.text(max_size=8),
            "$city": st.text(max_size=8),
            "$region": st.text(max_size=8),
            "$zip": st.text(max_size=6),
            "$country": _COUNTRIES,
            "$image": st.just("https://example.com/a.png"),
            "$consent": st.just(["email", "sms"]),
            "$organization": st.text(max_size=8),
            "$title": st.text(max_size=8),
        }
    )
    custom = st.dictionaries(property_names(), _JSON, max_size=3)
    return st.builds(lambda a, b: {**b, **a}, named, custom)


def track_payloads() -> st.SearchStrategy[dict[str, Any]]:
    """Legacy Track bodies: ``event``, ``customer_properties``, ``properties``, ``time``..."""
    props = st.builds(
        lambda base, special: {**base, **special},
        properties(),
        _maybe(
            {
                "$event_id": st.one_of(st.text(min_size=1, max_size=10), st.integers(0, 10**9)),
                "$value": st.one_of(st.floats(0, 10**4, width=32), st.integers(0, 10**4)),
            }
        ),
    )
    return st.builds(
        lambda required, rest: {**required, **rest},
        st.fixed_dictionaries({"event": _METRICS, "customer_properties": _track_profile()}),
        _maybe(
            {
                "properties": props,
                "time": _TIMES,
                "token": st.just("pk_abc123"),
                "unknown_key": _JSON,
            }
        ),
    )


def _location() -> st.SearchStrategy[dict[str, Any]]:
    degrees = st.one_of(st.floats(-90, 90), st.just("47.6062"), st.none())
    return _maybe(
        {
            "address1": st.text(max_size=10),
            "address2": st.one_of(st.text(max_size=10), st.none()),
            "city": st.text(max_size=8),
            "country": _COUNTRIES,
            "region": st.text(max_size=8),
            "zip": st.text(max_size=6),
            "timezone": st.sampled_from(["America/New_York", "Europe/Paris", "Not a zone"]),
            "latitude": degrees,
            "longitude": degrees,
            "ip": st.just("192.0.2.1"),
        }
    )


def profiles() -> st.SearchStrategy[dict[str, Any]]:
    """JSON:API profiles (``{"data": {"type": "profile", ...}}``) as Create Event takes them."""
    attributes = _maybe(
        {
            "email": st.one_of(emails(), st.just("nope")),
            "phone_number": _PHONES,
            "external_id": st.text(min_size=1, max_size=8),
            "first_name": st.text(max_size=8),
            "last_name": st.text(max_size=8),
            "organization": st.text(max_size=8),
            "locale": st.just("en-US"),
            "image": st.just("https://example.com/a.png"),
            "anonymous_id": st.text(max_size=8),
            "location": _location(),
            "properties": st.dictionaries(property_names(), _JSON, max_size=3),
        }
    )
    data = st.builds(
        lambda base, rest: {**base, **rest},
        st.fixed_dictionaries({"type": st.just("profile"), "attributes": attributes}),
        _maybe({"id": st.just("01GDDKASAP8TKDDA2GRZDSVP4H")}),
    )
    return st.builds(lambda d: {"data": d}, data)


def _metric() -> st.SearchStrategy[dict[str, Any]]:
    return st.builds(
        lambda name: {"data": {"type": "metric", "attributes": {"name": name}}}, _METRICS
    )


def _event_attributes(*, with_profile: bool) -> st.SearchStrategy[dict[str, Any]]:
    fields: dict[str, st.SearchStrategy[Any]] = {
        "properties": properties(),
        "time": _TIMES,
        "value": st.one_of(st.floats(0, 10**4, width=32), st.just("9.99")),
        "value_currency": st.sampled_from(["USD", "EUR", "usd", "XYZ"]),
        "unique_id": st.text(min_size=1, max_size=12),
        "backfill": st.booleans(),
    }
    required: dict[str, st.SearchStrategy[Any]] = {"metric": _metric()}
    if with_profile:
        required["profile"] = profiles()
    return st.builds(
        lambda base, rest: {**base, **rest}, st.fixed_dictionaries(required), _maybe(fields)
    )


def create_event_bodies() -> st.SearchStrategy[dict[str, Any]]:
    """Create Event bodies: ``{"data": {"type": "event", "attributes": {...}}}``."""
    return st.builds(
        lambda attributes: {"data": {"type": "event", "attributes": attributes}},
        _event_attributes(with_profile=True),
    )


def bulk_create_jobs() -> st.SearchStrategy[dict[str, Any]]:
    """Bulk Create Events jobs: a few profiles, each with one to three events."""
    event = st.builds(
        lambda attributes: {"type": "event", "attributes": attributes},
        _event_attributes(with_profile=False),
    )
    item = st.builds(
        lambda profile, events: {
            "type": "event-bulk-create",
            "attributes": {"profile": profile, "events": {"data": events}},
        },
        profiles(),
        st.lists(event, min_size=1, max_size=3),
    )
    return st.builds(
        lambda items: {
            "data": {
                "type": "event-bulk-create-job",
                "attributes": {"events-bulk-create": {"data": items}},
            }
        },
        st.lists(item, min_size=1, max_size=3),
    )


def klaviyo_payloads() -> st.SearchStrategy[dict[str, Any]]:
    """Any of the three shapes."""
    return st.one_of(track_payloads(), create_event_bodies(), bulk_create_jobs())
