"""The one walker over JSON-like values: Python values in, JSON values and problems out.

:func:`walk` turns whatever a caller hands over into values JSON can carry,
iteratively (no nesting can exhaust the stack) and bounded in depth, and
reports, by wire path, everything it cannot turn. The converter, preparation
and validation all go through it; nothing else in redo-kit descends into
user data.

What it accepts, and what it sends:

- ``str``, ``int``, ``float``, ``bool``, ``None``, ``dict`` and ``list``: as
  they are. Subclasses of ``str``, ``int``, ``float``, ``dict`` and ``list``
  (``IntEnum`` and ``StrEnum`` members, ``OrderedDict``, ...) are sent as
  their base value, exactly what ``json.dumps`` would write for them. Other
  ``Mapping`` types are read as objects; ``tuple`` as an array.
- ``Enum`` members: their ``.value``, walked in turn. ``uuid.UUID``: its
  canonical string.
- aware ``datetime``: RFC 3339 in UTC with ``Z``. ``Decimal``: a JSON number
  (an integer when it is integral).

What it refuses, each with a problem that names the path and the fix: naive
datetimes, NaN and infinities (``non-finite``), integers outside 64 bits,
non-string keys, strings or keys holding lone surrogates (``unicode``: they
cannot be UTF-8), strings over the size limit (``string-size``), nesting
deeper than the spec allows (``depth``), and every other type (``json-type``:
bytes, sets, dates without a time, arbitrary objects). A refused value is
left out of the result, so the rest can still be checked.
"""

from __future__ import annotations

import contextlib
import enum
import json
import math
import uuid
from collections.abc import Callable, Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any, NamedTuple

import orjson

from redo_kit._errors import ConversionError, Problem
from redo_kit._rfc3339 import format_datetime
from redo_kit._rules import limits, string_size, too_deep
from redo_kit._spec import derived, wire_path

__all__ = ["NOT_PLAIN", "Walked", "dumps_exact", "kept", "loads_exact", "quick", "walk"]

_NOTHING: frozenset[str] = frozenset()
# Objects of up to this many scalars are checked by a Python loop (see quick).
_FLAT = 16
# orjson hands everything but exact JSON types (and tuples, enums and UUIDs,
# which it writes as the walker would) to `default`, which refuses them.
_STRICT = (
    orjson.OPT_PASSTHROUGH_SUBCLASS
    | orjson.OPT_PASSTHROUGH_DATETIME
    | orjson.OPT_PASSTHROUGH_DATACLASS
)


_DOUBLE_EXACT = 2**53 - 1
"""The largest integer a double holds exactly: orjson's strict-integer bound."""


def _refuse(value: Any) -> Any:
    raise TypeError(type(value).__name__)


# orjson keeps every integer from -2**63 to 2**64 - 1 exact and reads one beyond
# as the nearest float. One beyond has at least 19 digits: a run of 19 digits
# (in a string or not) is what sends a body to the exact reader. Found by mapping
# every digit to 0 and looking for nineteen of them, which costs a fraction of a
# regular expression's scan.
_DIGITS_TO_ZERO = bytes.maketrans(b"123456789", b"000000000")
_LONG_RUN = b"0" * 19


def loads_exact(body: bytes | str) -> Any:
    """``body`` parsed as JSON, every integer exactly as written.

    orjson reads an integer beyond 64 bits as the nearest float, which would
    hide it from the integer limit (x-redo-integer-limit); a body that may
    hold one is read again by the standard library, which keeps integers
    exact. Raises ``orjson.JSONDecodeError`` (a ``ValueError``) for what is
    not JSON.
    """
    value = orjson.loads(body)
    raw = body if isinstance(body, bytes) else body.encode("utf-8", "surrogatepass")
    # Nested deeper than the standard library reads is far past the depth
    # limit, which refuses the event whatever its numbers: orjson's reading stays.
    if raw.translate(_DIGITS_TO_ZERO).find(_LONG_RUN) >= 0:
        with contextlib.suppress(RecursionError):
            value = json.loads(body)
    return value


