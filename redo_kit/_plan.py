"""Tracking plans: a team's own events, each property typed as Redo will index it.

Redo takes any ``eventName`` and any property. A plan file (YAML or JSON)
says which events a shop's services send and what each carries::

    version: '1.2.0'
    closed: true              # unknown events and properties are errors
    events:
      Order Placed:
        description: A customer placed an order.
        properties:
          Order Id: {type: string, required: true, pattern: '^ord_'}
          Order Total: {type: number, required: true, minimum: 0}
          Coupon: {type: string}
          Placed At: {type: date}
        customFields:
          Loyalty Tier: {type: string, enum: [Bronze, Silver, Gold]}
        extra: {type: object, properties: {Lines: {type: array}}}
        value: required
        valueCurrency: required
        uniqueId: [order, Order Id]   # unique_id("order", data["Order Id"])

:meth:`TrackingPlan.load` checks the file against the plan's meta-schema
(``redo_kit/schemas/tracking-plan.schema.json``) and against what Redo would
do with each name, and refuses it with a :class:`PlanError` whose problems
name the line and the fix. A property's type is one Redo can index
(``string``, ``number``, ``integer``, ``boolean``, ``date``).

:meth:`TrackingPlan.check` reports what an event breaks, in the same
:class:`~redo_kit._errors.Problem` form as the spec's rules, by rule id:

- ``plan-event``: the ``eventName`` is not in the plan (error in a closed
  plan, warning in an open one), with the nearest name;
- ``plan-property``: a data property or custom field the plan does not name
  (same severities);
- ``plan-required``: a required property, ``value`` or ``valueCurrency`` is
  missing, or holds a value Redo drops (``0``, ``null``, ``""``);
- ``plan-type``: Redo would index the value as another type, for example a
  ``date`` property holding a string Redo reads as text;
- ``plan-enum``, ``plan-pattern``, ``plan-range``: the value is not one the
  plan allows;
- ``plan-extra``: ``data.$extra`` breaks the plan's schema for it;
- ``plan-unique-id``: the ``uniqueId`` is not the one the plan's recipe gives.

The checks run on the event as it will be sent (after preparation), so they
see what Redo stores.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import attrs
import jsonschema_rs
import orjson

from redo_kit._errors import ConfigurationError, PlanError, Problem
from redo_kit._idempotency import unique_id
from redo_kit._properties import detect_type, is_date
from redo_kit._rules import EXTRA, is_ignored, limits
from redo_kit._spec import as_written, component, wire_path

__all__ = [
    "PLAN_RULES",
    "PlanEvent",
    "PlanProperty",
    "PlanType",
    "TrackingPlan",
    "meta_schema",
]

PlanType = Literal["string", "number", "integer", "boolean", "date"]

PLAN_RULES = (
    "plan-enum",
    "plan-event",
    "plan-extra",
    "plan-pattern",
    "plan-property",
    "plan-range",
    "plan-required",
    "plan-type",
    "plan-unique-id",
)
"""The rule ids of the problems a plan reports about an event."""

_SCHEMA_FILE = "tracking-plan.schema.json"
_DATE_EXAMPLE = "2026-04-02T12:00:00Z"
_DATE_LENGTH = len("2026-04-02T12:00:00Z")
"""The shortest string Redo reads as a date."""


def meta_schema() -> dict[str, Any]:
    """The plan file's JSON Schema (2020-12), as shipped with redo-kit."""
    raw = resources.files("redo_kit").joinpath("schemas").joinpath(_SCHEMA_FILE).read_bytes()
    loaded: dict[str, Any] = orjson.loads(raw)
    return loaded


_meta_validator: list[jsonschema_rs.Draft202012Validator] = []


def _meta() -> jsonschema_rs.Draft202012Validator:
    if not _meta_validator:
        _meta_validator.append(jsonschema_rs.Draft202012Validator(meta_schema()))
    return _meta_validator[0]


