"""Typed event classes from a tracking plan: ``redo-kit generate --plan``.

One frozen, keyword-only attrs class per planned event, in a package of its
own:

- ``events.py``: the classes. ``OrderPlaced(order_id="ord_1", order_total=59.99)``
  has a field per data property (and per custom field the event sets), typed
  as the plan says (``datetime`` for dates, ``Literal`` for string enums),
  with the wire name in ``metadata["wire"]`` and the plan's description as
  its docstring. ``to_event(customer=...)`` returns a ``redo_kit.Event`` whose
  ``uniqueId`` follows the plan's recipe;
- ``plan.json``: the plan itself, loaded as ``PLAN`` (a ``TrackingPlan``) so
  that ``RedoClient(plan=shop_events.PLAN)`` enforces what the classes say;
- ``__init__.py``: re-exports the classes and ``PLAN``.

The output is deterministic and passes ``mypy --strict``; every file carries
a banner naming the plan, its version and sha256, and the command.
"""

from __future__ import annotations

import hashlib
import json
import keyword
import re

from redo_kit._errors import ConfigurationError
from redo_kit._plan import PlanEvent, PlanProperty, TrackingPlan

__all__ = ["class_name", "field_name", "render_plan"]

_PYTHON_TYPES = {
    "string": "str",
    "number": "float",
    "integer": "int",
    "boolean": "bool",
    "date": "datetime",
}
_WORD = re.compile(r"[^\W_]+")
_CAMEL = re.compile(r"(?<=[a-z])(?=[A-Z])")
_RESERVED = frozenset({"to_event", "data", "EVENT_NAME", "PLAN_VERSION", "extra"})


def class_name(event: str) -> str:
    """``"Order Placed"`` -> ``OrderPlaced``; a name that starts with a digit gets ``Event``."""
    words = _WORD.findall(event)
    name = "".join(w[:1].upper() + w[1:] for w in words) or "Event"
    return f"Event{name}" if name[0].isdigit() else name


def field_name(wire: str) -> str:
    """``"Order Id"`` -> ``order_id``, ``"itemCount"`` -> ``item_count``; keywords get ``_``."""
    words = [w.lower() for part in _WORD.findall(wire) for w in _CAMEL.split(part)]
    name = "_".join(words) or "field"
    if name[0].isdigit():
        name = f"field_{name}"
    return f"{name}_" if keyword.iskeyword(name) or name in _RESERVED else name


def _banner(label: str, digest: str, plan: TrackingPlan, command: str) -> str:
    return (
        f"# Generated from {label} (tracking plan {plan.version}, sha256 {digest})\n"
        f"# by {command}. Do not edit: change the plan and regenerate.\n\n"
    )


def render_plan(
    plan: TrackingPlan, *, package: str, label: str, command: str = "redo-kit generate"
) -> dict[str, str]:
    """The files of ``package`` for ``plan``; ``label`` names the plan file in the banners.

    Raises ``ConfigurationError`` when two events (or two properties of one
    event) would get the same Python name.
    """
    as_json = json.dumps(plan.to_dict(), indent=1, ensure_ascii=False, sort_keys=False) + "\n"
    digest = hashlib.sha256(as_json.encode("utf-8")).hexdigest()
    banner = _banner(label, digest, plan, command)
    classes = _class_names(plan)
    body = [banner, _EVENTS_HEAD.format(label=label, version=plan.version)]
    for name, event in plan.events.items():
        body.append(_render_class(classes[name], event, plan.version))
    events = "".join(body).rstrip() + "\n"
    names = sorted(classes.values())
    init = (
        banner + f'"""Typed events of the tracking plan {label} ({plan.version}), for redo-kit.\n\n'
        "Build an event with its class, turn it into a Redo event with ``to_event``,\n"
        "and send it with ``RedoClient.send``, ``send_bulk`` or ``batcher().track``.\n"
        "``PLAN`` is the plan itself: ``RedoClient(plan=PLAN)`` enforces it.\n"
        '"""\n\n'
        "from importlib import resources\n\n"
        "from redo_kit import TrackingPlan\n\n"
        f"from {package}.events import (\n"
        + "".join(f"    {name},\n" for name in names)
        + ")\n\n"
        + f'PLAN = TrackingPlan.from_text(\n    resources.files(__name__).joinpath("plan.json")'
        '.read_text(encoding="utf-8"),\n'
        f'    source="{label}",\n)\n'
        '"""The tracking plan the classes were generated from."""\n\n'
        "__all__ = [\n" + "".join(f'    "{name}",\n' for name in sorted([*names, "PLAN"])) + "]\n"
    )
    return {"__init__.py": init, "events.py": events, "plan.json": as_json, "py.typed": ""}


