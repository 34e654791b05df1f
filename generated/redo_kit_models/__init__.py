# Generated from spec/redo-events.openapi.yaml (sha256 a49bab52e98d47dee4ff775d3befbc21209f8bebc20f2ee7197d91d743c05be8)
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