def dumps_exact(value: Any) -> bytes:
    """``value`` as JSON bytes when it holds JSON values only, exactly typed.

    Raises ``TypeError`` (``orjson.JSONEncodeError``) for anything else: a
    subclass, a datetime, a Decimal, a lone surrogate, a non-string key, an
    integer beyond the spec's limit, nesting past orjson's limit. NaN and
    infinities are written as null: callers that care compare the body read
    back.
    """
    options = _strict_options()
    if options is None:
        raise TypeError("the spec's integer limit is checked by the walk")
    return orjson.dumps(value, default=_refuse, option=options)


def kept(body: bytes) -> bytes:
    """``body`` copied into a bytes object of its own size, for keeping.

    orjson writes into a buffer of at least 4 KiB and hands it back without
    shrinking it: a 400-byte event body held in an outbox would keep ten
    times its size, beyond what the outbox's byte bound counts. The copy
    costs a tenth of a microsecond; a body that is sent and dropped needs none.
    """
    return b"".join((body, b""))


@derived
def _strict_options() -> int | None:
    # orjson checks integers against 2**53 - 1 (OPT_STRICT_INTEGER) or 64 bits;
    # a spec limit of neither kind is left to the walk, which every value
    # then takes (a tighter limit cannot be checked in C).
    largest = limits().max_integer
    if largest == _DOUBLE_EXACT:
        return _STRICT | orjson.OPT_STRICT_INTEGER
    if largest >= 2**64:
        return _STRICT
    return None


class Walked(NamedTuple):
    """What :func:`walk` made of a value.

    ``value`` is made of JSON values only (``None`` when the value itself was
    refused); ``problems`` lists every refusal; ``refused`` holds the wire
    path of each value left out; ``changed`` says whether anything was
    converted (a subclass, a tuple, a datetime...).
    """

    value: Any
    problems: list[Problem]
    refused: frozenset[str]
    changed: bool = False


class _Missing:
    """Marks a value the walker refused."""


_MISSING = _Missing()

NOT_PLAIN: Any = _Missing()
"""What :func:`quick` returns for a value the walker must read."""


def walk(
    value: Any,
    root: str = "$",
    *,
    depth: int = 1,
    convert: bool = True,
    strings: Callable[[str], str] | None = None,
) -> Walked:
    """``value`` as JSON values, with every problem on the way (see the module doc).

    ``root`` is the wire path of ``value``; ``depth`` its level in the event
    (the event itself is level 1), against the spec's ``maxDepth``. With
    ``convert=False`` (validating a wire payload, which is sent as it is)
    datetimes, Decimals, plain enums and UUIDs are refused as not JSON
    rather than converted; subclasses of the JSON types are still accepted.
    ``strings``, when given, rewrites every string and key of the result
    (for redacting a secret from a document the API sent back).
    """
    if strings is not None:
        return _rewritten(walk(value, root, depth=depth, convert=convert), strings)
    if type(value) is datetime and convert:
        # The one conversion nearly every built event needs: its timestamp.
        try:
            return Walked(format_datetime(value, path=root), [], _NOTHING, True)
        except ConversionError as exc:
            found = list(exc.problems)
            return Walked(None, found, frozenset(p.path for p in found), True)
    copy = quick(value)
    if copy is not NOT_PLAIN:
        return Walked(copy, [], _NOTHING)
    return _walk(value, root, depth, convert)


