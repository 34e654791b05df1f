"""redo_kit.klaviyo: Klaviyo's three payload shapes as Redo events, and the fate of every field."""

from __future__ import annotations

import base64
import copy
import urllib.parse
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from helpers import emulator_client
from hypothesis import given, settings
from hypothesis import strategies as st

from redo_kit import (
    ConfigurationError,
    KlaviyoFormatError,
    RedoError,
    ValidationError,
    klaviyo,
    validate_event,
)
from redo_kit._spec import wire_path
from redo_kit.emulator import Emulator
from redo_kit.klaviyo import KlaviyoOptions
from redo_kit.testing.klaviyo import (
    bulk_create_jobs,
    create_event_bodies,
    klaviyo_payloads,
    track_payloads,
)

# -- Klaviyo's reference examples, written by hand from the reference pages ------------

TRACK = {
    "token": "PUBLIC_KEY",
    "event": "Ordered Product",
    "customer_properties": {
        "$email": "abraham.lincoln@klaviyo.com",
        "$first_name": "Abraham",
        "$last_name": "Lincoln",
        "$phone_number": "+13239169023",
        "$city": "Springfield",
        "$region": "IL",
        "$zip": "62701",
        "$country": "US",
    },
    "properties": {
        "$event_id": "1234_WINNIEPOOH",
        "$value": 9.99,
        "ProductName": "Winnie the Pooh",
        "Categories": ["Fiction", "Children"],
        "Quantity": 1,
    },
    "time": 1387302423,
}

CREATE_EVENT = {
    "data": {
        "type": "event",
        "attributes": {
            "properties": {"Brand": "Kids Book", "ProductID": 1111, "Categories": ["Fiction"]},
            "time": "2022-11-08T00:00:00Z",
            "value": 9.99,
            "value_currency": "USD",
            "unique_id": "4b5d3f33-2e21-4c1c-b392-2dae2a74a2ed",
            "metric": {"data": {"type": "metric", "attributes": {"name": "Viewed Product"}}},
            "profile": {
                "data": {
                    "type": "profile",
                    "id": "01GDDKASAP8TKDDA2GRZDSVP4H",
                    "attributes": {
                        "email": "sarah.mason@klaviyo-demo.com",
                        "phone_number": "+15005550006",
                        "external_id": "63f64a2b-c6bf-40c7-b81f-bed08162edbe",
                        "first_name": "Sarah",
                        "last_name": "Mason",
                        "organization": "Example Corporation",
                        "locale": "en-US",
                        "title": "Regional Manager",
                        "image": "https://images.pexels.com/photos/3760854/pexels-photo.jpeg",
                        "location": {
                            "address1": "89 E 42nd St",
                            "address2": "1st floor",
                            "city": "New York",
                            "country": "United States",
                            "latitude": "40.7128",
                            "longitude": "74.0060",
                            "region": "NY",
                            "zip": "10017",
                            "timezone": "America/New_York",
                            "ip": "127.0.0.1",
                        },
                        "properties": {"newKey": "New Value"},
                    },
                }
            },
        },
    }
}


def _bulk_event(name: str, unique: str, **properties: Any) -> dict[str, Any]:
    return {
        "type": "event",
        "attributes": {
            "properties": properties,
            "time": "2024-02-01T12:00:00Z",
            "unique_id": unique,
            "metric": {"data": {"type": "metric", "attributes": {"name": name}}},
        },
    }


BULK = {
    "data": {
        "type": "event-bulk-create-job",
        "attributes": {
            "events-bulk-create": {
                "data": [
                    {
                        "type": "event-bulk-create",
                        "attributes": {
                            "profile": {
                                "data": {
                                    "type": "profile",
                                    "attributes": {"email": "sarah.mason@klaviyo-demo.com"},
                                }
                            },
                            "events": {
                                "data": [
                                    _bulk_event("Viewed Product", "v-1", Product="Book"),
                                    _bulk_event("Added to Cart", "a-1", Product="Book"),
                                ]
                            },
                        },
                    },
                    {
                        "type": "event-bulk-create",
                        "attributes": {
                            "profile": {
                                "data": {
                                    "type": "profile",
                                    "attributes": {"phone_number": "+15005550006"},
                                }
                            },
                            "events": {"data": [_bulk_event("Placed Order", "p-1", Total=0)]},
                        },
                    },
                ]
            }
        },
    }
}


