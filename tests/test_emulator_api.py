"""The emulator's event operations over real loopback HTTP: every rule of the spec."""

from __future__ import annotations

import contextlib
import http.client
import re
import socket
import sqlite3
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import orjson
import pytest
import urllib3
from helpers import STORE

from redo_kit._errors import ConfigurationError
from redo_kit._spec import request_examples
from redo_kit.emulator import DEMO_API_KEY, DEMO_STORE_ID, ApiKey, Emulator
from redo_kit.emulator._store import EventStore

KEY = "sk_test_store"
OTHER_STORE = "other_store"
OTHER_KEY = "sk_test_other"
READ_ONLY_KEY = "sk_test_read_only"
OBJECT_ID = re.compile(r"^[0-9a-f]{24}$")


class Api:
    """A small urllib3 client for the emulator, raw enough to send anything."""

    def __init__(self, emulator: Emulator) -> None:
        self.emulator = emulator
        self.http = urllib3.PoolManager(retries=False, timeout=10.0)

    def close(self) -> None:
        self.http.clear()

    def post(
        self,
        path: str,
        body: bytes,
        *,
        key: str | None = KEY,
        content_type: str | None = "application/json",
        headers: dict[str, str] | None = None,
    ) -> urllib3.BaseHTTPResponse:
        sent = dict(headers or {})
        if key is not None:
            sent["Authorization"] = f"Bearer {key}"
        if content_type is not None:
            sent["Content-Type"] = content_type
        return self.http.request("POST", self.emulator.base_url + path, body=body, headers=sent)

    def event(
        self, payload: Any, *, store: str = STORE, **options: Any
    ) -> urllib3.BaseHTTPResponse:
        return self.post(f"/stores/{store}/events", orjson.dumps(payload), **options)

    def bulk(self, body: Any, *, store: str = STORE, **options: Any) -> urllib3.BaseHTTPResponse:
        if isinstance(body, list):
            body = {"events": body}
        return self.post(f"/stores/{store}/events/bulk", orjson.dumps(body), **options)

    def request(self, method: str, path: str, *, key: str | None = KEY) -> urllib3.BaseHTTPResponse:
        headers = {} if key is None else {"Authorization": f"Bearer {key}"}
        return self.http.request(method, self.emulator.url + path, headers=headers)

    def inspect(self, view: str, *, store: str = STORE, key: str = KEY) -> list[dict[str, Any]]:
        response = self.request("GET", f"/_emulator/stores/{store}/{view}", key=key)
        assert response.status == 200, response.data
        assert response.headers["Content-Type"] == "application/json"
        items: list[dict[str, Any]] = orjson.loads(response.data)[view]
        return items


@pytest.fixture
def emu(emulator_factory: Any) -> Emulator:
    emulator: Emulator = emulator_factory(
        stores={
            STORE: [KEY, ApiKey(READ_ONLY_KEY, scopes=["customer_events_read"])],
            OTHER_STORE: OTHER_KEY,
        },
        rate_limit=None,
    )
    return emulator


@pytest.fixture
def api(emu: Emulator) -> Iterator[Api]:
    client = Api(emu)
    yield client
    client.close()


def problem(response: urllib3.BaseHTTPResponse, status: int) -> dict[str, Any]:
    """The problem+json body of ``response``, after checking its status and shape."""
    assert response.status == status, response.data
    assert response.headers["Content-Type"] == "application/problem+json"
    body: dict[str, Any] = orjson.loads(response.data)
    assert body["status"] == status
    assert body["type"] == "about:blank"
    assert body["title"]
    assert body["detail"]
    assert body["instance"].startswith("/")
    return body


def accepted(response: urllib3.BaseHTTPResponse) -> None:
    assert response.status == 202, response.data
    assert response.data == b""


def order(email: str = "stewart@example.com", **fields: Any) -> dict[str, Any]:
    return {"eventName": "Order Placed", "customer": {"email": email}, **fields}


# -- accepted events and what is stored ---------------------------------------


def test_a_valid_event_is_answered_202_with_no_body_and_stored_as_sent(
    api: Api, emu: Emulator
) -> None:
    sent = {
        "eventName": "Purchase Milestone Reached",
        "customer": {"email": "stewart@example.com", "firstName": "Stewart"},
        "eventTimestamp": "2026-04-02T12:00:00Z",
        "value": 299.99,
        "valueCurrency": "USD",
        "uniqueId": "milestone-test-001",
        "data": {"Milestone Type": "100th_purchase", "Total Spent": 5000},
    }
    response = api.event(sent)
    accepted(response)
    assert "Content-Type" not in response.headers

    [event] = api.inspect("events")
    [customer] = api.inspect("customers")
    assert OBJECT_ID.match(event["id"])
    assert event["eventName"] == "Purchase Milestone Reached"
    assert event["customerId"] == customer["id"]
    assert event["eventTimestamp"] == "2026-04-02T12:00:00Z"
    assert event["value"] == 299.99
    assert event["valueCurrency"] == "USD"
    assert event["uniqueId"] == "milestone-test-001"
    assert event["data"] == {"Milestone Type": "100th_purchase", "Total Spent": 5000}
    assert event["propertyTypes"] == {"Milestone Type": "string", "Total Spent": "number"}
    assert emu.events(STORE) == [event]


