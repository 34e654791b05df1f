"""Adopting and evolving a tracking plan: infer one from sent events, diff two versions.

:func:`infer_plan` reads wire events (JSON Lines) and writes the plan they
follow, so a shop starts from what its services already send rather than a
blank file. It streams: per event name and property it keeps counters and at
most ``enum_max + 1`` distinct strings, never the events, so a year of history
fits in the memory of a few counters. What it writes is a plan file that
:meth:`~redo_kit._plan.TrackingPlan.from_text` accepts, closed, version
``0.1.0``, sorted by name, with the counts as YAML comments:

- a property's ``type`` is how Redo indexes its values
  (:func:`~redo_kit._properties.detect_type`), ``integer`` when every number
  had no fraction; a property seen with several types gets the most common,
  with a comment naming the others and their counts;
- ``required: true`` when every event of the name carries the property with a
  value Redo keeps (``0``, ``null`` and ``""`` are dropped, so they do not
  count as carried);
- ``enum`` when a string property took at most ``enum_max`` (10) distinct
  values over at least ``enum_min_events`` (20) events carrying it: few
  values seen many times are a list, few values seen a few times are not yet;
- custom fields likewise (``null`` is absent); ``value: required`` and
  ``valueCurrency: required`` when every event carried them;
- a name Redo would refuse or ignore (empty, ``$``-prefixed, too long), or a
  top-level object or list (Redo refuses it), is left out with a comment.

:func:`diff_plans` compares two plans and sorts each change into breaking
(an event that followed the old plan may break the new one) and safe. See
:data:`CHANGE_KINDS`.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any

import attrs

from redo_kit._importer import LineSource, Position, read_jsonl
from redo_kit._plan import PlanEvent, PlanProperty, TrackingPlan
from redo_kit._properties import detect_type
from redo_kit._rules import EXTRA, is_ignored, limits
from redo_kit._validation import validate_event

__all__ = [
    "CHANGE_KINDS",
    "ENUM_MAX_VALUES",
    "ENUM_MIN_EVENTS",
    "INFERRED_VERSION",
    "Inference",
    "InferredEvent",
    "InferredProperty",
    "PlanChange",
    "PlanInferrer",
    "diff_plans",
    "diff_report",
    "diff_text",
    "infer_events",
    "infer_plan",
    "plan_summary",
]

ENUM_MAX_VALUES = 10
"""A string property gets an ``enum`` when it took at most this many distinct values..."""
ENUM_MIN_EVENTS = 20
"""...over at least this many events carrying it."""
INFERRED_VERSION = "0.1.0"
"""The version an inferred plan starts at: a draft, before anyone agreed on it."""

_SKIPPED_SHOWN = 20
"""Names left out that an event's comments list by name; more are counted."""
_LONG_KEY = 1000
"""Characters past which a YAML key is written in explicit (``? key``) form.

PyYAML reads a plain ``key: value`` key of at most 1,024 characters.
"""

# -- infer ---------------------------------------------------------------------


@attrs.define
class _Tally:
    """What one property (or custom field) of one event name carried, over every event."""

    present: int = 0
    """Events carrying a value Redo keeps and types."""
    dropped: int = 0
    """Events carrying a value Redo drops (data) or does not type (custom fields): 0, null, ""."""
    kinds: Counter[str] = attrs.field(factory=Counter)
    """By kind: ``string``, ``date``, ``boolean``, ``integer`` and ``fraction`` (a number)."""
    values: set[str] | None = attrs.field(factory=set)
    """The distinct strings, while there are few enough for an enum; then ``None``."""

    def add(self, value: Any, enum_max: int) -> None:
        stored = detect_type(value)
        if stored is None:
            self.dropped += 1
            return
        self.present += 1
        kind: str = stored
        if stored == "number":
            integral = isinstance(value, int) or (isinstance(value, float) and value.is_integer())
            kind = "integer" if integral else "fraction"
        self.kinds[kind] += 1
        if kind == "string" and self.values is not None:
            self.values.add(value)
            if len(self.values) > enum_max:
                self.values = None


