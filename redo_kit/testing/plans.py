"""Hypothesis strategies from a tracking plan: its valid events, and events off it.

- :func:`plan_events` yields wire events that follow the plan and the spec:
  every required property, some optional ones, values of the planned type,
  enum, pattern and range, the plan's custom fields, ``value`` and
  ``valueCurrency`` where required, and the ``uniqueId`` of the recipe.
- :func:`invalid_plan_events` yields ``(event, rule, path)``: an event that
  breaks exactly one rule of the plan (``rule``, one of ``PLAN_RULES``) at
  ``path``, and nothing else, in the plan or in the spec.
- :func:`plans` yields small random plans, for properties that must hold for
  every plan.
- :func:`register_plan_classes` makes ``st.from_type(OrderPlaced)`` give
  valid instances of the classes ``redo-kit generate --plan`` wrote.

Values are drawn as Redo will index them: a ``string`` is never a string
Redo reads as a date, a ``number`` is never ``0`` (Redo drops it), a ``date``
is an RFC 3339 date-time.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from types import ModuleType
from typing import Any

import attrs
from hypothesis import strategies as st

from redo_kit._idempotency import unique_id
from redo_kit._plan import PlanEvent, PlanProperty, TrackingPlan
from redo_kit._properties import is_date
from redo_kit._rfc3339 import parse_datetime
from redo_kit._rules import EXTRA, is_ignored, limits
from redo_kit._spec import component
from redo_kit.testing.strategies import emails, rfc3339_datetimes

__all__ = ["invalid_plan_events", "plan_events", "plans", "register_plan_classes"]

_TEXT = st.text(min_size=1, max_size=24)


def _values(prop: PlanProperty) -> st.SearchStrategy[Any]:
    """Values of ``prop`` that the plan accepts and Redo stores."""
    if prop.enum is not None:
        base: st.SearchStrategy[Any] = st.sampled_from(prop.enum)
    elif prop.type == "string":
        base = st.from_regex(prop.pattern) if prop.pattern is not None else _TEXT
        base = base.filter(lambda v: 0 < len(v) <= 200 and not is_date(v))
    elif prop.type == "boolean":
        return st.booleans()
    elif prop.type == "date":
        base = rfc3339_datetimes()
    else:
        largest = limits().max_integer
        low = max(-largest, prop.minimum) if prop.minimum is not None else -largest
        high = min(largest, prop.maximum) if prop.maximum is not None else largest
        integers = st.integers(int(-(-low // 1)), int(high // 1))
        if prop.type == "integer":
            base = integers
        else:
            base = st.one_of(
                integers,
                st.floats(low, high, allow_nan=False, allow_infinity=False),
            )
    return base.filter(lambda v: prop.accepts(v) and not is_ignored(v))


def _customer(event: PlanEvent) -> st.SearchStrategy[dict[str, Any]]:
    @st.composite
    def build(draw: st.DrawFn) -> dict[str, Any]:
        customer: dict[str, Any] = {"email": draw(emails())}
        fields = draw(_properties(event.custom_fields))
        if fields:
            customer["customFields"] = fields
        return customer

    return build()


def _properties(props: Mapping[str, PlanProperty]) -> st.SearchStrategy[dict[str, Any]]:
    @st.composite
    def build(draw: st.DrawFn) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for prop in props.values():
            if prop.required or draw(st.booleans()):
                out[prop.name] = draw(_values(prop))
        return out

    return build()


def _event_names(plan: TrackingPlan, event: str | None) -> st.SearchStrategy[PlanEvent]:
    if event is not None:
        if event not in plan.events:
            raise ValueError(f"{event!r} is not an event of the plan; it has {list(plan.events)}")
        return st.just(plan.events[event])
    return st.sampled_from(list(plan.events.values()))


def plan_events(
    plan: TrackingPlan,
    event: str | None = None,
    *,
    extra: st.SearchStrategy[dict[str, Any]] | None = None,
) -> st.SearchStrategy[dict[str, Any]]:
    """Wire events that follow ``plan`` (and the spec): of ``event``, or of any planned event.

    ``extra`` draws ``data.$extra`` for events whose plan gives it a schema
    that an empty object does not meet (a schema cannot be turned into a
    strategy here); the drawn value must meet the schema.
    """

    events = _event_names(plan, event)  # here, so that an unknown event fails at once

    @st.composite
    def build(draw: st.DrawFn) -> dict[str, Any]:
        planned = draw(events)
        data = draw(_properties(planned.properties))
        if extra is not None:
            data[EXTRA] = draw(extra)
        wire: dict[str, Any] = {
            "eventName": planned.name,
            "customer": draw(_customer(planned)),
            "data": data,
        }
        if planned.value_required or draw(st.booleans()):
            wire["value"] = draw(st.floats(-1e9, 1e9, allow_nan=False).map(lambda v: round(v, 2)))
        if planned.currency_required or draw(st.booleans()):
            wire["valueCurrency"] = draw(st.sampled_from(component("CurrencyCode")["enum"]))
        planned_id = planned.unique_id_for(data)
        if planned_id is not None:
            wire["uniqueId"] = planned_id
        return wire

    return build()


# -- events off the plan -------------------------------------------------------

_Breaker = Callable[[st.DrawFn, dict[str, Any], PlanEvent, TrackingPlan], tuple[str, str] | None]
"""Breaks one rule in a drawn event (in place): ``(rule, path)``, or ``None`` when it cannot."""


def _other_type(prop: PlanProperty) -> Any:
    return {
        "string": 7,
        "number": "seven",
        "integer": 7.5,
        "boolean": "yes",
        "date": "2026-04-02",
    }[prop.type]


def _break_type(
    draw: st.DrawFn, wire: dict[str, Any], event: PlanEvent, plan: TrackingPlan
) -> tuple[str, str] | None:
    props = [p for p in event.properties.values() if p.name in wire["data"]]
    if not props:
        return None
    prop = draw(st.sampled_from(props))
    wire["data"][prop.name] = _other_type(prop)
    return "plan-type", _path("data", prop.name)


def _break_required(
    draw: st.DrawFn, wire: dict[str, Any], event: PlanEvent, plan: TrackingPlan
) -> tuple[str, str] | None:
    props = [p for p in event.properties.values() if p.required]
    if not props:
        return None
    prop = draw(st.sampled_from(props))
    del wire["data"][prop.name]
    return "plan-required", _path("data", prop.name)


def _break_enum(
    draw: st.DrawFn, wire: dict[str, Any], event: PlanEvent, plan: TrackingPlan
) -> tuple[str, str] | None:
    props = [p for p in event.properties.values() if p.enum is not None and p.pattern is None]
    props = [p for p in props if p.name in wire["data"] and p.type == "string"]
    if not props:
        return None
    prop = draw(st.sampled_from(props))
    outside = "".join(str(v) for v in prop.enum or ()) + "x"
    wire["data"][prop.name] = outside
    return "plan-enum", _path("data", prop.name)


def _break_range(
    draw: st.DrawFn, wire: dict[str, Any], event: PlanEvent, plan: TrackingPlan
) -> tuple[str, str] | None:
    props = [
        p
        for p in event.properties.values()
        if p.name in wire["data"]
        and p.enum is None
        and (p.minimum is not None or p.maximum is not None)
    ]
    if not props:
        return None
    prop = draw(st.sampled_from(props))
    if prop.minimum is not None and (prop.maximum is None or draw(st.booleans())):
        value = math.floor(prop.minimum) - 1
        value = -1 if value == 0 else value  # Redo drops 0: it would not be out of range
    else:
        value = math.ceil(prop.maximum or 0) + 1
        value = 1 if value == 0 else value
    if abs(value) > limits().max_integer:
        return None
    wire["data"][prop.name] = value
    return "plan-range", _path("data", prop.name)


def _break_pattern(
    draw: st.DrawFn, wire: dict[str, Any], event: PlanEvent, plan: TrackingPlan
) -> tuple[str, str] | None:
    props = [
        p for p in event.properties.values()
        if p.pattern is not None and p.enum is None and p.name in wire["data"]
    ]  # fmt: skip
    if not props:
        return None
    prop = draw(st.sampled_from(props))
    pattern = re.compile(prop.pattern or "")
    value = draw(_TEXT.filter(lambda v: not pattern.search(v) and not is_date(v)))
    wire["data"][prop.name] = value
    return "plan-pattern", _path("data", prop.name)


def _break_unknown_property(
    draw: st.DrawFn, wire: dict[str, Any], event: PlanEvent, plan: TrackingPlan
) -> tuple[str, str] | None:
    name = draw(_TEXT.filter(lambda n: n not in event.properties and not n.startswith("$")))
    wire["data"][name] = "unplanned"
    return "plan-property", _path("data", name)


def _break_event_name(
    draw: st.DrawFn, wire: dict[str, Any], event: PlanEvent, plan: TrackingPlan
) -> tuple[str, str] | None:
    wire["eventName"] = draw(
        _TEXT.map(lambda n: f"{n} (unplanned)").filter(lambda n: n not in plan.events)
    )
    return "plan-event", "$.eventName"


def _break_unique_id(
    draw: st.DrawFn, wire: dict[str, Any], event: PlanEvent, plan: TrackingPlan
) -> tuple[str, str] | None:
    if event.unique_id is None or "uniqueId" not in wire:
        return None
    wire["uniqueId"] = unique_id("unplanned", wire["uniqueId"])
    return "plan-unique-id", "$.uniqueId"


def _break_value(
    draw: st.DrawFn, wire: dict[str, Any], event: PlanEvent, plan: TrackingPlan
) -> tuple[str, str] | None:
    keys = [k for k, needed in (("value", event.value_required),
                                ("valueCurrency", event.currency_required)) if needed]  # fmt: skip
    if not keys:
        return None
    key = draw(st.sampled_from(keys))
    del wire[key]
    return "plan-required", f"$.{key}"


def _path(*parts: str) -> str:
    from redo_kit._spec import wire_path

    return wire_path(list(parts))


_BREAKERS: dict[str, _Breaker] = {
    "plan-enum": _break_enum,
    "plan-pattern": _break_pattern,
    "plan-range": _break_range,
    "plan-required": _break_required,
    "plan-type": _break_type,
    "plan-unique-id": _break_unique_id,
}
_CLOSED_ONLY: dict[str, _Breaker] = {
    "plan-event": _break_event_name,
    "plan-property": _break_unknown_property,
}


def invalid_plan_events(
    plan: TrackingPlan, event: str | None = None
) -> st.SearchStrategy[tuple[dict[str, Any], str, str]]:
    """``(event, rule, path)``: a wire event that breaks exactly ``rule`` of ``plan`` at ``path``.

    Unknown events and properties are errors only in a closed plan, so an
    open plan yields only the other rules. The event is otherwise valid under
    the plan and the spec.
    """
    breakers = {**_BREAKERS, **(_CLOSED_ONLY if plan.closed else {})}
    breakers["plan-required/value"] = _break_value

    @st.composite
    def build(draw: st.DrawFn) -> tuple[dict[str, Any], str, str]:
        wire = draw(plan_events(plan, event).map(lambda w: {**w, "data": dict(w["data"])}))
        planned = plan.events[wire["eventName"]]
        name = draw(st.sampled_from(sorted(breakers)))
        broken = breakers[name](draw, wire, planned, plan)
        if broken is None:
            # The drawn event has nothing this rule can break (no required
            # property, no enum...): this draw says nothing.
            from hypothesis import assume

            assume(False)
            raise AssertionError("unreachable")  # pragma: no cover
        rule, path = broken
        if rule != "plan-unique-id" and rule != "plan-event":
            # A broken recipe input gives another uniqueId: the event sends
            # that one, so that it breaks only the rule drawn.
            recomputed = planned.unique_id_for(wire["data"])
            if recomputed is not None:
                wire["uniqueId"] = recomputed
        return wire, rule, path

    return build()


# -- random plans ----------------------------------------------------------------

_PATTERNS = ("^[a-z]+$", "^ord_", "[0-9]", "^[A-Z]{2}-[0-9]+$")


@st.composite
def _plan_property(draw: st.DrawFn, name: str) -> dict[str, Any]:
    kind = draw(st.sampled_from(["string", "number", "integer", "boolean", "date"]))
    spec: dict[str, Any] = {"type": kind}
    if draw(st.booleans()):
        spec["required"] = True
    if kind == "string":
        choice = draw(st.integers(0, 2))
        if choice == 1:
            spec["enum"] = draw(st.lists(_TEXT.filter(lambda v: not is_date(v)),
                                         min_size=1, max_size=4, unique=True))  # fmt: skip
        elif choice == 2:
            spec["pattern"] = draw(st.sampled_from(_PATTERNS))
    elif kind in ("number", "integer") and draw(st.booleans()):
        low = draw(st.integers(-1000, 1000))
        spec["minimum"] = low
        spec["maximum"] = low + draw(st.integers(2, 1000))
    return spec


@st.composite
def plans(draw: st.DrawFn, *, closed: bool | None = None) -> TrackingPlan:
    """Small valid plans: 1 to 3 events of 0 to 5 properties, open or closed."""
    names = draw(st.lists(st.text(alphabet="abcdefghij XYZ", min_size=1, max_size=12)
                          .filter(lambda n: n.strip() == n), min_size=1, max_size=3,
                          unique=True))  # fmt: skip
    events: dict[str, Any] = {}
    for name in names:
        keys = draw(st.lists(st.text(alphabet="abcdef GHI", min_size=1, max_size=8),
                             max_size=5, unique=True))  # fmt: skip
        props = {key: draw(_plan_property(key)) for key in keys}
        spec: dict[str, Any] = {"properties": props}
        recipe = [
            k for k, p in props.items() if p.get("required") and p["type"] in ("string", "integer")
        ]
        if draw(st.booleans()) and recipe:
            spec["uniqueId"] = ["evt", recipe[0]]
        if draw(st.booleans()):
            spec["value"] = "required"
        events[name] = spec
    chosen = draw(st.booleans()) if closed is None else closed
    return TrackingPlan.from_dict({"version": "1.0.0", "closed": chosen, "events": events})


# -- generated classes -------------------------------------------------------------


def register_plan_classes(module: ModuleType) -> None:
    """Register valid strategies for every class of a package ``redo-kit generate --plan`` wrote.

    ``module`` is the package (``import shop_events``); its ``PLAN`` decides
    the values. After the call, ``st.from_type(shop_events.OrderPlaced)``
    gives instances that follow the plan (and so does every strategy that
    resolves the class by its type, such as ``st.builds`` of a class holding one).
    """
    plan = getattr(module, "PLAN", None)
    if not isinstance(plan, TrackingPlan):
        raise TypeError(f"{module.__name__} has no PLAN: is it a package of `generate --plan`?")
    for name in getattr(module, "__all__", ()):
        cls = getattr(module, name)
        event = getattr(cls, "EVENT_NAME", None)
        if isinstance(cls, type) and attrs.has(cls) and event in plan.events:
            instances = plan_events(plan, event).map(_instance_of(cls))
            st.register_type_strategy(cls, instances.filter(lambda built: built is not None))


def _instance_of(cls: type) -> Callable[[dict[str, Any]], Any]:
    fields = attrs.fields(cls)

    def build(wire: dict[str, Any]) -> Any:
        data = wire["data"]
        custom = wire["customer"].get("customFields", {})
        kwargs: dict[str, Any] = {}
        for field in fields:
            wire_name = field.metadata.get("wire")
            source = custom if field.metadata.get("custom_field") else data
            if wire_name in source:
                value = source[wire_name]
                if "datetime" in str(field.type) and isinstance(value, str):
                    try:
                        value = parse_datetime(value)
                    except ValueError:
                        return None  # a leap second or year 0: no datetime holds it
                kwargs[field.name] = value
        return cls(**kwargs)

    return build
