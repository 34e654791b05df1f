"""Event data the way the API stores it: ignored values dropped, types decided.

``clean_data`` removes what the API would drop anyway (top-level ``0``,
``null`` and ``""``; spec: ``x-redo-ignored-values``), so the payload says what
will be stored. ``detect_type`` tells which type a top-level value will be
segmented as, deciding dates exactly as the spec does.

Custom fields are not cleaned: the ignored-values rule is documented for event
data only, and the spec (``x-redo-assumption`` on CustomFields) stores custom
field values as sent, ``0`` and ``""`` included.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any, Literal

import jsonschema_rs

from redo_kit._errors import ConversionError, Problem, ValidationError
from redo_kit._rules import EXTRA, is_ignored, nested_data
from redo_kit._spec import validator, wire_path

__all__ = ["PropertyType", "clean_data", "detect_type", "is_date"]

PropertyType = Literal["string", "number", "boolean", "date"]


def _date_time_shape(value: str) -> bool:
    # A cheap necessary condition, so most strings never reach the validator:
    # the separators of YYYY-MM-DDTHH:MM:SS in their places. Everything else
    # (digits, calendar, ranges, leap seconds, offsets) is the compiled
    # `format: date-time` check's to decide, so detection agrees with it.
    return (
        len(value) >= 20
        and value[4] == "-"
        and value[7] == "-"
        and value[10] in "Tt"
        and value[13] == ":"
        and value[16] == ":"
    )


def clean_data(data: Mapping[str, Any], *, move_nested_to_extra: bool = False) -> dict[str, Any]:
    """A new dict of ``data`` without the top-level values the API ignores.

    Drops exactly ``0`` (int or float, ``-0.0`` too), ``None`` and ``""`` at
    the top level; keeps ``False``, the order of the keys and everything under
    ``$extra``. The input is never changed.

    A top-level object or list cannot be segmented: it raises
    ``ValidationError`` naming each such key, or, with
    ``move_nested_to_extra=True``, is moved under ``$extra`` (created when
    missing, appended after what it already holds).
    """
    cleaned, _, problems = clean_wire_data(data, move_nested_to_extra, None, "$.data")
    if problems:
        raise ValidationError(problems, subject="data")
    return cleaned


def detect_type(value: object) -> PropertyType | None:
    """The type a top-level data value (or custom field) is stored and segmented as.

    ``"boolean"`` for ``True``/``False`` (never a number), ``"number"`` for
    other finite numbers, ``"date"`` for strings that are RFC 3339 date-times
    exactly as the spec's ``format: date-time`` decides, ``"string"`` for other
    strings. ``None`` when nothing is stored: the ignored values (``0``,
    ``None``, ``""``) and values that are not scalars or not finite.
    """
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, str):
        if value == "":
            return None
        return "date" if is_date(value) else "string"
    if isinstance(value, (int, float, Decimal)):
        if value == 0:
            return None
        if isinstance(value, float) and not math.isfinite(value):
            return None
        if isinstance(value, Decimal) and not value.is_finite():
            return None
        return "number"
    return None


def is_date(value: str) -> bool:
    """Whether ``value`` is, as a whole, an RFC 3339 date-time (the spec's date rule).

    Decided by the same compiled ``format: date-time`` check that validates
    ``eventTimestamp``, so a string is a date here exactly when it would be a
    valid timestamp. That check is laxer than RFC 3339 about the year digits
    (it takes ``+024-01-01T00:00:00Z``); the spec is where to tighten it.
    """
    return _date_time_shape(value) and bool(_date_time_validator().is_valid(value))


def _date_time_validator() -> jsonschema_rs.Draft202012Validator:
    # The spec's DateTime schema: what eventTimestamp must be, and the rule
    # x-redo-date-detection names for data and custom fields.
    return validator("DateTime")


def clean_wire_data(
    data: Mapping[str, Any],
    move_nested: bool,
    convert: Callable[[Any, str], Any] | None,
    root: str,
) -> tuple[dict[str, Any], list[str], list[Problem]]:
    """``(cleaned data, keys dropped as ignored, problems)``.

    ``convert(value, path)`` (when given) turns each top-level value that is
    not already a JSON scalar, and the whole ``$extra``, into JSON values; it
    returns the new value or raises ``ConversionError``/``ValidationError``.
    """
    if type(data) is not dict and not isinstance(data, Mapping):
        problem = Problem(
            path=root,
            rule="type",
            message=f"data must be an object, not a {type(data).__name__}",
            hint="pass a dict of property names to values",
        )
        return {}, [], [problem]
    out: dict[str, Any] = {}
    dropped: list[str] = []
    nested: list[tuple[str, Any]] = []
    problems: list[Problem] = []
    for key, value in data.items():
        # Exact types first: this loop runs for every property of every event.
        cls = type(value)
        if key == EXTRA:
            if convert is not None:
                value = _converted(convert, value, wire_path([key], root), problems)
            out[key] = value
        elif cls is str or cls is int or cls is float:
            if value:
                out[key] = value
            else:
                dropped.append(key)
        elif cls is bool:
            out[key] = value
        elif value is None:
            dropped.append(key)
        elif isinstance(value, (Mapping, list, tuple)):
            nested.append((key, value))
        else:
            if convert is not None:
                value = _converted(convert, value, wire_path([key], root), problems)
            if is_ignored(value):
                dropped.append(key)
            else:
                out[key] = value
    if nested:
        problems.extend(_place_nested(out, nested, move_nested, root))
    return out, dropped, problems


def _converted(
    convert: Callable[[Any, str], Any], value: Any, path: str, problems: list[Problem]
) -> Any:
    try:
        return convert(value, path)
    except (ValidationError, ConversionError) as exc:
        problems.extend(exc.problems)
        return value


def _place_nested(
    out: dict[str, Any], nested: list[tuple[str, Any]], move: bool, root: str
) -> list[Problem]:
    problems: list[Problem] = []
    if not move:
        for key, value in nested:
            kind = "an array" if isinstance(value, (list, tuple)) else "an object"
            problems.append(nested_data(key, kind, root))
        return problems
    current = out.get(EXTRA, {})
    if not isinstance(current, Mapping):
        return [
            Problem(
                path=wire_path([EXTRA], root),
                rule="type",
                message=f"data['$extra'] is a {type(current).__name__}: it must be an object",
                hint="make '$extra' an object so nested values can be moved into it",
            )
        ]
    extra = dict(current)
    for key, value in nested:
        if key in extra:
            problems.append(
                Problem(
                    path=wire_path([EXTRA, key], root),
                    rule="extra-conflict",
                    message=f"data[{key!r}] cannot move under '$extra': the key is already there",
                    hint="rename one of the two",
                )
            )
            continue
        extra[key] = value
    out[EXTRA] = extra
    return problems