@attrs.frozen(kw_only=True)
class PlanProperty:
    """One data property (or custom field) of a planned event."""

    name: str
    """The wire name, exactly as sent."""
    type: PlanType
    """How Redo indexes it; ``integer`` is a number without a fraction."""
    required: bool = False
    description: str = ""
    enum: tuple[str | int | float, ...] | None = None
    pattern: str | None = None
    """A regular expression the string must contain a match of (as JSON Schema's ``pattern``)."""
    minimum: float | None = None
    maximum: float | None = None
    _compiled: re.Pattern[str] | None = attrs.field(
        default=attrs.Factory(lambda self: _compile(self.pattern), takes_self=True),
        init=False,
        repr=False,
        eq=False,
    )

    _enum_set: frozenset[str | int | float] | None = attrs.field(
        default=attrs.Factory(
            lambda self: None if self.enum is None else frozenset(self.enum), takes_self=True
        ),
        init=False,
        repr=False,
        eq=False,
    )

    def accepts(self, value: Any) -> bool:
        """Whether ``value`` (a JSON value of a prepared event) follows this property, quickly.

        The check every event takes; :meth:`problems` says why when it does not.
        """
        cls = type(value)
        kind = self.type
        if kind == "string":
            if cls is not str or (len(value) >= _DATE_LENGTH and is_date(value)):
                return False
        elif kind == "number":
            if cls is not int and cls is not float:
                return False
        elif kind == "integer":
            if cls is not int and not (cls is float and value.is_integer()):
                return False
        elif kind == "boolean":
            return cls is bool
        elif cls is not str or not is_date(value):
            return False
        if self._enum_set is not None and value not in self._enum_set:
            return False
        if self._compiled is not None and not self._compiled.search(value):
            return False
        if self.minimum is not None and value < self.minimum:
            return False
        return self.maximum is None or value <= self.maximum

    def problems(self, value: Any, path: str) -> list[Problem]:
        """What ``value``, sent for this property at ``path``, breaks (not its absence)."""
        found: list[Problem] = []
        stored = detect_type(value)
        if not self._indexed_as_planned(value, stored):
            found.append(self._wrong_type(value, stored, path))
            return found
        if self.enum is not None and not _in_enum(value, self.enum):
            allowed = ", ".join(repr(v) for v in self.enum)
            close = (
                difflib.get_close_matches(value, [str(v) for v in self.enum], n=1)
                if isinstance(value, str)
                else []
            )
            found.append(
                Problem(
                    path=path,
                    rule="plan-enum",
                    message=f"{value!r} is not one of the plan's values for {self.name!r}",
                    hint=(f"did you mean {close[0]!r}? " if close else "") + f"use {allowed}",
                )
            )
        pattern = self._compiled
        if pattern is not None and isinstance(value, str) and not pattern.search(value):
            found.append(
                Problem(
                    path=path,
                    rule="plan-pattern",
                    message=f"{value!r} does not match the plan's pattern {self.pattern!r}",
                    hint=f"send a value of {self.name!r} that matches {self.pattern}",
                )
            )
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            low, high = self.minimum, self.maximum
            if (low is not None and value < low) or (high is not None and value > high):
                bounds = " to ".join("" if b is None else f"{b:g}" for b in (low, high)).strip()
                found.append(
                    Problem(
                        path=path,
                        rule="plan-range",
                        message=f"{value!r} is outside the plan's range for {self.name!r}",
                        hint=f"send a number from {bounds}"
                        if low is not None and high is not None
                        else (
                            f"send at least {low:g}"
                            if low is not None
                            else f"send at most {high:g}"
                        ),
                    )
                )
        return found

    def _indexed_as_planned(self, value: Any, stored: str | None) -> bool:
        if self.type == "integer":
            return stored == "number" and (
                isinstance(value, int) or (isinstance(value, float) and value.is_integer())
            )
        return stored == self.type

    def _wrong_type(self, value: Any, stored: str | None, path: str) -> Problem:
        planned = "a number without a fraction" if self.type == "integer" else f"a {self.type}"
        if self.type == "date" and stored == "string":
            hint = (
                f"write an RFC 3339 date-time such as {_DATE_EXAMPLE} "
                "(a date alone, or a space for T, is text)"
            )
            message = (
                f"Redo reads {value!r} as text, not as a date, so {self.name!r} would not be a date"
            )
        elif self.type == "string" and stored == "date":
            hint = "make the property a date in the plan, or send the text in another form"
            message = f"Redo reads {value!r} as a date, not as text"
        else:
            got = "nothing Redo indexes" if stored is None else f"a {stored}"
            if stored == "number" and self.type == "integer":
                got = "a number with a fraction"
            message = f"{self.name!r} is {got}; the plan says {planned}"
            hint = f"send {planned} for {self.name!r}"
        return Problem(path=path, rule="plan-type", message=message, hint=hint)


