"""Building events, and the one path every event takes before it is sent.

``prepare_event`` is that path: the client, the batcher and the CLI all call
it, for wire dicts and for ``redo_kit_models.Event`` alike (and for the
models of a package ``redo-kit generate`` wrote, checked against that
package's own spec). In order it

1. turns a typed model into its wire dict (``redo_kit._converter``);
2. writes datetimes as RFC 3339 ``Z`` and Decimals as JSON numbers;
3. normalizes the customer's identifiers (``redo_kit._identity``);
4. cleans ``data`` (``redo_kit._properties.clean_data``), reporting each
   dropped value as a warning;
5. assigns the ``uniqueId``: the caller's, or a random one made once, here,
   so that every retry and re-queue sends the same one (or, with
   ``unique_id="content"``, one derived from the content, for backfills);
6. validates everything (``redo_kit._validation``) and serializes once.

It never changes its input and raises ``ValidationError`` listing every
problem, or returns an immutable ``PreparedEvent``.

``build_event`` writes an event from keyword arguments and returns the wire
dict after the same path.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

import attrs
import orjson

from redo_kit._converter import unstructure
from redo_kit._errors import ConfigurationError, ConversionError, Problem, ValidationError
from redo_kit._idempotency import CONTENT_PREFIX, content_digest, new_unique_id
from redo_kit._identity import normalize_wire_customer
from redo_kit._json import kept, loads_exact, walk
from redo_kit._plan import TrackingPlan
from redo_kit._properties import clean_wire_data
from redo_kit._rules import EXTRA, ignored_value
from redo_kit._spec import package_document, within
from redo_kit._validation import check_wire, follows_from

__all__ = ["PrepareOptions", "PreparedEvent", "build_event", "overridden", "prepare_event"]

_JSON_SCALARS = frozenset({str, int, float, bool, type(None)})


def _region(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is not None and not (isinstance(value, str) and len(value) == 2 and value.isalpha()):
        raise ConfigurationError(
            f"{attribute.name} must be an ISO 3166-1 alpha-2 code such as 'US', got {value!r}"
        )


def _plan(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is not None and not isinstance(value, TrackingPlan):
        raise ConfigurationError(
            f"{attribute.name} must be a TrackingPlan (TrackingPlan.load('plan.yaml')) or None, "
            f"not {type(value).__name__}"
        )


def _flag(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, bool):
        raise ConfigurationError(f"{attribute.name} must be True or False, got {value!r}")


@attrs.frozen(kw_only=True)
class PrepareOptions:
    """How :func:`prepare_event` treats what it is given; one value for a whole stream.

    The client, the batcher, the importer and the CLI each hold one and hand it
    to every event they prepare.

    ``allow_unknown_keys``: unknown top-level keys become warnings (the API
    ignores them) instead of errors; default ``False``.
    ``default_region``: ISO 3166-1 alpha-2 code (``"US"``) that reads phone
    numbers written in national format; default ``None`` (E.164 only).
    ``move_nested_to_extra``: top-level objects and lists of ``data`` move
    under ``$extra`` instead of being refused; default ``False``.
    ``content_unique_ids``: an event without a ``uniqueId`` gets one derived
    from its content (``content_unique_id``), so a re-run of a backfill stores
    nothing twice; default ``False`` (a random one, made once).
    ``plan``: a :class:`~redo_kit._plan.TrackingPlan` every event is checked
    against, after the spec's rules; an event without a ``uniqueId`` gets the
    one its plan recipe gives; default ``None``.
    """

    allow_unknown_keys: bool = attrs.field(default=False, validator=_flag)
    default_region: str | None = attrs.field(default=None, validator=_region)
    move_nested_to_extra: bool = attrs.field(default=False, validator=_flag)
    content_unique_ids: bool = attrs.field(default=False, validator=_flag)
    plan: TrackingPlan | None = attrs.field(default=None, validator=_plan)


DEFAULT_OPTIONS = PrepareOptions()


def overridden(options: PrepareOptions, **fields: Any) -> PrepareOptions:
    """``options`` with each field of ``fields`` that is not ``None`` put in its place."""
    given = {name: value for name, value in fields.items() if value is not None}
    return attrs.evolve(options, **given) if given else options


@attrs.frozen(kw_only=True)
class PreparedEvent:
    """An event ready to send: normalized, cleaned, validated and serialized once.

    ``payload`` is the wire dict (treat it as read-only: ``body`` is what is
    sent), ``body`` its JSON bytes, ``unique_id`` its ``uniqueId`` and
    ``warnings`` what the API would do silently (values it ignores, unknown
    keys let through with ``allow_unknown_keys``). Two prepared events are
    equal when their bodies, ``unique_id`` and ``warnings`` are (the payload
    follows from the body).

    An outbox that hands back stored events gives ``body`` and
    ``unique_id`` only: ``payload`` is then read from ``body`` the first
    time it is asked for. Delivery needs the bytes alone, and a relay that
    parsed every body again would spend more on that than on the request.
    """

    body: bytes
    unique_id: str
    warnings: tuple[Problem, ...] = ()
    _payload: dict[str, Any] | None = attrs.field(
        default=None, eq=False, repr=False, alias="payload"
    )

    @property
    def payload(self) -> dict[str, Any]:
        """The wire dict (read from ``body`` on first use when it was not given)."""
        payload = self._payload
        if payload is None:
            payload = loads_exact(self.body)
            # A cache on a frozen instance: the value follows from ``body``.
            object.__setattr__(self, "_payload", payload)
        return payload

    @property
    def event_name(self) -> str:
        """The event's ``eventName``."""
        return str(self.payload["eventName"])


