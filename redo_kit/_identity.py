"""Who an event is about: the customer's identifiers, checked and normalized.

The API resolves the customer by the highest-priority identifier present,
``id`` > ``email`` > ``phoneNumber``; the others only enrich the profile it
finds (spec: ``x-redo-identity-resolution``). At least one is required.

- ``id``: a 24-hex-digit ObjectId, written in lower case (ObjectIds match
  case-insensitively).
- ``email``: surrounding whitespace trimmed, otherwise kept as written. Redo
  matches emails case-insensitively (spec: ``x-redo-assumption`` on
  Customer), so lower-casing would change nothing but what the profile shows.
  The syntax check is the spec's own ``format: email``, run by the same
  compiled validator as every event, so the two always agree.
- ``phoneNumber``: E.164 (``+12065550100``), normalized with libphonenumber.
  National formats need a region: ``"(206) 555-0100"`` with ``US``. A number
  that cannot exist (wrong length for its country) is refused; a number that
  merely is not assigned (the guide's ``+11234567890``) is accepted, as the
  API accepts it.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

import jsonschema_rs
import orjson
import phonenumbers

from redo_kit._errors import Problem, ValidationError
from redo_kit._rules import bad_email, bad_object_id, email_key, is_object_id, limits, no_identifier
from redo_kit._spec import component

__all__ = [
    "email_key",
    "is_email",
    "is_object_id",
    "normalize_customer",
    "normalize_email",
    "normalize_object_id",
    "normalize_phone",
    "resolution_identifier",
]


_CUSTOMER = "$.customer"


def normalize_object_id(value: str, *, path: str = f"{_CUSTOMER}.id") -> str:
    """``value`` trimmed and in lower case. Raises ``ValidationError`` when it is no ObjectId."""
    text, problem = _object_id(value, path)
    if problem is not None:
        raise ValidationError([problem], subject="customer id")
    return text


def is_email(value: object) -> bool:
    """Whether ``value`` is an email address under the spec's ``format: email``, as it is."""
    return isinstance(value, str) and _email_validator().is_valid(value)


def normalize_email(value: str, *, path: str = f"{_CUSTOMER}.email") -> str:
    """``value`` without surrounding whitespace, case kept; ``ValidationError`` if invalid."""
    text, problem = _email(value, path)
    if problem is not None:
        raise ValidationError([problem], subject="email")
    return text


def normalize_phone(
    value: str, *, region: str | None = None, path: str = f"{_CUSTOMER}.phoneNumber"
) -> str:
    """``value`` in E.164. ``region`` (ISO 3166-1 alpha-2, e.g. ``"US"``) reads national formats.

    Raises ``ValidationError`` when the number cannot be read, has an
    extension, or cannot exist for its country (wrong length).
    """
    text, problem = _phone(value, region, path)
    if problem is not None:
        raise ValidationError([problem], subject="phone number")
    return text


def normalize_customer(
    customer: Mapping[str, Any], *, default_region: str | None = None
) -> dict[str, Any]:
    """A copy of a wire customer with its identifiers normalized.

    Raises ``ValidationError`` with every identifier problem, including a
    missing identifier. Other fields are copied as they are; the spec's
    validator checks them.
    """
    out, problems = normalize_wire_customer(customer, default_region, _CUSTOMER)
    if not any(key in out for key in limits().identifiers):
        problems.append(no_identifier(_CUSTOMER))
    if problems:
        raise ValidationError(problems, subject="customer")
    return out


def resolution_identifier(customer: Any) -> tuple[str, str]:
    """``(field, value)`` of the identifier the API resolves the customer by.

    ``customer`` is a wire dict or a ``redo_kit_models.Customer``. The order is
    the spec's (``id``, ``email``, ``phoneNumber``); the rest only enrich the
    profile. Raises ``ValidationError`` when there is none.
    """
    for wire in limits().identifiers:
        if isinstance(customer, Mapping):
            value = customer.get(wire)
        else:
            value = getattr(customer, _attribute(wire), None)
        if isinstance(value, str) and value:
            return wire, value
    raise ValidationError([no_identifier(_CUSTOMER)], subject="customer")


def _attribute(wire: str) -> str:
    # The generated models' attribute for a wire name: phoneNumber -> phone_number.
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in wire)


