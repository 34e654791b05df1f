# Generated from spec/redo-events.openapi.yaml (sha256 22e1562e65ad20f37100092e003c4bbf84c08be6685acf91858b854fcd87ba9a)
# by scripts/generate (datamodel-code-generator 0.89.0). Do not edit: change the spec and regenerate.

"""Models generated from spec/redo-events.openapi.yaml."""

from redo_kit_models.models import (
    BulkEventsRequest,
    CountryCode,
    CurrencyCode,
    CustomFields,
    Customer,
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
    "Event",
    "EventData",
    "Extra",
    "Location",
    "Problem",
    "ProblemItem",
    "PropertyValue",
]
