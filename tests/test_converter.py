"""The wire converter: round trips over every model, wire names, and errors with wire paths."""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import attrs
import orjson
import pytest
from helpers import year_zero_timestamp
from hypothesis import assume, given
from hypothesis import strategies as st

import redo_kit_models as models
from redo_kit import _converter as converter
from redo_kit._errors import ConversionError
from redo_kit.testing import strategies as rs


def _structurable(event: dict[str, Any]) -> models.Event:
    try:
        return converter.structure(event, models.Event)
    except ConversionError as error:
        assume(not year_zero_timestamp(event, error))
        raise


@given(rs.valid_events())
def test_every_valid_wire_event_reads_into_a_model_and_round_trips(event: dict[str, Any]) -> None:
    model = _structurable(event)
    assert converter.structure(converter.unstructure(model), models.Event) == model


@given(
    st.builds(
        models.Location,
        city=st.none() | st.text(max_size=10),
        country_code=st.none() | st.sampled_from(["US", "GB", "NO"]),
        latitude=st.none() | st.floats(-90, 90) | st.integers(-90, 90),
        iana_time_zone_name=st.none() | st.just("America/Los_Angeles"),
    )
)
def test_location_round_trip(location: models.Location) -> None:
    assert converter.structure(converter.unstructure(location), models.Location) == location


@given(
    st.builds(
        models.Event,
        event_name=st.text(min_size=1, max_size=20),
        customer=st.builds(models.Customer, email=st.just("a@example.com")),
        event_timestamp=st.none()
        | st.datetimes(
            min_value=datetime(1000, 1, 1),
            timezones=st.sampled_from([timezone.utc, timezone(timedelta(hours=5, minutes=30))]),
        ),
        # JSON numbers as orjson writes them: integers within 64 bits.
        value=st.none()
        | st.floats(allow_nan=False, allow_infinity=False)
        | st.integers(-(2**63), 2**64 - 1),
        unique_id=st.none() | st.text(min_size=1, max_size=10),
    )
)
def test_event_model_round_trip(event: models.Event) -> None:
    wire = converter.unstructure(event)
    assert converter.structure(wire, models.Event) == event
    assert converter.loads(converter.dumps(event), models.Event) == event


def test_wire_names_and_unset_fields_left_out() -> None:
    event = models.Event(
        event_name="Order Placed",
        customer=models.Customer(phone_number="+12065550100", first_name="Ana"),
        value_currency="USD",
        unique_id="order-1",
    )
    assert converter.unstructure(event) == {
        "eventName": "Order Placed",
        "customer": {"phoneNumber": "+12065550100", "firstName": "Ana"},
        "valueCurrency": "USD",
        "uniqueId": "order-1",
    }


def test_every_model_field_declares_its_wire_name() -> None:
    for name in models.__all__:
        cls = getattr(models, name)
        if attrs.has(cls):
            for field in attrs.fields(cls):
                assert "wire" in field.metadata, f"{name}.{field.name}"


def test_datetimes_are_written_in_utc_with_z() -> None:
    moment = datetime(2026, 4, 2, 17, 30, tzinfo=timezone(timedelta(hours=5, minutes=30)))
    event = models.Event(
        event_name="x",
        customer=models.Customer(email="a@example.com"),
        event_timestamp=moment,
        data={"At": datetime(2025, 1, 1, 0, 0, 0, 250000, tzinfo=timezone.utc)},
    )
    wire = converter.unstructure(event)
    assert wire["eventTimestamp"] == "2026-04-02T12:00:00Z"
    assert wire["data"] == {"At": "2025-01-01T00:00:00.250000Z"}


def test_integers_stay_integers_on_the_wire() -> None:
    payload = {"eventName": "x", "customer": {"email": "a@example.com"}, "value": 5000}
    model = converter.structure(payload, models.Event)
    assert converter.dumps(model) == orjson.dumps(payload)


def test_decimal_values_become_json_numbers() -> None:
    assert converter.to_json_value({"a": Decimal("59.99"), "b": Decimal("3")}) == {
        "a": 59.99,
        "b": 3,
    }


def test_naive_datetime_is_refused_with_its_wire_path() -> None:
    event = models.Event(
        event_name="x",
        customer=models.Customer(email="a@example.com"),
        event_timestamp=datetime(2026, 1, 1),
    )
    with pytest.raises(ConversionError) as caught:
        converter.unstructure(event)
    (problem,) = caught.value.problems
    assert problem.path == "$.eventTimestamp"
    assert problem.rule == "aware-datetime"
    assert "timezone" in problem.hint


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, Decimal("NaN")])
def test_non_finite_numbers_are_refused(bad: Any) -> None:
    event = models.Event(
        event_name="x", customer=models.Customer(email="a@example.com"), data={"n": bad}
    )
    with pytest.raises(ConversionError) as caught:
        converter.dumps(event)
    assert caught.value.problems[0].path == "$.data.n"


def test_structure_errors_name_every_wire_path() -> None:
    payload = {
        "eventName": "x",
        "customer": {"phoneNumber": 12065550100, "nickname": "A", "location": {"latitude": "n"}},
        "eventTimestamp": "yesterday",
        "valueCurrency": 840,
    }
    with pytest.raises(ConversionError) as caught:
        converter.structure(payload, models.Event)
    paths = {p.path for p in caught.value.problems}
    assert paths == {
        "$.customer.phoneNumber",  # the wire name, not the attribute phone_number
        "$.customer.nickname",
        "$.customer.location.latitude",
        "$.eventTimestamp",
        "$.valueCurrency",
    }
    assert "phone_number" not in str(caught.value)


def test_structure_errors_inside_lists_carry_the_index() -> None:
    with pytest.raises(ConversionError) as caught:
        converter.structure(
            {"events": [{"eventName": "x", "customer": {}}, {"customer": {}}]},
            models.BulkEventsRequest,
        )
    assert {p.path for p in caught.value.problems} == {"$.events[1].eventName"}


def test_loads_reports_invalid_json() -> None:
    with pytest.raises(ConversionError) as caught:
        converter.loads(b"{", models.Event)
    assert caught.value.problems[0].rule == "json"


@pytest.mark.parametrize("value", [-(2**63) - 1, 2**64])
def test_an_integer_beyond_64_bits_is_a_conversion_error_naming_the_path(value: int) -> None:
    model = models.Event(
        event_name="Order Placed", customer=models.Customer(email="a@example.com"), value=value
    )
    with pytest.raises(ConversionError) as caught:
        converter.dumps(model)
    assert [(p.path, p.rule) for p in caught.value.problems] == [("$.value", "json-type")]
