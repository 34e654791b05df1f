"""Tracking plans: the file is checked with lines and fixes; events are checked against it."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest
from helpers import mock_client
from hypothesis import given
from hypothesis import strategies as st

from redo_kit._errors import ConfigurationError, PlanError, Problem, ValidationError
from redo_kit._events import PrepareOptions, prepare_event
from redo_kit._idempotency import unique_id
from redo_kit._plan import PLAN_RULES, PlanProperty, TrackingPlan
from redo_kit._properties import detect_type
from redo_kit._transport import MockTransport, Response
from redo_kit._validation import validate_event

PLAN = """\
version: '1.2.0'
closed: true
events:
  Order Placed:
    description: A customer placed an order.
    properties:
      Order Id: {type: string, required: true, pattern: '^ord_'}
      Order Total: {type: number, required: true, minimum: 0}
      Items: {type: integer, minimum: 1, maximum: 500}
      Channel: {type: string, enum: [web, pos, app]}
      Placed At: {type: date}
      Gift: {type: boolean}
    customFields:
      Loyalty Tier: {type: string, enum: [Bronze, Silver, Gold]}
    extra:
      type: object
      properties:
        Lines: {type: array}
      additionalProperties: false
    value: required
    valueCurrency: required
    uniqueId: [order, Order Id]
  Page Viewed:
    properties:
      Page: {type: string, required: true}
