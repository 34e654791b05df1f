"""Hostile input: whatever a caller hands over, the only exception is ValidationError.

Arbitrary nested values (lone surrogates, subclasses of the JSON types,
non-string keys, NaN, huge integers, bytes, sets, deep nesting) go through
``prepare_event``, ``validate_event`` and ``Batcher.track``: each either
prepares into an event whose body is valid JSON the spec accepts, or raises
``ValidationError`` with problems that name a wire path and a rule.
"""

from __future__ import annotations

import enum
import json
import math
import uuid
from collections import OrderedDict
from collections.abc import Iterator
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import redo_kit
from redo_kit import MockTransport, RedoClient, Response, ValidationError
from redo_kit._rules import limits
from redo_kit._spec import validator


class Text(str):
    pass


class Number(float):
    pass


class Count(int):
    pass


class Shape(dict):  # type: ignore[type-arg]
    pass


class Level(enum.IntEnum):
    HIGH = 3


class Colour(enum.Enum):
    RED = "red"


LONE = json.loads('"\\ud800"')
BASE: dict[str, Any] = {"eventName": "Order Placed", "customer": {"email": "a@example.com"}}

leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8),
    st.sampled_from(
        [
            LONE,
            "ok" + LONE,
            Text("sub"),
            Number(1.5),
            Count(7),
            Level.HIGH,
            Colour.RED,
            uuid.UUID(int=1),
            b"bytes",
            bytearray(b"x"),
            {1, 2},
            frozenset(),
            Decimal("1.25"),
            Decimal("NaN"),
            Decimal("1e400"),
            datetime(2024, 1, 1, tzinfo=timezone.utc),
            datetime(2024, 1, 1),
            date(2024, 1, 1),
            object(),
        ]
    ),
    # Built, not listed: a 5,000-digit integer has no repr to show in a strategy.
    st.builds(lambda: 10**5000),
)
keys = st.one_of(
    st.text(max_size=6),
    st.sampled_from([LONE, Text("k"), 1, 2.5, None, (1, 2), "$extra", ""]),
)
values = st.recursive(
    leaves,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.tuples(inner, inner),
        st.dictionaries(keys, inner, max_size=4),
        st.dictionaries(keys, inner, max_size=3).map(Shape),
        st.dictionaries(st.text(max_size=4), inner, max_size=3).map(OrderedDict),
    ),
    max_leaves=12,
)


def _events() -> st.SearchStrategy[Any]:
    field = st.sampled_from(
        ["eventName", "customer", "data", "value", "uniqueId", "eventTimestamp", "extra"]
    )
    return st.one_of(
        st.builds(lambda k, v: {**BASE, k: v}, field, values),
        st.builds(lambda v: {**BASE, "data": {"k": v, "$extra": {"x": v}}}, values),
        st.builds(lambda v: {**BASE, "customer": {**BASE["customer"], "customFields": v}}, values),
        st.builds(lambda v: {**BASE, "customer": {"email": v}}, values),
        st.builds(lambda v: {**BASE, "customer": {**BASE["customer"], "location": v}}, values),
        values,
    )


def _nested(levels: int) -> Any:
    inner: Any = "deepest"
    for _ in range(levels):
        inner = [inner]
    return inner


def _assert_reported(exc: ValidationError) -> None:
    assert exc.problems, "a ValidationError carries its problems"
    for problem in exc.problems:
        assert problem.path.startswith("$"), problem
        assert problem.rule, problem
        # Every problem can be printed and sent as JSON, whatever it quotes.
        orjson.dumps({"path": problem.path, "message": problem.message, "hint": problem.hint})


def _assert_sendable(body: bytes) -> None:
    event = orjson.loads(body)
    assert validator("Event").is_valid(event)
    assert len(body) <= limits().max_event_bytes


# More examples than the suite's profile: each is cheap, and the cases are many.
FUZZ = settings(max_examples=400)


@FUZZ
@given(_events())
def test_prepare_event_raises_only_validation_errors(event: Any) -> None:
    try:
        prepared = redo_kit.prepare_event(event)
    except ValidationError as exc:
        _assert_reported(exc)
    else:
        _assert_sendable(prepared.body)


@FUZZ
@given(_events())
def test_validate_event_never_raises(event: Any) -> None:
    problems = redo_kit.validate_event(event)
    for problem in problems:
        orjson.dumps({"path": problem.path, "message": problem.message})


