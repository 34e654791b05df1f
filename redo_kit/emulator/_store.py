"""SQLite storage: customers, events, unique ids, property types and plan violations, per store.

One connection, one writer at a time: each request's events are written in one
transaction, committed before the request is answered. A file database runs in
WAL mode so that readers (another process, a SQLite shell) never block the
emulator; ``synchronous=NORMAL`` keeps every commit safe from a crash of the
emulator itself, which is all a test double needs.

What is stored follows the spec:

- ``uniqueId`` deduplication per store, across both endpoints, first write
  wins (``x-redo-deduplication``): a duplicate changes nothing, the customer
  included.
- identity resolution by ``id``, then ``email`` (compared as
  ``x-redo-email-matching`` says: :func:`redo_kit._rules.email_key`), then
  ``phoneNumber``; no match creates a customer with a fresh ObjectId
  (``x-redo-identity-resolution``).
- patch semantics for ``firstName``, ``lastName``, ``location`` (field by field)
  and ``customFields`` (key by key) (``x-redo-patch-semantics``).
- top-level data without its ignored values (``x-redo-ignored-values``),
  ``$extra`` verbatim and never indexed (``x-redo-extra``), and one type per
  segmentable value (``x-redo-property-types``), dates detected as the spec's
  ``format: date-time`` decides. The types are decided once, on write, and
  kept beside the event's data.

A database written by an older version is brought up to date when opened
(``PRAGMA user_version`` numbers the layout); one written by a newer version
is refused rather than misread.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timezone
from typing import Any

import attrs
import orjson

from redo_kit._errors import ConfigurationError, Problem
from redo_kit._properties import detect_type
from redo_kit._rfc3339 import format_datetime
from redo_kit._rules import EXTRA, email_key, is_ignored

__all__ = [
    "MAX_PAGE_LIMIT",
    "PAGE_LIMIT",
    "EventStore",
    "Outcome",
    "Page",
    "Rejection",
    "check_database_path",
]

PAGE_LIMIT = 1_000
"""Items per page of the inspection API's list views when no ``limit`` is given."""
MAX_PAGE_LIMIT = 10_000
"""The largest ``limit`` a list view takes."""

Page = tuple[list[dict[str, Any]], "int | None"]
"""One page of a list view: its items, and the cursor of the next page or ``None``."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS customers (
    store_id TEXT NOT NULL,
    id TEXT NOT NULL,
    email TEXT,
    email_key TEXT,
    phone_number TEXT,
    first_name TEXT,
    last_name TEXT,
    location TEXT,
    custom_fields TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (store_id, id)
);
CREATE INDEX IF NOT EXISTS customers_by_email ON customers (store_id, email_key);
CREATE INDEX IF NOT EXISTS customers_by_phone ON customers (store_id, phone_number);

CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY,
    store_id TEXT NOT NULL,
    id TEXT NOT NULL,
    event_name TEXT NOT NULL,
    customer_id TEXT NOT NULL,
    event_timestamp TEXT NOT NULL,
    received_at TEXT NOT NULL,
    value,
    value_currency TEXT,
    unique_id TEXT,
    data TEXT NOT NULL,
    -- The type each top-level data value is indexed as, decided on write:
    -- {"Order Total": "number", "Placed At": "date"}.
    types TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_by_store ON events (store_id, seq);
CREATE UNIQUE INDEX IF NOT EXISTS events_by_unique_id
    ON events (store_id, unique_id) WHERE unique_id IS NOT NULL;

CREATE TABLE IF NOT EXISTS rejected (
    seq INTEGER PRIMARY KEY,
    store_id TEXT NOT NULL,
    received_at TEXT NOT NULL,
    position INTEGER NOT NULL,
    event TEXT NOT NULL,
    problems TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS rejected_by_store ON rejected (store_id, seq);
"""

_VIOLATIONS_SCHEMA = """
CREATE TABLE IF NOT EXISTS violations (
    seq INTEGER PRIMARY KEY,
    store_id TEXT NOT NULL,
    received_at TEXT NOT NULL,
    event_id TEXT NOT NULL,
    event_name TEXT NOT NULL,
    unique_id TEXT,
    problems TEXT NOT NULL,
    -- The distinct rule ids of the problems, sorted, as a JSON list: few
    -- distinct texts, so the summary counts by rule without reading problems.
    rules TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS violations_by_store ON violations (store_id, seq)
"""
"""Tracking-plan violations of stored events; a table added beside any layout, when missing.

It changes nothing an older redo-kit reads, so it needs no new layout number.
"""

