"""Hypothesis strategies for Redo events, read from the spec: valid ones, and invalid ones per rule.

Every event from ``valid_events()`` passes ``redo_kit.validate_event`` with no
error, and every ``(event, rule, path)`` from ``invalid_events()`` breaks
exactly one rule, which ``validate_event`` reports as ``rule`` at ``path``::

    from hypothesis import given
    from redo_kit.testing.strategies import invalid_events, valid_events

    @given(valid_events())
    def test_my_handler_accepts_every_event(event):
        handle(event)

    @given(invalid_events(rule="customer-identifier"))
    def test_my_handler_refuses_anonymous_events(case):
        event, rule, path = case
        ...

Every length, pattern, enum, bound and limit comes from the spec document:
the shipped one by default, or the parsed OpenAPI document passed as
``spec=``. The numbers are read once, when a strategy is built, so a strategy
keeps following the document it was built from. Sizes are kept small where
the spec allows more (names of 30 characters, a dozen properties), so
property tests stay fast and shrink to small events.

The testing package is part of redo-kit: like every redo-kit module it reads
the spec through the public names of ``redo_kit._spec`` and
``redo_kit._rules`` (``document``, ``within``, ``derived``, ``limits``),
never through their underscore names. Needs the ``testing`` extra.
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, TypeVar

import attrs
import orjson
from hypothesis import strategies as st

from redo_kit._rules import EVENT_RULES, EXTRA, Limits, is_ignored, limits
from redo_kit._spec import derived, document, wire_path, within

if TYPE_CHECKING:
    from redo_kit._plan import TrackingPlan

__all__ = [
    "INVALID_CASES",
    "INVALID_RULES",
    "aware_datetimes",
    "bulk_requests",
    "component_values",
    "customers",
    "emails",
    "event_data",
    "event_rules",
    "extra_values",
    "invalid_events",
    "invalid_plan_events",
    "locations",
    "object_ids",
    "phone_numbers",
    "plan_events",
    "property_names",
    "property_values",
    "rfc3339_datetimes",
    "valid_events",
]

Spec = Mapping[str, Any]
"""A whole OpenAPI document, parsed (what ``spec=`` takes)."""

T = TypeVar("T")

_LOCAL = string.ascii_letters + string.digits + "+_-"
_LABEL = string.ascii_lowercase + string.digits

# Generation budgets, not rules: where the spec allows more, strategies stay
# this small so that examples are quick to make and shrink to readable events.
_NAME_CHARS = 30
_TEXT_CHARS = 20
_DATA_KEYS = 12
_FIELD_KEYS = 6
_NEST = 3

# Country calling codes with the national significant number lengths that
# libphonenumber deems possible for them: the spec's pattern says E.164, and
# the client's normalization also asks that a number be possible.
_PHONE_PLANS: tuple[tuple[str, int], ...] = (
    ("1", 10),  # US, CA
    ("44", 10),  # GB
    ("33", 9),  # FR
    ("49", 11),  # DE
    ("61", 9),  # AU
    ("81", 10),  # JP
    ("91", 10),  # IN
    ("55", 11),  # BR
    ("34", 9),  # ES
)
_DAYS = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


# -- the numbers of one spec document ------------------------------------------


@attrs.frozen(eq=False)
class _Shapes:
    """One spec document and its limits, captured when a strategy is built."""

    doc: Mapping[str, Any]
    limits: Limits

    @classmethod
    def read(cls, spec: Spec) -> _Shapes:
        # within(), not using(): this thread only, and the shipped document's
        # compiled values stay cached.
        document = spec if isinstance(spec, dict) else dict(spec)
        with within(document):
            return cls(doc=document, limits=limits())

    def schema(self, name: str) -> dict[str, Any]:
        found: dict[str, Any] = self.doc["components"]["schemas"][name]
        return found

    def resolve(self, schema: Mapping[str, Any]) -> dict[str, Any]:
        """``schema`` with its ``$ref`` (to a component) followed, its own keys kept."""
        out = dict(schema)
        for _ in range(32):
            ref = out.pop("$ref", None)
            if ref is None:
                return out
            out = {**self.schema(str(ref).rsplit("/", 1)[-1]), **out}
        raise ValueError(f"$ref chain too long at {schema!r}")

    def field(self, component: str, name: str) -> dict[str, Any]:
        return self.resolve(self.schema(component)["properties"][name])


@derived
def _shipped_shapes() -> _Shapes:
    # derived: recomputed when redo_kit._spec.using() puts another document in place.
    return _Shapes(doc=document(), limits=limits())


def _shapes(spec: Spec | None) -> _Shapes:
    return _shipped_shapes() if spec is None else _Shapes.read(spec)


def _full(pattern: str) -> re.Pattern[str]:
    # The spec's patterns are ECMA-262 ones anchored with ^...$; fullmatch
    # makes $ refuse a final newline, as JSON Schema does.
    return re.compile(pattern)


def _matches(pattern: str, value: str) -> bool:
    return _full(pattern).fullmatch(value) is not None


# -- scalar strategies -----------------------------------------------------------


def object_ids(*, spec: Spec | None = None) -> st.SearchStrategy[str]:
    """Redo customer ids under the spec's Customer ``id.pattern`` (24 hex digits)."""
    pattern = _shapes(spec).field("Customer", "id")["pattern"]
    return st.from_regex(_full(pattern), fullmatch=True)