def _compile(pattern: str | None) -> re.Pattern[str] | None:
    return None if pattern is None else re.compile(pattern)


def _in_enum(value: Any, allowed: tuple[str | int | float, ...]) -> bool:
    # 1 == True in Python, and "1" is not 1 on the wire: compare within a kind.
    if isinstance(value, bool):
        return False
    if isinstance(value, str):
        return any(isinstance(v, str) and v == value for v in allowed)
    return any(not isinstance(v, str) and v == value for v in allowed)


@attrs.frozen(kw_only=True)
class PlanEvent:
    """One planned event: its data properties, custom fields, ``$extra`` schema and recipes."""

    name: str
    description: str = ""
    properties: Mapping[str, PlanProperty] = attrs.field(factory=dict)
    custom_fields: Mapping[str, PlanProperty] = attrs.field(factory=dict)
    extra: Mapping[str, Any] | None = None
    """A JSON Schema (2020-12) for ``data.$extra``."""
    value_required: bool = False
    currency_required: bool = False
    unique_id: tuple[str, ...] | None = None
    """The recipe: a literal prefix, then the names of required properties."""
    _required: tuple[str, ...] = attrs.field(
        default=attrs.Factory(
            lambda self: tuple(p.name for p in self.properties.values() if p.required),
            takes_self=True,
        ),
        init=False,
        repr=False,
        eq=False,
    )
    _required_fields: tuple[str, ...] = attrs.field(
        default=attrs.Factory(
            lambda self: tuple(p.name for p in self.custom_fields.values() if p.required),
            takes_self=True,
        ),
        init=False,
        repr=False,
        eq=False,
    )
    _extra_validator: jsonschema_rs.Draft202012Validator | None = attrs.field(
        default=attrs.Factory(
            lambda self: (
                None if self.extra is None else jsonschema_rs.Draft202012Validator(dict(self.extra))
            ),
            takes_self=True,
        ),
        init=False,
        repr=False,
        eq=False,
    )

    def unique_id_for(self, data: Mapping[str, Any]) -> str | None:
        """The ``uniqueId`` the recipe gives for ``data``; ``None`` without recipe or values."""
        if self.unique_id is None:
            return None
        prefix, *names = self.unique_id
        parts: list[str | int] = [prefix]
        for name in names:
            value = data.get(name)
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            if isinstance(value, bool) or not isinstance(value, (str, int)) or is_ignored(value):
                return None
            parts.append(value)
        return unique_id(*parts)

    def problems(self, payload: Mapping[str, Any], closed: bool, root: str = "$") -> list[Problem]:
        """What ``payload`` (a wire event of this name) breaks in the plan."""
        # Runs for every event: paths and messages are made only for a problem.
        found: list[Problem] = []
        data = payload.get("data")
        if type(data) is not dict:
            data = {}
        properties = self.properties
        for name in self._required:
            if is_ignored(data.get(name)):
                found.append(_missing(name, wire_path(["data", name], root), data, dropped=True))
        for key, value in data.items():
            planned = properties.get(key)
            if planned is None:
                if key != EXTRA:
                    found.append(
                        _unknown_property(
                            key,
                            "data",
                            self.name,
                            properties,
                            closed,
                            wire_path(["data", key], root),
                        )
                    )
            elif not planned.accepts(value) and not is_ignored(value):
                found.extend(planned.problems(value, wire_path(["data", key], root)))
        if self._extra_validator is not None:
            found.extend(self._extra_problems(self._extra_validator, data.get(EXTRA), root))
        if self.custom_fields or closed:
            found.extend(self._custom_field_problems(payload.get("customer"), closed, root))
        if self.value_required and payload.get("value") is None:
            found.append(self._required_top("value", root))
        if self.currency_required and payload.get("valueCurrency") is None:
            found.append(self._required_top("valueCurrency", root))
        if self.unique_id is not None:
            expected = self.unique_id_for(data)
            if expected is not None and payload.get("uniqueId") != expected:
                found.append(
                    Problem(
                        path=wire_path(["uniqueId"], root),
                        rule="plan-unique-id",
                        message=f"the uniqueId is {payload.get('uniqueId')!r}; "
                        f"the plan's recipe {list(self.unique_id)} gives {expected!r}",
                        hint=f"leave uniqueId out and redo-kit sets {expected!r}, or send that",
                    )
                )
        return found

    def _required_top(self, key: str, root: str) -> Problem:
        return Problem(
            path=wire_path([key], root),
            rule="plan-required",
            message=f"the plan requires {key} on {self.name!r}",
            hint=f"send {key} with every {self.name!r} event",
        )

    def _extra_problems(
        self, check: jsonschema_rs.Draft202012Validator, extra: Any, root: str
    ) -> list[Problem]:
        instance = {} if extra is None else extra
        if check.is_valid(instance):
            return []
        return [
            Problem(
                path=wire_path(["data", EXTRA, *as_written(instance, error.instance_path)], root),
                rule="plan-extra",
                message=f"$extra breaks the plan's schema: {error.message}",
                hint=f"make data.$extra of {self.name!r} follow the plan's extra schema",
            )
            for error in check.iter_errors(instance)
        ]

    def _custom_field_problems(self, customer: Any, closed: bool, root: str) -> list[Problem]:
        fields = customer.get("customFields") if type(customer) is dict else None
        if type(fields) is not dict:
            fields = {}
        found: list[Problem] = []
        planned_fields = self.custom_fields
        for name in self._required_fields:
            if fields.get(name) is None:
                where = wire_path(["customer", "customFields", name], root)
                found.append(_missing(name, where, fields, dropped=False))
        for key, value in fields.items():
            planned = planned_fields.get(key)
            if planned is None:
                where = wire_path(["customer", "customFields", key], root)
                found.append(
                    _unknown_property(key, "custom field", self.name, planned_fields, closed, where)
                )
            elif value is not None and not planned.accepts(value):
                where = wire_path(["customer", "customFields", key], root)
                found.extend(planned.problems(value, where))
        return found


