# Generated from spec/redo-events.openapi.yaml (sha256 45d2f86bc08986d829d800728afc8bce58e68a8196e5f0c188c157f43e0b50ea)
# by scripts/generate (datamodel-code-generator 0.89.0). Do not edit: change the spec and regenerate.

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal, TypeAlias

import annotated_types
import attrs


CustomFields: TypeAlias = dict[str, str | float | bool]
"""
Custom profile fields of the customer: string, number or boolean values.
RFC 3339 date-time strings are detected and indexed as dates.

"""


DateTime: TypeAlias = datetime
"""
An RFC 3339 date-time, for example `2026-04-02T12:00:00Z`. The same
rule decides which strings of data and customFields are dates.

"""


PropertyValue: TypeAlias = str | float | bool | None
"""
A segmentable top-level value of event data.
"""


Extra: TypeAlias = dict[str, Any]
"""
Non-segmentable metadata, stored verbatim under `data.$extra`.
"""


CurrencyCode: TypeAlias = Literal["AED", "AFN", "ALL", "AMD", "ANG", "AOA", "ARS", "AUD", "AWG", "AZN", "BAM", "BBD", "BDT", "BGN", "BHD", "BIF", "BMD", "BND", "BOB", "BOV", "BRL", "BSD", "BTN", "BWP", "BYN", "BZD", "CAD", "CDF", "CHE", "CHF", "CHW", "CLF", "CLP", "CNY", "COP", "COU", "CRC", "CUP", "CVE", "CZK", "DJF", "DKK", "DOP", "DZD", "EGP", "ERN", "ETB", "EUR", "FJD", "FKP", "GBP", "GEL", "GHS", "GIP", "GMD", "GNF", "GTQ", "GYD", "HKD", "HNL", "HTG", "HUF", "IDR", "ILS", "INR", "IQD", "IRR", "ISK", "JMD", "JOD", "JPY", "KES", "KGS", "KHR", "KMF", "KPW", "KRW", "KWD", "KYD", "KZT", "LAK", "LBP", "LKR", "LRD", "LSL", "LYD", "MAD", "MDL", "MGA", "MKD", "MMK", "MNT", "MOP", "MRU", "MUR", "MVR", "MWK", "MXN", "MXV", "MYR", "MZN", "NAD", "NGN", "NIO", "NOK", "NPR", "NZD", "OMR", "PAB", "PEN", "PGK", "PHP", "PKR", "PLN", "PYG", "QAR", "RON", "RSD", "RUB", "RWF", "SAR", "SBD", "SCR", "SDG", "SEK", "SGD", "SHP", "SLE", "SOS", "SRD", "SSP", "STN", "SVC", "SYP", "SZL", "THB", "TJS", "TMT", "TND", "TOP", "TRY", "TTD", "TWD", "TZS", "UAH", "UGX", "USD", "USN", "UYI", "UYU", "UYW", "UZS", "VED", "VES", "VND", "VUV", "WST", "XAF", "XCD", "XCG", "XDR", "XOF", "XPF", "YER", "ZAR", "ZMW", "ZWG"]
"""
ISO 4217 currency code, for example `USD`.
"""


CountryCode: TypeAlias = Literal["AD", "AE", "AF", "AG", "AI", "AL", "AM", "AO", "AQ", "AR", "AS", "AT", "AU", "AW", "AX", "AZ", "BA", "BB", "BD", "BE", "BF", "BG", "BH", "BI", "BJ", "BL", "BM", "BN", "BO", "BQ", "BR", "BS", "BT", "BV", "BW", "BY", "BZ", "CA", "CC", "CD", "CF", "CG", "CH", "CI", "CK", "CL", "CM", "CN", "CO", "CR", "CU", "CV", "CW", "CX", "CY", "CZ", "DE", "DJ", "DK", "DM", "DO", "DZ", "EC", "EE", "EG", "EH", "ER", "ES", "ET", "FI", "FJ", "FK", "FM", "FO", "FR", "GA", "GB", "GD", "GE", "GF", "GG", "GH", "GI", "GL", "GM", "GN", "GP", "GQ", "GR", "GS", "GT", "GU", "GW", "GY", "HK", "HM", "HN", "HR", "HT", "HU", "ID", "IE", "IL", "IM", "IN", "IO", "IQ", "IR", "IS", "IT", "JE", "JM", "JO", "JP", "KE", "KG", "KH", "KI", "KM", "KN", "KP", "KR", "KW", "KY", "KZ", "LA", "LB", "LC", "LI", "LK", "LR", "LS", "LT", "LU", "LV", "LY", "MA", "MC", "MD", "ME", "MF", "MG", "MH", "MK", "ML", "MM", "MN", "MO", "MP", "MQ", "MR", "MS", "MT", "MU", "MV", "MW", "MX", "MY", "MZ", "NA", "NC", "NE", "NF", "NG", "NI", "NL", "NO", "NP", "NR", "NU", "NZ", "OM", "PA", "PE", "PF", "PG", "PH", "PK", "PL", "PM", "PN", "PR", "PS", "PT", "PW", "PY", "QA", "RE", "RO", "RS", "RU", "RW", "SA", "SB", "SC", "SD", "SE", "SG", "SH", "SI", "SJ", "SK", "SL", "SM", "SN", "SO", "SR", "SS", "ST", "SV", "SX", "SY", "SZ", "TC", "TD", "TF", "TG", "TH", "TJ", "TK", "TL", "TM", "TN", "TO", "TR", "TT", "TV", "TW", "TZ", "UA", "UG", "UM", "US", "UY", "UZ", "VA", "VC", "VE", "VG", "VI", "VN", "VU", "WF", "WS", "YE", "YT", "ZA", "ZM", "ZW"]
"""
ISO 3166-1 alpha-2 country code, for example `US`.
"""


