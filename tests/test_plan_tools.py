"""redo-kit plan infer, diff and check: a plan from sent events, and what a new version breaks."""

from __future__ import annotations

import gzip
import random
import subprocess
import sys
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from redo_kit._cli import main
from redo_kit._errors import PlanError
from redo_kit._plan import TrackingPlan
from redo_kit._plan_tools import (
    CHANGE_KINDS,
    ENUM_MAX_VALUES,
    ENUM_MIN_EVENTS,
    Inference,
    InferredEvent,
    InferredProperty,
    diff_plans,
    diff_report,
    infer_events,
)
from redo_kit._properties import detect_type
from redo_kit._rules import is_ignored
from redo_kit._spec import wire_path
from redo_kit.testing.strategies import property_values, valid_events

ROOT = Path(__file__).resolve().parents[1]


def _event(name: str = "Order Placed", n: int = 0, **data: Any) -> dict[str, Any]:
    return {"eventName": name, "customer": {"email": f"c{n}@example.com"}, "data": data}


def _infer(events: list[dict[str, Any]]) -> tuple[Inference, TrackingPlan]:
    """The inference over ``events`` and the plan its YAML loads as (which must load)."""
    inference = infer_events(events)
    return inference, TrackingPlan.from_text(inference.to_yaml(), source="inferred.yaml")


def _prop(inference: Inference, event: str, name: str, *, custom: bool = False) -> InferredProperty:
    found = next(e for e in inference.events if e.name == event)
    props = found.custom_fields if custom else found.properties
    return next(p for p in props if p.name == name)


def _yaml_line(inference: Inference, start: str) -> str:
    lines = inference.to_yaml().splitlines()
    return next(line for line in lines if line.lstrip().startswith(start))


# -- infer: what each rule decides ---------------------------------------------------


def test_a_property_always_present_is_required_and_a_sometimes_present_one_is_not() -> None:
    events = [_event(n=n, **{"Order Id": f"ord_{n}", "Coupon": "X" if n % 2 else None})
              for n in range(6)]  # fmt: skip
    inference, plan = _infer(events)
    placed = plan.events["Order Placed"]
    assert placed.properties["Order Id"].required
    assert placed.properties["Order Id"].type == "string"
    assert not placed.properties["Coupon"].required
    assert _yaml_line(inference, "Order Id:").endswith("# in 6 of 6")
    assert _yaml_line(inference, "Coupon:").endswith('# in 3 of 6; 3 with 0, null or "" (dropped)')


@pytest.mark.parametrize("dropped", [0, 0.0, -0.0, "", None])
def test_a_value_redo_drops_does_not_count_as_present(dropped: Any) -> None:
    events = [_event(n=n, Total=12.5) for n in range(4)] + [_event(n=9, Total=dropped)]
    inference, plan = _infer(events)
    total = plan.events["Order Placed"].properties["Total"]
    assert (total.type, total.required) == ("number", False)
    assert _prop(inference, "Order Placed", "Total").dropped == 1


def test_a_property_seen_only_with_dropped_values_is_left_out_with_a_comment() -> None:
    inference, plan = _infer([_event(n=n, Discount=0, Page="/") for n in range(3)])
    assert "Discount" not in plan.events["Order Placed"].properties
    assert '# left out: data property Discount, only values Redo does not type (0, null, ""), ' \
        "in 3 events" in inference.to_yaml()  # fmt: skip


def test_mixed_types_take_the_most_common_and_list_the_others_with_counts() -> None:
    values: list[Any] = [5, 7, 9, "n/a", True, "2026-01-02T03:04:05Z", "none"]
    inference, plan = _infer([_event(n=n, Items=v) for n, v in enumerate(values)])
    assert plan.events["Order Placed"].properties["Items"].type == "integer"
    assert _prop(inference, "Order Placed", "Items").others == (
        ("string", 2),
        ("boolean", 1),
        ("date", 1),
    )
    assert _yaml_line(inference, "Items:").endswith(
        "# in 7 of 7; also string in 2, boolean in 1, date in 1"
    )