@attrs.define
class _EventTally:
    count: int = 0
    properties: dict[str, _Tally] = attrs.field(factory=dict)
    custom_fields: dict[str, _Tally] = attrs.field(factory=dict)
    with_value: int = 0
    with_currency: int = 0
    with_extra: int = 0
    with_unique_id: int = 0
    skipped: dict[tuple[str, str], int] = attrs.field(factory=dict)
    """(where, name) of names left out, to the events carrying them; at most a few."""
    skipped_more: int = 0


@attrs.frozen(kw_only=True)
class InferredProperty:
    """A property (or custom field) as inferred: its plan entry and the counts behind it."""

    name: str
    type: str | None
    """The plan type; ``None`` when no value could be typed (the property is left out)."""
    required: bool
    enum: tuple[str, ...] | None
    present: int
    """Events carrying a value Redo keeps."""
    dropped: int
    others: tuple[tuple[str, int], ...]
    """The other types seen, most common first, with the number of events of each."""

    def to_dict(self) -> dict[str, Any]:
        """The property as the plan file's entry for it."""
        out: dict[str, Any] = {"type": self.type}
        if self.required:
            out["required"] = True
        if self.enum is not None:
            out["enum"] = list(self.enum)
        return out


@attrs.frozen(kw_only=True)
class InferredEvent:
    """An event name as inferred: its properties, custom fields and counts."""

    name: str
    count: int
    properties: tuple[InferredProperty, ...]
    custom_fields: tuple[InferredProperty, ...]
    value_required: bool
    currency_required: bool
    with_value: int
    with_currency: int
    with_extra: int
    with_unique_id: int
    skipped: tuple[tuple[str, str, int], ...]
    """``(where, name, events)`` of names left out: where is ``properties`` or ``customFields``."""
    skipped_more: int

    def to_dict(self) -> dict[str, Any]:
        """The event as the plan file's entry for it."""
        out: dict[str, Any] = {}
        for key, props in (("properties", self.properties), ("customFields", self.custom_fields)):
            planned = {p.name: p.to_dict() for p in props if p.type is not None}
            if planned:
                out[key] = planned
        if self.value_required:
            out["value"] = "required"
        if self.currency_required:
            out["valueCurrency"] = "required"
        return out


@attrs.frozen(kw_only=True)
class Inference:
    """What :func:`infer_plan` found: the plan, and the counts to write beside it."""

    events: tuple[InferredEvent, ...]
    """By name, sorted."""
    lines: int
    """Lines read (blank ones included)."""
    unreadable: int
    """Lines that were not a JSON object."""
    skipped_events: tuple[tuple[str, int], ...]
    """``(reason, events)`` for events left out whole (a name Redo would refuse)."""
    source: str = "<input>"

    def to_dict(self) -> dict[str, Any]:
        """The plan as the parsed form of its file (``TrackingPlan.from_dict`` takes it)."""
        return {
            "version": INFERRED_VERSION,
            "closed": True,
            "events": {event.name: event.to_dict() for event in self.events},
        }

    def to_yaml(self) -> str:
        """The plan file, with the counts as comments; ``TrackingPlan.from_text`` takes it."""
        return "".join(_yaml_lines(self))