def _fates(conversion: klaviyo.Conversion) -> dict[str, tuple[str, str | None]]:
    """Klaviyo path -> (fate, target) of each report entry of a conversion."""
    return {
        p.path: (p.rule, getattr(p, "target", None))
        for p in conversion.report
        if p.rule in klaviyo.FATES
    }


def test_track_example_converts_to_the_redo_shape() -> None:
    result = klaviyo.from_track(TRACK)
    assert result.shape == "track"
    (conversion,) = result.conversions
    assert conversion.valid
    assert conversion.problems == ()
    assert conversion.event == {
        "eventName": "Ordered Product",
        "customer": {
            "email": "abraham.lincoln@klaviyo.com",
            "phoneNumber": "+13239169023",
            "firstName": "Abraham",
            "lastName": "Lincoln",
            "location": {
                "city": "Springfield",
                "state": "IL",
                "postalCode": "62701",
                "countryCode": "US",
            },
        },
        "data": {
            "ProductName": "Winnie the Pooh",
            "Quantity": 1,
            "$extra": {"Categories": ["Fiction", "Children"]},
        },
        "eventTimestamp": "2013-12-17T17:47:03Z",
        "value": 9.99,
        "uniqueId": "1234_WINNIEPOOH",
    }
    fates = _fates(conversion)
    assert fates["$.token"] == (klaviyo.DROPPED, None)
    assert fates["$.properties['$event_id']"] == (klaviyo.MAPPED, "$.uniqueId")
    assert fates["$.properties.Categories"] == (
        klaviyo.MOVED_TO_EXTRA,
        "$.data['$extra'].Categories",
    )
    assert validate_event(conversion.event) == []


def test_create_event_example_keeps_the_klaviyo_ids_out_of_customer_id() -> None:
    (conversion,) = klaviyo.convert(CREATE_EVENT).conversions
    assert conversion.valid, conversion.problems
    event = conversion.event
    assert event is not None
    customer = event["customer"]
    assert "id" not in customer
    assert customer["customFields"] == {
        "Klaviyo External Id": "63f64a2b-c6bf-40c7-b81f-bed08162edbe",
        "Organization": "Example Corporation",
        "Locale": "en-US",
        "Title": "Regional Manager",
        "newKey": "New Value",
    }
    assert customer["location"] == {
        "street1": "89 E 42nd St",
        "street2": "1st floor",
        "city": "New York",
        "country": "United States",
        "latitude": 40.7128,
        "longitude": 74.006,
        "state": "NY",
        "postalCode": "10017",
        "ianaTimeZoneName": "America/New_York",
    }
    assert event["uniqueId"] == "4b5d3f33-2e21-4c1c-b392-2dae2a74a2ed"
    assert event["valueCurrency"] == "USD"
    assert event["data"] == {
        "Brand": "Kids Book",
        "ProductID": 1111,
        "$extra": {"Categories": ["Fiction"]},
    }
    fates = _fates(conversion)
    base = "$.data.attributes.profile.data"
    assert fates[f"{base}.id"] == (klaviyo.DROPPED, None)
    assert fates[f"{base}.attributes.image"] == (klaviyo.DROPPED, None)
    assert fates[f"{base}.attributes.location.ip"] == (klaviyo.DROPPED, None)
    assert fates[f"{base}.attributes.external_id"] == (
        klaviyo.RENAMED,
        "$.customer.customFields['Klaviyo External Id']",
    )
    assert fates["$.data.type"] == (klaviyo.ENVELOPE, None)


def test_bulk_job_gives_one_event_per_klaviyo_event_with_its_profile() -> None:
    result = klaviyo.convert(BULK)
    assert result.shape == "bulk-create-job"
    assert [e["eventName"] for e in result.events] == [
        "Viewed Product",
        "Added to Cart",
        "Placed Order",
    ]
    assert [e["customer"] for e in result.events] == [
        {"email": "sarah.mason@klaviyo-demo.com"},
        {"email": "sarah.mason@klaviyo-demo.com"},
        {"phoneNumber": "+15005550006"},
    ]
    last = result.conversions[2]
    item = "$.data.attributes['events-bulk-create'].data[1]"
    assert last.source == f"{item}.attributes.events.data[0].attributes"
    assert _fates(last)[f"{last.source}.properties.Total"] == (klaviyo.IGNORED_VALUE, None)
    assert [n.path for n in result.notes] == ["$.data.type"]
    assert result.fates()[klaviyo.MAPPED] >= 9


