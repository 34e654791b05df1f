"""What a new OpenAPI 3.1 spec breaks, compared with an old one, for a regenerated client.

:func:`spec_diff` compares two documents (YAML or JSON files, parsed
documents, or ``"shipped"``: the spec installed with redo-kit) and lists every
change as a :class:`SpecChange`: where (``#/components/schemas/Customer/properties/email``,
a JSON pointer), what (a stable ``kind`` such as ``property-removed``), whether
it is BREAKING, and a one-line message. ``redo-kit spec diff OLD NEW`` prints
them and exits 1 when anything breaks.

A change is breaking when a client generated from the old spec, or the
payloads it sends, stops working against the new one. Whether a change to a
schema breaks depends on who writes the data it describes, so every component
schema is judged by where the operations use it:

- sent (request bodies, parameters): a change that refuses a payload the old
  spec accepted breaks (a lower ``maxLength``, a higher ``minimum``, a new or
  changed ``pattern``, a narrower ``type`` or ``format``, a removed ``enum``
  value or ``anyOf`` branch, a newly required field, ``additionalProperties``
  closed); widening never does;
- received (responses): the reverse, since the old client validates and parses
  what it receives: a widening breaks (an added ``enum`` value, a dropped
  ``required``, a higher ``maximum``) and a narrowing does not;
- both, and schemas reached from an ``x-redo-*`` extension (the bulk
  operation's ``x-redo-bulk-report``), whose direction the spec does not say:
  any narrowing or widening breaks. A schema no operation reaches is judged as
  sent.

So an added enum value is non-breaking where clients only send the enum (a new
currency in ``CurrencyCode``) and breaking where they receive it (a new
``status`` of ``BulkEventReportItem``: an exhaustive ``match`` over the old
values misses it). Some changes break in every direction: a removed operation,
path, response, media type, property or schema (the generated model is gone),
a changed ``operationId``, ``pattern`` or unrelated ``format``, a renamed
schema (payloads are unchanged but the generated model's name is not), and
any JSON Schema keyword this module does not know. An added optional property,
an added operation, path, response or schema, and documentation
(``description``, ``summary``, ``title``, ``examples``, ``info.version``)
never break.

Formats follow the generators: ``double`` and ``int64`` are what a JSON number
is read as anyway, so stating one on a bare ``number`` or ``integer`` admits the
same values and widens the generated type (non-breaking), while dropping one
lets a generator pick its narrower default (Go's: ``float32``), which breaks
every regenerated client. ``double`` to ``float`` and ``int64`` to ``int32``
narrow; any other format added narrows. A property removed from the
``properties`` of a schema or of an ``allOf`` branch takes a generated field
away and always breaks; under ``if``/``then``/``else``/``not`` no generator
makes a field, so there the removal only widens what validates (or narrows,
when that subschema refuses other keys).

``x-redo-*`` extensions hold Redo's rules, and redo-kit itself reads them at
run time. Every number in them is a ceiling (bytes, depth, requests per second,
the largest integer): down is breaking (``x-redo-limit-decreased``), up is not.
Their prose (``x-redo-sources``, ``x-redo-assumption``, any ``description``,
and every string value with a space in it) is non-breaking
``x-redo-text-changed``: "rule text changed, review". Every other change of an
``x-redo-*`` value (a token such as ``casefold``, a flag, a ``$ref``, an added,
removed or reshaped rule) is breaking ``x-redo-rule-changed``,
``x-redo-rule-added`` or ``x-redo-rule-removed``. Other ``x-`` extensions are
non-breaking ``extension-changed``.

``$ref`` is resolved within each document. A component schema is compared
once, at its own location; a reference that now points elsewhere is compared
with its new target inline, each pair of references once, so that cyclic
schemas end. A schema that disappears while another with the same structure
(documentation aside) appears is reported as ``schema-renamed``, not as a
removal and an addition, and a reference to the old name is the same reference
as one to the new. Component parameters,
responses and request bodies are compared where the operations use them.

The constructs compared are those of OpenAPI 3.1 and of JSON Schema 2020-12
that redo-kit's own spec uses; anything else that differs is reported, as
breaking, under ``schema-keyword-changed`` or ``field-changed``, so that no
difference goes unseen. Documents are walked iteratively: a deep schema cannot
exhaust the stack.
"""

from __future__ import annotations

import enum
import os
import re
from collections.abc import Iterator, Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import attrs
import orjson

from redo_kit._errors import ConfigurationError

__all__ = ["SHIPPED", "SpecChange", "SpecDiff", "load_spec", "spec_diff"]

SHIPPED = "shipped"
"""The name that stands for the spec installed with redo-kit, wherever a file is expected."""

_REQUEST = "request"
_RESPONSE = "response"
_SENT = frozenset({_REQUEST})
_RECEIVED = frozenset({_RESPONSE})
_EITHER = frozenset({_REQUEST, _RESPONSE})
# Said after a change whose verdict depends on who writes the data.
_WHO = {_SENT: "clients send it", _RECEIVED: "clients receive it", _EITHER: "sent and received"}

_SCHEMAS = "#/components/schemas/"
_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
_DOC_KEYS = frozenset(
    {"description", "title", "summary", "examples", "example", "$comment", "externalDocs", "tags"}
)
_CEILINGS = ("maxLength", "maxItems", "maxProperties", "maximum", "exclusiveMaximum")
_FLOORS = ("minLength", "minItems", "minProperties", "minimum", "exclusiveMinimum")
# Keywords holding one subschema; absent means the always-true schema.
_SUBSCHEMAS = (
    "additionalProperties",
    "items",
    "propertyNames",
    "then",
    "else",
    "contains",
    "unevaluatedProperties",
    "unevaluatedItems",
)
# Keywords whose value maps names to subschemas: their keys are names, not keywords.
_SCHEMA_MAPS = frozenset({"properties", "patternProperties", "$defs", "dependentSchemas"})
# (narrower, wider) formats of one type: a value of the first always fits the second.
_WIDER_FORMAT = frozenset({("float", "double"), ("int32", "int64")})
# The widest format of number and of integer: what a JSON number is read as
# anyway, so stating it admits the same values. Without it a generator picks its
# own default, which may be narrower (Go's openapi-generator: float32).
_WIDEST_FORMATS = frozenset({"double", "int64"})
_PROSE_RULES = frozenset({"x-redo-sources", "x-redo-assumption"})
_GENERATED_MARK = "x-generated-from"
# A YAML document whose aliases expand beyond this many values is refused rather
# than copied: a few lines of anchors can otherwise fill the memory.
_MAX_VALUES = 2_000_000
_REF_HOPS = 64
_SHOWN = 60


