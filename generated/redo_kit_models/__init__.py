# Generated from spec/redo-events.openapi.yaml (sha256 2aefc4d8b5ee8af5b48728f32a5f1c891e17039ce2952b65c73688857a32e615)
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
    Problem,
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
    "Problem",
    "ProblemItem",
    "PropertyValue",
]