# -- the mapping table, one row each ---------------------------------------------------

_TRACK_ROWS = [
    ("$email", " A@Example.com ", "$.customer.email", "A@Example.com"),
    ("$phone_number", "+442071838750", "$.customer.phoneNumber", "+442071838750"),
    ("$first_name", "Ada", "$.customer.firstName", "Ada"),
    ("$last_name", "Lovelace", "$.customer.lastName", "Lovelace"),
    ("$city", "London", "$.customer.location.city", "London"),
    ("$region", "Greater London", "$.customer.location.state", "Greater London"),
    ("$zip", "EC1A", "$.customer.location.postalCode", "EC1A"),
    ("$country", "gb", "$.customer.location.countryCode", "GB"),
    ("$country", "United Kingdom", "$.customer.location.country", "United Kingdom"),
    ("Loyalty Tier", "Gold", "$.customer.customFields['Loyalty Tier']", "Gold"),
    ("Age", 37, "$.customer.customFields.Age", 37),
]


def _walk(value: Any, parts: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], Any]]:
    """Every (path parts, value) of a JSON document, containers included."""
    stack = [(parts, value)]
    while stack:
        at, item = stack.pop()
        yield at, item
        if isinstance(item, dict):
            stack.extend(((*at, k), v) for k, v in item.items())
        elif isinstance(item, list):
            stack.extend(((*at, i), v) for i, v in enumerate(item))


def _at(event: dict[str, Any], path: str) -> Any:
    found = {wire_path(list(parts)): value for parts, value in _walk(event)}
    return found.get(path, KeyError)


@pytest.mark.parametrize(("key", "value", "target", "sent"), _TRACK_ROWS)
def test_each_track_profile_field_goes_where_the_table_says(
    key: str, value: Any, target: str, sent: Any
) -> None:
    payload = {"event": "E", "customer_properties": {"$email": "a@example.com", key: value}}
    (conversion,) = klaviyo.from_track(payload).conversions
    assert conversion.valid, conversion.problems
    assert conversion.event is not None
    assert _at(conversion.event, target) == sent
    assert _fates(conversion)[wire_path(["customer_properties", key])] == (klaviyo.MAPPED, target)


def test_national_phone_numbers_use_the_default_region() -> None:
    payload = {"event": "E", "customer_properties": {"$phone_number": "(206) 555-0100"}}
    (bare,) = klaviyo.from_track(payload).conversions
    assert not bare.valid
    assert bare.problems[0].path == "$.customer_properties['$phone_number']"
    assert "$.customer.phoneNumber" in bare.problems[0].message
    options = KlaviyoOptions(default_region="US")
    (read,) = klaviyo.from_track(payload, options=options).conversions
    assert read.event is not None
    assert read.event["customer"] == {"phoneNumber": "+12065550100"}


@pytest.mark.parametrize(
    ("time", "stamp"),
    [
        (1712059200, "2024-04-02T12:00:00Z"),
        (1712059200.9, "2024-04-02T12:00:00Z"),
        ("1712059200", "2024-04-02T12:00:00Z"),
        ("2024-04-02T12:00:00+02:00", "2024-04-02T12:00:00+02:00"),
        ("2024-04-02T12:00:00", "2024-04-02T12:00:00Z"),
        ("2024-04-02", "2024-04-02T00:00:00Z"),
    ],
)
def test_time_becomes_an_rfc3339_event_timestamp(time: Any, stamp: str) -> None:
    (conversion,) = klaviyo.from_track(
        {"event": "E", "customer_properties": {"$email": "a@example.com"}, "time": time}
    ).conversions
    assert conversion.event is not None
    assert conversion.event["eventTimestamp"] == stamp


@pytest.mark.parametrize("time", ["yesterday", True, None, 10**20, float("nan"), [1]])
def test_an_unreadable_time_is_a_reported_problem(time: Any) -> None:
    payload = {"event": "E", "customer_properties": {"$email": "a@example.com"}, "time": time}
    (conversion,) = klaviyo.from_track(payload).conversions
    assert not conversion.valid
    assert [p.path for p in conversion.problems] == ["$.time"]