def prepare_event(
    payload: Any,
    *,
    options: PrepareOptions | None = None,
    unique_id: str | None = None,
    allow_unknown_keys: bool | None = None,
    default_region: str | None = None,
    move_nested_to_extra: bool | None = None,
    plan: TrackingPlan | None = None,
) -> PreparedEvent:
    """Take a wire dict or a ``redo_kit_models.Event`` through every rule (see the module doc).

    ``options`` is a :class:`PrepareOptions` (default: all off); the keyword
    arguments of the same names override it for this one event.
    ``unique_id`` sets the ``uniqueId`` when the event has none (``"content"``
    derives it from the content with ``content_unique_id``; any other string is
    used as it is); an event that already has a different one is an error.
    """
    chosen = options or DEFAULT_OPTIONS
    # Every event comes here, nearly always overriding nothing: overridden's
    # dict of keyword arguments cost half a microsecond for nothing.
    if not (
        allow_unknown_keys is None
        and default_region is None
        and move_nested_to_extra is None
        and plan is None
    ):
        chosen = overridden(
            chosen,
            allow_unknown_keys=allow_unknown_keys,
            default_region=default_region,
            move_nested_to_extra=move_nested_to_extra,
            plan=plan,
        )
    problems: list[Problem] = []
    own_spec = _own_spec(payload)
    if own_spec is None:
        wire, json_ready = _wire(payload, problems)
        return _prepare(wire, problems, chosen, unique_id, json_ready=json_ready)
    with within(own_spec):
        wire, json_ready = _wire(payload, problems)
        return _prepare(wire, problems, chosen, unique_id, json_ready=json_ready)


def _own_spec(payload: Any) -> dict[str, Any] | None:
    """The spec of the package that generated ``payload``'s class, when not redo-kit's own."""
    if type(payload) is dict or not _is_model(payload):
        return None
    return package_document(type(payload).__module__)


def build_event(
    *,
    event_name: str,
    customer: Any = None,
    email: str | None = None,
    phone: str | None = None,
    customer_id: str | None = None,
    data: Mapping[str, Any] | None = None,
    extra: Mapping[str, Any] | None = None,
    event_timestamp: datetime | str | None = None,
    value: float | Decimal | None = None,
    value_currency: str | None = None,
    unique_id: str | None = None,
    default_region: str | None = None,
    move_nested_to_extra: bool = False,
) -> dict[str, Any]:
    """A valid wire event from Python values, with a ``uniqueId`` fixed now.

    ``customer`` is a wire dict or a ``redo_kit_models.Customer``; ``email``,
    ``phone`` and ``customer_id`` set (or add to) its identifiers. ``extra`` is
    merged under ``data["$extra"]``. ``event_timestamp`` takes an aware
    datetime (written as RFC 3339 in UTC) or an RFC 3339 string; ``value`` an
    int, float or Decimal. ``unique_id`` as for ``prepare_event``; without it a
    random one is generated once. Raises ``ValidationError`` with every problem.

    >>> build_event(event_name="Order Placed", email="stewart@example.com",
    ...             data={"Order Total": 59.99}, unique_id="order-789")["uniqueId"]
    'order-789'
    """
    problems: list[Problem] = []
    who = _wire_customer(customer, problems)
    for key, given in (("id", customer_id), ("email", email), ("phoneNumber", phone)):
        if given is None:
            continue
        if key in who and who[key] != given:
            problems.append(
                Problem(
                    path=f"$.customer.{key}",
                    rule="conflict",
                    message=f"customer.{key} is {who[key]!r} but {given!r} was also given",
                    hint="give each identifier once",
                )
            )
        else:
            who[key] = given
    wire: dict[str, Any] = {"eventName": event_name, "customer": who}
    if event_timestamp is not None:
        wire["eventTimestamp"] = event_timestamp
    if value is not None:
        wire["value"] = value
    if value_currency is not None:
        wire["valueCurrency"] = value_currency
    if data is not None or extra is not None:
        wire["data"] = _with_extra(data, extra, problems)
    options = (
        DEFAULT_OPTIONS
        if default_region is None and not move_nested_to_extra
        else PrepareOptions(
            default_region=default_region, move_nested_to_extra=move_nested_to_extra
        )
    )
    prepared = _prepare(wire, problems, options, unique_id)
    return prepared.payload


