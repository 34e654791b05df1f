"""The public strategies produce what they promise, checked against the spec's own validator."""

from __future__ import annotations

import copy
from typing import Any

import orjson
import phonenumbers
import pytest
from hypothesis import Phase, find, given, settings, target

import redo_kit
from redo_kit._identity import is_email, is_object_id, normalize_phone
from redo_kit._properties import detect_type, is_date
from redo_kit._rules import limits
from redo_kit._spec import document, using, validator
from redo_kit._validation import validate_bulk, validate_event
from redo_kit.testing import strategies as rs


def _errors(event: Any) -> set[tuple[str, str]]:
    return {(p.rule, p.path) for p in validate_event(event) if p.severity == "error"}


def _broken(event: Any, rule: str) -> set[tuple[str, str]]:
    """Every error, and every problem of ``rule`` (which may be a warning)."""
    return {
        (p.rule, p.path) for p in validate_event(event) if p.severity == "error" or p.rule == rule
    }


@given(rs.valid_events())
def test_valid_events_pass_the_spec_schema(event: dict[str, Any]) -> None:
    assert validator("Event").is_valid(event)


@given(rs.valid_events())
def test_valid_events_have_no_error(event: dict[str, Any]) -> None:
    problems = validate_event(event)
    assert [p for p in problems if p.severity == "error"] == []
    assert {p.rule for p in problems} <= {"ignored-value"}


@given(rs.valid_events(as_model=True))
def test_valid_events_as_models_are_events_redo_accepts(event: redo_kit.Event) -> None:
    assert isinstance(event, redo_kit.Event)
    wire = redo_kit.unstructure(event)
    assert _errors(wire) == set()
    assert redo_kit.structure(wire, redo_kit.Event) == event


@settings(max_examples=20)
@given(rs.bulk_requests())
def test_bulk_requests_are_whole_valid_bodies(body: dict[str, Any]) -> None:
    fewest, most = limits().bulk_events
    assert fewest <= len(body["events"]) <= most
    assert len(orjson.dumps(body)) <= limits().max_body_bytes
    envelope, per_event = validate_bulk(body)
    assert envelope == []
    # Not one warning of a repeated uniqueId: every event would be stored.
    assert [p for problems in per_event for p in problems if p.rule != "ignored-value"] == []


@settings(max_examples=10)
@given(rs.bulk_requests(as_model=True))
def test_bulk_requests_as_models(body: redo_kit.BulkEventsRequest) -> None:
    assert isinstance(body, redo_kit.BulkEventsRequest)
    assert validate_bulk(redo_kit.unstructure(body))[0] == []


@settings(max_examples=30)
@given(rs.invalid_events())
def test_each_invalid_event_breaks_exactly_its_rule(case: tuple[dict[str, Any], str, str]) -> None:
    event, rule, path = case
    assert _errors(event) == {(rule, path)}


@pytest.mark.parametrize("case", rs.INVALID_CASES)
def test_every_invalid_case_reports_its_rule_at_its_path(case: str) -> None:
    @settings(max_examples=4)
    @given(rs.invalid_events([case]))
    def check(broken: tuple[dict[str, Any], str, str]) -> None:
        event, rule, path = broken
        assert _errors(event) == {(rule, path)}

    check()


@pytest.mark.parametrize("rule", sorted(rs.event_rules()))
def test_every_rule_of_the_spec_has_events_that_break_it_alone(rule: str) -> None:
    @settings(max_examples=5)
    @given(rs.invalid_events(rule=rule))
    def check(broken: tuple[dict[str, Any], str, str]) -> None:
        event, found, path = broken
        assert found == rule
        assert _broken(event, rule) == {(rule, path)}

    check()


def test_no_rule_is_without_an_invalid_strategy() -> None:
    # The catalogue's ids and the keywords of the spec, both enumerated from
    # their sources: a rule added to either fails here until it has events.
    rules = rs.event_rules()
    assert {"required", "pattern", "customer-identifier", "string-size", "depth"} <= rules
    assert rules - rs.INVALID_RULES == set()


def test_a_keyword_new_to_the_spec_is_a_rule_without_events() -> None:
    spec = copy.deepcopy(document())
    spec["components"]["schemas"]["Location"]["properties"]["latitude"]["multipleOf"] = 0.5
    assert rs.event_rules(spec=spec) - rs.INVALID_RULES == {"multipleOf"}
    with pytest.raises(ValueError, match="no events for rule 'multipleOf'"):
        rs.invalid_events(rule="multipleOf", spec=spec)