def test_ignored_values_are_reported_or_kept_under_extra() -> None:
    payload = {
        "event": "E",
        "customer_properties": {"$email": "a@example.com"},
        "properties": {"Zero": 0, "Empty": "", "Null": None, "False": False},
    }
    (reported,) = klaviyo.from_track(payload).conversions
    assert reported.event is not None
    assert reported.event["data"] == {"False": False}
    assert {p.path for p in reported.report if p.rule == klaviyo.IGNORED_VALUE} == {
        "$.properties.Zero",
        "$.properties.Empty",
        "$.properties.Null",
    }
    (kept,) = klaviyo.from_track(payload, options=KlaviyoOptions(keep_ignored=True)).conversions
    assert kept.event is not None
    assert kept.event["data"]["$extra"] == {"Zero": 0, "Empty": "", "Null": None}


def test_klaviyo_only_fields_can_be_kept_under_extra() -> None:
    options = KlaviyoOptions(klaviyo_only="extra")
    (conversion,) = klaviyo.convert(CREATE_EVENT, options=options).conversions
    assert conversion.event is not None
    assert conversion.event["data"]["$extra"]["$klaviyo"] == {
        "profile.data.id": "01GDDKASAP8TKDDA2GRZDSVP4H",
        "profile.data.attributes.image": (
            "https://images.pexels.com/photos/3760854/pexels-photo.jpeg"
        ),
        "profile.data.attributes.location.ip": "127.0.0.1",
    }
    (track,) = klaviyo.from_track(TRACK, options=options).conversions
    assert track.event is not None
    assert track.event["data"]["$extra"]["$klaviyo"] == {"token": "PUBLIC_KEY"}


def test_the_external_id_can_be_renamed_or_dropped() -> None:
    payload = {"event": "E", "customer_properties": {"$email": "a@example.com", "$id": 42}}
    named = KlaviyoOptions(external_id_field="Shop Customer Id")
    (renamed,) = klaviyo.from_track(payload, options=named).conversions
    assert renamed.event is not None
    assert renamed.event["customer"]["customFields"] == {"Shop Customer Id": 42}
    dropped = KlaviyoOptions(external_id_field=None)
    (gone,) = klaviyo.from_track(payload, options=dropped).conversions
    assert gone.event is not None
    assert "customFields" not in gone.event["customer"]
    assert _fates(gone)["$.customer_properties['$id']"] == (klaviyo.DROPPED, None)


def test_a_derived_unique_id_keeps_klaviyos_meaning() -> None:
    options = KlaviyoOptions(unique_ids="klaviyo")

    def key(email: str, time: int, name: str = "Viewed") -> str:
        payload = {"event": name, "customer_properties": {"$email": email}, "time": time}
        (conversion,) = klaviyo.from_track(payload, options=options).conversions
        assert conversion.event is not None
        assert _fates(conversion)["$"] == (klaviyo.DERIVED_UNIQUE_ID, "$.uniqueId")
        return str(conversion.event["uniqueId"])

    assert key("a@example.com", 1712059200) == key("A@Example.com", 1712059200)
    assert key("a@example.com", 1712059200) != key("a@example.com", 1712059201)
    assert key("a@example.com", 1712059200) != key("b@example.com", 1712059200)
    assert key("a@example.com", 1712059200) != key("a@example.com", 1712059200, "Other")


def test_without_a_time_no_key_is_derived_and_that_is_reported() -> None:
    payload = {"event": "E", "customer_properties": {"$email": "a@example.com"}}
    options = KlaviyoOptions(unique_ids="klaviyo")
    (conversion,) = klaviyo.from_track(payload, options=options).conversions
    assert conversion.event is not None
    assert "uniqueId" not in conversion.event
    (entry,) = [p for p in conversion.report if p.rule == klaviyo.NO_UNIQUE_ID]
    assert entry.severity == "warning"
    assert "no time" in entry.message


def test_by_default_no_unique_id_is_added() -> None:
    payload = {"event": "E", "customer_properties": {"$email": "a@example.com"}, "time": 1}
    (conversion,) = klaviyo.from_track(payload).conversions
    assert conversion.event is not None
    assert "uniqueId" not in conversion.event
    assert _fates(conversion)["$"] == (klaviyo.NO_UNIQUE_ID, None)


def test_a_profile_id_is_the_identity_of_a_derived_key() -> None:
    body = copy.deepcopy(CREATE_EVENT)
    del body["data"]["attributes"]["unique_id"]
    (conversion,) = klaviyo.convert(body, options=KlaviyoOptions(unique_ids="klaviyo")).conversions
    assert conversion.event is not None
    assert "01GDDKASAP8TKDDA2GRZDSVP4H" in conversion.event["uniqueId"]