"""


@pytest.fixture(scope="module")
def plan() -> TrackingPlan:
    return TrackingPlan.from_text(PLAN, source="plan.yaml")


def _order(**data: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "eventName": "Order Placed",
        "customer": {"email": "stewart@example.com"},
        "value": 59.99,
        "valueCurrency": "USD",
        "data": {"Order Id": "ord_1", "Order Total": 59.99, **data},
    }
    event["uniqueId"] = unique_id("order", event["data"]["Order Id"])
    return event


def _rules(problems: list[Problem]) -> list[tuple[str, str, str]]:
    return [(p.path, p.rule, p.severity) for p in problems]


# -- the plan file -----------------------------------------------------------


def test_a_plan_reads_and_writes_back_the_same(plan: TrackingPlan) -> None:
    assert plan.version == "1.2.0"
    assert plan.closed is True
    assert list(plan.events) == ["Order Placed", "Page Viewed"]
    order = plan.events["Order Placed"]
    assert order.properties["Order Id"].required is True
    assert order.properties["Items"].type == "integer"
    assert order.unique_id == ("order", "Order Id")
    assert TrackingPlan.from_dict(plan.to_dict()) == plan


def test_a_plan_loads_from_a_file(tmp_path: Path, plan: TrackingPlan) -> None:
    path = tmp_path / "plan.yaml"
    path.write_text(PLAN, encoding="utf-8")
    assert TrackingPlan.load(path) == plan
    with pytest.raises(ConfigurationError, match="cannot read the tracking plan"):
        TrackingPlan.load(tmp_path / "missing.yaml")


@pytest.mark.parametrize(
    ("edit", "line", "needle", "hint"),
    [
        ("      Gift: {type: boolean}", 12, "requried", "spelling"),
        ("      Gift: {type: text}", 12, "text", "one of the values"),
        ("      $Gift: {type: boolean}", 12, "'$Gift' starts with $", "rename it"),
        ("      yes: {type: boolean}", 12, "the key True is not text", "quote it"),
        ("      Gift: {type: string, enum: [web, '']}", 12, "Redo drops ''", "take it out"),
        ("      Gift: {type: string, enum: [yes]}", 12, "true is not of types", "quote text"),
        ("      Gift: {type: number, pattern: '^1'}", 12, "a pattern applies to strings", "remove"),
        ("      Gift: {type: date, enum: ['2024-01-01']}", 12, "is not a date", "date values"),
        ("      Gift: {type: string, pattern: '(['}", 12, "does not compile", "valid regular"),
        ("      Gift: {type: string, enum: [2024-01-01]}", 12, "is a date, not text", "quote it"),
    ],
)
def test_a_bad_property_is_refused_with_its_line_and_fix(
    edit: str, line: int, needle: str, hint: str
) -> None:
    text = PLAN.replace("      Gift: {type: boolean}", edit)
    if needle == "requried":
        text = PLAN.replace(
            "      Gift: {type: boolean}", "      Gift: {type: boolean, requried: true}"
        )
    with pytest.raises(PlanError) as caught:
        TrackingPlan.from_text(text, source="plan.yaml")
    [problem] = caught.value.problems
    assert problem.rule == "plan-file"
    assert problem.message.startswith(f"line {line}: "), problem
    assert needle in problem.message
    assert hint in problem.hint
    assert "plan.yaml" in str(caught.value)


def test_an_unquoted_version_is_refused_with_the_fix() -> None:
    with pytest.raises(PlanError) as caught:
        TrackingPlan.from_text(PLAN.replace("version: '1.2.0'", "version: 1.2"))
    [problem] = caught.value.problems
    assert problem.message.startswith("line 1: ")
    assert problem.path == "$.version"
    assert "quote" in problem.hint


def test_a_recipe_on_an_optional_property_is_refused() -> None:
    text = PLAN.replace("uniqueId: [order, Order Id]", "uniqueId: [order, Channel]")
    with pytest.raises(PlanError) as caught:
        TrackingPlan.from_text(text)
    [problem] = caught.value.problems
    assert problem.message.startswith("line 22: ")
    assert "'Channel'" in problem.message
    assert "required string or integer" in problem.hint


def test_every_fault_of_a_plan_is_reported_at_once() -> None:
    text = PLAN.replace("Gift: {type: boolean}", "Gift: {type: bool}").replace(
        "Page: {type: string, required: true}", "'': {type: string}"
    )
    with pytest.raises(PlanError) as caught:
        TrackingPlan.from_text(text)
    assert sorted(p.message.split(":")[0] for p in caught.value.problems) == ["line 12", "line 25"]


def test_yaml_that_does_not_parse_names_its_line() -> None:
    with pytest.raises(PlanError) as caught:
        TrackingPlan.from_text(PLAN.replace("Channel: {type: string,", "Channel: {type: string"))
    assert caught.value.problems[0].message.startswith("line ")
    assert "not valid YAML" in caught.value.problems[0].message


def test_a_long_name_is_measured_against_the_spec() -> None:
    from redo_kit._rules import limits

    name = "n" * (limits().max_property_name + 1)
    with pytest.raises(PlanError, match="Redo takes at most"):
        TrackingPlan.from_dict(
            {"version": "1.0.0", "events": {"E": {"properties": {name: {"type": "string"}}}}}
        )


def test_extra_must_be_a_json_schema() -> None:
    with pytest.raises(PlanError, match="extra is not a JSON Schema"):
        TrackingPlan.from_dict({"version": "1.0.0", "events": {"E": {"extra": {"type": 5}}}})


# -- events against the plan ---------------------------------------------------


def test_an_event_that_follows_the_plan_has_no_problem(plan: TrackingPlan) -> None:
    event = _order(Items=3, Channel="web", **{"Placed At": "2026-04-02T12:00:00Z"})
    event["customer"]["customFields"] = {"Loyalty Tier": "Gold"}
    event["data"]["$extra"] = {"Lines": [1, 2]}
    assert validate_event(event, plan=plan) == []


def test_an_unknown_event_suggests_the_nearest(plan: TrackingPlan) -> None:
    event = {"eventName": "Order Placd", "customer": {"email": "a@example.com"}}
    [problem] = plan.problems(event)
    assert (problem.path, problem.rule, problem.severity) == ("$.eventName", "plan-event", "error")
    assert "did you mean 'Order Placed'?" in problem.hint
    open_plan = TrackingPlan.from_text(PLAN.replace("closed: true", "closed: false"))
    assert [p.severity for p in open_plan.problems(event)] == ["warning"]


DATA_CASES: list[tuple[dict[str, Any], list[tuple[str, str]]]] = [
    ({"Order Total": None}, [("$.data['Order Total']", "plan-required")]),
    ({"Order Total": 0}, [("$.data['Order Total']", "plan-required")]),
    ({"Order Id": "A-1"}, [("$.data['Order Id']", "plan-pattern")]),
    ({"Order Total": -5}, [("$.data['Order Total']", "plan-range")]),
    ({"Items": 2.5}, [("$.data.Items", "plan-type")]),
    ({"Items": 501}, [("$.data.Items", "plan-range")]),
    ({"Channel": "wbe"}, [("$.data.Channel", "plan-enum")]),
    ({"Placed At": "2026-04-02"}, [("$.data['Placed At']", "plan-type")]),
    ({"Order Id": "2026-04-02T12:00:00Z"}, [("$.data['Order Id']", "plan-type")]),
    ({"Gift": "yes"}, [("$.data.Gift", "plan-type")]),
    ({"Coupon": "X"}, [("$.data.Coupon", "plan-property")]),
]
"""Data of an otherwise valid order, and the (path, rule) of each problem it has."""


@pytest.mark.parametrize(("data", "expected"), DATA_CASES)
def test_each_plan_rule_names_the_property(
    plan: TrackingPlan, data: dict[str, Any], expected: list[tuple[str, str]]
) -> None:
    event = _order()
    event["data"].update(data)
    if "Order Id" in data:
        event["uniqueId"] = unique_id("order", str(data["Order Id"])) if data["Order Id"] else None
    found = plan.problems(event)
    assert [(p.path, p.rule) for p in found] == expected
    assert all(p.hint for p in found)


def test_a_required_value_redo_would_drop_says_so(plan: TrackingPlan) -> None:
    [problem] = plan.problems(_order(**{"Order Total": 0}))
    assert "Redo drops 0" in problem.message


def test_a_date_property_holding_a_date_alone_explains_redo_s_rule(plan: TrackingPlan) -> None:
    [problem] = plan.problems(_order(**{"Placed At": "2026-04-02 12:00"}))
    assert "as text, not as a date" in problem.message
    assert "RFC 3339" in problem.hint


def test_the_enum_suggests_the_nearest_value(plan: TrackingPlan) -> None:
    [problem] = plan.problems(_order(Channel="wbe"))
    assert "did you mean 'web'?" in problem.hint


def test_an_open_plan_warns_about_unknown_properties(plan: TrackingPlan) -> None:
    open_plan = TrackingPlan.from_text(PLAN.replace("closed: true", "closed: false"))
    found = open_plan.problems(_order(Coupon="X"))
    assert _rules(found) == [("$.data.Coupon", "plan-property", "warning")]


def test_custom_fields_extra_value_and_currency_follow_the_plan(plan: TrackingPlan) -> None:
    event = _order()
    event["customer"]["customFields"] = {"Loyalty Tier": "Platinum", "Age": 30}
    event["data"]["$extra"] = {"Lines": "1,2", "Other": 1}
    del event["value"], event["valueCurrency"]
    found = sorted((p.path, p.rule) for p in plan.problems(event))
    assert found == [
        ("$.customer.customFields.Age", "plan-property"),
        ("$.customer.customFields['Loyalty Tier']", "plan-enum"),
        ("$.data['$extra']", "plan-extra"),
        ("$.data['$extra'].Lines", "plan-extra"),
        ("$.value", "plan-required"),
        ("$.valueCurrency", "plan-required"),
    ]


def test_a_uniqueid_off_the_recipe_is_reported(plan: TrackingPlan) -> None:
    event = _order()
    event["uniqueId"] = "something-else"
    [problem] = plan.problems(event)
    assert (problem.path, problem.rule) == ("$.uniqueId", "plan-unique-id")
    assert "'order-ord_1'" in problem.message


def test_every_rule_the_module_lists_is_reported_by_some_case(plan: TrackingPlan) -> None:
    # What the cases of this module make the plan report: a rule added to
    # PLAN_RULES without an event that breaks it fails here.
    events = []
    for data, _ in DATA_CASES:
        event = _order()
        event["data"].update(data)
        events.append(event)
    unplanned = {"eventName": "Order Placd", "customer": {"email": "a@example.com"}}
    off = _order()
    off["customer"]["customFields"] = {"Loyalty Tier": "Platinum"}
    off["data"]["$extra"] = {"Other": 1}
    off["uniqueId"] = "something-else"
    seen = {p.rule for event in [*events, unplanned, off] for p in plan.problems(event)}
    assert seen == set(PLAN_RULES)


# -- the plan in preparation and sending ---------------------------------------


def test_preparation_takes_the_uniqueid_from_the_recipe(plan: TrackingPlan) -> None:
    event = _order()
    del event["uniqueId"]
    prepared = prepare_event(event, plan=plan)
    assert prepared.unique_id == "order-ord_1"


def test_preparation_refuses_an_event_off_a_closed_plan(plan: TrackingPlan) -> None:
    with pytest.raises(ValidationError) as caught:
        prepare_event(_order(Channel="wbe", Coupon=""), plan=plan)
    # "" is dropped before the plan sees the event: a warning, not an unknown property.
    assert {(p.path, p.rule) for p in caught.value.problems} == {
        ("$.data.Channel", "plan-enum"),
        ("$.data.Coupon", "ignored-value"),
    }


def test_an_open_plan_s_warnings_travel_with_the_prepared_event() -> None:
    open_plan = TrackingPlan.from_text(PLAN.replace("closed: true", "closed: false"))
    prepared = prepare_event(_order(Coupon="X"), options=PrepareOptions(plan=open_plan))
    assert [(w.path, w.rule) for w in prepared.warnings] == [("$.data.Coupon", "plan-property")]


def test_plan_must_be_a_tracking_plan() -> None:
    with pytest.raises(ConfigurationError, match="TrackingPlan"):
        PrepareOptions(plan={"version": "1.0.0"})  # type: ignore[arg-type]


def test_a_client_with_a_plan_sends_nothing_off_the_plan(plan: TrackingPlan) -> None:
    transport = MockTransport(responses=[Response(status=202)])
    client = mock_client(transport, plan=plan)
    with pytest.raises(ValidationError):
        client.send(_order(Channel="wbe"))
    assert transport.requests == []
    client.send(_order())
    assert len(transport.requests) == 1
    result = client.with_options().send_bulk([_order(Channel="wbe")])
    assert [r.problems[0].rule for r in result.rejections] == ["plan-enum"]


def test_a_batcher_with_a_plan_refuses_at_track(plan: TrackingPlan) -> None:
    transport = MockTransport(responses=[Response(status=202)])
    client = mock_client(transport)
    with client.batcher(plan=plan) as batcher, pytest.raises(ValidationError):
        batcher.track(_order(Items=0.5))
    assert transport.requests == []


# -- properties ----------------------------------------------------------------

_VALUES = st.one_of(
    st.booleans(),
    st.integers(min_value=-(2**53), max_value=2**53),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=30),
    st.datetimes().map(lambda d: d.isoformat() + "Z"),
    st.sampled_from(["2026-04-02T12:00:00Z", "2026-04-02", "2026-04-02 12:00:00Z"]),
)


@given(kind=st.sampled_from(["string", "number", "integer", "boolean", "date"]), value=_VALUES)
def test_a_value_the_plan_accepts_is_indexed_by_redo_as_planned(kind: Any, value: Any) -> None:
    """The oracle is detect_type, the spec's own rule for how Redo indexes a value."""
    prop = PlanProperty(name="P", type=kind)
    accepted = prop.problems(value, "$.data.P") == []
    indexed = detect_type(value)
    if kind == "integer":
        as_planned = indexed == "number" and float(value).is_integer() and math.isfinite(value)
    else:
        as_planned = indexed == kind
    assert accepted == as_planned