_CUSTOMER = (
    "SELECT id, email, phone_number, first_name, last_name, location, custom_fields "
    "FROM customers WHERE store_id = ? AND "
)
_CUSTOMER_BY_ID = _CUSTOMER + "id = ?"
_CUSTOMER_BY_EMAIL = _CUSTOMER + "email_key = ? ORDER BY rowid LIMIT 1"
_CUSTOMER_BY_PHONE = _CUSTOMER + "phone_number = ? ORDER BY rowid LIMIT 1"
_CLEAR = (
    "DELETE FROM events WHERE store_id = ?",
    "DELETE FROM customers WHERE store_id = ?",
    "DELETE FROM rejected WHERE store_id = ?",
    "DELETE FROM violations WHERE store_id = ?",
)
_INT64 = range(-(2**63), 2**63)


@attrs.frozen
class Rejection:
    """A bulk item that was dropped: its position in ``events``, the item, its problems."""

    position: int
    event: Any
    problems: Sequence[Problem]


@attrs.frozen
class Outcome:
    """What one request did to the store."""

    stored: int = 0
    deduplicated: int = 0
    rejected: int = 0


class _ObjectIds:
    """MongoDB-style ObjectIds: 4 bytes of seconds, 5 random bytes, a 3-byte counter."""

    def __init__(self) -> None:
        self._middle = os.urandom(5).hex()
        self._counter = int.from_bytes(os.urandom(3), "big")

    def next(self) -> str:
        self._counter = (self._counter + 1) & 0xFFFFFF
        return f"{int(time.time()) & 0xFFFFFFFF:08x}{self._middle}{self._counter:06x}"


def _every(read: Callable[[str, int, int | None], Page], store_id: str) -> list[dict[str, Any]]:
    """Every item of a list view, read page by page so no read holds the lock for long."""
    items, after = read(store_id, MAX_PAGE_LIMIT, None)
    while after is not None:
        page, after = read(store_id, MAX_PAGE_LIMIT, after)
        items.extend(page)
    return items


def _unusable(path: str | None, exc: sqlite3.Error) -> ConfigurationError:
    where = path or "memory"
    return ConfigurationError(f"cannot use {where} for the emulator database: {exc}")


def _json(value: Any) -> str:
    try:
        return orjson.dumps(value).decode()
    except orjson.JSONEncodeError:
        # A refused item kept as sent: its integers may be beyond 64 bits,
        # which only the standard library writes.
        return json.dumps(value, ensure_ascii=False)


_LAYOUT = 2
"""The layout of the database this version writes, kept in ``PRAGMA user_version``.

0: the first, with the property types in two tables of their own
(``event_properties``, ``customer_properties``). 1: each event keeps its types
in ``events.types``; a custom field's type follows from its value. 2:
``customers.email_key`` is the email as ``x-redo-email-matching`` compares it
(trimmed, case-folded); layouts 0 and 1 wrote ``email.lower()``.
"""


def _prepare_layout(db: sqlite3.Connection) -> None:
    """Create the tables, or bring a database written by an older version up to date."""
    (version,) = db.execute("PRAGMA user_version").fetchone()
    if version == _LAYOUT:
        return
    if version > _LAYOUT:
        raise ConfigurationError(
            f"the emulator database was written by a newer redo-kit (layout {version}, this "
            f"version reads up to {_LAYOUT}): upgrade redo-kit, or give the emulator another "
            "database file"
        )
    db.execute("BEGIN IMMEDIATE")
    try:
        # Another process may have done it while this one waited for the lock.
        (version,) = db.execute("PRAGMA user_version").fetchone()
        if version < _LAYOUT:
            tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
            if "event_properties" in tables:
                _from_first_layout(db)
            # One statement at a time: executescript would commit first.
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    db.execute(statement)
            _refold_emails(db)
            db.execute(f"PRAGMA user_version = {_LAYOUT}")
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise


def _from_first_layout(db: sqlite3.Connection) -> None:
    """Layout 0 to 1: move each event's property types into ``events.types``."""
    db.execute("ALTER TABLE events ADD COLUMN types TEXT NOT NULL DEFAULT '{}'")
    types: dict[int, dict[str, str]] = {}
    for seq, key, kind in db.execute("SELECT event_seq, key, type FROM event_properties"):
        types.setdefault(seq, {})[key] = kind
    db.executemany(
        "UPDATE events SET types = ? WHERE seq = ?",
        [(_json(found), seq) for seq, found in types.items()],
    )
    db.execute("DROP TABLE event_properties")
    db.execute("DROP TABLE customer_properties")


