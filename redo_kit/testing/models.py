"""``st.from_type`` for generated models: valid instances, by the spec of their own package.

Installing redo-kit registers, through hypothesis's ``hypothesis`` entry
point, a strategy for every model of ``redo_kit_models`` (``Event``,
``Customer``, ``Location``, ``BulkEventsRequest`` and the rest), so a test
needs no import beyond the model::

    from hypothesis import given, strategies as st
    from redo_kit import Event

    @given(st.from_type(Event))
    def test_every_event_is_accepted(event):
        assert redo_kit.validate_event(redo_kit.unstructure(event)) == []

A package written by ``redo-kit generate --out DIR --package NAME`` gets the
same with one call, ``register_models(NAME)``: its strategies follow the
``openapi.json`` shipped beside its ``models.py``, not redo-kit's own spec.

``st.builds(Event)`` gives valid events too: hypothesis fills a class's
required fields from their types, and the generated types carry the spec's
lengths and bounds (``Annotated[str, MinLen(1), MaxLen(102400)]``); the
customer comes from the strategy registered here. ``st.from_type`` also
fills the optional fields.
"""

from __future__ import annotations

import importlib
import importlib.resources
import types
import typing
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

import attrs
import orjson
from hypothesis import strategies as st

__all__ = ["register_models", "setup_hypothesis", "strategies_for"]

_SHIPPED = "redo_kit_models"


def _models_module(module: types.ModuleType | str) -> types.ModuleType:
    """The module that defines the classes: ``NAME.models`` of a package, or ``module`` itself."""
    found = importlib.import_module(module) if isinstance(module, str) else module
    if hasattr(found, "__path__"):
        try:
            return importlib.import_module(f"{found.__name__}.models")
        except ModuleNotFoundError:
            return found
    return found


def _package_of(models: types.ModuleType) -> str:
    return models.__name__ if hasattr(models, "__path__") else str(models.__package__)


def _document(models: types.ModuleType) -> dict[str, Any]:
    """The ``openapi.json`` that ``redo-kit generate`` writes beside ``models.py``."""
    package = _package_of(models)
    resource = importlib.resources.files(package).joinpath("openapi.json")
    if not resource.is_file():
        raise FileNotFoundError(
            f"{package} has no openapi.json beside its models: register_models needs the "
            "package as `redo-kit generate` writes it, or pass spec= (a parsed OpenAPI document)"
        )
    loaded: dict[str, Any] = orjson.loads(resource.read_bytes())
    return loaded


def _classes(models: types.ModuleType) -> dict[str, type]:
    return {
        name: value
        for name, value in vars(models).items()
        if isinstance(value, type) and attrs.has(value) and value.__module__ == models.__name__
    }


def strategies_for(
    module: types.ModuleType | str, *, spec: Mapping[str, Any] | None = None
) -> dict[type, st.SearchStrategy[Any]]:
    """A strategy of valid instances for every attrs class of a generated package.

    ``module`` is the package (or its ``models`` module, or its name).
    ``spec`` is the parsed OpenAPI document to follow; default: the package's
    own ``openapi.json``. The numbers are read now, once. Each class is
    matched to the component schema of its name; a class with no such
    component raises ``ValueError``.
    """
    from redo_kit.testing import strategies as rs

    models = _models_module(module)
    shipped = models.__name__.split(".")[0] == _SHIPPED
    document = None if shipped and spec is None else dict(spec or _document(models))
    schemas = (document or _shipped_document())["components"]["schemas"]
    found: dict[type, st.SearchStrategy[Any]] = {}
    for name, cls in _classes(models).items():
        if name not in schemas:
            raise ValueError(
                f"{models.__name__}.{name} has no component schema {name!r} in its spec"
            )
        wire = rs.component_values(name, spec=document, as_model=True)
        found[cls] = wire.map(_structurer(cls, models, shipped))
    return found


