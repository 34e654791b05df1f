"""The spec at run time: the OpenAPI document and its schemas compiled once.

The client, the emulator and ``validate_event`` all validate with these same
compiled validators, so a payload the client lets through is one the emulator
accepts, and both follow the spec to the letter. The document is read from the
``openapi.json`` that ``scripts/generate`` writes beside the models, so no YAML
parser is needed at run time.

Everything computed from the document (validators, limits, patterns) is
declared with :func:`derived`: computed once per document, so that a changed
spec moves every rule that reads it. Two ways put another document in place:

- :func:`using`, for the whole process (tests that prove a rule follows the
  spec);
- :func:`within`, for the current thread or task only: events of a package
  that ``redo-kit generate`` wrote from another spec are checked against
  that package's own ``openapi.json`` (:func:`package_document`).

Schemas are found by the part they play, not by their names
(:func:`component`): ``"Customer"`` is whatever ``Event.customer`` refers to,
so a spec that renames a schema keeps every rule.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import re
import threading
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
    "package_document",
    "request_examples",
    "schema_name",
    "using",
    "validator",
    "wire_path",
    "within",
]

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

F = TypeVar("F", bound=Callable[..., Any])
_DERIVED: list[Any] = []


_local: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar(
    "redo_kit_spec_document", default=None
)
# Values derived from documents given to within(), by the document's id. Each
# entry holds its document, so that the id cannot be reused while it is there.
_local_values: dict[int, tuple[dict[str, Any], dict[tuple[Any, ...], Any]]] = {}


def derived(function: F) -> F:
    """Cache ``function``, a function of the spec document, per document.

    The document in use is the shipped one, or :func:`using`'s, or
    :func:`within`'s for this thread or task.
    """
    cached = functools.cache(function)
    _DERIVED.append(cached)

    @functools.wraps(function)
    def per_document(*args: Any) -> Any:
        local = _local.get()
        if local is None:
            return cached(*args)
        entry = _local_values.get(id(local))
        if entry is None or entry[0] is not local:
            entry = _local_values[id(local)] = (local, {})
        values = entry[1]
        key = (function, *args)
        try:
            return values[key]
        except KeyError:
            # Two threads may compute one value at once; either result is right.
            value = values[key] = function(*args)
            return value

    return per_document  # type: ignore[return-value]  # the wrapper keeps the signature


@functools.cache
def _shipped() -> dict[str, Any]:
    raw = resources.files("redo_kit_models").joinpath("openapi.json").read_bytes()
    loaded: dict[str, Any] = orjson.loads(raw)
    return loaded


_override: list[dict[str, Any]] = []


def document() -> dict[str, Any]:
    """The OpenAPI document in use, as parsed JSON (do not mutate it)."""
    local = _local.get()
    if local is not None:
        return local
    return _override[-1] if _override else _shipped()


@contextlib.contextmanager
def within(spec: dict[str, Any]) -> Iterator[None]:
    """Make ``spec`` the document every rule reads, in this thread or task only.

    Values derived from ``spec`` are kept while the process lives: pass the
    same parsed document each time (:func:`package_document` does).
    """
    token = _local.set(spec)
    try:
        yield
    finally:
        _local.reset(token)


_packages: dict[str, dict[str, Any]] = {}
_packages_lock = threading.Lock()


def package_document(module: str) -> dict[str, Any] | None:
    """The spec shipped by the generated package that holds ``module``; ``None`` for redo-kit's.

    ``redo-kit generate`` writes ``openapi.json`` beside each package's
    ``models.py``: ``"shop_events.models"`` reads ``shop_events/openapi.json``.
    Raises ``ConfigurationError`` when the package has no readable spec.
    """
    package = module.rpartition(".")[0] or module
    if package == "redo_kit_models":
        return None
    with _packages_lock:
        found = _packages.get(package)
        if found is None:
            found = _packages[package] = _read_package_spec(package)
    return found


def _read_package_spec(package: str) -> dict[str, Any]:
    from redo_kit._errors import ConfigurationError

    try:
        raw = resources.files(package).joinpath("openapi.json").read_bytes()
        loaded = orjson.loads(raw)
    except (ImportError, OSError, orjson.JSONDecodeError) as exc:
        raise ConfigurationError(
            f"package {package!r} has no readable openapi.json beside its models: "
            "regenerate it with `redo-kit generate`"
        ) from exc
    if not isinstance(loaded, dict) or "components" not in loaded:
        raise ConfigurationError(
            f"{package}/openapi.json is not an OpenAPI document: regenerate it with "
            "`redo-kit generate`"
        )
    return loaded


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
        cached.cache_clear()


def request_examples(*, bulk: bool = False) -> dict[str, Any]:
    """The guide's examples the spec carries for one operation, by name (do not mutate)."""
    path = "/stores/{storeId}/events/bulk" if bulk else "/stores/{storeId}/events"
    body = document()["paths"][path]["post"]["requestBody"]["content"]["application/json"]
    return {name: example["value"] for name, example in body["examples"].items()}


# Where each schema redo-kit reads sits in the document: the schema that a
# role's path leads to, from an operation's request body or another role.
_SINGLE_BODY = ("paths", "/stores/{storeId}/events", "post", "requestBody", "content",
                "application/json", "schema")  # fmt: skip
_BULK_BODY = ("paths", "/stores/{storeId}/events/bulk", "post", "requestBody", "content",
              "application/json", "schema")  # fmt: skip
_ROLES: dict[str, tuple[str | None, tuple[str | int, ...]]] = {
    "Event": (None, _SINGLE_BODY),
    "BulkEventsRequest": (None, _BULK_BODY),
    "Customer": ("Event", ("properties", "customer")),
    "EventData": ("Event", ("properties", "data")),
    "DateTime": ("Event", ("properties", "eventTimestamp")),
    "CurrencyCode": ("Event", ("properties", "valueCurrency")),
    "Location": ("Customer", ("properties", "location")),
    "CustomFields": ("Customer", ("properties", "customFields")),
    "CountryCode": ("Location", ("properties", "countryCode")),
    "Extra": ("EventData", ("properties", "$extra")),
}
_REF = "#/components/schemas/"


@derived
def schema_name(role: str) -> str:
    """The name the document gives the schema playing ``role`` (``"Customer"`` -> ``"Person"``).

    A role is the name in redo-kit's own spec. It is found by the place the
    schema holds (``Event.customer``), so a spec that renamed the schema is
    read as well as the original; a role the document has no place for is
    looked up by its own name.
    """
    found = _role_ref(role)
    return found if found is not None else role


def _role_ref(role: str) -> str | None:
    start, path = _ROLES.get(role, (None, ()))
    if not path:
        return None
    node: Any = document() if start is None else component(start)
    for step in path:
        if not isinstance(node, dict) or step not in node:
            return None
        node = node[step]
    ref = node.get("$ref") if isinstance(node, dict) else None
    if isinstance(ref, str) and ref.startswith(_REF):
        return ref[len(_REF) :]
    return None


def component(role: str) -> dict[str, Any]:
    """The component schema playing ``role`` (``"Event"``, ``"Customer"``, ...; see schema_name)."""
    schema: dict[str, Any] = document()["components"]["schemas"][schema_name(role)]
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
def validator(role: str) -> jsonschema_rs.Draft202012Validator:
    """A compiled validator for the component playing ``role``, with formats enforced."""
    return jsonschema_rs.Draft202012Validator(
        _rooted({"$ref": f"{_REF}{schema_name(role)}"}), validate_formats=True
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
