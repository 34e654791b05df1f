"""scripts/conformance without its toolchains: cases, expectation, comparison, exit 2.

The generators themselves (Java, Go, Node) run in the conformance suite, not
here. What runs here is what decides that suite's verdicts: the cases read
from the spec, the store the rules predict, the comparison that must catch a
float32 in transit, the control lane against the real emulator command, and
the exit-2 report when a tool is missing.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import json
import os
import struct
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from redo_kit import is_ignored, validate_event
from redo_kit._spec import request_examples

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "conformance"


def _load() -> ModuleType:
    loader = importlib.machinery.SourceFileLoader("conformance_script", str(SCRIPT))
    spec = importlib.util.spec_from_loader("conformance_script", loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    # dataclasses look their module up in sys.modules while the class is made.
    sys.modules["conformance_script"] = module
    loader.exec_module(module)
    return module


conformance = _load()


def _float32(value: Any) -> Any:
    """``value`` with every number passed through a 32-bit float, as a float32 field sends it."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, (int, float)):
        return struct.unpack("f", struct.pack("f", value))[0]
    if isinstance(value, list):
        return [_float32(item) for item in value]
    return {key: _float32(item) for key, item in value.items()}


def test_every_request_example_of_the_spec_is_a_case_with_its_own_body() -> None:
    cases = conformance.spec_cases(conformance.load_spec(conformance.SPEC))
    single = {c["name"].split("/", 1)[1]: c["body"] for c in cases if "bulk" not in c["operation"]}
    bulk = {c["name"].split("/", 1)[1]: c["body"] for c in cases if "bulk" in c["operation"]}
    assert single == request_examples()
    assert bulk == request_examples(bulk=True)
    assert {c["operation"] for c in cases} == {"createCustomEvent", "bulkCreateCustomEvents"}


def test_the_suite_cases_carry_the_numbers_a_float32_changes_and_a_null() -> None:
    (single, bulk) = conformance.suite_cases()
    data = single["body"]["data"]
    assert data["Count"] == 123456789
    assert data["Largest Exact Integer"] == 2**53 - 1
    assert single["body"]["value"] == 12345678.91
    assert data["Nothing"] is None
    assert len(bulk["body"]["events"]) == 2
    # Each of them is a number a float32 cannot hold.
    for number in (123456789, 2**53 - 1, 12345678.91):
        assert _float32(number) != number


def test_each_probe_breaks_one_rule_of_an_event_that_is_valid_without_it() -> None:
    document = conformance.load_spec(conformance.SPEC)
    probes = conformance.probe_cases(document)
    assert len(probes) == len(conformance.PROBES)
    base = conformance.spec_cases(document)[0]["body"]
    assert [p for p in validate_event(base) if p.severity == "error"] == []
    for probe in probes:
        errors = [p for p in validate_event(probe["body"]) if p.severity == "error"]
        assert len(errors) == 1, (probe["name"], errors)


def test_the_expectation_strips_ignored_values_at_the_top_only_and_keeps_false() -> None:
    data = {"a": 0, "b": False, "c": "", "d": None, "e": -0.0, "f": 1.5, "$extra": {"z": 0}}
    case = {
        "name": "x",
        "operation": "createCustomEvent",
        "body": {"eventName": "E", "customer": {"email": "a@example.com"}, "data": data},
    }
    (event,) = conformance.expected_events([case])
    assert event["data"] == {"b": False, "f": 1.5, "$extra": {"z": 0}}
    assert list(event["data"]) == ["b", "f", "$extra"]
    assert event["value"] is None
    assert event["eventTimestamp"] is None


scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.sampled_from([0, 0.0, -0.0, ""]),
    st.integers(-(2**53) + 1, 2**53 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=5),
)


@given(st.dictionaries(st.text(min_size=1, max_size=5).filter(lambda k: k != "$extra"), scalars))
def test_the_expected_data_is_what_is_sent_less_what_the_api_ignores(data: dict[str, Any]) -> None:
    case = {
        "name": "x",
        "operation": "bulkCreateCustomEvents",
        "body": {"events": [{"eventName": "E", "customer": {"id": "a" * 24}, "data": data}]},
    }
    (event,) = conformance.expected_events([case])
    assert event["data"] == {k: v for k, v in data.items() if not is_ignored(v)}


