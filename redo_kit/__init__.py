"""redo-kit: a schema-first toolkit for Redo's Custom Events API.

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
    "APIConnectionError": "redo_kit.errors",
    "APIError": "redo_kit.errors",
    "APIStatusError": "redo_kit.errors",
    "APITimeoutError": "redo_kit.errors",
    "AuthenticationError": "redo_kit.errors",
    "BadRequestError": "redo_kit.errors",
    "ConfigurationError": "redo_kit.errors",
    "ConversionError": "redo_kit.errors",
    "InternalServerError": "redo_kit.errors",
    "NotFoundError": "redo_kit.errors",
    "PayloadTooLargeError": "redo_kit.errors",
    "PermissionDeniedError": "redo_kit.errors",
    "Problem": "redo_kit.errors",
    "RateLimitError": "redo_kit.errors",
    "RedoError": "redo_kit.errors",
    "UnprocessableEntityError": "redo_kit.errors",
    "UnsupportedMediaTypeError": "redo_kit.errors",
    "ValidationError": "redo_kit.errors",
}

__all__ = [
    "APIConnectionError",
    "APIError",
    "APIStatusError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "ConfigurationError",
    "ConversionError",
    "InternalServerError",
    "NotFoundError",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "Problem",
    "RateLimitError",
    "RedoError",
    "UnprocessableEntityError",
    "UnsupportedMediaTypeError",
    "ValidationError",
    "__version__",
]

if TYPE_CHECKING:
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
        RateLimitError,
        RedoError,
        UnprocessableEntityError,
        UnsupportedMediaTypeError,
        ValidationError,
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
