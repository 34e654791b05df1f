"""The spec against the emulator, with schemathesis: no server error, no conformance failure.

Every check schemathesis has is on, in positive and negative modes, with a
bounded number of examples per operation so that the run stays short. The
store id and the Bearer key are filled in unless the case is negative there,
so that invalid bodies reach the rules instead of stopping at 401 or 404.

A body holding an integer beyond ``x-redo-integer-limit`` (a rule JSON Schema
does not state for ``type: number``) is refused with 400, or dropped in bulk,
while the schema alone would accept it: for those cases the test checks that
rule instead, with an oracle of its own.

One deliberate exception: a bulk body whose envelope is valid but whose items
break the Event schema is answered 202 (``x-redo-bulk-validation``: invalid
items are dropped one by one), while the schema of ``events.items`` alone would
have it refused. For those cases the test checks the spec's rule itself: 202,
and every item the spec's Event schema refuses is recorded as rejected.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import schemathesis
from helpers import STORE, inspect
from schemathesis.config import SchemathesisConfig
from schemathesis.core.parameters import ParameterLocation
from schemathesis.specs.openapi.checks import negative_data_rejection, positive_data_acceptance

from redo_kit._spec import bulk_envelope_validator, document, validator
from redo_kit.emulator import Emulator
from redo_kit.emulator._server import MAX_BODY_BYTES

KEY = "sk_schemathesis"

_CONFIG = SchemathesisConfig.from_dict(
    {"generation": {"max-examples": 40, "deterministic": True, "database": "none"}}
)
schema = schemathesis.openapi.from_dict(document(), config=_CONFIG)


@pytest.fixture(scope="module")
def running() -> Iterator[Emulator]:
    with Emulator({STORE: KEY}, rate_limit=None) as emulator:
        yield emulator


@pytest.fixture(scope="module")
def session() -> Iterator[requests.Session]:
    with requests.Session() as opened:
        yield opened


def _over_the_size_limit(case: Any) -> bool:
    return (
        case.media_type == "application/json"
        and isinstance(case.body, (dict, list))
        # Measured as the request sends it (the json module, which also holds
        # integers beyond 64 bits).
        and len(json.dumps(case.body).encode()) > MAX_BODY_BYTES
    )


def _integer_beyond_the_limit(case: Any) -> bool:
    """Whether the body holds an integer the spec's x-redo-integer-limit refuses."""
    largest = document()["components"]["schemas"]["Event"]["x-redo-integer-limit"]["maximum"]
    stack = [case.body] if case.media_type == "application/json" else []
    while stack:
        value = stack.pop()
        if isinstance(value, dict):
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
        elif type(value) is int and abs(value) > largest:
            return True
    return False


def _items_dropped_by_rule(case: Any) -> bool:
    """Whether the bulk rule, not the schema of ``events.items``, decides this case."""
    return (
        case.operation.path.endswith("/bulk")
        and case.meta is not None
        and case.meta.is_negative_at(ParameterLocation.BODY)
        and not case.meta.is_negative_at(ParameterLocation.PATH)
        and not case.meta.is_negative_at(ParameterLocation.HEADER)
        and case.media_type == "application/json"
        and isinstance(case.body, dict)
        and bulk_envelope_validator().is_valid(case.body)
    )


@schema.parametrize()
def test_the_emulator_conforms_to_the_spec(
    case: Any, running: Emulator, session: requests.Session
) -> None:
    meta = case.meta
    if meta is None or not meta.is_negative_at(ParameterLocation.PATH):
        case.path_parameters = {**(case.path_parameters or {}), "storeId": STORE}
    headers = {}
    if meta is None or not meta.is_negative_at(ParameterLocation.HEADER):
        headers["Authorization"] = f"Bearer {KEY}"
    if _over_the_size_limit(case):
        # Refused whole before it is read, with the documented 413, which
        # schemathesis does not count among the answers to invalid data.
        response = case.call_and_validate(
            base_url=running.base_url,
            session=session,
            headers=headers,
            excluded_checks=[negative_data_rejection],
        )
        if meta is None or not (
            meta.is_negative_at(ParameterLocation.PATH)
            or meta.is_negative_at(ParameterLocation.HEADER)
        ):
            assert response.status_code == 413, response.text
        else:
            # A bad store id or key may be refused first, as 401, 403 or 404.
            assert response.status_code in (401, 403, 404, 413), response.text
        return
    if _integer_beyond_the_limit(case):
        bulk = case.operation.path.endswith("/bulk")
        # In bulk the item is dropped (202) whether or not it also breaks the schema.
        excluded = (
            [positive_data_acceptance, negative_data_rejection]
            if bulk
            else [positive_data_acceptance]
        )
        response = case.call_and_validate(
            base_url=running.base_url, session=session, headers=headers, excluded_checks=excluded
        )
        # Refused (or, in bulk, the item dropped), unless the store or key is refused first.
        assert response.status_code in ((202, 400) if bulk else (400,)) + (401, 403, 404)
        return
    if not _items_dropped_by_rule(case):
        case.call_and_validate(base_url=running.base_url, session=session, headers=headers)
        return

    running.clear(STORE)
    response = case.call_and_validate(
        base_url=running.base_url,
        session=session,
        headers=headers,
        excluded_checks=[negative_data_rejection],
    )
    assert response.status_code == 202, response.text
    refused = [
        index
        for index, item in enumerate(case.body["events"])
        if not validator("Event").is_valid(item)
    ]
    recorded = [item["index"] for item in inspect(running.url, STORE, KEY, "rejected")]
    assert set(refused) <= set(recorded)
