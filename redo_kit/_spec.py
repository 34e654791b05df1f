"""The spec at run time: the OpenAPI document and its schemas compiled once.

The client, the emulator and ``validate_event`` all validate with these same
compiled validators, so a payload the client lets through is one the emulator
accepts, and both follow the spec to the letter. The document is read from the
``openapi.json`` that ``scripts/generate`` writes beside the models, so no YAML
parser is needed at run time.

Everything computed from the document (validators, limits, patterns) is
declared with :func:`derived`: computed once, and recomputed when
:func:`using` puts another document in its place, so that a changed spec
moves every rule that reads it.
"""

from __future__ import annotations

import contextlib
import functools
import re
from collections.abc import Callable, Iterator, Sequence
from importlib import resources
from typing import Any, TypeVar

import jsonschema_rs
import orjson

__all__ = [
    "as_written",
    "bulk_envelope_validator",
    "bulk_report_validator",
    "component",
    "derived",
    "document",
    "request_examples",
    "using",
    "validator",
    "wire_path",
]

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

F = TypeVar("F", bound=Callable[..., Any])
_DERIVED: list[Any] = []


def derived(function: F) -> F:
    """Cache ``function``, a function of the spec document, until the document changes."""
    cached = functools.cache(function)
    _DERIVED.append(cached)
    return cached  # type: ignore[return-value]  # functools.cache keeps the signature


@derived
def _shipped() -> dict[str, Any]:
    raw = resources.files("redo_kit_models").joinpath("openapi.json").read_bytes()
    loaded: dict[str, Any] = orjson.loads(raw)
    return loaded


_override: list[dict[str, Any]] = []


def document() -> dict[str, Any]:
    """The OpenAPI document, as parsed JSON (do not mutate it)."""
    return _override[-1] if _override else _shipped()


@contextlib.contextmanager
def using(spec: dict[str, Any]) -> Iterator[None]:
    """Make ``spec`` (a whole OpenAPI document, parsed) the document every rule reads.

    For tests that prove a rule follows the spec: inside the block, every
    :func:`derived` value is recomputed from ``spec``; after it, from the
    shipped document again. Not thread-safe: nothing else may run meanwhile.
    """
    _override.append(spec)
    _clear()
    try:
        yield
    finally:
        _override.pop()
        _clear()


def _clear() -> None:
    for cached in _DERIVED:
        if cached is not _shipped:
            cached.cache_clear()


def request_examples(*, bulk: bool = False) -> dict[str, Any]:
    """The guide's examples the spec carries for one operation, by name (do not mutate)."""
    path = "/stores/{storeId}/events/bulk" if bulk else "/stores/{storeId}/events"
    body = document()["paths"][path]["post"]["requestBody"]["content"]["application/json"]
    return {name: example["value"] for name, example in body["examples"].items()}


def component(name: str) -> dict[str, Any]:
    """The component schema called ``name`` (``"Event"``, ``"Customer"``, ...)."""
    schema: dict[str, Any] = document()["components"]["schemas"][name]
    return schema


def _rooted(schema: dict[str, Any]) -> dict[str, Any]:
    # Component refs are "#/components/schemas/X": give every compiled schema
    # the document's components so they resolve.
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        **schema,
        "components": {"schemas": document()["components"]["schemas"]},
    }


@derived
def validator(name: str) -> jsonschema_rs.Draft202012Validator:
    """A compiled validator for component ``name``, with formats enforced."""
    return jsonschema_rs.Draft202012Validator(
        _rooted({"$ref": f"#/components/schemas/{name}"}), validate_formats=True
    )


@derived
def bulk_envelope_validator() -> jsonschema_rs.Draft202012Validator:
    """The bulk request's envelope only: every item of ``events`` is checked on its own.

    Built from ``BulkEventsRequest`` with the item schema relaxed, as the
    spec's ``x-redo-bulk-validation`` says: a bad item is dropped, not a 400.
    """
    envelope = dict(component("BulkEventsRequest"))
    events = dict(envelope["properties"]["events"])
    events["items"] = True
    envelope["properties"] = {**envelope["properties"], "events": events}
    return jsonschema_rs.Draft202012Validator(_rooted(envelope), validate_formats=True)


@derived
def bulk_report_validator() -> jsonschema_rs.Draft202012Validator:
    """The bulk operation's per-event report (its ``x-redo-bulk-report`` schema)."""
    bulk = document()["paths"]["/stores/{storeId}/events/bulk"]["post"]
    return jsonschema_rs.Draft202012Validator(
        _rooted(bulk["x-redo-bulk-report"]["schema"]), validate_formats=True
    )


def wire_path(parts: Sequence[str | int], root: str = "$") -> str:
    """``["customer", "phoneNumber"]`` -> ``$.customer.phoneNumber``; odd keys bracketed."""
    out = [root]
    for part in parts:
        if isinstance(part, int) and not isinstance(part, bool):
            out.append(f"[{part}]")
            continue
        if not isinstance(part, str):
            # A key JSON cannot have (a number, a tuple): named as Python writes it.
            part = _text_of(part)
        if not part.isascii():
            # A lone surrogate cannot be written as UTF-8: show it escaped, so
            # that the path itself can always be printed and sent.
            part = part.encode("utf-8", "backslashreplace").decode("utf-8")
        if _IDENTIFIER.match(part):
            out.append(f".{part}")
        else:
            escaped = part.replace("\\", "\\\\").replace("'", "\\'")
            out.append(f"['{escaped}']")
    return "".join(out)


def as_written(instance: Any, path: Sequence[str | int]) -> list[str | int]:
    """``path`` from a jsonschema-rs error, each step typed by its container in ``instance``.

    jsonschema-rs reports an object key that looks like a number (``"0"``) as
    an integer; on the wire it is still a key, written ``['0']``.
    """
    parts: list[str | int] = []
    current = instance
    for part in path:
        if isinstance(current, dict):
            key = str(part)
            parts.append(key)
            current = current.get(key)
        elif isinstance(current, list) and isinstance(part, int) and 0 <= part < len(current):
            parts.append(part)
            current = current[part]
        else:
            parts.append(part)
            current = None
    return parts


def _text_of(part: object) -> str:
    try:
        return str(part)
    except Exception:  # a hostile __str__ must not hide the problem being reported
        return f"<{type(part).__name__}>"