class _Effect(enum.Enum):
    """How a change moves the set of valid data, which decides whom it breaks."""

    NARROWS = "narrows"  # breaks those who send such data
    WIDENS = "widens"  # breaks those who receive it
    ALWAYS = "always"
    NEVER = "never"


@attrs.frozen(kw_only=True)
class SpecChange:
    """One difference between two specs."""

    location: str
    """A JSON pointer into the spec, such as ``#/components/schemas/Event/properties/uniqueId``."""
    kind: str
    """A stable id of the change, such as ``max-length-decreased``."""
    breaking: bool
    """True when a client generated from the old spec, or its payloads, break on the new one."""
    message: str
    """One line saying what changed, for people."""

    def to_dict(self) -> dict[str, Any]:
        """The change as JSON-ready data (``redo-kit spec diff --format json``)."""
        return {
            "location": self.location,
            "kind": self.kind,
            "breaking": self.breaking,
            "message": self.message,
        }


@attrs.frozen(kw_only=True)
class SpecDiff:
    """Every change between two specs, breaking ones first, then by location."""

    changes: tuple[SpecChange, ...]

    @property
    def breaking(self) -> tuple[SpecChange, ...]:
        """The changes that break a client generated from the old spec."""
        return tuple(change for change in self.changes if change.breaking)

    @property
    def is_breaking(self) -> bool:
        """True when at least one change breaks."""
        return any(change.breaking for change in self.changes)

    def kinds(self) -> set[str]:
        """The kinds of every change, as a set."""
        return {change.kind for change in self.changes}

    def to_dict(self) -> dict[str, Any]:
        """``{"breaking": bool, "summary": {...}, "changes": [...]}``, ready for JSON."""
        broken = len(self.breaking)
        return {
            "breaking": broken > 0,
            "summary": {"breaking": broken, "non_breaking": len(self.changes) - broken},
            "changes": [change.to_dict() for change in self.changes],
        }


def spec_diff(
    old: str | os.PathLike[str] | Mapping[str, Any], new: str | os.PathLike[str] | Mapping[str, Any]
) -> SpecDiff:
    """Compare two OpenAPI 3.1 specs: each a file (YAML or JSON), ``"shipped"``, or a parsed one.

    Raises ``ConfigurationError`` naming the file when one cannot be read or
    is not an OpenAPI 3.1 document.
    """
    return _Differ(_document(old, "old"), _document(new, "new")).run()


def load_spec(source: str | os.PathLike[str]) -> dict[str, Any]:
    """The OpenAPI 3.1 document in file ``source`` (YAML or JSON), or the shipped one.

    ``"shipped"`` reads the spec installed with redo-kit (its JSON copy beside
    the models, so no YAML parser is needed). YAML needs PyYAML (the
    ``codegen`` extra). Raises ``ConfigurationError`` naming the file when it
    cannot be read or parsed, or is not an OpenAPI 3.1 document.
    """
    if isinstance(source, str) and source == SHIPPED:
        # redo-kit's own document, never the one a `within` or `using` block
        # put in its place: "shipped" names the installed file.
        raw = resources.files("redo_kit_models").joinpath("openapi.json").read_bytes()
        loaded = orjson.loads(raw)
        shipped = {key: value for key, value in loaded.items() if key != _GENERATED_MARK}
        return _checked(_plain(shipped, "the shipped spec"), "the shipped spec")
    path = Path(source)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigurationError(f"cannot read the spec {path}: {exc.strerror or exc}") from exc
    return _checked(_plain(_parse(raw, path), str(path)), str(path))


def _parse(raw: bytes, path: Path) -> Any:
    if path.suffix.lower() == ".json" or raw.lstrip()[:1] == b"{":
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise ConfigurationError(f"{path} is not valid JSON: {exc}") from exc
    try:
        import yaml
    except ImportError as exc:
        raise ConfigurationError(
            f"reading the YAML spec {path} needs PyYAML: pip install 'redo-kit[codegen]' "
            "(or give the spec as JSON)"
        ) from exc
    try:
        return yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        # Keep the first line: the parser's position ("line 3, column 5") follows it.
        reason = " ".join(str(exc).split())
        raise ConfigurationError(f"{path} is not valid YAML: {reason}") from exc
    except RecursionError as exc:
        raise ConfigurationError(f"{path} nests too deeply to be read as YAML") from exc


def _document(source: str | os.PathLike[str] | Mapping[str, Any], side: str) -> dict[str, Any]:
    if isinstance(source, Mapping):
        return _checked(_plain(source, f"the {side} document"), f"the {side} document")
    return load_spec(source)


def _checked(document: Any, name: str) -> dict[str, Any]:
    version = document.get("openapi") if isinstance(document, dict) else None
    if not isinstance(version, str) or not version.startswith("3.1"):
        found = f"openapi: {_show(version)}" if isinstance(document, dict) else "not a mapping"
        raise ConfigurationError(
            f"{name} is not an OpenAPI 3.1 document ({found}); give a spec whose top level "
            "has openapi: 3.1.x"
        )
    checked: dict[str, Any] = document
    return checked


def _plain(value: Any, name: str) -> Any:
    """A copy of parsed YAML or JSON with string keys and JSON scalars only.

    YAML keys may be numbers (``202:``) and its values dates; both become the
    strings JSON would carry. An alias that contains itself is refused.
    """
    root: list[Any] = [None]
    inside: set[int] = set()
    stack: list[tuple[Any, Any, Any, bool]] = [(value, root, 0, False)]
    count = 0
    while stack:
        node, parent, key, leaving = stack.pop()
        if leaving:
            inside.discard(id(node))
            continue
        count += 1
        if count > _MAX_VALUES:
            raise ConfigurationError(f"{name} holds over {_MAX_VALUES:,} values; not a spec")
        if isinstance(node, (Mapping, list, tuple)):
            if id(node) in inside:
                raise ConfigurationError(f"{name} contains itself (a YAML alias inside its anchor)")
            inside.add(id(node))
            stack.append((node, None, None, True))
        if isinstance(node, Mapping):
            copy: dict[str, Any] = {}
            parent[key] = copy
            items = [(k if isinstance(k, str) else _scalar_text(k), v) for k, v in node.items()]
            copy.update(dict.fromkeys(k for k, _ in items))
            stack.extend((v, copy, k, False) for k, v in reversed(items))
        elif isinstance(node, (list, tuple)):
            listed: list[Any] = [None] * len(node)
            parent[key] = listed
            stack.extend((v, listed, i, False) for i, v in reversed(list(enumerate(node))))
        elif node is None or isinstance(node, (str, int, float)):
            parent[key] = node
        else:
            parent[key] = _scalar_text(node)
    return root[0]


def _scalar_text(value: Any) -> str:
    if value is None or isinstance(value, bool):
        return orjson.dumps(value).decode()
    isoformat = getattr(value, "isoformat", None)
    if callable(isoformat):
        return str(isoformat())
    return str(value)