def _missing(name: str, path: str, data: Mapping[str, Any], *, dropped: bool) -> Problem:
    if dropped and name in data:
        return Problem(
            path=path,
            rule="plan-required",
            message=f"{name!r} is required by the plan, and Redo drops {data[name]!r} "
            '(0, null and "" are not stored)',
            hint=f"send a real value for {name!r}",
        )
    return Problem(
        path=path,
        rule="plan-required",
        message=f"{name!r} is required by the plan",
        hint=f"add {name!r} to the event",
    )


def _unknown_property(
    key: str,
    kind: str,
    event: str,
    known: Mapping[str, PlanProperty],
    closed: bool,
    path: str,
) -> Problem:
    close = difflib.get_close_matches(key, list(known), n=1)
    guess = f"did you mean {close[0]!r}? " if close else ""
    return Problem(
        path=path,
        rule="plan-property",
        message=f"{kind} {key!r} is not in the plan's {event!r}",
        hint=f"{guess}add it to the plan, or leave it out",
        severity="error" if closed else "warning",
    )


@attrs.frozen(kw_only=True)
class TrackingPlan:
    """A team's tracking plan: its events by name, and whether it is closed.

    Load one with :meth:`load` (a YAML or JSON file), :meth:`from_text` or
    :meth:`from_dict`; pass it as ``plan=`` to ``validate_event``,
    ``RedoClient``, ``batcher`` and ``PrepareOptions``.
    """

    version: str
    events: Mapping[str, PlanEvent]
    closed: bool = True
    """Whether an event or property the plan does not name is an error (else a warning)."""
    description: str = ""
    source: str = attrs.field(default="<plan>", eq=False)
    """Where the plan was read from, for messages."""

    @classmethod
    def load(cls, path: str | Path) -> TrackingPlan:
        """Read and check the plan file at ``path`` (YAML or JSON); raises ``PlanError``."""
        try:
            text = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigurationError(f"cannot read the tracking plan {path}: {exc}") from exc
        return cls.from_text(text, source=str(path))

    @classmethod
    def from_text(cls, text: str, *, source: str = "<plan>") -> TrackingPlan:
        """Parse and check a plan written as YAML (JSON is YAML too); raises ``PlanError``."""
        try:
            import yaml
        except ImportError as exc:  # pragma: no cover  # a core dependency
            raise ConfigurationError(
                "reading a YAML plan needs PyYAML: pip install pyyaml"
            ) from exc
        try:
            node = yaml.compose(text, Loader=yaml.SafeLoader)
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            line = f"line {mark.line + 1}: " if mark is not None else ""
            problem = Problem(
                path="$",
                rule="plan-file",
                message=f"{line}not valid YAML: {getattr(exc, 'problem', None) or exc}",
                hint="fix the syntax at that line (quote values holding ': ' or '#')",
            )
            raise PlanError(source, [problem]) from exc
        return _build(data, source, _Lines(node))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, source: str = "<plan>") -> TrackingPlan:
        """Check a plan already parsed into dicts and lists; raises ``PlanError``."""
        return _build(data, source, None)

    def problems(self, payload: Any, root: str = "$") -> list[Problem]:
        """What the wire event ``payload`` breaks in the plan (errors and warnings)."""
        if type(payload) is not dict:
            return []
        name = payload.get("eventName")
        if not isinstance(name, str):
            return []  # the spec's own rules report a missing or odd eventName
        event = self.events.get(name)
        if event is not None:
            return event.problems(payload, self.closed, root)
        close = difflib.get_close_matches(name, list(self.events), n=1)
        return [
            Problem(
                path=wire_path(["eventName"], root),
                rule="plan-event",
                message=f"{name!r} is not an event of the tracking plan {self.version}",
                hint=(f"did you mean {close[0]!r}? " if close else "")
                + "add the event to the plan, or send one of its events",
                severity="error" if self.closed else "warning",
            )
        ]

    def unique_id_for(self, payload: Mapping[str, Any]) -> str | None:
        """The ``uniqueId`` the recipe of ``payload``'s event gives; ``None`` when there is none."""
        name = payload.get("eventName")
        event = self.events.get(name) if isinstance(name, str) else None
        data = payload.get("data")
        if event is None or type(data) is not dict:
            return None
        return event.unique_id_for(data)

    def to_dict(self) -> dict[str, Any]:
        """The plan as the parsed form of its file (``from_dict(plan.to_dict())`` is equal)."""
        return {
            "version": self.version,
            **({"description": self.description} if self.description else {}),
            "closed": self.closed,
            "events": {name: _event_dict(event) for name, event in self.events.items()},
        }