def test_a_repeated_unique_id_is_expected_once_the_first_wins() -> None:
    def case(name: str) -> dict[str, Any]:
        body = {"eventName": name, "customer": {"email": "a@example.com"}, "uniqueId": "u-1"}
        return {"name": name, "operation": "createCustomEvent", "body": body}

    expected = conformance.expected_events([case("first"), case("second")])
    assert [event["eventName"] for event in expected] == ["first"]


@pytest.mark.parametrize(
    ("sent", "stored"),
    [
        (123456789, 123456792.0),
        (2**53 - 1, 9007199254740992.0),
        (12345678.91, 12345679.0),
        (True, 1),
        (False, 0),
        (0, None),
        ("5000", 5000),
        ([1, 2], [1, 2, 3]),
        ({"a": 1}, {"a": 1, "b": 2}),
    ],
)
def test_a_changed_value_is_a_difference(sent: Any, stored: Any) -> None:
    assert conformance.differences(sent, stored) != []


@pytest.mark.parametrize(
    ("sent", "stored"),
    [
        (5000, 5000.0),
        (-0.0, 0),
        (2**53 - 1, float(2**53 - 1)),
        ({"a": [1, None]}, {"a": [1, None]}),
    ],
)
def test_the_same_number_written_another_way_is_no_difference(sent: Any, stored: Any) -> None:
    assert conformance.differences(sent, stored) == []


@given(st.integers(2**24 + 1, 2**53 - 1).map(lambda n: n | 1), st.booleans())
def test_every_odd_integer_past_24_bits_is_caught_through_a_float32(n: int, negative: bool) -> None:
    # A float32 has 24 bits of mantissa: an odd integer past 2^24 never survives it.
    number = -n if negative else n
    (problem,) = conformance.differences(
        {"data": {"Count": number}}, _float32({"data": {"Count": number}})
    )
    assert problem.startswith("$.data.Count: sent ")


def test_a_difference_names_its_wire_path() -> None:
    sent = {"data": {"Total Spent": 5000, "$extra": {"ids": [1, 2]}}}
    stored = {"data": {"Total Spent": 5001, "$extra": {"ids": [1, 3]}}}
    assert conformance.differences(sent, stored, "$.events[0]") == [
        '$.events[0].data["Total Spent"]: sent 5000, stored 5001',
        "$.events[0].data.$extra.ids[1]: sent 2, stored 3",
    ]


def _control(cases_path: Path) -> Any:
    lanes = {lane.name: lane for lane in conformance.LANES}
    project_bin = Path(sys.executable).parent
    probes_path = cases_path.with_name("probes.json")
    ctx = conformance.Context(
        ROOT / "spec", project_bin, project_bin, ROOT, cases_path, probes_path
    )
    return lanes["plain-http"], ctx, project_bin


def test_the_control_lane_stores_every_case_as_sent_in_the_emulator_command(
    tmp_path: Path,
) -> None:
    cases = conformance.spec_cases(conformance.load_spec(conformance.SPEC))
    cases += conformance.suite_cases()
    cases_path = tmp_path / "cases.json"
    cases_path.write_text(json.dumps(cases))
    lane, ctx, project_bin = _control(cases_path)
    emulator = conformance.Emulator(project_bin, {lane.name: "sk_test_control"})
    try:
        outcome = conformance.run_lane(lane, ctx, emulator, "sk_test_control", cases)
    finally:
        emulator.close()
    assert outcome.passed, outcome.problems
    stored = len(conformance.expected_events(cases))
    assert outcome.notes == [
        f"{len(cases)} cases sent, {stored} events and 2 customers stored as sent"
    ]


def test_numbers_sent_through_a_float32_fail_the_lane_at_each_changed_value(
    tmp_path: Path,
) -> None:
    cases = conformance.suite_cases()
    # What reaches the emulator went through float32 fields; the lane is judged
    # against the cases as written.
    cases_path = tmp_path / "cases.json"
    cases_path.write_text(json.dumps([{**c, "body": _float32(c["body"])} for c in cases]))
    lane, ctx, project_bin = _control(cases_path)
    emulator = conformance.Emulator(project_bin, {lane.name: "sk_test_float32"})
    try:
        outcome = conformance.run_lane(lane, ctx, emulator, "sk_test_float32", cases)
    finally:
        emulator.close()
    assert not outcome.passed
    assert outcome.failed_step is None
    text = "\n".join(outcome.problems)
    for path in (".value", ".data.Count", '.data["Largest Exact Integer"]', ".data.Price"):
        assert f"(Conformance Numbers){path}: sent" in text
    assert "customFields.Visits: sent 123456789, stored 123456792" in text
    assert "$extra.Nested.Counts[0]: sent 123456789" in text