@pytest.mark.parametrize(
    ("values", "planned"),
    [
        ([1, 2, 3], "integer"),
        ([1, 2.0, 3], "integer"),  # a float without a fraction is a number without a fraction
        ([1, 2.5, 3], "number"),
        ([10**20, -4], "integer"),
    ],
)
def test_integer_only_when_no_number_had_a_fraction(values: list[Any], planned: str) -> None:
    _, plan = _infer([_event(n=n, Qty=v) for n, v in enumerate(values)])
    assert plan.events["Order Placed"].properties["Qty"].type == planned


@pytest.mark.parametrize(
    ("distinct", "events", "enum"),
    [
        (ENUM_MAX_VALUES, ENUM_MIN_EVENTS, True),
        (ENUM_MAX_VALUES + 1, ENUM_MIN_EVENTS, False),
        (ENUM_MAX_VALUES, ENUM_MIN_EVENTS - 1, False),
        (1, ENUM_MIN_EVENTS, True),
        (3, 500, True),
    ],
)
def test_an_enum_for_few_distinct_strings_over_many_events(
    distinct: int, events: int, enum: bool
) -> None:
    stream = [_event(n=n, Tier=f"tier-{n % distinct}") for n in range(events)]
    _, plan = _infer(stream)
    tier = plan.events["Order Placed"].properties["Tier"]
    if enum:
        assert tier.enum == tuple(sorted(f"tier-{i}" for i in range(distinct)))
    else:
        assert tier.enum is None
    for event in stream:
        assert plan.problems(event) == []


def test_dropped_values_do_not_count_toward_the_enum_rule() -> None:
    stream = [_event(n=n, Tier="gold" if n < ENUM_MIN_EVENTS - 1 else "") for n in range(40)]
    _, plan = _infer(stream)
    assert plan.events["Order Placed"].properties["Tier"].enum is None


def test_custom_fields_value_and_currency_are_inferred_like_properties() -> None:
    events = []
    for n in range(ENUM_MIN_EVENTS):
        event = _event(n=n, Total=10.5)
        event["customer"]["customFields"] = {"Tier": ["gold", "silver"][n % 2], "Vip": n % 3 == 0}
        if n % 4:
            event["customer"]["customFields"]["Birthday"] = "1990-05-01T00:00:00Z"
        event["value"] = 10.5
        if n % 2:
            event["valueCurrency"] = "EUR"
        events.append(event)
    inference, plan = _infer(events)
    placed = plan.events["Order Placed"]
    assert placed.custom_fields["Tier"].enum == ("gold", "silver")
    assert placed.custom_fields["Tier"].required
    assert placed.custom_fields["Vip"].type == "boolean"
    assert (placed.custom_fields["Birthday"].type, placed.custom_fields["Birthday"].required) == (
        "date",
        False,
    )
    assert placed.value_required
    assert not placed.currency_required
    text = inference.to_yaml()
    assert "    value: required  # in 20 of 20\n" in text
    assert "    # valueCurrency: optional, in 10 of 20\n" in text


def test_names_a_plan_cannot_hold_are_left_out_with_a_comment() -> None:
    events = [_event(n=n, **{"$internal": 1, "Page": "/"}) for n in range(2)]
    events[0]["customer"]["customFields"] = {"$tier": "gold", "Tier": "gold"}
    events.append({**_event(name="$system", n=5), "data": {"Page": "/"}})
    inference, plan = _infer(events)
    assert set(plan.events) == {"Order Placed"}
    assert set(plan.events["Order Placed"].properties) == {"Page"}
    assert set(plan.events["Order Placed"].custom_fields) == {"Tier"}
    text = inference.to_yaml()
    assert '    # left out: data property "$internal", a name starting with $, which Redo ' \
        "reserves for $extra; in 2 events\n" in text  # fmt: skip
    assert '    # left out: custom field "$tier", a name starting with $, which Redo ' \
        "reserves for $extra; in 1 event\n" in text  # fmt: skip
    assert "# 1 event left out: an eventName starting with $, which a plan cannot name." in text