_EVENTS_HEAD = '''"""The events of the tracking plan {label} ({version}), one class each."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, ClassVar, Literal

import attrs

import redo_kit
'''


def _class_names(plan: TrackingPlan) -> dict[str, str]:
    names: dict[str, str] = {}
    taken: dict[str, str] = {}
    for event in plan.events:
        name = class_name(event)
        if name in taken:
            raise ConfigurationError(
                f"the events {taken[name]!r} and {event!r} would both be the class {name}: "
                "rename one of them in the plan"
            )
        taken[name] = event
        names[event] = name
    return names


def _fields(event: PlanEvent) -> list[tuple[str, PlanProperty, bool]]:
    """(python name, property, is a custom field), in plan order; refuses clashes."""
    found: list[tuple[str, PlanProperty, bool]] = []
    taken: dict[str, str] = {}
    for props, custom in ((event.properties, False), (event.custom_fields, True)):
        for prop in props.values():
            name = field_name(prop.name)
            if name in taken:
                raise ConfigurationError(
                    f"{event.name!r}: {taken[name]!r} and {prop.name!r} would both be the "
                    f"field {name}: rename one of them in the plan"
                )
            taken[name] = prop.name
            found.append((name, prop, custom))
    return found


def _hint(prop: PlanProperty) -> str:
    if prop.enum is not None and prop.type == "string":
        return "Literal[" + ", ".join(json.dumps(v) for v in prop.enum) + "]"
    if prop.enum is not None and prop.type == "integer":
        return "Literal[" + ", ".join(str(v) for v in prop.enum) + "]"
    return _PYTHON_TYPES[prop.type]


def _doc(text: str, indent: str) -> str:
    cleaned = text.strip().replace("\\", "\\\\").replace('"""', '\\"\\"\\"')
    if not cleaned:
        return ""
    lines = cleaned.splitlines()
    if len(lines) == 1:
        return f'{indent}"""{lines[0]}"""\n'
    inner = "\n".join(f"{indent}{line}" if line else "" for line in lines[1:])
    return f'{indent}"""{lines[0]}\n{inner}\n{indent}"""\n'


def _render_class(name: str, event: PlanEvent, version: str) -> str:
    fields = _fields(event)
    lines = ["\n\n@attrs.frozen(kw_only=True)\n", f"class {name}:\n"]
    summary = event.description.strip() or f"The {event.name!r} event."
    doc = f"{summary}\n\nRedo event {json.dumps(event.name)}, tracking plan {version}."
    lines.append(_doc(doc, "    "))
    lines.append(f"\n    EVENT_NAME: ClassVar[str] = {json.dumps(event.name)}\n")
    lines.append(f"    PLAN_VERSION: ClassVar[str] = {json.dumps(version)}\n\n")
    ordered = [f for f in fields if f[1].required] + [f for f in fields if not f[1].required]
    for python, prop, custom in ordered:
        hint = _hint(prop)
        meta = f'{{"wire": {json.dumps(prop.name)}' + (', "custom_field": True}' if custom else "}")
        if prop.required:
            lines.append(f"    {python}: {hint} = attrs.field(metadata={meta})\n")
        else:
            lines.append(
                f"    {python}: {hint} | None = attrs.field(default=None, metadata={meta})\n"
            )
        described = prop.description.strip() or (
            f"Custom field {prop.name!r}." if custom else f"Data property {prop.name!r}."
        )
        lines.append(_doc(described, "    "))
    lines.append(
        "    extra: Mapping[str, Any] | None = attrs.field("
        'default=None, metadata={"wire": "$extra"})\n'
        '    """Non-segmentable metadata, sent as ``data.$extra``."""\n'
    )
    lines.append(_render_data(fields))
    lines.append(_render_to_event(event, fields))
    return "".join(lines)


