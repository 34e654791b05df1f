"""What the emulator refuses: the client's own validation, as the API applies it.

Events are checked with :func:`redo_kit._validation.validate_event` and bulk
bodies with :func:`redo_kit._validation.validate_bulk`, with unknown top-level
keys allowed (the API ignores them: ``x-redo-unknown-top-level-keys``); only
problems of severity ``error`` refuse an event. Warnings describe what the API
does silently and are not reported.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from redo_kit._errors import Problem
from redo_kit._validation import validate_bulk, validate_event

__all__ = ["bulk_errors", "event_errors"]


def event_errors(payload: Any, *, root: str = "$") -> list[Problem]:
    """Every error that makes the API refuse ``payload``; empty when it is stored."""
    return _errors(validate_event(payload, allow_unknown_keys=True, root=root))


def bulk_errors(body: Any) -> tuple[list[Problem], list[list[Problem]]]:
    """``(envelope errors, errors of each item)`` for a bulk body.

    Envelope errors refuse the whole request; an item with errors is dropped
    alone. The second list has one entry per item of ``events``.
    """
    envelope, per_event = validate_bulk(body, allow_unknown_keys=True)
    return _errors(envelope), [_errors(problems) for problems in per_event]


def _errors(problems: Sequence[Problem]) -> list[Problem]:
    return [problem for problem in problems if problem.severity == "error"]
