"""Integers beyond x-redo-integer-limit: refused the same way by the client and the emulator."""

from __future__ import annotations

import copy
import urllib.error
import urllib.request
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import orjson
import pytest

import redo_kit
from redo_kit import ValidationError
from redo_kit._rules import limits
from redo_kit._spec import document, using
from redo_kit.emulator import Emulator

LARGEST = 2**53 - 1
BASE: dict[str, Any] = {"eventName": "Order Placed", "customer": {"email": "a@example.com"}}


@pytest.fixture(scope="module")
def emulator() -> Iterator[Emulator]:
    with Emulator(rate_limit=None) as emu:
        yield emu


def _post(emu: Emulator, path: str, body: bytes) -> int:
    request = urllib.request.Request(  # noqa: S310  # the emulator, on loopback
        f"{emu.base_url}/stores/{emu.store_id}/{path}",
        data=body,
        method="POST",
        headers={"Authorization": f"Bearer {emu.api_key}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310  # loopback
            return int(answer.status)
    except urllib.error.HTTPError as error:
        return error.code


def test_the_spec_states_the_limit() -> None:
    assert limits().max_integer == LARGEST


@pytest.mark.parametrize(
    "where",
    [
        {"value": LARGEST + 1},
        {"value": -(LARGEST + 1)},
        {"data": {"Order Number": 2**60}},
        {"data": {"$extra": {"ids": [1, 2**70]}}},
        {"customer": {"email": "a@example.com", "customFields": {"Points": 2**64}}},
        {"value": Decimal(2**60)},
    ],
)
def test_the_client_refuses_an_integer_beyond_the_limit(where: dict[str, Any]) -> None:
    event = {**BASE, **where}
    with pytest.raises(ValidationError) as caught:
        redo_kit.prepare_event(event)
    [problem] = caught.value.problems
    assert problem.rule == "json-type"
    assert "9,007,199,254,740,991" in problem.message
    assert "as strings" in problem.hint


def test_the_largest_exact_integer_is_sent_as_it_is() -> None:
    event = {**BASE, "value": LARGEST, "data": {"n": -LARGEST, "$extra": {"m": LARGEST}}}
    body = orjson.loads(redo_kit.prepare_event(event).body)
    assert body["value"] == LARGEST
    assert body["data"] == {"n": -LARGEST, "$extra": {"m": LARGEST}}
    assert redo_kit.validate_event(event) == []


@pytest.mark.parametrize("number", [2**53, 2**60, 2**70, -(2**64), -(2**63) - 1, 2**64])
def test_the_emulator_refuses_what_the_client_refuses(emulator: Emulator, number: int) -> None:
    emulator.clear()
    single = f'{{"eventName":"x","customer":{{"email":"a@example.com"}},"value":{number}}}'
    assert _post(emulator, "events", single.encode()) == 400
    bulk = (
        '{"events":[{"eventName":"x","customer":{"email":"a@example.com"},'
        f'"data":{{"$extra":{{"n":{number}}}}},"uniqueId":"big"}},'
        '{"eventName":"y","customer":{"email":"a@example.com"},"uniqueId":"small"}]}'
    )
    assert _post(emulator, "events/bulk", bulk.encode()) == 202
    assert [e["uniqueId"] for e in emulator.events()] == ["small"]
    [rejected] = emulator.rejected()
    assert rejected["problems"][0]["rule"] == "json-type"


def test_a_long_run_of_digits_in_a_string_is_stored_as_sent(emulator: Emulator) -> None:
    emulator.clear()
    event = {**BASE, "data": {"Card": "1234567890123456"}}
    assert _post(emulator, "events", orjson.dumps(event)) == 202
    assert emulator.events()[0]["data"] == {"Card": "1234567890123456"}


def test_a_spec_without_the_double_limit_moves_both_sides() -> None:
    wider = copy.deepcopy(document())
    wider["components"]["schemas"]["Event"]["x-redo-integer-limit"]["maximum"] = 2**64 - 1
    event = {**BASE, "value": 2**60}
    with using(wider):
        assert orjson.loads(redo_kit.prepare_event(event).body)["value"] == 2**60
        with Emulator(rate_limit=None) as emu:
            body = orjson.dumps(event)
            assert _post(emu, "events", body) == 202
    with pytest.raises(ValidationError):
        redo_kit.prepare_event(event)


def test_the_importer_reads_integers_exactly_and_refuses_the_long_ones(tmp_path: Any) -> None:
    from redo_kit import import_events

    lines = [
        orjson.dumps({**BASE, "uniqueId": "small", "value": 7}),
        b'{"eventName":"x","customer":{"email":"a@example.com"},"uniqueId":"big","value":'
        + str(2**70).encode()
        + b"}",
    ]
    source = tmp_path / "events.jsonl"
    source.write_bytes(b"\n".join(lines) + b"\n")
    rejected: list[Any] = []
    with source.open("rb") as handle:
        result = import_events(handle, None, on_reject=rejected.append)
    assert result.progress.valid == 1
    [line] = rejected
    assert line.line == 2
    assert [p.rule for p in line.problems] == ["json-type"]


def test_a_csv_cell_with_more_digits_than_a_number_carries_stays_text() -> None:
    from redo_kit._csv_input import scalar

    assert scalar("12345678901234567890") == "12345678901234567890"
    assert scalar(str(LARGEST)) == LARGEST
    assert scalar("59.99") == 59.99