def test_without_event_timestamp_the_ingestion_time_is_used(api: Api) -> None:
    before = datetime.now(timezone.utc)
    accepted(api.event(order()))
    [event] = api.inspect("events")
    stamped = datetime.fromisoformat(event["eventTimestamp"].replace("Z", "+00:00"))
    assert event["eventTimestamp"] == event["receivedAt"]
    assert before - timedelta(seconds=1) <= stamped <= datetime.now(timezone.utc)
    assert event["value"] is None
    assert event["valueCurrency"] is None
    assert event["uniqueId"] is None


def test_ignored_values_are_stripped_from_top_level_data_but_kept_in_extra(api: Api) -> None:
    extra = {"Zero": 0, "Null": None, "Empty": "", "Nested": {"a": [1, {"b": 0}]}}
    data = {
        "Zero": 0,
        "Float Zero": 0.0,
        "Negative Zero": -0.0,
        "Null": None,
        "Empty": "",
        "False": False,
        "Kept": "yes",
        "$extra": extra,
    }
    accepted(api.event(order(data=data)))
    [event] = api.inspect("events")
    assert event["data"] == {"False": False, "Kept": "yes", "$extra": extra}
    assert event["propertyTypes"] == {"False": "boolean", "Kept": "string"}


def test_property_types_detect_rfc3339_dates_exactly(api: Api) -> None:
    data = {
        "Date": "2025-01-01T00:00:00Z",
        "Offset": "2025-01-01t10:30:00.250+05:30",
        "Day Only": "2024-01-01",
        "Space": "2025-01-01 00:00:00Z",
        "No Offset": "2025-01-01T00:00:00",
        "Not A Day": "2025-02-30T00:00:00Z",
        "Count": 3,
        "Ratio": 0.5,
        "Flag": True,
        "$extra": {"Inside": "2025-01-01T00:00:00Z"},
    }
    accepted(api.event(order(data=data)))
    [event] = api.inspect("events")
    assert event["propertyTypes"] == {
        "Date": "date",
        "Offset": "date",
        "Day Only": "string",
        "Space": "string",
        "No Offset": "string",
        "Not A Day": "string",
        "Count": "number",
        "Ratio": "number",
        "Flag": "boolean",
    }


def test_unknown_top_level_keys_are_accepted_and_ignored(api: Api) -> None:
    accepted(api.event(order(uniqueID="typo", properties={"a": 1})))
    [event] = api.inspect("events")
    assert event["uniqueId"] is None
    assert event["data"] == {}


# -- identity resolution and patch semantics ----------------------------------


def test_no_match_creates_one_customer_with_a_fresh_object_id(api: Api) -> None:
    unknown = "665f1a2b3c4d5e6f7a8b9c0d"
    accepted(api.event({"eventName": "A", "customer": {"id": unknown}}))
    accepted(api.event(order("new@example.com")))
    accepted(api.event({"eventName": "B", "customer": {"phoneNumber": "+12065550100"}}))
    customers = api.inspect("customers")
    assert len(customers) == 3
    assert all(OBJECT_ID.match(c["id"]) for c in customers)
    assert unknown not in {c["id"] for c in customers}
    assert len({c["id"] for c in customers}) == 3
    assert customers[1]["email"] == "new@example.com"
    assert customers[2]["phoneNumber"] == "+12065550100"


def test_identity_priority_is_id_then_email_then_phone(api: Api) -> None:
    accepted(api.event(order("first@example.com")))
    accepted(api.event({"eventName": "P", "customer": {"phoneNumber": "+12065550100"}}))
    first, second = api.inspect("customers")

    # id wins over a different customer's email and phone; they enrich the profile.
    both = {"id": first["id"].upper(), "email": "a@example.com", "phoneNumber": "+12065550199"}
    accepted(api.event({"eventName": "X", "customer": both}))
    # An unknown id falls back to email, then to phone.
    unknown = "0123456789abcdef01234567"
    accepted(
        api.event({"eventName": "W", "customer": {"id": unknown, "phoneNumber": "+12065550100"}})
    )
    accepted(api.event({"eventName": "Z", "customer": {"id": unknown, "email": "a@example.com"}}))
    # email wins over the phone of another customer.
    accepted(
        api.event(
            {
                "eventName": "Y",
                "customer": {"email": "A@Example.com", "phoneNumber": "+12065550100"},
            }
        )
    )

    events = api.inspect("events")
    assert [e["customerId"] for e in events] == [
        first["id"],
        second["id"],
        first["id"],
        second["id"],
        first["id"],
        first["id"],
    ]
    customers = api.inspect("customers")
    assert len(customers) == 2
    assert customers[0]["email"] == "A@Example.com"
    assert customers[0]["phoneNumber"] == "+12065550100"


def test_emails_match_under_unicode_case_folding() -> None:
    # casefold("ß") is "ss"; lower() leaves it, and would make two customers. The
    # spec's email format admits ASCII addresses only, so the store is fed directly.
    store = EventStore()
    try:
        store.ingest(STORE, [order("straße@example.com"), order("STRASSE@example.com")])
        [customer] = store.customers(STORE)
        assert customer["email"] == "STRASSE@example.com"
        assert [e["customerId"] for e in store.events(STORE)] == [customer["id"]] * 2
    finally:
        store.close()


