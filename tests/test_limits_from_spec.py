"""Every number and pattern of the payload rules moves with the spec.

Each test loads a modified copy of the shipped document with
``_spec.using`` and checks that validation, preparation, identity and
``unique_id`` follow it, then that the shipped figures are back afterwards.
The emulator and the senders are held to the same in test_emulator_rules.py.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

import redo_kit
from redo_kit import ValidationError
from redo_kit._rules import limits
from redo_kit._spec import document, using

BASE: dict[str, Any] = {"eventName": "Order Placed", "customer": {"email": "a@example.com"}}


@contextmanager
def spec_with(change: Callable[[dict[str, Any]], None]) -> Iterator[None]:
    modified = copy.deepcopy(document())
    change(modified)
    with using(modified):
        yield


def _schemas(spec: dict[str, Any]) -> dict[str, Any]:
    schemas: dict[str, Any] = spec["components"]["schemas"]
    return schemas


def _rules(event: Any) -> list[tuple[str, str]]:
    return [(p.rule, p.path) for p in redo_kit.validate_event(event) if p.severity == "error"]


def test_a_shorter_unique_id_limit_moves_validation_preparation_and_unique_id() -> None:
    def shorter(spec: dict[str, Any]) -> None:
        _schemas(spec)["Event"]["properties"]["uniqueId"]["maxLength"] = 20

    event = {**BASE, "uniqueId": "x" * 21}
    assert _rules(event) == []
    with spec_with(shorter):
        assert limits().unique_id_length == (1, 20)
        assert _rules(event) == [("maxLength", "$.uniqueId")]
        with pytest.raises(ValidationError, match="1 to 20 characters"):
            redo_kit.prepare_event(event)
        made = redo_kit.unique_id("order", "a-very-long-order-number-0001")
        assert len(made) <= 20
    assert _rules(event) == []


def test_a_new_currency_is_accepted_once_the_spec_lists_it() -> None:
    def with_xau(spec: dict[str, Any]) -> None:
        _schemas(spec)["CurrencyCode"]["enum"].append("XAU")

    event = {**BASE, "value": 1, "valueCurrency": "XAU"}
    assert _rules(event) == [("enum", "$.valueCurrency")]
    with spec_with(with_xau):
        assert _rules(event) == []
        assert redo_kit.prepare_event(event).payload["valueCurrency"] == "XAU"
    assert _rules(event) == [("enum", "$.valueCurrency")]


def test_string_event_and_depth_limits_come_from_x_redo_size_limits() -> None:
    def smaller(spec: dict[str, Any]) -> None:
        sizes = _schemas(spec)["Event"]["x-redo-size-limits"]
        sizes.update(maxStringBytes=50, maxEventBytes=400, maxDepth=6)

    long_string = {**BASE, "data": {"Note": "n" * 60}}
    big = {**BASE, "data": {f"k{i}": "v" * 40 for i in range(10)}}
    nested: Any = 1
    for _ in range(5):
        nested = {"a": nested}
    deep = {**BASE, "data": {"$extra": nested}}
    for event in (long_string, big, deep):
        assert _rules(event) == []
    with spec_with(smaller):
        assert _rules(long_string) == [("string-size", "$.data.Note")]
        assert ("event-size", "$") in _rules(big)
        # The event (1), data (2), $extra (3) and four objects inside it: 7 levels.
        assert [rule for rule, _ in _rules(deep)] == ["depth"]
        with pytest.raises(ValidationError, match="more than 6 levels"):
            redo_kit.prepare_event(deep)
    assert _rules(deep) == []


def test_the_property_count_follows_event_data_max_properties() -> None:
    def fewer(spec: dict[str, Any]) -> None:
        _schemas(spec)["EventData"]["maxProperties"] = 3

    event = {**BASE, "data": {f"p{i}": i + 1 for i in range(4)}}
    assert _rules(event) == []
    with spec_with(fewer):
        assert _rules(event) == [("maxProperties", "$.data")]
    assert _rules(event) == []


def test_the_object_id_pattern_and_email_folding_come_from_the_customer_schema() -> None:
    def changed(spec: dict[str, Any]) -> None:
        customer = _schemas(spec)["Customer"]
        customer["properties"]["id"]["pattern"] = "^[0-9a-fA-F]{12}$"
        customer["x-redo-email-matching"]["fold"] = "lower"

    short_id = {**BASE, "customer": {"id": "ABCDEF123456"}}
    assert _rules(short_id) == [("pattern", "$.customer.id")]
    assert redo_kit.email_key("STRASSE@example.com") == redo_kit.email_key("straße@example.com")
    with spec_with(changed):
        assert _rules(short_id) == []
        assert redo_kit.prepare_event(short_id).payload["customer"]["id"] == "abcdef123456"
        assert redo_kit.email_key("STRASSE@example.com") != redo_kit.email_key("straße@example.com")
    assert redo_kit.email_key("STRASSE@example.com") == redo_kit.email_key("straße@example.com")


def test_the_bulk_envelope_follows_the_spec() -> None:
    def seven(spec: dict[str, Any]) -> None:
        _schemas(spec)["BulkEventsRequest"]["properties"]["events"]["maxItems"] = 7

    body = {"events": [{**BASE, "uniqueId": f"u{i}"} for i in range(8)]}
    envelope, _ = redo_kit.validate_bulk(body)
    assert envelope == []
    with spec_with(seven):
        envelope, _ = redo_kit.validate_bulk(body)
        assert [(p.rule, p.message) for p in envelope] == [
            ("maxItems", "a bulk body holds 1 to 7 events")
        ]