def quick(value: Any, *, check_text: bool = True) -> Any:
    """``value`` (copied when it is an object) if it is plainly JSON already, else NOT_PLAIN.

    The common cases, decided without the walk: a scalar, or a small object
    of scalars and ASCII text. For anything else :func:`walk` decides.
    ``check_text=False`` leaves the text of strings unread (lone surrogates,
    sizes) for a caller whose result is serialized strictly and sized later,
    as every prepared event is.
    """
    cls = type(value)
    if cls is dict:
        if len(value) > _FLAT:
            return NOT_PLAIN
        rules = limits()
        long_string = rules.max_string_bytes // 4 if check_text else 0
        largest = rules.max_integer
        # A plain loop: it runs for the open objects of every typed event.
        for key, item in value.items():
            if type(key) is not str:
                return NOT_PLAIN
            if check_text and (not key.isascii() or len(key) > long_string):
                return NOT_PLAIN
            kind = type(item)
            if kind is str:
                if check_text and (not item.isascii() or len(item) > long_string):
                    return NOT_PLAIN
            elif kind is int:
                if not -largest <= item <= largest:
                    return NOT_PLAIN
            elif kind is float:
                if not math.isfinite(item):
                    return NOT_PLAIN
            elif kind is not bool and item is not None:
                return NOT_PLAIN
        return dict(value)
    if cls is str:
        if value.isascii() and len(value) * 4 <= limits().max_string_bytes:
            return value
        return NOT_PLAIN
    if cls is bool or value is None or (cls is float and math.isfinite(value)):
        return value
    if cls is int and -limits().max_integer <= value <= limits().max_integer:
        return value
    return NOT_PLAIN


def _walk(value: Any, root: str, depth: int, convert: bool) -> Walked:
    rules = limits()
    max_depth = rules.max_depth
    largest = rules.max_integer
    # Strings of up to a quarter of the limit cannot be over it in UTF-8.
    long_string = rules.max_string_bytes // 4
    if _is_container(value):
        plain = _plain(value, max_depth - depth + 1, rules.max_string_bytes)
        if plain is not None:
            return Walked(plain, [], frozenset())
    problems: list[Problem] = []
    refused: set[str] = set()
    changed = False

    def refuse(problem: Problem) -> _Missing:
        problems.append(problem)
        refused.add(problem.path)
        return _MISSING

    def text(item: str, path: Any, *, is_key: bool = False) -> str | _Missing:
        if not item.isascii():
            try:
                size = len(item.encode("utf-8"))
            except UnicodeEncodeError as exc:
                if is_key:
                    # wire_path writes the surrogate escaped; its start is enough.
                    path = (path[0], item[:40])
                return refuse(_surrogate(_path(path), item, exc, is_key=is_key))
        elif len(item) > long_string:
            size = len(item)
        else:
            return item
        if size > rules.max_string_bytes:
            if is_key:
                # A path that names a 100 KB key would be 100 KB: its start is enough.
                path = (path[0], item[:40])
            problems.append(string_size(_path(path), size, is_key=is_key))
        return item

    def scalar(item: Any, path: Any) -> Any:
        """A leaf as a JSON value, or ``_MISSING``; containers come back as they are."""
        nonlocal changed
        cls = type(item)
        if cls is str:
            return text(item, path)
        if cls is bool or item is None:
            return item
        if cls is int:
            if -largest <= item <= largest:
                return item
            return refuse(_big_int(_path(path), item, largest))
        if cls is float:
            if math.isfinite(item):
                return item
            return refuse(_non_finite(_path(path), item))
        if cls is dict or cls is list:
            return item
        changed = True
        if isinstance(item, (dict, list, tuple, Mapping)):
            return item
        if isinstance(item, str):
            return text(str.__str__(item), path)
        if isinstance(item, int):
            return scalar(int.__index__(item), path)
        if isinstance(item, float):
            return scalar(float.__float__(item), path)
        if not convert:
            return refuse(_not_json(_path(path), item))
        if isinstance(item, Decimal):
            number = _decimal(item)
            if number is None:
                return refuse(_non_finite(_path(path), item))
            if isinstance(number, Decimal):
                return refuse(_big_decimal(_path(path), number))
            return scalar(number, path)
        if isinstance(item, datetime):
            try:
                return format_datetime(item, path=_path(path))
            except ConversionError as exc:
                for problem in exc.problems:
                    refuse(problem)
                return _MISSING
        if isinstance(item, enum.Enum):
            return scalar(item.value, path)
        if isinstance(item, uuid.UUID):
            return str(item)
        return refuse(_not_json(_path(path), item))

    top = scalar(value, root)
    if top is _MISSING:
        return Walked(None, problems, frozenset(refused), changed)
    if not _is_container(top):
        return Walked(top, problems, frozenset(refused), changed)
    # Each entry: (source container, its copy, its path, its depth). A path is
    # kept as (parent path, key) pairs and written out only for a problem.
    result = _empty(top)
    stack: list[tuple[Any, Any, Any, int]] = [(top, result, root, depth)]
    if depth > max_depth:
        return Walked(None, [too_deep(root)], frozenset({root}))
    while stack:
        source, copy, path, level = stack.pop()
        if type(copy) is dict:
            items = source.items() if isinstance(source, dict) else dict(source).items()
            for key, item in items:
                if type(key) is not str:
                    if not isinstance(key, str):
                        refuse(_key_type(_path((path, _short(key))), key))
                        continue
                    key = str.__str__(key)
                    changed = True
                name = text(key, (path, key), is_key=True)
                if name is _MISSING:
                    continue
                here: tuple[Any, Any] = (path, key)
                child = scalar(item, here)
                if child is _MISSING:
                    continue
                if _is_container(child):
                    if level + 1 > max_depth:
                        refuse(too_deep(_path(here)))
                        continue
                    inner = _empty(child)
                    stack.append((child, inner, here, level + 1))
                    child = inner
                copy[key] = child
        else:
            for index, item in enumerate(source):
                here = (path, index)
                child = scalar(item, here)
                if child is _MISSING:
                    # Keep the positions of the others: a refused item becomes null.
                    copy.append(None)
                    continue
                if _is_container(child):
                    if level + 1 > max_depth:
                        refuse(too_deep(_path(here)))
                        copy.append(None)
                        continue
                    inner = _empty(child)
                    stack.append((child, inner, here, level + 1))
                    child = inner
                copy.append(child)
    return Walked(result, problems, frozenset(refused), changed)


