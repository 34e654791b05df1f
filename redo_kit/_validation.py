"""Every rule an event must follow, checked before it leaves the process.

``validate_event`` returns every problem with an event (a wire dict), each
located by its wire path (``$.customer.phoneNumber``) with a stable ``rule``,
a message and a hint. Errors mean the API would refuse the event (or, in bulk,
drop it without a word); warnings mean the API accepts it but does something
the caller may not expect (it drops an ignored value, ignores an unknown key,
discards a duplicate ``uniqueId``).

The schema rules come from the spec's own JSON Schemas, compiled once in
:mod:`redo_kit._spec`; this module adds what a schema cannot say:

- unknown top-level keys (the API ignores them; nearly always a typo such as
  ``uniqueID``), refused by default with a "did you mean" hint;
- ignored values: top-level data ``0``, ``null`` and ``""`` (warnings);
- sizes: 102,400 UTF-8 bytes per string, keys included, and 5,242,880 bytes
  per serialized event;
- values JSON cannot carry: NaN and infinities (orjson would write ``null``),
  integers beyond 64 bits, non-string keys, Python objects;
- duplicate ``uniqueId``s within one bulk body (warnings: the API keeps the
  first and drops the others).

A valid event costs one ``orjson.dumps`` and one compiled ``is_valid`` call;
the detailed walk runs only when something is wrong.
"""

from __future__ import annotations

import difflib
import functools
import math
from collections.abc import Iterator, Sequence
from typing import Any

import orjson

from redo_kit._errors import Problem, ValidationError
from redo_kit._spec import bulk_envelope_validator, component, validator, wire_path

__all__ = [
    "MAX_DEPTH",
    "MAX_EVENT_BYTES",
    "MAX_PROPERTIES",
    "MAX_STRING_BYTES",
    "check_event",
    "validate_bulk",
    "validate_event",
]

MAX_STRING_BYTES = 102_400
"""Largest string anywhere in an event, keys included, in UTF-8 bytes (100 KB)."""
MAX_EVENT_BYTES = 5_242_880
"""Largest serialized event, in bytes of UTF-8 JSON (5 MB)."""
MAX_PROPERTIES = 400
"""Most top-level properties in ``data`` (``$extra`` counts as one)."""
MAX_DEPTH = 100
"""Most levels of nested objects and arrays in one event, the event itself being level 1."""
# The event (1), data (2) and $extra (3) come before what the caller nests.
_EXTRA_DEPTH = MAX_DEPTH - 2

_IDENTIFIERS = "customer needs at least one of id, email, phoneNumber"

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
    payload: Any, *, allow_unknown_keys: bool = False, root: str = "$"
) -> list[Problem]:
    """Every problem with ``payload`` (a wire dict), errors and warnings.

    ``allow_unknown_keys`` turns unknown top-level keys from errors into
    warnings (the API ignores them). ``root`` prefixes every path; it is
    ``$.events[3]`` for an item of a bulk body. An empty list means the event
    is valid and nothing in it will be dropped.
    """
    return _check(payload, allow_unknown_keys, root)[0]


def check_event(payload: Any, *, allow_unknown_keys: bool = False) -> None:
    """Raise ``ValidationError`` carrying every problem when ``payload`` has an error.

    Warnings alone do not raise.
    """
    problems = validate_event(payload, allow_unknown_keys=allow_unknown_keys)
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
        problems = _check(event, allow_unknown_keys, root)[0]
        unique = event.get("uniqueId") if isinstance(event, dict) else None
        if isinstance(unique, str):
            first = first_seen.setdefault(unique, index)
            if first != index:
                problems.append(
                    Problem(
                        path=f"{root}.uniqueId",
                        rule="duplicate-unique-id",
                        message=(
                            f"uniqueId {unique!r} is also used by $.events[{first}]: "
                            "the API stores the first and silently drops this one"
                        ),
                        hint="give every distinct event its own uniqueId",
                        severity="warning",
                    )
                )
        per_event.append(problems)
    return envelope, per_event