@attrs.frozen(kw_only=True)
class BulkEventReportItem:
    """What happened to one item of a bulk request."""

    index: Annotated[int, annotated_types.Ge(0)] = attrs.field(
        metadata={"wire": "index"}
    )
    """The item's zero-based position in the request's `events`."""
    status: Literal["queued", "rejected"] = attrs.field(metadata={"wire": "status"})
    """`queued`: accepted for storage; `rejected`: dropped."""
    event_id: str | None = attrs.field(default=None, metadata={"wire": "eventId"})
    """The stored event's id, for a queued item when the server gives one."""
    event_name: str | None = attrs.field(default=None, metadata={"wire": "eventName"})
    """The item's `eventName`, when it had a readable one."""
    error: str | None = attrs.field(default=None, metadata={"wire": "error"})
    """Why a rejected item was dropped."""


@attrs.frozen(kw_only=True)
class ProblemItem:
    """One broken rule."""

    path: str = attrs.field(metadata={"wire": "path"})
    """JSONPath of the offending value, for example `$.customer.phoneNumber`."""
    rule: str = attrs.field(metadata={"wire": "rule"})
    """Stable identifier of the rule, for example `format` or `required`."""
    message: str = attrs.field(metadata={"wire": "message"})
    """What is wrong."""
    hint: str | None = attrs.field(default=None, metadata={"wire": "hint"})
    """How to fix it."""


@attrs.frozen(kw_only=True)
class Location:
    """The customer's postal address and position."""

    street1: Annotated[str, annotated_types.MaxLen(102400)] | None = attrs.field(
        default=None, metadata={"wire": "street1"}
    )
    """First line of the street address."""
    street2: Annotated[str, annotated_types.MaxLen(102400)] | None = attrs.field(
        default=None, metadata={"wire": "street2"}
    )
    """Second line of the street address."""
    city: Annotated[str, annotated_types.MaxLen(102400)] | None = attrs.field(
        default=None, metadata={"wire": "city"}
    )
    """City."""
    state: Annotated[str, annotated_types.MaxLen(102400)] | None = attrs.field(
        default=None, metadata={"wire": "state"}
    )
    """State, province or region, in full."""
    state_code: Annotated[str, annotated_types.MaxLen(102400)] | None = attrs.field(
        default=None, metadata={"wire": "stateCode"}
    )
    """State code, for example `WA`."""
    postal_code: Annotated[str, annotated_types.MaxLen(102400)] | None = attrs.field(
        default=None, metadata={"wire": "postalCode"}
    )
    """Postal code, as a string (`98101`)."""
    country: Annotated[str, annotated_types.MaxLen(102400)] | None = attrs.field(
        default=None, metadata={"wire": "country"}
    )
    """Country name, in full."""
    country_code: CountryCode | None = attrs.field(
        default=None, metadata={"wire": "countryCode"}
    )
    iana_time_zone_name: str | None = attrs.field(
        default=None, metadata={"wire": "ianaTimeZoneName"}
    )
    """IANA time zone id, for example `America/Los_Angeles`."""
    latitude: (
        Annotated[float, annotated_types.Ge(-90), annotated_types.Le(90)] | None
    ) = attrs.field(default=None, metadata={"wire": "latitude"})
    """Latitude in decimal degrees."""
    longitude: (
        Annotated[float, annotated_types.Ge(-180), annotated_types.Le(180)] | None
    ) = attrs.field(default=None, metadata={"wire": "longitude"})
    """Longitude in decimal degrees."""


EventData: TypeAlias = dict[str, PropertyValue | Extra]
"""
Event-specific properties. Top-level values are strings, numbers,
booleans or `null`, and are segmentable. Objects and arrays belong under
`$extra`, which is stored verbatim and never indexed.

`$extra` (Extra, optional).
"""


