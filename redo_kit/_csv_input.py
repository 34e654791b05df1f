"""Events from CSV: each row is one wire event, built through a column mapping.

The header row names the columns. A header that is a wire path puts its cells
there: ``eventName``, ``eventTimestamp``, ``value``, ``valueCurrency``,
``uniqueId``, ``customer.email`` (any field of the spec's Customer),
``customer.location.city`` (any field of Location),
``customer.customFields.KEY``, ``data.KEY`` and ``data.$extra.KEY``. Any other
header becomes a data property of that name. A mapping entry
``HEADER -> "PATH[:TYPE]"`` sends a column elsewhere; an empty path leaves it
out.

Cells are text, and their JSON type comes from the spec where the spec fixes
one: ``value`` and the location's ``latitude``/``longitude`` are numbers, and
identifiers, names and codes stay text even when they look like numbers (a
``postalCode`` of 02134 keeps its zero). Free-form keys (data, custom fields,
``$extra``) take a cell as JSON when it is a JSON number, ``true``, ``false``
or ``null``, and as text otherwise, so ``02134`` and ``1,000`` stay text.
That is decided cell by cell: a column of postal codes would give Redo both
numbers and text under one key. ``:string``, ``:number`` or ``:boolean`` after a
path fixes the type of a whole column. An empty
cell leaves its field out: CSV cannot tell an empty string from a missing
value, and Redo ignores both.

The mapping is checked against the header before any row is read, so a
misspelt path or a missing customer identifier stops the run at once, with
the fix. Row problems (a cell that is not of its column's type, a row with the
wrong number of cells, bytes that are not UTF-8, with their offset) reject that
row alone, beside whatever else the row's event breaks.

Memory stays bounded: a line longer than the importer's ``line_limit()`` is
read past in chunks, and a row (over several lines, through quoted line
breaks) past that size is read to its end without its cells being kept; both
are rejected as ``line-too-long``. A byte order mark before the header is
skipped.
"""

from __future__ import annotations

import csv
import difflib
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import attrs
import orjson

from redo_kit._errors import ConfigurationError, Problem
from redo_kit._importer import (
    BOM,
    LineSource,
    Position,
    Record,
    line_limit,
    line_too_long,
    next_line,
    not_utf8,
)
from redo_kit._json import loads_exact
from redo_kit._properties import detect_type
from redo_kit._rules import limits
from redo_kit._spec import component, wire_path

__all__ = ["TYPES", "CsvInput", "scalar"]

TYPES = ("string", "number", "boolean")
"""The types a mapping may fix for a column (``PATH:TYPE``)."""

_AUTO = "auto"


def scalar(text: str) -> Any:
    """``59.99`` -> 59.99, ``true`` -> True, ``null`` -> None, ``"true"`` -> "true".

    Anything else stays text: a JSON number has no leading zeros, thousands
    separators or spaces, so ``02134`` and ``1,000`` stay text. A JSON string
    literal gives its content, the way to keep ``true`` or ``12`` as text.
    """
    try:
        value = loads_exact(text)
    except orjson.JSONDecodeError:
        return text
    if type(value) is int and abs(value) > limits().max_integer:
        # More digits than a JSON number carries exactly (an order or card
        # number): kept as the text it is, never rounded.
        return text
    return text if isinstance(value, (dict, list)) else value


@attrs.frozen
class _Column:
    index: int
    header: str
    path: tuple[str, ...]
    kind: str
    free: bool  # a free-form key (data, custom fields, $extra): any type is allowed