def _refold_emails(db: sqlite3.Connection) -> None:
    """Layouts 0 and 1 to 2: recompute ``email_key`` of every customer with :func:`email_key`."""
    rows = db.execute("SELECT rowid, email FROM customers WHERE email IS NOT NULL").fetchall()
    db.executemany(
        "UPDATE customers SET email_key = ? WHERE rowid = ?",
        [(email_key(email), rowid) for rowid, email in rows],
    )


def _custom_field_type(value: Any) -> str:
    # Custom fields are stored as sent: 0 is still a number and "" a string.
    found = detect_type(value)
    if found is not None:
        return found
    return "string" if isinstance(value, str) else "number"


def now_rfc3339() -> str:
    """The current time as the store writes it (UTC, ``Z``, microseconds)."""
    return format_datetime(datetime.now(timezone.utc))


_SQLITE_HEADER = b"SQLite format 3\x00"
"""The first 16 bytes of every SQLite 3 database file."""


def check_database_path(path: str | os.PathLike[str]) -> None:
    """Raise :class:`ConfigurationError` unless ``path`` can hold the emulator's database.

    It must be a SQLite file or a new (or empty) file in a directory that
    exists; ``":memory:"`` keeps the database in memory. Checked before SQLite
    sees the path, so that a typo is one clear line rather than a SQLite error.
    """
    name = os.fspath(path)
    if name == ":memory:":
        return
    if os.path.isdir(name):
        raise ConfigurationError(
            f"the emulator database {name} is a directory; give a file path such as "
            f"{os.path.join(name, 'events.db')}"
        )
    folder = os.path.dirname(os.path.abspath(name))
    if not os.path.isdir(folder):
        raise ConfigurationError(
            f"the emulator database {name} is in a directory that does not exist: {folder}"
        )
    try:
        with open(name, "rb") as file:
            head = file.read(len(_SQLITE_HEADER))
    except FileNotFoundError:
        return
    except OSError as exc:
        raise ConfigurationError(
            f"cannot read the emulator database {name}: {exc.strerror or exc}"
        ) from exc
    if head and head != _SQLITE_HEADER:
        raise ConfigurationError(
            f"the emulator database {name} is not a SQLite database; give a new file path "
            "or one the emulator wrote"
        )


