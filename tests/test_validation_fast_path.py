"""Validation's fast path against its full path: the same problems and the same body.

``check_wire`` answers a valid event with one compiled check and one strict
serialization, and falls back to ``_check_fully`` (which walks the event
first) for anything else. The shortcut is only
sound if it never answers differently from the full walk.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from hypothesis import example, given
from hypothesis import strategies as st

from redo_kit._validation import _check_fully, check_wire
from redo_kit.testing import strategies as rs

ROOTS = st.sampled_from(["$", "$.events[7]"])


def _with_ignored_value() -> st.SearchStrategy[dict[str, Any]]:
    """Valid events with at least one top-level data value the API ignores."""
    ignored = st.sampled_from([None, "", 0, 0.0, -0.0])
    return st.builds(
        lambda event, key, value: {**event, "data": {**event.get("data", {}), key: value}},
        rs.valid_events(),
        rs.property_names(),
        ignored,
    )


EVENTS = st.one_of(
    rs.valid_events(),
    _with_ignored_value(),
    rs.invalid_events().map(lambda case: case[0]),
)


def _assert_paths_agree(event: Any, allow_unknown_keys: bool, root: str) -> None:
    fast, fast_body = check_wire(event, allow_unknown_keys=allow_unknown_keys, root=root)
    full, full_body = _check_fully(event, allow_unknown_keys, root)
    assert fast == full
    assert fast_body == full_body


@given(EVENTS, st.booleans(), ROOTS)
def test_fast_path_agrees_with_the_full_path(
    event: dict[str, Any], allow_unknown_keys: bool, root: str
) -> None:
    _assert_paths_agree(event, allow_unknown_keys, root)


def _subclassed(value: Any) -> Any:
    if isinstance(value, dict):
        return OrderedDict((k, _subclassed(v)) for k, v in value.items())
    if isinstance(value, list):
        return [_subclassed(item) for item in value]
    return value


@given(EVENTS.map(lambda e: {k: _subclassed(v) for k, v in e.items()}), st.booleans(), ROOTS)
# Once answered without the warning: the fast path now refuses anything but exact types.
@example(
    {"eventName": "x", "customer": {"email": "a@b.co"}, "data": OrderedDict(a=None)}, False, "$"
)
def test_fast_path_agrees_with_the_full_path_on_dict_subclasses(
    event: dict[str, Any], allow_unknown_keys: bool, root: str
) -> None:
    _assert_paths_agree(event, allow_unknown_keys, root)
