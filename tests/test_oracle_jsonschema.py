"""python-jsonschema as an independent oracle for the schema half of validation.

redo-kit validates with jsonschema-rs over the spec's component schemas. Here
python-jsonschema (``Draft202012Validator`` with a ``FormatChecker``) reads the
same components straight from the spec document, with its own ``$ref``
resolution, and must reach the same verdict on every generated event: an event
it accepts has no redo-kit error under a schema rule, and an event it refuses
has at least one.

Rules beyond JSON Schema are left out of the comparison, because the schema
cannot state them and python-jsonschema accepts what they refuse:

- ``unknown-key`` at the top level of the event: the Event schema allows any
  key (the API ignores unknown ones); redo-kit refuses them as likely typos.
  ``unknown-key`` inside ``customer`` and ``location`` is ``additionalProperties:
  false`` and stays in the comparison.
- ``string-size`` and ``event-size``: limits in UTF-8 bytes; ``maxLength``
  counts characters.
- ``non-finite`` and ``json-type``: values JSON cannot carry (NaN, infinities,
  64-bit overflow, non-JSON objects); python-jsonschema takes a NaN for a number.
  A schema problem at a path these rules flag is folded into them, so the
  oracle's errors at such a path are left out as well.
- ``depth``: past 100 levels redo-kit checks nothing else; generated events are
  never that deep, which the comparison asserts.
- ``ignored-value`` and ``duplicate-unique-id``: warnings, never schema errors.

Formats: python-jsonschema's ``email`` checker only looks for an ``@``, so it
cannot judge the spec's ``format: email``. That one format is left unchecked by
the oracle and redo-kit's ``format`` problem at ``$.customer.email`` is left out;
what the oracle can say (no ``@`` is not an address) is still asserted.
``date-time`` is checked by rfc3339-validator, which refuses two things RFC 3339
allows: the year 0000 (judged as 2000, which has the same calendar, both being
leap years) and the leap second 23:59:60 in UTC (judged as 23:59:59).
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import given
from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import ValidationError as SchemaError
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012
from rfc3339_validator import validate_rfc3339

from redo_kit._errors import Problem
from redo_kit._spec import document, request_examples, wire_path
from redo_kit._validation import validate_bulk, validate_event
from redo_kit.testing import strategies as rs

_SPEC = "urn:redo-kit:spec"
_EMAIL = "$.customer.email"
_BEYOND_SCHEMA = frozenset(
    {
        "depth",
        "duplicate-unique-id",
        "event-size",
        "ignored-value",
        "json-type",
        "non-finite",
        "string-size",
    }
)
# Rules located at the value they flag, whose schema problems redo-kit folds into them.
_FLAGGING = frozenset({"json-type", "non-finite", "string-size"})
_LEAP_SECOND = re.compile(r"(?i)T23:59:60(\.[0-9]+)?(Z|[+-]00:00)$")

_formats = FormatChecker(formats=())


@_formats.checks("date-time")
def _rfc3339_date_time(instance: object) -> bool:
    if not isinstance(instance, str):
        return True
    text = instance.upper()
    if text.startswith("0000-"):
        text = "2000" + text[4:]
    text = _LEAP_SECOND.sub(lambda m: "T23:59:59" + (m[1] or "") + m[2], text)
    return bool(validate_rfc3339(text))


def _validator(name: str) -> Draft202012Validator:
    registry: Registry[Any] = Registry().with_resource(
        _SPEC, Resource(contents=document(), specification=DRAFT202012)
    )
    return Draft202012Validator(
        {"$ref": f"{_SPEC}#/components/schemas/{name}"},
        registry=registry,
        format_checker=_formats,
    )


EVENT = _validator("Event")
BULK = _validator("BulkEventsRequest")


def _at(error: SchemaError) -> str:
    return wire_path(list(error.absolute_path))


def _within(path: str, ancestor: str) -> bool:
    return path == ancestor or path.startswith((ancestor + ".", ancestor + "["))


def _oracle_errors(event: dict[str, Any], problems: list[Problem]) -> list[SchemaError]:
    flagged = {p.path for p in problems if p.rule in _FLAGGING}
    return [e for e in EVENT.iter_errors(event) if _at(e) not in flagged]


def _unknown_top_level(event: dict[str, Any]) -> set[str]:
    known = document()["components"]["schemas"]["Event"]["properties"]
    return {wire_path([str(k)]) for k in event if k not in known}


def _schema_errors(event: dict[str, Any], problems: list[Problem]) -> list[Problem]:
    unknown_top = _unknown_top_level(event)
    return [
        p
        for p in problems
        if p.severity == "error"
        and p.rule not in _BEYOND_SCHEMA
        and not (p.rule == "unknown-key" and p.path in unknown_top)
        and not (p.rule == "format" and p.path == _EMAIL)
    ]


def _assert_same_verdict(event: dict[str, Any]) -> list[SchemaError]:
    """Assert both refuse ``event`` or both accept it; return the oracle's errors."""
    problems = validate_event(event)
    assert not any(p.rule == "depth" for p in problems), problems
    oracle = _oracle_errors(event, problems)
    ours = _schema_errors(event, problems)
    assert bool(oracle) == bool(ours), (
        [f"{_at(e)}: {e.message}" for e in oracle],
        [str(p) for p in ours],
    )
    customer = event.get("customer")
    email = customer.get("email") if isinstance(customer, dict) else None
    if isinstance(email, str) and not FormatChecker().conforms(email, "email"):
        assert any(p.rule == "format" and p.path == _EMAIL for p in problems), problems
    return oracle


def test_the_oracle_reads_well_formed_schemas_and_checks_date_times() -> None:
    for schema in document()["components"]["schemas"].values():
        Draft202012Validator.check_schema(schema)
    assert _formats.conforms("2024-02-29T23:59:60.5z", "date-time")
    assert _formats.conforms("0000-02-29T00:00:00+23:59", "date-time")
    for text in ("2023-02-29T00:00:00Z", "2024-01-01T12:00:60Z", "2024-01-01T12:00:00"):
        assert not _formats.conforms(text, "date-time"), text
    assert "email" not in _formats.checkers


@given(rs.valid_events())
def test_both_accept_every_valid_event(event: dict[str, Any]) -> None:
    assert _assert_same_verdict(event) == []
    assert [p for p in validate_event(event) if p.severity == "error"] == []


@given(rs.invalid_events())
def test_both_judge_every_invalid_event_alike(case: tuple[dict[str, Any], str, str]) -> None:
    event, rule, path = case
    oracle = _assert_same_verdict(event)
    beyond = rule in _BEYOND_SCHEMA or (rule == "unknown-key" and path in _unknown_top_level(event))
    if beyond or (rule == "format" and path == _EMAIL):
        assert oracle == [], [e.message for e in oracle]
    else:
        # The oracle refuses the event where the broken rule is, or above it
        # (a missing key is reported on its object, a failed anyOf on its value).
        assert any(_within(path, _at(e)) for e in oracle), (path, [_at(e) for e in oracle])


@pytest.mark.parametrize(("name", "event"), sorted(request_examples().items()))
def test_every_guide_example_is_valid_in_both(name: str, event: dict[str, Any]) -> None:
    assert list(EVENT.iter_errors(event)) == []
    assert validate_event(event) == [], name


@pytest.mark.parametrize(("name", "body"), sorted(request_examples(bulk=True).items()))
def test_every_bulk_guide_example_is_valid_in_both(name: str, body: dict[str, Any]) -> None:
    assert list(BULK.iter_errors(body)) == []
    assert validate_bulk(body) == ([], [[] for _ in body["events"]]), name