@pytest.mark.parametrize(
    "changes",
    [
        {"unique_ids": "always"},
        {"klaviyo_only": "keep"},
        {"external_id_field": ""},
        {"keep_ignored": "yes"},
        {"default_region": "USA"},
    ],
)
def test_bad_options_raise_configuration_error(changes: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError):
        KlaviyoOptions(**changes)
    with pytest.raises(ConfigurationError):
        KlaviyoOptions().with_options(**changes)


# -- what is not a Klaviyo payload -----------------------------------------------------


@pytest.mark.parametrize(
    ("call", "payload", "where"),
    [
        (klaviyo.convert, [], "$"),
        (klaviyo.convert, {}, "$"),
        (klaviyo.convert, {"data": {"type": "profile"}}, "$.data.type"),
        (klaviyo.from_track, "event", "$"),
        (klaviyo.from_track, CREATE_EVENT, "$"),
        (klaviyo.from_create_event, TRACK, "$.data"),
        (klaviyo.from_create_event, {"data": {"type": "event"}}, "$.data.attributes"),
        (klaviyo.from_bulk_create_job, CREATE_EVENT, "$.data"),
        (
            klaviyo.from_bulk_create_job,
            {"data": {"type": "event-bulk-create-job", "attributes": {}}},
            "$.data.attributes['events-bulk-create'].data",
        ),
    ],
)
def test_other_shapes_raise_klaviyo_format_error(call: Any, payload: Any, where: str) -> None:
    with pytest.raises(KlaviyoFormatError) as caught:
        call(payload)
    assert isinstance(caught.value, (RedoError, ValueError))
    assert [p.path for p in caught.value.problems] == [where]


def test_a_bad_bulk_item_is_reported_and_the_others_convert() -> None:
    job = copy.deepcopy(BULK)
    items = job["data"]["attributes"]["events-bulk-create"]["data"]
    items.insert(0, "not an item")
    items.append({"type": "event-bulk-create", "attributes": {"events": {"data": []}}})
    items[1]["attributes"]["events"]["data"].append(["not an event"])
    result = klaviyo.convert(job)
    assert len(result.events) == 3
    bad = [c for c in result.conversions if not c.valid]
    assert [c.problems[0].rule for c in bad] == [klaviyo.INVALID] * 3
    assert all(c.event is None for c in bad)


def test_a_value_two_fields_send_to_one_place_is_a_problem() -> None:
    payload = {
        "event": "E",
        "customer_properties": {
            "$email": "a@example.com",
            "$organization": "A",
            "Organization": "B",
        },
    }
    (conversion,) = klaviyo.from_track(payload).conversions
    assert not conversion.valid
    assert conversion.problems[0].path == "$.customer_properties.Organization"


def test_structural_problems_inside_a_shape_are_reported() -> None:
    body = {
        "data": {
            "type": "event",
            "attributes": {
                "metric": {"data": {"type": "metric", "attributes": {}}},
                "profile": {"data": {"type": "person", "attributes": []}},
                "properties": [],
            },
        }
    }
    (conversion,) = klaviyo.convert(body).conversions
    paths = [p.path for p in conversion.problems]
    base = "$.data.attributes"
    assert paths == [
        f"{base}.metric",
        f"{base}.profile.data.type",
        f"{base}.profile.data.attributes",
        f"{base}.properties",
    ]


# -- properties over generated payloads ---------------------------------------------


def _convert_or_none(payload: Any) -> klaviyo.KlaviyoResult | None:
    try:
        return klaviyo.convert(payload)
    except KlaviyoFormatError:
        return None


@given(klaviyo_payloads())
def test_every_payload_converts_to_valid_events_or_reported_problems(payload: Any) -> None:
    result = klaviyo.convert(payload)
    assert result.conversions
    for conversion in result.conversions:
        if conversion.valid:
            assert conversion.event is not None
            assert [p for p in validate_event(conversion.event) if p.severity == "error"] == []
        else:
            assert conversion.problems
            assert all(p.severity == "error" for p in conversion.problems)


