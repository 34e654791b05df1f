"""The emulator's event operations over real loopback HTTP: every rule of the spec."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import orjson
import pytest
import urllib3

from redo_kit.emulator import ApiKey, Emulator

STORE = "64e5a8a1af49a89df37e4ee7"
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