@pytest.fixture(scope="module")
def batcher() -> Iterator[redo_kit.Batcher]:
    mock = MockTransport(lambda request: Response(status=202, headers={}, body=b""))
    client = RedoClient(
        store_id="64e5a8a1af49a89df37e4ee7", api_key="sk_test_1", transport=mock, rate_limit=None
    )
    batcher = client.batcher(flush_interval=60)
    yield batcher
    batcher.close(timeout=5)
    client.close()


@FUZZ
@given(event=_events())
def test_track_raises_only_validation_errors(batcher: redo_kit.Batcher, event: Any) -> None:
    try:
        batcher.track(event)
    except ValidationError as exc:
        _assert_reported(exc)


@pytest.mark.parametrize("levels", [99, 101, 330, 20_000])
def test_deep_nesting_is_a_depth_problem_not_a_recursion_error(levels: int) -> None:
    event = {**BASE, "data": {"$extra": {"x": _nested(levels)}}}
    # The event (1), data (2), $extra (3) and x's list (4) come before the rest.
    too_deep = 3 + levels > limits().max_depth
    problems = redo_kit.validate_event(event)
    assert [p.rule for p in problems] == (["depth"] if too_deep else [])
    if too_deep:
        with pytest.raises(ValidationError) as caught:
            redo_kit.prepare_event(event)
        assert [p.rule for p in caught.value.problems] == ["depth"]
    else:
        assert orjson.loads(redo_kit.prepare_event(event).body)["data"]["$extra"] == {
            "x": _nested(levels)
        }


@pytest.mark.parametrize(
    ("where", "rule"),
    [
        ({"data": {"k": LONE}}, "unicode"),
        ({"data": {LONE: 1}}, "unicode"),
        ({"eventName": "a" + LONE}, "unicode"),
        ({"customer": {"email": LONE + "@example.com"}}, "unicode"),
        ({"data": {"$extra": {"k": math.nan}}}, "non-finite"),
        ({"data": {"k": 2**64}}, "json-type"),
        ({"data": {"k": 10**5000}}, "json-type"),
        ({"data": {"$extra": {"k": {1, 2}}}}, "json-type"),
        ({"data": {"$extra": {(1, 2): 1}}}, "json-type"),
        ({"data": {"k": b"x"}}, "json-type"),
        # Refused from its exponent: the integer is never built.
        ({"value": Decimal("1e999999999")}, "json-type"),
        ({"value": Decimal("-Infinity")}, "non-finite"),
    ],
)
def test_each_hostile_value_is_named_with_its_rule(where: dict[str, Any], rule: str) -> None:
    event = {**BASE, **where}
    with pytest.raises(ValidationError) as caught:
        redo_kit.prepare_event(event)
    assert [p.rule for p in caught.value.problems] == [rule]
    # A wire payload holds JSON only: validation names a Decimal as not JSON.
    expected = "json-type" if isinstance(event.get("value"), Decimal) else rule
    assert [p.rule for p in redo_kit.validate_event(event)] == [expected]
    assert caught.value.problems[0].hint


def test_subclasses_are_sent_as_their_base_values() -> None:
    event = {
        "eventName": Text("Order Placed"),
        "customer": Shape(email=Text("a@example.com")),
        "value": Number(2.5),
        "uniqueId": Text("order-1"),
        "data": {"Count": Count(7), "Level": Level.HIGH, "Items": None, "$extra": {"t": (1, 2)}},
    }
    prepared = redo_kit.prepare_event(event)
    assert orjson.loads(prepared.body) == {
        "eventName": "Order Placed",
        "customer": {"email": "a@example.com"},
        "value": 2.5,
        "uniqueId": "order-1",
        "data": {"Count": 7, "Level": 3, "$extra": {"t": [1, 2]}},
    }
    assert type(prepared.payload["eventName"]) is str
    # A wire payload is sent as it is: subclasses are JSON; datetimes are not.
    assert redo_kit.validate_event({**BASE, "data": {"k": Text("v")}}) == []
    stamp = {**BASE, "eventTimestamp": datetime(2024, 1, 1, tzinfo=timezone.utc)}
    assert [p.rule for p in redo_kit.validate_event(stamp)] == ["json-type"]