class PlanInferrer:
    """Builds an :class:`Inference` from wire events fed one at a time (:meth:`add`).

    ``enum_max`` and ``enum_min_events`` set the enum rule (default 10 and 20).
    """

    def __init__(
        self, *, enum_max: int = ENUM_MAX_VALUES, enum_min_events: int = ENUM_MIN_EVENTS
    ) -> None:
        self._enum_max = enum_max
        self._enum_min = enum_min_events
        self._events: dict[str, _EventTally] = {}
        self._skipped: Counter[str] = Counter()
        self.lines = 0
        """Lines of input read, for the plan's header comment (the reader sets it)."""
        self.unreadable = 0
        """Lines or values that were not a JSON object."""
        self._max_property = limits().max_property_name

    def add(self, payload: Any) -> None:
        """Count one wire event (a parsed JSON object); anything else counts as unreadable."""
        if type(payload) is not dict:
            self.unreadable += 1
            return
        # What Redo refuses is never stored, so it says nothing about the plan.
        errors = [
            p for p in validate_event(payload, allow_unknown_keys=True) if p.severity == "error"
        ]
        if errors:
            self._skipped[f"Redo refuses them ({errors[0].rule})"] += 1
            return
        name = payload["eventName"]
        if name.startswith("$"):
            self._skipped["an eventName starting with $, which a plan cannot name"] += 1
            return
        tally = self._events.get(name)
        if tally is None:
            tally = self._events[name] = _EventTally()
        tally.count += 1
        data = payload.get("data")
        if type(data) is dict:
            for key, value in data.items():
                if key == EXTRA:
                    tally.with_extra += 1
                elif self._name_fault(key) is not None:
                    _note_skipped(tally, "properties", key)
                elif not is_ignored(value):
                    self._tally(tally.properties, key).add(value, self._enum_max)
                else:
                    self._tally(tally.properties, key).dropped += 1
        customer = payload.get("customer")
        fields = customer.get("customFields") if type(customer) is dict else None
        if type(fields) is dict:
            for key, value in fields.items():
                if self._name_fault(key) is not None:
                    _note_skipped(tally, "customFields", key)
                elif value is not None:
                    self._tally(tally.custom_fields, key).add(value, self._enum_max)
        tally.with_value += payload.get("value") is not None
        tally.with_currency += payload.get("valueCurrency") is not None
        tally.with_unique_id += payload.get("uniqueId") is not None

    @staticmethod
    def _tally(tallies: dict[str, _Tally], key: str) -> _Tally:
        found = tallies.get(key)
        if found is None:
            found = tallies[key] = _Tally()
        return found

    def _name_fault(self, key: str) -> str | None:
        return _name_fault(key, self._max_property)

    def result(self, source: str = "<input>") -> Inference:
        """The inference over every event added so far."""
        events = tuple(
            self._event(name, self._events[name]) for name in sorted(self._events, key=_order)
        )
        skipped = tuple(sorted(self._skipped.items(), key=lambda item: (-item[1], item[0])))
        return Inference(
            events=events,
            lines=self.lines,
            unreadable=self.unreadable,
            skipped_events=skipped,
            source=source,
        )

    def _event(self, name: str, tally: _EventTally) -> InferredEvent:
        return InferredEvent(
            name=name,
            count=tally.count,
            properties=self._props(tally.properties, tally.count),
            custom_fields=self._props(tally.custom_fields, tally.count),
            value_required=tally.with_value == tally.count,
            currency_required=tally.with_currency == tally.count,
            with_value=tally.with_value,
            with_currency=tally.with_currency,
            with_extra=tally.with_extra,
            with_unique_id=tally.with_unique_id,
            skipped=tuple(
                (where, key, n)
                for (where, key), n in sorted(tally.skipped.items(), key=lambda i: _order(i[0][1]))
            ),
            skipped_more=tally.skipped_more,
        )

    def _props(self, tallies: Mapping[str, _Tally], count: int) -> tuple[InferredProperty, ...]:
        return tuple(self._prop(key, tallies[key], count) for key in sorted(tallies, key=_order))

    def _prop(self, name: str, tally: _Tally, count: int) -> InferredProperty:
        kinds = tally.kinds
        # integer and fraction are one type to Redo (number): they are counted together.
        by_type = Counter(
            {
                "string": kinds["string"],
                "date": kinds["date"],
                "boolean": kinds["boolean"],
                "number": kinds["integer"] + kinds["fraction"],
            }
        )
        ranked = [(kind, n) for kind, n in sorted(by_type.items(), key=_by_count) if n]
        chosen: str | None = None
        if ranked:
            chosen = ranked[0][0]
            if chosen == "number" and not kinds["fraction"]:
                chosen = "integer"
        enum = None
        if chosen == "string" and tally.values is not None and tally.present >= self._enum_min:
            enum = tuple(sorted(tally.values, key=_order))
        return InferredProperty(
            name=name,
            type=chosen,
            required=chosen is not None and tally.present == count,
            enum=enum,
            present=tally.present,
            dropped=tally.dropped,
            others=tuple(ranked[1:]),
        )


