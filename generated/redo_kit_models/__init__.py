# Generated from spec/redo-events.openapi.yaml (sha256 caae4b832d92a52a579504a2f84fa269212573d79bcb1d4a7a435b83b1f79172)
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
