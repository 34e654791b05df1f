"""Klaviyo payloads as Redo events, with the fate of every field they hold.

Three shapes are read (``KLAVIYO.md`` in the project's API notes; Klaviyo's own
reference decides where they differ):

- the legacy Track body: ``event``, ``customer_properties``, ``properties``,
  ``time`` (UNIX seconds) and ``token``;
- the Create Event body (``POST /api/events``, JSON:API): ``data.attributes``
  with ``metric``, ``profile``, ``properties``, ``time`` (ISO 8601), ``value``,
  ``value_currency`` and ``unique_id``;
- the Bulk Create Events job (``POST /api/event-bulk-create-jobs``): profiles,
  each with its events; one Redo event per Klaviyo event.

Each Klaviyo field gets one report entry, a :class:`Fate` located by its
Klaviyo path (``$.customer_properties['$email']``) whose ``rule`` says what
became of it and ``target`` where it went on the wire. Every converted event is
then taken through :func:`redo_kit._events.prepare_event`, the path every event
takes before it is sent, so an event either passes the spec's rules or comes
back with its problems; those problems are located by Klaviyo path too where
the field came from one. Only input that is none of the three shapes raises,
and it raises :class:`~redo_kit._errors.KlaviyoFormatError`.
"""

from __future__ import annotations

import base64
import collections
import math
import urllib.parse
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any, Literal

import attrs
import orjson

from redo_kit._errors import (
    ConfigurationError,
    ConversionError,
    KlaviyoFormatError,
    Problem,
    ValidationError,
)
from redo_kit._events import PrepareOptions, prepare_event
from redo_kit._idempotency import unique_id
from redo_kit._properties import is_date
from redo_kit._rfc3339 import format_datetime, parse_datetime
from redo_kit._rules import EXTRA, email_key, is_ignored
from redo_kit._spec import component, derived, wire_path

__all__ = [
    "DERIVED_UNIQUE_ID",
    "DROPPED",
    "ENVELOPE",
    "EXTERNAL_ID_FIELD",
    "FATES",
    "IGNORED_VALUE",
    "INVALID",
    "KLAVIYO_EXTRA",
    "MAPPED",
    "MEANINGS",
    "MOVED_TO_EXTRA",
    "NO_UNIQUE_ID",
    "RENAMED",
    "SHAPE_ERROR",
    "Conversion",
    "Fate",
    "KlaviyoOptions",
    "KlaviyoResult",
    "Shape",
    "convert",
    "from_bulk_create_job",
    "from_create_event",
    "from_track",
]

MAPPED = "klaviyo-mapped"
"""The field has a Redo equivalent and went there (its value normalized where Redo asks)."""
RENAMED = "klaviyo-renamed"
"""The field has no Redo equivalent and is kept as a custom field under another name."""
MOVED_TO_EXTRA = "klaviyo-moved-to-extra"
"""Kept under ``data['$extra']``: stored verbatim, but not segmentable."""
DROPPED = "klaviyo-dropped"
"""Not sent: Redo has no place for it (or the options say to leave it out)."""
IGNORED_VALUE = "klaviyo-ignored-value"
"""A top-level ``0``, ``null`` or ``""`` property, which Klaviyo keeps and Redo does not store."""
ENVELOPE = "klaviyo-envelope"
"""Part of the JSON:API envelope (a ``type`` tag): it names the shape and carries no data."""
NO_UNIQUE_ID = "klaviyo-no-unique-id"
"""The event has no dedup key: Klaviyo's implicit one (profile, metric, second) has no Redo twin."""
DERIVED_UNIQUE_ID = "klaviyo-derived-unique-id"
"""The ``uniqueId`` was derived from metric, profile identity and the second of ``time``."""
INVALID = "klaviyo-invalid"
"""The field cannot be read as Klaviyo documents it; the event is not converted."""
SHAPE_ERROR = "klaviyo-shape"
"""The rule of a payload that is none of the Klaviyo shapes (``KlaviyoFormatError``)."""

FATES = (
    MAPPED,
    RENAMED,
    MOVED_TO_EXTRA,
    DROPPED,
    IGNORED_VALUE,
    ENVELOPE,
    NO_UNIQUE_ID,
    DERIVED_UNIQUE_ID,
    INVALID,
)
"""Every fate id, in the order a summary lists them."""

MEANINGS: dict[str, str] = {
    MAPPED: "sent to its Redo field",
    RENAMED: "kept as a custom field under another name",
    MOVED_TO_EXTRA: "kept under data.$extra: stored, not segmentable",
    DROPPED: "not sent: Redo has no place for it",
    IGNORED_VALUE: '0, null or "": Klaviyo keeps it, Redo stores nothing',
    ENVELOPE: "JSON:API type tags: no data",
    NO_UNIQUE_ID: "events without a dedup key",
    DERIVED_UNIQUE_ID: "uniqueIds derived as Klaviyo would deduplicate",
    INVALID: "fields that cannot be converted",
    SHAPE_ERROR: "lines of no Klaviyo shape",
}
"""A short phrase for each fate, as a summary shows it."""

EXTERNAL_ID_FIELD = "Klaviyo External Id"
"""The custom field that keeps Klaviyo's ``$id`` / ``external_id`` by default."""

KLAVIYO_EXTRA = "$klaviyo"
"""The ``$extra`` key that holds Klaviyo-only fields when the options keep them."""

Shape = Literal["track", "create-event", "bulk-create-job"]

_UniqueIds = Literal["none", "klaviyo"]
_KlaviyoOnly = Literal["drop", "extra"]