def emails(*, spec: Spec | None = None) -> st.SearchStrategy[str]:
    """ASCII email addresses that the spec's ``format: email`` accepts, within its maxLength."""
    longest = int(_shapes(spec).field("Customer", "email").get("maxLength", 320))
    atom = st.text(alphabet=_LOCAL, min_size=1, max_size=10)
    local = st.lists(atom, min_size=1, max_size=3).map(".".join)
    label = st.text(alphabet=_LABEL, min_size=1, max_size=10)
    hyphenated = st.tuples(label, label).map("-".join)
    domain = st.lists(st.one_of(label, hyphenated), min_size=1, max_size=3).map(".".join)
    tld = st.text(alphabet=string.ascii_lowercase, min_size=2, max_size=6)
    return st.builds(lambda lo, do, t: f"{lo}@{do}.{t}", local, domain, tld).filter(
        lambda email: len(email) <= longest
    )


def _integers(shapes: _Shapes) -> st.SearchStrategy[int]:
    # Every integer the API stores exactly (x-redo-integer-limit).
    largest = shapes.limits.max_integer
    return st.integers(-largest, largest)


def _finite_floats(low: float | None = None, high: float | None = None) -> st.SearchStrategy[float]:
    return st.floats(low, high, allow_nan=False, allow_infinity=False)


def phone_numbers(*, spec: Spec | None = None) -> st.SearchStrategy[str]:
    """E.164 numbers under the spec's pattern that libphonenumber deems possible."""
    pattern = _shapes(spec).limits.phone_number
    return st.builds(
        lambda plan, first, rest: f"+{plan[0]}{first}{rest[: plan[1] - 1]}",
        st.sampled_from(_PHONE_PLANS),
        st.sampled_from("23456789"),
        st.text(alphabet=string.digits, min_size=10, max_size=10),
    ).filter(lambda phone: pattern.match(phone) is not None)


def rfc3339_datetimes() -> st.SearchStrategy[str]:
    """Strings the spec detects as dates: every RFC 3339 ``date-time`` shape.

    Years 0000-9999, real calendar days (29 February only in leap years),
    ``T``/``t``, optional fractions of 1-9 digits, ``Z``/``z`` or offsets up to
    23:59, and leap seconds (``23:59:60`` in UTC). The shape is RFC 3339's own
    grammar, which the spec's DateTime schema names; the tests check every
    string against that schema.
    """

    @st.composite
    def build(draw: st.DrawFn) -> str:
        year = draw(st.integers(0, 9999))
        month = draw(st.integers(1, 12))
        leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
        last = _DAYS[month - 1] if month != 2 or leap else 28
        day = draw(st.integers(1, last))
        fraction = draw(st.one_of(st.just(""), st.text(string.digits, min_size=1, max_size=9)))
        fraction = f".{fraction}" if fraction else ""
        separator = draw(st.sampled_from("Tt"))
        if draw(st.integers(0, 15)) == 0:
            zone = draw(st.sampled_from(["Z", "z", "+00:00", "-00:00"]))
            return f"{year:04d}-{month:02d}-{day:02d}{separator}23:59:60{fraction}{zone}"
        hour = draw(st.integers(0, 23))
        minute = draw(st.integers(0, 59))
        second = draw(st.integers(0, 59))
        zone = draw(
            st.one_of(
                st.sampled_from(["Z", "z"]),
                st.builds(
                    lambda sign, h, m: f"{sign}{h:02d}:{m:02d}",
                    st.sampled_from("+-"),
                    st.integers(0, 23),
                    st.integers(0, 59),
                ),
            )
        )
        return (
            f"{year:04d}-{month:02d}-{day:02d}{separator}"
            f"{hour:02d}:{minute:02d}:{second:02d}{fraction}{zone}"
        )

    return build()


def aware_datetimes() -> st.SearchStrategy[datetime]:
    """Timezone-aware datetimes with fixed offsets up to ±23:59.

    From 1000-01-02 to 9999-12-30, so that every one has a UTC instant with a
    four-digit year.
    """
    offsets = st.integers(-(24 * 60 - 1), 24 * 60 - 1).map(
        lambda minutes: timezone(timedelta(minutes=minutes))
    )
    return st.datetimes(
        min_value=datetime(1000, 1, 2), max_value=datetime(9999, 12, 30), timezones=offsets
    )


def _timestamps(as_model: bool) -> st.SearchStrategy[str]:
    # A model holds a datetime: no year 0000, no second 60 (see aware_datetimes).
    if as_model:
        return aware_datetimes().map(datetime.isoformat)
    return rfc3339_datetimes()


# -- strategies from a schema ------------------------------------------------------


def _text(shapes: _Shapes, schema: Mapping[str, Any], cap: int = _TEXT_CHARS) -> Any:
    """Strings under one string schema: its enum, pattern, format and lengths."""
    low = int(schema.get("minLength", 0))
    high = int(schema.get("maxLength", cap))
    budget = max(low, min(high, cap))
    if "enum" in schema:
        return st.sampled_from(sorted(schema["enum"]))
    if "const" in schema:
        return st.just(schema["const"])
    fmt = schema.get("format")
    if fmt == "date-time":
        return rfc3339_datetimes()
    if fmt == "email":
        return emails(spec=shapes.doc).filter(lambda e: low <= len(e) <= high)
    if "pattern" in schema:
        return st.from_regex(_full(str(schema["pattern"])), fullmatch=True).filter(
            lambda s: low <= len(s) <= high
        )
    if fmt == "uri-reference":
        return st.from_regex(re.compile(r"/[a-z0-9/_-]{0,20}"), fullmatch=True)
    return st.text(min_size=low, max_size=budget)


def _number(shapes: _Shapes, schema: Mapping[str, Any], *, integer: bool) -> Any:
    largest = shapes.limits.max_integer
    low = schema.get("minimum")
    high = schema.get("maximum")
    ints = st.integers(
        max(-largest, int(low)) if low is not None else -largest,
        min(largest, int(high)) if high is not None else largest,
    )
    if integer:
        return ints
    return st.one_of(ints, _finite_floats(low, high))