def test_events_redo_refuses_and_lines_that_are_not_json_are_left_out(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = [
        orjson.dumps(_event(n=1, Page="/")),
        orjson.dumps({"eventName": "Order Placed", "customer": {}}),  # no identifier
        orjson.dumps(_event(n=2, Page=["/a"])),  # nested data
        b"not json",
        b"",
        b"[1, 2]",
    ]
    path = tmp_path / "history.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    assert main(["plan", "infer", str(path)]) == 0
    out = capsys.readouterr().out
    header = [line for line in out.splitlines() if line.startswith("#")]
    assert header[:4] == [
        "# Inferred by redo-kit plan infer from history.jsonl: 1 event of 1 name, in 6 lines.",
        "# 2 lines not read: not a JSON object.",
        "# 1 event left out: Redo refuses them (customer-identifier).",
        "# 1 event left out: Redo refuses them (nested-data).",
    ]
    plan = TrackingPlan.from_text(out)
    assert plan.events["Order Placed"].properties["Page"].required


def test_the_output_is_sorted_and_the_same_whatever_the_order_of_the_input() -> None:
    events = [
        _event(name=name, n=n, **{key: n + 1 for key in ("b", "A", "a", "C")})
        for n, name in enumerate(["Zed", "alpha", "Beta", "Zed", "beta"] * 5)
    ]
    first = infer_events(events).to_yaml()
    shuffled = list(events)
    random.Random(7).shuffle(shuffled)
    assert infer_events(shuffled).to_yaml() == first
    assert [e.name for e in infer_events(events).events] == ["alpha", "Beta", "beta", "Zed"]
    assert list(TrackingPlan.from_text(first).events["Zed"].properties) == ["A", "a", "b", "C"]


@pytest.mark.parametrize(
    "name",
    ["yes", "null", "1.5", "a: b", "#x", " lead", "trail ", "line\u2028break", "nel\x85",
     "caf\u00e9", "emoji \U0001f600", "[x]", "{y}", '"q"', "back\\slash", "tab\there",
     "bom\ufeff", "del\x7f", "~", "- dash", "x" * 3000, "k: v #c", "'single'", "@at", "`tick`",
     "?", "!tag", "&anchor", "*alias", "%pct", "|", ">"],
)  # fmt: skip
def test_any_name_and_value_reads_back_exactly(name: str) -> None:
    events = [_event(name=name, n=n, **{name: name}) for n in range(ENUM_MIN_EVENTS)]
    _, plan = _infer(events)
    prop = plan.events[name].properties[name]
    assert prop.enum == (name,)
    for event in events:
        assert plan.problems(event) == []


def test_inference_keeps_counters_not_events() -> None:
    # 20,000 events with a distinct 200-character value each: some 5 MB if kept.
    def stream() -> Any:
        for n in range(20_000):
            yield _event(n=n, Note=f"{n:08d}" + "x" * 192, Qty=n + 1)

    tracemalloc.start()
    try:
        inference = infer_events(stream())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert inference.events[0].count == 20_000
    assert _prop(inference, "Order Placed", "Note").enum is None
    assert peak < 1_500_000, peak


# -- infer: the round trip, over generated streams -------------------------------


_EVENTS = st.lists(valid_events(), min_size=1, max_size=12)
_VALUES = property_values()


@st.composite
def _streams(draw: st.DrawFn) -> list[dict[str, Any]]:
    """Valid events under a few names, with a few shared property names among any others."""
    names = draw(st.lists(st.text(min_size=1, max_size=12), min_size=1, max_size=3, unique=True))
    keys = draw(st.lists(st.text(min_size=1, max_size=8), min_size=1, max_size=4, unique=True))
    shared = st.dictionaries(st.sampled_from(keys), _VALUES, max_size=4)
    chosen = st.sampled_from(names)
    out = []
    for event in draw(_EVENTS):
        data = {**event.get("data", {}), **draw(shared)}
        out.append({**event, "eventName": draw(chosen), "data": data})
    return out


def _explained(event: dict[str, Any], problem: Any, inference: Inference) -> bool:
    """Whether ``problem`` of an input event is one no inferred plan can avoid.

    A closed plan cannot name what it leaves out ($-prefixed or empty names, a
    property only ever sent with values Redo drops), a property seen with two
    types has one, and a custom field of 0 or "" has no type a plan can give.
    """
    inferred = next(e for e in inference.events if e.name == event["eventName"])
    sections = (
        ("data", event.get("data") or {}, inferred.properties),
        ("customFields", event["customer"].get("customFields") or {}, inferred.custom_fields),
    )
    for where, values, props in sections:
        by_name = {p.name: p for p in props}
        steps = ["data"] if where == "data" else ["customer", "customFields"]
        for key, value in values.items():
            if problem.path != wire_path([*steps, key]):
                continue
            prop = by_name.get(key)
            if problem.rule == "plan-property":
                return prop is None or prop.type is None
            if problem.rule == "plan-type":
                return prop is not None and (bool(prop.others) or detect_type(value) is None)
    return False


@settings(max_examples=30)
@given(_streams())
def test_every_event_inferred_from_follows_the_plan(events: list[dict[str, Any]]) -> None:
    inference = infer_events(events)
    plan = TrackingPlan.from_text(inference.to_yaml(), source="inferred.yaml")
    assert plan == TrackingPlan.from_dict(inference.to_dict())
    for inferred in inference.events:
        # required means carried, with a value Redo keeps, by every event of the name.
        mine = [e for e in events if e["eventName"] == inferred.name]
        assert inferred.count == len(mine)
        for prop in inferred.properties:
            carried = sum(
                prop.name in e["data"] and not is_ignored(e["data"][prop.name]) for e in mine
            )
            assert prop.present == carried
            assert prop.required == (carried == len(mine) and prop.type is not None)
    for event in events:
        if event["eventName"].startswith("$"):
            assert event["eventName"] not in plan.events
            continue
        for problem in plan.problems(event):
            assert problem.severity == "error"
            assert _explained(event, problem, inference), (problem, event)


# -- infer: the command ----------------------------------------------------------


def _cli(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "redo_kit._cli", *args],
        input=None if stdin is None else stdin.decode(),
        capture_output=True,
        text=True,
        check=False,
    )