def _is_model(value: Any) -> bool:
    # attrs.has() without its generic-alias handling: this runs for every event.
    return getattr(type(value), "__attrs_attrs__", None) is not None


def _wire(payload: Any, problems: list[Problem]) -> tuple[dict[str, Any], bool]:
    """The event as a new wire dict, and whether its values are JSON already.

    The wire converter has already written a model's values as JSON; a
    caller's dict may hold datetimes, Decimals and the like.
    """
    # A plain dict first: nearly every event, and never an attrs model.
    if type(payload) is not dict and _is_model(payload):
        try:
            unstructured = unstructure(payload)
        except ConversionError as exc:
            raise ValidationError(exc.problems) from exc
        if isinstance(unstructured, dict):
            return unstructured, True
    elif type(payload) is dict or isinstance(payload, Mapping):
        wire = dict(payload)
        customer = wire.get("customer")
        if customer is not None and type(customer) is not dict and _is_model(customer):
            wire["customer"] = _wire_customer(customer, problems)
        return wire, False
    problems.append(
        Problem(
            path="$",
            rule="type",
            message=(
                f"an event is a dict or a redo_kit_models.Event, not a {type(payload).__name__}"
            ),
        )
    )
    raise ValidationError(problems)


def _wire_customer(customer: Any, problems: list[Problem]) -> dict[str, Any]:
    if customer is None:
        return {}
    if isinstance(customer, Mapping):
        return dict(customer)
    if attrs.has(type(customer)):
        try:
            wire = unstructure(customer)
        except ConversionError as exc:
            problems.extend(attrs.evolve(p, path="$.customer" + p.path[1:]) for p in exc.problems)
            # Keep the identifiers, so that the report does not add a missing one.
            names = (("id", "id"), ("email", "email"), ("phoneNumber", "phone_number"))
            return {
                wire: getattr(customer, name)
                for wire, name in names
                if isinstance(getattr(customer, name, None), str)
            }
        if isinstance(wire, dict):
            return wire
    problems.append(
        Problem(
            path="$.customer",
            rule="type",
            message=(
                f"customer is a dict or a redo_kit_models.Customer, not a {type(customer).__name__}"
            ),
        )
    )
    return {}


def _with_extra(
    data: Mapping[str, Any] | None, extra: Mapping[str, Any] | None, problems: list[Problem]
) -> Any:
    if data is not None and not isinstance(data, Mapping):
        return data
    merged = dict(data or {})
    if extra is None:
        return merged
    current = merged.get(EXTRA, {})
    if not isinstance(current, Mapping):
        problems.append(
            Problem(
                path="$.data['$extra']",
                rule="type",
                message="data['$extra'] must be an object to merge extra= into it",
            )
        )
        return merged
    combined = dict(current)
    for key, item in extra.items():
        if key in combined and combined[key] != item:
            problems.append(
                Problem(
                    path=f"$.data['$extra'][{key!r}]",
                    rule="conflict",
                    message=f"{key!r} is in both data['$extra'] and extra=",
                    hint="give it once",
                )
            )
        combined[key] = item
    merged[EXTRA] = combined
    return merged


def _prepare(
    wire: dict[str, Any],
    problems: list[Problem],
    options: PrepareOptions,
    unique_id: str | None,
    *,
    json_ready: bool = False,
) -> PreparedEvent:
    """Normalize, apply the rules, serialize: the one path of every event.

    The fast path trusts that ``wire`` already holds JSON values only (nearly
    every event does) and lets the strict serialization at its end verify it;
    on any doubt, or any problem, the event is walked (:mod:`redo_kit._json`)
    and taken through the same rules again, reporting every problem.
    """
    if not problems:
        # The fast path replaces top-level values only; cleaning drops keys
        # from data, which the full path must see again to report them.
        data = wire.get("data")
        try:
            prepared = _apply(wire, [], options, unique_id, json_ready=json_ready)
        except (TypeError, ValueError, UnicodeError):
            # A value the rules cannot read as it is (a str subclass, a lone
            # surrogate): the walker below reads it, or names it.
            prepared = None
        if prepared is not None:
            return prepared
        if data is not None:
            wire["data"] = data
    walked = walk(wire)
    problems.extend(walked.problems)
    normalized = walked.value if type(walked.value) is dict else {}
    prepared = _apply(normalized, problems, options, unique_id, refused=walked.refused)
    if prepared is None:  # pragma: no cover  # _apply raises when it reports
        raise ValidationError(problems)
    return prepared