def test_profile_fields_are_patched_and_never_erased_by_omission(api: Api) -> None:
    accepted(
        api.event(
            order(
                customer={
                    "email": "stewart@example.com",
                    "firstName": "Stewart",
                    "lastName": "Thompson",
                    "location": {"city": "Seattle", "countryCode": "US", "latitude": 47.6},
                    "customFields": {"Tier": "Gold", "Age": 25, "Zero": 0, "Empty": ""},
                }
            )
        )
    )
    accepted(
        api.event(
            order(
                customer={
                    "email": "stewart@example.com",
                    "lastName": "T.",
                    "location": {"city": "Tacoma", "postalCode": "98402"},
                    "customFields": {"Tier": "Platinum", "Since": "2020-01-01T00:00:00Z"},
                }
            )
        )
    )
    accepted(api.event(order()))
    [customer] = api.inspect("customers")
    assert customer["firstName"] == "Stewart"
    assert customer["lastName"] == "T."
    assert customer["location"] == {
        "city": "Tacoma",
        "countryCode": "US",
        "latitude": 47.6,
        "postalCode": "98402",
    }
    assert customer["customFields"] == {
        "Tier": "Platinum",
        "Age": 25,
        "Zero": 0,
        "Empty": "",
        "Since": "2020-01-01T00:00:00Z",
    }
    assert customer["customFieldTypes"] == {
        "Tier": "string",
        "Age": "number",
        "Zero": "number",
        "Empty": "string",
        "Since": "date",
    }


# -- deduplication -------------------------------------------------------------


def test_unique_id_first_write_wins_across_both_endpoints(api: Api) -> None:
    accepted(api.event(order(uniqueId="order-789", data={"Version": 1})))
    accepted(
        api.event(
            order(
                uniqueId="order-789",
                data={"Version": 2},
                customer={"email": "x@example.com", "firstName": "Late"},
            )
        )
    )
    accepted(
        api.bulk(
            [
                order(uniqueId="order-789", data={"Version": 3}),
                order(uniqueId="bulk-1", data={"Version": 4}),
                order(uniqueId="bulk-1", data={"Version": 5}),
            ]
        )
    )
    events = api.inspect("events")
    assert [(e["uniqueId"], e["data"]["Version"]) for e in events] == [
        ("order-789", 1),
        ("bulk-1", 4),
    ]
    # A duplicate changes nothing: no customer was created or patched by it.
    [customer] = api.inspect("customers")
    assert customer["firstName"] is None
    # Deduplication is per store.
    accepted(api.event(order(uniqueId="order-789"), store=OTHER_STORE, key=OTHER_KEY))
    assert len(api.inspect("events", store=OTHER_STORE, key=OTHER_KEY)) == 1


def test_without_unique_id_every_request_stores_a_new_event(api: Api) -> None:
    for _ in range(3):
        accepted(api.event(order()))
    assert len(api.inspect("events")) == 3


# -- bulk ----------------------------------------------------------------------


def test_bulk_stores_valid_events_in_order_and_records_the_invalid_ones(api: Api) -> None:
    events = [
        order(data={"N": 1}),
        {"eventName": "No Customer"},
        order(data={"N": 2}),
        {"eventName": "Bad", "customer": {"email": "nope", "shoeSize": 9}},
        "not an event",
        order(data={"N": 3}),
    ]
    accepted(api.bulk(events))
    assert [e["data"]["N"] for e in api.inspect("events")] == [1, 2, 3]
    rejected = api.inspect("rejected")
    assert [r["index"] for r in rejected] == [1, 3, 4]
    assert rejected[0]["event"] == {"eventName": "No Customer"}
    assert rejected[2]["event"] == "not an event"
    assert {(p["path"], p["rule"]) for p in rejected[1]["problems"]} == {
        ("$.events[3].customer.email", "format"),
        ("$.events[3].customer.shoeSize", "unknown-key"),
    }
    for item in rejected:
        assert item["receivedAt"].endswith("Z")
        for found in item["problems"]:
            assert set(found) >= {"path", "rule", "message"}


@pytest.mark.parametrize(
    ("body", "rule"),
    [
        ({"events": []}, "minItems"),
        ({"events": [order()] * 101}, "maxItems"),
        ({}, "required"),
        ({"events": order()}, "type"),
        ([order()], "type"),
        ({"events": [order()], "extra": 1}, "unknown-key"),
    ],
    ids=["empty", "101-events", "no-events", "events-not-array", "array-body", "extra-key"],
)
def test_a_bad_bulk_envelope_is_400_and_nothing_is_stored(api: Api, body: Any, rule: str) -> None:
    found = problem(api.post(f"/stores/{STORE}/events/bulk", orjson.dumps(body)), 400)
    assert rule in {item["rule"] for item in found["errors"]}
    assert api.inspect("events") == []
    assert api.inspect("rejected") == []


def test_bulk_of_exactly_100_events_is_accepted(api: Api) -> None:
    accepted(api.bulk([order(f"c{i}@example.com", uniqueId=f"u{i}") for i in range(100)]))
    assert len(api.inspect("events")) == 100
    assert len(api.inspect("customers")) == 100


# -- 400: every problem listed -------------------------------------------------


def test_an_invalid_event_is_400_listing_every_problem_and_nothing_is_stored(api: Api) -> None:
    sent = {
        "eventName": "",
        "customer": {"phoneNumber": "206-555-0100", "nickname": "S"},
        "eventTimestamp": "2026-04-02 12:00:00",
        "valueCurrency": "usd",
        "uniqueId": "",
        "data": {"Nested": {"a": 1}},
    }
    found = problem(api.event(sent), 400)
    located = {(item["path"], item["rule"]) for item in found["errors"]}
    assert located >= {
        ("$.eventName", "minLength"),
        ("$.customer.phoneNumber", "pattern"),
        ("$.customer.nickname", "unknown-key"),
        ("$.eventTimestamp", "format"),
        ("$.valueCurrency", "enum"),
        ("$.uniqueId", "minLength"),
        ("$.data.Nested", "nested-data"),
    }
    assert all(item["message"] and item["hint"] for item in found["errors"])
    assert "severity" not in str(found["errors"])
    assert api.inspect("events") == []
    assert api.inspect("customers") == []


