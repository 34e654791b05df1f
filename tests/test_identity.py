"""Customer identifiers: ObjectIds, emails, E.164 phones, and which one the API resolves by."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import redo_kit_models as models
from redo_kit._errors import ValidationError
from redo_kit._identity import (
    email_key,
    is_email,
    is_object_id,
    normalize_customer,
    normalize_email,
    normalize_object_id,
    normalize_phone,
    resolution_identifier,
)
from redo_kit._spec import validator
from redo_kit.testing import strategies as rs


def _email_is_valid_in_spec(email: str) -> bool:
    return validator("Customer").is_valid({"email": email})


def test_object_id_is_lower_cased_and_trimmed() -> None:
    assert normalize_object_id(" 665F1A2B3C4D5E6F7A8B9C0D ") == "665f1a2b3c4d5e6f7a8b9c0d"


@pytest.mark.parametrize(
    "bad", ["", "665f1a2b3c4d5e6f7a8b9c0", "665f1a2b3c4d5e6f7a8b9c0g", "x" * 24]
)
def test_object_id_refuses_what_is_not_24_hex_digits(bad: str) -> None:
    with pytest.raises(ValidationError) as caught:
        normalize_object_id(bad)
    (problem,) = caught.value.problems
    assert (problem.path, problem.rule) == ("$.customer.id", "pattern")
    assert "ObjectId" in problem.hint
    assert not is_object_id(bad)


@given(rs.object_ids())
def test_object_ids_normalize_to_lower_case_and_stay_valid(value: str) -> None:
    normalized = normalize_object_id(value)
    assert normalized == value.lower()
    assert is_object_id(normalized)


def test_email_is_trimmed_and_keeps_its_case() -> None:
    assert normalize_email("  Stewart@Example.com\n") == "Stewart@Example.com"


def test_email_key_compares_case_insensitively() -> None:
    assert email_key(" Stewart@Example.COM") == email_key("stewart@example.com")
    assert email_key("a@example.com") != email_key("b@example.com")


@pytest.mark.parametrize("bad", ["stewart", "stewart@", "@example.com", "a..b@example.com", ""])
def test_email_refuses_bad_syntax_with_a_hint(bad: str) -> None:
    with pytest.raises(ValidationError) as caught:
        normalize_email(bad)
    (problem,) = caught.value.problems
    assert (problem.path, problem.rule) == ("$.customer.email", "format")
    assert "name@example.com" in problem.hint


@given(st.text(max_size=30) | rs.emails())
def test_email_check_agrees_with_the_spec(text: str) -> None:
    assert is_email(text) == _email_is_valid_in_spec(text)


@given(rs.emails(), st.sampled_from(["", " ", "\t", "\n "]))
def test_normalized_emails_are_valid_under_the_spec(email: str, padding: str) -> None:
    normalized = normalize_email(padding + email + padding)
    assert normalized == email
    assert _email_is_valid_in_spec(normalized)


@pytest.mark.parametrize(
    ("text", "region", "expected"),
    [
        ("(206) 555-0100", "US", "+12065550100"),
        ("206.555.0100", "us", "+12065550100"),
        ("+1 (206) 555-0100", None, "+12065550100"),
        ("+11234567890", None, "+11234567890"),
        ("020 7946 0958", "GB", "+442079460958"),
        (" +44 20 7946 0958 ", "US", "+442079460958"),
    ],
)
def test_phone_is_normalized_to_e164(text: str, region: str | None, expected: str) -> None:
    assert normalize_phone(text, region=region) == expected


def test_guide_phone_example_passes_although_unassigned() -> None:
    assert normalize_phone("+11234567890") == "+11234567890"


@pytest.mark.parametrize(
    ("text", "region", "message"),
    [
        ("(206) 555-0100", None, "no country code"),
        ("+1 206 555", None, "wrong length"),
        ("+1206555010000", None, "wrong length"),
        ("+1 206 555 0100 ext. 12", None, "extension"),
        ("call me", "US", "not a phone number"),
    ],
)
def test_phone_refuses_impossible_numbers(text: str, region: str | None, message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        normalize_phone(text, region=region)
    (problem,) = caught.value.problems
    assert (problem.path, problem.rule) == ("$.customer.phoneNumber", "phone-number")
    assert message in problem.message
    assert problem.hint


@given(rs.phone_numbers())
def test_normalized_phones_match_the_spec_pattern(phone: str) -> None:
    spaced = f"{phone[:3]} {phone[3:6]} {phone[6:]}"
    normalized = normalize_phone(spaced)
    assert validator("Customer").is_valid({"phoneNumber": normalized})
    assert normalize_phone(normalized) == normalized


def test_normalize_customer_normalizes_every_identifier_and_copies() -> None:
    customer = {
        "id": "665F1A2B3C4D5E6F7A8B9C0D",
        "email": " Stewart@Example.com ",
        "phoneNumber": "(206) 555-0100",
        "firstName": " Stewart ",
    }
    out = normalize_customer(customer, default_region="US")
    assert out == {
        "id": "665f1a2b3c4d5e6f7a8b9c0d",
        "email": "Stewart@Example.com",
        "phoneNumber": "+12065550100",
        "firstName": " Stewart ",
    }
    assert customer["email"] == " Stewart@Example.com "


def test_normalize_customer_reports_every_problem() -> None:
    with pytest.raises(ValidationError) as caught:
        normalize_customer({"id": "1", "email": "x", "phoneNumber": "1"})
    assert [p.path for p in caught.value.problems] == [
        "$.customer.id",
        "$.customer.email",
        "$.customer.phoneNumber",
    ]


def test_normalize_customer_requires_an_identifier() -> None:
    with pytest.raises(ValidationError) as caught:
        normalize_customer({"firstName": "Stewart"})
    (problem,) = caught.value.problems
    assert problem.rule == "customer-identifier"
    assert problem.message == "customer needs at least one of id, email, phoneNumber"


@pytest.mark.parametrize(
    ("customer", "expected"),
    [
        (
            {"id": "665f1a2b3c4d5e6f7a8b9c0d", "email": "a@b.co", "phoneNumber": "+12065550100"},
            ("id", "665f1a2b3c4d5e6f7a8b9c0d"),
        ),
        ({"email": "a@b.co", "phoneNumber": "+12065550100"}, ("email", "a@b.co")),
        ({"phoneNumber": "+12065550100", "firstName": "S"}, ("phoneNumber", "+12065550100")),
    ],
)
def test_resolution_follows_id_then_email_then_phone(
    customer: dict[str, Any], expected: tuple[str, str]
) -> None:
    assert resolution_identifier(customer) == expected


def test_resolution_reads_typed_customers() -> None:
    customer = models.Customer(email="a@b.co", phone_number="+12065550100")
    assert resolution_identifier(customer) == ("email", "a@b.co")


def test_resolution_without_identifier_raises() -> None:
    with pytest.raises(ValidationError, match="at least one of id, email, phoneNumber"):
        resolution_identifier({"firstName": "Stewart"})


@given(rs.customers())
def test_every_generated_customer_resolves_by_its_highest_identifier(
    customer: dict[str, Any],
) -> None:
    field, value = resolution_identifier(customer)
    present = [key for key in ("id", "email", "phoneNumber") if key in customer]
    assert field == present[0]
    assert value == customer[field]