def _canonical(value: Any, renames: Mapping[str, str] | None = None, *, docs: bool = True) -> bytes:
    """``value`` as sorted-key JSON bytes, for equality: two values are equal when these are.

    ``renames`` maps old component names to new ones in ``$ref``s; without
    ``docs``, documentation keys of schemas are left out. Written piece by
    piece rather than by orjson, whose encoder stops at 255 levels of nesting.
    """
    out: list[bytes] = []
    stack: list[Any] = [(value, False)]
    while stack:
        item = stack.pop()
        if isinstance(item, bytes):
            out.append(item)
            continue
        node, names = item
        pending: list[Any] = []
        if isinstance(node, dict):
            out.append(b"{")
            keys = sorted(k for k in node if names or docs or k not in _DOC_KEYS)
            for index, key in enumerate(keys):
                inner = node[key]
                if not names and key == "$ref" and isinstance(inner, str) and renames:
                    inner = _renamed(inner, renames)
                pending.append((b"," if index else b"") + orjson.dumps(key) + b":")
                pending.append((inner, not names and key in _SCHEMA_MAPS))
            pending.append(b"}")
        elif isinstance(node, list):
            out.append(b"[")
            for index, inner in enumerate(node):
                pending.extend([b","] if index else [])
                pending.append((inner, False))
            pending.append(b"]")
        elif isinstance(node, int) and not isinstance(node, bool):
            # Any size: orjson writes integers of 64 bits only.
            out.append(str(node).encode())
        elif node is _MISSING:
            # Not JSON: an absent value stays apart from null and from every value.
            out.append(b"<absent>")
        else:
            out.append(orjson.dumps(node))
        stack.extend(reversed(pending))
    return b"".join(out)


def _renamed(ref: str, renames: Mapping[str, str]) -> str:
    name = _component(ref)
    if name is None or name not in renames:
        return ref
    return _SCHEMAS + _escape(renames[name])


def _component(ref: Any) -> str | None:
    """``Customer`` for ``#/components/schemas/Customer``; None for any other reference."""
    if not isinstance(ref, str) or not ref.startswith(_SCHEMAS):
        return None
    rest = ref[len(_SCHEMAS) :]
    if "/" in rest:
        return None
    return rest.replace("~1", "/").replace("~0", "~")


def _escape(part: str) -> str:
    return part.replace("~", "~0").replace("/", "~1")


def _at(location: str, *parts: str) -> str:
    return "/".join([location, *(_escape(part) for part in parts)])


def _resolve(document: Any, ref: str) -> Any:
    """The value ``ref`` (``#/a/b``) points at in ``document``; ``_MISSING`` if none."""
    if not ref.startswith("#"):
        return _MISSING
    node = document
    for raw in ref[1:].split("/")[1:]:
        part = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return _MISSING
    return node


def _refs(value: Any) -> Iterator[str]:
    """Every ``$ref`` string anywhere in ``value``."""
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str):
                yield ref
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)


def _directions(document: dict[str, Any]) -> dict[str, frozenset[str]]:
    """For each component schema the operations reach: sent by clients, received, or both."""
    found: dict[str, frozenset[str]] = {}
    work: list[tuple[Any, frozenset[str]]] = []
    for item in _mapping(document.get("paths")).values():
        for key, value in _mapping(item).items():
            if key == "parameters":
                work.append((value, _SENT))
            elif key in _METHODS:
                for part, inner in _mapping(value).items():
                    if part in ("parameters", "requestBody"):
                        work.append((inner, _SENT))
                    elif part == "responses":
                        work.append((inner, _RECEIVED))
                    else:
                        work.append((inner, _EITHER))
    seen: set[tuple[str, frozenset[str]]] = set()
    while work:
        node, directions = work.pop()
        for ref in _refs(node):
            if (ref, directions) in seen:
                continue
            seen.add((ref, directions))
            name = _component(ref)
            if name is not None:
                found[name] = found.get(name, frozenset()) | directions
            target = _resolve(document, ref)
            if target is not _MISSING:
                work.append((target, directions))
    return found


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _show(value: Any) -> str:
    if value is _MISSING:
        return "none"
    text = _canonical(value).decode()
    return text if len(text) <= _SHOWN else text[: _SHOWN - 3] + "..."


def _kebab(keyword: str) -> str:
    return re.sub(r"([A-Z])", r"-\1", keyword).lower()


def _is_prose(key: Any, value: Any) -> bool:
    return isinstance(value, str) and (key == "description" or any(c.isspace() for c in value))


def _all_prose(value: Any) -> bool:
    """True when every string, number or flag in ``value`` is prose (a rule's text only)."""
    stack: list[tuple[Any, Any]] = [(None, value)]
    while stack:
        key, node = stack.pop()
        if isinstance(node, dict):
            stack.extend(node.items())
        elif isinstance(node, list):
            stack.extend((key, item) for item in node)
        elif not _is_prose(key, node):
            return False
    return True


class _Missing:
    def __repr__(self) -> str:
        return "<missing>"


_MISSING: Any = _Missing()


