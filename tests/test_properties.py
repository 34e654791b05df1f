"""clean_data and detect_type: exactly the spec's ignored values and date rule."""

from __future__ import annotations

import copy
import math
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from redo_kit._errors import ValidationError
from redo_kit._properties import EXTRA, clean_data, detect_type, is_date, is_ignored
from redo_kit._rfc3339 import format_datetime, parse_datetime
from redo_kit._spec import validator
from redo_kit.testing import strategies as rs


def _spec_says_date(text: str) -> bool:
    event = {"eventName": "x", "customer": {"id": "0" * 24}, "eventTimestamp": text}
    return bool(validator("Event").is_valid(event))


def _ignored(value: object) -> bool:
    return value is None or value == "" or (type(value) in (int, float) and value == 0)


def test_clean_drops_exactly_the_ignored_values() -> None:
    data = {
        "zero": 0,
        "zero_float": 0.0,
        "neg_zero": -0.0,
        "none": None,
        "empty": "",
        "false": False,
        "space": " ",
        "one": 1,
        "text": "0",
        EXTRA: {"a": 0, "b": None, "c": ""},
    }
    assert clean_data(data) == {
        "false": False,
        "space": " ",
        "one": 1,
        "text": "0",
        EXTRA: {"a": 0, "b": None, "c": ""},
    }


def test_clean_keeps_order_and_does_not_mutate() -> None:
    data = {"b": 1, "a": 0, EXTRA: {"z": [0]}, "c": False}
    before = copy.deepcopy(data)
    cleaned = clean_data(data)
    assert list(cleaned) == ["b", EXTRA, "c"]
    assert data == before
    assert cleaned is not data


def test_nested_values_are_an_error_naming_each_key_and_the_fix() -> None:
    with pytest.raises(ValidationError) as caught:
        clean_data({"Items": [1, 2], "Profile": {"tier": "gold"}, "ok": 1})
    assert [(p.rule, p.path) for p in caught.value.problems] == [
        ("nested-data", "$.data.Items"),
        ("nested-data", "$.data.Profile"),
    ]
    assert "'$extra'" in caught.value.problems[0].hint
    assert "move_nested_to_extra=True" in caught.value.problems[0].hint


def test_nested_values_move_under_extra_when_asked() -> None:
    data = {"Items": [1, 2], EXTRA: {"kept": 0}, "Plan": "pro", "Profile": {"tier": "gold"}}
    assert clean_data(data, move_nested_to_extra=True) == {
        EXTRA: {"kept": 0, "Items": [1, 2], "Profile": {"tier": "gold"}},
        "Plan": "pro",
    }
    assert data[EXTRA] == {"kept": 0}


def test_moving_creates_extra_at_the_end() -> None:
    cleaned = clean_data({"Tags": ("a", "b"), "x": 1}, move_nested_to_extra=True)
    assert list(cleaned) == ["x", EXTRA]
    assert cleaned[EXTRA] == {"Tags": ("a", "b")}


def test_moving_refuses_to_overwrite_extra() -> None:
    with pytest.raises(ValidationError) as caught:
        clean_data({"Tags": [1], EXTRA: {"Tags": [2]}}, move_nested_to_extra=True)
    assert [(p.rule, p.path) for p in caught.value.problems] == [
        ("extra-conflict", "$.data['$extra'].Tags")
    ]


def test_clean_refuses_what_is_not_a_mapping() -> None:
    with pytest.raises(ValidationError, match="data must be an object"):
        clean_data([("a", 1)])  # type: ignore[arg-type]


@given(st.dictionaries(rs.property_names(), rs.property_values()), st.none() | rs.extra_values())
def test_clean_removes_exactly_the_ignored_values(
    props: dict[str, Any], extra: dict[str, Any] | None
) -> None:
    data = {**props, EXTRA: extra} if extra is not None else props
    before = copy.deepcopy(data)
    cleaned = clean_data(data)
    assert data == before
    expected = [k for k, v in data.items() if k == EXTRA or not _ignored(v)]
    assert list(cleaned) == expected
    assert all(cleaned[k] is data[k] for k in expected)
    assert all(v is not False or k in cleaned for k, v in data.items())
    assert clean_data(cleaned) == cleaned


def test_customfields_are_not_cleaned_per_spec() -> None:
    # x-redo-assumption on CustomFields: values are stored as sent, 0 and "" included.
    event = {"eventName": "x", "customer": {"id": "0" * 24, "customFields": {"n": 0, "s": ""}}}
    assert validator("Event").is_valid(event)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (True, "boolean"),
        (False, "boolean"),
        (1, "number"),
        (-2.5, "number"),
        (Decimal("1.10"), "number"),
        ("gold", "string"),
        ("2025-03-15T10:30:00Z", "date"),
        ("2025-03-15t10:30:00.123+05:30", "date"),
        ("2025-03-15", "string"),
        ("2025-03-15 10:30:00Z", "string"),
        ("2025-03-15T10:30:00", "string"),
        ("2016-12-31T23:59:60Z", "date"),
        ("2016-12-31T23:59:60+01:00", "string"),
        ("2016-12-31T22:59:60-01:00", "date"),
        ("0000-01-01T00:00:00Z", "date"),
        ("2023-02-29T00:00:00Z", "string"),
        ("2024-02-29T00:00:00Z", "date"),
        ("2024-01-01T00:00:00+24:00", "string"),
        (0, None),
        (0.0, None),
        (-0.0, None),
        (Decimal(0), None),
        (None, None),
        ("", None),
        (float("nan"), None),
        (float("inf"), None),
        (Decimal("NaN"), None),
        ([1], None),
        ({"a": 1}, None),
    ],
)
def test_detect_type(value: object, expected: str | None) -> None:
    assert detect_type(value) == expected


def test_is_ignored_never_takes_false_for_zero() -> None:
    assert is_ignored(0)
    assert not is_ignored(False)
    assert not is_ignored("0")


@given(rs.aware_datetimes())
def test_every_written_datetime_is_a_date_and_the_same_instant(moment: datetime) -> None:
    text = format_datetime(moment)
    assert detect_type(text) == "date"
    assert parse_datetime(text) == moment


def test_early_years_are_written_with_four_digits() -> None:
    assert format_datetime(datetime(999, 1, 1, tzinfo=timezone.utc)) == "0999-01-01T00:00:00Z"


@given(rs.rfc3339_datetimes())
def test_every_rfc3339_string_is_a_date(text: str) -> None:
    assert detect_type(text) == "date"


def _mutations(text: str) -> st.SearchStrategy[str]:
    position = st.integers(0, len(text))
    replacement = st.sampled_from([*"0123456789TtZz:+-. ", "", "9", "60", "\u0661"])
    return st.tuples(position, st.integers(0, 3), replacement).map(
        lambda p: text[: p[0]] + p[2] + text[p[0] + p[1] :]
    )


@given(rs.rfc3339_datetimes().flatmap(_mutations))
def test_date_detection_agrees_with_the_spec_near_dates(text: str) -> None:
    assert is_date(text) == _spec_says_date(text)


@given(st.text(max_size=40))
def test_no_other_string_is_a_date(text: str) -> None:
    assert is_date(text) == _spec_says_date(text)


@given(rs.property_values())
def test_types_of_generated_values(value: object) -> None:
    kind = detect_type(value)
    if _ignored(value):
        assert kind is None
    elif isinstance(value, bool):
        assert kind == "boolean"
    elif isinstance(value, (int, float)):
        assert kind == "number"
        assert math.isfinite(value)
    else:
        assert kind in ("string", "date")