def _note_skipped(tally: _EventTally, where: str, key: str) -> None:
    mark = (where, key)
    if mark in tally.skipped:
        tally.skipped[mark] += 1
    elif len(tally.skipped) < _SKIPPED_SHOWN:
        tally.skipped[mark] = 1
    else:
        tally.skipped_more += 1


def _name_fault(key: str, max_length: int) -> str | None:
    """Why a plan cannot name ``key`` as a property or custom field, or ``None``."""
    if not key:
        return "an empty name, which Redo does not store"
    if key.startswith("$"):
        return "a name starting with $, which Redo reserves for $extra"
    if len(key) > max_length:
        return f"a name longer than {max_length} characters, which Redo refuses"
    return None


def _order(name: str) -> tuple[str, str]:
    # Case-insensitive first, so "order id" sits beside "Order Id"; then exact, to be total.
    return (name.casefold(), name)


def _by_count(item: tuple[str, int]) -> tuple[int, str]:
    return (-item[1], item[0])


def infer_plan(
    source: LineSource,
    *,
    label: str = "<input>",
    enum_max: int = ENUM_MAX_VALUES,
    enum_min_events: int = ENUM_MIN_EVENTS,
) -> Inference:
    """Infer a plan from JSON Lines of wire events read from ``source`` (binary, decompressed).

    Streams the input: memory holds counters per event name and property,
    never the events. Lines that are not a JSON object are counted, not
    fatal. ``label`` names the input in the plan's header comment.
    """
    inferrer = PlanInferrer(enum_max=enum_max, enum_min_events=enum_min_events)
    for number, _, payload, problems in read_jsonl(source, Position()):
        inferrer.lines = number
        if payload is not None:
            inferrer.add(payload)
        elif problems:
            inferrer.unreadable += 1
    return inferrer.result(label)


def infer_events(
    events: Iterable[Any],
    *,
    enum_max: int = ENUM_MAX_VALUES,
    enum_min_events: int = ENUM_MIN_EVENTS,
) -> Inference:
    """:func:`infer_plan` over wire events already parsed (an iterable of dicts)."""
    inferrer = PlanInferrer(enum_max=enum_max, enum_min_events=enum_min_events)
    for event in events:
        inferrer.lines += 1
        inferrer.add(event)
    return inferrer.result()


# -- writing the YAML ------------------------------------------------------------

_PLAIN = re.compile(r"[A-Za-z_/][A-Za-z0-9 _./-]*")


def _scalar(text: str) -> str:
    """``text`` as a YAML scalar that reads back as exactly this string, in block or flow."""
    import yaml

    if _PLAIN.fullmatch(text) and not text.endswith(" ") and yaml.safe_load(text) == text:
        return text
    out = ['"']
    for ch in text:
        if ch in '"\\':
            out.append("\\" + ch)
        elif _printable(ch):
            out.append(ch)
        elif ord(ch) < 0x100:
            out.append(f"\\x{ord(ch):02X}")
        elif ord(ch) < 0x10000:
            out.append(f"\\u{ord(ch):04X}")
        else:
            out.append(f"\\U{ord(ch):08X}")
    out.append('"')
    return "".join(out)


def _printable(ch: str) -> bool:
    # What YAML reads as itself inside double quotes: no control characters, no
    # byte order mark, and none of the characters YAML takes for a line break.
    code = ord(ch)
    if code in (0xFEFF, 0x2028, 0x2029):
        return False
    return (
        0x20 <= code <= 0x7E
        or 0xA0 <= code <= 0xD7FF
        or 0xE000 <= code <= 0xFFFD
        or code >= 0x10000
    )


