# Generated from spec/redo-events.openapi.yaml (sha256 1aaebaafb96a286a1ee81fa5499f476b23ef81b7be2bad3b90310b33f1f9200e)
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