def _check(
    payload: Any, allow_unknown_keys: bool, root: str, *, data_cleaned: bool = False
) -> tuple[list[Problem], bytes | None]:
    """The problems with one event, and its serialized body when it could be written.

    ``data_cleaned`` says the caller already removed the ignored values, so
    the fast path need not look for them.
    """
    if type(payload) is dict:
        # The fast path, for an event with nothing to report: one compiled
        # check, one serialization, a few set and membership tests.
        try:
            valid = validator("Event").is_valid(payload)
        except ValueError:
            valid = False
        if valid and payload.keys() <= _known_keys():
            try:
                body = orjson.dumps(payload)
            except (TypeError, orjson.JSONEncodeError):
                body = b"null"
            data = payload.get("data")
            extra = data.get("$extra") if type(data) is dict else None
            # Nesting needs an opening bracket per level, so a body with few
            # brackets (inside strings too: the count only errs high) is shallow.
            shallow = (
                extra is None
                or body.count(b"{") + body.count(b"[") <= _EXTRA_DEPTH
                or not _deeper_than(extra, _EXTRA_DEPTH)
            )
            if shallow and len(body) <= MAX_STRING_BYTES and _finite(body, payload):
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
    ``payload`` only when no number turned into null on the way.
    """
    return b"null" not in body or orjson.loads(body) == payload


def _deeper_than(value: Any, limit: int) -> bool:
    """Whether ``value`` nests objects and arrays more than ``limit`` levels (itself is 1)."""
    if not isinstance(value, (dict, list)):
        return False
    # Iterative, so that no nesting a JSON parser admits can exhaust the stack.
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        current, depth = stack.pop()
        if depth > limit:
            return True
        children = current.values() if isinstance(current, dict) else current
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return False


def _check_fully(
    payload: Any, allow_unknown_keys: bool, root: str
) -> tuple[list[Problem], bytes | None]:
    if _deeper_than(payload, MAX_DEPTH):
        # Nothing deeper can be checked safely: the schema validator and the
        # serializer both have recursion limits of their own.
        return [
            Problem(
                path=root,
                rule="depth",
                message=f"the event nests objects and arrays more than {MAX_DEPTH} levels deep",
                hint="flatten data['$extra'], or keep deeply nested documents in your own storage",
            )
        ], None
    problems: list[Problem] = []
    is_dict = isinstance(payload, dict)
    if is_dict and not payload.keys() <= _known_keys():
        problems.extend(_unknown_top_level(payload, allow_unknown_keys, root))
    data = payload.get("data") if is_dict else None
    if isinstance(data, dict):
        values = data.values()
        # `0 in values` also matches False and 0.0; _ignored_values sorts them out.
        if None in values or "" in values or 0 in values:
            problems.extend(_ignored_values(data, root))

    check = validator("Event")
    try:
        valid = check.is_valid(payload)
        errors = [] if valid else list(check.iter_errors(payload))
        foreign = False
    except ValueError:
        # A Python object JSON has no word for (a datetime, a non-string key...).
        valid, errors, foreign = False, [], True
    try:
        body: bytes | None = orjson.dumps(payload)
    except (TypeError, orjson.JSONEncodeError):
        body = None
    # orjson writes NaN and infinities as null, so no "null" means none of them.
    flagged: set[str] = set()
    target = payload
    body_size = len(body) if body is not None else 0
    if foreign or body is None or b"null" in body or body_size > MAX_STRING_BYTES:
        large = body is None or body_size > MAX_STRING_BYTES
        walked = list(_walk(payload, [], root, check_strings=large))
        problems.extend(walked)
        flagged = {p.path for p in walked}
        if foreign or body is None:
            target = _sanitized(payload)
            body, body_size = None, len(orjson.dumps(target))
            valid = check.is_valid(target)
            errors = [] if valid else list(check.iter_errors(target))
    if body_size > MAX_EVENT_BYTES:
        problems.append(
            Problem(
                path=root,
                rule="event-size",
                message=(
                    f"the event is {body_size:,} bytes of JSON; the limit is {MAX_EVENT_BYTES:,}"
                ),
                hint="move bulky metadata out of the event; large blobs belong in your own storage",
            )
        )
    seen: set[tuple[str, str]] = set()
    for error in errors:
        for problem in _schema_problems(error, target, root):
            key = (problem.path, problem.rule)
            if key in seen or problem.path in flagged:
                continue
            seen.add(key)
            problems.append(problem)
    return problems, body


@functools.cache
def _known_keys() -> frozenset[str]:
    return frozenset(component("Event")["properties"])


@functools.cache
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
        cls = type(value)
        if (
            value is None
            or (cls is str and not value)
            or ((cls is int or cls is float) and not value)
        ) and key != "$extra":
            yield Problem(
                path=wire_path(["data", str(key)], root),
                rule="ignored-value",
                message=(
                    f"data[{key!r}] is {_json_text(value)}: "
                    "the API treats it as unset and does not store it"
                ),
                hint="omit it, or put it under data['$extra'] to keep it verbatim",
                severity="warning",
            )


def _walk(
    value: Any, parts: list[str | int], root: str, *, check_strings: bool
) -> Iterator[Problem]:
    """Problems JSON Schema cannot see: non-JSON values, non-finite numbers, string sizes."""
    if isinstance(value, str):
        if check_strings and len(value) > MAX_STRING_BYTES // 4:
            size = len(value.encode("utf-8", "surrogatepass"))
            if size > MAX_STRING_BYTES:
                yield _string_size(parts, root, size, is_key=False)
        return
    if isinstance(value, bool) or value is None:
        return
    if isinstance(value, int):
        if not -(2**63) <= value < 2**64:
            yield Problem(
                path=wire_path(parts, root),
                rule="json-type",
                message=f"integer {value} does not fit in 64 bits",
                hint="send very large numbers as strings",
            )
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            yield Problem(
                path=wire_path(parts, root),
                rule="non-finite",
                message=f"{value!r} is not a JSON number (it would be sent as null)",
                hint="send a finite number, or leave the field out",
            )
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                yield Problem(
                    path=wire_path([*parts, str(key)], root),
                    rule="json-type",
                    message=f"key {key!r} is not a string: JSON keys are strings",
                    hint=f"use the string {str(key)!r} as the key",
                )
                continue
            if check_strings and len(key) > MAX_STRING_BYTES // 4:
                size = len(key.encode("utf-8", "surrogatepass"))
                if size > MAX_STRING_BYTES:
                    yield _string_size([*parts, key[:40]], root, size, is_key=True)
            yield from _walk(item, [*parts, key], root, check_strings=check_strings)
        return
    if isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            yield from _walk(item, [*parts, index], root, check_strings=check_strings)
        return
    yield Problem(
        path=wire_path(parts, root),
        rule="json-type",
        message=f"a {type(value).__name__} is not a JSON value",
        hint=(
            "build the event with build_event or prepare_event, which write datetimes as "
            "RFC 3339 and Decimal as numbers; or convert the value yourself"
        ),
    )


def _string_size(parts: list[str | int], root: str, size: int, *, is_key: bool) -> Problem:
    what = "key" if is_key else "string"
    return Problem(
        path=wire_path(parts, root),
        rule="string-size",
        message=f"this {what} is {size:,} bytes of UTF-8; the limit is {MAX_STRING_BYTES:,}",
        hint="shorten it; the API limits every string, keys included, to 100 KB",
    )


def _sanitized(value: Any) -> Any:
    """A copy of ``value`` without what JSON cannot carry, so the schema can still be checked."""
    if isinstance(value, dict):
        return {
            key: _sanitized(item)
            for key, item in value.items()
            if isinstance(key, str) and _is_json_leaf_or_container(item)
        }
    if isinstance(value, (list, tuple)):
        return [_sanitized(item) if _is_json_leaf_or_container(item) else None for item in value]
    return value


def _is_json_leaf_or_container(value: Any) -> bool:
    if isinstance(value, int) and not isinstance(value, bool):
        return -(2**63) <= value < 2**64
    return value is None or isinstance(value, (str, bool, float, dict, list, tuple))


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


def _located(instance: Any, raw: Sequence[str | int]) -> list[str | int]:
    """The instance path with each step typed by its container.

    jsonschema-rs reports an object key that looks like a number (``"0"``) as
    an integer; on the wire it is still a key, so it is written ``['0']``.
    """
    parts: list[str | int] = []
    for step in raw:
        if isinstance(instance, dict):
            key = str(step)
            parts.append(key)
            instance = instance.get(key)
        elif isinstance(instance, (list, tuple)) and isinstance(step, int):
            parts.append(step)
            instance = instance[step] if 0 <= step < len(instance) else None
        else:
            parts.append(step)
            instance = None
    return parts


def _at(instance: Any, parts: Sequence[str | int]) -> Any:
    for part in parts:
        try:
            instance = instance[part]
        except (KeyError, IndexError, TypeError):
            return None
    return instance


def _schema_problems(error: Any, instance: Any, root: str) -> Iterator[Problem]:
    """One jsonschema-rs error as problems with messages a caller can act on."""
    parts = _located(instance, error.instance_path)
    kind = error.kind
    rule = str(kind.name)
    value = _at(instance, parts)
    field = parts[-1] if parts else None
    parent = parts[-2] if len(parts) >= 2 else None
    path = wire_path(parts, root)

    if rule == "required":
        name = str(kind.property)
        where = "the event" if not parts else wire_path(parts, root)
        hints = {
            "eventName": "name the event, for example 'Order Placed'",
            "customer": "add a customer with at least one of id, email, phoneNumber",
            "events": "send {'events': [...]} with 1 to 100 events",
        }
        yield Problem(
            path=wire_path([*parts, name], root),
            rule="required",
            message=f"{name!r} is required in {where}",
            hint=hints.get(name, ""),
        )
    elif rule == "anyOf" and parts == ["customer"]:
        yield Problem(
            path=path,
            rule="customer-identifier",
            message=_IDENTIFIERS,
            hint=(
                "add customer.email, customer.phoneNumber (E.164, e.g. '+12065550100') "
                "or customer.id (the 24-hex-digit Redo customer id)"
            ),
        )
    elif rule == "anyOf" and len(parts) == 2 and parts[0] == "data" and field != "$extra":
        if isinstance(value, (dict, list, tuple)):
            yield Problem(
                path=path,
                rule="nested-data",
                message=(
                    f"data[{field!r}] is {_kind_of(value)}: top-level data values must be a "
                    "string, number, boolean or null"
                ),
                hint=(
                    f"move it under '$extra' (data['$extra'][{field!r}]), where it is stored "
                    "but not segmentable; clean_data(data, move_nested_to_extra=True) does it"
                ),
            )
        else:
            yield Problem(
                path=path,
                rule="type",
                message=(
                    f"data[{field!r}] is {_kind_of(value)}: "
                    "expected a string, number, boolean or null"
                ),
                hint="convert the value to a string, number or boolean",
            )
    elif rule in ("anyOf", "type") and parts == ["data", "$extra"]:
        yield Problem(
            path=path,
            rule="type",
            message=f"data['$extra'] is {_kind_of(value)}: it must be an object",
            hint="wrap the values in an object, e.g. {'$extra': {'Order IDs': [1, 2, 3]}}",
        )
    elif rule == "anyOf" and parent == "customFields":
        if value is None:
            hint = "omit the field to leave the stored value unchanged (custom fields are patched)"
        elif isinstance(value, (dict, list, tuple)):
            hint = "split it into one custom field per value, or keep it in data['$extra']"
        else:
            hint = "convert the value to a string, number or boolean"
        yield Problem(
            path=path,
            rule="type",
            message=(
                f"customFields[{field!r}] is {_kind_of(value)}: "
                "custom fields hold strings, numbers and booleans"
            ),
            hint=hint,
        )
    elif rule == "enum" and field == "valueCurrency":
        yield Problem(
            path=path,
            rule="enum",
            message=f"{_json_text(value)} is not an ISO 4217 currency code",
            hint=_code_hint(value, "CurrencyCode", "ISO 4217", "'USD', 'EUR' or 'GBP'"),
        )
    elif rule == "enum" and field == "countryCode":
        yield Problem(
            path=path,
            rule="enum",
            message=f"{_json_text(value)} is not an ISO 3166-1 alpha-2 country code",
            hint=_code_hint(value, "CountryCode", "ISO 3166-1 alpha-2", "'US', 'GB' or 'DE'"),
        )
    elif rule == "format" and field == "email":
        yield Problem(
            path=path,
            rule="format",
            message=f"{_json_text(value)} is not a valid email address",
            hint="write an address such as 'name@example.com', without surrounding spaces",
        )
    elif rule == "format" or (rule == "pattern" and field == "eventTimestamp"):
        # The DateTime schema states the rule twice (format and pattern): one problem.
        yield Problem(
            path=path,
            rule="format",
            message=f"{_json_text(value)} is not an RFC 3339 date-time",
            hint=(
                "write a date, 'T', a time and an offset, e.g. '2026-04-02T12:00:00Z', "
                "or pass an aware datetime to build_event"
            ),
        )
    elif rule == "pattern" and field == "phoneNumber":
        yield Problem(
            path=path,
            rule="pattern",
            message=f"{_json_text(value)} is not an E.164 phone number",
            hint=(
                "write '+', the country code and the number, e.g. '+12065550100'; "
                "normalize_phone('(206) 555-0100', region='US') converts national formats"
            ),
        )
    elif rule == "pattern" and field == "id":
        yield Problem(
            path=path,
            rule="pattern",
            message=f"{_json_text(value)} is not a Redo customer id (24 hexadecimal digits)",
            hint=(
                "customer.id is the Redo customer ObjectId, e.g. '665f1a2b3c4d5e6f7a8b9c0d'; "
                "identify by email or phoneNumber otherwise"
            ),
        )
    elif rule == "pattern" and field == "ianaTimeZoneName":
        yield Problem(
            path=path,
            rule="pattern",
            message=f"{_json_text(value)} is not an IANA time zone id",
            hint="use a zone id such as 'America/Los_Angeles' or 'Europe/Paris'",
        )
    elif rule == "additionalProperties":
        owner = str(field) if field is not None else "body"
        schema = {"customer": "Customer", "location": "Location"}.get(owner)
        aliases = {"customer": _CUSTOMER_ALIASES, "location": _LOCATION_ALIASES}.get(owner, {})
        known = sorted(component(schema)["properties"]) if schema else []
        for key in kind.unexpected:
            guess = _suggest(str(key), known, aliases)
            hint = f"did you mean {guess!r}?" if guess else f"known keys are {', '.join(known)}"
            if owner == "customer":
                hint += " Other customer attributes belong in customFields."
            yield Problem(
                path=wire_path([*parts, str(key)], root),
                rule="unknown-key",
                message=f"{owner} has no field {key!r}",
                hint=hint,
            )
    elif rule == "maxProperties":
        count = len(value) if isinstance(value, dict) else 0
        yield Problem(
            path=path,
            rule="maxProperties",
            message=f"{field} has {count} properties; the limit is {kind.limit}",
            hint="move the ones you do not segment on under data['$extra']"
            if field == "data"
            else "send fewer fields",
        )
    elif rule == "propertyNames":
        keys = value.keys() if isinstance(value, dict) else ()
        bad = [k for k in keys if isinstance(k, str) and not 1 <= len(k) <= MAX_STRING_BYTES]
        for key in bad or [""]:
            yield Problem(
                path=wire_path([*parts, key[:40]], root),
                rule="propertyNames",
                message="property names must be 1 to 102,400 characters"
                if key
                else "an empty property name is not allowed",
                hint="give the property a non-empty name",
            )
    elif rule in ("minLength", "maxLength") and field == "uniqueId":
        yield Problem(
            path=path,
            rule=rule,
            message=f"uniqueId must be 1 to 255 characters, not {len(str(value))}",
            hint=(
                "leave it out to have one generated, "
                "or use unique_id(...), which hashes long keys to fit"
            ),
        )
    elif rule == "minLength" and field == "eventName":
        yield Problem(
            path=path,
            rule="minLength",
            message="eventName must not be empty",
            hint="name the event, for example 'Order Placed'",
        )
    elif rule == "type":
        expected = " or ".join(str(t) for t in kind.types) if hasattr(kind, "types") else "?"
        hint = ""
        if field == "value":
            hint = "send a number; build_event accepts int, float and Decimal"
        elif field == "eventTimestamp":
            hint = "send an RFC 3339 string such as '2026-04-02T12:00:00Z'"
        yield Problem(
            path=path,
            rule="type",
            message=f"{field if parts else 'the event'} is {_kind_of(value)}, expected {expected}",
            hint=hint,
        )
    elif rule in ("minimum", "maximum") and field in ("latitude", "longitude"):
        bound = 90 if field == "latitude" else 180
        yield Problem(
            path=path,
            rule=rule,
            message=f"{field} {_json_text(value)} is out of range",
            hint=f"{field} is in decimal degrees, -{bound} to {bound}",
        )
    else:
        yield Problem(path=path, rule=rule, message=str(error.message))


def _code_hint(value: Any, schema: str, standard: str, examples: str) -> str:
    if isinstance(value, str):
        upper = value.strip().upper()
        if upper in _enum(schema):
            return f"codes are upper case: use {upper!r}"
    return f"use an upper-case {standard} code such as {examples}"


def _envelope_problems(error: Any) -> Iterator[Problem]:
    parts: list[str | int] = list(error.instance_path)
    rule = str(error.kind.name)
    if rule == "type" and not parts:
        yield Problem(
            path="$",
            rule="type",
            message="a bulk body must be an object",
            hint="send {'events': [...]} with 1 to 100 events",
        )
    elif rule == "type" and parts == ["events"]:
        yield Problem(
            path="$.events",
            rule="type",
            message="events must be an array",
            hint="send {'events': [...]} with 1 to 100 events",
        )
    elif rule in ("minItems", "maxItems"):
        yield Problem(
            path="$.events",
            rule=rule,
            message="a bulk body holds 1 to 100 events",
            hint="split the events into requests of at most 100 (the batcher does this)",
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
            path="$.events",
            rule="required",
            message="'events' is required",
            hint="send {'events': [...]} with 1 to 100 events",
        )
    else:
        yield Problem(path=wire_path(parts), rule=rule, message=str(error.message))
