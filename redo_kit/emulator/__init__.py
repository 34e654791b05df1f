"""A stateful local Redo Events API on SQLite, with fault injection.

Serves both operations of the spec under ``/v2.2`` with every ``x-redo-*``
rule applied, validating with the same compiled spec schemas as the client,
plus the emulator's own inspection API under ``/_emulator``::

    GET    /_emulator/stores/{storeId}/events      {"events": [...], "next": cursor}
    GET    /_emulator/stores/{storeId}/customers   {"customers": [...], "next": cursor}
    GET    /_emulator/stores/{storeId}/rejected    {"rejected": [...], "next": cursor}
    GET    /_emulator/stores/{storeId}/violations  {"violations": [...], "next": cursor}
    GET    /_emulator/stores/{storeId}/summary     counts and the top properties
    GET    /_emulator/stats                        the key's store's counters since start
    DELETE /_emulator/stores/{storeId}             empty the store (write scope)

Lists come in pages (``?limit=`` up to 10,000, default 1,000; ``?after=`` the
previous page's ``next``). Inspection takes the same Bearer keys as the API,
and a store the key does not belong to answers as an unknown one does. Start
it in-process with ``with Emulator() as emu:`` or from a shell with
``redo-kit emulator``.

Given a tracking plan (``Emulator(plan=...)``, ``redo-kit emulator --plan``),
the emulator still stores exactly what Redo stores, and records each stored
event's plan problems under ``violations`` (its ``uniqueId``, ``eventName``
and ``problems``), counted in the summary as ``violations`` and
``violationsByRule``: a service in any language sees plan drift in its CI.
"""

from __future__ import annotations

from redo_kit._rules import limits
from redo_kit.emulator._auth import DEMO_API_KEY, DEMO_STORE_ID, WRITE_SCOPE, ApiKey
from redo_kit.emulator._emulator import Emulator
from redo_kit.emulator._faults import FAULT_KINDS

__all__ = [
    "DEFAULT_RATE_LIMIT",
    "DEMO_API_KEY",
    "DEMO_STORE_ID",
    "FAULT_KINDS",
    "WRITE_SCOPE",
    "ApiKey",
    "Emulator",
]

DEFAULT_RATE_LIMIT: float
"""Requests per second per store per endpoint, the spec's ``x-redo-rate-limit``.

Not a stored constant: :func:`__getattr__` reads it from the spec in use each
time it is asked for (100 in the shipped spec).
"""


def __getattr__(name: str) -> float:
    if name == "DEFAULT_RATE_LIMIT":
        return limits().rate_limit
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