def _choice(*allowed: str) -> Any:
    def check(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
        if value not in allowed:
            raise ConfigurationError(
                f"{attribute.name} must be one of {', '.join(map(repr, allowed))}, got {value!r}"
            )

    return check


def _field_name(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is not None and not (isinstance(value, str) and value.strip()):
        raise ConfigurationError(
            f"{attribute.name} must be a custom field name or None (drop the id), got {value!r}"
        )


def _flag(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, bool):
        raise ConfigurationError(f"{attribute.name} must be True or False, got {value!r}")


def _region(_: object, attribute: attrs.Attribute[Any], value: object) -> None:
    # PrepareOptions checks it the same way; building one here reports the same error.
    PrepareOptions(default_region=value)  # type: ignore[arg-type]  # checked by its validator


@attrs.frozen(kw_only=True)
class KlaviyoOptions:
    """Every choice where Klaviyo's model and Redo's differ; one value for a whole migration.

    ``unique_ids``: what an event without ``$event_id`` / ``unique_id`` gets.
    ``"none"`` (default) sends it without a ``uniqueId``, Redo's own behaviour
    (the importer then derives one from the content, the batcher a random one);
    ``"klaviyo"`` derives one from the metric, the profile's identity and the
    second of ``time``, the key Klaviyo deduplicates such events by.
    ``klaviyo_only``: fields only Klaviyo has (``token``, the Klaviyo profile
    id, ``$image``, ``$consent``, ``ip``, ``backfill``, unknown keys) are
    ``"drop"``-ped (default) or kept under ``data['$extra']['$klaviyo']``
    (``"extra"``), by their Klaviyo path. Reported either way.
    ``external_id_field``: the custom field that keeps ``$id`` /
    ``external_id`` (default ``"Klaviyo External Id"``); ``None`` drops it. It
    never becomes ``customer.id``, which is a Redo ObjectId.
    ``keep_ignored``: top-level ``0``, ``null`` and ``""`` properties, which
    Redo does not store, are kept under ``data['$extra']`` instead of only
    being reported; default ``False``.
    ``default_region``: ISO 3166-1 alpha-2 code that reads phone numbers
    written without a country code (``"US"``); default ``None`` (E.164 only).
    """

    unique_ids: _UniqueIds = attrs.field(default="none", validator=_choice("none", "klaviyo"))
    klaviyo_only: _KlaviyoOnly = attrs.field(default="drop", validator=_choice("drop", "extra"))
    external_id_field: str | None = attrs.field(default=EXTERNAL_ID_FIELD, validator=_field_name)
    keep_ignored: bool = attrs.field(default=False, validator=_flag)
    default_region: str | None = attrs.field(default=None, validator=_region)

    def with_options(self, **changes: Any) -> KlaviyoOptions:
        """A copy with ``changes`` applied (``attrs.evolve``), checked like the original."""
        return attrs.evolve(self, **changes)


DEFAULT_OPTIONS = KlaviyoOptions()


@attrs.frozen(kw_only=True)
class Fate(Problem):
    """What became of one Klaviyo field: a :class:`~redo_kit._errors.Problem` with a target.

    ``path`` is the field's Klaviyo path, ``rule`` one of :data:`FATES`,
    ``target`` the wire path it went to (``None`` when it was not sent), and
    ``severity`` ``"info"`` (nothing is lost), ``"warning"`` (Redo keeps less
    than Klaviyo did) or ``"error"`` (the event cannot be converted).
    """

    severity: str = "info"
    target: str | None = None

    def to_dict(self) -> dict[str, str]:
        """The entry as a JSON-ready dict, with its ``target`` when it has one."""
        out = super().to_dict()
        if self.target is not None:
            out["target"] = self.target
        return out


@attrs.frozen(kw_only=True)
class Conversion:
    """One Klaviyo event as a Redo wire event, with the fate of each of its fields.

    ``source`` is the Klaviyo path of the event (``$`` for a Track body);
    ``event`` the wire event (after ``prepare_event`` when it is valid, as
    built otherwise; ``None`` when there was no event to build); ``report``
    one :class:`Fate` per Klaviyo field, and the warnings of preparation;
    ``problems`` every error, empty when the event is valid.
    """

    source: str
    event: dict[str, Any] | None
    report: tuple[Problem, ...]
    problems: tuple[Problem, ...] = ()

    @property
    def valid(self) -> bool:
        """Whether the event passed every rule and may be sent."""
        return self.event is not None and not self.problems

    def to_dict(self) -> dict[str, Any]:
        """The conversion's report as a JSON-ready dict, as ``--fates`` files hold it."""
        return {
            "source": self.source,
            "valid": self.valid,
            "report": [p.to_dict() for p in self.report],
            "problems": [p.to_dict() for p in self.problems],
        }


@attrs.frozen(kw_only=True)
class KlaviyoResult:
    """What a Klaviyo payload converted to.

    ``shape`` is the shape it was read as; ``conversions`` one
    :class:`Conversion` per Klaviyo event, in input order; ``notes`` the fates
    of fields that belong to no one event (a bulk job's envelope).
    """

    shape: Shape
    conversions: tuple[Conversion, ...]
    notes: tuple[Problem, ...] = ()

    @property
    def events(self) -> list[dict[str, Any]]:
        """The valid wire events, in input order."""
        return [c.event for c in self.conversions if c.valid and c.event is not None]

    @property
    def problems(self) -> list[Problem]:
        """Every error of every conversion."""
        return [p for c in self.conversions for p in c.problems]

    @property
    def report(self) -> list[Problem]:
        """Every report entry: the notes, then each conversion's report."""
        return [*self.notes, *(p for c in self.conversions for p in c.report)]

    def fates(self) -> collections.Counter[str]:
        """How many report entries and problems there are of each rule."""
        return collections.Counter(p.rule for p in (*self.report, *self.problems))


def convert(payload: Any, *, options: KlaviyoOptions | None = None) -> KlaviyoResult:
    """Recognize which of the three Klaviyo shapes ``payload`` is and convert it.

    A Create Event body and a bulk job are told apart by ``data.type``
    (``event``, ``event-bulk-create-job``); a Track body by its ``event`` or
    ``customer_properties`` key, or, in the Track API's GET form, as the
    base64 JSON of ``{"data": "..."}`` (its report's paths are then within the
    decoded body). Raises ``KlaviyoFormatError`` saying what was expected when
    it is none of them.
    """
    if not isinstance(payload, Mapping):
        raise _not_an_object(payload)
    data = payload.get("data")
    if isinstance(data, str) and len(payload) == 1:
        return _track_get(data, options)
    kind = data.get("type") if isinstance(data, Mapping) else None
    if kind == "event":
        return from_create_event(payload, options=options)
    if kind == "event-bulk-create-job":
        return from_bulk_create_job(payload, options=options)
    if "data" not in payload and ("event" in payload or "customer_properties" in payload):
        return from_track(payload, options=options)
    found = ", ".join(repr(k) for k in list(payload)[:8]) or "none"
    raise KlaviyoFormatError(
        "not a Klaviyo event payload: expected a Track body ('event', 'customer_properties', "
        "'properties'), a Create Event body ({'data': {'type': 'event', ...}}) or a Bulk "
        "Create Events job ({'data': {'type': 'event-bulk-create-job', ...}}); "
        f"its keys: {found}" + (f"; data.type is {kind!r}" if kind is not None else ""),
        [
            Problem(
                path="$.data.type" if kind is not None else "$",
                rule=SHAPE_ERROR,
                message="none of Klaviyo's Track, Create Event or Bulk Create Events shapes",
                hint="pass one Klaviyo request body per call (per line of JSON Lines)",
            )
        ],
    )


def _track_get(encoded: str, options: KlaviyoOptions | None) -> KlaviyoResult:
    """A Track body sent as Klaviyo's GET form: base64 JSON, perhaps URL-encoded."""
    text = urllib.parse.unquote(encoded.strip())
    try:
        raw = base64.b64decode(
            text.replace("-", "+").replace("_", "/") + "=" * (-len(text) % 4), validate=True
        )
        body = orjson.loads(raw)
    except (ValueError, orjson.JSONDecodeError):
        body = None
    if not isinstance(body, Mapping):
        raise _wrong_shape("a Track body", "base64 JSON of a Track body (the GET form)", "$.data")
    result = from_track(body, options=options)
    note = Fate(
        path="$.data",
        rule=ENVELOPE,
        message="base64 JSON of a Track body (the Track API's GET form): this report's "
        "paths are within the decoded body",
    )
    return attrs.evolve(result, notes=(note, *result.notes))


def from_track(payload: Any, *, options: KlaviyoOptions | None = None) -> KlaviyoResult:
    """Convert a legacy Track body (``event``, ``customer_properties``, ``properties``, ``time``).

    Raises ``KlaviyoFormatError`` when ``payload`` is not an object with an
    ``event`` or ``customer_properties`` key.
    """
    if not isinstance(payload, Mapping):
        raise _not_an_object(payload)
    if "event" not in payload and "customer_properties" not in payload:
        raise _wrong_shape("a Track body", "an 'event' or 'customer_properties' key", "$")
    event = _Event(options or DEFAULT_OPTIONS, ())
    event.expect("eventName", ("event",))
    event.expect("customer", ("customer_properties",))
    for key, value in payload.items():
        at = (key,)
        if key == "event":
            event.mapped(at, ("eventName",), value)
        elif key == "customer_properties":
            event.track_profile(at, value)
        elif key == "properties":
            event.properties(at, value, legacy=True)
        elif key == "time":
            event.time(at, value)
        elif key == "token":
            event.klaviyo_only(
                at, value, "Klaviyo's public API key: Redo authenticates each request"
            )
        else:
            event.klaviyo_only(at, value, "not a field of Klaviyo's Track API")
    return KlaviyoResult(shape="track", conversions=(event.finish(),))


def from_create_event(body: Any, *, options: KlaviyoOptions | None = None) -> KlaviyoResult:
    """Convert a Create Event body (``{"data": {"type": "event", "attributes": {...}}}``).

    Raises ``KlaviyoFormatError`` when ``body`` is not that envelope.
    """
    data = _resource(body, (), "event", "a Create Event body")
    event = _Event(options or DEFAULT_OPTIONS, ("data", "attributes"))
    for key, value in body.items():
        if key != "data":
            event.klaviyo_only((key,), value, "not part of a Create Event body")
    for key, value in data.items():
        if key == "type":
            event.envelope(("data", "type"))
        elif key != "attributes":
            event.klaviyo_only(("data", key), value, "not part of a Create Event body")
    event.attributes(("data", "attributes"), data["attributes"], profile=None)
    return KlaviyoResult(shape="create-event", conversions=(event.finish(),))


def from_bulk_create_job(body: Any, *, options: KlaviyoOptions | None = None) -> KlaviyoResult:
    """Convert a Bulk Create Events job: one Redo event per Klaviyo event, in order.

    Each event takes its profile's fields; an item that cannot be read comes
    back as a conversion with its problem, so the rest still convert. Raises
    ``KlaviyoFormatError`` when ``body`` is not a bulk job envelope.
    """
    chosen = options or DEFAULT_OPTIONS
    data = _resource(body, (), "event-bulk-create-job", "a Bulk Create Events job")
    notes: list[Problem] = []
    envelope = _Event(chosen, ())
    for key, value in body.items():
        if key != "data":
            envelope.klaviyo_only((key,), value, "not part of a bulk job body")
    for key, value in data.items():
        if key == "type":
            envelope.envelope(("data", "type"))
        elif key != "attributes":
            envelope.klaviyo_only(("data", key), value, "not part of a bulk job body")
    attributes = data["attributes"]
    holder = attributes.get("events-bulk-create")
    items = holder.get("data") if isinstance(holder, Mapping) else None
    at = ("data", "attributes", "events-bulk-create", "data")
    if not isinstance(items, list):
        raise _wrong_shape(
            "a Bulk Create Events job", "a list of profiles with their events", _path(at)
        )
    for key, value in attributes.items():
        if key != "events-bulk-create":
            envelope.klaviyo_only(("data", "attributes", key), value, "not part of a bulk job")
    for key, value in holder.items():
        if key != "data":
            envelope.klaviyo_only(
                ("data", "attributes", "events-bulk-create", key), value, "not part of a bulk job"
            )
    notes.extend(envelope.fates)
    conversions: list[Conversion] = []
    for index, item in enumerate(items):
        conversions.extend(_bulk_item(chosen, (*at, index), item))
    return KlaviyoResult(
        shape="bulk-create-job", conversions=tuple(conversions), notes=tuple(notes)
    )


def _bulk_item(options: KlaviyoOptions, at: tuple[Any, ...], item: Any) -> list[Conversion]:
    """The events of one profile of a bulk job, each with the profile's fields."""
    attributes = item.get("attributes") if isinstance(item, Mapping) else None
    events = attributes.get("events") if isinstance(attributes, Mapping) else None
    listed = events.get("data") if isinstance(events, Mapping) else None
    if not (
        isinstance(attributes, Mapping) and isinstance(events, Mapping) and isinstance(listed, list)
    ):
        return [
            _unreadable(
                at,
                "a profile with its events: {'type': 'event-bulk-create', "
                "'attributes': {'profile': ..., 'events': {'data': [...]}}}",
            )
        ]
    if not listed:
        return [
            _unreadable(
                (*at, "attributes", "events", "data"),
                "at least one event: Redo has no call that only updates a profile",
            )
        ]
    out: list[Conversion] = []
    reported = False
    for number, entry in enumerate(listed):
        where = (*at, "attributes", "events", "data", number)
        fields = entry.get("attributes") if isinstance(entry, Mapping) else None
        if not isinstance(fields, Mapping):
            out.append(_unreadable(where, "an event: {'type': 'event', 'attributes': {...}}"))
            continue
        event = _Event(options, (*where, "attributes"), (*at, "attributes"))
        if not reported:
            # The item's own fields are reported once, with its first readable event.
            reported = True
            for key, value in item.items():
                if key == "type":
                    event.envelope((*at, "type"))
                elif key != "attributes":
                    event.klaviyo_only((*at, key), value, "not part of a bulk job item")
            for key, value in attributes.items():
                if key not in ("profile", "events"):
                    event.klaviyo_only(
                        (*at, "attributes", key), value, "not part of a bulk job item"
                    )
            for key, value in events.items():
                if key != "data":
                    event.klaviyo_only(
                        (*at, "attributes", "events", key), value, "not part of a bulk job item"
                    )
        for key, value in entry.items():
            if key == "type":
                event.envelope((*where, "type"))
            elif key != "attributes":
                event.klaviyo_only((*where, key), value, "not part of a Klaviyo event")
        profile = attributes.get("profile")
        event.attributes(
            (*where, "attributes"),
            fields,
            profile=((*at, "attributes", "profile"), profile),
        )
        out.append(event.finish())
    return out


def _unreadable(at: tuple[Any, ...], expected: str) -> Conversion:
    problem = Fate(
        path=_path(at),
        rule=INVALID,
        message=f"expected {expected}",
        hint="fix this item of the bulk job; the other items are converted",
        severity="error",
    )
    return Conversion(source=_path(at), event=None, report=(), problems=(problem,))


def _not_an_object(payload: Any) -> KlaviyoFormatError:
    return KlaviyoFormatError(
        f"a Klaviyo payload is a JSON object, not {type(payload).__name__}",
        [Problem(path="$", rule=SHAPE_ERROR, message="not a JSON object")],
    )


def _wrong_shape(what: str, expected: str, path: str) -> KlaviyoFormatError:
    return KlaviyoFormatError(
        f"not {what}: expected {expected} at {path}",
        [Problem(path=path, rule=SHAPE_ERROR, message=f"expected {expected}")],
    )


def _resource(body: Any, at: tuple[Any, ...], kind: str, what: str) -> Mapping[str, Any]:
    """``body["data"]``, checked to be a JSON:API resource of ``kind`` with attributes."""
    if not isinstance(body, Mapping):
        raise _not_an_object(body)
    data = body.get("data")
    if not isinstance(data, Mapping) or data.get("type") != kind:
        raise _wrong_shape(what, f"{{'data': {{'type': {kind!r}, ...}}}}", _path((*at, "data")))
    if not isinstance(data.get("attributes"), Mapping):
        raise _wrong_shape(what, "an object of attributes", _path((*at, "data", "attributes")))
    return data


def _path(parts: Sequence[Any]) -> str:
    return wire_path(list(parts))


_TRACK_PROFILE: dict[str, tuple[str, ...]] = {
    "$email": ("email",),
    "$phone_number": ("phoneNumber",),
    "$first_name": ("firstName",),
    "$last_name": ("lastName",),
    "$city": ("location", "city"),
    "$region": ("location", "state"),
    "$zip": ("location", "postalCode"),
}
_PROFILE: dict[str, tuple[str, ...]] = {
    "email": ("email",),
    "phone_number": ("phoneNumber",),
    "first_name": ("firstName",),
    "last_name": ("lastName",),
}
_LOCATION: dict[str, str] = {
    "address1": "street1",
    "address2": "street2",
    "city": "city",
    "region": "state",
    "zip": "postalCode",
    "timezone": "ianaTimeZoneName",
    "latitude": "latitude",
    "longitude": "longitude",
}
_RENAMED_PROFILE: dict[str, str] = {
    "$organization": "Organization",
    "$title": "Title",
    "organization": "Organization",
    "title": "Title",
    "locale": "Locale",
}
_KLAVIYO_ONLY: dict[str, str] = {
    "$image": "a profile image URL: Redo profiles have no image",
    "$consent": "Klaviyo's consent list: Redo takes consent through its own subscription flows",
    "image": "a profile image URL: Redo profiles have no image",
    "anonymous_id": "Klaviyo's anonymous visitor id: Redo identifies by email, phone or its own id",
    "_kx": "Klaviyo's tracking cookie: Redo identifies by email, phone or its own id",
    "ip": "an IP address: Redo locations have no IP address",
    "backfill": "Klaviyo's backfill flag: Redo takes historical events through eventTimestamp",
}


@derived
def _country_codes() -> frozenset[str]:
    """The spec's ISO 3166-1 alpha-2 codes (CountryCode ``enum``)."""
    return frozenset(str(code) for code in component("CountryCode")["enum"])


def _scalar(value: Any) -> bool:
    return isinstance(value, (str, int, float, bool, Decimal))


class _Event:
    """One Klaviyo event on its way to the wire: the fields built and the fate of each."""

    def __init__(
        self, options: KlaviyoOptions, root: tuple[Any, ...], item: tuple[Any, ...] = ()
    ) -> None:
        self.options = options
        self.root = root
        self.item = item
        self.wire: dict[str, Any] = {}
        self.customer: dict[str, Any] = {}
        self.location: dict[str, Any] = {}
        self.custom: dict[str, Any] = {}
        self.data: dict[str, Any] = {}
        self.extra: dict[str, Any] = {}
        self.only: dict[str, Any] = {}
        self.fates: list[Problem] = []
        self.errors: list[Problem] = []
        self.sources: dict[str, str] = {}
        self.identity: tuple[str, str] | None = None
        self.second: int | None = None
        self.profile_id: str | None = None

    # -- fates --------------------------------------------------------------

    def _target(self, parts: tuple[Any, ...]) -> tuple[dict[str, Any], Any, str]:
        """The dict a wire path's last key goes into, that key, and the path as text."""
        head, key = parts[:-1], parts[-1]
        containers: dict[tuple[Any, ...], dict[str, Any]] = {
            (): self.wire,
            ("customer",): self.customer,
            ("customer", "location"): self.location,
            ("customer", "customFields"): self.custom,
            ("data",): self.data,
            ("data", EXTRA): self.extra,
            ("data", EXTRA, KLAVIYO_EXTRA): self.only,
        }
        return containers[head], key, _path(parts)

    def _put(self, at: tuple[Any, ...], parts: tuple[Any, ...], value: Any) -> str | None:
        into, key, target = self._target(parts)
        if key in into and into[key] != value:
            self.errors.append(
                Fate(
                    path=_path(at),
                    rule=INVALID,
                    message=f"would go to {target}, which another field already set",
                    hint="give the value once, or rename one of the two",
                    severity="error",
                    target=target,
                )
            )
            return None
        into[key] = value
        self.sources[target] = _path(at)
        return target

    def expect(self, wire: str, at: tuple[Any, ...]) -> None:
        """Name the Klaviyo field a required wire field comes from, for its problems."""
        self.sources.setdefault(_path((wire,)), _path((*self.root, *at)))

    def _name(self, at: tuple[Any, ...]) -> str:
        """A Klaviyo-only field's key under ``$klaviyo``: its path from the event (or item)."""
        for prefix in (self.root, self.item):
            if prefix and at[: len(prefix)] == prefix:
                at = at[len(prefix) :]
                break
        return ".".join(str(part) for part in at)

    def _fate(self, at: tuple[Any, ...], rule: str, message: str, **more: Any) -> None:
        self.fates.append(Fate(path=_path(at), rule=rule, message=message, **more))

    def mapped(
        self, at: tuple[Any, ...], parts: tuple[Any, ...], value: Any, how: str = ""
    ) -> None:
        target = self._put(at, parts, value)
        if target is not None:
            self._fate(at, MAPPED, f"sent as {target}{how}", target=target)

    def renamed(self, at: tuple[Any, ...], field: str, value: Any, why: str) -> None:
        target = self._put(at, ("customer", "customFields", field), value)
        if target is not None:
            self._fate(at, RENAMED, f"kept as the custom field {field!r}: {why}", target=target)

    def dropped(
        self, at: tuple[Any, ...], why: str, hint: str = "", severity: str = "warning"
    ) -> None:
        self._fate(at, DROPPED, f"not sent: {why}", hint=hint, severity=severity)

    def envelope(self, at: tuple[Any, ...]) -> None:
        self._fate(at, ENVELOPE, "the JSON:API resource type: it names the shape, no data")

    def invalid(self, at: tuple[Any, ...], message: str, hint: str) -> None:
        self.errors.append(
            Fate(path=_path(at), rule=INVALID, message=message, hint=hint, severity="error")
        )

    def klaviyo_only(self, at: tuple[Any, ...], value: Any, why: str) -> None:
        if self.options.klaviyo_only == "drop":
            self.dropped(at, why, hint="KlaviyoOptions(klaviyo_only='extra') keeps it under $extra")
            return
        name = self._name(at)
        target = self._put(at, ("data", EXTRA, KLAVIYO_EXTRA, name), value)
        if target is not None:
            self._fate(
                at,
                MOVED_TO_EXTRA,
                f"kept under {target}: {why}",
                hint="stored on the event, never segmentable",
                severity="warning",
                target=target,
            )

    # -- profiles -------------------------------------------------------------

    def track_profile(self, at: tuple[Any, ...], profile: Any) -> None:
        if not isinstance(profile, Mapping):
            self.invalid(at, "customer_properties must be an object", "give the profile's fields")
            return
        for key, value in profile.items():
            where = (*at, key)
            if key in _TRACK_PROFILE:
                self.customer_field(where, _TRACK_PROFILE[key], value)
            elif key == "$country":
                self.country(where, value)
            elif key == "$id":
                self.external_id(where, value)
            elif key in _RENAMED_PROFILE:
                self.profile_renamed(where, key, value)
            elif key in _KLAVIYO_ONLY:
                self.klaviyo_only(where, value, _KLAVIYO_ONLY[key])
            else:
                self.custom_field(where, key, value)

    def profile(self, at: tuple[Any, ...], profile: Any) -> None:
        """A JSON:API profile (``{"data": {"type": "profile", ...}}``) into the customer."""
        data = profile.get("data") if isinstance(profile, Mapping) else None
        if not isinstance(data, Mapping):
            self.invalid(at, "profile must be {'data': {'type': 'profile', ...}}", "give a profile")
            return
        for key, value in profile.items():
            if key != "data":
                self.klaviyo_only((*at, key), value, "not part of a Klaviyo profile")
        for key, value in data.items():
            where = (*at, "data", key)
            if key == "type":
                if value == "profile":
                    self.envelope(where)
                else:
                    self.invalid(where, f"type is {value!r}, not 'profile'", "write 'profile'")
            elif key == "id":
                if isinstance(value, str) and value:
                    self.profile_id = value
                self.klaviyo_only(
                    where,
                    value,
                    "Klaviyo's profile id: Redo's customer.id is a Redo ObjectId, "
                    "never a Klaviyo id",
                )
            elif key == "attributes":
                self.profile_attributes(where, value)
            else:
                self.klaviyo_only(where, value, "not part of a Klaviyo profile")

    def profile_attributes(self, at: tuple[Any, ...], attributes: Any) -> None:
        if not isinstance(attributes, Mapping):
            self.invalid(at, "profile attributes must be an object", "give the profile's fields")
            return
        for key, value in attributes.items():
            where = (*at, key)
            if key in _PROFILE:
                self.customer_field(where, _PROFILE[key], value)
            elif key == "external_id":
                self.external_id(where, value)
            elif key == "location":
                self.location_fields(where, value)
            elif key == "properties":
                if isinstance(value, Mapping):
                    for name, item in value.items():
                        self.custom_field((*where, name), name, item)
                else:
                    self.invalid(where, "profile properties must be an object", "give an object")
            elif key in _RENAMED_PROFILE:
                self.profile_renamed(where, key, value)
            elif key in _KLAVIYO_ONLY:
                self.klaviyo_only(where, value, _KLAVIYO_ONLY[key])
            else:
                self.klaviyo_only(where, value, "not a Klaviyo profile attribute")

    def location_fields(self, at: tuple[Any, ...], location: Any) -> None:
        if not isinstance(location, Mapping):
            self.invalid(at, "location must be an object", "give the location's fields")
            return
        for key, value in location.items():
            where = (*at, key)
            if key == "country":
                self.country(where, value)
            elif key in _LOCATION:
                name = _LOCATION[key]
                if name in ("latitude", "longitude"):
                    value, how = _degrees(value)
                    if value is None:
                        self.dropped(where, "null: nothing to set", severity="info")
                        continue
                    self.mapped(where, ("customer", "location", name), value, how)
                else:
                    self.customer_field(where, ("location", name), value)
            elif key == "ip":
                self.klaviyo_only(where, value, _KLAVIYO_ONLY["ip"])
            else:
                self.klaviyo_only(where, value, "not a Klaviyo location field")

    def customer_field(self, at: tuple[Any, ...], parts: tuple[str, ...], value: Any) -> None:
        if value is None:
            self.dropped(
                at,
                "null: nothing to set, and Redo keeps what the profile holds (patch semantics)",
                severity="info",
            )
            return
        how = ""
        if parts == ("phoneNumber",):
            region = self.options.default_region
            how = " (in E.164" + (f"; national numbers read in {region})" if region else ")")
        self.mapped(at, ("customer", *parts), value, how)

    def country(self, at: tuple[Any, ...], value: Any) -> None:
        if value is None:
            self.dropped(at, "null: nothing to set", severity="info")
        elif isinstance(value, str) and value.strip().upper() in _country_codes():
            code = value.strip().upper()
            self.mapped(
                at, ("customer", "location", "countryCode"), code, ": an ISO 3166-1 alpha-2 code"
            )
        else:
            self.mapped(at, ("customer", "location", "country"), value)

    def external_id(self, at: tuple[Any, ...], value: Any) -> None:
        field = self.options.external_id_field
        if isinstance(value, (str, int)) and not isinstance(value, bool):
            self.identity = self.identity or ("external", str(value))
        if field is None:
            self.dropped(
                at,
                "the shop's own id for the person (KlaviyoOptions(external_id_field=None))",
                hint="it never becomes customer.id, which is a Redo ObjectId",
            )
        elif value is None:
            self.dropped(at, "null: nothing to set", severity="info")
        else:
            self.renamed(at, field, value, "the shop's own id, never customer.id (a Redo ObjectId)")

    def profile_renamed(self, at: tuple[Any, ...], key: str, value: Any) -> None:
        if value is None:
            self.dropped(at, "null: nothing to set", severity="info")
        elif _scalar(value):
            self.renamed(at, _RENAMED_PROFILE[key], value, "Redo profiles have no such field")
        else:
            self.dropped(at, "custom fields hold strings, numbers and booleans only")

    def custom_field(self, at: tuple[Any, ...], key: Any, value: Any) -> None:
        if value is None:
            self.dropped(
                at, "null: custom fields hold strings, numbers and booleans", severity="info"
            )
        elif _scalar(value) and isinstance(key, str):
            self.mapped(at, ("customer", "customFields", key), value)
        else:
            self.dropped(
                at,
                "custom fields hold strings, numbers and booleans only, not objects or arrays",
                hint="flatten it into scalar profile properties before converting",
            )

    # -- the event ------------------------------------------------------------

    def attributes(
        self,
        at: tuple[Any, ...],
        attributes: Mapping[str, Any],
        profile: tuple[tuple[Any, ...], Any] | None,
    ) -> None:
        """The attributes of a Create Event body or of one event of a bulk job.

        ``profile`` is a bulk item's ``(path, profile)``: its fields go into
        (and are reported with) every event of the item.
        """
        self.expect("eventName", ("metric",))
        if profile is not None:
            where, given = profile
            self.sources.setdefault("$.customer", _path(where))
            self.profile(where, given)
        else:
            self.expect("customer", ("profile",))
        explicit_unique = "unique_id" in attributes
        explicit_value = "value" in attributes
        for key, value in attributes.items():
            where = (*at, key)
            if key == "metric":
                self.metric_name(where, value)
            elif key == "profile" and profile is None:
                self.profile(where, value)
            elif key == "properties":
                self.properties(
                    where, value, event_id=not explicit_unique, dollar_value=not explicit_value
                )
            elif key == "time":
                self.time(where, value)
            elif key == "value":
                self.mapped(where, ("value",), value)
            elif key == "value_currency":
                self.mapped(where, ("valueCurrency",), value)
            elif key == "unique_id":
                self.unique(where, value)
            elif key in _KLAVIYO_ONLY:
                self.klaviyo_only(where, value, _KLAVIYO_ONLY[key])
            else:
                self.klaviyo_only(where, value, "not a Klaviyo event attribute")

    def metric_name(self, at: tuple[Any, ...], metric: Any) -> None:
        data = metric.get("data") if isinstance(metric, Mapping) else None
        attributes = data.get("attributes") if isinstance(data, Mapping) else None
        if not (
            isinstance(metric, Mapping)
            and isinstance(data, Mapping)
            and isinstance(attributes, Mapping)
            and "name" in attributes
        ):
            self.invalid(
                at,
                "metric must be {'data': {'type': 'metric', 'attributes': {'name': ...}}}",
                "name the metric: it becomes the event's eventName",
            )
            return
        for key, value in metric.items():
            if key != "data":
                self.klaviyo_only((*at, key), value, "not part of a Klaviyo metric")
        for key, value in data.items():
            where = (*at, "data", key)
            if key == "type":
                self.envelope(where)
            elif key != "attributes":
                self.klaviyo_only(where, value, "not part of a Klaviyo metric")
        for key, value in attributes.items():
            where = (*at, "data", "attributes", key)
            if key == "name":
                self.mapped(where, ("eventName",), value)
            else:
                self.klaviyo_only(where, value, "a metric attribute: Redo events have a name only")

    def properties(
        self,
        at: tuple[Any, ...],
        properties: Any,
        *,
        legacy: bool = False,
        event_id: bool = True,
        dollar_value: bool = True,
    ) -> None:
        if not isinstance(properties, Mapping):
            self.invalid(at, "properties must be an object", "give the event's properties")
            return
        for key, value in properties.items():
            where = (*at, key)
            if key == "$event_id" and (legacy or event_id):
                self.unique(where, value)
            elif key == "$value" and (legacy or dollar_value):
                self.mapped(where, ("value",), value)
            elif not isinstance(key, str):
                self.dropped(where, "a property name must be a string")
            elif isinstance(value, (Mapping, list, tuple)) or key == EXTRA:
                kind = (
                    "an array"
                    if isinstance(value, (list, tuple))
                    else "an object"
                    if isinstance(value, Mapping)
                    else "named like Redo's metadata key"
                )
                target = self._put(where, ("data", EXTRA, key), value)
                if target is not None:
                    self._fate(
                        where,
                        MOVED_TO_EXTRA,
                        f"{kind}: moved to {target}, where Redo stores it verbatim",
                        hint="Redo segments top-level scalars only; Klaviyo flattened it",
                        severity="warning",
                        target=target,
                    )
            elif is_ignored(value):
                shown = "null" if value is None else repr(value)
                if self.options.keep_ignored:
                    target = self._put(where, ("data", EXTRA, key), value)
                    if target is not None:
                        self._fate(
                            where,
                            MOVED_TO_EXTRA,
                            f"{shown}: Redo does not store it at the top level, "
                            f"so it was moved to {target}",
                            hint="not segmentable there",
                            severity="warning",
                            target=target,
                        )
                else:
                    self._fate(
                        where,
                        IGNORED_VALUE,
                        f"{shown}: Klaviyo keeps it, Redo treats it as unset and stores nothing",
                        hint="KlaviyoOptions(keep_ignored=True) keeps it under $extra",
                        severity="warning",
                    )
            else:
                self.mapped(where, ("data", key), value)

    def unique(self, at: tuple[Any, ...], value: Any) -> None:
        if isinstance(value, int) and not isinstance(value, bool):
            self.mapped(at, ("uniqueId",), str(value), " (written as a string)")
        else:
            self.mapped(at, ("uniqueId",), value)

    def time(self, at: tuple[Any, ...], value: Any) -> None:
        stamp, how, second = _timestamp(value)
        if stamp is None:
            self.invalid(
                at,
                f"time {value!r} is neither UNIX seconds nor an ISO 8601 date-time",
                "write seconds since 1970 (1712059200) or '2024-04-02T12:00:00Z'",
            )
            return
        self.second = second
        self.mapped(at, ("eventTimestamp",), stamp, how)

    # -- the end ----------------------------------------------------------------

    def finish(self) -> Conversion:
        wire = self.wire
        if self.location:
            self.customer["location"] = self.location
        if self.custom:
            self.customer["customFields"] = self.custom
        if self.only:
            if KLAVIYO_EXTRA in self.extra:
                self.invalid(
                    (*self.root, "properties", KLAVIYO_EXTRA),
                    f"the property {KLAVIYO_EXTRA!r} takes the place of the Klaviyo-only fields",
                    "rename the property, or KlaviyoOptions(klaviyo_only='drop')",
                )
            self.extra[KLAVIYO_EXTRA] = self.only
        if self.extra:
            self.data[EXTRA] = self.extra
        event: dict[str, Any] = {}
        if "eventName" in wire:
            event["eventName"] = wire["eventName"]
        event["customer"] = self.customer
        if self.data:
            event["data"] = self.data
        for key in ("eventTimestamp", "value", "valueCurrency", "uniqueId"):
            if key in wire:
                event[key] = wire[key]
        source = _path(self.root)
        if self.errors:
            return Conversion(
                source=source, event=event, report=tuple(self.fates), problems=tuple(self.errors)
            )
        checked, problems, warnings = self._prepared(event)
        if checked is not None and "uniqueId" not in event:
            checked = self._keyed(checked, source)
            if "uniqueId" in checked:
                checked, problems, warnings = self._prepared(checked)
        return Conversion(
            source=source,
            event=checked if checked is not None else event,
            report=(*self.fates, *warnings),
            problems=tuple(problems),
        )

    def _prepared(
        self, event: dict[str, Any]
    ) -> tuple[dict[str, Any] | None, list[Problem], list[Problem]]:
        """The event after ``prepare_event``, with its problems and warnings at Klaviyo paths."""
        try:
            prepared = prepare_event(
                event, options=PrepareOptions(default_region=self.options.default_region)
            )
        except (ValidationError, ConversionError) as exc:
            found = [self._located(p) for p in exc.problems]
            return (
                None,
                [p for p in found if p.severity == "error"],
                [p for p in found if p.severity != "error"],
            )
        payload = dict(prepared.payload)
        if "uniqueId" not in event:
            # prepare_event gave it a random one; who sends it decides (see unique_ids).
            payload.pop("uniqueId", None)
        return payload, [], [self._located(p) for p in prepared.warnings]

    def _located(self, problem: Problem) -> Problem:
        """``problem`` at the Klaviyo path of the field its wire path came from, if known."""
        wire = problem.path
        for candidate in sorted(self.sources, key=len, reverse=True):
            if wire == candidate or wire.startswith((candidate + ".", candidate + "[")):
                return attrs.evolve(
                    problem,
                    path=self.sources[candidate],
                    message=f"{problem.message} (as {wire})",
                )
        return problem

    def _keyed(self, event: dict[str, Any], source: str) -> dict[str, Any]:
        """``event`` with the uniqueId the options ask for, and the fate of that choice."""
        if self.options.unique_ids == "klaviyo":
            who = self._who(event)
            name = event.get("eventName")
            if who is not None and self.second is not None and isinstance(name, str) and name:
                key = unique_id("klaviyo", name, f"{who[0]}:{who[1]}", self.second)
                self.fates.append(
                    Fate(
                        path=source,
                        rule=DERIVED_UNIQUE_ID,
                        message=(
                            f"no $event_id / unique_id: uniqueId {key!r} derived from the "
                            f"metric, the profile's {who[0]} and the second of time, the key "
                            "Klaviyo deduplicates by"
                        ),
                        hint="Redo deduplicates per store: one such event per profile, metric "
                        "and second is stored",
                        target="$.uniqueId",
                    )
                )
                return {**event, "uniqueId": key}
            reason = "it has no time" if self.second is None else "it has no profile identity"
            self.fates.append(
                Fate(
                    path=source,
                    rule=NO_UNIQUE_ID,
                    message=f"no $event_id / unique_id, and no key can be derived: {reason}",
                    hint="Klaviyo used the time it received the event; Redo stores every copy",
                    severity="warning",
                )
            )
            return event
        self.fates.append(
            Fate(
                path=source,
                rule=NO_UNIQUE_ID,
                message=(
                    "no $event_id / unique_id: Klaviyo deduplicates such events by profile, "
                    "metric and second; Redo keeps every copy it is sent"
                ),
                hint="KlaviyoOptions(unique_ids='klaviyo') derives Klaviyo's key; "
                "redo-kit import derives one from the content",
            )
        )
        return event

    def _who(self, event: dict[str, Any]) -> tuple[str, str] | None:
        """The identity Klaviyo deduplicates by: profile id, else email, phone, external id."""
        profile_id = self.profile_id
        customer = event.get("customer")
        email = customer.get("email") if isinstance(customer, dict) else None
        phone = customer.get("phoneNumber") if isinstance(customer, dict) else None
        if profile_id:
            return "profile", profile_id
        if isinstance(email, str) and email:
            return "email", email_key(email)
        if isinstance(phone, str) and phone:
            return "phone", phone
        if self.identity is not None and self.identity[1]:
            return self.identity
        return None


_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def _timestamp(value: Any) -> tuple[str | None, str, int | None]:
    """``(RFC 3339 text, how it was read, UNIX second)``; ``None`` text when it cannot be read."""
    if isinstance(value, str):
        text = value.strip()
        if text.isascii() and text.isdigit():
            return _timestamp(int(text))
        if is_date(text):
            try:
                second: int | None = math.floor((parse_datetime(text) - _EPOCH).total_seconds())
            except (ConversionError, ValueError, OverflowError):
                second = None
            return text, "", second
        try:
            parsed = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            return None, "", None
        return _timestamp(parsed)
    if isinstance(value, datetime):
        how = ""
        if value.tzinfo is None or value.utcoffset() is None:
            value, how = value.replace(tzinfo=timezone.utc), " (no UTC offset: read as UTC)"
        try:
            text = format_datetime(value)
        except (ConversionError, ValueError, OverflowError):
            return None, "", None
        return text, how or " (written as RFC 3339)", math.floor((value - _EPOCH).total_seconds())
    if isinstance(value, (int, float, Decimal)) and not isinstance(value, bool):
        try:
            second = math.floor(value)
            stamp = _EPOCH + timedelta(seconds=second)
        except (ValueError, OverflowError, ArithmeticError):
            return None, "", None
        return format_datetime(stamp), f" (UNIX seconds {second} as RFC 3339)", second
    return None, "", None


def _degrees(value: Any) -> tuple[Any, str]:
    """A latitude or longitude as a number: Klaviyo exports often write them as text."""
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return value, ""
        if math.isfinite(number):
            return number, " (text read as a number)"
    return value, ""
