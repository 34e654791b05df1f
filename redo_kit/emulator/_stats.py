"""Counters for ``GET /_emulator/stats``: what the event operations answered and did.

Kept twice: in all, for the process that runs the emulator (``Emulator.stats()``),
and per store, for the HTTP endpoint, which shows a key the counters of its own
store only. A request counts for a store once its path named a configured store
(:meth:`Stats.attribute`); what happened before that, such as a fault drawn
first, is carried over to it, and a request that names no configured store
counts only in all.
"""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

__all__ = ["Stats"]


class _Counters:
    def __init__(self) -> None:
        self.statuses: Counter[int] = Counter()
        self.faults: Counter[str] = Counter()
        self.stored = self.deduplicated = self.rejected = self.rate_limited = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "requests": {str(status): n for status, n in sorted(self.statuses.items())},
            "stored": self.stored,
            "deduplicated": self.deduplicated,
            "rejected": self.rejected,
            "rateLimited": self.rate_limited,
            "faults": dict(sorted(self.faults.items())),
        }


class Stats:
    """Thread-safe counters since the emulator started (not persisted).

    One request is served by one thread from start to answer, so the store a
    request counts for is remembered per thread until its answer is counted.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._all = _Counters()
        self._stores: dict[str, _Counters] = {}
        self._request = threading.local()

    def _current(self) -> _Counters | None:
        """The counters of the store this thread's request counts for; call under the lock."""
        store_id: str | None = getattr(self._request, "store_id", None)
        return None if store_id is None else self._stores.setdefault(store_id, _Counters())

    def attribute(self, store_id: str) -> None:
        """Count this thread's request, from now until its answer, for ``store_id`` too."""
        faults: list[str] = getattr(self._request, "faults", [])
        with self._lock:
            counters = self._stores.setdefault(store_id, _Counters())
            counters.faults.update(faults)
        self._request.store_id = store_id
        self._request.faults = []

    def answered(self, status: int) -> None:
        """Count one answer of an event operation (or of an unknown path); the request ends."""
        with self._lock:
            self._all.statuses[status] += 1
            current = self._current()
            if current is not None:
                current.statuses[status] += 1
        self._request.store_id = None
        self._request.faults = []

    def ingested(self, stored: int, deduplicated: int, rejected: int) -> None:
        """Count what one accepted request did to its store."""
        with self._lock:
            for counters in (self._all, self._current()):
                if counters is not None:
                    counters.stored += stored
                    counters.deduplicated += deduplicated
                    counters.rejected += rejected

    def rate_limited(self) -> None:
        """Count one request refused by the rate limit (injected 429s are faults)."""
        with self._lock:
            for counters in (self._all, self._current()):
                if counters is not None:
                    counters.rate_limited += 1

    def fault(self, kind: str) -> None:
        """Count one injected fault of ``kind``."""
        with self._lock:
            self._all.faults[kind] += 1
            current = self._current()
            if current is not None:
                current.faults[kind] += 1
                return
        # Drawn before the request's store is known: it counts for the store later.
        pending: list[str] = getattr(self._request, "faults", [])
        self._request.faults = [*pending, kind]

    def snapshot(self, store_id: str | None = None) -> dict[str, Any]:
        """The counters as the stats endpoint shows them: of ``store_id``, or in all (``None``)."""
        with self._lock:
            if store_id is None:
                return self._all.as_dict()
            return self._stores.get(store_id, _Counters()).as_dict()