def _value(
    shapes: _Shapes, schema: Mapping[str, Any], depth: int = 0, as_model: bool = False
) -> Any:
    """Values valid under ``schema``: the small subset of JSON Schema the spec uses.

    ``$ref`` to components, ``enum``/``const``, ``anyOf``/``oneOf``, the
    scalar types with their bounds, arrays with ``items`` and item counts,
    and objects with ``properties``, ``required`` and ``additionalProperties``.
    Components with rules no keyword states (Event, Customer, EventData...)
    go to their own builders.
    """
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.rsplit("/", 1)[-1] in _SPECIAL:
        return _SPECIAL[ref.rsplit("/", 1)[-1]](shapes, as_model)
    schema = shapes.resolve(schema)
    if "enum" in schema:
        return st.sampled_from(list(schema["enum"]))
    if "const" in schema:
        return st.just(schema["const"])
    options = schema.get("anyOf") or schema.get("oneOf")
    if options:
        return st.one_of(*(_value(shapes, option, depth, as_model) for option in options))
    kinds = schema.get("type", ["string", "number", "boolean", "null"])
    kinds = [kinds] if isinstance(kinds, str) else list(kinds)
    return st.one_of(*(_of_type(shapes, schema, kind, depth, as_model) for kind in kinds))


def _of_type(
    shapes: _Shapes, schema: Mapping[str, Any], kind: str, depth: int, as_model: bool
) -> Any:
    if kind == "string":
        return (
            _timestamps(as_model) if schema.get("format") == "date-time" else _text(shapes, schema)
        )
    if kind in ("number", "integer"):
        return _number(shapes, schema, integer=kind == "integer")
    if kind == "boolean":
        return st.booleans()
    if kind == "null":
        return st.none()
    if kind == "array":
        items = schema.get("items", {})
        inner = _value(shapes, items, depth + 1, as_model) if depth < _NEST else st.nothing()
        low = int(schema.get("minItems", 0))
        high = max(low, min(int(schema.get("maxItems", 4)), 4))
        return st.lists(inner, min_size=low, max_size=high)
    if kind == "object":
        return _object(shapes, schema, depth, as_model)
    raise ValueError(f"no strategy for JSON Schema type {kind!r}")


def _object(shapes: _Shapes, schema: Mapping[str, Any], depth: int, as_model: bool) -> Any:
    properties: dict[str, Any] = dict(schema.get("properties", {}))
    required = set(schema.get("required", ()))
    fixed = {
        k: _value(shapes, v, depth + 1, as_model) for k, v in properties.items() if k in required
    }
    optional = {
        k: _value(shapes, v, depth + 1, as_model)
        for k, v in properties.items()
        if k not in required
    }
    known = st.fixed_dictionaries(fixed, optional=optional)
    extra = schema.get("additionalProperties", True)
    if extra is False or properties or depth >= _NEST:
        return known
    values = (
        _json_values(shapes) if extra is True or extra == {} else _value(shapes, extra, depth + 1)
    )
    names = shapes.resolve(schema.get("propertyNames", {}))
    keys = _text(shapes, {"minLength": 0, **names})
    most = min(int(schema.get("maxProperties", _FIELD_KEYS)), _FIELD_KEYS)
    return st.dictionaries(keys, values, max_size=most)


def _json_values(shapes: _Shapes) -> Any:
    leaves = st.one_of(
        st.none(),
        st.booleans(),
        _integers(shapes),
        _finite_floats(),
        st.text(max_size=_TEXT_CHARS),
    )
    return st.recursive(
        leaves,
        lambda inner: st.one_of(
            st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=10), inner, max_size=4)
        ),
        max_leaves=12,
    )


# -- the components whose rules no single keyword states ---------------------------


def property_names(*, spec: Spec | None = None) -> st.SearchStrategy[str]:
    """Top-level data keys under EventData ``propertyNames``, never ``$extra``.

    At most 30 characters, however long the spec lets them be.
    """
    return _property_names(_shapes(spec), "EventData")


def _property_names(shapes: _Shapes, component: str) -> st.SearchStrategy[str]:
    names = shapes.schema(component).get("propertyNames", {})
    low = int(names.get("minLength", 0))
    high = max(low, min(int(names.get("maxLength", _NAME_CHARS)), _NAME_CHARS))
    return st.text(min_size=low, max_size=high).filter(lambda key: key != EXTRA)


def property_values(*, spec: Spec | None = None) -> st.SearchStrategy[Any]:
    """Every top-level data value the spec allows, the ignored ones included.

    Strings (dates among them), integers within the spec's limit, finite floats, booleans,
    ``None``, ``""``, ``0``, ``0.0`` and ``-0.0``.
    """
    return _property_values(_shapes(spec))


def _property_values(shapes: _Shapes, *, ignored: bool = True) -> st.SearchStrategy[Any]:
    plain = _value(shapes, shapes.schema("PropertyValue"))
    values = st.one_of(plain, rfc3339_datetimes())
    if ignored:
        return st.one_of(values, st.sampled_from([None, "", 0, 0.0, -0.0]))
    return values.filter(lambda value: not is_ignored(value))


def extra_values(*, spec: Spec | None = None) -> st.SearchStrategy[dict[str, Any]]:
    """``$extra`` objects: arbitrary nested JSON, ignored values included."""
    shapes = _shapes(spec)
    return st.dictionaries(st.text(max_size=15), _json_values(shapes), max_size=5)