# -- the command line ----------------------------------------------------------


def _cli(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "redo_kit", *args],
        capture_output=True, text=True, check=False, env=env, cwd=cwd,
    )  # fmt: skip


def test_validate_and_import_follow_the_plan(tmp_path: Path) -> None:
    plan = tmp_path / "plan.yaml"
    plan.write_text(PLAN, encoding="utf-8")
    events = tmp_path / "events.jsonl"
    lines = [_order(), _order(Channel="wbe"), {**_order(), "eventName": "Order Placd"}]
    for line in lines:
        del line["uniqueId"]
    events.write_bytes(b"".join(orjson.dumps(line) + b"\n" for line in lines))

    done = _cli("validate", str(events), "--plan", str(plan))
    assert done.returncode == 1, done.stderr
    assert "line 2: $.data.Channel" in done.stdout
    assert "[plan-enum]" in done.stdout
    assert "did you mean 'Order Placed'?" in done.stdout

    env = {k: v for k, v in os.environ.items() if not k.startswith("REDO_")}
    # No API key: the embedded emulator, whose file goes in the working directory.
    done = _cli("import", str(events), "--plan", str(plan), env=env, cwd=tmp_path)
    assert done.returncode == 1, done.stderr
    assert "1 events delivered" in done.stdout
    assert "2 lines rejected" in done.stdout


