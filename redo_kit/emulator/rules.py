"""What the emulator refuses: the client's own validation, as the API applies it.

Events are checked with :func:`redo_kit.validation.validate_event` and bulk
bodies with :func:`redo_kit.validation.validate_bulk`, with unknown top-level
keys allowed (the API ignores them: ``x-redo-unknown-top-level-keys``); only
problems of severity ``error`` refuse an event. Warnings describe what the API
does silently and are not reported.

One rule is the emulator's own: an event nests at most ``MAX_DEPTH`` levels
of objects and arrays (the event itself is level 1). The spec sets no bound on
``$extra``; the bound keeps every stored event writable and readable again.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from redo_kit.errors import Problem
from redo_kit.validation import validate_bulk, validate_event

__all__ = ["MAX_DEPTH", "bulk_errors", "event_errors"]

MAX_DEPTH = 100
"""Most levels of nested objects and arrays in one event, the event itself included."""


def event_errors(payload: Any, *, root: str = "$") -> list[Problem]:
    """Every error that makes the API refuse ``payload``; empty when it is stored."""
    deep = _depth_problem(payload, root)
    if deep is not None:
        return [deep]
    return _errors(validate_event(payload, allow_unknown_keys=True, root=root))


def bulk_errors(body: Any) -> tuple[list[Problem], list[list[Problem]]]:
    """``(envelope errors, errors of each item)`` for a bulk body.

    Envelope errors refuse the whole request; an item with errors is dropped
    alone. The second list has one entry per item of ``events``.
    """
    events = body.get("events") if isinstance(body, dict) else None
    deep: dict[int, Problem] = {}
    if isinstance(events, list):
        for index, event in enumerate(events):
            problem = _depth_problem(event, f"$.events[{index}]")
            if problem is not None:
                deep[index] = problem
        if deep:
            # Too deep to check further: stand-ins keep the positions and count.
            body = {**body, "events": [None if i in deep else e for i, e in enumerate(events)]}
    envelope, per_event = validate_bulk(body, allow_unknown_keys=True)
    items = [
        [deep[index]] if index in deep else _errors(problems)
        for index, problems in enumerate(per_event)
    ]
    return _errors(envelope), items


def _errors(problems: Sequence[Problem]) -> list[Problem]:
    return [problem for problem in problems if problem.severity == "error"]


def _depth_problem(value: Any, root: str) -> Problem | None:
    if not isinstance(value, (dict, list)):
        return None
    # Iterative, so that no nesting the JSON parser admits can exhaust the stack.
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        current, depth = stack.pop()
        if depth > MAX_DEPTH:
            return Problem(
                path=root,
                rule="depth",
                message=f"the event nests objects and arrays more than {MAX_DEPTH} levels deep",
                hint="flatten data['$extra'], or keep deeply nested documents in your own storage",
            )
        children = current.values() if isinstance(current, dict) else current
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return None
