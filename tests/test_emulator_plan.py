"""The emulator with a tracking plan: Redo's verdicts, and each stored event's plan violations.

Over real loopback HTTP, as a service in another language sees it in its CI.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import orjson
import pytest
import urllib3
from helpers import STORE, EmulatorProcess, inspect

from redo_kit._errors import PlanError
from redo_kit._plan import TrackingPlan
from redo_kit.emulator import Emulator

ROOT = Path(__file__).resolve().parents[1]
KEY = "sk_plan_test"
PLAN_FILE = ROOT / "examples/plan.yaml"


@pytest.fixture(scope="module")
def plan() -> TrackingPlan:
    return TrackingPlan.load(PLAN_FILE)


def _order(n: int, **changes: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "eventName": "Order Placed",
        "customer": {"email": f"c{n}@example.com", "customFields": {"Loyalty Tier": "gold"}},
        "value": 20.5,
        "valueCurrency": "USD",
        "uniqueId": f"order-{n}",
        "data": {
            "Order Id": f"ord_{n}",
            "Order Total": 20.5,
            "Item Count": 1,
            "Gift": False,
            "$extra": {"Line Items": [{"sku": "SKU-1", "qty": 1}]},
        },
    }
    for key, value in changes.items():
        if key in event:
            event[key] = value
        else:
            event["data"][key] = value
    return event


class Http:
    """Requests to one emulator with its store's key."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.pool = urllib3.PoolManager(retries=False, timeout=30.0)

    def post(self, path: str, body: Any) -> urllib3.BaseHTTPResponse:
        return self.pool.request(
            "POST",
            f"{self.url}/v2.2/stores/{STORE}{path}",
            body=orjson.dumps(body),
            headers={"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"},
        )

    def get(self, view: str, query: str = "") -> Any:
        response = self.pool.request(
            "GET",
            f"{self.url}/_emulator/stores/{STORE}/{view}{query}",
            headers={"Authorization": f"Bearer {KEY}"},
        )
        assert response.status == 200, response.data
        return orjson.loads(response.data)


def _start(factory: Any, **options: Any) -> tuple[Emulator, Http]:
    emu: Emulator = factory(stores={STORE: KEY}, rate_limit=None, **options)
    return emu, Http(emu.url)


def test_each_stored_event_s_violations_are_listed_over_http(
    emulator_factory: Any, plan: TrackingPlan
) -> None:
    emu, http = _start(emulator_factory, plan=plan)
    good = _order(1)
    typo = {**_order(2), "eventName": "Order Plaecd"}
    off = _order(3, **{"Order Id": "ORD-3", "Item Count": 1.5})
    assert http.post("/events", good).status == 202
    assert http.post("/events", typo).status == 202
    assert http.post("/events/bulk", {"events": [off, _order(4)]}).status == 202
    items = http.get("violations")
    assert items["next"] is None
    stored = {e["uniqueId"]: e["id"] for e in emu.events()}
    assert [
        {key: item[key] for key in ("eventId", "uniqueId", "eventName", "problems")}
        for item in items["violations"]
    ] == [
        {
            "eventId": stored[event["uniqueId"]],
            "uniqueId": event["uniqueId"],
            "eventName": event["eventName"],
            "problems": [p.to_dict() for p in plan.problems(event)],
        }
        for event in (typo, off)
    ]
    assert [p["rule"] for p in items["violations"][1]["problems"]] == ["plan-pattern", "plan-type"]
    assert items["violations"][0]["problems"][0]["hint"].startswith("did you mean 'Order Placed'?")
    assert emu.violations() == items["violations"]