def test_infer_reads_gzip_and_stdin_alike(tmp_path: Path) -> None:
    body = b"".join(orjson.dumps(_event(n=n, Page=f"/{n % 3}")) + b"\n" for n in range(30))
    packed = tmp_path / "history.jsonl.gz"
    packed.write_bytes(gzip.compress(body))
    out = tmp_path / "plan.yaml"
    from_file = _cli("plan", "infer", str(packed), "--out", str(out))
    assert from_file.returncode == 0, from_file.stderr
    assert from_file.stderr.splitlines()[-1] == f"wrote {out}: 1 event"
    from_stdin = _cli("plan", "infer", "-", stdin=body)
    assert from_stdin.returncode == 0, from_stdin.stderr
    written = out.read_text()
    assert written.splitlines()[1:] == from_stdin.stdout.splitlines()[1:]
    assert TrackingPlan.from_text(written).events["Order Placed"].properties["Page"].enum == (
        "/0",
        "/1",
        "/2",
    )


def test_infer_without_any_storable_event_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "empty.jsonl"
    path.write_bytes(b'{"eventName": ""}\n')
    assert main(["plan", "infer", str(path)]) == 1
    shown = capsys.readouterr()
    assert "no event Redo would store was read" in shown.err
    assert shown.out.endswith("events: {}  # no event was read\n")


def test_the_enum_rule_can_be_set_on_the_command_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "h.jsonl"
    path.write_bytes(b"".join(orjson.dumps(_event(n=n, Tier=f"t{n % 12}")) + b"\n"
                              for n in range(24)))  # fmt: skip
    assert main(["plan", "infer", str(path)]) == 0
    assert "enum" not in capsys.readouterr().out.split("events:")[1]
    assert main(["plan", "infer", str(path), "--enum-max", "12"]) == 0
    assert "enum: [t0, t1, t10, t11, t2" in capsys.readouterr().out


