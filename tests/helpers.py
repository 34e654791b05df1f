"""Helpers shared by the test modules (fixtures live in conftest.py)."""

from __future__ import annotations

from typing import Any

from redo_kit._errors import ConversionError


def year_zero_timestamp(event: dict[str, Any], error: ConversionError) -> bool:
    """Whether ``error`` is only Python's datetime refusing the year 0000 of ``eventTimestamp``.

    RFC 3339 and the spec allow the years 0000 to 9999; datetime starts at year 1.
    (A leap second is no such case: it is read as 23:59:59.999999.)
    """
    stamp = event.get("eventTimestamp")
    return (
        isinstance(stamp, str)
        and stamp.startswith("0000-")
        and [p.path for p in error.problems] == ["$.eventTimestamp"]
    )