def test_a_customer_without_identifier_is_400(api: Api) -> None:
    found = problem(api.event({"eventName": "A", "customer": {"firstName": "S"}}), 400)
    assert [item["rule"] for item in found["errors"]] == ["customer-identifier"]


# -- auth ----------------------------------------------------------------------


def test_a_missing_key_is_401_with_a_bearer_challenge(api: Api) -> None:
    response = api.event(order(), key=None)
    problem(response, 401)
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert api.inspect("events") == []


@pytest.mark.parametrize("header", ["Bearer wrong", "Basic c2s6dGVzdA==", "Bearer", KEY])
def test_a_wrong_key_or_scheme_is_401(api: Api, header: str) -> None:
    problem(api.event(order(), key=None, headers={"Authorization": header}), 401)
    assert api.inspect("events") == []


def test_a_key_never_touches_another_store(api: Api) -> None:
    problem(api.event(order(), store=OTHER_STORE), 403)
    problem(api.bulk([order()], store=OTHER_STORE), 403)
    problem(api.event(order(), store="no_such_store"), 404)
    # The inspection API hides which stores exist (tests/test_emulator_inspection.py).
    problem(api.request("GET", f"/_emulator/stores/{OTHER_STORE}/events"), 404)
    problem(api.request("DELETE", f"/_emulator/stores/{OTHER_STORE}"), 404)
    assert api.inspect("events", store=OTHER_STORE, key=OTHER_KEY) == []


def test_a_key_without_the_write_scope_is_403_but_may_inspect(api: Api) -> None:
    found = problem(api.event(order(), key=READ_ONLY_KEY), 403)
    assert "customer_events_write" in found["detail"]
    problem(api.bulk([order()], key=READ_ONLY_KEY), 403)
    assert api.inspect("events", key=READ_ONLY_KEY) == []


# -- transport-level refusals --------------------------------------------------


@pytest.mark.parametrize(
    "content_type",
    [None, "text/plain", "application/x-www-form-urlencoded", "application/json; charset=latin-1"],
)
def test_a_body_not_sent_as_json_is_415(api: Api, content_type: str | None) -> None:
    body = orjson.dumps(order())
    problem(api.post(f"/stores/{STORE}/events", body, content_type=content_type), 415)
    assert api.inspect("events") == []


def test_json_with_a_charset_parameter_is_accepted(api: Api) -> None:
    body = orjson.dumps(order())
    accepted(
        api.post(f"/stores/{STORE}/events", body, content_type="application/json; charset=UTF-8")
    )


def test_a_body_over_5_mb_is_413_decided_before_reading_it(api: Api) -> None:
    body = orjson.dumps(order(data={"$extra": {"blob": "x" * (5 * 1024 * 1024)}}))
    response = api.post(f"/stores/{STORE}/events", body)
    found = problem(response, 413)
    assert "5,242,880" in found["detail"]
    assert response.headers["Connection"] == "close"
    assert api.inspect("events") == []


def test_unknown_paths_are_404_and_wrong_methods_405_as_problems(api: Api) -> None:
    problem(api.request("GET", "/v2.2/stores"), 404)
    problem(api.request("POST", "/v2.1/stores/x/events"), 404)
    problem(api.request("GET", "/"), 404)
    for method in ("GET", "PUT", "DELETE", "PATCH"):
        response = api.request(method, f"/v2.2/stores/{STORE}/events")
        problem(response, 405)
        assert response.headers["Allow"] == "POST"
    response = api.request("POST", f"/_emulator/stores/{STORE}/events")
    problem(response, 405)
    assert response.headers["Allow"] == "GET"


def test_a_chunked_body_is_read(api: Api) -> None:
    chunks = [b'{"eventName": "Chunked", ', b'"customer": {"email": "c@example.com"}}']
    response = api.http.request(
        "POST",
        f"{api.emulator.base_url}/stores/{STORE}/events",
        body=iter(chunks),
        headers={"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"},
        chunked=True,
    )
    accepted(response)
    assert [e["eventName"] for e in api.inspect("events")] == ["Chunked"]


# -- bad input: a 4xx, nothing stored, and the server keeps serving ----------


def _nested(levels: int) -> bytes:
    return b'{"a": ' * levels + b"1" + b"}" * levels


_VALID = b'{"eventName": "A", "customer": {"email": "a@example.com"}'
_DEEP = 100_000