def register_models(
    module: types.ModuleType | str, *, spec: Mapping[str, Any] | None = None
) -> dict[type, st.SearchStrategy[Any]]:
    """Register valid strategies for every attrs class of a generated package.

    After ``register_models("billing_models")``, ``st.from_type(billing_models.Event)``
    gives only events valid under that package's own ``openapi.json`` (or
    ``spec``, a parsed OpenAPI document). Returns the strategies registered,
    by class. See :func:`strategies_for`.
    """
    found = strategies_for(module, spec=spec)
    for cls, strategy in found.items():
        st.register_type_strategy(cls, strategy)
    return found


def _shipped_document() -> dict[str, Any]:
    from redo_kit._spec import document

    return document()


def _structurer(cls: type, models: types.ModuleType, shipped: bool) -> Callable[[Any], Any]:
    if shipped:

        def structure(wire: Any) -> Any:
            import redo_kit

            return redo_kit.structure(wire, cls)

        return structure
    namespace = vars(models)
    return lambda wire: _instance(cls, wire, namespace)


def _instance(cls: type, wire: Mapping[str, Any], namespace: Mapping[str, Any]) -> Any:
    """An instance of ``cls`` (an attrs class of a generated package) from its wire dict.

    Each field is read from its ``metadata["wire"]`` name; nested models,
    lists of them and datetimes are built by their annotations. Wire values
    are shallow (an event, its customer, its location), so this recursion is
    bounded by the schema, not by the data.
    """
    hints = typing.get_type_hints(cls, globalns=dict(namespace))
    kwargs: dict[str, Any] = {}
    for field in attrs.fields(cls):
        name = str(field.metadata.get("wire", field.name))
        if name in wire:
            kwargs[field.alias] = _convert(hints[field.name], wire[name], namespace)
    return cls(**kwargs)


def _convert(hint: Any, value: Any, namespace: Mapping[str, Any]) -> Any:
    if value is None:
        return None
    options = typing.get_args(hint) if _is_union(hint) else (hint,)
    for option in options:
        if isinstance(option, type) and attrs.has(option) and isinstance(value, Mapping):
            return _instance(option, value, namespace)
        if typing.get_origin(option) is list and isinstance(value, list):
            (item,) = typing.get_args(option) or (Any,)
            return [_convert(item, each, namespace) for each in value]
        if option is datetime and isinstance(value, str):
            from redo_kit._rfc3339 import parse_datetime

            return parse_datetime(value)
    return value


def _is_union(hint: Any) -> bool:
    return typing.get_origin(hint) in (typing.Union, types.UnionType)


_registered: dict[type, st.SearchStrategy[Any]] = {}


def _shipped_strategy(cls: type) -> st.SearchStrategy[Any]:
    if not _registered:
        _registered.update(strategies_for(_SHIPPED))
    return _registered[cls]


def setup_hypothesis() -> None:
    """Register the ``redo_kit_models`` strategies: hypothesis calls this on import.

    Wired in redo-kit's ``[project.entry-points.hypothesis]``, so
    ``st.from_type(redo_kit.Event)`` works in any test once redo-kit is
    installed (``HYPOTHESIS_NO_PLUGINS=1`` turns every plugin off). Only the
    generated classes are imported here; the spec is read the first time a
    strategy is asked for, so importing hypothesis stays fast.
    """
    models = _models_module(_SHIPPED)
    for cls in _classes(models).values():
        st.register_type_strategy(cls, _shipped_strategy)
    register_ci_profile()


CI_PROFILE = "redo-kit-ci"
"""The hypothesis profile for CI: ``settings.load_profile("redo-kit-ci")``."""


def register_ci_profile() -> None:
    """Register ``redo-kit-ci``: 60 examples, no deadline, the same examples every run.

    Events are larger than hypothesis's usual inputs and CI machines are
    shared: a deadline would fail on a slow machine, not on a bug, and a
    derandomized run fails the same way when it is run again.
    """
    from hypothesis import HealthCheck, settings

    settings.register_profile(
        CI_PROFILE,
        max_examples=60,
        deadline=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.too_slow],
    )