class CsvInput:
    """A CSV input's header, checked against a column mapping, and a reader of its rows.

    Build it with :meth:`open`, which reads the header; pass :meth:`read` to
    :func:`redo_kit._importer.import_events` as its ``reader``.
    """

    def __init__(
        self,
        header: Sequence[str],
        header_end: Position,
        *,
        columns: Mapping[str, str] | None = None,
        event_name: str | None = None,
        delimiter: str = ",",
    ) -> None:
        self.header = list(header)
        self.header_end = header_end
        self.event_name = event_name
        self.delimiter = delimiter
        self.columns = _map(self.header, dict(columns or {}), event_name)
        # The types Redo will index each free-form column's cells as (not $extra's).
        self._types: dict[int, Counter[str]] = {
            c.index: Counter()
            for c in self.columns
            if c.kind == _AUTO and c.path[:2] != ("data", "$extra")
        }

    @classmethod
    def open(
        cls,
        source: LineSource,
        *,
        columns: Mapping[str, str] | None = None,
        event_name: str | None = None,
        delimiter: str = ",",
    ) -> CsvInput:
        """Read the header row from the start of ``source`` and check the mapping against it.

        Raises ``ConfigurationError`` naming every column the mapping cannot
        place, and what to pass instead.
        """
        lines = _Lines(source, Position())
        try:
            header = next(csv.reader(lines, delimiter=delimiter), None)
        except csv.Error as exc:
            raise ConfigurationError(f"the CSV header row cannot be read: {exc}") from exc
        if lines.too_long:
            raise ConfigurationError(
                f"the CSV header row is longer than {line_limit():,} bytes: "
                "is the file CSV, with line breaks?"
            )
        if not header:
            raise ConfigurationError("the CSV input is empty: its first row must name the columns")
        if lines.bad is not None:
            raise ConfigurationError(
                f"the CSV header row is not UTF-8 (at byte offset {lines.bad:,}): "
                "save the file as UTF-8"
            )
        return cls(
            [name.strip() for name in header],
            lines.position(),
            columns=columns,
            event_name=event_name,
            delimiter=delimiter,
        )

    def read(self, source: LineSource, start: Position) -> Iterator[Record]:
        """The records of the rows after ``start`` (``source`` must be positioned there).

        A ``start`` inside the header means just after it.
        """
        lines = _Lines(source, self.header_end if start.offset < self.header_end.offset else start)
        rows = csv.reader(lines, delimiter=self.delimiter)
        while True:
            first = lines.line + 1
            lines.start_row()
            try:
                row = next(rows)
            except StopIteration:
                return
            except csv.Error as exc:
                # csv starts afresh on the next line, which may be inside this row.
                lines.finish_row()
                yield first, lines.position(), None, (_row_problem(f"not valid CSV: {exc}"),)
                continue
            if lines.too_long:
                what = "line" if lines.line == first else f"row (lines {first:,} to {lines.line:,})"
                yield first, lines.position(), None, (line_too_long(lines.row_bytes, what),)
                continue
            if not any(cell.strip() for cell in row):
                yield first, lines.position(), None, ()
                continue
            event, problems = self._event(row)
            if lines.bad is not None:
                problems.append(not_utf8(lines.bad, "row"))
            yield first, lines.position(), event, tuple(problems)

    def mixed_types(self) -> list[str]:
        """A warning for each column whose cells were read so far as more than one type.

        Redo indexes a property's types apart, so a segment on ``Zip`` as a
        number misses the rows where it was text. Each warning says how to
        keep one type.
        """
        warnings = []
        for column in self.columns:
            seen = self._types.get(column.index)
            if seen is None or len(seen) < 2:
                continue
            dotted = ".".join(column.path)
            counts = ", ".join(f"{n:,} {kind}" for kind, n in seen.most_common())
            if set(seen) == {"date", "string"}:
                fix = "write every cell as an RFC 3339 date-time (or none of them)"
            else:
                fix = f"keep one type with --column '{column.header}={dotted}:string'"
                if "number" in seen:
                    fix += " (or :number, which rejects the rows whose cell is not a number)"
            warnings.append(
                f"column {column.header!r} gave {dotted} more than one type ({counts}); "
                f"Redo indexes each apart, so a segment on one misses the others: {fix}"
            )
        return warnings

    def _event(self, row: Sequence[str]) -> tuple[dict[str, Any], list[Problem]]:
        problems: list[Problem] = []
        if len(row) != len(self.header):
            problems.append(
                _row_problem(
                    f"the row has {len(row)} cells; the header has {len(self.header)}",
                )
            )
        event: dict[str, Any] = {}
        for column in self.columns:
            text = row[column.index] if column.index < len(row) else ""
            if text == "":
                continue
            value = _cast(text, column.kind)
            if value is _NOT:
                dotted = ".".join(column.path)
                hint = (
                    f"fix the cell, or read the column as text: "
                    f"--column '{column.header}={dotted}:string'"
                    if column.free
                    else f"the spec makes {dotted} a {column.kind}: fix the cell, "
                    f"or leave the column out with --column '{column.header}='"
                )
                problems.append(
                    Problem(
                        path=wire_path(list(column.path)),
                        rule="type",
                        message=f"column {column.header!r}: {text!r} is not a {column.kind}",
                        hint=hint,
                    )
                )
                continue
            seen = self._types.get(column.index)
            if seen is not None:
                kind = detect_type(value)
                if kind is not None:
                    seen[kind] += 1
            target = event
            for part in column.path[:-1]:
                target = target.setdefault(part, {})
            target[column.path[-1]] = value
        if self.event_name is not None and "eventName" not in event:
            event["eventName"] = self.event_name
        return event, problems