def test_the_summary_counts_violating_events_and_each_rule_once_per_event(
    emulator_factory: Any, plan: TrackingPlan
) -> None:
    emu, http = _start(emulator_factory, plan=plan)
    events = [
        _order(1),
        _order(2, **{"Order Id": "x", "Coupon": "spring"}),  # two plan-pattern problems
        _order(3, **{"Order Id": "y"}),
        {**_order(4), "eventName": "Order Shipped"},
    ]
    assert http.post("/events/bulk", {"events": events}).status == 202
    summary = http.get("summary")
    assert summary["events"] == 4
    assert summary["violations"] == 3
    assert summary["violationsByRule"] == {"plan-event": 1, "plan-pattern": 2}
    assert summary == emu.summary()


def test_violations_come_in_pages(emulator_factory: Any, plan: TrackingPlan) -> None:
    emu, http = _start(emulator_factory, plan=plan)
    events = [_order(n, **{"Order Total": -n}) for n in range(1, 26)]
    assert http.post("/events/bulk", {"events": events}).status == 202
    pages, query = [], "?limit=10"
    while True:
        page = http.get("violations", query)
        pages.append(page["violations"])
        if page["next"] is None:
            break
        query = f"?limit=10&after={page['next']}"
    assert [len(p) for p in pages] == [10, 10, 5]
    flat = [item for page in pages for item in page]
    assert [item["uniqueId"] for item in flat] == [f"order-{n}" for n in range(1, 26)]
    assert flat == emu.violations()
    assert {p["rule"] for item in flat for p in item["problems"]} == {"plan-range"}
    # A cursor of another list is refused, as every list view refuses it.
    events_page = http.get("events", "?limit=1")
    response = http.pool.request(
        "GET",
        f"{http.url}/_emulator/stores/{STORE}/violations?after={events_page['next']}",
        headers={"Authorization": f"Bearer {KEY}"},
    )
    assert response.status == 400


def _exchange(http: Http, lines: list[bytes]) -> list[tuple[int, Any]]:
    """Each line posted alone, then all as bulk bodies: each answer's status and body."""
    answers = []
    for line in lines:
        response = http.pool.request(
            "POST",
            f"{http.url}/v2.2/stores/{STORE}/events",
            body=line,
            headers={"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"},
        )
        body = orjson.loads(response.data) if response.data else None
        answers.append((response.status, body))
    parsed = []
    for line in lines:
        try:
            parsed.append(orjson.loads(line))
        except orjson.JSONDecodeError:
            continue
    for start in range(0, len(parsed), 100):
        response = http.post("/events/bulk", {"events": parsed[start : start + 100]})
        answers.append((response.status, orjson.loads(response.data)))
    return answers


def _stored(emu: Emulator) -> list[dict[str, Any]]:
    # What the store holds, without the ids and times it makes up.
    made_up = ("id", "customerId", "receivedAt", "eventTimestamp")
    return [{k: v for k, v in event.items() if k not in made_up} for event in emu.events()]


def test_verdicts_are_redo_s_with_a_plan_or_without(
    emulator_factory: Any, plan: TrackingPlan
) -> None:
    lines = [line for line in (ROOT / "examples/events.jsonl").read_bytes().splitlines() if line]
    lines += [orjson.dumps({**_order(900), "eventName": "Order Shipped"}), b'{"eventName": 1}']
    runs = []
    for options in ({}, {"plan": plan}):
        emu, http = _start(emulator_factory, bulk_report=True, **options)
        answers = _exchange(http, lines)
        runs.append((emu, answers, _stored(emu), emu.rejected(), emu.customers()))
    (plain, plain_answers, *plain_state), (checked, checked_answers, *checked_state) = runs
    assert checked_answers == plain_answers
    assert [a[0] for a in plain_answers].count(400) == 8
    # 1,201 stored one by one; 174 of them carry no uniqueId, and are stored again from bulk.
    assert len(checked_state[0]) == len(plain_state[0]) == 1_201 + 174
    for before, after in zip(plain_state, checked_state, strict=True):
        assert len(before) == len(after)
    assert checked_state[0] == plain_state[0]
    assert plain.violations() == []
    assert "violations" not in plain.summary()
    violations = checked.violations()
    # Line 402 (the plan's listed breaker) and the event of no planned name; the bulk
    # copies are duplicates of stored uniqueIds, and a duplicate stores nothing.
    assert [(v["eventName"], v["uniqueId"]) for v in violations] == [
        ("Order Placed", None),
        ("Order Shipped", "order-900"),
        ("Order Placed", None),
    ]
    assert checked.summary()["violations"] == 3