def event_data(*, spec: Spec | None = None) -> st.SearchStrategy[dict[str, Any]]:
    """``data`` objects: up to 12 scalar properties and sometimes ``$extra``."""
    return _event_data(_shapes(spec))


def _event_data(shapes: _Shapes, *, ignored: bool = True) -> st.SearchStrategy[dict[str, Any]]:
    # $extra counts as one of maxProperties (the spec's assumption).
    most = min(int(shapes.schema("EventData").get("maxProperties", _DATA_KEYS)) - 1, _DATA_KEYS)
    scalars = st.dictionaries(
        _property_names(shapes, "EventData"),
        _property_values(shapes, ignored=ignored),
        max_size=most,
    )
    extra = st.dictionaries(st.text(max_size=15), _json_values(shapes), max_size=5)
    return st.builds(
        lambda props, more: {**props, EXTRA: more} if more is not None else props,
        scalars,
        st.none() | extra,
    )


def _custom_fields(shapes: _Shapes, as_model: bool = False) -> st.SearchStrategy[dict[str, Any]]:
    schema = shapes.schema("CustomFields")
    values = _value(shapes, schema["additionalProperties"], as_model=as_model)
    most = min(int(schema.get("maxProperties", _FIELD_KEYS)), _FIELD_KEYS)
    names = schema.get("propertyNames", {})
    keys = st.text(
        min_size=int(names.get("minLength", 0)),
        max_size=max(int(names.get("minLength", 0)), min(int(names.get("maxLength", 20)), 20)),
    )
    # Dates are strings the API detects (x-redo-date-detection): some of each.
    return st.dictionaries(keys, st.one_of(values, rfc3339_datetimes()), max_size=most)


def locations(*, spec: Spec | None = None) -> st.SearchStrategy[dict[str, Any]]:
    """``customer.location`` objects with any subset of their fields."""
    return _location(_shapes(spec))


def _location(shapes: _Shapes, as_model: bool = False) -> st.SearchStrategy[dict[str, Any]]:
    schema = shapes.schema("Location")
    return st.fixed_dictionaries(
        {},
        optional={
            name: _value(shapes, field, 1, as_model)
            for name, field in schema.get("properties", {}).items()
        },
    )


def _identifier(shapes: _Shapes, name: str) -> Any:
    if name == "id":
        return object_ids(spec=shapes.doc)
    if name == "email":
        return emails(spec=shapes.doc)
    if name == "phoneNumber":
        return phone_numbers(spec=shapes.doc)
    return _value(shapes, shapes.schema("Customer")["properties"][name], 1)


def customers(*, spec: Spec | None = None) -> st.SearchStrategy[dict[str, Any]]:
    """Customers with at least one identifier and any profile fields."""
    return _customer(_shapes(spec))


def _customer(shapes: _Shapes, as_model: bool = False) -> st.SearchStrategy[dict[str, Any]]:
    names = shapes.limits.identifiers
    identifiers = st.fixed_dictionaries(
        {}, optional={name: _identifier(shapes, name) for name in names}
    ).filter(bool)
    profile = st.fixed_dictionaries(
        {},
        optional={
            name: _value(shapes, field, 1, as_model)
            for name, field in shapes.schema("Customer").get("properties", {}).items()
            if name not in names
        },
    )
    return st.builds(lambda ids, rest: {**ids, **rest}, identifiers, profile)


def _event(
    shapes: _Shapes, as_model: bool = False, *, ignored: bool = True
) -> st.SearchStrategy[dict[str, Any]]:
    schema = shapes.schema("Event")
    required = set(schema.get("required", ()))
    made: dict[str, Any] = {}
    for name, field in schema["properties"].items():
        resolved = shapes.resolve(field)
        if name == "eventName":
            made[name] = _text(shapes, resolved, _NAME_CHARS)
        elif name == "eventTimestamp":
            made[name] = _timestamps(as_model)
        elif name == "value":
            made[name] = st.one_of(_integers(shapes), _finite_floats())
        elif name == "uniqueId":
            # Up to the spec's own maxLength: the bound matters to callers.
            made[name] = _text(shapes, resolved, shapes.limits.unique_id_length[1])
        elif name == "data":
            made[name] = _event_data(shapes, ignored=ignored)
        else:
            made[name] = _value(shapes, field, 1, as_model)
    return st.fixed_dictionaries(
        {k: v for k, v in made.items() if k in required},
        optional={k: v for k, v in made.items() if k not in required},
    )


def _bulk(shapes: _Shapes, as_model: bool = False) -> st.SearchStrategy[dict[str, Any]]:
    fewest, most = shapes.limits.bulk_events
    largest = shapes.limits.max_body_bytes
    events = st.lists(_event(shapes, as_model), min_size=fewest, max_size=most).map(_distinct)
    return events.map(lambda items: {"events": items}).filter(
        lambda body: len(orjson.dumps(body)) <= largest
    )


