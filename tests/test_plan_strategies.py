"""Strategies from a plan: valid events pass plan and spec, invalid ones break one rule."""

from __future__ import annotations

import importlib
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_plan import PLAN

from redo_kit._events import prepare_event
from redo_kit._plan import PLAN_RULES, TrackingPlan
from redo_kit._validation import validate_event
from redo_kit.testing.plans import (
    invalid_plan_events,
    plan_events,
    plans,
    register_plan_classes,
)

# The example plan's $extra schema takes an empty object: no extra strategy needed.
EXAMPLE = TrackingPlan.from_text(PLAN)
OPEN = TrackingPlan.from_text(PLAN.replace("closed: true", "closed: false"))


def _errors(event: dict[str, Any], plan: TrackingPlan) -> list[tuple[str, str]]:
    problems = validate_event(event, plan=plan)
    return [(p.path, p.rule) for p in problems if p.severity == "error"]


@given(event=plan_events(EXAMPLE))
def test_every_event_of_the_plan_passes_the_plan_and_the_spec(event: dict[str, Any]) -> None:
    assert _errors(event, EXAMPLE) == []
    prepare_event(event, plan=EXAMPLE)  # raises on any error


@given(case=invalid_plan_events(EXAMPLE))
def test_every_invalid_event_breaks_exactly_its_rule(case: tuple[dict[str, Any], str, str]) -> None:
    event, rule, path = case
    assert rule in PLAN_RULES
    assert _errors(event, EXAMPLE) == [(path, rule)]


@settings(suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow])
@given(data=st.data(), plan=plans())
def test_for_any_plan_its_events_pass_and_its_breaks_break_one_rule(
    data: st.DataObject, plan: TrackingPlan
) -> None:
    event = data.draw(plan_events(plan))
    assert _errors(event, plan) == []
    broken, rule, path = data.draw(invalid_plan_events(plan))
    assert _errors(broken, plan) == [(path, rule)]


def test_every_plan_rule_has_a_breaker_in_a_closed_plan() -> None:
    seen: set[str] = set()

    @settings(max_examples=300, database=None)
    @given(case=invalid_plan_events(EXAMPLE))
    def collect(case: tuple[dict[str, Any], str, str]) -> None:
        seen.add(case[1])

    collect()
    # plan-extra needs a schema an event can break: the example's closes $extra.
    assert seen >= set(PLAN_RULES) - {"plan-extra"}


@given(case=invalid_plan_events(OPEN))
def test_an_open_plan_yields_no_unknown_event_or_property(
    case: tuple[dict[str, Any], str, str],
) -> None:
    assert case[1] not in ("plan-event", "plan-property")


def test_an_event_the_plan_lacks_is_refused() -> None:
    with pytest.raises(ValueError, match="not an event of the plan"):
        plan_events(EXAMPLE, "Order Shipped")


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModuleType]:
    root = tmp_path_factory.mktemp("shop")
    (root / "plan.yaml").write_text(PLAN, encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "redo_kit", "generate", "--plan", "plan.yaml",
         "--out", "src", "--package", "shop_plan_events"],
        capture_output=True, text=True, check=False, cwd=root,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    sys.path.insert(0, str(root / "src"))
    try:
        module = importlib.import_module("shop_plan_events")
        register_plan_classes(module)
        yield module
    finally:
        sys.path.remove(str(root / "src"))
        for name in [m for m in sys.modules if m.split(".")[0] == "shop_plan_events"]:
            del sys.modules[name]


def test_from_type_gives_instances_that_follow_the_plan(shop: ModuleType) -> None:
    import redo_kit

    customer = redo_kit.Customer(email="stewart@example.com")

    @settings(max_examples=50, database=None)
    @given(order=st.from_type(shop.OrderPlaced), page=st.from_type(shop.PageViewed))
    def check(order: Any, page: Any) -> None:
        assert isinstance(order, shop.OrderPlaced)
        event = order.to_event(customer=customer, value=1.0, value_currency="USD")
        prepare_event(event, plan=shop.PLAN)
        prepare_event(page.to_event(customer=customer), plan=shop.PLAN)

    check()


def test_registration_needs_a_plan_package() -> None:
    with pytest.raises(TypeError, match="no PLAN"):
        register_plan_classes(sys.modules[__name__])


def test_plans_are_valid_plan_files(tmp_path: Path) -> None:
    @settings(max_examples=30, database=None)
    @given(plan=plans())
    def check(plan: TrackingPlan) -> None:
        assert TrackingPlan.from_dict(plan.to_dict()) == plan

    check()