class EventStore:
    """The emulator's database. ``path=None`` keeps everything in memory.

    Thread-safe: every method takes the one connection's lock.
    """

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path = None if path is None else os.fspath(path)
        if self.path is not None:
            check_database_path(self.path)
        self._lock = threading.Lock()
        self._ids = _ObjectIds()
        try:
            self._db = sqlite3.connect(
                self.path or ":memory:", isolation_level=None, check_same_thread=False
            )
        except sqlite3.Error as exc:
            raise _unusable(self.path, exc) from exc
        try:
            if self.path is not None:
                self._db.execute("PRAGMA journal_mode=WAL")
                self._db.execute("PRAGMA synchronous=NORMAL")
            _prepare_layout(self._db)
            for statement in _VIOLATIONS_SCHEMA.split(";"):
                self._db.execute(statement)
        except sqlite3.Error as exc:
            self._db.close()
            raise _unusable(self.path, exc) from exc
        except BaseException:
            self._db.close()
            raise

    def close(self) -> None:
        """Close the connection; the store cannot be used afterwards."""
        with self._lock:
            self._db.close()

    def ingest(
        self,
        store_id: str,
        events: Sequence[Mapping[str, Any]],
        rejected: Iterable[Rejection] = (),
        violations: Sequence[Sequence[Problem]] | None = None,
    ) -> Outcome:
        """Store valid ``events`` in order and record ``rejected`` items, in one transaction.

        Every event must already be valid against the spec. Returns how many
        were stored and how many were duplicates of a stored ``uniqueId``.
        ``violations`` (one list per event, when a tracking plan is checked)
        holds each event's plan problems; those of the events stored are
        recorded, a duplicate's are not (it stores nothing).
        """
        received_at = now_rfc3339()
        with self._lock:
            db = self._db
            db.execute("BEGIN IMMEDIATE")
            try:
                stored, deduplicated = self._insert_events(
                    db, store_id, events, received_at, violations
                )
                rows = [
                    (
                        store_id,
                        received_at,
                        item.position,
                        _json(item.event),
                        _json([p.to_dict() for p in item.problems]),
                    )
                    for item in rejected
                ]
                if rows:
                    db.executemany(
                        "INSERT INTO rejected (store_id, received_at, position, event, problems) "
                        "VALUES (?, ?, ?, ?, ?)",
                        rows,
                    )
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        return Outcome(stored=stored, deduplicated=deduplicated, rejected=len(rows))

    def _insert_events(
        self,
        db: sqlite3.Connection,
        store_id: str,
        events: Sequence[Mapping[str, Any]],
        received_at: str,
        violations: Sequence[Sequence[Problem]] | None = None,
    ) -> tuple[int, int]:
        """Write ``events`` inside the open transaction: ``(stored, deduplicated)``."""
        # One query finds which uniqueIds the store already holds; the set then
        # also catches repeats within the request (first occurrence wins).
        unique_ids = [e["uniqueId"] for e in events if e.get("uniqueId") is not None]
        seen: set[str] = set()
        if unique_ids:
            marks = ", ".join("?" * len(unique_ids))
            seen = {
                row[0]
                for row in db.execute(
                    "SELECT unique_id FROM events WHERE store_id = ? "  # noqa: S608 - placeholders only
                    f"AND unique_id IN ({marks})",
                    (store_id, *unique_ids),
                )
            }
        event_rows: list[tuple[Any, ...]] = []
        violation_rows: list[tuple[Any, ...]] = []
        deduplicated = 0
        for position, event in enumerate(events):
            unique_id = event.get("uniqueId")
            if unique_id is not None:
                if unique_id in seen:
                    deduplicated += 1
                    continue
                seen.add(unique_id)
            customer_id = self._resolve_customer(db, store_id, event["customer"], received_at)
            data: dict[str, Any] = {}
            types: dict[str, str] = {}
            for key, value in (event.get("data") or {}).items():
                if key == EXTRA:
                    data[key] = value
                    continue
                if is_ignored(value):
                    continue
                data[key] = value
                kind = detect_type(value)
                if kind is not None:
                    types[key] = kind
            value = event.get("value")
            if isinstance(value, int) and value not in _INT64:
                value = float(value)
            event_id = self._ids.next()
            if violations is not None and violations[position]:
                violation_rows.append(
                    (
                        store_id,
                        received_at,
                        event_id,
                        event["eventName"],
                        unique_id,
                        _json([p.to_dict() for p in violations[position]]),
                        _json(sorted({p.rule for p in violations[position]})),
                    )
                )
            event_rows.append(
                (
                    store_id,
                    event_id,
                    event["eventName"],
                    customer_id,
                    event.get("eventTimestamp") or received_at,
                    received_at,
                    value,
                    event.get("valueCurrency"),
                    unique_id,
                    _json(data),
                    _json(types),
                )
            )
        db.executemany(
            "INSERT INTO events (store_id, id, event_name, customer_id, event_timestamp, "
            "received_at, value, value_currency, unique_id, data, types) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            event_rows,
        )
        if violation_rows:
            db.executemany(
                "INSERT INTO violations (store_id, received_at, event_id, event_name, unique_id, "
                "problems, rules) VALUES (?, ?, ?, ?, ?, ?, ?)",
                violation_rows,
            )
        return len(event_rows), deduplicated

    def _resolve_customer(
        self, db: sqlite3.Connection, store_id: str, sent: Mapping[str, Any], now: str
    ) -> str:
        """The id of the customer ``sent`` resolves to, created or patched as the spec says."""
        row = None
        given_id = sent.get("id")
        email = sent.get("email")
        phone = sent.get("phoneNumber")
        if given_id is not None:
            # ObjectIds are hexadecimal: either case names the same customer.
            row = db.execute(_CUSTOMER_BY_ID, (store_id, given_id.lower())).fetchone()
        if row is None and email is not None:
            row = db.execute(_CUSTOMER_BY_EMAIL, (store_id, email_key(email))).fetchone()
        if row is None and phone is not None:
            row = db.execute(_CUSTOMER_BY_PHONE, (store_id, phone)).fetchone()
        fields = sent.get("customFields") or {}
        if row is None:
            customer_id = self._ids.next()
            location = sent.get("location")
            db.execute(
                "INSERT INTO customers (id, email, phone_number, first_name, last_name, "
                "location, custom_fields, store_id, email_key, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    customer_id,
                    email,
                    phone,
                    sent.get("firstName"),
                    sent.get("lastName"),
                    None if location is None else _json(location),
                    _json(fields),
                    store_id,
                    None if email is None else email_key(email),
                    now,
                    now,
                ),
            )
        else:
            customer_id = row[0]
            self._patch_customer(db, store_id, row, sent, now)
        return str(customer_id)

    def _patch_customer(
        self,
        db: sqlite3.Connection,
        store_id: str,
        row: tuple[Any, ...],
        sent: Mapping[str, Any],
        now: str,
    ) -> None:
        customer_id, email, phone, first, last, location_text, fields_text = row
        new = {
            "email": sent.get("email", email),
            "phone_number": sent.get("phoneNumber", phone),
            "first_name": sent.get("firstName", first),
            "last_name": sent.get("lastName", last),
            "location": location_text,
            "custom_fields": fields_text,
        }
        if "location" in sent:
            location = orjson.loads(location_text) if location_text else {}
            new["location"] = _json({**location, **sent["location"]})
        if sent.get("customFields"):
            fields = orjson.loads(fields_text)
            new["custom_fields"] = _json({**fields, **sent["customFields"]})
        if tuple(new.values()) == row[1:]:
            return
        key = None if new["email"] is None else email_key(str(new["email"]))
        db.execute(
            "UPDATE customers SET email = ?, phone_number = ?, first_name = ?, last_name = ?, "
            "location = ?, custom_fields = ?, email_key = ?, updated_at = ? "
            "WHERE store_id = ? AND id = ?",
            (*new.values(), key, now, store_id, customer_id),
        )

    def events(self, store_id: str) -> list[dict[str, Any]]:
        """Every stored event of ``store_id``, oldest first, as the inspection API shows it."""
        return _every(self.events_page, store_id)

    def events_page(self, store_id: str, limit: int = PAGE_LIMIT, after: int | None = None) -> Page:
        """Up to ``limit`` events of ``store_id`` after the cursor ``after``, oldest first.

        Returns the events and the cursor of the next page, ``None`` after the last.
        """
        rows, cursor = self._page(
            "SELECT seq, id, event_name, customer_id, event_timestamp, received_at, value, "
            "value_currency, unique_id, data, types FROM events "
            "WHERE store_id = ? AND seq > ? ORDER BY seq LIMIT ?",
            store_id,
            limit,
            after,
        )
        out = []
        for row in rows:
            event_id, name, customer_id, timestamp, received_at, value, currency, uid = row[1:9]
            stored_data: dict[str, Any] = orjson.loads(row[9])
            types: dict[str, str] = orjson.loads(row[10])
            out.append(
                {
                    "id": event_id,
                    "eventName": name,
                    "customerId": customer_id,
                    "eventTimestamp": timestamp,
                    "receivedAt": received_at,
                    "value": value,
                    "valueCurrency": currency,
                    "uniqueId": uid,
                    "data": stored_data,
                    "propertyTypes": {key: types[key] for key in stored_data if key in types},
                }
            )
        return out, cursor

    def customers(self, store_id: str) -> list[dict[str, Any]]:
        """Every customer of ``store_id``, oldest first, as the inspection API shows it."""
        return _every(self.customers_page, store_id)

    def customers_page(
        self, store_id: str, limit: int = PAGE_LIMIT, after: int | None = None
    ) -> Page:
        """Up to ``limit`` customers of ``store_id`` after the cursor ``after``, oldest first."""
        rows, cursor = self._page(
            "SELECT rowid, id, email, phone_number, first_name, last_name, location, "
            "custom_fields FROM customers WHERE store_id = ? AND rowid > ? ORDER BY rowid LIMIT ?",
            store_id,
            limit,
            after,
        )
        out = []
        for _, customer_id, email, phone, first, last, location, fields in rows:
            custom_fields: dict[str, Any] = orjson.loads(fields)
            out.append(
                {
                    "id": customer_id,
                    "email": email,
                    "phoneNumber": phone,
                    "firstName": first,
                    "lastName": last,
                    "location": None if location is None else orjson.loads(location),
                    "customFields": custom_fields,
                    "customFieldTypes": {
                        key: _custom_field_type(value) for key, value in custom_fields.items()
                    },
                }
            )
        return out, cursor

    def _page(
        self, query: str, store_id: str, limit: int, after: int | None
    ) -> tuple[list[tuple[Any, ...]], int | None]:
        """The rows of one page, each starting with its row id, and the next page's cursor."""
        if not 1 <= limit <= MAX_PAGE_LIMIT:
            raise ValueError(f"limit must be from 1 to {MAX_PAGE_LIMIT}, not {limit}")
        # One row more than asked says whether another page follows.
        with self._lock:
            rows = self._db.execute(query, (store_id, after or 0, limit + 1)).fetchall()
        if len(rows) <= limit:
            return rows, None
        del rows[limit:]
        return rows, int(rows[-1][0])

    def summary(self, store_id: str, top: int = 10, *, violations: bool = False) -> dict[str, Any]:
        """Counts for ``store_id`` without reading every event into memory.

        ``events``, ``customers`` and ``rejected`` (bulk items dropped), and
        ``properties``: the ``top`` (key, type) pairs by the number of events
        carrying them, most frequent first. With ``violations=True`` (the
        emulator checks a tracking plan) also ``violations``: the stored events
        that broke the plan, and ``violationsByRule``: how many of them broke
        each rule, by rule id.
        """
        with self._lock:
            db = self._db
            counts = [
                db.execute(
                    f"SELECT count(*) FROM {table} WHERE store_id = ?",  # noqa: S608 - fixed names
                    (store_id,),
                ).fetchone()[0]
                for table in ("events", "customers", "rejected", "violations")
            ]
            by_rule: Counter[str] = Counter()
            if violations:
                # A rule counts once per event, however many of its properties break it.
                for text, events in db.execute(
                    "SELECT rules, count(*) FROM violations WHERE store_id = ? GROUP BY rules",
                    (store_id,),
                ):
                    for rule in orjson.loads(text):
                        by_rule[rule] += events
            # Events of one kind share their set of types: few distinct texts to read.
            shapes = db.execute(
                "SELECT types, count(*) FROM events WHERE store_id = ? GROUP BY types",
                (store_id,),
            ).fetchall()
        carried: Counter[tuple[str, str]] = Counter()
        for text, events in shapes:
            for pair in orjson.loads(text).items():
                carried[pair] += events
        ranked = sorted(carried.items(), key=lambda item: (-item[1], item[0]))[:top]
        out: dict[str, Any] = {
            "events": counts[0],
            "customers": counts[1],
            "rejected": counts[2],
            "properties": [
                {"key": key, "type": kind, "events": events} for (key, kind), events in ranked
            ],
        }
        if violations:
            out["violations"] = counts[3]
            out["violationsByRule"] = dict(sorted(by_rule.items()))
        return out

    def rejected(self, store_id: str) -> list[dict[str, Any]]:
        """Every bulk item dropped for ``store_id``, oldest first, with its problems."""
        return _every(self.rejected_page, store_id)

    def rejected_page(
        self, store_id: str, limit: int = PAGE_LIMIT, after: int | None = None
    ) -> Page:
        """Up to ``limit`` dropped bulk items of ``store_id`` after the cursor ``after``."""
        rows, cursor = self._page(
            "SELECT seq, received_at, position, event, problems FROM rejected "
            "WHERE store_id = ? AND seq > ? ORDER BY seq LIMIT ?",
            store_id,
            limit,
            after,
        )
        items = [
            {
                "receivedAt": received_at,
                "index": position,
                "event": orjson.loads(event),
                "problems": orjson.loads(problems),
            }
            for _, received_at, position, event, problems in rows
        ]
        return items, cursor

    def violations(self, store_id: str) -> list[dict[str, Any]]:
        """Every plan violation of ``store_id``'s stored events, oldest first."""
        return _every(self.violations_page, store_id)

    def violations_page(
        self, store_id: str, limit: int = PAGE_LIMIT, after: int | None = None
    ) -> Page:
        """Up to ``limit`` plan violations of ``store_id`` after the cursor ``after``.

        Each: ``receivedAt``, ``eventId`` (as the events view shows it),
        ``uniqueId``, ``eventName`` and ``problems`` (``Problem.to_dict()``
        each, paths into the event).
        """
        rows, cursor = self._page(
            "SELECT seq, received_at, event_id, event_name, unique_id, problems FROM violations "
            "WHERE store_id = ? AND seq > ? ORDER BY seq LIMIT ?",
            store_id,
            limit,
            after,
        )
        items = [
            {
                "receivedAt": received_at,
                "eventId": event_id,
                "uniqueId": unique_id,
                "eventName": name,
                "problems": orjson.loads(problems),
            }
            for _, received_at, event_id, name, unique_id, problems in rows
        ]
        return items, cursor

    def clear(self, store_id: str) -> None:
        """Forget every event, customer, unique id, rejected item and violation of ``store_id``."""
        with self._lock:
            db = self._db
            db.execute("BEGIN IMMEDIATE")
            try:
                for statement in _CLEAR:
                    db.execute(statement, (store_id,))
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
