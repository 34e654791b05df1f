"""validate_event, check_event and validate_bulk: every problem, with its path, rule and fix."""

from __future__ import annotations

import copy
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given

from redo_kit._errors import Problem, ValidationError
from redo_kit._rules import limits
from redo_kit._spec import request_examples, wire_path
from redo_kit._validation import check_event, validate_bulk, validate_event
from redo_kit.testing import strategies as rs

BASE: dict[str, Any] = {"eventName": "Order Placed", "customer": {"email": "stewart@example.com"}}


def _errors(problems: list[Problem]) -> list[tuple[str, str]]:
    return [(p.rule, p.path) for p in problems if p.severity == "error"]


def _one(problems: list[Problem], rule: str) -> Problem:
    found = [p for p in problems if p.rule == rule]
    assert len(found) == 1, problems
    return found[0]


@pytest.mark.parametrize(("name", "event"), sorted(request_examples().items()))
def test_every_guide_example_is_valid_with_no_warning(name: str, event: dict[str, Any]) -> None:
    assert validate_event(event) == [], name


@pytest.mark.parametrize(("name", "body"), sorted(request_examples(bulk=True).items()))
def test_every_bulk_example_is_valid(name: str, body: dict[str, Any]) -> None:
    envelope, per_event = validate_bulk(body)
    assert envelope == []
    assert per_event == [[] for _ in body["events"]], name


def test_validation_never_changes_its_input() -> None:
    event = {**BASE, "data": {"a": 0, "n": {"x": 1}}, "uniqueID": "x"}
    before = copy.deepcopy(event)
    validate_event(event)
    assert event == before


def test_missing_identifier_says_which_fields_count() -> None:
    problem = _one(
        validate_event({**BASE, "customer": {"firstName": "Stewart"}}), "customer-identifier"
    )
    assert problem.path == "$.customer"
    assert problem.message == "customer needs at least one of id, email, phoneNumber"
    assert "customer.email" in problem.hint


def test_missing_required_fields_are_each_named() -> None:
    assert _errors(validate_event({})) == [("required", "$.eventName"), ("required", "$.customer")]


def test_not_an_object_is_a_type_problem() -> None:
    assert _errors(validate_event([BASE])) == [("type", "$")]


@pytest.mark.parametrize(
    ("key", "meant"),
    [
        ("uniqueID", "uniqueId"),
        ("unique_id", "uniqueId"),
        ("event", "eventName"),
        ("properties", "data"),
        ("timestamp", "eventTimestamp"),
        ("$event_id", "uniqueId"),
        ("eventname", "eventName"),
        ("valueCurency", "valueCurrency"),
        ("email", "customer.email"),
    ],
)
def test_unknown_top_level_key_is_refused_with_did_you_mean(key: str, meant: str) -> None:
    problem = _one(validate_event({**BASE, key: "x"}), "unknown-key")
    assert problem.severity == "error"
    assert problem.message.startswith(f"unknown top-level key {key!r}")
    assert f"did you mean {meant!r}" in problem.hint
    assert "allow_unknown_keys=True" in problem.hint


def test_unknown_key_without_a_near_match_lists_the_known_keys() -> None:
    problem = _one(validate_event({**BASE, "zzz": 1}), "unknown-key")
    assert problem.path == "$.zzz"
    assert "eventName" in problem.hint
    assert "did you mean" not in problem.hint


def test_unknown_top_level_key_can_be_allowed_and_stays_a_warning() -> None:
    problems = validate_event({**BASE, "uniqueID": "x"}, allow_unknown_keys=True)
    assert _errors(problems) == []
    assert [(p.rule, p.severity) for p in problems] == [("unknown-key", "warning")]
    assert "ignores" in problems[0].message


def test_unknown_customer_and_location_keys_suggest_the_field() -> None:
    event = {
        **BASE,
        "customer": {"email": "a@b.co", "phone": "+12065550100", "location": {"zip": "1"}},
    }
    hints = {p.path: p.hint for p in validate_event(event) if p.rule == "unknown-key"}
    assert set(hints) == {"$.customer.phone", "$.customer.location.zip"}
    assert "'phoneNumber'" in hints["$.customer.phone"]
    assert "'postalCode'" in hints["$.customer.location.zip"]


def test_ignored_values_are_warnings_and_false_is_not_one() -> None:
    data = {"zero": 0, "zero_float": 0.0, "neg_zero": -0.0, "none": None, "empty": "", "no": False}
    problems = validate_event({**BASE, "data": {**data, "$extra": {"kept": 0, "also": None}}})
    assert _errors(problems) == []
    assert [p.path for p in problems] == [
        "$.data.zero",
        "$.data.zero_float",
        "$.data.neg_zero",
        "$.data.none",
        "$.data.empty",
    ]
    assert all(p.rule == "ignored-value" and p.severity == "warning" for p in problems)
    assert "$extra" in problems[0].hint