def _rewritten(walked: Walked, strings: Callable[[str], str]) -> Walked:
    """``walked`` with ``strings`` applied to each string and key (a JSON-only value)."""
    top = walked.value
    if type(top) is str:
        return walked._replace(value=strings(top))
    if type(top) is not dict and type(top) is not list:
        return walked
    # The walked value holds JSON values only, nested no deeper than the limit.
    stack: list[Any] = [top]
    while stack:
        current = stack.pop()
        if type(current) is dict:
            items = list(current.items())
            current.clear()
            for key, item in items:
                current[strings(key)] = strings(item) if type(item) is str else item
                if type(item) is dict or type(item) is list:
                    stack.append(item)
        else:
            for index, item in enumerate(current):
                if type(item) is str:
                    current[index] = strings(item)
                elif type(item) is dict or type(item) is list:
                    stack.append(item)
    return walked


def _plain(value: Any, levels: int, max_bytes: int) -> Any:
    """A fresh copy of ``value`` when it certainly needs nothing from the walker, else None.

    orjson writes it (in C) only when it holds nothing but JSON values, valid
    strings and 64-bit integers; what it reads back must equal ``value``.
    Nesting needs a bracket per level, so a body with few brackets is
    shallow; and no string is longer than its body.
    """
    try:
        body = dumps_exact(value)
    except orjson.JSONEncodeError:
        return None
    if len(body) > max_bytes or body.count(b"[") + body.count(b"{") > levels:
        return None
    copy = orjson.loads(body)
    # Unequal after the round trip: a NaN, or a tuple, enum or UUID written
    # as something else; the walk below says which.
    return copy if copy == value else None


