"""The emulator agrees with a model of the documented rules; a copy with a seeded bug does not."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis.stateful import run_state_machine_as_test

from redo_kit.emulator import _emulator
from redo_kit.emulator._store import EventStore
from redo_kit.testing.stateful import EmulatorMachine, ReferenceModel

FAST = settings(
    max_examples=12,
    stateful_step_count=8,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


def test_the_emulator_follows_the_documented_rules() -> None:
    run_state_machine_as_test(EmulatorMachine, settings=FAST)


class _ForgetfulStore(EventStore):
    """The emulator's store with a seeded bug: uniqueIds are remembered within one request only."""

    def _insert_events(
        self,
        db: Any,
        store_id: str,
        events: Sequence[Mapping[str, Any]],
        received_at: str,
        violations: Any = None,
    ) -> tuple[int, int]:
        stored = deduplicated = 0
        seen: set[str] = set()
        for event in events:
            unique = event.get("uniqueId")
            if unique is not None and unique in seen:
                deduplicated += 1
                continue
            if unique is not None:
                seen.add(unique)
            # Each event alone, without its uniqueId, so the database's own index cannot catch it.
            done = super()._insert_events(
                db, store_id, [{k: v for k, v in event.items() if k != "uniqueId"}], received_at
            )
            stored += done[0]
        return stored, deduplicated


def test_the_machine_finds_a_seeded_dedup_bug(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_emulator, "EventStore", _ForgetfulStore)
    # Found, not shrunk: shrinking a stateful run is slow, and finding is the claim.
    with pytest.raises(AssertionError) as found:
        run_state_machine_as_test(EmulatorMachine, settings=settings(FAST, phases=[Phase.generate]))
    assert any(entry.name == "the_emulator_holds_what_the_rules_say" for entry in found.traceback)


def test_the_model_deduplicates_across_requests_and_resolves_by_priority() -> None:
    model = ReferenceModel()
    first = {"eventName": "a", "customer": {"email": "Ann@Example.com"}, "uniqueId": "u"}
    model.send([first])
    model.send([{**first, "customer": {"email": "ann@example.com", "firstName": "Ann"}}])
    model.send([{"eventName": "b", "customer": {"email": "ann@example.com ", "firstName": "Ann"}}])
    assert len(model.events) == 2
    assert [c.email for c in model.customers] == ["ann@example.com "]
    assert model.customers[0].first_name == "Ann"
    model.send([{"eventName": "c", "customer": {"phoneNumber": "+12065550100"}, "data": {"x": 0}}])
    assert len(model.customers) == 2
    assert model.events[-1]["data"] == {}