def test_nested_data_value_names_the_key_and_the_extra_fix() -> None:
    problems = validate_event({**BASE, "data": {"Items": [1, 2], "Profile": {"tier": "gold"}}})
    assert _errors(problems) == [("nested-data", "$.data.Items"), ("nested-data", "$.data.Profile")]
    assert "data['Items'] is an array" in problems[0].message
    assert "'$extra'" in problems[0].hint
    assert "move_nested_to_extra=True" in problems[0].hint


def test_extra_must_not_be_an_array() -> None:
    problem = _one(validate_event({**BASE, "data": {"$extra": [1]}}), "type")
    assert problem.path == "$.data['$extra']"
    assert "must be an object" in problem.message


@pytest.mark.parametrize(
    ("currency", "hint"),
    [("usd", "use 'USD'"), (" eur", "use 'EUR'"), ("XXX", "ISO 4217"), (12, "ISO 4217")],
)
def test_bad_currency_says_iso_4217_upper_case(currency: object, hint: str) -> None:
    problem = _one(validate_event({**BASE, "valueCurrency": currency}), "enum")
    assert problem.path == "$.valueCurrency"
    assert "ISO 4217" in problem.message
    assert hint in problem.hint


def test_bad_country_code_suggests_the_upper_case_code() -> None:
    event = {**BASE, "customer": {"email": "a@b.co", "location": {"countryCode": "us"}}}
    problem = _one(validate_event(event), "enum")
    assert problem.path == "$.customer.location.countryCode"
    assert "ISO 3166-1 alpha-2" in problem.message
    assert "'US'" in problem.hint


@pytest.mark.parametrize(
    ("customer", "rule", "path", "hint"),
    [
        ({"email": "not-an-email"}, "format", "$.customer.email", "name@example.com"),
        ({"phoneNumber": "(206) 555-0100"}, "pattern", "$.customer.phoneNumber", "normalize_phone"),
        ({"id": "123"}, "pattern", "$.customer.id", "ObjectId"),
        (
            {"email": "a@b.co", "location": {"ianaTimeZoneName": "Pacific Time"}},
            "pattern",
            "$.customer.location.ianaTimeZoneName",
            "America/Los_Angeles",
        ),
        (
            {"email": "a@b.co", "location": {"longitude": -181}},
            "minimum",
            "$.customer.location.longitude",
            "-180 to 180",
        ),
        (
            {"email": "a@b.co", "customFields": {"Plan": None}},
            "type",
            "$.customer.customFields.Plan",
            "omit the field",
        ),
        (
            {"email": "a@b.co", "customFields": {"Tags": ["a"]}},
            "type",
            "$.customer.customFields.Tags",
            "$extra",
        ),
    ],
)
def test_customer_problems_name_path_rule_and_fix(
    customer: dict[str, Any], rule: str, path: str, hint: str
) -> None:
    problems = validate_event({**BASE, "customer": customer})
    assert _errors(problems) == [(rule, path)]
    assert hint in problems[0].hint


@pytest.mark.parametrize(
    ("field", "value", "rule", "hint"),
    [
        ("eventTimestamp", "2024-01-01", "format", "2026-04-02T12:00:00Z"),
        ("eventTimestamp", 1700000000, "type", "RFC 3339"),
        ("value", "9.99", "type", "Decimal"),
        ("value", True, "type", "number"),
        ("uniqueId", "", "minLength", "unique_id("),
        ("uniqueId", "x" * 256, "maxLength", "hashes long keys"),
        ("eventName", "", "minLength", "Order Placed"),
    ],
)
def test_top_level_field_problems(field: str, value: object, rule: str, hint: str) -> None:
    problems = validate_event({**BASE, field: value})
    assert _errors(problems) == [(rule, f"$.{field}")]
    assert hint in problems[0].hint


def test_numeric_looking_keys_stay_keys_in_paths() -> None:
    problems = validate_event({**BASE, "data": {"0": [1]}})
    assert _errors(problems) == [("nested-data", "$.data['0']")]


def test_property_limit_is_400_with_extra_counted() -> None:
    data: dict[str, Any] = {f"p{i}": 1 for i in range(399)}
    assert validate_event({**BASE, "data": {**data, "$extra": {}}}) == []
    problem = _one(
        validate_event({**BASE, "data": {**data, "p399": 1, "$extra": {}}}), "maxProperties"
    )
    assert problem.path == "$.data"
    assert "401 properties; the limit is 400" in problem.message
    assert "$extra" in problem.hint


