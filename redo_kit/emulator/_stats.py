"""Counters for ``GET /_emulator/stats``: what the event operations answered and did."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

__all__ = ["Stats"]


class Stats:
    """Thread-safe counters since the emulator started (not persisted)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._statuses: Counter[int] = Counter()
        self._faults: Counter[str] = Counter()
        self._stored = self._deduplicated = self._rejected = self._rate_limited = 0

    def answered(self, status: int) -> None:
        """Count one answer of an event operation (or of an unknown path)."""
        with self._lock:
            self._statuses[status] += 1

    def ingested(self, stored: int, deduplicated: int, rejected: int) -> None:
        """Count what one accepted request did to its store."""
        with self._lock:
            self._stored += stored
            self._deduplicated += deduplicated
            self._rejected += rejected

    def rate_limited(self) -> None:
        """Count one request refused by the rate limit (injected 429s are faults)."""
        with self._lock:
            self._rate_limited += 1

    def fault(self, kind: str) -> None:
        """Count one injected fault of ``kind``."""
        with self._lock:
            self._faults[kind] += 1

    def snapshot(self) -> dict[str, Any]:
        """The counters as the stats endpoint shows them."""
        with self._lock:
            return {
                "requests": {str(status): n for status, n in sorted(self._statuses.items())},
                "stored": self._stored,
                "deduplicated": self._deduplicated,
                "rejected": self._rejected,
                "rateLimited": self._rate_limited,
                "faults": dict(sorted(self._faults.items())),
            }
