"""RFC 3339 date-times: the one way redo-kit writes a datetime, and reads one back.

Writing: UTC, ``Z``, microseconds only when there are any
(``2026-04-02T12:00:00Z``, ``2026-04-02T12:00:00.250000Z``). A naive datetime
has no instant and is refused. Reading accepts exactly the strings the spec's
``format: date-time`` accepts.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

from redo_kit._errors import ConversionError, Problem

__all__ = ["format_datetime", "parse_datetime"]

_DATE_TIME = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?"
    r"(?:([Zz])|([+-])(\d{2}):(\d{2}))",
    re.ASCII,
)


def format_datetime(value: datetime, *, path: str = "$") -> str:
    """``value`` as RFC 3339 in UTC with ``Z``. Raises ``ConversionError`` when naive."""
    if value.tzinfo is None or value.utcoffset() is None:
        problem = Problem(
            path=path,
            rule="aware-datetime",
            message=f"naive datetime {value.isoformat()} has no time zone",
            hint="pass an aware datetime: datetime.now(timezone.utc), dt.replace(tzinfo=...)",
        )
        raise ConversionError(str(problem), [problem])
    try:
        utc = value.astimezone(timezone.utc)
    except OverflowError as exc:
        problem = Problem(
            path=path,
            rule="datetime-range",
            message=f"{value.isoformat()} falls outside years 1 to 9999 in UTC",
            hint="use a date between 0001-01-01 and 9999-12-31 UTC",
        )
        raise ConversionError(str(problem), [problem]) from exc
    # Not strftime: "%Y" drops the zero padding of years before 1000 on glibc.
    text = (
        f"{utc.year:04d}-{utc.month:02d}-{utc.day:02d}"
        f"T{utc.hour:02d}:{utc.minute:02d}:{utc.second:02d}"
    )
    if utc.microsecond:
        text += f".{utc.microsecond:06d}"
    return text + "Z"


def parse_datetime(text: str) -> datetime:
    """Parse an RFC 3339 date-time into an aware datetime.

    Fractions beyond microseconds are truncated; a leap second (``:60``) is
    read as ``:59.999999``, since Python's datetime has no second 60. Raises
    ``ValueError`` for anything else.
    """
    match = _DATE_TIME.fullmatch(text)
    if match is None:
        raise ValueError(f"not an RFC 3339 date-time: {text!r}")
    year, month, day, hour, minute, second = (int(g) for g in match.group(1, 2, 3, 4, 5, 6))
    fraction = match.group(7) or ""
    microsecond = int((fraction + "000000")[:6])
    if second == 60:
        second, microsecond = 59, 999999
    if match.group(8):
        tz = timezone.utc
    else:
        sign = -1 if match.group(9) == "-" else 1
        hours, minutes = int(match.group(10)), int(match.group(11))
        if hours > 23 or minutes > 59:
            raise ValueError(f"offset out of range in {text!r}")
        tz = timezone(sign * timedelta(hours=hours, minutes=minutes))
    return datetime(year, month, day, hour, minute, second, microsecond, tzinfo=tz)