def test_empty_property_name_is_refused() -> None:
    assert _errors(validate_event({**BASE, "data": {"": 1}})) == [("propertyNames", "$.data['']")]


def test_string_limit_counts_utf8_bytes_not_characters() -> None:
    fits = "é" * (limits().max_string_bytes // 2)
    assert validate_event({**BASE, "data": {"s": fits}}) == []
    too_big = fits + "é"
    problem = _one(validate_event({**BASE, "data": {"$extra": {"deep": [too_big]}}}), "string-size")
    assert problem.path == "$.data['$extra'].deep[0]"
    assert "102,402 bytes" in problem.message


def test_string_limit_applies_to_keys() -> None:
    key = "k" * (limits().max_string_bytes + 1)
    problems = validate_event({**BASE, "data": {"$extra": {key: 1}}})
    assert ("string-size", "$.data['$extra']." + "k" * 40) in _errors(problems)


def test_event_size_limit_is_5_mb_of_json() -> None:
    chunk = "x" * 100_000
    big = {f"b{i}": chunk for i in range(limits().max_event_bytes // 100_000 + 1)}
    problem = _one(validate_event({**BASE, "data": {"$extra": big}}), "event-size")
    assert problem.path == "$"
    assert "5,242,880" in problem.message


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_numbers_are_refused_anywhere(bad: float) -> None:
    event = {**BASE, "value": bad, "data": {"x": bad, "$extra": {"y": [bad]}}}
    assert _errors(validate_event(event)) == [
        ("non-finite", "$.value"),
        ("non-finite", "$.data.x"),
        ("non-finite", "$.data['$extra'].y[0]"),
    ]


def test_python_objects_are_named_not_crashed_on() -> None:
    event = {
        **BASE,
        "eventTimestamp": datetime(2024, 1, 1, tzinfo=timezone.utc),
        "value": Decimal("1.5"),
        "data": {1: "x", "big": 2**70},
    }
    problems = validate_event(event)
    assert _errors(problems) == [
        ("json-type", "$.eventTimestamp"),
        ("json-type", "$.value"),
        ("json-type", "$.data['1']"),
        ("json-type", "$.data.big"),
    ]
    assert "build_event" in problems[0].hint


def test_python_objects_do_not_hide_schema_problems() -> None:
    event = {"eventName": "", "customer": {}, "eventTimestamp": datetime(2024, 1, 1)}
    assert set(_errors(validate_event(event))) == {
        ("json-type", "$.eventTimestamp"),
        ("minLength", "$.eventName"),
        ("customer-identifier", "$.customer"),
    }


def test_every_problem_names_path_rule_message_and_hint() -> None:
    event = {
        "eventName": "",
        "customer": {"email": "x", "phoneNumber": "1", "id": "z"},
        "valueCurrency": "usd",
        "uniqueID": "u",
        "data": {"n": [1], "z": 0},
    }
    problems = validate_event(event)
    assert len(problems) == 8
    for problem in problems:
        assert problem.path.startswith("$")
        assert problem.rule
        assert problem.message
        assert problem.hint


def test_root_prefixes_every_path() -> None:
    problems = validate_event({"customer": {"email": "x"}}, root="$.events[3]")
    assert _errors(problems) == [
        ("required", "$.events[3].eventName"),
        ("format", "$.events[3].customer.email"),
    ]


def test_check_event_raises_every_error_and_lets_warnings_pass() -> None:
    check_event({**BASE, "data": {"z": 0}})
    with pytest.raises(ValidationError) as caught:
        check_event({"eventName": "", "customer": {}})
    assert [(p.rule, p.path) for p in caught.value.errors] == [
        ("minLength", "$.eventName"),
        ("customer-identifier", "$.customer"),
    ]
    assert "2 problems" in str(caught.value)


def test_check_event_allows_unknown_keys_when_asked() -> None:
    with pytest.raises(ValidationError):
        check_event({**BASE, "foo": 1})
    check_event({**BASE, "foo": 1}, allow_unknown_keys=True)


@given(rs.valid_events())
def test_valid_events_warn_only_about_ignored_values(event: dict[str, Any]) -> None:
    problems = validate_event(event)
    assert _errors(problems) == []
    data = event.get("data", {})
    expected = {
        k for k, v in data.items() if k != "$extra" and v in (None, "", 0) and v is not False
    }
    assert {p.path for p in problems} == {f"$.data{_key(k)}" for k in expected}


def _key(key: str) -> str:
    return wire_path([key], "")


# Bulk bodies


def test_bulk_envelope_problems() -> None:
    assert [(p.rule, p.path) for p in validate_bulk([])[0]] == [("type", "$")]
    assert [(p.rule, p.path) for p in validate_bulk({})[0]] == [("required", "$.events")]
    assert [(p.rule, p.path) for p in validate_bulk({"events": []})[0]] == [
        ("minItems", "$.events")
    ]
    too_many = validate_bulk({"events": [BASE] * 101})
    assert [(p.rule, p.path) for p in too_many[0]] == [("maxItems", "$.events")]
    assert len(too_many[1]) == 101
    extra_key = validate_bulk({"events": [BASE], "storeId": "x"})[0]
    assert [(p.rule, p.path) for p in extra_key] == [("unknown-key", "$.storeId")]
    assert [(p.rule, p.path) for p in validate_bulk({"events": 1})[0]] == [("type", "$.events")]


def test_bulk_reports_each_event_at_its_index() -> None:
    body = {"events": [BASE, {**BASE, "customer": {"email": "nope"}}, {"eventName": "x"}]}
    envelope, per_event = validate_bulk(body)
    assert envelope == []
    assert per_event[0] == []
    assert _errors(per_event[1]) == [("format", "$.events[1].customer.email")]
    assert _errors(per_event[2]) == [("required", "$.events[2].customer")]


def test_bulk_reports_duplicate_unique_ids_after_the_first() -> None:
    body = {
        "events": [
            {**BASE, "uniqueId": "a"},
            {**BASE, "uniqueId": "b"},
            {**BASE, "uniqueId": "a"},
            {**BASE, "uniqueId": "a"},
        ]
    }
    _, per_event = validate_bulk(body)
    assert per_event[0] == []
    assert per_event[1] == []
    for index in (2, 3):
        problem = _one(per_event[index], "duplicate-unique-id")
        assert problem.path == f"$.events[{index}].uniqueId"
        assert problem.severity == "warning"
        assert "$.events[0]" in problem.message


def test_bulk_passes_allow_unknown_keys_to_each_event() -> None:
    body = {"events": [{**BASE, "timestamp": "x"}]}
    assert _errors(validate_bulk(body)[1][0]) == [("unknown-key", "$.events[0].timestamp")]
    assert _errors(validate_bulk(body, allow_unknown_keys=True)[1][0]) == []


def test_values_only_the_schema_validator_reads_are_still_reported() -> None:
    # jsonschema-rs takes a Decimal for a number, orjson cannot write one.
    event = {**BASE, "data": {"d": Decimal("1"), "$extra": {"l": [datetime(2024, 1, 1)]}}}
    assert _errors(validate_event(event)) == [
        ("json-type", "$.data.d"),
        ("json-type", "$.data['$extra'].l[0]"),
    ]


def test_a_string_over_the_byte_limit_is_reported_once() -> None:
    long_name = "x" * (limits().max_string_bytes + 1)
    event = {**BASE, "customer": {"email": "a@b.co", "firstName": long_name}}
    assert _errors(validate_event(event)) == [("string-size", "$.customer.firstName")]


def _nested(levels: int) -> dict[str, Any]:
    """An event whose objects nest exactly ``levels`` deep (the event itself is level 1)."""
    inner: dict[str, Any] = {}
    for _ in range(levels - 3):
        inner = {"a": inner}
    return {"eventName": "x", "customer": {"email": "a@example.com"}, "data": {"$extra": inner}}


@pytest.mark.parametrize(("levels", "valid"), [(100, True), (101, False), (5000, False)])
def test_nesting_is_bounded_without_exhausting_the_stack(levels: int, valid: bool) -> None:
    problems = validate_event(_nested(levels))
    assert (problems == []) is valid
    if not valid:
        # The walker names the container one level too deep, and goes no further.
        deepest = "$.data['$extra']" + ".a" * 98
        assert [(p.path, p.rule) for p in problems] == [(deepest, "depth")]


def test_a_too_deep_event_in_bulk_is_dropped_alone() -> None:
    ok = {"eventName": "x", "customer": {"email": "a@example.com"}}
    envelope, per_event = validate_bulk({"events": [ok, _nested(5000), ok]})
    assert envelope == []
    assert [[p.rule for p in problems] for problems in per_event] == [[], ["depth"], []]


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_a_real_null_does_not_hide_a_non_finite_number(bad: float) -> None:
    event = {**BASE, "data": {"$extra": {"ab": None, "n": [None, bad]}}}
    assert _errors(validate_event(event)) == [("non-finite", "$.data['$extra'].n[1]")]


def test_an_event_with_a_null_under_extra_is_valid() -> None:
    event = {**BASE, "data": {"$extra": {"ab": None, "tags": [None, 1.5]}}}
    assert validate_event(event) == []