def _key(text: str, indent: str) -> str:
    """The start of a mapping entry for ``text``: ``key:``, or ``? key`` then ``:`` when long."""
    written = _scalar(text)
    if len(written) <= _LONG_KEY:
        return f"{indent}{written}:"
    return f"{indent}? {written}\n{indent}:"


def _count(n: int) -> str:
    return f"{n:,}"


def _plural(n: int, noun: str) -> str:
    return f"{n:,} {noun}" if n == 1 else f"{n:,} {noun}s"


def _flow(entry: Mapping[str, Any]) -> str:
    parts = []
    for key, value in entry.items():
        if isinstance(value, bool):
            shown = "true" if value else "false"
        elif isinstance(value, list):
            shown = "[" + ", ".join(_scalar(v) for v in value) + "]"
        else:
            shown = _scalar(str(value))
        parts.append(f"{key}: {shown}")
    return "{" + ", ".join(parts) + "}"


def _yaml_lines(inference: Inference) -> Iterator[str]:
    events = inference.events
    total = sum(e.count for e in events)
    yield (
        f"# Inferred by redo-kit plan infer from {_comment(inference.source)}: "
        f"{_plural(total, 'event')} of {_plural(len(events), 'name')}, "
        f"in {_plural(inference.lines, 'line')}.\n"
    )
    if inference.unreadable:
        yield f"# {_plural(inference.unreadable, 'line')} not read: not a JSON object.\n"
    for reason, n in inference.skipped_events:
        yield f"# {_plural(n, 'event')} left out: {_comment(reason)}.\n"
    yield (
        "# type: how Redo indexes the values (integer: no number had a fraction).\n"
        '# required: every event of the name carried a value Redo keeps (not 0, null or "").\n'
        f"# enum: a string property with at most {ENUM_MAX_VALUES} distinct values "
        f"over at least {ENUM_MIN_EVENTS} events.\n"
        "# Review it: add descriptions, patterns, ranges and uniqueId recipes, then agree on it.\n"
    )
    yield f"version: '{INFERRED_VERSION}'\n"
    yield "closed: true\n"
    if not events:
        # A plan names at least one event: an input without any gives no plan to load.
        yield "events: {}  # no event was read\n"
        return
    yield "events:\n"
    for event in events:
        yield from _event_lines(event)


def _comment(text: str) -> str:
    """``text`` made safe for the inside of a one-line YAML comment."""
    return "".join(ch if _printable(ch) else "?" for ch in text)


_WHERE = {"properties": "data property", "customFields": "custom field"}


def _event_lines(event: InferredEvent) -> Iterator[str]:
    entry = event.to_dict()
    head = _key(event.name, "  ")
    notes = [_plural(event.count, "event")]
    if event.with_unique_id:
        notes.append(f"uniqueId in {_count(event.with_unique_id)}")
    if event.with_extra:
        notes.append(f"$extra in {_count(event.with_extra)}")
    yield f"{head}{' {}' if not entry else ''}  # {'; '.join(notes)}\n"
    for key, props in (("properties", event.properties), ("customFields", event.custom_fields)):
        planned = [p for p in props if p.type is not None]
        if planned:
            yield f"    {key}:\n"
        for prop in planned:
            note = _prop_note(prop, event.count)
            yield f"{_key(prop.name, '      ')} {_flow(prop.to_dict())}  # {note}\n"
        for prop in props:
            if prop.type is None:
                name = _comment(_scalar(prop.name))
                yield f"    # left out: {_WHERE[key]} {name}, {_untyped(prop)}\n"
    for key, needed, seen in (
        ("value", event.value_required, event.with_value),
        ("valueCurrency", event.currency_required, event.with_currency),
    ):
        if needed:
            yield f"    {key}: required  # in {_count(seen)} of {_count(event.count)}\n"
        elif seen:
            yield f"    # {key}: optional, in {_count(seen)} of {_count(event.count)}\n"
    max_name = limits().max_property_name
    for where, name, n in event.skipped:
        shown = _comment(_scalar(name))
        if len(shown) > 80:
            shown = shown[:77] + "..."
        reason = _name_fault(name, max_name)
        yield f"    # left out: {_WHERE[where]} {shown}, {reason}; in {_plural(n, 'event')}\n"
    if event.skipped_more:
        yield f"    # left out: {_count(event.skipped_more)} more names Redo would not take\n"