def _event_dict(event: PlanEvent) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if event.description:
        out["description"] = event.description
    if event.properties:
        out["properties"] = {n: _property_dict(p) for n, p in event.properties.items()}
    if event.custom_fields:
        out["customFields"] = {n: _property_dict(p) for n, p in event.custom_fields.items()}
    if event.extra is not None:
        out["extra"] = dict(event.extra)
    if event.value_required:
        out["value"] = "required"
    if event.currency_required:
        out["valueCurrency"] = "required"
    if event.unique_id is not None:
        out["uniqueId"] = list(event.unique_id)
    return out


def _property_dict(prop: PlanProperty) -> dict[str, Any]:
    out: dict[str, Any] = {"type": prop.type}
    if prop.required:
        out["required"] = True
    if prop.description:
        out["description"] = prop.description
    for key in ("enum", "pattern", "minimum", "maximum"):
        value = getattr(prop, key)
        if value is not None:
            out[key] = list(value) if key == "enum" else value
    return out


class _Lines:
    """Line numbers of the nodes of a YAML document, found by their JSON path."""

    def __init__(self, root: Any) -> None:
        self._root = root

    def line(self, path: Sequence[str | int]) -> int | None:
        node = self._root
        for step in path:
            children = getattr(node, "value", None)
            if not isinstance(children, list):
                break
            found = None
            if children and isinstance(children[0], tuple):
                for key, value in children:
                    if _same_key(getattr(key, "value", None), step):
                        found = value
                        break
            elif isinstance(step, int) and 0 <= step < len(children):
                found = children[step]
            if found is None:
                break
            node = found
        mark = getattr(node, "start_mark", None)
        return None if mark is None else int(mark.line) + 1


