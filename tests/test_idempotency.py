"""uniqueIds: natural keys, content hashes and fresh ids."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

import orjson
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import redo_kit_models as models
from redo_kit import _idempotency
from redo_kit._idempotency import (
    CONTENT_PREFIX,
    content_unique_id,
    new_unique_id,
    unique_id,
)
from redo_kit._rules import limits
from redo_kit._spec import validator
from redo_kit.testing import strategies as rs

SAFE = re.compile(r"[A-Za-z0-9._~-]+")
ORDER = {"eventName": "Order Placed", "customer": {"email": "a@b.co"}, "data": {"Total": 5}}


def test_natural_key_reads_as_written() -> None:
    assert unique_id("order", 789) == "order-789"
    assert unique_id("sub-start", "cust", 123) == "sub-start-cust-123"
    assert unique_id(uuid.UUID(int=1)) == "00000000-0000-0000-0000-000000000001"


def test_unsafe_characters_are_replaced_and_disambiguated_by_a_hash() -> None:
    a, b = unique_id("order", "a b"), unique_id("order", "a/b")
    assert a.startswith("order-a_b-")
    assert b.startswith("order-a_b-")
    assert a != b
    assert SAFE.fullmatch(a)


def test_long_keys_are_hashed_not_truncated_into_collisions() -> None:
    first = unique_id("x" * 300 + "1")
    second = unique_id("x" * 300 + "2")
    assert len(first) == len(second) == limits().unique_id_length[1]
    assert first != second


@pytest.mark.parametrize(("parts", "error"), [((), ValueError), (("",), ValueError)])
def test_unique_id_needs_non_empty_parts(parts: tuple[Any, ...], error: type[Exception]) -> None:
    with pytest.raises(error):
        unique_id(*parts)


@pytest.mark.parametrize("part", [True, None, 1.5, b"x"])
def test_unique_id_refuses_parts_that_do_not_read_stably(part: Any) -> None:
    with pytest.raises(TypeError):
        unique_id("order", part)


_parts = st.lists(st.text(min_size=1, max_size=120) | st.integers(), min_size=1, max_size=4)


@given(_parts)
def test_unique_ids_are_safe_bounded_stable_and_valid(parts: list[str | int]) -> None:
    made = unique_id(*parts)
    assert SAFE.fullmatch(made)
    assert 1 <= len(made) <= limits().unique_id_length[1]
    assert unique_id(*parts) == made
    assert validator("Event").is_valid(
        {"eventName": "x", "customer": {"id": "0" * 24}, "uniqueId": made}
    )


@given(_parts, _parts)
def test_different_keys_give_different_ids(first: list[str | int], second: list[str | int]) -> None:
    assume([str(p) for p in first] != [str(p) for p in second])
    joined_first, joined_second = "-".join(map(str, first)), "-".join(map(str, second))
    # Joining is readable by design: ("a-b", "c") and ("a", "b-c") are one key.
    assume(joined_first != joined_second)
    assert unique_id(*first) != unique_id(*second)


def test_content_id_ignores_key_order_uniqueid_and_ignored_values() -> None:
    reordered = {"data": {"Total": 5, "Empty": ""}, "customer": {"email": "a@b.co"}}
    reordered["eventName"] = "Order Placed"
    reordered["uniqueId"] = "anything"
    assert content_unique_id(ORDER) == content_unique_id(reordered)


def test_content_id_shape() -> None:
    made = content_unique_id(ORDER)
    assert made.startswith(CONTENT_PREFIX)
    assert re.fullmatch(r"content-[0-9a-f]{32}", made)


def test_content_id_writes_datetimes_as_their_instant() -> None:
    moment = datetime(2025, 1, 15, 14, 30, tzinfo=timezone.utc)
    in_paris = moment.astimezone(timezone(timedelta(hours=1)))
    written = {**ORDER, "eventTimestamp": "2025-01-15T14:30:00Z"}
    assert content_unique_id({**ORDER, "eventTimestamp": moment}) == content_unique_id(written)
    assert content_unique_id({**ORDER, "eventTimestamp": in_paris}) == content_unique_id(written)


def test_content_id_of_a_model_equals_that_of_its_wire_dict() -> None:
    event = models.Event(
        event_name="Order Placed",
        customer=models.Customer(email="a@b.co"),
        data={"Total": 5},
    )
    assert content_unique_id(event) == content_unique_id(ORDER)


def test_content_id_does_not_mutate() -> None:
    event = {**ORDER, "uniqueId": "u", "data": {"z": 0}}
    content_unique_id(event)
    assert event == {**ORDER, "uniqueId": "u", "data": {"z": 0}}


def test_content_id_is_equal_across_processes() -> None:
    code = (
        "import orjson, sys; from redo_kit._idempotency import content_unique_id; "
        "print(content_unique_id(orjson.loads(sys.argv[1])))"
    )
    results = set()
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        done = subprocess.run(
            [sys.executable, "-c", code, orjson.dumps(ORDER).decode()],
            capture_output=True,
            text=True,
            check=True,
            env=env,
        )
        results.add(done.stdout.strip())
    assert results == {content_unique_id(ORDER)}


@given(rs.valid_events())
def test_content_id_is_stable_and_order_free(event: dict[str, Any]) -> None:
    made = content_unique_id(event)
    assert content_unique_id(dict(reversed(list(event.items())))) == made
    assert content_unique_id(orjson.loads(orjson.dumps(event))) == made


@given(rs.valid_events(), st.text(min_size=1, max_size=20))
def test_content_id_changes_with_content(event: dict[str, Any], name: str) -> None:
    assume(name != event["eventName"])
    assert content_unique_id({**event, "eventName": name}) != content_unique_id(event)
    marked = {**event, "data": {**event.get("data", {}), "Marker \u2713": True}}
    assert content_unique_id(marked) != content_unique_id(event)


def test_new_unique_ids_are_fresh_uuids() -> None:
    made = {new_unique_id() for _ in range(100)}
    assert len(made) == 100
    for value in made:
        assert uuid.UUID(value).version == 4


@pytest.fixture
def urandom_reads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The sizes of the os.urandom reads fresh ids make from now on, from empty blocks."""
    reads: list[int] = []
    real = os.urandom

    def counting(n: int) -> bytes:
        reads.append(n)
        return real(n)

    monkeypatch.setattr(_idempotency, "_FRESH", _idempotency._FreshIds())
    monkeypatch.setattr(os, "urandom", counting)
    return reads