@given(
    st.dictionaries(
        st.sampled_from(["data", "event", "x"]),
        st.recursive(
            st.none() | st.text(max_size=3) | st.integers(),
            lambda inner: (
                st.lists(inner, max_size=2)
                | st.dictionaries(
                    st.sampled_from(["type", "attributes", "data", "events-bulk-create"]),
                    inner,
                    max_size=3,
                )
            ),
            max_leaves=8,
        ),
    )
)
def test_any_json_object_converts_or_raises_klaviyo_format_error(payload: Any) -> None:
    _convert_or_none(payload)


@given(
    klaviyo_payloads(),
    st.builds(
        KlaviyoOptions,
        unique_ids=st.sampled_from(["none", "klaviyo"]),
        klaviyo_only=st.sampled_from(["drop", "extra"]),
        external_id_field=st.sampled_from([None, "Klaviyo External Id"]),
        keep_ignored=st.booleans(),
        default_region=st.sampled_from([None, "US"]),
    ),
)
def test_no_field_is_lost_without_a_report_entry(payload: Any, options: KlaviyoOptions) -> None:
    result = klaviyo.convert(payload, options=options)
    located = {p.path for p in result.report} | {p.path for p in result.problems}

    def covered(path: str) -> bool:
        return any(
            path == where or path.startswith((where + ".", where + "[")) for where in located
        )

    for parts, value in _walk(payload):
        if isinstance(value, (dict, list)):
            continue
        assert covered(wire_path(list(parts))), wire_path(list(parts))


# -- what the emulator stores is what the report says ----------------------------------


def _stored_matches_report(
    emu: Emulator, result: klaviyo.KlaviyoResult, *, customers: bool = True
) -> None:
    """Send the valid events; each report entry's target holds on the emulator what it says."""
    with emulator_client(emu) as client:
        sent = client.send_bulk(result.events)
    assert sent.rejections == ()
    stored = {e["uniqueId"]: e for e in emu.events()}
    profiles = emu.customers()
    for conversion in result.conversions:
        if not conversion.valid or conversion.event is None:
            continue
        event = conversion.event
        row = stored[event["uniqueId"]]
        # Redo stored every top-level value the report says was sent, and nothing else.
        assert set(row["data"]) == set(event.get("data", {}))
        who = next(
            c
            for c in profiles
            if c["email"] == event["customer"].get("email")
            or c["phoneNumber"] == event["customer"].get("phoneNumber")
        )
        for entry in conversion.report:
            target = getattr(entry, "target", None)
            if target is None or (target.startswith("$.customer") and not customers):
                continue
            expected = _at(event, target)
            if target.startswith("$.data"):
                assert _at({"data": row["data"]}, target) == expected, entry
            elif target.startswith("$.customer"):
                assert _at({"customer": who}, target) == expected, entry
            elif target == "$.eventTimestamp":
                assert row["eventTimestamp"][:19] == expected[:19] or expected[19:] != "Z"
            else:
                assert row[target[2:]] == expected, entry


def test_what_the_emulator_stores_matches_the_report(emulator: Emulator) -> None:
    options = KlaviyoOptions(unique_ids="klaviyo", klaviyo_only="extra", keep_ignored=True)
    for payload in (TRACK, CREATE_EVENT, BULK):
        _stored_matches_report(emulator, klaviyo.convert(payload, options=options))
    _stored_matches_report(emulator, klaviyo.convert(TRACK))


@settings(max_examples=10)
@given(st.one_of(track_payloads(), create_event_bodies(), bulk_create_jobs()))
def test_generated_payloads_are_stored_as_reported(payload: Any) -> None:
    result = klaviyo.convert(payload, options=KlaviyoOptions(default_region="US"))
    for n, conversion in enumerate(result.conversions):
        if conversion.valid and conversion.event is not None:
            # One id each, so that Redo's deduplication does not hide an event.
            conversion.event["uniqueId"] = f"gen-{n}"
    with Emulator(rate_limit=None) as emu:
        # A customer is patched by every event that names it: only the event's own fields hold.
        _stored_matches_report(emu, result, customers=False)


# -- Tracker: a Klaviyo track call site, one import changed ----------------------------