# -- diff ------------------------------------------------------------------------

BASE: dict[str, Any] = {
    "version": "1.4.0",
    "closed": False,
    "events": {
        "Order Placed": {
            "properties": {
                "Order Id": {"type": "string", "required": True, "pattern": "^ord_"},
                "Total": {"type": "number", "minimum": 0, "maximum": 10000},
                "Items": {"type": "integer"},
                "Channel": {"type": "string", "enum": ["web", "pos"]},
                "Coupon": {"type": "string"},
            },
            "customFields": {"Tier": {"type": "string"}},
            "uniqueId": ["order", "Order Id"],
            "extra": {"type": "object"},
        },
        "Page Viewed": {"properties": {"Page": {"type": "string"}}},
    },
}


def _edited(edit: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    plan = orjson.loads(orjson.dumps(BASE))
    edit(plan)
    return plan


def _order(plan: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = plan["events"]["Order Placed"]
    return found


def _props(plan: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = _order(plan)["properties"]
    return found


def _set(target: Callable[[dict[str, Any]], dict[str, Any]], key: str, value: Any) -> Any:
    def edit(plan: dict[str, Any]) -> None:
        if value is None:
            del target(plan)[key]
        else:
            target(plan)[key] = value

    return edit


def _in(name: str) -> Callable[[dict[str, Any]], dict[str, Any]]:
    def target(plan: dict[str, Any]) -> dict[str, Any]:
        found: dict[str, Any] = _props(plan)[name]
        return found

    return target


Edit = Callable[[dict[str, Any]], None]


def _same(plan: dict[str, Any]) -> None:
    """No edit."""


def _page_required(plan: dict[str, Any]) -> None:
    plan["events"]["Page Viewed"]["properties"]["Page"]["required"] = True


def _page_recipe(plan: dict[str, Any]) -> None:
    _page_required(plan)
    plan["events"]["Page Viewed"]["uniqueId"] = ["view", "Page"]


# (case, edit of BASE giving the old plan, edit of BASE giving the new one, the change's kind)
_TABLE: list[tuple[str, Edit, Edit, str]] = [
    ("closed", _same, _set(lambda p: p, "closed", True), "closed"),
    ("opened", _set(lambda p: p, "closed", True), _same, "opened"),
    ("event-added", _same, _set(lambda p: p["events"], "Signed Up", {}), "event-added"),
    ("event-removed", _same, _set(lambda p: p["events"], "Page Viewed", None), "event-removed"),
    ("property-added", _same, _set(_props, "Gift", {"type": "boolean"}), "property-added"),
    ("property-added-required", _same,
     _set(_props, "Gift", {"type": "boolean", "required": True}), "property-added-required"),
    ("property-removed", _same, _set(_props, "Coupon", None), "property-removed"),
    ("custom-field-removed", _same, _set(lambda p: _order(p)["customFields"], "Tier", None),
     "property-removed"),
    ("type-changed", _same, _set(_in("Coupon"), "type", "date"), "type-changed"),
    ("type-narrowed", _same, _set(_in("Total"), "type", "integer"), "type-changed"),
    ("type-widened", _same, _set(_in("Items"), "type", "number"), "type-widened"),
    ("required-added", _same, _set(_in("Coupon"), "required", True), "required-added"),
    ("required-removed", _set(_in("Coupon"), "required", True), _same, "required-removed"),
    ("value-required", _same, _set(_order, "value", "required"), "required-added"),
    ("enum-added", _same, _set(_in("Coupon"), "enum", ["SPRING10"]), "enum-added"),
    ("enum-narrowed", _same, _set(_in("Channel"), "enum", ["web"]), "enum-narrowed"),
    ("enum-swapped", _same, _set(_in("Channel"), "enum", ["web", "app"]), "enum-narrowed"),
    ("enum-widened", _same, _set(_in("Channel"), "enum", ["web", "pos", "app"]), "enum-widened"),
    ("enum-removed", _same, _set(_in("Channel"), "enum", None), "enum-removed"),
    ("pattern-added", _same, _set(_in("Coupon"), "pattern", "^[A-Z]+$"), "pattern-added"),
    ("pattern-changed", _same, _set(_in("Order Id"), "pattern", "^order_"), "pattern-changed"),
    ("pattern-removed", _same, _set(_in("Order Id"), "pattern", None), "pattern-removed"),
    ("minimum-raised", _same, _set(_in("Total"), "minimum", 1), "range-tightened"),
    ("maximum-lowered", _same, _set(_in("Total"), "maximum", 500), "range-tightened"),
    ("minimum-added", _same, _set(_in("Items"), "minimum", 1), "range-tightened"),
    ("maximum-raised", _same, _set(_in("Total"), "maximum", 20000), "range-widened"),
    ("minimum-removed", _same, _set(_in("Total"), "minimum", None), "range-widened"),
    ("unique-id-added", _page_required, _page_recipe, "unique-id-added"),
    ("unique-id-changed", _same, _set(_order, "uniqueId", ["o", "Order Id"]), "unique-id-changed"),
    ("unique-id-removed", _same, _set(_order, "uniqueId", None), "unique-id-removed"),
    ("extra-added", _same, _set(lambda p: p["events"]["Page Viewed"], "extra", {"type": "object"}),
     "extra-added"),
    ("extra-changed", _same, _set(_order, "extra", {"type": "object", "required": ["Lines"]}),
     "extra-changed"),
    ("extra-removed", _same, _set(_order, "extra", None), "extra-removed"),
]  # fmt: skip


def _pair(old_edit: Edit, new_edit: Edit) -> tuple[TrackingPlan, TrackingPlan]:
    return (
        TrackingPlan.from_dict(_edited(old_edit), source="old.yaml"),
        TrackingPlan.from_dict(_edited(new_edit), source="new.yaml"),
    )


@pytest.mark.parametrize(("case", "before", "after", "kind"), _TABLE, ids=[c[0] for c in _TABLE])
def test_each_change_is_found_and_sorted_into_breaking_or_safe(
    case: str, before: Edit, after: Edit, kind: str
) -> None:
    old, new = _pair(before, after)
    changes = diff_plans(old, new)
    assert [c.kind for c in changes] == [kind]
    assert changes[0].breaking is CHANGE_KINDS[kind]
    assert changes[0].message
    assert diff_plans(old, old) == []


def test_the_table_covers_every_kind_of_change() -> None:
    assert {kind for *_, kind in _TABLE} == set(CHANGE_KINDS)


@pytest.mark.parametrize(("case", "before", "after", "kind"), _TABLE, ids=[c[0] for c in _TABLE])
def test_the_command_exits_1_exactly_when_something_breaks(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    case: str,
    before: Edit,
    after: Edit,
    kind: str,
) -> None:
    old, new = _pair(before, after)
    paths = []
    for name, plan in (("old.yaml", old), ("new.yaml", new)):
        path = tmp_path / name
        path.write_text(yaml.safe_dump(plan.to_dict()))
        paths.append(str(path))
    code = main(["plan", "diff", *paths, "--format", "json"])
    report = orjson.loads(capsys.readouterr().out)
    assert code == (1 if CHANGE_KINDS[kind] else 0)
    section = "breaking" if CHANGE_KINDS[kind] else "safe"
    assert [c["kind"] for c in report[section]] == [kind]
    assert report["breaking" if section == "safe" else "safe"] == []


def test_the_json_report_names_each_change_and_the_version_to_use() -> None:
    old, new = _pair(_same, _set(_props, "Coupon", None))
    report = diff_report(old, new)
    assert report == {
        "old": {"source": "old.yaml", "version": "1.4.0"},
        "new": {"source": "new.yaml", "version": "1.4.0"},
        "breaking": [
            {
                "kind": "property-removed",
                "breaking": True,
                "event": "Order Placed",
                "where": "properties",
                "property": "Coupon",
                "message": "property 'Coupon' of 'Order Placed' was removed",
            }
        ],
        "safe": [],
        "versionAdvice": "breaking changes call for version 2.0.0 or later, not 1.4.0 (from 1.4.0)",
    }


@pytest.mark.parametrize(
    ("old", "new", "advice"),
    [("1.4.0", "2.0.0", False), ("1.4.0", "1.5.0", True), ("0.3.1", "0.4.0", False),
     ("0.3.1", "0.3.2", True), ("0.3.1", "1.0.0", False)],
)  # fmt: skip
def test_semver_advice_only_when_breaking_changes_keep_the_major(
    old: str, new: str, advice: bool
) -> None:
    before = TrackingPlan.from_dict({**BASE, "version": old})
    after = TrackingPlan.from_dict({**_edited(_set(_props, "Coupon", None)), "version": new})
    assert (diff_report(before, after)["versionAdvice"] is not None) is advice
    safe = TrackingPlan.from_dict({**_edited(_set(_props, "Gift", {"type": "boolean"})),
                                   "version": old})  # fmt: skip
    assert diff_report(before, safe)["versionAdvice"] is None


def test_the_text_report_lists_breaking_changes_first(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old_path, new_path = tmp_path / "old.yaml", tmp_path / "new.yaml"
    old_path.write_text(yaml.safe_dump(BASE))
    new = _edited(_set(_props, "Coupon", None))
    _props(new)["Gift"] = {"type": "boolean"}
    new["version"] = "2.0.0"
    new_path.write_text(yaml.safe_dump(new))
    assert main(["plan", "diff", str(old_path), str(new_path)]) == 1
    assert capsys.readouterr().out.splitlines() == [
        f"{old_path} (1.4.0) -> {new_path} (2.0.0): 1 breaking, 1 safe",
        "breaking:",
        "  property-removed  property 'Coupon' of 'Order Placed' was removed",
        "safe:",
        "  property-added  property 'Gift' of 'Order Placed' was added",
    ]
    assert main(["plan", "diff", str(old_path), str(old_path)]) == 0
    assert capsys.readouterr().out == (
        f"{old_path} (1.4.0) -> {old_path} (1.4.0): 0 breaking, 0 safe\n"
    )


def test_an_unusable_plan_exits_2_with_the_plan_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good, bad = tmp_path / "good.yaml", tmp_path / "bad.yaml"
    good.write_text(yaml.safe_dump(BASE))
    bad.write_text("version: 1.0\nevents:\n  Order Placed:\n    properties:\n"
                   "      Total: {type: money}\n")  # fmt: skip
    with pytest.raises(PlanError) as caught:
        TrackingPlan.load(bad)
    done = _cli("plan", "check", str(bad))
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr.strip() == f"redo-kit: {caught.value}"
    assert main(["plan", "diff", str(good), str(bad), "--format", "json"]) == 2
    shown = capsys.readouterr()
    assert (shown.out, shown.err.strip()) == ("", f"redo-kit: {caught.value}")


def test_check_prints_one_line_about_the_plan(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "plan.yaml"
    path.write_text(yaml.safe_dump(BASE))
    assert main(["plan", "check", str(path)]) == 0
    assert capsys.readouterr().out == (
        f"{path}: tracking plan 1.4.0, open, 2 events, 6 properties, 1 custom fields, "
        "1 uniqueId recipes\n"
    )


# -- the example plan --------------------------------------------------------------


_ORDER_DATA = {
    ("plan-required", "$.data['Order Id']"),
    ("plan-required", "$.data['Order Total']"),
    ("plan-required", "$.data['Item Count']"),
    ("plan-required", "$.data.Gift"),
    ("plan-extra", "$.data['$extra']"),
}
_VALUE = {("plan-required", "$.value"), ("plan-required", "$.valueCurrency")}
# The plan problems of each line of examples/events.jsonl, as examples/plan.yaml lists them.
_EXAMPLE_PLAN_PROBLEMS = {
    134: _ORDER_DATA | _VALUE,
    402: _ORDER_DATA | _VALUE,
    536: {("plan-event", "$.eventName")},
    670: _ORDER_DATA,
    804: _ORDER_DATA | _VALUE,
    1072: {("plan-required", "$.data.Page")},
}
_REDO_REFUSES = [134, 268, 536, 670, 804, 938, 1072]


@pytest.mark.parametrize("unknown_keys", [False, True])
def test_validate_with_the_example_plan_rejects_exactly_the_listed_lines(
    tmp_path: Path, unknown_keys: bool
) -> None:
    rejects = tmp_path / "rejects.jsonl"
    done = _cli(
        "validate",
        str(ROOT / "examples/events.jsonl"),
        "--plan",
        str(ROOT / "examples/plan.yaml"),
        "--rejects",
        str(rejects),
        *(["--allow-unknown-keys"] if unknown_keys else []),
    )
    assert done.returncode == 1, done.stderr
    assert done.stdout.splitlines()[0] == (
        "1,208 lines: 1,200 valid events, 8 rejected. Nothing was sent."
    )
    found = {}
    for line in rejects.read_bytes().splitlines():
        item = orjson.loads(line)
        found[item["line"]] = {
            (p["rule"], p["path"]) for p in item["problems"] if p["rule"].startswith("plan-")
        }
    assert sorted(found) == sorted([*_REDO_REFUSES, 402])
    assert {n: rules for n, rules in found.items() if rules} == _EXAMPLE_PLAN_PROBLEMS
    # Line 402 is Redo's to refuse only for its unknown key; allowed, only the plan refuses it.
    second = orjson.loads(rejects.read_bytes().splitlines()[2])
    assert second["line"] == 402
    assert any(p["rule"] == "unknown-key" for p in second["problems"]) is not unknown_keys


def test_the_example_plan_is_the_inferred_one_edited(tmp_path: Path) -> None:
    inferred = infer_events(
        orjson.loads(line)
        for line in (ROOT / "examples/events.jsonl").read_bytes().splitlines()
        if line.startswith(b"{") and line.endswith(b"}") and _parses(line)
    )
    plan = TrackingPlan.load(ROOT / "examples/plan.yaml")
    # One event more: Order Refunded is planned before anything sends it.
    assert set(plan.events) == {e.name for e in inferred.events} | {"Order Refunded"}
    assert plan.events["Order Refunded"].unique_id == ("refund", "Refund Id")
    for event in inferred.events:
        planned = plan.events[event.name]
        assert {p.name for p in event.properties} == set(planned.properties)
        for prop in event.properties:
            assert planned.properties[prop.name].type == prop.type


def _parses(line: bytes) -> bool:
    try:
        orjson.loads(line)
    except orjson.JSONDecodeError:
        return False
    return True


def test_inferred_types_are_the_ones_the_emulator_stores(emulator: Any) -> None:
    from helpers import emulator_client

    events = [_event(n=n, Page=f"/{n}", Visits=n + 1, Ratio=n / 3 + 0.1, Seen=True,
                     At="2026-01-02T03:04:05Z", Note="2026-01-02") for n in range(5)]  # fmt: skip
    with emulator_client(emulator) as client:
        client.send_bulk(events)
    (placed,) = infer_events(events).events
    planned = {p.name: p.type for p in placed.properties}
    assert planned == {"At": "date", "Note": "string", "Page": "string", "Ratio": "number",
                       "Seen": "boolean", "Visits": "integer"}  # fmt: skip
    for stored in emulator.events():
        # Redo has one number type; integer is the plan's narrowing of it.
        assert stored["propertyTypes"] == {
            key: "number" if kind == "integer" else kind for key, kind in planned.items()
        }


def test_inferred_event_is_the_documented_shape() -> None:
    (event,) = infer_events([_event(Page="/")]).events
    assert isinstance(event, InferredEvent)
    assert event.to_dict() == {"properties": {"Page": {"type": "string", "required": True}}}