@pytest.mark.parametrize(
    ("path", "body", "status"),
    [
        ("/events", _VALID[:-9], 400),
        ("/events", b"", 400),
        ("/events", orjson.dumps([order()]), 400),
        ("/events", _VALID.replace(b'"A"', b'"\xff\xfe"') + b"}", 400),
        ("/events", _VALID.replace(b'"A"', b'"\\ud800"') + b"}", 400),
        ("/events", _VALID + b', "value": NaN}', 400),
        ("/events", _VALID + b', "value": Infinity}', 400),
        ("/events", _VALID + b', "value": 1e400}', 400),
        ("/events", orjson.dumps(order(value="59.99")), 400),
        ("/events", orjson.dumps({"eventName": 5, "customer": "a@example.com"}), 400),
        ("/events", orjson.dumps(order(data=[1, 2])), 400),
        ("/events", orjson.dumps(order(customer={"email": "a@example.com", "name": "S"})), 400),
        ("/events", orjson.dumps(order(data={"Items": [1, 2]})), 400),
        ("/events", orjson.dumps(order(data={"Order": {"id": 1}})), 400),
        ("/events", orjson.dumps(order(data={"$extra": [1]})), 400),
        (
            "/events",
            orjson.dumps(order(customer={"email": "a@example.com", "customFields": {"x": None}})),
            400,
        ),
        ("/events", orjson.dumps(order(data={"s": "x" * 102_401})), 400),
        ("/events", _VALID + b', "data": {"$extra": ' + _nested(_DEEP) + b"}}", 400),
        ("/events", _VALID + b', "data": {"$extra": ' + _nested(300) + b"}}", 400),
        ("/events", _VALID + b', "data": {"$extra": ' + _nested(99) + b"}}", 400),
        ("/events", b"x" * (10 * 1024 * 1024), 413),
        ("/events/bulk", orjson.dumps({"events": [order()] * 101}), 400),
        ("/events/bulk", b'{"events": [' + _VALID, 400),
        ("/events/bulk", b"[" * _DEEP + b"]" * _DEEP, 400),
    ],
    ids=[
        "truncated-json",
        "empty-body",
        "json-array",
        "invalid-utf8",
        "lone-surrogate",
        "nan",
        "infinity",
        "number-overflow",
        "value-as-string",
        "wrong-types",
        "data-as-array",
        "unknown-customer-key",
        "array-in-data",
        "object-in-data",
        "extra-not-object",
        "null-custom-field",
        "string-over-100kb",
        "deep-nesting-in-extra",
        "nesting-beyond-serializers",
        "nesting-over-100-levels",
        "10mb-body",
        "101-events",
        "truncated-bulk",
        "deep-nesting-bulk",
    ],
)
def test_bad_input_is_refused_nothing_is_stored_and_serving_goes_on(
    api: Api, path: str, body: bytes, status: int
) -> None:
    problem(api.post(f"/stores/{STORE}{path}", body), status)
    assert api.inspect("events") == []
    assert api.inspect("customers") == []
    assert api.inspect("rejected") == []
    accepted(api.event(order()))
    assert len(api.inspect("events")) == 1


def _raw(emu: Emulator, request: bytes) -> bytes:
    with socket.create_connection((emu.host, emu.port), timeout=5) as sock:
        sock.sendall(request)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"GARBAGE\r\n\r\n",
        b"POST /v2.2/stores/x/events HTTP/9.9\r\n\r\n",
        b"BREW /v2.2/stores/x/events HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        b"GET /" + b"a" * 70_000 + b" HTTP/1.1\r\n\r\n",
    ],
    ids=["garbage", "bad-version", "unknown-method", "uri-too-long"],
)
def test_malformed_http_is_a_problem_and_serving_goes_on(
    api: Api, emu: Emulator, request_bytes: bytes
) -> None:
    answer = _raw(emu, request_bytes)
    head, _, body = answer.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    assert 400 <= status < 600
    assert b"Content-Type: application/problem+json" in head
    assert orjson.loads(body)["status"] == status
    accepted(api.event(order()))


# -- keep-alive ----------------------------------------------------------------


def test_one_connection_serves_many_requests_including_refusals(emu: Emulator) -> None:
    connection = http.client.HTTPConnection(emu.host, emu.port, timeout=5)
    try:
        headers = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}
        path = f"/v2.2/stores/{STORE}/events"
        sockets = set()
        for key, body in [
            (KEY, orjson.dumps(order())),
            ("wrong", orjson.dumps(order())),
            (KEY, b"{"),
            (KEY, orjson.dumps(order())),
        ]:
            connection.request(
                "POST", path, body=body, headers={**headers, "Authorization": f"Bearer {key}"}
            )
            response = connection.getresponse()
            response.read()
            assert response.getheader("Connection") is None
            sockets.add(id(connection.sock))
        assert len(sockets) == 1
    finally:
        connection.close()
    assert len(emu.events(STORE)) == 2


# -- inspection API ------------------------------------------------------------


def test_stats_count_answers_stored_deduplicated_and_rejected(api: Api) -> None:
    accepted(api.event(order(uniqueId="a")))
    accepted(api.event(order(uniqueId="a")))
    accepted(api.bulk([order(), {"eventName": "bad"}]))
    problem(api.event({}), 400)
    problem(api.event(order(), key="wrong"), 401)
    response = api.request("GET", "/_emulator/stats")
    assert response.status == 200
    assert orjson.loads(response.data) == {
        "requests": {"202": 3, "400": 1, "401": 1},
        "stored": 2,
        "deduplicated": 1,
        "rejected": 1,
        "rateLimited": 0,
        "faults": {},
    }
    problem(api.request("GET", "/_emulator/stats", key=None), 401)
    problem(api.request("GET", "/_emulator/stats", key="wrong"), 401)
    problem(api.request("POST", "/_emulator/stats"), 405)
    problem(api.request("GET", "/_emulator/nothing"), 404)