_NOT = object()


def _cast(text: str, kind: str) -> Any:
    """``text`` as a value of ``kind``, or ``_NOT`` when it is not one."""
    if kind == "string":
        return text
    if kind == _AUTO:
        return scalar(text)
    if kind == "boolean":
        return {"true": True, "false": False}.get(text.strip().lower(), _NOT)
    value = scalar(text.strip())
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else _NOT


def _row_problem(message: str) -> Problem:
    return Problem(
        path="$",
        rule="csv",
        message=message,
        hint="quote cells that hold the delimiter, a quote or a line break",
    )


class _Lines:
    """Decoded lines of a binary input, counting lines and bytes as ``csv`` takes them.

    Per row (from :meth:`start_row`): ``bad`` is the input offset of the first
    byte that is not UTF-8, ``row_bytes`` the row's size, ``too_long`` whether
    it passed ``line_limit()``. Once it has, ``csv`` gets of each line only
    whether it holds an odd number of quotes, and its line break: enough to
    find where the row ends, and nothing to keep.
    """

    def __init__(self, source: LineSource, start: Position) -> None:
        self.line, self.offset = start.line, start.offset
        self._source = source
        self.start_row()

    def start_row(self) -> None:
        self.bad: int | None = None
        self.row_bytes = 0
        self.too_long = False
        self.quotes = 0

    def finish_row(self) -> None:
        """Read past the rest of a row ``csv`` gave up on: up to a line break outside quotes."""
        while self.quotes % 2:
            raw, size = next_line(self._source, self._count_quotes)
            if not size:
                return
            self.line += 1
            self.offset += size
            self.row_bytes += size
            if raw is not None:
                self._count_quotes(raw)

    def _count_quotes(self, data: bytes) -> None:
        self.quotes += data.count(b'"')

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        before = self.quotes
        raw, size = next_line(self._source, self._count_quotes)
        if not size:
            raise StopIteration
        at = self.offset
        self.line += 1
        self.offset += size
        self.row_bytes += size
        if raw is not None and self.line == 1 and raw.startswith(BOM):
            raw, at = raw[len(BOM) :], at + len(BOM)
        if raw is not None:
            self._count_quotes(raw)
        if raw is None or self.row_bytes > line_limit():
            self.too_long = True
        if raw is None or self.too_long:
            # What csv needs to find the row's end: whether the line opens or closes quotes.
            return '"' * ((self.quotes - before) % 2) + "\n"
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            if self.bad is None:
                self.bad = at + exc.start
            return raw.decode("utf-8", "replace")

    def position(self) -> Position:
        return Position(line=self.line, offset=self.offset)


def _map(header: list[str], columns: dict[str, str], event_name: str | None) -> list[_Column]:
    """Where each column goes; raises ``ConfigurationError`` with every mistake at once."""
    mistakes: list[str] = []
    seen: set[str] = set()
    for name in header:
        if name in seen:
            mistakes.append(f"column {name!r} appears twice in the header: rename one")
        seen.add(name)
    for name in columns:
        if name not in seen:
            close = difflib.get_close_matches(name, header, n=1)
            guess = f" (did you mean {close[0]!r}?)" if close else ""
            mistakes.append(f"--column {name!r}: no such column in the header{guess}")
    mapped: list[_Column] = []
    targets: dict[tuple[str, ...], str] = {}
    for index, name in enumerate(header):
        spec = columns.get(name)
        try:
            placed = _place(name, spec)
        except ValueError as exc:
            mistakes.append(str(exc))
            continue
        if placed is None:
            continue
        path, kind, free = placed
        if path in targets:
            mistakes.append(
                f"columns {targets[path]!r} and {name!r} both go to {'.'.join(path)}: "
                f"leave one out with --column '{name}='"
            )
            continue
        targets[path] = name
        mapped.append(_Column(index=index, header=name, path=path, kind=kind, free=free))
    if ("eventName",) not in targets and event_name is None:
        mistakes.append(
            "no column gives eventName: add an eventName column, map one with "
            "--column 'HEADER=eventName', or name every row's event with --event-name NAME"
        )
    if not any(("customer", name) in targets for name in limits().identifiers):
        mistakes.append(_identifier_mistake(header))
    if mistakes:
        raise ConfigurationError("the CSV columns cannot be mapped:\n  " + "\n  ".join(mistakes))
    return mapped