def _same_key(written: Any, key: Any) -> bool:
    if written == key:
        return True
    if isinstance(key, str) or not isinstance(written, str):
        return False
    # A key YAML read as another type (`yes:` is True): compare what it reads as.
    import yaml

    try:
        return bool(yaml.safe_load(written) == key)
    except yaml.YAMLError:
        return False


# Hints for the meta-schema's keywords, by the last step of the schema path.
_META_HINTS = {
    "required": "add the missing key",
    "additionalProperties": "remove the key, or check its spelling (the README's plan format)",
    "enum": "use one of the values the message lists",
    "type": "write a value of the type the message names (quote text in YAML)",
    "minItems": "give at least one item more",
    "minProperties": "name at least one event",
}


def _build(data: Any, source: str, lines: _Lines | None) -> TrackingPlan:
    problems = _json_problems(data, lines)
    if not problems:
        seen: set[str] = set()
        for error in _meta().iter_errors(data):
            path = as_written(data, error.instance_path)
            # propertyNames refers to $defs/name; jsonschema-rs reports the
            # path within that definition.
            by_name = list(error.schema_path[:2]) == ["$defs", "name"]
            if (by_name or "propertyNames" in error.schema_path) and isinstance(
                error.instance, dict
            ):
                # The error is the object's; the fault is one of its keys.
                for key in error.instance:
                    if (not key or key.startswith("$")) and wire_path([*path, key]) not in seen:
                        seen.add(wire_path([*path, key]))
                        problems.append(_bad_name([*path, key], lines))
                continue
            keyword = str(error.schema_path[-1]) if error.schema_path else ""
            hint = _META_HINTS.get(keyword, "see the plan format in the README")
            if path == ["version"]:
                hint = "write a SemVer version such as '1.0.0', quoted"
            problems.append(_located(path, lines, error.message, hint))
    if problems:
        raise PlanError(source, problems)
    events = {name: _event(name, spec, lines, problems) for name, spec in data["events"].items()}
    if problems:
        raise PlanError(source, problems)
    return TrackingPlan(
        version=data["version"],
        events=events,
        closed=data.get("closed", True),
        description=data.get("description", ""),
        source=source,
    )


def _bad_name(path: list[str | int], lines: _Lines | None) -> Problem:
    name = str(path[-1])
    if not name:
        return _located(path, lines, "a name is empty; Redo stores no empty name", "name it")
    return _located(
        path,
        lines,
        f"{name!r} starts with $, which Redo reserves ($extra)",
        f"rename it, for example {name.lstrip('$')!r}",
    )


def _located(path: Sequence[str | int], lines: _Lines | None, message: str, hint: str) -> Problem:
    line = lines.line(path) if lines is not None else None
    prefix = f"line {line}: " if line is not None else ""
    return Problem(path=wire_path(path), rule="plan-file", message=prefix + message, hint=hint)


def _json_problems(data: Any, lines: _Lines | None) -> list[Problem]:
    """Keys that are not text and values that are not JSON (YAML dates, for one)."""
    found: list[Problem] = []
    stack: list[tuple[Any, list[str | int]]] = [(data, [])]
    while stack:
        value, path = stack.pop()
        if isinstance(value, dict):
            for key, item in value.items():
                if not isinstance(key, str):
                    found.append(
                        _located(
                            [*path, key],
                            lines,
                            f"the key {key!r} is not text",
                            f"quote it: '{key}'",
                        )
                    )
                    continue
                stack.append((item, [*path, key]))
        elif isinstance(value, list):
            stack.extend((item, [*path, i]) for i, item in enumerate(value))
        elif value is not None and not isinstance(value, (str, int, float, bool)):
            found.append(
                _located(
                    path,
                    lines,
                    f"{value!r} is a {type(value).__name__}, not text",
                    f"quote it: '{value}'",
                )
            )
        elif isinstance(value, float) and not math.isfinite(value):
            found.append(
                _located(path, lines, f"{value!r} is not a finite number", "write a number")
            )
    return found