def test_delete_empties_one_store_only(api: Api, emu: Emulator) -> None:
    accepted(api.event(order(uniqueId="a")))
    accepted(api.bulk([{"eventName": "bad"}]))
    accepted(api.event(order(uniqueId="a"), store=OTHER_STORE, key=OTHER_KEY))
    response = api.request("DELETE", f"/_emulator/stores/{STORE}")
    assert response.status == 204
    assert response.data == b""
    assert api.inspect("events") == []
    assert api.inspect("customers") == []
    assert api.inspect("rejected") == []
    assert len(api.inspect("events", store=OTHER_STORE, key=OTHER_KEY)) == 1
    # The unique id is forgotten with the store.
    accepted(api.event(order(uniqueId="a")))
    assert len(api.inspect("events")) == 1
    emu.clear(STORE)
    assert emu.events(STORE) == []
    problem(api.request("GET", f"/_emulator/stores/{STORE}/events", key=None), 401)


def test_in_process_inspection_matches_the_http_one(api: Api, emu: Emulator) -> None:
    accepted(api.bulk([order(data={"A": "b"}), {"eventName": "bad"}]))
    assert emu.events(STORE) == api.inspect("events")
    assert emu.customers(STORE) == api.inspect("customers")
    assert emu.rejected(STORE) == api.inspect("rejected")
    assert emu.stats()["stored"] == 1
    assert emu.store_id == STORE
    assert emu.api_key == KEY
    assert emu.base_url == f"http://127.0.0.1:{emu.port}/v2.2"
    assert repr(emu) == f"<Emulator {emu.base_url}>"


# -- the Emulator object -------------------------------------------------------


def test_a_file_database_keeps_events_and_unique_ids_across_restarts(tmp_path: Any) -> None:
    path = tmp_path / "events.db"
    for _ in range(2):
        with Emulator({STORE: KEY}, db=path, rate_limit=None) as emu:
            client = Api(emu)
            try:
                accepted(client.event(order(uniqueId="once")))
                accepted(client.event(order()))
            finally:
                client.close()
    with Emulator({STORE: KEY}, db=path) as emu:
        events = emu.events(STORE)
        assert [e["uniqueId"] for e in events] == ["once", None, None]
        assert len(emu.customers(STORE)) == 1
    with contextlib.closing(sqlite3.connect(path)) as db:
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_the_summary_counts_without_reading_every_event(api: Api, emu: Emulator) -> None:
    accepted(api.event(order(data={"Total": 10, "Placed At": "2025-01-01T00:00:00Z"})))
    accepted(api.event(order("ana@example.com", data={"Total": 12, "Coupon": ""})))
    accepted(api.event(order(data={"Total": "twelve"})))
    accepted(api.bulk([order(), {"eventName": "No Customer"}]))
    accepted(api.event(order(), store=OTHER_STORE, key=OTHER_KEY))

    summary = emu.summary(STORE, top=3)
    assert summary == {
        "events": 4,
        "customers": 2,
        "rejected": 1,
        "properties": [
            {"key": "Total", "type": "number", "events": 2},
            {"key": "Placed At", "type": "date", "events": 1},
            {"key": "Total", "type": "string", "events": 1},
        ],
    }
    response = api.request("GET", f"/_emulator/stores/{STORE}/summary")
    assert response.status == 200, response.data
    assert orjson.loads(response.data) == emu.summary(STORE)
    assert emu.summary(OTHER_STORE)["events"] == 1


# The first layout of a file database (PRAGMA user_version 0), as redo-kit 0.1
# wrote it before the property types moved into the events table.
_FIRST_LAYOUT = """
CREATE TABLE customers (
    store_id TEXT NOT NULL, id TEXT NOT NULL, email TEXT, email_key TEXT,
    phone_number TEXT, first_name TEXT, last_name TEXT, location TEXT,
    custom_fields TEXT NOT NULL, created_at TEXT NOT NULL, updated_at TEXT NOT NULL,
    PRIMARY KEY (store_id, id)
);
CREATE TABLE customer_properties (
    store_id TEXT NOT NULL, customer_id TEXT NOT NULL, key TEXT NOT NULL,
    type TEXT NOT NULL, value, PRIMARY KEY (store_id, customer_id, key)
);
CREATE TABLE events (
    seq INTEGER PRIMARY KEY, store_id TEXT NOT NULL, id TEXT NOT NULL,
    event_name TEXT NOT NULL, customer_id TEXT NOT NULL, event_timestamp TEXT NOT NULL,
    received_at TEXT NOT NULL, value, value_currency TEXT, unique_id TEXT, data TEXT NOT NULL
);
CREATE UNIQUE INDEX events_by_unique_id ON events (store_id, unique_id)
    WHERE unique_id IS NOT NULL;
CREATE TABLE event_properties (
    store_id TEXT NOT NULL, key TEXT NOT NULL, type TEXT NOT NULL, value NOT NULL,
    event_seq INTEGER NOT NULL, PRIMARY KEY (store_id, key, type, value, event_seq)
) WITHOUT ROWID;
CREATE TABLE rejected (
    seq INTEGER PRIMARY KEY, store_id TEXT NOT NULL, received_at TEXT NOT NULL,
    position INTEGER NOT NULL, event TEXT NOT NULL, problems TEXT NOT NULL
);
INSERT INTO customers VALUES ('64e5a8a1af49a89df37e4ee7', '0000000000000000000000c1',
    'ana@example.com', 'ana@example.com', NULL, NULL, NULL, NULL, '{"Tier":"gold"}',
    '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z');
INSERT INTO customer_properties VALUES ('64e5a8a1af49a89df37e4ee7',
    '0000000000000000000000c1', 'Tier', 'string', 'gold');
INSERT INTO events VALUES (1, '64e5a8a1af49a89df37e4ee7', '0000000000000000000000e1',
    'Order Placed', '0000000000000000000000c1', '2026-01-01T00:00:00Z',
    '2026-01-01T00:00:00Z', 10, 'USD', 'old-1',
    '{"Total":10,"At":"2025-01-01T00:00:00Z","$extra":{"x":1}}');
INSERT INTO event_properties VALUES
    ('64e5a8a1af49a89df37e4ee7', 'Total', 'number', 10, 1),
    ('64e5a8a1af49a89df37e4ee7', 'At', 'date', 1735689600.0, 1);
"""


