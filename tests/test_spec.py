"""The spec itself: valid OpenAPI 3.1, every guide example in it and valid, every rule stated."""

from __future__ import annotations

import re
from typing import Any

import jsonschema_rs
import pytest
import yaml
from openapi_spec_validator import validate

import redo_kit_models
from redo_kit import _converter as converter
from redo_kit import _spec
from redo_kit._codegen import spec_path

SINGLE = "/stores/{storeId}/events"
BULK = "/stores/{storeId}/events/bulk"


def _examples(path: str) -> dict[str, Any]:
    return _spec.request_examples(bulk=path == BULK)


def test_spec_is_valid_openapi_31() -> None:
    with spec_path().open() as fh:
        document = yaml.safe_load(fh)
    assert document["openapi"].startswith("3.1")
    validate(document)


def test_runtime_document_is_the_yaml_spec() -> None:
    with spec_path().open() as fh:
        document = yaml.safe_load(fh)
    runtime = dict(_spec.document())
    assert runtime.pop("x-generated-from").startswith("spec/redo-events.openapi.yaml")
    assert runtime == document


def test_every_guide_example_is_in_the_spec() -> None:
    single, bulk = _examples(SINGLE), _examples(BULK)
    names = {e["eventName"] for e in single.values()}
    # Every JSON event of the guide, by its eventName, plus the Python example's body.
    assert names >= {
        "Subscription Renewed",
        "Purchase Milestone Reached",
        "Order Placed",
        "Purchase Completed",
        "Loyalty Tier Upgrade",
        "Checkout Started",
    }
    assert len(single) == 8
    assert [e["eventName"] for b in bulk.values() for e in b["events"]] == [
        "Page Viewed",
        "Feature Used",
        "Subscription Started",
        "Subscription Renewed",
    ]


@pytest.mark.parametrize(("name", "payload"), sorted(_examples(SINGLE).items()))
def test_single_examples_validate_and_round_trip(name: str, payload: dict[str, Any]) -> None:
    assert _spec.validator("Event").is_valid(payload)
    model = converter.structure(payload, redo_kit_models.Event)
    assert converter.unstructure(model) == payload


@pytest.mark.parametrize(("name", "payload"), sorted(_examples(BULK).items()))
def test_bulk_examples_validate_and_round_trip(name: str, payload: dict[str, Any]) -> None:
    assert _spec.validator("BulkEventsRequest").is_valid(payload)
    model = converter.structure(payload, redo_kit_models.BulkEventsRequest)
    assert converter.unstructure(model) == payload


def test_operations_declare_every_documented_response() -> None:
    for path in (SINGLE, BULK):
        responses = _spec.document()["paths"][path]["post"]["responses"]
        assert {"202", "400", "401", "403", "404", "413", "429", "default"} <= set(responses)
    too_many = _spec.document()["components"]["responses"]["TooManyRequests"]
    assert "Retry-After" in too_many["headers"]
    assert "content" not in _spec.document()["components"]["responses"]["Accepted"]


def test_rules_schema_cannot_state_are_written_as_extensions() -> None:
    schemas = _spec.document()["components"]["schemas"]
    paths = _spec.document()["paths"]
    assert "x-redo-identity-resolution" in schemas["Customer"]
    assert "x-redo-patch-semantics" in schemas["Customer"]
    for key in ("x-redo-ignored-values", "x-redo-date-detection", "x-redo-extra"):
        assert key in schemas["EventData"]
    assert "x-redo-deduplication" in schemas["Event"]["properties"]["uniqueId"]
    assert "x-redo-unknown-top-level-keys" in schemas["Event"]
    assert "x-redo-size-limits" in schemas["Event"]
    assert "x-redo-bulk-validation" in paths[BULK]["post"]
    for path in (SINGLE, BULK):
        assert paths[path]["post"]["x-redo-rate-limit"]["requests"] == 100


