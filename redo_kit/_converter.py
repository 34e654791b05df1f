"""The wire converter: generated models to and from wire dicts and JSON bytes.

One cattrs converter, configured from the models' own field metadata:

- field names on the wire are the spec's (``phoneNumber``), read from each
  field's ``metadata["wire"]``; unset optional fields are left out;
- datetimes are written as RFC 3339 in UTC with ``Z``; a naive datetime is
  refused, as are NaN and infinities (JSON has neither);
- numbers keep their kind: ``5000`` stays an integer on the wire;
- unknown keys are refused when reading, and every error names the wire path
  (``$.customer.phoneNumber``), never a Python attribute name;
- each class's annotations are resolved in its own module, so the models of
  a package that ``redo-kit generate`` wrote for another spec convert into
  that package's classes all the way down.

``structure`` and ``unstructure`` are the public entry points; ``dumps`` and
``loads`` add orjson on either side.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any, TypeVar, get_origin

import attrs
import cattrs
import orjson
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override

from redo_kit._errors import ConversionError, Problem
from redo_kit._json import NOT_PLAIN, quick, walk
from redo_kit._rfc3339 import format_datetime, parse_datetime
from redo_kit._spec import wire_path

__all__ = ["converter", "dumps", "loads", "structure", "to_json_value", "unstructure"]

T = TypeVar("T")


def _wire_name(field: attrs.Attribute[Any]) -> str:
    return str(field.metadata.get("wire", field.name))


def _json_number(value: Any, path: str = "$") -> int | float:
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal)):
        raise _problem(path, "type", f"expected a number, got {type(value).__name__}")
    number: int | float = quick(value)
    return number if number is not NOT_PLAIN else to_json_value(value, path)


def to_json_value(value: Any, path: str = "$") -> Any:
    """``value`` as JSON values: datetimes as RFC 3339 ``Z`` strings, Decimals as numbers.

    The walker (:mod:`redo_kit._json`) decides what is accepted; anything it
    refuses raises ``ConversionError`` naming every path.
    """
    copy = quick(value)
    if copy is not NOT_PLAIN:
        return copy
    walked = walk(value, path)
    refusals = [p for p in walked.problems if p.path in walked.refused]
    if refusals:
        summary = "; ".join(str(p) for p in refusals)
        raise ConversionError(f"cannot write the value as JSON: {summary}", refusals)
    return walked.value


def _problem(path: str, rule: str, message: str, hint: str = "") -> ConversionError:
    problem = Problem(path=path, rule=rule, message=message, hint=hint)
    return ConversionError(str(problem), [problem])


def _structure_datetime(value: Any, _: type) -> datetime:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("naive datetime: give it a time zone")
        return value
    if not isinstance(value, str):
        raise TypeError(f"expected an RFC 3339 string, got {type(value).__name__}")
    return parse_datetime(value)


def _structure_str(value: Any, _: type) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected a string, got {type(value).__name__}")
    return value


def _structure_number(value: Any, _: type) -> int | float:
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal)):
        raise TypeError(f"expected a number, got {type(value).__name__}")
    return _json_number(value)


def _structure_json(value: Any, _: type) -> Any:
    # Event data, custom fields and $extra are open JSON objects: the spec's
    # validator decides what may be in them; here they only must be JSON.
    if not isinstance(value, Mapping):
        raise TypeError(f"expected an object, got {type(value).__name__}")
    return to_json_value(value)


def _unstructure_open(value: Any) -> Any:
    # Event data, custom fields and $extra of a model. Their strings are read
    # where the event is serialized (strictly) and sized: not twice here.
    copy = quick(value, check_text=False)
    return copy if copy is not NOT_PLAIN else to_json_value(value)


def _is_open_object(tp: Any) -> bool:
    # The models write every object open to other keys (event data, custom
    # fields, $extra) as a dict alias, and nothing else as a dict.
    return get_origin(tp) is dict


def _renames(cls: type) -> dict[str, Any]:
    _resolve(cls)
    return {f.name: override(rename=_wire_name(f)) for f in attrs.fields(cls)}


def _resolve(cls: type) -> None:
    """Resolve ``cls``'s string annotations in its own module (models use ``from __future__``)."""
    module = sys.modules.get(cls.__module__)
    try:
        attrs.resolve_types(cls, globalns=vars(module) if module is not None else None)
    except NameError as exc:
        missing = getattr(exc, "name", None) or str(exc)
        fields = [
            f.name for f in attrs.fields(cls) if isinstance(f.type, str) and missing in f.type
        ]
        where = f"{cls.__qualname__}.{', '.join(fields)}" if fields else cls.__qualname__
        problem = Problem(
            path="$",
            rule="model",
            message=f"{where} names {missing}, which {cls.__module__} does not define",
            hint="regenerate the package with `redo-kit generate`; do not edit its models",
        )
        raise ConversionError(str(problem), [problem]) from exc


def _unstructure_factory(cls: type, conv: cattrs.Converter) -> Any:
    return make_dict_unstructure_fn(cls, conv, _cattrs_omit_if_default=True, **_renames(cls))