def _render_data(fields: list[tuple[str, PlanProperty, bool]]) -> str:
    out = [
        "\n    def data(self) -> dict[str, Any]:\n",
        '        """The event\'s ``data`` as sent: unset properties left out."""\n',
        "        data: dict[str, Any] = {}\n",
    ]
    for python, prop, custom in fields:
        if custom:
            continue
        wire = json.dumps(prop.name)
        if prop.required:
            out.append(f"        data[{wire}] = self.{python}\n")
        else:
            out.append(f"        if self.{python} is not None:\n")
            out.append(f"            data[{wire}] = self.{python}\n")
    out.append("        if self.extra is not None:\n")
    out.append('            data["$extra"] = dict(self.extra)\n')
    out.append("        return data\n")
    return "".join(out)


def _render_to_event(event: PlanEvent, fields: list[tuple[str, PlanProperty, bool]]) -> str:
    value = "float" if event.value_required else "float | None = None"
    currency = (
        "redo_kit.CurrencyCode"
        if event.currency_required
        else "redo_kit.CurrencyCode | None = None"
    )
    params = [
        "        customer: redo_kit.Customer,\n",
        *(["        value: float,\n"] if event.value_required else []),
        *(["        value_currency: redo_kit.CurrencyCode,\n"] if event.currency_required else []),
        "        event_timestamp: datetime | None = None,\n",
        "        unique_id: str | None = None,\n",
        *([] if event.value_required else [f"        value: {value},\n"]),
        *([] if event.currency_required else [f"        value_currency: {currency},\n"]),
    ]
    recipe = event.unique_id
    out = [
        "\n    def to_event(\n        self,\n        *,\n",
        *params,
        "    ) -> redo_kit.Event:\n",
        '        """This event for ``customer``, ready for ``send``, ``send_bulk`` '
        "and ``track``.\n\n",
    ]
    if recipe is not None:
        prefix, *names = recipe
        parts = ", ".join([json.dumps(prefix)] + [f"self.{field_name(n)}" for n in names])
        out.append(
            f"        ``unique_id`` defaults to the plan's recipe, {list(recipe)!r}.\n"
            '        """\n'
            "        chosen = unique_id if unique_id is not None else "
            f"redo_kit.unique_id({parts})\n"
        )
    else:
        out.append(
            "        Without ``unique_id``, redo-kit gives the event a random one, once.\n"
            '        """\n'
            "        chosen = unique_id\n"
        )
    custom = [(python, prop) for python, prop, is_custom in fields if is_custom]
    if custom:
        out.append("        fields: dict[str, Any] = dict(customer.custom_fields or {})\n")
        for python, prop in custom:
            out.append(f"        if self.{python} is not None:\n")
            out.append(f"            fields[{json.dumps(prop.name)}] = self.{python}\n")
        out.append("        customer = attrs.evolve(customer, custom_fields=fields or None)\n")
    out.append(
        "        return redo_kit.Event(\n"
        "            event_name=self.EVENT_NAME,\n"
        "            customer=customer,\n"
        "            event_timestamp=event_timestamp,\n"
        "            value=value,\n"
        "            value_currency=value_currency,\n"
        "            unique_id=chosen,\n"
        "            data=self.data(),\n"
        "        )\n"
    )
    return "".join(out)
