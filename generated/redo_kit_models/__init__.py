# Generated from spec/redo-events.openapi.yaml (sha256 d7e05ddb78d56d17dd94169aa9d406ab1d20b7b274da60d70766a61eb0a4846e)
# by scripts/generate (datamodel-code-generator 0.89.0). Do not edit: change the spec and regenerate.

"""Models generated from spec/redo-events.openapi.yaml."""

from redo_kit_models.models import (
    BulkEventsRequest,
    CountryCode,
    CurrencyCode,
    CustomFields,
    Customer,
    DateTime,
    Event,
    EventData,
    Extra,
    Location,
    ProblemDetails,
    ProblemItem,
    PropertyValue,
)

__all__ = [
    "BulkEventsRequest",
    "CountryCode",
    "CurrencyCode",
    "CustomFields",
    "Customer",
    "DateTime",
    "Event",
    "EventData",
    "Extra",
    "Location",
    "ProblemDetails",
    "ProblemItem",
    "PropertyValue",
]