def normalize_wire_customer(
    customer: Mapping[str, Any], region: str | None, root: str, *, schema_follows: bool = False
) -> tuple[dict[str, Any], list[Problem]]:
    """The customer with normalized identifiers, and the problems found on the way.

    A value that cannot be normalized is kept as sent, so that the caller's
    validation still sees it. ``schema_follows``: the caller validates the
    event against the spec's schema next, which checks the email's format
    with the same schema, so an email with nothing to trim is not checked
    twice here (and a bad one is left for that validation to find).
    """
    # Runs for every event: the usual case (already normalized) costs one
    # regex, one compiled format check (none with schema_follows) and one
    # cache lookup.
    out = dict(customer)
    problems: list[Problem] = []
    value = out.get("id")
    if type(value) is str and not (limits().object_id.match(value) and value.islower()):
        text, problem = _object_id(value, f"{root}.id")
        if problem is None:
            out["id"] = text
        else:
            problems.append(problem)
    value = out.get("email")
    if isinstance(value, str) and not (
        _is_trimmed(value) if schema_follows else _is_trimmed_email(value)
    ):
        text, problem = _email(value, f"{root}.email")
        if problem is None:
            out["email"] = text
        else:
            problems.append(problem)
    value = out.get("phoneNumber")
    if isinstance(value, str):
        text, problem = _phone(value, region, f"{root}.phoneNumber")
        if problem is None:
            out["phoneNumber"] = text
        else:
            problems.append(problem)
    return out, problems


def _object_id(value: str, path: str) -> tuple[str, Problem | None]:
    text = value.strip()
    if is_object_id(text):
        return text.lower(), None
    return value, bad_object_id(path, _shown(value))


def _shown(value: str) -> str:
    # The value as JSON, as every problem shows it.
    return orjson.dumps(value).decode()


@functools.cache
def _email_validator() -> jsonschema_rs.Draft202012Validator:
    # The spec's own email property schema, so "valid here" means "valid there".
    schema = dict(component("Customer")["properties"]["email"])
    return jsonschema_rs.Draft202012Validator(schema, validate_formats=True)


def _is_trimmed(value: str) -> bool:
    return not value[:1].isspace() and not value[-1:].isspace()


def _is_trimmed_email(value: str) -> bool:
    return _is_trimmed(value) and bool(_email_validator().is_valid(value))


def _email(value: str, path: str) -> tuple[str, Problem | None]:
    text = value.strip()
    if _email_validator().is_valid(text):
        return text, None
    return value, bad_email(path, _shown(value))


def _phone(value: str, region: str | None, path: str) -> tuple[str, Problem | None]:
    try:
        return _phone_cached(value, region), None
    except _PhoneError as exc:
        return value, Problem(path=path, rule="phone-number", message=str(exc), hint=exc.hint)


class _PhoneError(ValueError):
    def __init__(self, message: str, hint: str) -> None:
        super().__init__(message)
        self.hint = hint


# Events for one customer come in runs, and libphonenumber's parse costs about
# 15 µs: remember recent answers (a pure function of its arguments).
@functools.lru_cache(maxsize=4096)
def _phone_cached(value: str, region: str | None) -> str:
    text = value.strip()
    upper = region.upper() if region else None
    try:
        number = phonenumbers.parse(text, upper)
    except phonenumbers.NumberParseException as exc:
        if not text.startswith("+") and upper is None:
            raise _PhoneError(
                f"{value!r} has no country code",
                "write it in E.164 ('+12065550100') or pass default_region='US' "
                "(the ISO 3166-1 code of the country the number belongs to)",
            ) from exc
        raise _PhoneError(
            f"{value!r} is not a phone number",
            "write it in E.164: '+', the country code and the number, e.g. '+12065550100'",
        ) from exc
    if number.extension:
        raise _PhoneError(
            f"{value!r} has an extension, which E.164 cannot carry",
            "send the number without its extension",
        )
    if not phonenumbers.is_possible_number(number):
        raise _PhoneError(
            f"{value!r} cannot be a phone number: wrong length for its country",
            "check the digits and the country code",
        )
    if limits().phone_number.match(text):
        # Already E.164: keep the caller's digits. libphonenumber would strip
        # what it takes for a carrier code (+55 90 ...) and change the number.
        return text
    formatted: str = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    if not limits().phone_number.match(formatted):
        raise _PhoneError(
            f"{value!r} does not fit E.164",
            "write it in E.164: '+', the country code and the number, e.g. '+12065550100'",
        )
    return formatted
