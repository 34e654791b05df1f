"""The public strategies produce what they promise, checked against the spec's own validator."""

from __future__ import annotations

from typing import Any

import phonenumbers
import pytest
from hypothesis import given, settings

from redo_kit._identity import is_email, is_object_id, normalize_phone
from redo_kit._properties import detect_type, is_date
from redo_kit._spec import validator
from redo_kit._validation import validate_event
from redo_kit.testing import strategies as rs


@given(rs.valid_events())
def test_valid_events_pass_the_spec_schema(event: dict[str, Any]) -> None:
    assert validator("Event").is_valid(event)


@given(rs.valid_events())
def test_valid_events_have_no_error(event: dict[str, Any]) -> None:
    problems = validate_event(event)
    assert [p for p in problems if p.severity == "error"] == []
    assert {p.rule for p in problems} <= {"ignored-value"}


@given(rs.invalid_events())
def test_each_invalid_event_breaks_exactly_its_rule(case: tuple[dict[str, Any], str, str]) -> None:
    event, rule, path = case
    errors = {(p.rule, p.path) for p in validate_event(event) if p.severity == "error"}
    assert errors == {(rule, path)}


@pytest.mark.parametrize("case", rs.INVALID_CASES)
def test_every_invalid_case_reports_its_rule_at_its_path(case: str) -> None:
    @settings(max_examples=8)
    @given(rs.invalid_events([case]))
    def check(broken: tuple[dict[str, Any], str, str]) -> None:
        event, rule, path = broken
        errors = {(p.rule, p.path) for p in validate_event(event) if p.severity == "error"}
        assert errors == {(rule, path)}

    check()


def test_invalid_events_needs_a_case() -> None:
    with pytest.raises(ValueError, match="at least one case"):
        rs.invalid_events([])


@given(rs.rfc3339_datetimes())
def test_rfc3339_datetimes_are_spec_dates(text: str) -> None:
    assert validator("Event").is_valid(
        {"eventName": "x", "customer": {"id": "0" * 24}, "eventTimestamp": text}
    )
    assert is_date(text)
    assert detect_type(text) == "date"


@given(rs.emails())
def test_emails_pass_the_spec_format(email: str) -> None:
    assert is_email(email)


@given(rs.phone_numbers())
def test_phone_numbers_are_possible_and_already_e164(phone: str) -> None:
    assert phonenumbers.is_possible_number(phonenumbers.parse(phone))
    assert normalize_phone(phone) == phone


@given(rs.object_ids())
def test_object_ids_are_24_hex_digits(value: str) -> None:
    assert is_object_id(value)
    assert len(value) == 24


@given(rs.property_values())
def test_property_values_are_segmentable_scalars(value: object) -> None:
    assert value is None or isinstance(value, (str, int, float, bool))
    event = {"eventName": "x", "customer": {"id": "0" * 24}, "data": {"k": value}}
    assert validator("Event").is_valid(event)