def _prop_note(prop: InferredProperty, count: int) -> str:
    notes = [f"in {_count(prop.present)} of {_count(count)}"]
    if prop.others:
        others = ", ".join(f"{kind} in {_count(n)}" for kind, n in prop.others)
        notes.append(f"also {others}")
    if prop.dropped:
        notes.append(f'{_count(prop.dropped)} with 0, null or "" (dropped)')
    return "; ".join(notes)


def _untyped(prop: InferredProperty) -> str:
    return f'only values Redo does not type (0, null, ""), in {_plural(prop.dropped, "event")}'


# -- diff ----------------------------------------------------------------------

CHANGE_KINDS: Mapping[str, bool] = {
    "closed": True,
    "opened": False,
    "event-added": False,
    "event-removed": True,
    "property-added": False,
    "property-added-required": True,
    "property-removed": True,
    "type-changed": True,
    "type-widened": False,
    "required-added": True,
    "required-removed": False,
    "enum-added": True,
    "enum-narrowed": True,
    "enum-widened": False,
    "enum-removed": False,
    "pattern-added": True,
    "pattern-changed": True,
    "pattern-removed": False,
    "range-tightened": True,
    "range-widened": False,
    "unique-id-added": True,
    "unique-id-changed": True,
    "unique-id-removed": False,
    "extra-added": True,
    "extra-changed": True,
    "extra-removed": False,
}
"""Every kind of change :func:`diff_plans` reports, to whether it breaks.

A change breaks when an event that followed the old plan may break the new
one. ``type-widened`` is ``integer`` to ``number``. A changed ``$extra``
schema counts as breaking: whether one JSON Schema takes everything another
took is not decidable in general, so the diff does not guess.
"""


@attrs.frozen(kw_only=True)
class PlanChange:
    """One difference between two plans."""

    kind: str
    """One of :data:`CHANGE_KINDS`."""
    message: str
    event: str | None = None
    property_name: str | None = None
    """The property's or custom field's wire name, for a change to one."""
    where: str | None = None
    """``properties``, ``customFields``, ``value`` or ``valueCurrency``, for a change to one."""

    @property
    def breaking(self) -> bool:
        """Whether an event that followed the old plan may break the new one."""
        return CHANGE_KINDS[self.kind]

    def to_dict(self) -> dict[str, Any]:
        """The change as ``plan diff --format json`` writes it."""
        out: dict[str, Any] = {"kind": self.kind, "breaking": self.breaking}
        for key, value in (
            ("event", self.event),
            ("where", self.where),
            ("property", self.property_name),
        ):
            if value is not None:
                out[key] = value
        out["message"] = self.message
        return out


def diff_plans(old: TrackingPlan, new: TrackingPlan) -> list[PlanChange]:
    """Every change from ``old`` to ``new``: the plan's, then each event's by name."""
    changes: list[PlanChange] = []
    if old.closed != new.closed:
        changes.append(
            PlanChange(
                kind="closed" if new.closed else "opened",
                message="the plan is now closed: unknown events and properties are errors"
                if new.closed
                else "the plan is now open: unknown events and properties are warnings",
            )
        )
    for name in sorted(old.events.keys() | new.events.keys(), key=_order):
        before, after = old.events.get(name), new.events.get(name)
        if after is None:
            changes.append(
                PlanChange(kind="event-removed", event=name, message=f"{name!r} was removed")
            )
        elif before is None:
            changes.append(
                PlanChange(kind="event-added", event=name, message=f"{name!r} was added")
            )
        else:
            changes.extend(_event_changes(before, after))
    return changes


