"""Every rule an event must follow, checked before it leaves the process.

``validate_event`` returns every problem with an event (a wire dict), each
located by its wire path (``$.customer.phoneNumber``) with a stable ``rule``,
a message and a hint. Errors mean the API would refuse the event (or, in bulk,
drop it without a word); warnings mean the API accepts it but does something
the caller may not expect (it drops an ignored value, ignores an unknown key,
discards a duplicate ``uniqueId``).

The schema rules come from the spec's own JSON Schemas, compiled once in
:mod:`redo_kit._spec`; the rules a schema cannot say come from the catalogue
(:mod:`redo_kit._rules`), their numbers from the spec's ``x-redo-*`` keys:

- unknown top-level keys (the API ignores them; nearly always a typo such as
  ``uniqueID``), refused by default with a "did you mean" hint;
- ignored values: top-level data ``0``, ``null`` and ``""`` (warnings);
- sizes: UTF-8 bytes per string, keys included, and per serialized event
  (``x-redo-size-limits``), and the depth of nesting;
- values JSON cannot carry (NaN, integers beyond 64 bits, non-string keys,
  lone surrogates, Python objects), reported by the walker (:mod:`redo_kit._json`);
- duplicate ``uniqueId``s within one bulk body (warnings: the API keeps the
  first and drops the others).

A valid event costs one strict ``orjson.dumps`` and one compiled ``is_valid``
call; the walk runs only when something is wrong, and its messages come from
one table keyed by (rule, where).
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import attrs
import orjson

from redo_kit._errors import Problem, ValidationError
from redo_kit._json import dumps_exact, walk
from redo_kit._plan import TrackingPlan
from redo_kit._rules import (
    EXTRA,
    bad_email,
    bad_object_id,
    duplicate_unique_id,
    event_size,
    ignored_value,
    is_ignored,
    limits,
    nested_data,
    no_identifier,
)
from redo_kit._spec import (
    as_written,
    bulk_envelope_validator,
    component,
    derived,
    validator,
    wire_path,
)

__all__ = ["check_event", "check_wire", "follows_from", "validate_bulk", "validate_event"]


# Keys other event APIs use, or common misspellings, mapped to the field they
# mean here. Keys are compared after _squash (lower case, letters and digits).
_ALIASES: dict[str, str] = {
    "event": "eventName",
    "name": "eventName",
    "eventtype": "eventName",
    "type": "eventName",
    "properties": "data",
    "props": "data",
    "attributes": "data",
    "payload": "data",
    "timestamp": "eventTimestamp",
    "time": "eventTimestamp",
    "ts": "eventTimestamp",
    "datetime": "eventTimestamp",
    "occurredat": "eventTimestamp",
    "createdat": "eventTimestamp",
    "eventid": "uniqueId",
    "id": "uniqueId",
    "idempotencykey": "uniqueId",
    "dedupid": "uniqueId",
    "currency": "valueCurrency",
    "revenue": "value",
    "amount": "value",
    "profile": "customer",
    "user": "customer",
    "email": "customer.email",
    "phone": "customer.phoneNumber",
    "phonenumber": "customer.phoneNumber",
    "customerid": "customer.id",
    "userid": "customer.id",
}
_CUSTOMER_ALIASES: dict[str, str] = {
    "phone": "phoneNumber",
    "mobile": "phoneNumber",
    "emailaddress": "email",
    "mail": "email",
    "customerid": "id",
    "first": "firstName",
    "givenname": "firstName",
    "last": "lastName",
    "surname": "lastName",
    "familyname": "lastName",
    "address": "location",
    "properties": "customFields",
    "attributes": "customFields",
    "fields": "customFields",
}
_LOCATION_ALIASES: dict[str, str] = {
    "address1": "street1",
    "address2": "street2",
    "zip": "postalCode",
    "zipcode": "postalCode",
    "postcode": "postalCode",
    "region": "state",
    "province": "state",
    "timezone": "ianaTimeZoneName",
    "tz": "ianaTimeZoneName",
    "lat": "latitude",
    "lng": "longitude",
    "lon": "longitude",
}


def validate_event(
    payload: Any,
    *,
    allow_unknown_keys: bool = False,
    root: str = "$",
    plan: TrackingPlan | None = None,
) -> list[Problem]:
    """Every problem with ``payload`` (a wire dict), errors and warnings.

    ``allow_unknown_keys`` turns unknown top-level keys from errors into
    warnings (the API ignores them). ``root`` prefixes every path; it is
    ``$.events[3]`` for an item of a bulk body. ``plan`` adds the problems of
    a :class:`~redo_kit._plan.TrackingPlan` (rules ``plan-*``) after the
    spec's. An empty list means the event is valid and nothing in it will be
    dropped.
    """
    problems = check_wire(payload, allow_unknown_keys=allow_unknown_keys, root=root)[0]
    if plan is not None:
        problems.extend(plan.problems(payload, root))
    return problems


def check_event(
    payload: Any, *, allow_unknown_keys: bool = False, plan: TrackingPlan | None = None
) -> None:
    """Raise ``ValidationError`` carrying every problem when ``payload`` has an error.

    Warnings alone do not raise.
    """
    problems = validate_event(payload, allow_unknown_keys=allow_unknown_keys, plan=plan)
    if any(p.severity == "error" for p in problems):
        raise ValidationError(problems)


def validate_bulk(
    body: Any, *, allow_unknown_keys: bool = False
) -> tuple[list[Problem], list[list[Problem]]]:
    """Problems with a bulk body: ``(envelope problems, problems of each event)``.

    Envelope problems make the API refuse the whole request with 400; an event
    with errors is dropped on its own while the rest are stored. The second list
    has one entry per item of ``events`` (empty when ``events`` is not a list),
    with paths such as ``$.events[3].customer.email``. A repeated ``uniqueId``
    is a warning on every occurrence after the first.
    """
    envelope: list[Problem] = []
    check = bulk_envelope_validator()
    if not check.is_valid(body):
        for error in check.iter_errors(body):
            envelope.extend(_envelope_problems(error))
    events = body.get("events") if isinstance(body, dict) else None
    if not isinstance(events, list):
        return envelope, []
    per_event: list[list[Problem]] = []
    first_seen: dict[str, int] = {}
    for index, event in enumerate(events):
        root = f"$.events[{index}]"
        problems = check_wire(event, allow_unknown_keys=allow_unknown_keys, root=root)[0]
        unique = event.get("uniqueId") if isinstance(event, dict) else None
        if isinstance(unique, str):
            first = first_seen.setdefault(unique, index)
            if first != index:
                problems.append(duplicate_unique_id(root, unique, first))
        per_event.append(problems)
    return envelope, per_event


def check_wire(
    payload: Any, *, allow_unknown_keys: bool = False, root: str = "$", data_cleaned: bool = False
) -> tuple[list[Problem], bytes | None]:
    """The problems with one event, and its serialized body when it can be sent as it is.

    ``data_cleaned`` says the caller already removed the ignored values, so
    the fast path need not look for them. The body is ``None`` when the
    payload holds anything but JSON values (even one the walker would accept,
    such as a ``str`` subclass): what is sent must be what was checked.
    """
    if type(payload) is dict:
        # The fast path, for an event with nothing to report: one compiled
        # check, one strict serialization, a few set and membership tests.
        # A payload the validator or orjson cannot read as it is takes the
        # full path, which walks it first.
        try:
            valid = validator("Event").is_valid(payload)
            body: bytes | None = dumps_exact(payload)
        except (TypeError, ValueError):
            valid, body = False, None
        if valid and body is not None and payload.keys() <= _known_keys():
            rules = limits()
            data = payload.get("data")
            # A valid event nests only under $extra (level 3), and nesting
            # needs an opening bracket per level, so a body with few brackets
            # (inside strings too: the count only errs high) is shallow. No
            # string is longer than the body that holds it.
            plain = (
                (
                    type(data) is not dict
                    or EXTRA not in data
                    or body.count(b"{") + body.count(b"[") <= rules.max_depth - 2
                )
                and len(body) <= rules.max_string_bytes
                and _finite(body, payload)
            )
            if plain:
                if data_cleaned or type(data) is not dict:
                    return [], body
                values = data.values()
                # `0 in values` also matches False, which _ignored_values tells apart.
                if None in values or "" in values or 0 in values:
                    return list(_ignored_values(data, root)), body
                return [], body
    return _check_fully(payload, allow_unknown_keys, root)


def _finite(body: bytes, payload: dict[str, Any]) -> bool:
    """Whether ``body`` (``payload`` as written by orjson) holds no NaN or infinity.

    orjson writes those as null, so a body without "null" has none. A body
    with a real null (common under ``$extra``) is read back: it equals
    ``payload`` only when no number turned into null on the way (and no
    tuple, UUID or enum was written as something else).
    """
    return b"null" not in body or orjson.loads(body) == payload


def _check_fully(
    payload: Any, allow_unknown_keys: bool, root: str
) -> tuple[list[Problem], bytes | None]:
    # The walker first: what it refuses (with a problem each) is left out of
    # what the schema sees, so the validator and the serializer only ever get
    # JSON values, whatever the caller passed.
    walked = walk(payload, root, convert=False)
    problems: list[Problem] = list(walked.problems)
    target = walked.value
    if any(p.rule == "depth" for p in walked.problems):
        return problems, None
    is_dict = type(target) is dict
    if is_dict and not target.keys() <= _known_keys():
        problems.extend(_unknown_top_level(target, allow_unknown_keys, root))
    data = target.get("data") if is_dict else None
    if type(data) is dict:
        values = data.values()
        # `0 in values` also matches False and 0.0; _ignored_values sorts them out.
        if None in values or "" in values or 0 in values:
            problems.extend(_ignored_values(data, root))
    check = validator("Event")
    errors = [] if check.is_valid(target) else list(check.iter_errors(target))
    written = orjson.dumps(target)
    if len(written) > limits().max_event_bytes:
        problems.append(event_size(root, len(written)))
    # When the walker refused or converted anything, what would be sent is
    # not what was given: no body.
    body = None if walked.refused or walked.changed else written
    flagged = {p.path for p in walked.problems}
    seen: set[tuple[str, str]] = set()
    for error in errors:
        for problem in _schema_problems(error, target, root):
            key = (problem.path, problem.rule)
            if key in seen or follows_from(problem, flagged):
                continue
            seen.add(key)
            problems.append(problem)
    return problems, body


def follows_from(problem: Problem, located: set[str] | frozenset[str]) -> bool:
    """Whether ``problem`` follows from one already reported at ``located`` paths.

    A value the walker refused (or normalization reported) is missing from
    what the schema sees: the schema's complaint about that value, or about
    its absence (a missing identifier, a required key), says nothing new.
    """
    if problem.path in located:
        return True
    if problem.rule in ("customer-identifier", "required"):
        parent = problem.path.rsplit(".", 1)[0] if problem.rule == "required" else problem.path
        return any(path.startswith((parent + ".", parent + "[")) for path in located)
    return False


@derived
def _known_keys() -> frozenset[str]:
    return frozenset(component("Event")["properties"])


@derived
def _enum(name: str) -> frozenset[str]:
    return frozenset(component(name)["enum"])


def _squash(key: str) -> str:
    return "".join(ch for ch in key.lower() if ch.isalnum())


def _suggest(key: str, known: Sequence[str], aliases: dict[str, str]) -> str | None:
    """The known key ``key`` most likely meant, or ``None``."""
    squashed = _squash(key)
    for candidate in known:
        if _squash(candidate) == squashed:
            return candidate
    if squashed in aliases:
        return aliases[squashed]
    close = difflib.get_close_matches(key, known, n=1, cutoff=0.75)
    return close[0] if close else None


def _unknown_top_level(payload: dict[Any, Any], allowed: bool, root: str) -> Iterator[Problem]:
    known = sorted(_known_keys())
    for key in payload:
        if key in _known_keys():
            continue
        name = str(key)
        guess = _suggest(name, known, _ALIASES)
        if guess is None:
            hint = f"known keys are {', '.join(known)}"
        elif "." in guess:
            hint = f"did you mean {guess!r}? Customer identifiers go inside 'customer'"
        else:
            hint = f"did you mean {guess!r}?"
        if allowed:
            yield Problem(
                path=wire_path([name], root),
                rule="unknown-key",
                message=f"unknown top-level key {name!r}: the API ignores it",
                hint=hint,
                severity="warning",
            )
        else:
            yield Problem(
                path=wire_path([name], root),
                rule="unknown-key",
                message=f"unknown top-level key {name!r}: the API would silently ignore it",
                hint=f"{hint} (to send it anyway: allow_unknown_keys=True or --allow-unknown-keys)",
            )


def _ignored_values(data: dict[Any, Any], root: str) -> Iterator[Problem]:
    for key, value in data.items():
        if key != EXTRA and is_ignored(value):
            yield ignored_value(str(key), _json_text(value), root, dropped=False)


def _json_text(value: Any) -> str:
    try:
        return orjson.dumps(value).decode()
    except (TypeError, orjson.JSONEncodeError):
        return repr(value)


def _kind_of(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, (list, tuple)):
        return "an array"
    return f"a {type(value).__name__}"


def _at(instance: Any, parts: Sequence[str | int]) -> Any:
    for part in parts:
        try:
            instance = instance[part]
        except (KeyError, IndexError, TypeError):
            return None
    return instance


@attrs.frozen
class _Found:
    """One jsonschema-rs error, located: what each message in the table is made from."""

    kind: Any
    rule: str
    parts: list[str | int]
    value: Any
    path: str
    root: str
    message: str

    @property
    def field(self) -> str | int | None:
        return self.parts[-1] if self.parts else None

    @property
    def shown(self) -> str:
        return _json_text(self.value)


def _schema_problems(error: Any, instance: Any, root: str) -> Iterator[Problem]:
    """One jsonschema-rs error as problems with messages a caller can act on.

    The message comes from :data:`_MESSAGES`, looked up by (rule, where):
    first the container a value sits in (``data.*``, ``customFields.*``),
    then its own field name, then the rule alone.
    """
    parts = as_written(instance, list(error.instance_path))
    rule = str(error.kind.name)
    found = _Found(
        kind=error.kind,
        rule=rule,
        parts=parts,
        value=_at(instance, parts),
        path=wire_path(parts, root),
        root=root,
        message=str(error.message),
    )
    parent = parts[-2] if len(parts) >= 2 else None
    keys: list[tuple[str, str | None]] = (
        [(rule, f"{parent}.*")] if parent in ("data", "customFields") else []
    )
    keys += [(rule, str(found.field)), (rule, None)]
    for key in keys:
        explain = _MESSAGES.get(key)
        if explain is not None:
            yield from explain(found)
            return
    yield Problem(path=found.path, rule=rule, message=found.message)


_REQUIRED_HINTS = {
    "eventName": "name the event, for example 'Order Placed'",
    "customer": "add a customer with at least one of id, email, phoneNumber",
}


def _required(found: _Found) -> Iterator[Problem]:
    name = str(found.kind.property)
    where = "the event" if not found.parts else found.path
    yield Problem(
        path=wire_path([*found.parts, name], found.root),
        rule="required",
        message=f"{name!r} is required in {where}",
        hint=_send_events() if name == "events" else _REQUIRED_HINTS.get(name, ""),
    )


def _customer_identifier(found: _Found) -> Iterator[Problem]:
    if found.parts == ["customer"]:
        yield no_identifier(found.path)
    else:
        yield Problem(path=found.path, rule=found.rule, message=found.message)


def _data_value(found: _Found) -> Iterator[Problem]:
    key = str(found.field)
    if key == EXTRA:
        yield from _extra_type(found)
        return
    if isinstance(found.value, (dict, list, tuple)):
        yield nested_data(key, _kind_of(found.value), wire_path(found.parts[:-1], found.root))
        return
    yield Problem(
        path=found.path,
        rule="type",
        message=(
            f"data[{key!r}] is {_kind_of(found.value)}: expected a string, number, boolean or null"
        ),
        hint="convert the value to a string, number or boolean",
    )


def _extra_type(found: _Found) -> Iterator[Problem]:
    yield Problem(
        path=found.path,
        rule="type",
        message=f"data['$extra'] is {_kind_of(found.value)}: it must be an object",
        hint="wrap the values in an object, e.g. {'$extra': {'Order IDs': [1, 2, 3]}}",
    )


def _custom_field(found: _Found) -> Iterator[Problem]:
    value = found.value
    if value is None:
        hint = "omit the field to leave the stored value unchanged (custom fields are patched)"
    elif isinstance(value, (dict, list, tuple)):
        hint = "split it into one custom field per value, or keep it in data['$extra']"
    else:
        hint = "convert the value to a string, number or boolean"
    yield Problem(
        path=found.path,
        rule="type",
        message=(
            f"customFields[{found.field!r}] is {_kind_of(value)}: "
            "custom fields hold strings, numbers and booleans"
        ),
        hint=hint,
    )


def _code(schema: str, standard: str, examples: str) -> Callable[[_Found], Iterator[Problem]]:
    def explain(found: _Found) -> Iterator[Problem]:
        yield Problem(
            path=found.path,
            rule="enum",
            message=f"{found.shown} is not an {standard} code",
            hint=_code_hint(found.value, schema, standard, examples),
        )

    return explain


def _email(found: _Found) -> Iterator[Problem]:
    yield bad_email(found.path, found.shown)


def _date_time(found: _Found) -> Iterator[Problem]:
    # The DateTime schema states the rule twice (format and pattern): one problem.
    yield Problem(
        path=found.path,
        rule="format",
        message=f"{found.shown} is not an RFC 3339 date-time",
        hint=(
            "write a date, 'T', a time and an offset, e.g. '2026-04-02T12:00:00Z', "
            "or pass an aware datetime to build_event"
        ),
    )


def _phone(found: _Found) -> Iterator[Problem]:
    yield Problem(
        path=found.path,
        rule="pattern",
        message=f"{found.shown} is not an E.164 phone number",
        hint=(
            "write '+', the country code and the number, e.g. '+12065550100'; "
            "normalize_phone('(206) 555-0100', region='US') converts national formats"
        ),
    )


def _object_id(found: _Found) -> Iterator[Problem]:
    yield bad_object_id(found.path, found.shown)


def _time_zone(found: _Found) -> Iterator[Problem]:
    yield Problem(
        path=found.path,
        rule="pattern",
        message=f"{found.shown} is not an IANA time zone id",
        hint="use a zone id such as 'America/Los_Angeles' or 'Europe/Paris'",
    )


_OWNERS = {"customer": "Customer", "location": "Location"}
_OWNER_ALIASES = {"customer": _CUSTOMER_ALIASES, "location": _LOCATION_ALIASES}


def _unknown_key(found: _Found) -> Iterator[Problem]:
    owner = str(found.field) if found.field is not None else "body"
    schema = _OWNERS.get(owner)
    known = sorted(component(schema)["properties"]) if schema else []
    for key in found.kind.unexpected:
        guess = _suggest(str(key), known, _OWNER_ALIASES.get(owner, {}))
        hint = f"did you mean {guess!r}?" if guess else f"known keys are {', '.join(known)}"
        if owner == "customer":
            hint += " Other customer attributes belong in customFields."
        yield Problem(
            path=wire_path([*found.parts, str(key)], found.root),
            rule="unknown-key",
            message=f"{owner} has no field {key!r}",
            hint=hint,
        )


def _too_many(found: _Found) -> Iterator[Problem]:
    count = len(found.value) if isinstance(found.value, dict) else 0
    yield Problem(
        path=found.path,
        rule="maxProperties",
        message=f"{found.field} has {count} properties; the limit is {found.kind.limit}",
        hint="move the ones you do not segment on under data['$extra']"
        if found.field == "data"
        else "send fewer fields",
    )


def _property_names(found: _Found) -> Iterator[Problem]:
    keys = found.value.keys() if isinstance(found.value, dict) else ()
    longest = limits().max_property_name
    bad = [k for k in keys if isinstance(k, str) and not 1 <= len(k) <= longest]
    for key in bad or [""]:
        yield Problem(
            path=wire_path([*found.parts, key[:40]], found.root),
            rule="propertyNames",
            message=f"property names must be 1 to {longest:,} characters"
            if key
            else "an empty property name is not allowed",
            hint="give the property a non-empty name",
        )


def _unique_id_length(found: _Found) -> Iterator[Problem]:
    shortest, longest = limits().unique_id_length
    yield Problem(
        path=found.path,
        rule=found.rule,
        message=(
            f"uniqueId must be {shortest} to {longest} characters, not {len(str(found.value))}"
        ),
        hint=(
            "leave it out to have one generated, "
            "or use unique_id(...), which hashes long keys to fit"
        ),
    )


def _empty_name(found: _Found) -> Iterator[Problem]:
    yield Problem(
        path=found.path,
        rule="minLength",
        message="eventName must not be empty",
        hint="name the event, for example 'Order Placed'",
    )


_TYPE_HINTS = {
    "value": "send a number; build_event accepts int, float and Decimal",
    "eventTimestamp": "send an RFC 3339 string such as '2026-04-02T12:00:00Z'",
}


def _wrong_type(found: _Found) -> Iterator[Problem]:
    types = getattr(found.kind, "types", None)
    expected = " or ".join(str(t) for t in types) if types else "?"
    what = found.field if found.parts else "the event"
    yield Problem(
        path=found.path,
        rule="type",
        message=f"{what} is {_kind_of(found.value)}, expected {expected}",
        hint=_TYPE_HINTS.get(str(found.field), ""),
    )


def _degrees(found: _Found) -> Iterator[Problem]:
    schema = component("Location")["properties"][str(found.field)]
    yield Problem(
        path=found.path,
        rule=found.rule,
        message=f"{found.field} {found.shown} is out of range",
        hint=f"{found.field} is in decimal degrees, {schema['minimum']} to {schema['maximum']}",
    )


_MESSAGES: dict[tuple[str, str | None], Callable[[_Found], Iterator[Problem]]] = {
    ("required", None): _required,
    ("anyOf", "customer"): _customer_identifier,
    ("anyOf", "data.*"): _data_value,
    ("anyOf", "$extra"): _extra_type,
    ("type", "$extra"): _extra_type,
    ("anyOf", "customFields.*"): _custom_field,
    ("enum", "valueCurrency"): _code("CurrencyCode", "ISO 4217 currency", "'USD', 'EUR' or 'GBP'"),
    ("enum", "countryCode"): _code(
        "CountryCode", "ISO 3166-1 alpha-2 country", "'US', 'GB' or 'DE'"
    ),
    ("format", "email"): _email,
    ("format", None): _date_time,
    ("pattern", "eventTimestamp"): _date_time,
    ("pattern", "phoneNumber"): _phone,
    ("pattern", "id"): _object_id,
    ("pattern", "ianaTimeZoneName"): _time_zone,
    ("additionalProperties", None): _unknown_key,
    ("maxProperties", None): _too_many,
    ("propertyNames", None): _property_names,
    ("minLength", "uniqueId"): _unique_id_length,
    ("maxLength", "uniqueId"): _unique_id_length,
    ("minLength", "eventName"): _empty_name,
    ("type", None): _wrong_type,
    ("minimum", "latitude"): _degrees,
    ("maximum", "latitude"): _degrees,
    ("minimum", "longitude"): _degrees,
    ("maximum", "longitude"): _degrees,
}
"""Messages by (rule, where): where is a field name, ``data.*`` or ``customFields.*``
for the values of those objects, or None for the rule anywhere."""


def _code_hint(value: Any, schema: str, standard: str, examples: str) -> str:
    if isinstance(value, str):
        upper = value.strip().upper()
        if upper in _enum(schema):
            return f"codes are upper case: use {upper!r}"
    return f"use an upper-case {standard} code such as {examples}"


def _send_events() -> str:
    fewest, most = limits().bulk_events
    return f"send {{'events': [...]}} with {fewest} to {most} events"


def _envelope_problems(error: Any) -> Iterator[Problem]:
    parts: list[str | int] = list(error.instance_path)
    rule = str(error.kind.name)
    if rule == "type" and not parts:
        yield Problem(
            path="$", rule="type", message="a bulk body must be an object", hint=_send_events()
        )
    elif rule == "type" and parts == ["events"]:
        yield Problem(
            path="$.events", rule="type", message="events must be an array", hint=_send_events()
        )
    elif rule in ("minItems", "maxItems"):
        fewest, most = limits().bulk_events
        yield Problem(
            path="$.events",
            rule=rule,
            message=f"a bulk body holds {fewest} to {most} events",
            hint=f"split the events into requests of at most {most} (the batcher does this)",
        )
    elif rule == "additionalProperties":
        for key in error.kind.unexpected:
            yield Problem(
                path=wire_path([str(key)]),
                rule="unknown-key",
                message=f"unknown key {key!r} beside events: the API refuses the whole request",
                hint="send only {'events': [...]}",
            )
    elif rule == "required":
        yield Problem(
            path="$.events", rule="required", message="'events' is required", hint=_send_events()
        )
    else:
        yield Problem(path=wire_path(parts), rule=rule, message=str(error.message))
