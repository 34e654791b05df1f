"""uniqueIds: what makes a retried or re-run event safe to send again.

The API keeps the first event stored with a ``uniqueId`` and silently discards
later ones (spec: ``x-redo-deduplication``). Three ways to get one:

- ``unique_id("order", 789)`` -> ``"order-789"``: from a natural key, for
  webhooks and queues where the source has its own id;
- ``content_unique_id(event)``: a hash of the event's content, for backfills
  from data without ids, so a re-run import sends the same ids;
- ``new_unique_id()``: a fresh random id, assigned once when an event is
  built and kept across every retry and re-queue.
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
import uuid
from collections.abc import Mapping
from typing import Any

import orjson

from redo_kit._converter import to_json_value, unstructure
from redo_kit._properties import clean_data
from redo_kit._rules import limits

__all__ = [
    "CONTENT_PREFIX",
    "content_digest",
    "content_unique_id",
    "new_unique_id",
    "unique_id",
]


CONTENT_PREFIX = "content-"
"""How every ``content_unique_id`` starts."""
_UNSAFE = re.compile(r"[^A-Za-z0-9._~-]+", re.ASCII)
_HASH_LENGTH = 16


def unique_id(*parts: str | int | uuid.UUID) -> str:
    """A stable uniqueId from a natural key: the parts joined with ``-``.

    ``unique_id("order", 789) == "order-789"``. The result holds only
    ``A-Z a-z 0-9 . _ ~ -`` and is at most 255 characters. When a part holds
    other characters (they become ``_``) or the result would be too long (it is
    shortened), a hash of the original parts is appended, so two different keys
    never collapse into the same id. Parts are written with ``str``:
    ``unique_id("order", 789) == unique_id("order", "789")``.
    """
    if not parts:
        raise ValueError("unique_id needs at least one part")
    texts: list[str] = []
    for part in parts:
        if isinstance(part, bool) or not isinstance(part, (str, int, uuid.UUID)):
            raise TypeError(f"unique_id parts are str, int or UUID, not {type(part).__name__}")
        text = str(part)
        if not text:
            raise ValueError("unique_id parts must not be empty")
        texts.append(text)
    joined = "-".join(texts)
    safe = _UNSAFE.sub("_", joined)
    if safe == joined and len(safe) <= limits().unique_id_length[1]:
        return safe
    digest = hashlib.sha256(orjson.dumps(texts)).hexdigest()[:_HASH_LENGTH]
    keep = limits().unique_id_length[1] - _HASH_LENGTH - 1
    return f"{safe[:keep]}-{digest}"


def content_unique_id(event: Any) -> str:
    """A uniqueId derived from the event's content: ``content-`` and 32 hex digits.

    ``event`` is a wire dict or a ``redo_kit_models.Event``. The hash is
    SHA-256 of the canonical JSON (keys sorted) of the event after cleaning
    its data and writing datetimes as RFC 3339 ``Z``, without ``uniqueId``
    itself. So it is the same in every process and for any key order, and it
    changes when anything that is sent changes.

    ``prepare_event(event, unique_id="content")`` hashes the event after it
    has normalized the customer's identifiers, so its id equals
    ``content_unique_id(prepared.payload)``.
    """
    return CONTENT_PREFIX + content_digest(_canonical(event))


def new_unique_id() -> str:
    """A fresh random uniqueId: a UUID4 in its 36-character text form."""
    return _FRESH.take()


def _uuid4_texts(count: int) -> list[str]:
    """``count`` random UUID4s as text, from one ``os.urandom`` read."""
    # The same bits as str(uuid.uuid4()) (os.urandom, version 4, RFC 4122
    # variant), written without building UUID objects: every event built
    # gets one.
    h = os.urandom(count * 16).hex()
    return [
        f"{h[i : i + 8]}-{h[i + 8 : i + 12]}-4{h[i + 13 : i + 16]}-"
        f"{'89ab'[int(h[i + 16], 16) & 3]}{h[i + 17 : i + 20]}-{h[i + 20 : i + 32]}"
        for i in range(0, count * 32, 32)
    ]


class _FreshIds:
    """Random uniqueIds made a block at a time per thread, from one ``os.urandom`` read each.

    ``os.urandom`` lets the GIL go for its system call, and a thread that lets
    it go waits for it behind every other thread that wants it: with busy
    sender threads, up to ``sys.getswitchinterval()`` (5 ms). One read per id
    put that wait into ``track()`` on the caller's thread; one read per
    ``_BLOCK_IDS`` ids leaves it in one call in that many. Each thread has a
    block of its own: a block shared behind a lock made threads that build
    events at once queue on the lock, one context switch per id.
    """

    def __init__(self) -> None:
        self.forget()

    def forget(self) -> None:
        """Drop every block: a forked child must never hand out its parent's next ids."""
        self._local = threading.local()

    def take(self) -> str:
        local = self._local
        try:
            ids: list[str] = local.ids
            return ids.pop()
        except (AttributeError, IndexError):
            ids = local.ids = _uuid4_texts(_BLOCK_IDS)
            return ids.pop()


_BLOCK_IDS = 256
_FRESH = _FreshIds()


def _forget_in_child() -> None:
    _FRESH.forget()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_in_child)


def _canonical(event: Any) -> dict[str, Any]:
    wire = dict(event) if isinstance(event, Mapping) else unstructure(event)
    wire.pop("uniqueId", None)
    wire = to_json_value(wire)
    data = wire.get("data")
    if isinstance(data, Mapping):
        wire["data"] = clean_data(data, move_nested_to_extra=True)
    return dict(wire)


def content_digest(wire: Mapping[str, Any]) -> str:
    """The 32 hex digits that identify ``wire`` (a JSON-only dict) by its content."""
    body = orjson.dumps(wire, option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(body).hexdigest()[:32]