def test_tracker_converts_and_sends_through_its_own_batcher(emulator: Emulator) -> None:
    seen: list[klaviyo.Conversion] = []
    with emulator_client(emulator) as client:
        with klaviyo.Tracker(client, on_report=seen.append, flush_interval=0.05) as tracker:
            unique = tracker.track(
                event="Placed Order",
                customer_properties={"$email": "a@example.com", "$first_name": "Ada"},
                properties={"$event_id": "order-7", "Items": ["book"], "Total": 12.5},
                time=1712059200,
            )
            assert unique == "order-7"
            generated = tracker.track("Viewed", {"$email": "a@example.com"})
            assert tracker.flush(timeout=10).completed
        assert tracker.batcher.closed
    stored = {e["uniqueId"]: e for e in emulator.events()}
    assert set(stored) == {"order-7", generated}
    assert stored["order-7"]["data"] == {"Total": 12.5, "$extra": {"Items": ["book"]}}
    assert stored["order-7"]["eventTimestamp"].startswith("2024-04-02T12:00:00")
    assert [c.source for c in seen] == ["$", "$"]


def test_tracker_refuses_what_cannot_be_converted_and_leaves_a_callers_batcher_open(
    emulator: Emulator,
) -> None:
    with emulator_client(emulator) as client, client.batcher() as batcher:
        tracker = klaviyo.Tracker(batcher)
        with pytest.raises(ValidationError) as caught:
            tracker.track("Placed Order", {"$email": "nope"})
        assert caught.value.problems[0].path == "$.customer_properties['$email']"
        assert tracker.close() is None
        assert not batcher.closed
        assert batcher.stats().queued == 0


def test_the_track_get_form_is_read_from_its_base64_data() -> None:
    encoded = base64.urlsafe_b64encode(orjson.dumps(TRACK)).decode().rstrip("=")
    result = klaviyo.convert({"data": urllib.parse.quote(encoded)})
    assert result.shape == "track"
    assert result.events == klaviyo.from_track(TRACK).events
    assert [n.path for n in result.notes] == ["$.data"]
    with pytest.raises(KlaviyoFormatError) as caught:
        klaviyo.convert({"data": "not base64 of anything!"})
    assert caught.value.problems[0].path == "$.data"
    with pytest.raises(KlaviyoFormatError):
        klaviyo.convert({"data": base64.b64encode(b"[1, 2]").decode()})


def test_fields_of_no_klaviyo_shape_are_reported_wherever_they_are() -> None:
    body = copy.deepcopy(CREATE_EVENT)
    body["links"] = {"self": "x"}
    body["data"]["id"] = "evt-1"
    attributes = body["data"]["attributes"]
    attributes["backfill"] = True
    attributes["source"] = "pos"
    attributes["metric"]["links"] = {}
    attributes["metric"]["data"]["id"] = "m-1"
    attributes["metric"]["data"]["attributes"]["service"] = "api"
    profile = attributes["profile"]
    profile["meta"] = {}
    profile["data"]["relationships"] = {}
    profile["data"]["attributes"]["anonymous_id"] = "anon"
    profile["data"]["attributes"]["mood"] = "good"
    profile["data"]["attributes"]["location"]["planet"] = "Earth"
    (conversion,) = klaviyo.convert(body).conversions
    assert conversion.valid, conversion.problems
    dropped = {p.path for p in conversion.report if p.rule == klaviyo.DROPPED}
    base = "$.data.attributes"
    assert {
        "$.links",
        "$.data.id",
        f"{base}.backfill",
        f"{base}.source",
        f"{base}.metric.links",
        f"{base}.metric.data.id",
        f"{base}.metric.data.attributes.service",
        f"{base}.profile.meta",
        f"{base}.profile.data.relationships",
        f"{base}.profile.data.attributes.anonymous_id",
        f"{base}.profile.data.attributes.mood",
        f"{base}.profile.data.attributes.location.planet",
    } <= dropped


def test_unknown_fields_of_a_bulk_job_are_reported_once() -> None:
    job = copy.deepcopy(BULK)
    job["meta"] = 1
    job["data"]["id"] = "job"
    job["data"]["attributes"]["note"] = "x"
    job["data"]["attributes"]["events-bulk-create"]["links"] = {}
    item = job["data"]["attributes"]["events-bulk-create"]["data"][0]
    item["id"] = "i"
    item["attributes"]["extra"] = 1
    item["attributes"]["events"]["links"] = {}
    item["attributes"]["events"]["data"][0]["id"] = "e"
    result = klaviyo.convert(job)
    assert {n.path for n in result.notes} >= {
        "$.meta",
        "$.data.id",
        "$.data.attributes.note",
        "$.data.attributes['events-bulk-create'].links",
    }
    paths = [p.path for p in result.report]
    at = "$.data.attributes['events-bulk-create'].data[0]"
    for path in (
        f"{at}.id",
        f"{at}.attributes.extra",
        f"{at}.attributes.events.links",
        f"{at}.attributes.events.data[0].id",
    ):
        assert paths.count(path) == 1, path