def test_a_database_of_the_first_layout_is_brought_up_to_date(tmp_path: Any) -> None:
    path = tmp_path / "old.db"
    with contextlib.closing(sqlite3.connect(path)) as db:
        db.executescript(_FIRST_LAYOUT)
    with Emulator({STORE: KEY}, db=path, rate_limit=None) as emu:
        [event] = emu.events()
        assert event["uniqueId"] == "old-1"
        assert event["propertyTypes"] == {"Total": "number", "At": "date"}
        [customer] = emu.customers()
        assert customer["customFieldTypes"] == {"Tier": "string"}
        client = Api(emu)
        try:
            accepted(client.event(order("ana@example.com", uniqueId="old-1")))
            accepted(client.event(order("ana@example.com", data={"Total": 3})))
        finally:
            client.close()
        assert [e["propertyTypes"] for e in emu.events()] == [
            {"Total": "number", "At": "date"},
            {"Total": "number"},
        ]
        assert len(emu.customers()) == 1
    with contextlib.closing(sqlite3.connect(path)) as db:
        assert db.execute("PRAGMA user_version").fetchone() == (2,)
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
        assert "event_properties" not in tables
        assert "customer_properties" not in tables


def test_a_database_of_the_second_layout_matches_emails_by_casefold(tmp_path: Any) -> None:
    # Layout 1 has the tables of today and wrote customers.email_key with lower().
    path = tmp_path / "lowered.db"
    Emulator({STORE: KEY}, db=path).start().close()
    with contextlib.closing(sqlite3.connect(path)) as db:
        db.execute(
            "INSERT INTO customers (store_id, id, email, email_key, custom_fields, created_at, "
            "updated_at) VALUES (?, '0000000000000000000000c1', ?, ?, '{}', "
            "'2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z')",
            (STORE, "Straße@example.com", "Straße@example.com".lower()),
        )
        db.execute("PRAGMA user_version = 1")
        db.commit()
    with Emulator({STORE: KEY}, db=path, rate_limit=None) as emu:
        client = Api(emu)
        try:
            accepted(client.event(order("STRASSE@example.com")))
        finally:
            client.close()
        [customer] = emu.customers()
        assert customer["id"] == "0000000000000000000000c1"
        assert [e["customerId"] for e in emu.events()] == [customer["id"]]
    with contextlib.closing(sqlite3.connect(path)) as db:
        assert db.execute("PRAGMA user_version").fetchone() == (2,)
        assert db.execute("SELECT email, email_key FROM customers").fetchall() == [
            ("STRASSE@example.com", "strasse@example.com")
        ]


def test_a_database_of_a_newer_layout_is_refused_not_misread(tmp_path: Any) -> None:
    path = tmp_path / "new.db"
    with contextlib.closing(sqlite3.connect(path)) as db:
        db.execute("PRAGMA user_version = 7")
    with pytest.raises(ConfigurationError, match=r"newer redo-kit \(layout 7.*upgrade"):
        Emulator({STORE: KEY}, db=path).start()


def test_the_demo_store_is_served_by_default() -> None:
    with Emulator() as emu:
        assert emu.store_id == DEMO_STORE_ID
        assert emu.api_key == DEMO_API_KEY
        client = Api(emu)
        try:
            accepted(client.event(order(), store=DEMO_STORE_ID, key=DEMO_API_KEY))
        finally:
            client.close()
        assert len(emu.events()) == 1


def test_a_closed_emulator_says_so_and_closes_twice_safely() -> None:
    emu = Emulator().start()
    emu.close()
    emu.close()
    assert repr(emu) == "<Emulator stopped>"
    with pytest.raises(RuntimeError, match="not running"):
        emu.events()


@pytest.mark.parametrize(
    "options",
    [
        {"stores": {}},
        {"stores": {"bad/id": "k"}},
        {"stores": {"store\n": "k"}},
        {"stores": {"s" * 65: "k"}},
        {"stores": {"a": "k", "b": "k"}},
        {"stores": {"a": ""}},
        {"stores": {"a": []}},
        {"rate_limit": -1},
        {"fault_delay": -1},
        {"faults": "teapot=0.1"},
        {"faults": "503=2"},
        {"faults": "503"},
        {"faults": "503=0.6,429=0.6"},
        {"faults": {"boom": 0.1}},
    ],
)
def test_bad_options_are_configuration_errors(options: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError):
        Emulator(**options)


def test_a_database_path_that_cannot_be_sqlite_is_a_configuration_error(tmp_path: Any) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("not a database\n")
    for path, words in [
        (text, "not a SQLite database"),
        (tmp_path, "is a directory"),
        (tmp_path / "nowhere" / "events.db", "does not exist"),
    ]:
        with pytest.raises(ConfigurationError, match=words):
            Emulator(db=path)
        with pytest.raises(ConfigurationError, match=words):
            EventStore(path)
    assert text.read_text() == "not a database\n"
    # A SQLite header on a damaged file passes the first look; SQLite's own error is wrapped.
    damaged = tmp_path / "damaged.db"
    damaged.write_bytes(b"SQLite format 3\x00" + b"\xff" * 200)
    with pytest.raises(ConfigurationError, match=r"damaged\.db") as caught:
        Emulator(db=damaged).start()
    assert isinstance(caught.value.__cause__, sqlite3.Error)
    # New and empty files are fine.
    (tmp_path / "empty.db").write_bytes(b"")
    for path in (tmp_path / "empty.db", tmp_path / "new.db", ":memory:"):
        with Emulator(db=path) as emu:
            assert emu.events() == []