class _Differ:
    """One comparison: the two documents, the renames found, and the changes so far."""

    def __init__(self, old: dict[str, Any], new: dict[str, Any]) -> None:
        self.old = old
        self.new = new
        self.changes: list[SpecChange] = []
        self.renames: dict[str, str] = {}
        self.work: list[tuple[Any, Any, str, frozenset[str]]] = []
        self.seen: set[tuple[Any, Any]] = set()

    def run(self) -> SpecDiff:
        self.find_renames()
        self.top_level()
        self.schemas()
        while self.work:
            self.schema(*self.work.pop())
        unique = {(c.location, c.kind, c.message): c for c in self.changes}
        ordered = sorted(unique.values(), key=lambda c: (not c.breaking, c.location, c.kind))
        return SpecDiff(changes=tuple(ordered))

    # -- recording -----------------------------------------------------------

    def add(
        self,
        location: str,
        kind: str,
        effect: _Effect,
        message: str,
        directions: frozenset[str] = _EITHER,
    ) -> None:
        breaking = (
            effect is _Effect.ALWAYS
            or (effect is _Effect.NARROWS and _REQUEST in directions)
            or (effect is _Effect.WIDENS and _RESPONSE in directions)
        )
        if effect in (_Effect.NARROWS, _Effect.WIDENS):
            message = f"{message} ({_WHO.get(directions, 'sent and received')})"
        self.changes.append(
            SpecChange(location=location, kind=kind, breaking=breaking, message=message)
        )

    def same(self, old: Any, new: Any) -> bool:
        return _canonical(old, self.renames) == _canonical(new)

    def rest(
        self, old: dict[str, Any], new: dict[str, Any], location: str, done: set[str], kind: str
    ) -> None:
        """Documentation, extensions and every key not in ``done``, compared generically."""
        for key in [*old, *(k for k in new if k not in old)]:
            if key in done:
                continue
            before, after = old.get(key, _MISSING), new.get(key, _MISSING)
            if self.same(before, after):
                continue
            at = _at(location, key)
            if key.startswith("x-redo-"):
                self.rule(before, after, at, key)
            elif key.startswith("x-"):
                self.add(at, "extension-changed", _Effect.NEVER, f"extension {key} changed")
            elif key in _DOC_KEYS:
                self.add(at, "doc-changed", _Effect.NEVER, f"{key} changed")
            else:
                self.add(at, kind, _Effect.ALWAYS, f"{key}: {_show(before)} -> {_show(after)}")

    def objects(self, old: Any, new: Any, location: str, kind: str) -> bool:
        """True when both are objects; otherwise reports their difference as ``kind``."""
        if isinstance(old, dict) and isinstance(new, dict):
            return True
        if not self.same(old, new):
            self.add(location, kind, _Effect.ALWAYS, f"{_show(old)} -> {_show(new)}")
        return False

    def deref(self, document: dict[str, Any], node: Any) -> Any:
        """``node`` with its ``$ref`` chain followed (a parameter, response, request body)."""
        for _ in range(_REF_HOPS):
            if not isinstance(node, dict) or not isinstance(node.get("$ref"), str):
                return node
            target = _resolve(document, node["$ref"])
            if target is _MISSING:
                return node
            node = target
        return node

    # -- the document --------------------------------------------------------

    def top_level(self) -> None:
        old, new = self.old, self.new
        root = "#"
        if old.get("openapi") != new.get("openapi"):
            self.add(
                _at(root, "openapi"),
                "openapi-version-changed",
                _Effect.NEVER,
                f"openapi {_show(old.get('openapi'))} -> {_show(new.get('openapi'))}",
            )
        if not self.same(old.get("jsonSchemaDialect"), new.get("jsonSchemaDialect")):
            self.add(
                _at(root, "jsonSchemaDialect"),
                "dialect-changed",
                _Effect.ALWAYS,
                "the JSON Schema dialect changed: every schema may read differently",
            )
        self.info(old.get("info", {}), new.get("info", {}))
        self.servers(old.get("servers", []), new.get("servers", []))
        if not self.same(old.get("security"), new.get("security")):
            self.add(_at(root, "security"), "security-changed", _Effect.ALWAYS, "security changed")
        self.paths(old.get("paths", {}), new.get("paths", {}))
        before, after = _mapping(old.get("components")), _mapping(new.get("components"))
        self.security_schemes(before.get("securitySchemes", {}), after.get("securitySchemes", {}))
        # Schemas are compared on their own; parameters, responses, request
        # bodies, headers and examples where the operations use them.
        used = {"schemas", "securitySchemes", "parameters", "responses", "requestBodies"}
        self.rest(before, after, "#/components", {*used, "headers", "examples"}, "field-changed")
        done = {
            "openapi",
            "jsonSchemaDialect",
            "info",
            "servers",
            "security",
            "paths",
            "components",
        }
        self.rest(old, new, root, done, "field-changed")

    def info(self, old: Any, new: Any) -> None:
        location = "#/info"
        if not self.objects(old, new, location, "field-changed"):
            return
        if not self.same(old.get("version"), new.get("version")):
            self.add(
                _at(location, "version"),
                "version-changed",
                _Effect.NEVER,
                f"info.version {_show(old.get('version'))} -> {_show(new.get('version'))}",
            )
        for key in [*old, *(k for k in new if k not in old)]:
            if key == "version" or key.startswith("x-"):
                continue
            if not self.same(old.get(key), new.get(key)):
                self.add(_at(location, key), "doc-changed", _Effect.NEVER, f"info.{key} changed")
        prose = {k for k in {*old, *new} if not k.startswith("x-")}
        self.rest(old, new, location, prose, "field-changed")

    def servers(self, old: Any, new: Any) -> None:
        location = "#/servers"
        if not isinstance(old, list) or not isinstance(new, list):
            self.objects(old, new, location, "field-changed")
            return
        before = {_canonical(_mapping(s).get("url")): s for s in old}
        after = {_canonical(_mapping(s).get("url")): s for s in new}
        for url, server in before.items():
            shown = _show(_mapping(server).get("url"))
            if url not in after:
                self.add(location, "server-removed", _Effect.ALWAYS, f"server {shown} removed")
            elif not self.same(server, after[url]):
                self.add(location, "doc-changed", _Effect.NEVER, f"server {shown} changed")
        for url, server in after.items():
            if url not in before:
                shown = _show(_mapping(server).get("url"))
                self.add(location, "server-added", _Effect.NEVER, f"server {shown} added")

    def security_schemes(self, old: Any, new: Any) -> None:
        location = "#/components/securitySchemes"
        if not self.objects(old, new, location, "field-changed"):
            return
        for name in [*old, *(k for k in new if k not in old)]:
            at = _at(location, name)
            if name not in new:
                self.add(at, "security-scheme-removed", _Effect.ALWAYS, f"scheme {name} removed")
            elif name not in old:
                self.add(at, "security-scheme-added", _Effect.NEVER, f"scheme {name} added")
            elif self.objects(old[name], new[name], at, "security-scheme-changed"):
                self.rest(old[name], new[name], at, set(), "security-scheme-changed")

    # -- paths and operations --------------------------------------------------

    def paths(self, old: Any, new: Any) -> None:
        if not self.objects(old, new, "#/paths", "field-changed"):
            return
        for path in [*old, *(p for p in new if p not in old)]:
            at = _at("#/paths", path)
            if path not in new:
                self.add(at, "path-removed", _Effect.ALWAYS, f"path {path} removed")
            elif path not in old:
                self.add(at, "path-added", _Effect.NEVER, f"path {path} added")
            else:
                self.path_item(
                    path, self.deref(self.old, old[path]), self.deref(self.new, new[path])
                )

    def path_item(self, path: str, old: Any, new: Any) -> None:
        location = _at("#/paths", path)
        if not self.objects(old, new, location, "field-changed"):
            return
        for method in _METHODS:
            at = _at(location, method)
            if method in old and method not in new:
                self.add(
                    at, "operation-removed", _Effect.ALWAYS, f"{method.upper()} {path} removed"
                )
            elif method in new and method not in old:
                self.add(at, "operation-added", _Effect.NEVER, f"{method.upper()} {path} added")
            elif method in old:
                self.operation(
                    at, old[method], new[method], old.get("parameters"), new.get("parameters")
                )
        self.rest(old, new, location, {*_METHODS, "parameters"}, "field-changed")

    def operation(
        self, location: str, old: Any, new: Any, old_shared: Any, new_shared: Any
    ) -> None:
        if not self.objects(old, new, location, "field-changed"):
            return
        if not self.same(old.get("operationId"), new.get("operationId")):
            self.add(
                _at(location, "operationId"),
                "operation-id-changed",
                _Effect.ALWAYS,
                f"operationId {_show(old.get('operationId'))} -> {_show(new.get('operationId'))}: "
                "the generated method's name changes",
            )
        self.parameters(
            location,
            self.parameter_map(self.old, old_shared, old.get("parameters")),
            self.parameter_map(self.new, new_shared, new.get("parameters")),
        )
        self.request_body(
            _at(location, "requestBody"),
            self.deref(self.old, old.get("requestBody", {})),
            self.deref(self.new, new.get("requestBody", {})),
        )
        self.responses(
            _at(location, "responses"), old.get("responses", {}), new.get("responses", {})
        )
        if not self.same(old.get("security"), new.get("security")):
            self.add(
                _at(location, "security"), "security-changed", _Effect.ALWAYS, "security changed"
            )
        if bool(old.get("deprecated")) != bool(new.get("deprecated")):
            self.add(
                _at(location, "deprecated"),
                "operation-deprecated" if new.get("deprecated") else "operation-undeprecated",
                _Effect.NEVER,
                "deprecated" if new.get("deprecated") else "no longer deprecated",
            )
        done = {"operationId", "parameters", "requestBody", "responses", "security", "deprecated"}
        self.rest(old, new, location, done, "field-changed")

    def parameter_map(
        self, document: dict[str, Any], shared: Any, own: Any
    ) -> dict[tuple[str, str], Any]:
        """Path-level then operation-level parameters, by (in, name); the operation's win."""
        found: dict[tuple[str, str], Any] = {}
        for group in (shared, own):
            for raw in group if isinstance(group, list) else []:
                parameter = self.deref(document, raw)
                if isinstance(parameter, dict):
                    key = (str(parameter.get("in")), str(parameter.get("name")))
                    found[key] = parameter
        return found

    def parameters(
        self, location: str, old: dict[tuple[str, str], Any], new: dict[tuple[str, str], Any]
    ) -> None:
        for key in [*old, *(k for k in new if k not in old)]:
            where, name = key
            at = _at(location, "parameters", name)
            if key not in new:
                self.add(
                    at, "parameter-removed", _Effect.ALWAYS, f"{where} parameter {name} removed"
                )
                continue
            if key not in old:
                required = new[key].get("required") is True
                self.add(
                    at,
                    "required-parameter-added" if required else "parameter-added",
                    _Effect.ALWAYS if required else _Effect.NEVER,
                    f"{'required' if required else 'optional'} {where} parameter {name} added",
                )
                continue
            before, after = old[key], new[key]
            was, now = before.get("required") is True, after.get("required") is True
            if now and not was:
                self.add(at, "parameter-became-required", _Effect.ALWAYS, f"{name} now required")
            elif was and not now:
                self.add(at, "parameter-became-optional", _Effect.NEVER, f"{name} now optional")
            self.work.append(
                (before.get("schema", True), after.get("schema", True), _at(at, "schema"), _SENT)
            )
            self.rest(before, after, at, {"in", "name", "required", "schema"}, "parameter-changed")

    def request_body(self, location: str, old: Any, new: Any) -> None:
        if not self.objects(old, new, location, "field-changed"):
            return
        was, now = old.get("required") is True, new.get("required") is True
        if now and not was:
            self.add(location, "request-body-became-required", _Effect.ALWAYS, "body now required")
        elif was and not now:
            self.add(location, "request-body-became-optional", _Effect.NEVER, "body now optional")
        self.content(
            _at(location, "content"), old.get("content", {}), new.get("content", {}), _SENT
        )
        self.rest(old, new, location, {"required", "content"}, "field-changed")

    def content(self, location: str, old: Any, new: Any, directions: frozenset[str]) -> None:
        if not self.objects(old, new, location, "field-changed"):
            return
        for media in [*old, *(m for m in new if m not in old)]:
            at = _at(location, media)
            if media not in new:
                self.add(at, "media-type-removed", _Effect.ALWAYS, f"{media} removed")
            elif media not in old:
                self.add(at, "media-type-added", _Effect.NEVER, f"{media} added")
            elif self.objects(old[media], new[media], at, "field-changed"):
                before, after = old[media], new[media]
                self.work.append(
                    (
                        before.get("schema", True),
                        after.get("schema", True),
                        _at(at, "schema"),
                        directions,
                    )
                )
                self.rest(before, after, at, {"schema"}, "field-changed")

    def responses(self, location: str, old: Any, new: Any) -> None:
        if not self.objects(old, new, location, "field-changed"):
            return
        for status in [*old, *(s for s in new if s not in old)]:
            at = _at(location, status)
            if status not in new:
                self.add(at, "response-removed", _Effect.ALWAYS, f"response {status} removed")
            elif status not in old:
                self.add(at, "response-added", _Effect.NEVER, f"response {status} added")
            else:
                self.response(
                    at, self.deref(self.old, old[status]), self.deref(self.new, new[status])
                )

    def response(self, location: str, old: Any, new: Any) -> None:
        if not self.objects(old, new, location, "field-changed"):
            return
        self.content(
            _at(location, "content"), old.get("content", {}), new.get("content", {}), _RECEIVED
        )
        before, after = old.get("headers", {}), new.get("headers", {})
        headers = _at(location, "headers")
        if self.objects(before, after, headers, "field-changed"):
            for name in [*before, *(h for h in after if h not in before)]:
                at = _at(headers, name)
                if name not in after:
                    self.add(
                        at, "response-header-removed", _Effect.ALWAYS, f"header {name} removed"
                    )
                elif name not in before:
                    self.add(at, "response-header-added", _Effect.NEVER, f"header {name} added")
                else:
                    old_header = self.deref(self.old, before[name])
                    new_header = self.deref(self.new, after[name])
                    if self.objects(old_header, new_header, at, "field-changed"):
                        self.work.append(
                            (
                                old_header.get("schema", True),
                                new_header.get("schema", True),
                                _at(at, "schema"),
                                _RECEIVED,
                            )
                        )
                        self.rest(old_header, new_header, at, {"schema"}, "field-changed")
        self.rest(old, new, location, {"content", "headers"}, "field-changed")

    # -- component schemas -----------------------------------------------------

    def find_renames(self) -> None:
        """Pair each vanished schema with a new one of the same structure, documentation aside."""
        old = _mapping(_mapping(self.old.get("components")).get("schemas"))
        new = _mapping(_mapping(self.new.get("components")).get("schemas"))
        gone = [name for name in old if name not in new]
        came = [name for name in new if name not in old]
        found = True
        while found:
            found = False
            shapes: dict[bytes, list[str]] = {}
            for name in came:
                if name not in self.renames.values():
                    shapes.setdefault(_canonical(new[name], docs=False), []).append(name)
            for name in gone:
                if name in self.renames:
                    continue
                matches = shapes.get(_canonical(old[name], self.renames, docs=False), [])
                # Two new schemas of one shape: which one it became cannot be told.
                if len(matches) == 1 and matches[0] not in self.renames.values():
                    self.renames[name] = matches[0]
                    found = True

    def schemas(self) -> None:
        old = _mapping(self.old.get("components")).get("schemas", {})
        new = _mapping(self.new.get("components")).get("schemas", {})
        if not self.objects(old, new, "#/components/schemas", "field-changed"):
            return
        used_old, used_new = _directions(self.old), _directions(self.new)
        for name in old:
            target = self.renames.get(name, name)
            directions = used_old.get(name, frozenset()) | used_new.get(target, frozenset())
            directions = directions or _SENT
            if name in self.renames:
                self.add(
                    _at("#/components/schemas", name),
                    "schema-renamed",
                    _Effect.ALWAYS,
                    f"schema {name} renamed to {target} with the same structure: payloads are "
                    "unchanged, the generated model's name is not",
                )
                self.work.append(
                    (old[name], new[target], _at("#/components/schemas", target), directions)
                )
            elif name in new:
                self.work.append(
                    (old[name], new[name], _at("#/components/schemas", name), directions)
                )
            else:
                self.add(
                    _at("#/components/schemas", name),
                    "schema-removed",
                    _Effect.ALWAYS,
                    f"schema {name} removed",
                )
        renamed = set(self.renames.values())
        for name in new:
            if name not in old and name not in renamed:
                self.add(
                    _at("#/components/schemas", name),
                    "schema-added",
                    _Effect.NEVER,
                    f"schema {name} added",
                )

    def inline(self, document: dict[str, Any], schema: dict[str, Any]) -> Any:
        """``schema`` with its ``$ref`` replaced by the target, siblings kept; or _MISSING."""
        node: Any = schema
        for _ in range(_REF_HOPS):
            if not isinstance(node, dict) or not isinstance(node.get("$ref"), str):
                return node
            target = _resolve(document, node["$ref"])
            siblings = {k: v for k, v in node.items() if k != "$ref"}
            if target is _MISSING or (not isinstance(target, dict) and siblings):
                return _MISSING
            node = {**target, **siblings} if isinstance(target, dict) else target
        return _MISSING

    def schema(self, old: Any, new: Any, location: str, directions: frozenset[str]) -> None:
        """Compare one pair of schemas; their subschemas are queued, not recursed into."""
        old = {} if old is True else old
        new = {} if new is True else new
        if old is False or new is False:
            if old is not new:
                closed = new is False
                noun = (
                    "additional-properties"
                    if location.endswith("/additionalProperties")
                    else "schema"
                )
                self.add(
                    location,
                    f"{noun}-{'closed' if closed else 'opened'}",
                    _Effect.NARROWS if closed else _Effect.WIDENS,
                    "nothing is allowed here any more" if closed else "values are allowed here now",
                    directions,
                )
            return
        if not self.objects(old, new, location, "schema-keyword-changed"):
            return
        old_ref, new_ref = old.get("$ref"), new.get("$ref")
        if old_ref is not None or new_ref is not None:
            one_component = (
                _component(new_ref) is not None
                and isinstance(old_ref, str)
                and _renamed(old_ref, self.renames) == new_ref
            )
            if one_component:
                # The same component: compared once at its own location.
                old = {k: v for k, v in old.items() if k != "$ref"}
                new = {k: v for k, v in new.items() if k != "$ref"}
            else:
                pair = (
                    old_ref if isinstance(old_ref, str) else id(old),
                    new_ref if isinstance(new_ref, str) else id(new),
                )
                if pair in self.seen:
                    return
                self.seen.add(pair)
                as_written = old, new
                old, new = self.inline(self.old, old), self.inline(self.new, new)
                if old is _MISSING or new is _MISSING:
                    if self.same(*as_written):
                        return
                    self.add(
                        location,
                        "ref-changed",
                        _Effect.ALWAYS,
                        f"$ref {_show(old_ref)} -> {_show(new_ref)} (one cannot be resolved)",
                        directions,
                    )
                    return
                self.work.append((old, new, location, directions))
                return
        self.keywords(old, new, location, directions)

    def keywords(
        self, old: dict[str, Any], new: dict[str, Any], location: str, directions: frozenset[str]
    ) -> None:
        self.types(old, new, location, directions)
        self.format(old.get("format"), new.get("format"), location, directions)
        self.pattern(old.get("pattern"), new.get("pattern"), location, directions)
        self.enum(old.get("enum", _MISSING), new.get("enum", _MISSING), location, directions)
        self.limits(old, new, location, directions)
        self.properties(old, new, location, directions)
        for keyword in ("anyOf", "oneOf", "allOf"):
            self.branches(keyword, old.get(keyword), new.get(keyword), location, directions)
        for keyword in _SUBSCHEMAS:
            if keyword in old or keyword in new:
                self.work.append(
                    (
                        old.get(keyword, True),
                        new.get(keyword, True),
                        _at(location, keyword),
                        directions,
                    )
                )
        before, after = old.get("patternProperties", {}), new.get("patternProperties", {})
        at = _at(location, "patternProperties")
        if self.objects(before, after, at, "schema-keyword-changed"):
            for pattern in [*before, *(p for p in after if p not in before)]:
                if pattern in before and pattern in after:
                    self.work.append(
                        (before[pattern], after[pattern], _at(at, pattern), directions)
                    )
                else:
                    what = "removed" if pattern in before else "added"
                    self.add(
                        _at(at, pattern),
                        f"pattern-property-{what}",
                        _Effect.ALWAYS,
                        f"pattern property {_show(pattern)} {what}",
                        directions,
                    )
        if "const" in old or "const" in new:
            self.const(old.get("const", _MISSING), new.get("const", _MISSING), location, directions)
        for keyword, kind in (("default", "default-changed"), ("deprecated", "deprecated-changed")):
            if not self.same(old.get(keyword, _MISSING), new.get(keyword, _MISSING)):
                self.add(
                    _at(location, keyword),
                    kind,
                    _Effect.NEVER,
                    f"{keyword} {_show(old.get(keyword))} -> {_show(new.get(keyword))}",
                )
        if not self.same(old.get("if", _MISSING), new.get("if", _MISSING)):
            self.add(
                _at(location, "if"),
                "condition-changed",
                _Effect.ALWAYS,
                "the if condition changed: then/else apply to other values",
                directions,
            )
        done = {
            "type", "format", "pattern", "enum", "required", "properties", "anyOf", "oneOf",
            "allOf", "patternProperties", "const", "default", "deprecated", "if",
            *_CEILINGS, *_FLOORS, *_SUBSCHEMAS,
        }  # fmt: skip
        self.rest(old, new, location, done, "schema-keyword-changed")

    def types(
        self, old: dict[str, Any], new: dict[str, Any], location: str, directions: frozenset[str]
    ) -> None:
        before, after = _types(old.get("type")), _types(new.get("type"))
        at = _at(location, "type")
        if before is _MISSING or after is _MISSING:
            self.objects(old.get("type"), new.get("type"), at, "schema-keyword-changed")
            return
        if before == after:
            return
        lost = sorted(t for t in before or () if not _covers(after, t))
        gained = sorted(t for t in after or () if not _covers(before, t))
        shown = f"type {_show(old.get('type', 'any'))} -> {_show(new.get('type', 'any'))}"
        if lost or (before is None):
            self.add(at, "type-narrowed", _Effect.NARROWS, f"{shown}: fewer values fit", directions)
        if gained or (after is None):
            self.add(at, "type-widened", _Effect.WIDENS, f"{shown}: more values fit", directions)

    def format(self, old: Any, new: Any, location: str, directions: frozenset[str]) -> None:
        if old == new:
            return
        at = _at(location, "format")
        if not all(value is None or isinstance(value, str) for value in (old, new)):
            self.objects(old, new, at, "schema-keyword-changed")
            return
        shown = f"format {_show(old or _MISSING)} -> {_show(new or _MISSING)}"
        if old is None and new in _WIDEST_FORMATS:
            self.add(
                at, "format-added", _Effect.NEVER, f"{shown}: generated types widen", directions
            )
        elif new is None and old in _WIDEST_FORMATS:
            self.add(
                at,
                "format-removed",
                _Effect.ALWAYS,
                f"{shown}: a generator may pick a narrower type (32 bits)",
                directions,
            )
        elif old is None:
            self.add(at, "format-added", _Effect.NARROWS, shown, directions)
        elif new is None:
            self.add(at, "format-removed", _Effect.WIDENS, shown, directions)
        elif (old, new) in _WIDER_FORMAT:
            self.add(at, "format-widened", _Effect.WIDENS, shown, directions)
        elif (new, old) in _WIDER_FORMAT:
            self.add(
                at, "format-narrowed", _Effect.NARROWS, f"{shown}: fewer values fit", directions
            )
        else:
            self.add(at, "format-changed", _Effect.ALWAYS, shown, directions)

    def pattern(self, old: Any, new: Any, location: str, directions: frozenset[str]) -> None:
        if old == new:
            return
        at = _at(location, "pattern")
        if old is None:
            self.add(
                at, "pattern-added", _Effect.NARROWS, f"pattern {_show(new)} added", directions
            )
        elif new is None:
            self.add(
                at, "pattern-removed", _Effect.WIDENS, f"pattern {_show(old)} removed", directions
            )
        else:
            self.add(
                at,
                "pattern-changed",
                _Effect.ALWAYS,
                f"pattern {_show(old)} -> {_show(new)}",
                directions,
            )

    def enum(self, old: Any, new: Any, location: str, directions: frozenset[str]) -> None:
        at = _at(location, "enum")
        if old is _MISSING and new is _MISSING:
            return
        if old is _MISSING:
            self.add(at, "enum-added", _Effect.NARROWS, "values limited to an enum", directions)
            return
        if new is _MISSING:
            self.add(
                at,
                "enum-removed",
                _Effect.WIDENS,
                "values no longer limited to an enum",
                directions,
            )
            return
        if not isinstance(old, list) or not isinstance(new, list):
            self.objects(old, new, at, "schema-keyword-changed")
            return
        before = {_canonical(value): value for value in old}
        after = {_canonical(value): value for value in new}
        for key, value in before.items():
            if key not in after:
                self.add(
                    at,
                    "enum-value-removed",
                    _Effect.NARROWS,
                    f"enum value {_show(value)} removed",
                    directions,
                )
        for key, value in after.items():
            if key not in before:
                self.add(
                    at,
                    "enum-value-added",
                    _Effect.WIDENS,
                    f"enum value {_show(value)} added",
                    directions,
                )

    def const(self, old: Any, new: Any, location: str, directions: frozenset[str]) -> None:
        if self.same(old, new):
            return
        at = _at(location, "const")
        if old is _MISSING:
            self.add(at, "const-added", _Effect.NARROWS, f"const {_show(new)} added", directions)
        elif new is _MISSING:
            self.add(at, "const-removed", _Effect.WIDENS, f"const {_show(old)} removed", directions)
        else:
            self.add(
                at,
                "const-changed",
                _Effect.ALWAYS,
                f"const {_show(old)} -> {_show(new)}",
                directions,
            )

    def limits(
        self, old: dict[str, Any], new: dict[str, Any], location: str, directions: frozenset[str]
    ) -> None:
        for keyword in (*_CEILINGS, *_FLOORS):
            before, after = old.get(keyword, _MISSING), new.get(keyword, _MISSING)
            if before is _MISSING and after is _MISSING:
                continue
            at, name = _at(location, keyword), _kebab(keyword)
            shown = f"{keyword} {_show(before) if before is not _MISSING else 'none'} -> " + (
                _show(after) if after is not _MISSING else "none"
            )
            if before is _MISSING:
                self.add(at, f"{name}-added", _Effect.NARROWS, shown, directions)
            elif after is _MISSING:
                self.add(at, f"{name}-removed", _Effect.WIDENS, shown, directions)
            elif not (_number(before) and _number(after)):
                self.objects(before, after, at, "schema-keyword-changed")
            elif before != after:
                up = after > before
                narrows = up == (keyword in _FLOORS)
                self.add(
                    at,
                    f"{name}-{'increased' if up else 'decreased'}",
                    _Effect.NARROWS if narrows else _Effect.WIDENS,
                    f"{shown}: {'fewer' if narrows else 'more'} values fit",
                    directions,
                )

    def properties(
        self, old: dict[str, Any], new: dict[str, Any], location: str, directions: frozenset[str]
    ) -> None:
        before, after = old.get("properties", {}), new.get("properties", {})
        if self.objects(before, after, _at(location, "properties"), "schema-keyword-changed"):
            for name in [*before, *(p for p in after if p not in before)]:
                at = _at(location, "properties", name)
                if name not in after:
                    self.add(
                        at,
                        "property-removed",
                        self.removal(location, after_closed=new.get("additionalProperties")),
                        f"property {name} removed",
                        directions,
                    )
                elif name not in before:
                    self.add(
                        at, "property-added", _Effect.NEVER, f"property {name} added", directions
                    )
                else:
                    self.work.append((before[name], after[name], at, directions))
        was, now = old.get("required", []), new.get("required", [])
        if not isinstance(was, list) or not isinstance(now, list):
            self.objects(was, now, _at(location, "required"), "schema-keyword-changed")
            return
        for name in now:
            if name not in was:
                self.add(
                    _at(location, "properties", str(name)),
                    "required-added",
                    _Effect.NARROWS,
                    f"{name} is now required",
                    directions,
                )
        for name in was:
            if name not in now:
                self.add(
                    _at(location, "properties", str(name)),
                    "required-removed",
                    _Effect.WIDENS,
                    f"{name} is no longer required",
                    directions,
                )

    @staticmethod
    def removal(location: str, *, after_closed: Any) -> _Effect:
        """Whom a removed property breaks.

        Generators make fields of the properties of a schema and of its allOf
        branches, so removing one breaks every generated client. Under an
        if/then/else or not, no generator makes a field: the removal only
        changes what validates, which widens unless other keys are refused.
        """
        if not _conditional(location):
            return _Effect.ALWAYS
        return _Effect.NARROWS if after_closed is False else _Effect.WIDENS

    def branches(
        self, keyword: str, old: Any, new: Any, location: str, directions: frozenset[str]
    ) -> None:
        """anyOf/oneOf: a branch removed narrows, added widens; allOf the reverse."""
        if old is None and new is None:
            return
        at, name = _at(location, keyword), _kebab(keyword)
        every = keyword == "allOf"
        if not every and (old is None or new is None):
            self.add(
                at,
                f"{name}-{'added' if old is None else 'removed'}",
                _Effect.NARROWS if old is None else _Effect.WIDENS,
                f"{keyword} {'added' if old is None else 'removed'}",
                directions,
            )
            return
        old, new = old or [], new or []
        if not isinstance(old, list) or not isinstance(new, list):
            self.objects(old, new, at, "schema-keyword-changed")
            return
        # Equal branches pair first; then branches of one type or one $ref
        # target are compared; the rest were removed or added.
        left = list(range(len(old)))
        right = list(range(len(new)))
        for i in list(left):
            shape = _canonical(old[i], self.renames)
            for j in right:
                if _canonical(new[j]) == shape:
                    left.remove(i)
                    right.remove(j)
                    break
        for i in list(left):
            signature = self.signature(old[i], rename=True)
            matches = [j for j in right if self.signature(new[j], rename=False) == signature]
            if signature is not None and len(matches) == 1:
                left.remove(i)
                right.remove(matches[0])
                self.work.append((old[i], new[matches[0]], _at(at, str(matches[0])), directions))
        removed, added = (
            (_Effect.WIDENS, _Effect.NARROWS) if every else (_Effect.NARROWS, _Effect.WIDENS)
        )
        for i in left:
            self.add(
                _at(at, str(i)),
                f"{name}-branch-removed",
                removed,
                f"{keyword} branch {_show(old[i])} removed",
                directions,
            )
        for j in right:
            self.add(
                _at(at, str(j)),
                f"{name}-branch-added",
                added,
                f"{keyword} branch {_show(new[j])} added",
                directions,
            )

    def signature(self, branch: Any, *, rename: bool) -> bytes | None:
        if not isinstance(branch, dict):
            return None
        ref = branch.get("$ref")
        if isinstance(ref, str):
            return _canonical(["$ref", _renamed(ref, self.renames) if rename else ref])
        if "type" in branch:
            return _canonical(["type", branch["type"]])
        if "required" in branch:
            return _canonical(["required", branch["required"]])
        return None

    # -- x-redo-* rules --------------------------------------------------------

    def rule(self, old: Any, new: Any, location: str, name: str) -> None:
        if name in _PROSE_RULES:
            self.add(
                location, "x-redo-text-changed", _Effect.NEVER, f"{name}: rule text changed, review"
            )
            return
        if old is _MISSING:
            prose = _all_prose(new)
            self.add(
                location,
                "x-redo-text-changed" if prose else "x-redo-rule-added",
                _Effect.NEVER if prose else _Effect.ALWAYS,
                f"{name} added" + (": rule text, review" if prose else ""),
            )
            return
        if new is _MISSING:
            self.add(location, "x-redo-rule-removed", _Effect.ALWAYS, f"{name} removed")
            return
        stack: list[tuple[Any, Any, str, str]] = [(old, new, location, name)]
        while stack:
            before, after, at, key = stack.pop()
            if key == "$ref" and isinstance(before, str):
                before = _renamed(before, self.renames)
            if self.same(before, after):
                continue
            if isinstance(before, dict) and isinstance(after, dict):
                for part in [*before, *(k for k in after if k not in before)]:
                    inner = _at(at, part)
                    if part in before and part in after:
                        stack.append((before[part], after[part], inner, part))
                    elif _all_prose({part: before.get(part, after.get(part))}):
                        self.add(
                            inner,
                            "x-redo-text-changed",
                            _Effect.NEVER,
                            f"{part}: rule text changed, review",
                        )
                    else:
                        self.add(
                            inner,
                            "x-redo-rule-changed",
                            _Effect.ALWAYS,
                            f"{name}: {part} {'removed' if part in before else 'added'}",
                        )
            elif _number(before) and _number(after):
                down = after < before
                self.add(
                    at,
                    f"x-redo-limit-{'decreased' if down else 'increased'}",
                    _Effect.ALWAYS if down else _Effect.NEVER,
                    f"{name}: {key} {_show(before)} -> {_show(after)}",
                )
            elif _is_prose(key, before) and _is_prose(key, after):
                self.add(
                    at, "x-redo-text-changed", _Effect.NEVER, f"{name}: rule text changed, review"
                )
            else:
                self.add(
                    at,
                    "x-redo-rule-changed",
                    _Effect.ALWAYS,
                    f"{name}: {_show(before)} -> {_show(after)}",
                )


def _conditional(location: str) -> bool:
    """True when ``location`` lies under an ``if``, ``then``, ``else`` or ``not`` of a schema."""
    name = False
    for part in location.split("/"):
        if name:
            name = False
        elif part in _SCHEMA_MAPS:
            # The next part names a property, whatever it spells.
            name = True
        elif part in ("if", "then", "else", "not"):
            return True
    return False


def _types(value: Any) -> Any:
    """The types a schema's ``type`` allows: a set, None for any, _MISSING if unreadable."""
    if value is None:
        return None
    if isinstance(value, str):
        return frozenset({value})
    if isinstance(value, list) and all(isinstance(t, str) for t in value):
        return frozenset(value)
    return _MISSING


def _covers(types: frozenset[str] | None, wanted: str) -> bool:
    return types is None or wanted in types or (wanted == "integer" and "number" in types)