def test_profile_values_that_carry_nothing_are_reported_as_such() -> None:
    payload = {
        "event": "E",
        "customer_properties": {
            "$email": "a@example.com",
            "$first_name": None,
            "$country": None,
            "$id": None,
            "$organization": None,
            "$title": {"x": 1},
            "Tags": ["a"],
            "Nothing": None,
        },
    }
    (conversion,) = klaviyo.from_track(payload).conversions
    assert conversion.valid
    assert conversion.event is not None
    assert conversion.event["customer"] == {"email": "a@example.com"}
    fates = _fates(conversion)
    for key in ("$first_name", "$country", "$id", "$organization", "$title", "Tags", "Nothing"):
        assert fates[wire_path(["customer_properties", key])][0] == klaviyo.DROPPED, key


def test_tracker_takes_the_keyword_spellings_of_klaviyos_sdks(emulator: Emulator) -> None:
    with emulator_client(emulator) as client, client.batcher() as batcher:
        tracker = klaviyo.Tracker(batcher)
        tracker.track(
            "Viewed",
            email="a@example.com",
            phone_number="+12065550100",
            external_id="shop-1",
            timestamp=1712059200,
            properties={"$event_id": "v-1"},
        )
        with pytest.raises(ValidationError) as caught:
            tracker.track(
                "Viewed", {"$email": "b@example.com"}, email="a@example.com", time=1, timestamp=2
            )
        assert [p.path for p in caught.value.problems] == [
            "$.customer_properties['$email']",
            "$.time",
        ]
        assert batcher.flush(timeout=10).completed
    (stored,) = emulator.events()
    assert stored["uniqueId"] == "v-1"
    assert stored["eventTimestamp"].startswith("2024-04-02T12:00:00")
    (customer,) = emulator.customers()
    assert customer["customFields"] == {"Klaviyo External Id": "shop-1"}


def test_the_klaviyo_surface_is_sorted_and_resolves() -> None:
    def order(name: str) -> tuple[int, str]:
        return (0 if name.isupper() else 1 if name[0].isupper() else 2, name)

    assert klaviyo.__all__ == sorted(klaviyo.__all__, key=order)
    assert all(getattr(klaviyo, name) is not None for name in klaviyo.__all__)
    assert set(klaviyo.MEANINGS) == {*klaviyo.FATES, klaviyo.SHAPE_ERROR}


_KLAVIYO_ONLY = [
    (TRACK, "$.token", "token"),
    (
        {"event": "E", "customer_properties": {"$email": "a@example.com", "$image": "u"}},
        "$.customer_properties['$image']",
        "customer_properties.$image",
    ),
    (
        {"event": "E", "customer_properties": {"$email": "a@example.com", "$consent": ["sms"]}},
        "$.customer_properties['$consent']",
        "customer_properties.$consent",
    ),
    (CREATE_EVENT, "$.data.attributes.profile.data.id", "profile.data.id"),
    (
        CREATE_EVENT,
        "$.data.attributes.profile.data.attributes.location.ip",
        "profile.data.attributes.location.ip",
    ),
    (
        {
            "data": {
                **CREATE_EVENT["data"],
                "attributes": {**CREATE_EVENT["data"]["attributes"], "backfill": True},
            }
        },
        "$.data.attributes.backfill",
        "backfill",
    ),
]


@pytest.mark.parametrize(("payload", "path", "name"), _KLAVIYO_ONLY)
def test_each_klaviyo_only_field_is_dropped_or_kept_by_option(
    payload: dict[str, Any], path: str, name: str
) -> None:
    (dropped,) = klaviyo.convert(payload).conversions
    assert _fates(dropped)[path] == (klaviyo.DROPPED, None)
    assert dropped.event is not None
    assert "$klaviyo" not in dropped.event.get("data", {}).get("$extra", {})
    options = KlaviyoOptions(klaviyo_only="extra")
    (kept,) = klaviyo.convert(payload, options=options).conversions
    target = wire_path(["data", "$extra", "$klaviyo", name])
    assert _fates(kept)[path] == (klaviyo.MOVED_TO_EXTRA, target)
    assert kept.event is not None
    assert name in kept.event["data"]["$extra"]["$klaviyo"]