def _event_changes(old: PlanEvent, new: PlanEvent) -> Iterator[PlanChange]:
    name = old.name
    for where, before, after in (
        ("properties", old.properties, new.properties),
        ("customFields", old.custom_fields, new.custom_fields),
    ):
        for key in sorted(before.keys() | after.keys(), key=_order):
            yield from _property_changes(name, where, key, before.get(key), after.get(key))
    for where, was, now in (
        ("value", old.value_required, new.value_required),
        ("valueCurrency", old.currency_required, new.currency_required),
    ):
        if was != now:
            yield PlanChange(
                kind="required-added" if now else "required-removed",
                event=name,
                where=where,
                message=f"{where} of {name!r} is now {'required' if now else 'optional'}",
            )
    if old.unique_id != new.unique_id:
        kind = (
            "unique-id-added"
            if old.unique_id is None
            else "unique-id-removed"
            if new.unique_id is None
            else "unique-id-changed"
        )
        yield PlanChange(
            kind=kind,
            event=name,
            message=f"the uniqueId recipe of {name!r} went from {_recipe(old.unique_id)} "
            f"to {_recipe(new.unique_id)}",
        )
    if old.extra != new.extra:
        kind = (
            "extra-added"
            if old.extra is None
            else "extra-removed"
            if new.extra is None
            else "extra-changed"
        )
        yield PlanChange(
            kind=kind, event=name, message=f"the $extra schema of {name!r}: {kind.split('-')[1]}"
        )


def _recipe(recipe: tuple[str, ...] | None) -> str:
    return "none" if recipe is None else str(list(recipe))


def _property_changes(
    event: str, where: str, key: str, old: PlanProperty | None, new: PlanProperty | None
) -> Iterator[PlanChange]:
    label = f"{'custom field' if where == 'customFields' else 'property'} {key!r} of {event!r}"

    def change(kind: str, message: str) -> PlanChange:
        return PlanChange(kind=kind, event=event, where=where, property_name=key, message=message)

    if new is None:
        yield change("property-removed", f"{label} was removed")
        return
    if old is None:
        if new.required:
            yield change("property-added-required", f"{label} was added, required")
        else:
            yield change("property-added", f"{label} was added")
        return
    if old.type != new.type:
        widened = old.type == "integer" and new.type == "number"
        yield change(
            "type-widened" if widened else "type-changed",
            f"{label} went from {old.type} to {new.type}",
        )
    if old.required != new.required:
        yield change(
            "required-added" if new.required else "required-removed",
            f"{label} is now {'required' if new.required else 'optional'}",
        )
    yield from _enum_changes(label, old, new, change)
    if old.pattern != new.pattern:
        kind = (
            "pattern-added"
            if old.pattern is None
            else "pattern-removed"
            if new.pattern is None
            else "pattern-changed"
        )
        yield change(kind, f"the pattern of {label} went from {old.pattern!r} to {new.pattern!r}")
    low = _bound_change(old.minimum, new.minimum, tighter=lambda a, b: b > a)
    high = _bound_change(old.maximum, new.maximum, tighter=lambda a, b: b < a)
    for bound, moved, was, now in (
        ("minimum", low, old.minimum, new.minimum),
        ("maximum", high, old.maximum, new.maximum),
    ):
        if moved is not None:
            yield change(
                "range-tightened" if moved else "range-widened",
                f"the {bound} of {label} went from {_bound(was)} to {_bound(now)}",
            )


def _enum_changes(
    label: str, old: PlanProperty, new: PlanProperty, change: Callable[[str, str], PlanChange]
) -> Iterator[PlanChange]:
    if old.enum == new.enum:
        return
    if new.enum is None:
        yield change("enum-removed", f"{label} takes any value now")
        return
    if old.enum is None:
        yield change("enum-added", f"{label} takes only {list(new.enum)} now")
        return
    before, after = _enum_set(old.enum), _enum_set(new.enum)
    gone = before - after
    if gone:
        shown = sorted((v for _, v in gone), key=repr)
        yield change("enum-narrowed", f"{label} no longer takes {shown}")
    elif after != before:
        added = sorted((v for _, v in after - before), key=repr)
        yield change("enum-widened", f"{label} also takes {added}")