def test_a_bad_plan_stops_the_command_with_every_fault(tmp_path: Path) -> None:
    plan = tmp_path / "plan.yaml"
    plan.write_text("version: 1\n", encoding="utf-8")
    done = _cli("validate", "-", "--plan", str(plan))
    assert done.returncode == 2
    assert '"events" is a required property' in done.stderr
    assert "line 1:" in done.stderr
    assert "'1.0.0'" in done.stderr


def test_custom_fields_are_stored_as_sent_so_zero_and_empty_text_are_values() -> None:
    plan = TrackingPlan.from_dict(
        {
            "version": "1.0.0",
            "events": {
                "Signed Up": {
                    "customFields": {
                        "Score": {"type": "integer", "minimum": 0},
                        "Nickname": {"type": "string"},
                        "Tier": {"type": "string", "enum": ["Gold"]},
                    }
                }
            },
        }
    )
    event: dict[str, Any] = {
        "eventName": "Signed Up",
        "customer": {"email": "a@example.com", "customFields": {"Score": 0, "Nickname": ""}},
    }
    assert plan.problems(event) == []
    event["customer"]["customFields"] = {"Tier": "", "Score": ""}
    assert sorted((p.path, p.rule) for p in plan.problems(event)) == [
        ("$.customer.customFields.Score", "plan-type"),
        ("$.customer.customFields.Tier", "plan-enum"),
    ]


def test_an_unplanned_key_redo_drops_is_not_an_unplanned_property(plan: TrackingPlan) -> None:
    event = _order(Coupon="", Note=None, Discount=0)
    assert plan.problems(event) == []
    assert {p.rule for p in validate_event(event, plan=plan)} == {"ignored-value"}