def _is_container(value: Any) -> bool:
    return isinstance(value, (dict, list, tuple, Mapping))


def _empty(container: Any) -> Any:
    return [] if isinstance(container, (list, tuple)) else {}


def _path(path: Any) -> str:
    """A nested ``(parent, key)`` path written as a wire path."""
    parts: list[str | int] = []
    while isinstance(path, tuple):
        path, part = path
        parts.append(part)
    parts.reverse()
    return wire_path(parts, path)


def _surrogate(path: str, value: str, exc: UnicodeEncodeError, *, is_key: bool) -> Problem:
    what = "key" if is_key else "string"
    return Problem(
        path=path,
        rule="unicode",
        message=(
            f"this {what} holds a lone surrogate ({value[exc.start]!r} at position "
            f"{exc.start}), which UTF-8 cannot carry"
        ),
        hint=(
            "decode the input with errors='replace' (or fix the JSON that escaped half "
            "of a character pair, such as '\\ud800')"
        ),
    )


def _decimal(value: Decimal) -> int | float | Decimal | None:
    """A Decimal as a JSON number: an int when integral, else a float.

    None when it is not finite (or overflows a float); the Decimal itself
    when it is an integer with more digits than the integer limit, found from
    its exponent so that no huge int is ever built (``Decimal("1e999999999")``);
    an integral one within those digits comes back as an int for the walk to
    check against the limit.
    """
    if not value.is_finite():
        return None
    if value == value.to_integral_value():
        # Decided from the exponent first, so that no huge int is ever built.
        if value.adjusted() >= len(str(limits().max_integer)):
            return value
        return int(value)
    number = float(value)
    return number if math.isfinite(number) else None


def _big_decimal(path: str, value: Decimal) -> Problem:
    return _too_large_integer(path, f"{value:.3e}", limits().max_integer)


def _big_int(path: str, value: int, largest: int) -> Problem:
    # str() of a huge integer is slow, and refused past 4,300 digits.
    shown = str(value) if value.bit_length() <= 128 else f"of {value.bit_length():,} bits"
    return _too_large_integer(path, shown, largest)


def _too_large_integer(path: str, shown: str, largest: int) -> Problem:
    return Problem(
        path=path,
        rule="json-type",
        message=(
            f"integer {shown} is beyond {largest:,} in absolute value, the largest the API "
            "stores exactly (x-redo-integer-limit)"
        ),
        hint="send very large numbers as strings",
    )


def _non_finite(path: str, value: float | Decimal) -> Problem:
    return Problem(
        path=path,
        rule="non-finite",
        message=f"{value!r} is not a JSON number (it would be sent as null)",
        hint="send a finite number, or leave the field out",
    )


def _key_type(path: str, key: object) -> Problem:
    return Problem(
        path=path,
        rule="json-type",
        message=f"key {_short(key)} is not a string: JSON keys are strings",
        hint="convert the key to a string (JSON writes 1 as '1')",
    )


def _not_json(path: str, value: object) -> Problem:
    name = type(value).__name__
    if isinstance(value, (bytes, bytearray, memoryview)):
        hint = "decode it (value.decode('utf-8')), or send base64 text"
    elif isinstance(value, (set, frozenset)):
        hint = "send a list: sorted(value) or list(value)"
    else:
        hint = (
            "build the event with build_event or prepare_event, which write datetimes as "
            "RFC 3339 and Decimal as numbers; or convert the value yourself"
        )
    return Problem(path=path, rule="json-type", message=f"a {name} is not a JSON value", hint=hint)


def _short(value: object) -> str:
    try:
        shown = repr(value)
    except Exception:  # a hostile __repr__ must not hide the real problem
        shown = f"<{type(value).__name__}>"
    return shown if len(shown) <= 60 else shown[:57] + "..."