def _event(
    name: str, spec: Mapping[str, Any], lines: _Lines | None, problems: list[Problem]
) -> PlanEvent:
    where: list[str | int] = ["events", name]
    max_name = int(component("Event")["properties"]["eventName"]["maxLength"])
    if len(name) > max_name:
        problems.append(
            _located(
                where,
                lines,
                f"the event name is {len(name)} characters; Redo takes at most {max_name}",
                "shorten the event name",
            )
        )
    properties = _properties(spec.get("properties", {}), [*where, "properties"], lines, problems)
    custom = _properties(spec.get("customFields", {}), [*where, "customFields"], lines, problems)
    extra = spec.get("extra")
    if extra is not None:
        try:
            jsonschema_rs.Draft202012Validator(extra)
        except (jsonschema_rs.ValidationError, ValueError) as exc:
            message = str(exc).splitlines()[0]
            problems.append(
                _located(
                    [*where, "extra"],
                    lines,
                    f"extra is not a JSON Schema: {message}",
                    "write a 2020-12 JSON Schema for data.$extra",
                )
            )
            extra = None
    recipe = spec.get("uniqueId")
    if recipe is not None:
        for i, part in enumerate(recipe[1:], start=1):
            prop = properties.get(part)
            if prop is None or not prop.required or prop.type not in ("string", "integer"):
                problems.append(
                    _located(
                        [*where, "uniqueId", i], lines,
                        f"the uniqueId recipe uses {part!r}, which is not a required string or "
                        "integer property of the event",
                        f"make {part!r} a required string or integer property, "
                        "or take it out of the recipe",
                    )
                )  # fmt: skip
    return PlanEvent(
        name=name,
        description=spec.get("description", ""),
        properties=properties,
        custom_fields=custom,
        extra=extra,
        value_required=spec.get("value") == "required",
        currency_required=spec.get("valueCurrency") == "required",
        unique_id=tuple(recipe) if recipe is not None else None,
    )


def _properties(
    specs: Mapping[str, Any],
    where: list[str | int],
    lines: _Lines | None,
    problems: list[Problem],
) -> dict[str, PlanProperty]:
    found: dict[str, PlanProperty] = {}
    max_name = limits().max_property_name
    for name, spec in specs.items():
        at = [*where, name]
        before = len(problems)
        kind = spec["type"]
        if len(name) > max_name:
            problems.append(
                _located(
                    at,
                    lines,
                    f"the name is {len(name)} characters; Redo takes at most {max_name}",
                    "shorten it",
                )
            )
        pattern = spec.get("pattern")
        if pattern is not None:
            if kind != "string":
                problems.append(
                    _located(
                        [*at, "pattern"],
                        lines,
                        f"a pattern applies to strings, and {name!r} is a {kind}",
                        "remove the pattern, or make the property a string",
                    )
                )
            else:
                try:
                    re.compile(pattern)
                except re.error as exc:
                    problems.append(
                        _located(
                            [*at, "pattern"],
                            lines,
                            f"the pattern does not compile: {exc}",
                            "write a valid regular expression",
                        )
                    )
        for bound in ("minimum", "maximum"):
            if bound in spec and kind not in ("number", "integer"):
                problems.append(
                    _located(
                        [*at, bound],
                        lines,
                        f"{bound} applies to numbers, and {name!r} is a {kind}",
                        f"remove {bound}, or make the property a number",
                    )
                )
        enum = spec.get("enum")
        if enum is not None:
            for i, value in enumerate(enum):
                if is_ignored(value):
                    problems.append(
                        _located(
                            [*at, "enum", i],
                            lines,
                            f'Redo drops {value!r} (0 and "" are not stored), '
                            "so it cannot be a planned value",
                            "take it out of the enum",
                        )
                    )
                elif not _enum_fits(kind, value):
                    problems.append(
                        _located(
                            [*at, "enum", i],
                            lines,
                            f"{value!r} is not a {kind}, the type of {name!r}",
                            f"write {kind} values only",
                        )
                    )
        if len(problems) == before:
            found[name] = PlanProperty(
                name=name,
                type=kind,
                required=bool(spec.get("required", False)),
                description=spec.get("description", ""),
                enum=tuple(enum) if enum is not None else None,
                pattern=pattern,
                minimum=spec.get("minimum"),
                maximum=spec.get("maximum"),
            )
    return found


def _enum_fits(kind: str, value: Any) -> bool:
    if kind in ("string", "date"):
        return isinstance(value, str) and (kind == "string" or detect_type(value) == "date")
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return False  # booleans have two values: an enum says nothing a type does not