def test_an_api_key_never_shows_in_its_repr() -> None:
    assert "secret" not in repr(ApiKey("secret"))


def test_extra_may_nest_up_to_100_levels_in_all(api: Api) -> None:
    extra: Any = "deepest"
    for _ in range(98):
        extra = {"a": extra}
    # The event, data and 98 nested objects: 100 levels.
    accepted(api.event(order(data={"$extra": extra})))
    assert api.inspect("events")[0]["data"]["$extra"] == extra
    accepted(api.bulk([order(data={"$extra": {"a": extra}}), order()]))
    [rejected] = api.inspect("rejected")
    assert rejected["index"] == 0
    assert rejected["problems"][0]["rule"] == "depth"
    # The walker names the container that goes one level too deep.
    assert rejected["problems"][0]["path"] == "$.events[0].data['$extra']" + ".a" * 98
    assert len(api.inspect("events")) == 2


def test_an_oversized_body_with_expect_100_continue_gets_413_without_sending_it(
    emu: Emulator,
) -> None:
    with socket.create_connection((emu.host, emu.port), timeout=5) as sock:
        sock.sendall(
            f"POST /v2.2/stores/{STORE}/events HTTP/1.1\r\nHost: x\r\n"
            f"Authorization: Bearer {KEY}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {10 * 1024 * 1024}\r\nExpect: 100-continue\r\n\r\n".encode()
        )
        answer = sock.recv(65536)
    assert answer.startswith(b"HTTP/1.1 413 ")
    assert b"100 Continue" not in answer


# -- the guide's own examples --------------------------------------------------


def test_every_example_of_the_spec_is_accepted_and_stored_by_the_rules(api: Api) -> None:
    singles = list(request_examples().values())
    bulks = list(request_examples(bulk=True).values())
    for example in singles:
        accepted(api.event(example))
    for example in bulks:
        accepted(api.bulk(example))
    events = api.inspect("events")
    # Every example is stored once, except the uniqueIds seen before.
    assert len(events) == len(singles) + sum(len(b["events"]) for b in bulks)
    assert api.inspect("rejected") == []
    by_unique_id = {e["uniqueId"]: e for e in events}
    shape = by_unique_id["milestone-test-001"]
    assert shape["propertyTypes"]["Enrolled At"] == "date"
    assert shape["value"] == 299.99
    customers = api.inspect("customers")
    # The examples name stewart@example.com and an unknown customer id: one customer.
    assert [c["email"] for c in customers] == ["stewart@example.com"]
    [stewart] = customers
    assert stewart["firstName"] == "Stewart"
    assert stewart["phoneNumber"] == "+11234567890"
    assert stewart["location"]["city"] == "Seattle"
    assert stewart["customFieldTypes"] == {
        "Age at Signup": "number",
        "Birthday": "date",
        "Loyalty Tier": "string",
        "Accepts Marketing": "boolean",
    }
    # Replaying every example stores nothing new where a uniqueId is set.
    with_ids = sum(1 for example in singles if "uniqueId" in example)
    assert with_ids > 0
    for example in singles:
        accepted(api.event(example))
    assert len(api.inspect("events")) == len(events) + len(singles) - with_ids


def test_the_pytest_fixture_gives_a_running_emulator_without_rate_limit(
    emulator: Emulator,
) -> None:
    client = Api(emulator)
    try:
        statuses = {
            client.event(order(), store=DEMO_STORE_ID, key=DEMO_API_KEY).status for _ in range(150)
        }
    finally:
        client.close()
    assert statuses == {202}
    assert len(emulator.events()) == 150


def test_it_listens_on_ipv6_loopback_too() -> None:
    if not socket.has_ipv6:
        pytest.skip("no IPv6 on this machine")
    try:
        emu = Emulator(host="::1").start()
    except OSError:
        pytest.skip("no IPv6 loopback on this machine")
    try:
        assert emu.base_url == f"http://[::1]:{emu.port}/v2.2"
        client = Api(emu)
        try:
            accepted(client.event(order(), store=DEMO_STORE_ID, key=DEMO_API_KEY))
        finally:
            client.close()
    finally:
        emu.close()


def test_concurrent_retries_store_each_unique_id_once(emu: Emulator) -> None:
    bodies = [
        orjson.dumps(
            {"events": [order(f"c{n % 7}@example.com", uniqueId=f"r{r}-{n}") for n in range(50)]}
        )
        for r in range(6)
    ]
    failures: list[int] = []

    def send() -> None:
        client = Api(emu)
        try:
            for body in bodies:
                response = client.post(f"/stores/{STORE}/events/bulk", body)
                if response.status != 202:
                    failures.append(response.status)
        finally:
            client.close()

    threads = [threading.Thread(target=send) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    events = emu.events(STORE)
    assert len(events) == 300
    assert len({e["uniqueId"] for e in events}) == 300
    assert len(emu.customers(STORE)) == 7
    assert emu.stats()["deduplicated"] == 900