def _identifier_mistake(header: list[str]) -> str:
    hint = ""
    for name in header:
        squashed = "".join(ch for ch in name.lower() if ch.isalnum())
        for needle, field in (("email", "email"), ("phone", "phoneNumber"), ("customerid", "id")):
            if needle in squashed:
                hint = f", e.g. --column '{name}=customer.{field}'"
                break
        if hint:
            break
    return (
        "no column gives customer.id, customer.email or customer.phoneNumber, and every "
        f"event needs one: name a column after one of them, or map one{hint}"
    )


def _place(header: str, spec: str | None) -> tuple[tuple[str, ...], str, bool] | None:
    """``(path, type, free-form)`` of a column, ``None`` when left out.

    ``ValueError`` says why a column cannot be placed.
    """
    if spec is None:
        top = header.split(".", 1)[0]
        if top not in _fields(component("Event")):
            return ("data", header), _AUTO, True
        path, found = _resolve(header, header)
        return path, found, found == _AUTO
    dotted, sep, kind = spec.rpartition(":")
    kind = kind.strip()
    if not sep or not (kind.isalpha() and kind.islower()):
        # No type after the path (a key may hold a colon: 'data.Time: local').
        dotted, kind = spec, ""
    dotted = dotted.strip()
    if not dotted:
        return None
    if kind and kind not in TYPES:
        raise ValueError(
            f"--column {header!r}: unknown type {kind!r}; use one of {', '.join(TYPES)}"
        )
    path, found = _resolve(dotted, header)
    if kind and found not in (_AUTO, kind):
        raise ValueError(
            f"--column {header!r}: the spec makes {dotted} a {found}; a type after the "
            "path applies to data, custom fields and $extra"
        )
    return path, kind or found, found == _AUTO


def _resolve(dotted: str, header: str) -> tuple[tuple[str, ...], str]:
    """The wire path ``dotted`` names in the spec's Event, and the type of its values."""
    parts = dotted.split(".")
    schema = component("Event")
    path: list[str] = []
    for i, part in enumerate(parts):
        fields = _fields(schema)
        if part in fields:
            path.append(part)
            schema = _deref(fields[part])
            continue
        if "properties" in schema and schema.get("additionalProperties", False) is False:
            where = ".".join(path) or "an event"
            close = difflib.get_close_matches(part, list(fields), n=1)
            guess = f"did you mean {close[0]!r}? " if close else ""
            raise ValueError(
                f"column {header!r}: {where} has no field {part!r}; {guess}"
                f"its fields are {', '.join(fields)}"
            )
        # A container of free-form keys (data, customFields, $extra): the rest is the key.
        path.append(".".join(parts[i:]))
        return tuple(path), _AUTO
    kind = _leaf_type(schema)
    if kind is None:
        raise ValueError(
            f"column {header!r}: {dotted} holds an object; name one of its fields, "
            f"e.g. {dotted}.{next(iter(_fields(schema)), 'KEY')}"
        )
    return tuple(path), kind


def _fields(schema: dict[str, Any]) -> dict[str, Any]:
    # Named fields; an object that also takes other keys (EventData beside its
    # `$extra`) is a container of free-form keys for every other name.
    fields: dict[str, Any] = schema.get("properties", {})
    return fields


def _deref(schema: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if isinstance(ref, str):
        return component(ref.rsplit("/", 1)[-1])
    return schema


def _leaf_type(schema: dict[str, Any]) -> str | None:
    """``None`` for an object; else the type a cell is read as."""
    kind = schema.get("type")
    if kind == "object" or "properties" in schema or "additionalProperties" in schema:
        return None
    if kind in ("number", "integer"):
        return "number"
    if kind in ("string", "boolean"):
        return str(kind)
    return _AUTO