def test_a_dropped_bulk_item_is_reported_with_its_reason() -> None:
    case = conformance.suite_cases()[1]
    rejected = [{"position": 1, "problems": [{"path": "$.eventName", "message": "empty"}]}]
    check = conformance.check_store([case], [], [], rejected)
    assert check.problems[0] == "bulk item 1 was dropped: $.eventName: empty"
    assert check.problems[1] == "2 events should be stored, 0 are"


@pytest.fixture
def bin_dir(tmp_path: Path) -> Path:
    """A folder for PATH: without apt-get in it, the script cannot install, even as root."""
    path = tmp_path / "bin"
    path.mkdir()
    return path


def _run_script(path_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        env={**os.environ, "PATH": str(path_dir)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_without_java_go_node_or_a_way_to_install_them_it_names_each_and_exits_2(
    bin_dir: Path,
) -> None:
    done = _run_script(bin_dir)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "a tool is missing" in done.stderr
    for tool, package in (
        ("java", "default-jre-headless"),
        ("go", "golang-go"),
        ("node", "nodejs"),
        ("npm", "npm"),
    ):
        assert f"{tool} is missing (" in done.stderr
        assert package in done.stderr
    why = "apt-get is not on PATH" if os.geteuid() == 0 else "with apt-get needs root"
    assert why in done.stderr


def _fake(bin_dir: Path, name: str, output: str) -> None:
    path = bin_dir / name
    path.write_text(f"#!/bin/sh\necho '{output}' >&2\n")
    path.chmod(0o755)


def test_a_node_too_old_for_hey_api_is_named_with_the_version_it_needs(bin_dir: Path) -> None:
    _fake(bin_dir, "java", 'openjdk version "17.0.15" 2025-04-15')
    _fake(bin_dir, "go", "go version go1.19.8 linux/amd64")
    _fake(bin_dir, "node", "v18.20.4")
    _fake(bin_dir, "npm", "9.2.0")
    done = _run_script(bin_dir, "--no-install")
    assert done.returncode == 2, done.stdout + done.stderr
    assert "node 18.20 is older than 20.19" in done.stderr
    assert "java" not in done.stderr.replace("--no-install", "")
    assert "nothing is installed with --no-install" in done.stderr


def test_an_unknown_lane_is_refused_before_anything_runs(bin_dir: Path) -> None:
    done = _run_script(bin_dir, "--only", "plain-http,swagger-codegen")
    assert done.returncode == 2
    assert "unknown lane(s) swagger-codegen" in done.stderr


def test_a_probe_is_refused_sent_or_changed_as_its_driver_line_says() -> None:
    lanes = {lane.name: lane for lane in conformance.LANES}
    probes = [{"name": f"probe/{name}"} for name in ("a", "b", "c", "d")]
    lines = [
        {"case": "probe/a", "error": "ValueError: 'usd' is not a valid CurrencyCode"},
        {"case": "probe/b", "status": 400},
        {"case": "probe/c", "status": 202},
    ]
    stdout = "\n".join(json.dumps(line) for line in lines)
    generated = conformance.Outcome(lanes["openapi-python-client"], last_stdout=stdout)
    conformance._judge_probes(generated, probes)
    assert (generated.refused, generated.left_to_api, generated.changed) == (["a"], ["b"], ["c"])
    assert generated.problems == [
        "probe 'd': no report, neither refused by the client nor answered 400"
    ]
    # Without a generator, a stored probe is the emulator's fault or the suite's.
    control = conformance.Outcome(lanes["plain-http"], last_stdout=stdout)
    conformance._judge_probes(control, probes[2:3])
    assert control.problems == ["probe 'c': 202, neither refused by the client nor answered 400"]
