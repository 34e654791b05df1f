# Generated from spec/redo-events.openapi.yaml (sha256 f300872a93edf1e204bbcbe5bd631c10a0616aab92023e92f7893424f29ad659)
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
