# Generated from spec/redo-events.openapi.yaml (sha256 45d2f86bc08986d829d800728afc8bce58e68a8196e5f0c188c157f43e0b50ea)
# by scripts/generate (datamodel-code-generator 0.89.0). Do not edit: change the spec and regenerate.

"""Models generated from spec/redo-events.openapi.yaml."""

from redo_kit_models.models import (
    BulkEventReportItem,
    BulkEventsReport,
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
    "BulkEventReportItem",
    "BulkEventsReport",
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