def _structure_factory(cls: type, conv: cattrs.Converter) -> Any:
    return make_dict_structure_fn(cls, conv, _cattrs_forbid_extra_keys=True, **_renames(cls))


def _build() -> cattrs.Converter:
    conv = cattrs.Converter(omit_if_default=True, forbid_extra_keys=True)
    conv.register_unstructure_hook(datetime, format_datetime)
    conv.register_structure_hook(datetime, _structure_datetime)
    conv.register_structure_hook(str, _structure_str)
    conv.register_structure_hook(float, _structure_number)
    conv.register_unstructure_hook(float, _json_number)
    conv.register_structure_hook_func(_is_open_object, _structure_json)
    conv.register_unstructure_hook_func(_is_open_object, _unstructure_open)
    # Factories run lazily, on the first use of each class, so nested models
    # always get the wire-named hooks whatever the order of definition.
    conv.register_unstructure_hook_factory(attrs.has, _unstructure_factory)
    conv.register_structure_hook_factory(attrs.has, _structure_factory)
    return conv


@functools.cache
def converter() -> cattrs.Converter:
    """The configured converter (built on first use, then shared)."""
    return _build()


def _wire_name_of(cls: Any, name: str) -> str:
    if isinstance(cls, type) and attrs.has(cls):
        field = attrs.fields_dict(cls).get(name)
        if field is not None:
            return _wire_name(field)
    return name


def unstructure(model: Any) -> Any:
    """A model (or list of models) as a wire dict, ready for JSON."""
    try:
        return converter().unstructure(model)
    except ConversionError as exc:
        if any(p.rule == "model" for p in exc.problems):
            raise  # the model class itself is broken: nothing to locate in the value
        return _unstructure_failed(model, exc)
    except (TypeError, ValueError) as exc:
        return _unstructure_failed(model, exc)


def _unstructure_failed(model: Any, exc: Exception) -> Any:
    problems = _locate(model, "$") or [Problem(path="$", rule="type", message=str(exc))]
    summary = "; ".join(str(p) for p in problems)
    raise ConversionError(f"cannot write {type(model).__name__}: {summary}", problems) from exc


def _locate(value: Any, path: str) -> list[Problem]:
    # The slow path, taken only after a failure: find the fields at fault so
    # the error names their wire paths.
    if attrs.has(type(value)):
        found = []
        for field in attrs.fields(type(value)):
            found += _locate(getattr(value, field.name), wire_path([_wire_name(field)], path))
        return found
    if isinstance(value, (list, tuple)):
        return [p for i, item in enumerate(value) for p in _locate(item, wire_path([i], path))]
    try:
        to_json_value(value, path)
    except ConversionError as exc:
        return list(exc.problems)
    return []


def structure(data: Any, cls: type[T]) -> T:
    """Read wire data (parsed JSON) into ``cls``; errors list every wire path at fault."""
    try:
        return converter().structure(data, cls)
    except (cattrs.BaseValidationError, ConversionError, TypeError, ValueError) as exc:
        problems = _problems(exc, "$")
        summary = "; ".join(str(p) for p in problems)
        raise ConversionError(f"cannot read {cls.__name__}: {summary}", problems) from exc


def dumps(obj: Any) -> bytes:
    """A model or wire dict as compact JSON bytes (orjson)."""
    data = obj if isinstance(obj, Mapping) else unstructure(obj)
    try:
        return orjson.dumps(data)
    except TypeError:
        return orjson.dumps(to_json_value(data))


def loads(raw: bytes | str, cls: type[T]) -> T:
    """JSON bytes straight into ``cls``."""
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        problem = Problem(path="$", rule="json", message=f"not valid JSON: {exc}")
        raise ConversionError(str(problem), [problem]) from exc
    return structure(data, cls)


def _problems(exc: BaseException, path: str) -> list[Problem]:
    if isinstance(exc, ConversionError):
        return [attrs.evolve(p, path=path + p.path[1:]) for p in exc.problems]
    if isinstance(exc, cattrs.IterableValidationError):
        by_index, without = exc.group_exceptions()
        found = []
        for sub, index_note in by_index:
            found += _problems(sub, wire_path([index_note.index], path))
        return found + [p for sub in without for p in _problems(sub, path)]
    if isinstance(exc, cattrs.ClassValidationError):
        by_field, without = exc.group_exceptions()
        found = []
        for sub, field_note in by_field:
            wire = _wire_name_of(exc.cl, field_note.name)
            found += _problems(sub, wire_path([wire], path))
        return found + [p for sub in without for p in _problems(sub, path)]
    if isinstance(exc, cattrs.ForbiddenExtraKeysError):
        return [
            Problem(
                path=wire_path([key], path),
                rule="unknown-key",
                message=f"unknown key {key!r}",
                hint="check the spelling against the spec's field names",
            )
            for key in sorted(exc.extra_fields)
        ]
    if isinstance(exc, KeyError):
        return [Problem(path=path, rule="required", message=f"{exc} is required")]
    return [Problem(path=path, rule="type", message=str(exc))]