@attrs.frozen(kw_only=True)
class BulkEventsReport:
    """A per-event account of one bulk request. Not part of the published
    answer (202 with no body), but held in Redo's own schema sources: a
    client that gets a 2xx bulk answer with this body reports the server's
    per-event rejections (see x-redo-bulk-report on the bulk operation).
    """

    total: Annotated[int, annotated_types.Ge(0)] = attrs.field(
        metadata={"wire": "total"}
    )
    """Items in the request."""
    accepted: Annotated[int, annotated_types.Ge(0)] = attrs.field(
        metadata={"wire": "accepted"}
    )
    """Items queued for storage."""
    rejected: Annotated[int, annotated_types.Ge(0)] = attrs.field(
        metadata={"wire": "rejected"}
    )
    """Items dropped."""
    events: list[BulkEventReportItem] = attrs.field(metadata={"wire": "events"})
    """One entry per request item, in request order."""


@attrs.frozen(kw_only=True)
class ProblemDetails:
    """An RFC 7807 problem details body."""

    type: str | None = attrs.field(default=None, metadata={"wire": "type"})
    """A URI reference that identifies the problem type."""
    title: str | None = attrs.field(default=None, metadata={"wire": "title"})
    """A short summary of the problem type."""
    status: Annotated[int, annotated_types.Ge(100), annotated_types.Le(599)] | None = (
        attrs.field(default=None, metadata={"wire": "status"})
    )
    """The HTTP status code."""
    detail: str | None = attrs.field(default=None, metadata={"wire": "detail"})
    """What went wrong in this occurrence."""
    instance: str | None = attrs.field(default=None, metadata={"wire": "instance"})
    """A URI reference for this occurrence."""
    errors: list[ProblemItem] | None = attrs.field(
        default=None, metadata={"wire": "errors"}
    )
    """Every rule the request broke, each located by its wire path."""


@attrs.frozen(kw_only=True)
class Customer:
    """Who the event is about. At least one identifier (`id`, `email`,
    `phoneNumber`) is required; every other field is optional profile data.

    The identifier rule is the `allOf`/`anyOf` below. Generated clients do
    not enforce it: openapi-python-client, datamodel-code-generator,
    openapi-typescript and openapi-generator all make a `Customer` whose
    fields are all optional, whichever of the shapes that state the rule
    is used (this one generates the fewest surprises). Check it before
    sending with redo-kit (`redo_kit.validate_event`, `redo-kit validate`)
    or with any JSON Schema 2020-12 validator over this schema.
    """

    id: str | None = attrs.field(default=None, metadata={"wire": "id"})
    """Redo customer id (a 24-hex-digit ObjectId)."""
    email: Annotated[str, annotated_types.MaxLen(320)] | None = attrs.field(
        default=None, metadata={"wire": "email"}
    )
    """The customer's email address."""
    phone_number: str | None = attrs.field(
        default=None, metadata={"wire": "phoneNumber"}
    )
    """The customer's phone number in E.164 form, for example `+12065550100`."""
    first_name: Annotated[str, annotated_types.MaxLen(102400)] | None = attrs.field(
        default=None, metadata={"wire": "firstName"}
    )
    """Given name."""
    last_name: Annotated[str, annotated_types.MaxLen(102400)] | None = attrs.field(
        default=None, metadata={"wire": "lastName"}
    )
    """Family name."""
    location: Location | None = attrs.field(default=None, metadata={"wire": "location"})
    custom_fields: CustomFields | None = attrs.field(
        default=None, metadata={"wire": "customFields"}
    )


@attrs.frozen(kw_only=True)
class Event:
    """One custom event for one customer."""

    event_name: Annotated[str, annotated_types.MinLen(1), annotated_types.MaxLen(102400)] = attrs.field(
        metadata={"wire": "eventName"}
    )
    """The event's name, for example `Order Placed`."""
    customer: Customer = attrs.field(metadata={"wire": "customer"})
    event_timestamp: DateTime | None = attrs.field(
        default=None, metadata={"wire": "eventTimestamp"}
    )
    """When the event happened, as an RFC 3339 date-time (for example
    `2026-04-02T12:00:00Z`). Defaults to the time of ingestion.
    """
    value: float | None = attrs.field(default=None, metadata={"wire": "value"})
    """A monetary or conversion value associated with the event."""
    value_currency: CurrencyCode | None = attrs.field(
        default=None, metadata={"wire": "valueCurrency"}
    )
    unique_id: (
        Annotated[str, annotated_types.MinLen(1), annotated_types.MaxLen(255)] | None
    ) = attrs.field(default=None, metadata={"wire": "uniqueId"})
    """Idempotency key. The first event stored with a given uniqueId in a
    store wins; later ones are accepted and discarded.
    """
    data: EventData | None = attrs.field(default=None, metadata={"wire": "data"})


@attrs.frozen(kw_only=True)
class BulkEventsRequest:
    """1 to 100 events, each validated on its own."""

    events: Annotated[list[Event], annotated_types.MinLen(1), annotated_types.MaxLen(100)] = attrs.field(
        metadata={"wire": "events"}
    )
    """The events, stored in order."""