def _distinct(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    # A repeated uniqueId is valid but stored once: every event here is stored.
    seen: set[str] = set()
    out = []
    for event in events:
        unique = event.get("uniqueId")
        if unique is not None and unique in seen:
            event = {k: v for k, v in event.items() if k != "uniqueId"}
        elif unique is not None:
            seen.add(unique)
        out.append(event)
    return out


_SPECIAL: dict[str, Callable[[_Shapes, bool], Any]] = {
    "Event": lambda shapes, as_model: _event(shapes, as_model),
    "Customer": lambda shapes, as_model: _customer(shapes, as_model),
    "Location": lambda shapes, as_model: _location(shapes, as_model),
    "CustomFields": lambda shapes, as_model: _custom_fields(shapes, as_model),
    "EventData": lambda shapes, _: _event_data(shapes),
    "BulkEventsRequest": lambda shapes, as_model: _bulk(shapes, as_model),
}
"""The components with rules no single keyword states, and their builders."""


def component_values(
    name: str, *, spec: Spec | None = None, as_model: bool = False
) -> st.SearchStrategy[Any]:
    """Wire values valid under the component schema ``name`` of the spec."""
    return _component(_shapes(spec), name, as_model)


def _component(shapes: _Shapes, name: str, as_model: bool = False) -> st.SearchStrategy[Any]:
    if name in _SPECIAL:
        strategy: st.SearchStrategy[Any] = _SPECIAL[name](shapes, as_model)
        return strategy
    return st.deferred(lambda: _value(shapes, shapes.schema(name), 0, as_model))


# -- the public strategies -----------------------------------------------------------


def valid_events(*, as_model: bool = False, spec: Spec | None = None) -> st.SearchStrategy[Any]:
    """Events the spec accepts, in every shape it allows.

    Wire dicts by default; ``as_model=True`` gives ``redo_kit.Event``
    instances (their timestamps then within what a datetime holds). ``spec``
    is a parsed OpenAPI document to follow instead of the shipped one.
    """
    shapes = _shapes(spec)
    wire = _event(shapes, as_model)
    return wire.map(_to_model("Event")) if as_model else wire


def bulk_requests(*, as_model: bool = False, spec: Spec | None = None) -> st.SearchStrategy[Any]:
    """Bulk bodies the spec accepts: ``{"events": [...]}`` with 1 to 100 valid events.

    The counts come from BulkEventsRequest ``minItems``/``maxItems``, and the
    body stays under ``x-redo-max-body-bytes``; no two events share a
    ``uniqueId``, so the API stores every one. ``as_model=True`` gives
    ``redo_kit.BulkEventsRequest`` instances.
    """
    wire = _bulk(_shapes(spec), as_model)
    return wire.map(_to_model("BulkEventsRequest")) if as_model else wire


def _to_model(name: str) -> Callable[[Any], Any]:
    def build(wire: Any) -> Any:
        import redo_kit

        return redo_kit.structure(wire, getattr(redo_kit, name))

    return build


# -- rules and the events that break them ----------------------------------------------


Case = tuple[dict[str, Any], str, str]
"""``(event, rule, path)``: an event, the rule it breaks and where (a wire path)."""
_Breaker = Callable[[_Shapes, dict[str, Any]], st.SearchStrategy[tuple[dict[str, Any], str, str]]]


@attrs.frozen
class _Case:
    rules: frozenset[str]
    """The rules its events break (one per event)."""
    breaker: _Breaker
    plain: bool
    """Whether its events are JSON the API can be sent (for the default ``invalid_events()``)."""


_CASES: dict[str, _Case] = {}


def _case(name: str, *rules: str, plain: bool = True) -> Callable[[_Breaker], _Breaker]:
    def register(breaker: _Breaker) -> _Breaker:
        _CASES[name] = _Case(frozenset(rules), breaker, plain)
        return breaker

    return register


def _without(event: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in event.items() if k != key}


def _with_customer(event: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {**event, "customer": {**event["customer"], **fields}}


def _with_location(event: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return _with_customer(event, location=fields)


def _data(event: dict[str, Any]) -> dict[str, Any]:
    data = event.get("data")
    return dict(data) if isinstance(data, dict) else {}


def _bad_text(pattern: str, candidates: Sequence[str]) -> st.SearchStrategy[str]:
    # Known wrong shapes, kept only while the spec's pattern refuses them.
    refused = [c for c in candidates if not _matches(pattern, c)]
    return st.sampled_from(refused)


def _outside(values: Iterable[str], candidates: Sequence[str]) -> st.SearchStrategy[str]:
    allowed = set(values)
    return st.sampled_from([c for c in candidates if c not in allowed])


@_case("missing-event-name", "required")
def _missing_event_name(shapes: _Shapes, event: dict[str, Any]) -> Any:
    return st.just((_without(event, "eventName"), "required", "$.eventName"))


@_case("empty-event-name", "minLength")
def _empty_event_name(shapes: _Shapes, event: dict[str, Any]) -> Any:
    low = int(shapes.field("Event", "eventName").get("minLength", 0))
    return st.just(({**event, "eventName": "x" * (low - 1)}, "minLength", "$.eventName"))


@_case("missing-customer", "required")
def _missing_customer(shapes: _Shapes, event: dict[str, Any]) -> Any:
    return st.just((_without(event, "customer"), "required", "$.customer"))


@_case("no-identifier", "customer-identifier")
def _no_identifier(shapes: _Shapes, event: dict[str, Any]) -> Any:
    names = shapes.limits.identifiers
    rest = {k: v for k, v in event["customer"].items() if k not in names}
    return st.just(({**event, "customer": rest}, "customer-identifier", "$.customer"))


@_case("bad-email", "format")
def _bad_email(shapes: _Shapes, event: dict[str, Any]) -> Any:
    bad = st.sampled_from(["stewart", "stewart@", "@example.com", "a..b@example.com", "a@b.c."])
    return bad.map(lambda e: (_with_customer(event, email=e), "format", "$.customer.email"))


@_case("bad-phone", "pattern")
def _bad_phone(shapes: _Shapes, event: dict[str, Any]) -> Any:
    pattern = shapes.field("Customer", "phoneNumber")["pattern"]
    bad = _bad_text(
        pattern, ["12065550100", "(206) 555-0100", "+0123456789", "+1234567890123456", "+"]
    )
    return bad.map(
        lambda p: (_with_customer(event, phoneNumber=p), "pattern", "$.customer.phoneNumber")
    )


@_case("bad-object-id", "pattern")
def _bad_object_id(shapes: _Shapes, event: dict[str, Any]) -> Any:
    pattern = shapes.field("Customer", "id")["pattern"]
    bad = st.one_of(
        st.text(alphabet="0123456789abcdefABCDEF", max_size=30),
        st.text(alphabet="0123456789abcdefg", max_size=30),
    ).filter(lambda i: not _matches(pattern, i))
    return bad.map(lambda i: (_with_customer(event, id=i), "pattern", "$.customer.id"))


@_case("bad-time-zone", "pattern")
def _bad_time_zone(shapes: _Shapes, event: dict[str, Any]) -> Any:
    pattern = shapes.field("Location", "ianaTimeZoneName")["pattern"]
    bad = _bad_text(
        pattern, ["", "Europe/", "/UTC", "America Los Angeles", "Europe//Paris", "1UTC"]
    )
    return bad.map(
        lambda z: (
            _with_location(event, ianaTimeZoneName=z),
            "pattern",
            "$.customer.location.ianaTimeZoneName",
        )
    )


@_case("unknown-customer-key", "unknown-key")
def _unknown_customer_key(shapes: _Shapes, event: dict[str, Any]) -> Any:
    key = _outside(
        shapes.schema("Customer")["properties"], ["phone", "name", "customer_id", "Email"]
    )
    return key.map(lambda k: (_with_customer(event, **{k: "x"}), "unknown-key", f"$.customer.{k}"))


@_case("unknown-location-key", "unknown-key")
def _unknown_location_key(shapes: _Shapes, event: dict[str, Any]) -> Any:
    key = _outside(shapes.schema("Location")["properties"], ["zip", "lat", "region", "address"])
    return key.map(
        lambda k: (_with_location(event, **{k: "x"}), "unknown-key", f"$.customer.location.{k}")
    )


@_case("bad-country-code", "enum")
def _bad_country(shapes: _Shapes, event: dict[str, Any]) -> Any:
    codes = shapes.field("Location", "countryCode")["enum"]
    bad = _outside(codes, ["us", "USA", "XX", "United States", "ZZ"])
    return bad.map(
        lambda c: (_with_location(event, countryCode=c), "enum", "$.customer.location.countryCode")
    )


def _out_of_range(shapes: _Shapes, event: dict[str, Any], name: str) -> Any:
    bounds = shapes.field("Location", name)
    low, high = float(bounds["minimum"]), float(bounds["maximum"])
    above = _finite_floats(high, None).filter(lambda v: v > high).map(lambda v: (v, "maximum"))
    below = _finite_floats(None, low).filter(lambda v: v < low).map(lambda v: (v, "minimum"))
    return st.one_of(above, below).map(
        lambda found: (
            _with_location(event, **{name: found[0]}),
            found[1],
            f"$.customer.location.{name}",
        )
    )


@_case("latitude-out-of-range", "minimum", "maximum")
def _bad_latitude(shapes: _Shapes, event: dict[str, Any]) -> Any:
    return _out_of_range(shapes, event, "latitude")


@_case("longitude-out-of-range", "minimum", "maximum")
def _bad_longitude(shapes: _Shapes, event: dict[str, Any]) -> Any:
    return _out_of_range(shapes, event, "longitude")


@_case("null-custom-field", "type")
def _null_custom_field(shapes: _Shapes, event: dict[str, Any]) -> Any:
    return _property_names(shapes, "CustomFields").map(
        lambda k: (
            _with_customer(event, customFields={k: None}),
            "type",
            wire_path(["customer", "customFields", k]),
        )
    )


@_case("too-many-custom-fields", "maxProperties")
def _too_many_custom_fields(shapes: _Shapes, event: dict[str, Any]) -> Any:
    most = int(shapes.schema("CustomFields")["maxProperties"])
    fields = {f"f{i}": i + 1 for i in range(most + 1)}
    return st.just(
        (_with_customer(event, customFields=fields), "maxProperties", "$.customer.customFields")
    )


@_case("empty-custom-field-name", "propertyNames")
def _empty_custom_field_name(shapes: _Shapes, event: dict[str, Any]) -> Any:
    return st.just(
        (
            _with_customer(event, customFields={"": 1}),
            "propertyNames",
            "$.customer.customFields['']",
        )
    )


@_case("bad-currency", "enum")
def _bad_currency(shapes: _Shapes, event: dict[str, Any]) -> Any:
    codes = shapes.field("Event", "valueCurrency")["enum"]
    bad = _outside(codes, ["usd", "Eur", "XXX", "US$", "dollars"])
    return bad.map(lambda c: ({**event, "valueCurrency": c}, "enum", "$.valueCurrency"))


@_case("value-not-a-number", "type")
def _bad_value_type(shapes: _Shapes, event: dict[str, Any]) -> Any:
    bad = st.one_of(st.text(max_size=5), st.booleans(), st.just([1]))
    return bad.map(lambda v: ({**event, "value": v}, "type", "$.value"))


@_case("value-not-finite", "non-finite")
def _non_finite_value(shapes: _Shapes, event: dict[str, Any]) -> Any:
    bad = st.sampled_from([float("nan"), float("inf"), float("-inf")])
    return bad.map(lambda v: ({**event, "value": v}, "non-finite", "$.value"))


@_case("bad-timestamp", "format")
def _bad_timestamp(shapes: _Shapes, event: dict[str, Any]) -> Any:
    bad = st.sampled_from(
        [
            "2024-01-01",
            "2024-01-01 12:00:00Z",
            "2024-01-01T12:00:00",
            "2023-02-29T00:00:00Z",
            "2024-01-01T24:00:00Z",
            "2024-01-01T12:00:00+24:00",
            "yesterday",
        ]
    )
    return bad.map(lambda t: ({**event, "eventTimestamp": t}, "format", "$.eventTimestamp"))


@_case("bad-unique-id-length", "minLength", "maxLength")
def _bad_unique_id(shapes: _Shapes, event: dict[str, Any]) -> Any:
    shortest, longest = shapes.limits.unique_id_length
    too_short = st.text(alphabet="ab", max_size=shortest - 1).map(
        lambda u: ({**event, "uniqueId": u}, "minLength", "$.uniqueId")
    )
    too_long = st.text(alphabet="ab", min_size=longest + 1, max_size=longest + 20).map(
        lambda u: ({**event, "uniqueId": u}, "maxLength", "$.uniqueId")
    )
    return st.one_of(too_short, too_long) if shortest > 0 else too_long


@_case("unknown-top-level-key", "unknown-key")
def _unknown_top_level_key(shapes: _Shapes, event: dict[str, Any]) -> Any:
    key = _outside(
        shapes.schema("Event")["properties"],
        ["uniqueID", "event", "properties", "timestamp", "$event_id", "foo"],
    )
    return key.map(lambda k: ({**event, k: "x"}, "unknown-key", wire_path([k])))


@_case("nested-data", "nested-data")
def _nested_data(shapes: _Shapes, event: dict[str, Any]) -> Any:
    nested = st.one_of(st.lists(st.integers(-1000, 1000), max_size=3), st.just({"tier": "gold"}))
    return st.tuples(_property_names(shapes, "EventData"), nested).map(
        lambda kv: (
            {**event, "data": {**_data(event), kv[0]: kv[1]}},
            "nested-data",
            wire_path(["data", kv[0]]),
        )
    )


@_case("extra-not-object", "type")
def _extra_not_object(shapes: _Shapes, event: dict[str, Any]) -> Any:
    bad = st.one_of(
        st.lists(st.integers(-1000, 1000), max_size=3),
        st.integers(-1000, 1000),
        st.text(max_size=5),
        st.booleans(),
    )
    return bad.map(
        lambda x: (
            {**event, "data": {**_data(event), EXTRA: x}},
            "type",
            wire_path(["data", EXTRA]),
        )
    )


@_case("too-many-properties", "maxProperties")
def _too_many_properties(shapes: _Shapes, event: dict[str, Any]) -> Any:
    data = {f"p{i}": i + 1 for i in range(shapes.limits.max_properties + 1)}
    return st.just(({**event, "data": data}, "maxProperties", "$.data"))


@_case("empty-property-name", "propertyNames")
def _empty_property_name(shapes: _Shapes, event: dict[str, Any]) -> Any:
    return st.just(({**event, "data": {**_data(event), "": 1}}, "propertyNames", "$.data['']"))


@_case("string-too-large", "string-size")
def _string_too_large(shapes: _Shapes, event: dict[str, Any]) -> Any:
    # Two bytes a character: fewer characters than maxLength, more bytes than
    # the byte limit, so only the byte rule sees it.
    big = "é" * (shapes.limits.max_string_bytes // 2 + 1)
    return _property_names(shapes, "EventData").map(
        lambda k: (
            {**event, "data": {**_data(event), k: big}},
            "string-size",
            wire_path(["data", k]),
        )
    )


@_case("event-too-large", "event-size")
def _event_too_large(shapes: _Shapes, event: dict[str, Any]) -> Any:
    chunk = "x" * (shapes.limits.max_string_bytes - 100)
    count = shapes.limits.max_event_bytes // len(chunk) + 1
    extra = {f"blob{i}": chunk for i in range(count)}
    return st.just(({**event, "data": {EXTRA: extra}}, "event-size", "$"))


@_case("ignored-value", "ignored-value", plain=False)
def _ignored_value(shapes: _Shapes, event: dict[str, Any]) -> Any:
    # A warning, not an error: the API stores the event without the value.
    return st.tuples(
        _property_names(shapes, "EventData"), st.sampled_from([None, "", 0, 0.0, -0.0])
    ).map(
        lambda kv: (
            {**event, "data": {**_data(event), kv[0]: kv[1]}},
            "ignored-value",
            wire_path(["data", kv[0]]),
        )
    )


@_case("too-deep", "depth", plain=False)
def _too_deep(shapes: _Shapes, event: dict[str, Any]) -> Any:
    # The event is level 1, data 2, $extra 3: lists inside take it past the limit.
    lists = shapes.limits.max_depth - 2
    value: list[Any] = []
    for _ in range(lists - 1):
        value = [value]
    path = wire_path(["data", EXTRA, "deep", *([0] * (lists - 1))])
    return st.just(({**event, "data": {EXTRA: {"deep": value}}}, "depth", path))


@_case("integer-too-large", "json-type", plain=False)
def _integer_too_large(shapes: _Shapes, event: dict[str, Any]) -> Any:
    largest = shapes.limits.max_integer
    bad = st.one_of(st.integers(min_value=largest + 1), st.integers(max_value=-largest - 1))
    return bad.map(lambda v: ({**event, "value": v}, "json-type", "$.value"))


@_case("not-json", "json-type", plain=False)
def _not_json(shapes: _Shapes, event: dict[str, Any]) -> Any:
    bad = st.sampled_from([{1, 2}, b"bytes", object, complex(1, 2)])
    return st.tuples(_property_names(shapes, "EventData"), bad).map(
        lambda kv: (
            {**event, "data": {**_data(event), kv[0]: kv[1]}},
            "json-type",
            wire_path(["data", kv[0]]),
        )
    )


@_case("lone-surrogate", "unicode", plain=False)
def _lone_surrogate(shapes: _Shapes, event: dict[str, Any]) -> Any:
    bad = st.sampled_from(["\ud800", "a\udfffb", "\udc00x"])
    return st.tuples(_property_names(shapes, "EventData"), bad).map(
        lambda kv: (
            {**event, "data": {**_data(event), kv[0]: kv[1]}},
            "unicode",
            wire_path(["data", kv[0]]),
        )
    )


INVALID_CASES: tuple[str, ...] = tuple(name for name, case in _CASES.items() if case.plain)
"""The ways ``invalid_events()`` breaks an event by default, one rule each: events
the API can be sent (JSON, at most NaN written as null) that it refuses."""

INVALID_RULES: frozenset[str] = frozenset().union(*(case.rules for case in _CASES.values()))
"""Every rule ``invalid_events(rule=...)`` has events for."""

_KEYWORD_RULES = {"additionalProperties": "unknown-key"}
_CHECKED = (
    # Every assertion keyword of JSON Schema 2020-12 that can fail on an event.
    "type",
    "enum",
    "const",
    "multipleOf",
    "maximum",
    "exclusiveMaximum",
    "minimum",
    "exclusiveMinimum",
    "maxLength",
    "minLength",
    "pattern",
    "format",
    "maxItems",
    "minItems",
    "uniqueItems",
    "maxContains",
    "minContains",
    "maxProperties",
    "minProperties",
    "required",
    "dependentRequired",
    "propertyNames",
    "additionalProperties",
)


def event_rules(*, spec: Spec | None = None) -> frozenset[str]:
    """Every rule an event can break under the spec, by the id ``validate_event`` reports.

    The keywords of the Event schema and every schema it reaches
    (``required``, ``pattern``, ``maxProperties``...; ``additionalProperties:
    false`` as ``unknown-key``), and the rules of redo-kit's catalogue that no
    keyword states (``redo_kit._rules.EVENT_RULES``: sizes, depth, identifiers,
    nested data, ignored values, what JSON cannot carry). A keyword that
    appears in a changed spec shows up here.
    """
    shapes = _shapes(spec)
    found: set[str] = set(EVENT_RULES)
    seen: set[str] = set()
    stack: list[Any] = [shapes.schema("Event")]
    # Iterative: a schema graph can be deep, and it refers to itself.
    while stack:
        schema = stack.pop()
        if isinstance(schema, list):
            stack.extend(schema)
            continue
        if not isinstance(schema, dict):
            continue
        ref = schema.get("$ref")
        if isinstance(ref, str):
            if ref not in seen:
                seen.add(ref)
                stack.append(shapes.schema(ref.rsplit("/", 1)[-1]))
            continue
        for keyword in _CHECKED:
            value = schema.get(keyword)
            if value is None or (keyword == "additionalProperties" and value is not False):
                continue
            found.add(_KEYWORD_RULES.get(keyword, keyword))
        for key, value in schema.items():
            if key in ("properties", "patternProperties", "$defs"):
                stack.extend(value.values())
            elif isinstance(value, (dict, list)) and key not in ("enum", "examples", "required"):
                stack.append(value)
    return frozenset(found)


def invalid_events(
    cases: Sequence[str] | None = None,
    *,
    rule: str | None = None,
    spec: Spec | None = None,
) -> st.SearchStrategy[Case]:
    """``(event, rule, path)``: a valid event with exactly one rule broken.

    ``rule`` and ``path`` are what ``validate_event`` reports for it, e.g.
    ``("customer-identifier", "$.customer")`` or ``("nested-data", "$.data.Items")``.
    ``cases`` picks some of ``INVALID_CASES`` (default: all of them); ``rule``
    picks every way of breaking one rule of :func:`event_rules` instead,
    including events no JSON body can carry (NaN, lone surrogates, Python
    objects) and ``ignored-value``, the one rule whose events the API still
    stores (its problem is a warning). ``spec`` is a parsed OpenAPI document to
    follow instead of the shipped one.
    """
    shapes = _shapes(spec)
    if rule is not None:
        if cases is not None:
            raise ValueError("give invalid_events either cases or rule, not both")
        chosen = [case for case in _CASES.values() if rule in case.rules]
        if not chosen:
            raise ValueError(
                f"invalid_events has no events for rule {rule!r}; it has {sorted(INVALID_RULES)}"
            )
    else:
        names = INVALID_CASES if cases is None else cases
        unknown = [name for name in names if name not in _CASES]
        if unknown:
            raise ValueError(f"unknown invalid_events cases {unknown}; known: {list(_CASES)}")
        chosen = [_CASES[name] for name in names]
        if not chosen:
            raise ValueError("invalid_events needs at least one case")
    # The base event carries no ignored value: its only problem is the broken rule.
    base = _event(shapes, ignored=False)
    broken = base.flatmap(lambda event: st.one_of(*(c.breaker(shapes, event) for c in chosen)))
    return broken.filter(lambda case: rule is None or case[1] == rule)


def plan_events(
    plan: TrackingPlan, event: str | None = None, **options: Any
) -> st.SearchStrategy[dict[str, Any]]:
    """Wire events that follow a tracking plan; see :func:`redo_kit.testing.plans.plan_events`."""
    from redo_kit.testing import plans

    return plans.plan_events(plan, event, **options)


def invalid_plan_events(
    plan: TrackingPlan, event: str | None = None
) -> st.SearchStrategy[tuple[dict[str, Any], str, str]]:
    """``(event, rule, path)`` breaking one plan rule; see :mod:`redo_kit.testing.plans`."""
    from redo_kit.testing import plans

    return plans.invalid_plan_events(plan, event)
