"""A Klaviyo ``track`` call site, unchanged but for its import, sending to Redo.

Code written for Klaviyo's Track API calls ``track(event=..., customer_properties=...,
properties=..., time=...)``. :class:`Tracker` takes the same arguments, converts
them with :func:`~redo_kit.klaviyo.from_track` and hands the Redo event to a
batcher, so the call stays as cheap as ``Batcher.track``: no network I/O on the
caller's thread.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from redo_kit._batcher import Batcher, FlushResult
from redo_kit._errors import Problem, ValidationError
from redo_kit.klaviyo._convert import Conversion, KlaviyoOptions, from_track

if TYPE_CHECKING:
    from redo_kit._client import RedoClient

__all__ = ["Tracker"]


class Tracker:
    """Klaviyo's ``track`` on top of a Redo batcher.

    ``target`` is a ``RedoClient`` (the tracker opens ``client.batcher(**batcher_options)``
    and closes it with :meth:`close`) or a ``Batcher`` the caller owns and closes.
    ``options`` are the conversion's (default ``KlaviyoOptions()``); ``on_report``
    sees each event's :class:`~redo_kit.klaviyo.Conversion`, with the fate of each
    field, before it is queued: a migration can log what Redo keeps less of.
    """

    def __init__(
        self,
        target: RedoClient | Batcher,
        *,
        options: KlaviyoOptions | None = None,
        on_report: Callable[[Conversion], None] | None = None,
        **batcher_options: Any,
    ) -> None:
        if isinstance(target, Batcher):
            self._batcher, self._owned = target, False
        else:
            self._batcher, self._owned = target.batcher(**batcher_options), True
        self.options = options or KlaviyoOptions()
        self.on_report = on_report

    @property
    def batcher(self) -> Batcher:
        """The batcher events are queued in."""
        return self._batcher

    def track(
        self,
        event: str,
        customer_properties: Mapping[str, Any] | None = None,
        properties: Mapping[str, Any] | None = None,
        time: int | float | str | datetime | None = None,
        *,
        email: str | None = None,
        phone_number: str | None = None,
        external_id: str | None = None,
        timestamp: int | float | str | datetime | None = None,
    ) -> str:
        """Convert a Klaviyo Track call and queue it; returns the event's ``uniqueId``.

        ``time`` is UNIX seconds, an ISO 8601 string or a datetime (default:
        when Redo receives it). ``properties["$event_id"]`` becomes the
        ``uniqueId``; without it the batcher makes one (or the options derive
        Klaviyo's key). ``email``, ``phone_number``, ``external_id`` and
        ``timestamp`` are the keyword spellings of Klaviyo's own SDKs for
        ``$email``, ``$phone_number``, ``$id`` and ``time``. Raises
        ``ValidationError`` with every problem, at its Klaviyo path, when the
        event cannot be sent (or one field is given twice, differently);
        nothing is queued then.
        """
        profile = dict(customer_properties or {})
        problems: list[Problem] = []
        for key, given in (
            ("$email", email),
            ("$phone_number", phone_number),
            ("$id", external_id),
        ):
            if given is None:
                continue
            if key in profile and profile[key] != given:
                problems.append(_twice(f"$.customer_properties[{key!r}]", key))
            profile[key] = given
        if time is not None and timestamp is not None and time != timestamp:
            problems.append(_twice("$.time", "time"))
        if problems:
            raise ValidationError(problems)
        payload: dict[str, Any] = {"event": event, "customer_properties": profile}
        if properties is not None:
            payload["properties"] = dict(properties)
        when = time if time is not None else timestamp
        if when is not None:
            payload["time"] = when
        (conversion,) = from_track(payload, options=self.options).conversions
        if self.on_report is not None:
            self.on_report(conversion)
        if not conversion.valid or conversion.event is None:
            raise ValidationError(conversion.problems)
        return self._batcher.track(conversion.event)

    def flush(self, timeout: float = 30.0) -> FlushResult:
        """Send what was tracked so far, waiting at most ``timeout`` seconds (``Batcher.flush``)."""
        return self._batcher.flush(timeout)

    def close(self, timeout: float = 30.0) -> FlushResult | None:
        """Close the batcher the tracker opened (``Batcher.close``); a caller's is left open.

        Returns the batcher's ``FlushResult``, or ``None`` when it is the caller's.
        """
        if not self._owned:
            return None
        return self._batcher.close(timeout)

    def __enter__(self) -> Tracker:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _twice(path: str, name: str) -> Problem:
    return Problem(
        path=path,
        rule="conflict",
        message=f"{name} is given twice, with two values",
        hint="give it once: as a keyword argument or in its dict",
    )