@pytest.mark.parametrize(
    ("store_id", "accepted"),
    [
        ("64e5a8a1af49a89df37e4ee7", True),
        ("store_1-a", True),
        ("a/b", False),
        ("..", False),
        ("a b", False),
        ("a\nb", False),
        ("a\x00", False),
        ("", False),
        ("%2F", False),
    ],
)
def test_store_id_pattern(store_id: str, accepted: bool) -> None:
    parameter = _spec.document()["components"]["parameters"]["StoreId"]
    assert bool(re.search(parameter["schema"]["pattern"], store_id)) is accepted


@pytest.mark.parametrize(
    ("field", "value", "valid"),
    [
        ("valueCurrency", "USD", True),
        ("valueCurrency", "usd", False),
        ("valueCurrency", "XXX", False),
        ("uniqueId", "", False),
        ("uniqueId", "x" * 255, True),
        ("uniqueId", "x" * 256, False),
        ("eventTimestamp", "2026-04-02T12:00:00Z", True),
        ("eventTimestamp", "2026-04-02T12:00:00+05:30", True),
        ("eventTimestamp", "2026-04-02 12:00:00Z", False),
        ("eventTimestamp", "2026-04-02", False),
    ],
)
def test_event_field_constraints(field: str, value: Any, valid: bool) -> None:
    event = {"eventName": "x", "customer": {"email": "a@example.com"}, field: value}
    assert (_spec.validator("Event").is_valid(event)) is valid


@pytest.mark.parametrize(
    ("customer", "valid"),
    [
        ({"id": "665f1a2b3c4d5e6f7a8b9c0d"}, True),
        ({"phoneNumber": "+12065550100"}, True),
        ({"firstName": "Stewart"}, False),
        ({"id": "665f1a2b3c4d5e6f7a8b9c0"}, False),
        ({"phoneNumber": "2065550100"}, False),
        ({"email": "not an email"}, False),
        ({"email": "a@example.com", "nickname": "x"}, False),
        ({"email": "a@example.com", "location": {"countryCode": "USA"}}, False),
        ({"email": "a@example.com", "location": {"zip": "98101"}}, False),
        ({"email": "a@example.com", "customFields": {"a": None}}, False),
        ({"email": "a@example.com", "customFields": {"a": [1]}}, False),
    ],
)
def test_customer_constraints(customer: dict[str, Any], valid: bool) -> None:
    event = {"eventName": "x", "customer": customer}
    assert (_spec.validator("Event").is_valid(event)) is valid


@pytest.mark.parametrize(
    ("data", "valid"),
    [
        ({"a": "x", "b": 1, "c": 1.5, "d": True, "e": None, "f": 0, "g": ""}, True),
        ({"a": {"nested": 1}}, False),
        ({"a": [1, 2]}, False),
        ({"$extra": {"a": [1, {"b": None}], "z": 0}}, True),
        ({"$extra": [1]}, False),
        ({f"k{i}": i for i in range(400)}, True),
        ({f"k{i}": i for i in range(401)}, False),
    ],
)
def test_data_constraints(data: dict[str, Any], valid: bool) -> None:
    event = {"eventName": "x", "customer": {"email": "a@example.com"}, "data": data}
    assert (_spec.validator("Event").is_valid(event)) is valid


@pytest.mark.parametrize(
    ("body", "valid"),
    [
        ({"events": [{}]}, True),
        ({"events": [{}] * 100}, True),
        ({"events": [{}] * 101}, False),
        ({"events": []}, False),
        ({}, False),
        ({"events": [{}], "other": 1}, False),
        ([{}], False),
    ],
)
def test_bulk_envelope_checks_only_the_envelope(body: Any, valid: bool) -> None:
    assert _spec.bulk_envelope_validator().is_valid(body) is valid


def test_compiled_validators_enforce_formats() -> None:
    assert isinstance(_spec.validator("Event"), jsonschema_rs.Draft202012Validator)
    assert not _spec.validator("Customer").is_valid({"email": "no-at-sign"})