def _enum_set(values: Sequence[str | int | float]) -> set[tuple[bool, str | int | float]]:
    # "1" and 1 are different values on the wire; 1 and 1.0 are one.
    return {(isinstance(v, str), v) for v in values}


def _bound_change(
    old: float | None, new: float | None, *, tighter: Callable[[float, float], bool]
) -> bool | None:
    """``True`` tightened, ``False`` widened, ``None`` unchanged."""
    if old == new:
        return None
    if old is None:
        return True
    if new is None:
        return False
    return bool(tighter(old, new))


def _bound(value: float | None) -> str:
    return "none" if value is None else f"{value:g}"


def _semver(version: str) -> tuple[int, int]:
    major, minor = version.split(".")[:2]
    return int(major), int(minor)


def _version_advice(old: TrackingPlan, new: TrackingPlan, breaking: bool) -> str | None:
    """What ``new``'s version should be when its changes break, or ``None`` when it is fine."""
    if not breaking:
        return None
    (major, minor), (new_major, new_minor) = _semver(old.version), _semver(new.version)
    # Before 1.0.0 SemVer lets a minor version break; from 1.0.0 only a major one may.
    if new_major > major or (major == 0 and new_major == 0 and new_minor > minor):
        return None
    wanted = f"0.{minor + 1}.0" if major == 0 else f"{major + 1}.0.0"
    return (
        f"breaking changes call for version {wanted} or later, not {new.version} "
        f"(from {old.version})"
    )


def diff_report(old: TrackingPlan, new: TrackingPlan) -> dict[str, Any]:
    """The diff as ``plan diff --format json`` writes it.

    ``{"old": {"source", "version"}, "new": {...}, "breaking": [change, ...],
    "safe": [change, ...], "versionAdvice": str | null}``, each change as
    :meth:`PlanChange.to_dict`.
    """
    changes = diff_plans(old, new)
    breaking = [c.to_dict() for c in changes if c.breaking]
    return {
        "old": {"source": old.source, "version": old.version},
        "new": {"source": new.source, "version": new.version},
        "breaking": breaking,
        "safe": [c.to_dict() for c in changes if not c.breaking],
        "versionAdvice": _version_advice(old, new, bool(breaking)),
    }


def diff_text(report: Mapping[str, Any]) -> str:
    """The diff report as ``plan diff`` prints it by default."""
    old, new = report["old"], report["new"]
    breaking, safe = report["breaking"], report["safe"]
    lines = [
        f"{old['source']} ({old['version']}) -> {new['source']} ({new['version']}): "
        f"{len(breaking)} breaking, {len(safe)} safe"
    ]
    for title, changes in (("breaking", breaking), ("safe", safe)):
        if changes:
            lines.append(f"{title}:")
            width = max(len(c["kind"]) for c in changes)
            lines.extend(f"  {c['kind']:<{width}}  {c['message']}" for c in changes)
    if report["versionAdvice"]:
        lines.append(report["versionAdvice"])
    return "\n".join(lines) + "\n"


def plan_summary(plan: TrackingPlan) -> str:
    """One line about ``plan``: its version, whether closed, and what it names."""
    events = plan.events.values()
    properties = sum(len(e.properties) for e in events)
    fields = sum(len(e.custom_fields) for e in events)
    recipes = sum(e.unique_id is not None for e in events)
    kind = "closed" if plan.closed else "open"
    return (
        f"{plan.source}: tracking plan {plan.version}, {kind}, {len(plan.events):,} events, "
        f"{properties:,} properties, {fields:,} custom fields, {recipes:,} uniqueId recipes"
    )
