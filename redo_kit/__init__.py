"""redo-kit: a schema-first toolkit for Redo's Custom Events API.

Names are imported on first use, so ``import redo_kit`` stays fast: the
generated models, the compiled JSON Schemas and urllib3 load only when a
caller touches them. ``redo_kit.testing`` (hypothesis strategies, pytest
fixtures) is not re-exported here: it needs the ``testing`` extra.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from redo_kit._version import __version__

# Public name -> module that defines it.
_EXPORTS: dict[str, str] = {
    "APIConnectionError": "redo_kit.errors",
    "APIError": "redo_kit.errors",
    "APIStatusError": "redo_kit.errors",
    "APITimeoutError": "redo_kit.errors",
    "AuthenticationError": "redo_kit.errors",
    "BadRequestError": "redo_kit.errors",
    "Batcher": "redo_kit.batcher",
    "BatcherStats": "redo_kit.batcher",
    "BulkEventsRequest": "redo_kit_models",
    "BulkResult": "redo_kit.client",
    "ConfigurationError": "redo_kit.errors",
    "ConversionError": "redo_kit.errors",
    "CountryCode": "redo_kit_models",
    "CsvInput": "redo_kit.csv_input",
    "CurrencyCode": "redo_kit_models",
    "CustomFields": "redo_kit_models",
    "Customer": "redo_kit_models",
    "DateTime": "redo_kit_models",
    "Duplicate": "redo_kit.client",
    "Emulator": "redo_kit.emulator",
    "Event": "redo_kit_models",
    "EventData": "redo_kit_models",
    "Extra": "redo_kit_models",
    "FlushResult": "redo_kit.batcher",
    "ImportProgress": "redo_kit.importer",
    "ImportResult": "redo_kit.importer",
    "InsecureTransportWarning": "redo_kit.transport",
    "InternalServerError": "redo_kit.errors",
    "LineRejection": "redo_kit.importer",
    "Location": "redo_kit_models",
    "MockTransport": "redo_kit.transport",
    "NOT_GIVEN": "redo_kit.client",
    "NO_RETRY": "redo_kit.retry",
    "NotFoundError": "redo_kit.errors",
    "PayloadTooLargeError": "redo_kit.errors",
    "PermissionDeniedError": "redo_kit.errors",
    "PreparedEvent": "redo_kit.events",
    "Problem": "redo_kit.errors",
    "ProblemDetails": "redo_kit_models",
    "ProblemItem": "redo_kit_models",
    "PropertyValue": "redo_kit_models",
    "QueueFullError": "redo_kit.errors",
    "RateLimitError": "redo_kit.errors",
    "RedoClient": "redo_kit.client",
    "RedoError": "redo_kit.errors",
    "Rejection": "redo_kit.client",
    "Request": "redo_kit.transport",
    "Response": "redo_kit.transport",
    "RetryPolicy": "redo_kit.retry",
    "SendResult": "redo_kit.client",
    "Timeout": "redo_kit.transport",
    "Transport": "redo_kit.transport",
    "UnprocessableEntityError": "redo_kit.errors",
    "UnsupportedMediaTypeError": "redo_kit.errors",
    "Urllib3Transport": "redo_kit.transport",
    "ValidationError": "redo_kit.errors",
    "build_event": "redo_kit.events",
    "check_event": "redo_kit.validation",
    "clean_data": "redo_kit.properties",
    "content_unique_id": "redo_kit.idempotency",
    "detect_type": "redo_kit.properties",
    "email_key": "redo_kit.identity",
    "import_events": "redo_kit.importer",
    "is_date": "redo_kit.properties",
    "is_ignored": "redo_kit.properties",
    "new_unique_id": "redo_kit.idempotency",
    "normalize_customer": "redo_kit.identity",
    "normalize_email": "redo_kit.identity",
    "normalize_object_id": "redo_kit.identity",
    "normalize_phone": "redo_kit.identity",
    "prepare_event": "redo_kit.events",
    "resolution_identifier": "redo_kit.identity",
    "spec_path": "redo_kit.codegen",
    "unique_id": "redo_kit.idempotency",
    "validate_bulk": "redo_kit.validation",
    "validate_event": "redo_kit.validation",
}

__all__ = [
    "NOT_GIVEN",
    "NO_RETRY",
    "APIConnectionError",
    "APIError",
    "APIStatusError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "Batcher",
    "BatcherStats",
    "BulkEventsRequest",
    "BulkResult",
    "ConfigurationError",
    "ConversionError",
    "CountryCode",
    "CsvInput",
    "CurrencyCode",
    "CustomFields",
    "Customer",
    "DateTime",
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
    "LineRejection",
    "Location",
    "MockTransport",
    "NotFoundError",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "PreparedEvent",
    "Problem",
    "ProblemDetails",
    "ProblemItem",
    "PropertyValue",
    "QueueFullError",
    "RateLimitError",
    "RedoClient",
    "RedoError",
    "Rejection",
    "Request",
    "Response",
    "RetryPolicy",
    "SendResult",
    "Timeout",
    "Transport",
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
    "email_key",
    "import_events",
    "is_date",
    "is_ignored",
    "new_unique_id",
    "normalize_customer",
    "normalize_email",
    "normalize_object_id",
    "normalize_phone",
    "prepare_event",
    "resolution_identifier",
    "spec_path",
    "unique_id",
    "validate_bulk",
    "validate_event",
]

if TYPE_CHECKING:
    from redo_kit.batcher import (
        Batcher,
        BatcherStats,
        FlushResult,
    )
    from redo_kit.client import (
        NOT_GIVEN,
        BulkResult,
        Duplicate,
        RedoClient,
        Rejection,
        SendResult,
    )
    from redo_kit.codegen import (
        spec_path,
    )
    from redo_kit.csv_input import CsvInput
    from redo_kit.emulator import (
        Emulator,
    )
    from redo_kit.errors import (
        APIConnectionError,
        APIError,
        APIStatusError,
        APITimeoutError,
        AuthenticationError,
        BadRequestError,
        ConfigurationError,
        ConversionError,
        InternalServerError,
        NotFoundError,
        PayloadTooLargeError,
        PermissionDeniedError,
        Problem,
        QueueFullError,
        RateLimitError,
        RedoError,
        UnprocessableEntityError,
        UnsupportedMediaTypeError,
        ValidationError,
    )
    from redo_kit.events import (
        PreparedEvent,
        build_event,
        prepare_event,
    )
    from redo_kit.idempotency import (
        content_unique_id,
        new_unique_id,
        unique_id,
    )
    from redo_kit.identity import (
        email_key,
        normalize_customer,
        normalize_email,
        normalize_object_id,
        normalize_phone,
        resolution_identifier,
    )
    from redo_kit.importer import (
        ImportProgress,
        ImportResult,
        LineRejection,
        import_events,
    )
    from redo_kit.properties import (
        clean_data,
        detect_type,
        is_date,
        is_ignored,
    )
    from redo_kit.retry import (
        NO_RETRY,
        RetryPolicy,
    )
    from redo_kit.transport import (
        InsecureTransportWarning,
        MockTransport,
        Request,
        Response,
        Timeout,
        Transport,
        Urllib3Transport,
    )
    from redo_kit.validation import (
        check_event,
        validate_bulk,
        validate_event,
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