def test_invalid_events_shrink_to_small_events() -> None:
    event, _, _ = find(rs.invalid_events(rule="customer-identifier"), lambda case: True)
    assert len(orjson.dumps(event)) < 60, event


def test_invalid_events_needs_a_case() -> None:
    with pytest.raises(ValueError, match="at least one case"):
        rs.invalid_events([])
    with pytest.raises(ValueError, match="unknown invalid_events cases"):
        rs.invalid_events(["no-such-case"])
    with pytest.raises(ValueError, match="either cases or rule"):
        rs.invalid_events(["nested-data"], rule="nested-data")


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


@given(rs.component_values("ProblemDetails"))
def test_component_values_follow_their_schema(body: dict[str, Any]) -> None:
    assert validator("ProblemDetails").is_valid(body)


# -- a changed spec moves the strategies ----------------------------------------------


def _changed_spec() -> dict[str, Any]:
    spec = copy.deepcopy(document())
    schemas = spec["components"]["schemas"]
    schemas["Event"]["properties"]["uniqueId"]["maxLength"] = 8
    schemas["CurrencyCode"]["enum"] = [*schemas["CurrencyCode"]["enum"], "AAA"]
    schemas["Location"]["properties"]["latitude"]["maximum"] = 10
    schemas["BulkEventsRequest"]["properties"]["events"]["maxItems"] = 3
    return spec


CHANGED = _changed_spec()


@settings(max_examples=40)
@given(rs.valid_events(spec=CHANGED))
def test_a_shorter_unique_id_limit_moves_valid_events(event: dict[str, Any]) -> None:
    assert len(event.get("uniqueId", "")) <= 8
    latitude = event["customer"].get("location", {}).get("latitude", 0)
    assert latitude <= 10
    with using(CHANGED):
        assert _errors(event) == set()


def _drawn(strategy: Any, count: int = 60) -> list[Any]:
    """``count`` examples of ``strategy`` (derandomized), steered toward long uniqueIds."""
    found: list[Any] = []

    @settings(max_examples=count, phases=[Phase.generate, Phase.target])
    @given(strategy)
    def collect(value: Any) -> None:
        found.append(value)
        if isinstance(value, dict):
            target(float(len(value.get("uniqueId", ""))))

    collect()
    return found


def test_the_changed_limits_are_reached() -> None:
    # Drawn from the changed spec, uniqueIds reach its 8 characters and stop there
    # (its invalid events, 9 characters and more, are valid under the shipped spec).
    assert limits().unique_id_length[1] > 8
    assert max(len(e.get("uniqueId", "")) for e in _drawn(rs.valid_events(spec=CHANGED))) == 8


def test_a_new_currency_appears_in_the_strategies() -> None:
    # valueCurrency draws from the CurrencyCode component as every strategy does;
    # 400 draws from 158 codes find the new one, which the shipped spec never gives.
    changed = set(_drawn(rs.component_values("CurrencyCode", spec=CHANGED), 400))
    shipped = set(_drawn(rs.component_values("CurrencyCode"), 400))
    assert "AAA" in changed
    assert "AAA" not in shipped
    event = {"eventName": "x", "customer": {"email": "a@example.com"}, "valueCurrency": "AAA"}
    with using(CHANGED):
        assert _errors(event) == set()


@settings(max_examples=10)
@given(rs.bulk_requests(spec=CHANGED))
def test_a_smaller_bulk_limit_moves_bulk_requests(body: dict[str, Any]) -> None:
    assert 1 <= len(body["events"]) <= 3


@settings(max_examples=30)
@given(rs.invalid_events(rule="maxLength", spec=CHANGED))
def test_a_shorter_unique_id_limit_moves_invalid_events(
    case: tuple[dict[str, Any], str, str],
) -> None:
    event, rule, path = case
    assert (rule, path) == ("maxLength", "$.uniqueId")
    assert 9 <= len(event["uniqueId"]) <= 28
    with using(CHANGED):
        assert _errors(event) == {(rule, path)}


def test_strategies_built_for_one_spec_keep_it() -> None:
    # Eager: the numbers are read when the strategy is built, not when it draws.
    strategy = rs.valid_events(spec=CHANGED)
    with using(copy.deepcopy(document())):
        drawn = _drawn(strategy)
    assert max(len(e.get("uniqueId", "")) for e in drawn) == 8


def test_strategies_follow_the_spec_in_use() -> None:
    with using(CHANGED):
        strategy = rs.valid_events()
    assert max(len(e.get("uniqueId", "")) for e in _drawn(strategy)) == 8
