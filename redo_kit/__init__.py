"""redo-kit: a schema-first toolkit for Redo's Custom Events API.

The public surface is this package's ``__all__`` and three subpackages:

- ``redo_kit.emulator``: the local Redo Events API (``Emulator``, ``ApiKey``);
- ``redo_kit.klaviyo``: Klaviyo Track, Create Event and bulk payloads as Redo
  events, with the fate of every field (``convert``, ``Tracker``);
- ``redo_kit.testing``: hypothesis strategies (``redo_kit.testing.strategies``)
  and pytest fixtures (``redo_kit.testing.plugin``); needs the ``testing``
  extra, so it is not re-exported here.

Every other module carries an underscore and may change without notice.
Names are imported on first use, so ``import redo_kit`` stays fast: the
generated models, the compiled JSON Schemas and urllib3 load only when a
caller touches them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from redo_kit._version import __version__

# Public name -> module that defines it.
_EXPORTS: dict[str, str] = {
    "APIConnectionError": "redo_kit._errors",
    "APIError": "redo_kit._errors",
    "APIStatusError": "redo_kit._errors",
    "APITimeoutError": "redo_kit._errors",
    "AsyncRedoClient": "redo_kit._async_client",
    "AuthenticationError": "redo_kit._errors",
    "BadRequestError": "redo_kit._errors",
    "Batcher": "redo_kit._batcher",
    "BatcherStats": "redo_kit._batcher",
    "BulkEventsRequest": "redo_kit_models",
    "BulkResult": "redo_kit._client",
    "ClientOptions": "redo_kit._client",
    "ClientSettings": "redo_kit._client",
    "ConfigurationError": "redo_kit._errors",
    "ConversionError": "redo_kit._errors",
    "CountryCode": "redo_kit_models",
    "CsvInput": "redo_kit._csv_input",
    "CurrencyCode": "redo_kit_models",
    "CustomFields": "redo_kit_models",
    "Customer": "redo_kit_models",
    "DateTime": "redo_kit_models",
    "DeliveryTimeoutError": "redo_kit._errors",
    "Duplicate": "redo_kit._client",
    "Emulator": "redo_kit.emulator",
    "Event": "redo_kit_models",
    "EventData": "redo_kit_models",
    "Extra": "redo_kit_models",
    "FlushResult": "redo_kit._batcher",
    "ImportProgress": "redo_kit._importer",
    "ImportResult": "redo_kit._importer",
    "InsecureTransportWarning": "redo_kit._transport",
    "InternalServerError": "redo_kit._errors",
    "KlaviyoFormatError": "redo_kit._errors",
    "LineRejection": "redo_kit._importer",
    "Location": "redo_kit_models",
    "MockTransport": "redo_kit._transport",
    "MockTransportExhausted": "redo_kit._transport",
    "NOT_GIVEN": "redo_kit._client",
    "NO_RETRY": "redo_kit._retry",
    "NotFoundError": "redo_kit._errors",
    "OutboxError": "redo_kit._errors",
    "PayloadTooLargeError": "redo_kit._errors",
    "PermissionDeniedError": "redo_kit._errors",
    "PlanError": "redo_kit._errors",
    "PlanEvent": "redo_kit._plan",
    "PlanProperty": "redo_kit._plan",
    "PrepareOptions": "redo_kit._events",
    "PreparedEvent": "redo_kit._events",
    "Problem": "redo_kit._errors",
    "ProblemDetails": "redo_kit_models",
    "ProblemItem": "redo_kit_models",
    "PropertyValue": "redo_kit_models",
    "QueueFullError": "redo_kit._errors",
    "RateLimitError": "redo_kit._errors",
    "RedisOutbox": "redo_kit._outbox_redis",
    "RedoClient": "redo_kit._client",
    "Relay": "redo_kit._relay",
    "RelayStats": "redo_kit._relay",
    "RedoError": "redo_kit._errors",
    "Rejection": "redo_kit._client",
    "Request": "redo_kit._transport",
    "Response": "redo_kit._transport",
    "RetryPolicy": "redo_kit._retry",
    "SendResult": "redo_kit._client",
    "SpecChange": "redo_kit._spec_diff",
    "SpecDiff": "redo_kit._spec_diff",
    "Timeout": "redo_kit._transport",
    "TrackingPlan": "redo_kit._plan",
    "Transport": "redo_kit._transport",
    "UnexpectedResponseError": "redo_kit._errors",
    "UnprocessableEntityError": "redo_kit._errors",
    "UnsupportedMediaTypeError": "redo_kit._errors",
    "Urllib3Transport": "redo_kit._transport",
    "ValidationError": "redo_kit._errors",
    "build_event": "redo_kit._events",
    "check_event": "redo_kit._validation",
    "clean_data": "redo_kit._properties",
    "content_unique_id": "redo_kit._idempotency",
    "detect_type": "redo_kit._properties",
    "dumps": "redo_kit._converter",
    "email_key": "redo_kit._rules",
    "import_events": "redo_kit._importer",
    "is_date": "redo_kit._properties",
    "is_ignored": "redo_kit._rules",
    "loads": "redo_kit._converter",
    "new_unique_id": "redo_kit._idempotency",
    "normalize_customer": "redo_kit._identity",
    "normalize_email": "redo_kit._identity",
    "normalize_object_id": "redo_kit._identity",
    "normalize_phone": "redo_kit._identity",
    "prepare_event": "redo_kit._events",
    "resolution_identifier": "redo_kit._identity",
    "set_testing": "redo_kit._retry",
    "spec_diff": "redo_kit._spec_diff",
    "spec_path": "redo_kit._codegen",
    "structure": "redo_kit._converter",
    "unique_id": "redo_kit._idempotency",
    "unstructure": "redo_kit._converter",
    "use_fleet_pacing": "redo_kit._fleet_pacing",
    "validate_bulk": "redo_kit._validation",
    "validate_event": "redo_kit._validation",
}

__all__ = [
    "NOT_GIVEN",
    "NO_RETRY",
    "APIConnectionError",
    "APIError",
    "APIStatusError",
    "APITimeoutError",
    "AsyncRedoClient",
    "AuthenticationError",
    "BadRequestError",
    "Batcher",
    "BatcherStats",
    "BulkEventsRequest",
    "BulkResult",
    "ClientOptions",
    "ClientSettings",
    "ConfigurationError",
    "ConversionError",
    "CountryCode",
    "CsvInput",
    "CurrencyCode",
    "CustomFields",
    "Customer",
    "DateTime",
    "DeliveryTimeoutError",
    "Duplicate",
    "Emulator",
    "Event",
    "EventData",
    "Extra",
    "FlushResult",
    "ImportProgress",
    "ImportResult",
    "InsecureTransportWarning",
    "InternalServerError",
    "KlaviyoFormatError",
    "LineRejection",
    "Location",
    "MockTransport",
    "MockTransportExhausted",
    "NotFoundError",
    "OutboxError",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "PlanError",
    "PlanEvent",
    "PlanProperty",
    "PrepareOptions",
    "PreparedEvent",
    "Problem",
    "ProblemDetails",
    "ProblemItem",
    "PropertyValue",
    "QueueFullError",
    "RateLimitError",
    "RedisOutbox",
    "RedoClient",
    "RedoError",
    "Rejection",
    "Relay",
    "RelayStats",
    "Request",
    "Response",
    "RetryPolicy",
    "SendResult",
    "SpecChange",
    "SpecDiff",
    "Timeout",
    "TrackingPlan",
    "Transport",
    "UnexpectedResponseError",
    "UnprocessableEntityError",
    "UnsupportedMediaTypeError",
    "Urllib3Transport",
    "ValidationError",
    "__version__",
    "build_event",
    "check_event",
    "clean_data",
    "content_unique_id",
    "detect_type",
    "dumps",
    "email_key",
    "import_events",
    "is_date",
    "is_ignored",
    "loads",
    "new_unique_id",
    "normalize_customer",
    "normalize_email",
    "normalize_object_id",
    "normalize_phone",
    "prepare_event",
    "resolution_identifier",
    "set_testing",
    "spec_diff",
    "spec_path",
    "structure",
    "unique_id",
    "unstructure",
    "use_fleet_pacing",
    "validate_bulk",
    "validate_event",
]

if TYPE_CHECKING:
    from redo_kit._async_client import AsyncRedoClient
    from redo_kit._batcher import (
        Batcher,
        BatcherStats,
        FlushResult,
    )
    from redo_kit._client import (
        NOT_GIVEN,
        BulkResult,
        ClientOptions,
        ClientSettings,
        Duplicate,
        RedoClient,
        Rejection,
        SendResult,
    )
    from redo_kit._codegen import (
        spec_path,
    )
    from redo_kit._converter import dumps, loads, structure, unstructure
    from redo_kit._csv_input import CsvInput
    from redo_kit._errors import (
        APIConnectionError,
        APIError,
        APIStatusError,
        APITimeoutError,
        AuthenticationError,
        BadRequestError,
        ConfigurationError,
        ConversionError,
        DeliveryTimeoutError,
        InternalServerError,
        KlaviyoFormatError,
        NotFoundError,
        OutboxError,
        PayloadTooLargeError,
        PermissionDeniedError,
        PlanError,
        Problem,
        QueueFullError,
        RateLimitError,
        RedoError,
        UnexpectedResponseError,
        UnprocessableEntityError,
        UnsupportedMediaTypeError,
        ValidationError,
    )
    from redo_kit._events import (
        PreparedEvent,
        PrepareOptions,
        build_event,
        prepare_event,
    )
    from redo_kit._fleet_pacing import use_fleet_pacing
    from redo_kit._idempotency import (
        content_unique_id,
        new_unique_id,
        unique_id,
    )
    from redo_kit._identity import (
        normalize_customer,
        normalize_email,
        normalize_object_id,
        normalize_phone,
        resolution_identifier,
    )
    from redo_kit._importer import (
        ImportProgress,
        ImportResult,
        LineRejection,
        import_events,
    )
    from redo_kit._outbox_redis import RedisOutbox
    from redo_kit._plan import PlanEvent, PlanProperty, TrackingPlan
    from redo_kit._properties import (
        clean_data,
        detect_type,
        is_date,
    )
    from redo_kit._relay import Relay, RelayStats
    from redo_kit._retry import (
        NO_RETRY,
        RetryPolicy,
        set_testing,
    )
    from redo_kit._rules import email_key, is_ignored
    from redo_kit._spec_diff import SpecChange, SpecDiff, spec_diff
    from redo_kit._transport import (
        InsecureTransportWarning,
        MockTransport,
        MockTransportExhausted,
        Request,
        Response,
        Timeout,
        Transport,
        Urllib3Transport,
    )
    from redo_kit._validation import (
        check_event,
        validate_bulk,
        validate_event,
    )
    from redo_kit.emulator import (
        Emulator,
    )
    from redo_kit_models import (
        BulkEventsRequest,
        CountryCode,
        CurrencyCode,
        Customer,
        CustomFields,
        DateTime,
        Event,
        EventData,
        Extra,
        Location,
        ProblemDetails,
        ProblemItem,
        PropertyValue,
    )


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'redo_kit' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