def _apply(
    wire: dict[str, Any],
    problems: list[Problem],
    options: PrepareOptions,
    unique_id: str | None,
    *,
    json_ready: bool = True,
    refused: frozenset[str] | None = None,
) -> PreparedEvent | None:
    """The rules on one event, in order. ``refused`` is None on the fast path.

    On the fast path a problem returns None (the caller walks the event and
    comes back); after the walk every problem is raised, with all the others.
    """
    # Runs for every event: each step is skipped when it has nothing to do.
    fast = refused is None
    warnings: list[Problem] = []
    if not json_ready:
        stamp = wire.get("eventTimestamp")
        if stamp is not None and type(stamp) is not str:
            wire["eventTimestamp"] = _json_value(stamp, "$.eventTimestamp", problems)
        value = wire.get("value")
        if value is not None and type(value) not in _JSON_SCALARS:
            wire["value"] = _json_value(value, "$.value", problems)

    customer = wire.get("customer")
    if type(customer) is dict:
        customer, found = normalize_wire_customer(
            customer, options.default_region, "$.customer", schema_follows=fast
        )
        if found:
            problems.extend(found)
        wire["customer"] = customer

    data = wire.get("data")
    if type(data) is dict:
        convert = None if json_ready else _json_value
        cleaned, dropped, found = clean_wire_data(
            data, options.move_nested_to_extra, convert, "$.data"
        )
        wire["data"] = cleaned
        if found:
            problems.extend(found)
        if dropped:
            warnings.extend(ignored_value(key, "", dropped=True) for key in dropped)

    plan = options.plan
    if plan is not None and unique_id is None and wire.get("uniqueId") is None:
        # The plan's recipe (`uniqueId: [order, Order Id]`) before any other id.
        planned_id = plan.unique_id_for(wire)
        if planned_id is not None:
            wire["uniqueId"] = planned_id
    if unique_id is None and not options.content_unique_ids:
        # The usual case, without a call: a random id when the event has none.
        if wire.get("uniqueId") is None:
            wire["uniqueId"] = new_unique_id()
    elif unique_id is not None or wire.get("uniqueId") is None:
        _assign_unique_id(wire, options, unique_id, problems)
    if fast and problems:
        return None

    found, body = check_wire(
        wire, allow_unknown_keys=options.allow_unknown_keys, root="$", data_cleaned=True
    )
    if found:
        if fast and any(p.severity == "error" for p in found):
            return None
        located = {p.path for p in problems} | (refused or frozenset())
        for problem in found:
            if problem.severity != "error":
                warnings.append(problem)
            elif not follows_from(problem, located):
                problems.append(problem)
    if plan is not None:
        for problem in plan.problems(wire):
            (problems if problem.severity == "error" else warnings).append(problem)
        if fast and problems:
            return None
    if fast and body is None:
        return None
    if problems or body is None:
        raise ValidationError([*problems, *warnings])
    return PreparedEvent(
        payload=wire, body=kept(body), unique_id=str(wire["uniqueId"]), warnings=tuple(warnings)
    )


def _assign_unique_id(
    wire: dict[str, Any], options: PrepareOptions, unique_id: str | None, problems: list[Problem]
) -> None:
    given = wire.get("uniqueId")
    if unique_id is None and options.content_unique_ids and given is None:
        unique_id = "content"
    if unique_id is None:
        if given is None:
            wire["uniqueId"] = new_unique_id()
        return
    chosen: str | None = unique_id
    if unique_id == "content":
        rest = {k: v for k, v in wire.items() if k != "uniqueId"}
        try:
            chosen = CONTENT_PREFIX + content_digest(rest)
        except (TypeError, orjson.JSONEncodeError):
            chosen = None  # not JSON yet: the walker reports why
    if chosen is not None and given is not None and given != chosen:
        problems.append(
            Problem(
                path="$.uniqueId",
                rule="conflict",
                message=f"the event has uniqueId {given!r} but {chosen!r} was asked for",
                hint="drop one of the two",
            )
        )
    elif chosen is not None:
        wire["uniqueId"] = chosen


def _json_value(value: Any, path: str, problems: list[Problem] | None = None) -> Any:
    """One value through the walker; its problems go to ``problems`` (or raise)."""
    # A container's level in the event counts against the depth limit.
    nests = type(value) is not datetime and isinstance(value, (Mapping, list, tuple))
    depth = path.count(".") + path.count("[") + 1 if nests else 1
    walked = walk(value, path, depth=depth)
    if walked.problems:
        if problems is None:
            raise ValidationError(walked.problems)
        problems.extend(walked.problems)
        return value
    return walked.value