def test_a_duplicate_records_no_violation(emulator_factory: Any, plan: TrackingPlan) -> None:
    emu, http = _start(emulator_factory, plan=plan)
    off = _order(1, **{"Order Id": "bad"})
    for _ in range(3):
        assert http.post("/events", off).status == 202
    assert http.post("/events/bulk", {"events": [off, off]}).status == 202
    assert len(emu.events()) == 1
    assert len(emu.violations()) == 1


def test_emptying_the_store_forgets_its_violations(
    emulator_factory: Any, plan: TrackingPlan
) -> None:
    emu, http = _start(emulator_factory, plan=plan)
    assert http.post("/events", _order(1, **{"Order Id": "bad"})).status == 202
    assert len(emu.violations()) == 1
    emu.clear()
    assert emu.violations() == []
    assert emu.summary()["violations"] == 0


def test_violations_are_kept_in_a_file_database(tmp_path: Path, plan: TrackingPlan) -> None:
    db = tmp_path / "events.db"
    with Emulator({STORE: KEY}, db=db, plan=PLAN_FILE, rate_limit=None) as emu:
        assert emu.plan == plan
        assert Http(emu.url).post("/events", _order(1, **{"Order Id": "bad"})).status == 202
        first = emu.violations()
    with Emulator({STORE: KEY}, db=db, rate_limit=None) as emu:
        assert emu.violations() == first
        assert len(first) == 1


def test_a_plan_that_cannot_be_used_stops_the_emulator_before_it_starts(tmp_path: Path) -> None:
    bad = tmp_path / "plan.yaml"
    bad.write_text("version: '1.0.0'\nevents:\n  Order Placed:\n    properties:\n"
                   "      Total: {type: money}\n")  # fmt: skip
    with pytest.raises(PlanError, match=r"line 5: .*money"):
        Emulator(plan=bad)


def test_the_command_records_violations_and_says_so() -> None:
    process = EmulatorProcess("--plan", str(PLAN_FILE))
    try:
        assert process.process.stdout is not None
        lines = [process.process.stdout.readline() for _ in range(2)]
        assert lines[0].startswith("inspection API under ")
        assert re.fullmatch(
            r"recording violations of the tracking plan \S+plan\.yaml \(1\.0\.0\) under "
            r"http://\S+/_emulator/stores/\{id\}/violations\n",
            lines[1],
        ), lines
        url = process.base_url.rsplit("/v2.2", 1)[0]
        http = urllib3.PoolManager(retries=False, timeout=30.0)
        response = http.request(
            "POST",
            f"{process.base_url}/stores/{STORE}/events",
            body=orjson.dumps({**_order(1), "eventName": "Order Plcaed"}),
            headers={"Authorization": f"Bearer {process.key}", "Content-Type": "application/json"},
        )
        assert response.status == 202
        (violation,) = inspect(url, STORE, process.key, "violations")
        assert violation["eventName"] == "Order Plcaed"
        assert violation["problems"][0]["rule"] == "plan-event"
    finally:
        process.stop()


def test_the_command_refuses_a_bad_plan_with_exit_2(tmp_path: Path) -> None:
    import subprocess
    import sys

    bad = tmp_path / "plan.yaml"
    bad.write_text("version: 1\nevents: {}\n")
    done = subprocess.run(
        [sys.executable, "-m", "redo_kit._cli", "emulator", "--plan", str(bad)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.startswith(f"redo-kit: {bad} is not a usable tracking plan:")