def test_fresh_ids_read_the_system_randomness_a_block_at_a_time(urandom_reads: list[int]) -> None:
    # os.urandom lets the GIL go; one read per id made track() wait behind
    # busy sender threads. Ids from one block and from the next stay distinct.
    reads = urandom_reads
    made = [new_unique_id() for _ in range(_idempotency._BLOCK_IDS * 2 + 1)]
    assert len(reads) == 3
    assert len(set(made)) == len(made)
    assert all(uuid.UUID(value).version == 4 for value in made)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_never_repeats_its_parents_next_ids() -> None:
    new_unique_id()  # the parent holds a block with ids it has not handed out
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover (the child's coverage is not collected)
        os.close(read_end)
        os.write(write_end, "".join(new_unique_id() for _ in range(8)).encode())
        os._exit(0)
    os.close(write_end)
    child = b""
    while chunk := os.read(read_end, 4096):
        child += chunk
    os.close(read_end)
    os.waitpid(pid, 0)
    parent = "".join(new_unique_id() for _ in range(8))
    assert len(child) == len(parent)
    assert {child.decode()[i : i + 36] for i in range(0, 288, 36)}.isdisjoint(
        {parent[i : i + 36] for i in range(0, 288, 36)}
    )


def test_each_thread_reads_a_block_of_its_own(urandom_reads: list[int]) -> None:
    # Nothing shared, so nothing for threads that build events at once to queue on.
    import threading

    reads = urandom_reads
    made: list[str] = []
    threads = [threading.Thread(target=lambda: made.append(new_unique_id())) for _ in range(3)]
    for thread in threads:
        thread.start()
        thread.join()
    made.append(new_unique_id())
    assert len(reads) == 4
    assert len(set(made)) == 4
