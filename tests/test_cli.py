"""The redo-kit command end to end, as subprocesses against an emulator subprocess."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import ROOT, EmulatorProcess

EXAMPLES = ROOT / "examples" / "events.jsonl"
INVALID_EXAMPLE_LINES = [134, 268, 402, 536, 670, 804, 938, 1072]
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def _redo_kit(*args: str) -> list[str]:
    return [sys.executable, "-m", "redo_kit._cli", *args]


def _run(command: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``command`` to its end, with its output as text; the caller checks the exit code."""
    return subprocess.run(command, capture_output=True, text=True, env=env, check=False)


@pytest.fixture
def emulator() -> Iterator[EmulatorProcess]:
    running = EmulatorProcess()
    try:
        yield running
    finally:
        running.stop()


def test_version_and_help_on_every_command() -> None:
    done = subprocess.run(_redo_kit("--version"), capture_output=True, text=True, check=True)
    assert done.stdout.startswith("redo-kit ")
    for command in ("import", "send", "validate", "emulator", "generate"):
        done = subprocess.run(
            _redo_kit(command, "--help"), capture_output=True, text=True, check=True
        )
        assert "examples:" in done.stdout, command


def test_import_delivers_valid_lines_and_reports_the_invalid_ones(
    emulator: EmulatorProcess, tmp_path: Path
) -> None:
    rejects = tmp_path / "rejects.jsonl"
    done = _run(
        _redo_kit("import", str(EXAMPLES), "--rejects", str(rejects), "--no-checkpoint"),
        env=emulator.env(),
    )
    assert done.returncode == 1, done.stderr  # lines were rejected
    assert "1,200 events delivered" in done.stdout
    assert "8 lines rejected" in done.stdout
    assert not CONTROL.search(done.stdout + done.stderr)  # not a TTY: plain lines only

    report = [json.loads(line) for line in rejects.read_text().splitlines()]
    assert [r["line"] for r in report] == INVALID_EXAMPLE_LINES
    assert all(
        r["problems"] and all(p["path"].startswith("$") for p in r["problems"]) for r in report
    )
    assert {p["rule"] for r in report for p in r["problems"]} >= {"unknown-key", "json", "format"}

    events = emulator.events()
    assert len(events) == 1200
    assert len({e["uniqueId"] for e in events}) == 1200


def test_import_twice_stores_nothing_twice(emulator: EmulatorProcess) -> None:
    for _ in range(2):
        done = _run(
            _redo_kit("import", str(EXAMPLES), "--no-checkpoint", "--max-rejects", "8"),
            env=emulator.env(),
        )
        assert done.returncode == 0, done.stdout + done.stderr
    assert len(emulator.events()) == 1200


def _make_file(path: Path, count: int) -> None:
    subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "make_examples.py"), "--count", str(count),
         "--seed", "7", "--out", str(path)],
        check=True,
        capture_output=True,
    )  # fmt: skip


def test_kill_9_then_rerun_resumes_and_stores_each_event_once(tmp_path: Path) -> None:
    source = tmp_path / "history.jsonl"
    _make_file(source, 6000)
    valid = 6000
    # A slow store (10 requests/s) so that the import is surely mid-way when killed.
    slow = EmulatorProcess("--rate-limit", "10")
    try:
        env = {**slow.env()}
        process = subprocess.Popen(
            _redo_kit("import", str(source), "--rate-limit", "10", "--concurrency", "2"),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env,
        )
        checkpoint = tmp_path / "history.jsonl.redo-kit-checkpoint"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not checkpoint.exists():
            time.sleep(0.05)
        time.sleep(0.5)
        process.send_signal(signal.SIGKILL)
        process.wait()
        assert checkpoint.exists()
        stored_before = len(slow.events())
        assert 0 < stored_before < valid

        done = subprocess.run(
            _redo_kit("import", str(source), "--max-rejects", "8"),
            capture_output=True,
            text=True,
            env={**env, "REDO_BASE_URL": slow.base_url},
            check=False,
            timeout=120,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        assert "resuming" in done.stdout
        assert not checkpoint.exists()
        events = slow.events()
        assert len(events) == valid
        assert len({e["uniqueId"] for e in events}) == valid
    finally:
        slow.stop()


def test_validate_sends_nothing_and_exits_1_on_rejects(tmp_path: Path) -> None:
    rejects = tmp_path / "r.jsonl"
    done = _run(
        _redo_kit("validate", str(EXAMPLES), "--rejects", str(rejects)),
        env={**os.environ, "REDO_API_KEY": "", "REDO_KIT_HOME": str(tmp_path / "home")},
    )
    assert done.returncode == 1
    assert "1,200 valid events, 8 rejected. Nothing was sent." in done.stdout
    assert len(rejects.read_text().splitlines()) == 8
    assert not (tmp_path / "home").exists()


def test_send_from_flags(emulator: EmulatorProcess) -> None:
    done = _run(_redo_kit(
            "send", "--event-name", "Order Placed", "--email", " Stewart@Example.com ",
            "--data", "Order Total=59.99", "--data", "Gift=false", "--data", "Coupon=",
            "--data", "Placed At=2026-04-02T12:00:00Z", "--extra", "Items=3",
            "--value", "59.99", "--currency", "USD", "--unique-id", "order-789",
        ), env=emulator.env())  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "order-789" in done.stdout
    assert "Coupon" in done.stdout  # the ignored empty value is reported as a warning
    (event,) = emulator.events()
    assert event["uniqueId"] == "order-789"
    assert event["data"] == {
        "Order Total": 59.99,
        "Gift": False,
        "Placed At": "2026-04-02T12:00:00Z",
        "$extra": {"Items": 3},
    }
    assert event["propertyTypes"] == {
        "Order Total": "number",
        "Gift": "boolean",
        "Placed At": "date",
    }


def test_send_refuses_an_invalid_event_without_sending(emulator: EmulatorProcess) -> None:
    done = _run(
        _redo_kit("send", "--json", '{"eventName": "x", "customer": {}, "uniqueID": "a"}'),
        env=emulator.env(),
    )
    assert done.returncode == 1
    assert "uniqueId" in done.stderr  # the "did you mean" hint
    assert emulator.events() == []


def test_wrong_key_is_a_configuration_error(emulator: EmulatorProcess) -> None:
    done = _run(
        _redo_kit("send", "--event-name", "x", "--email", "a@example.com"),
        env={**emulator.env(), "REDO_API_KEY": "sk_wrong"},
    )
    assert done.returncode == 2
    assert "sk_wrong" not in done.stdout + done.stderr


def test_embedded_emulator_when_no_key_is_configured(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "REDO_KIT_HOME": str(tmp_path / "home"),
        "REDO_API_KEY": "",
        "REDO_STORE_ID": "",
        "REDO_BASE_URL": "",
    }
    outputs = []
    rejects = tmp_path / "home" / "reports" / "rejects.jsonl"  # a folder that does not exist yet
    for _ in range(2):
        done = _run(
            _redo_kit(
                "import",
                str(EXAMPLES),
                "--no-checkpoint",
                "--max-rejects",
                "8",
                "--rejects",
                str(rejects),
            ),
            env=env,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        outputs.append(done.stdout)
    first, second = outputs
    assert len(rejects.read_text().splitlines()) == 8
    assert "Nothing is sent to Redo" in first
    assert str(tmp_path / "home" / "emulator.sqlite3") in first
    assert "holds 1,200 events" in first
    assert "1,200 stored" in first
    assert re.search(r"Requested At\s+date", first)
    assert "holds 1,200 events" in second
    assert "0 stored, 1,200 already there" in second


ORDERS_CSV = (
    "Order Id,Email,Total,Currency,Placed At,Zip,Notes\n"
    "ord_1,ana@example.com,59.99,USD,2025-03-01T10:00:00Z,02134,first\n"
    "ord_2,bob@example.com,ten,USD,2025-03-02T10:00:00Z,10001,\n"
    'ord_3,cy@example.com,12.5,EUR,2025-03-03T10:00:00Z,94107,"two\nlines"\n'
    ",dee@example.com,7,USD,2025-03-04T10:00:00Z,,\n"
)
ORDERS_MAPPING = [
    "--event-name", "Order Placed", "--column", "Email=customer.email", "--column",
    "Total=value", "--column", "Currency=valueCurrency", "--column", "Placed At=eventTimestamp",
    "--column", "Order Id=uniqueId", "--column", "Notes=", "--column", "Zip=data.Zip:string",
]  # fmt: skip


def test_import_csv_through_a_column_mapping(emulator: EmulatorProcess, tmp_path: Path) -> None:
    source = tmp_path / "orders.tsv"
    source.write_text(ORDERS_CSV.replace(",", "\t"))
    rejects = tmp_path / "rejects.jsonl"
    for run in range(2):
        done = _run(
            _redo_kit("import", str(source), *ORDERS_MAPPING, "--rejects", str(rejects)),
            env=emulator.env(),
        )
        assert done.returncode == 1, done.stdout + done.stderr
        assert "1 lines rejected" in done.stdout, run
    [report] = [json.loads(line) for line in rejects.read_text().splitlines()]
    assert report["line"] == 3
    assert report["uniqueId"] == "ord_2"
    assert [(p["path"], p["rule"]) for p in report["problems"]] == [("$.value", "type")]

    events = emulator.events()
    assert len(events) == 3  # the second run stored nothing twice
    first, third, fourth = events
    assert first["uniqueId"] == "ord_1"
    assert first["value"] == 59.99
    assert first["eventTimestamp"] == "2025-03-01T10:00:00Z"
    assert first["data"] == {"Zip": "02134"}
    assert third["data"] == {"Zip": "94107"}
    assert fourth["uniqueId"]  # derived from the row's content


@pytest.mark.parametrize(
    ("name", "options", "message"),
    [
        ("orders.csv", [], "no column gives eventName"),
        ("orders.csv", [*ORDERS_MAPPING, "--column", "Totl=value"], "did you mean 'Total'?"),
        ("orders.jsonl", ["--column", "Email=customer.email"], "apply to CSV input"),
        ("orders.csv", [*ORDERS_MAPPING, "--delimiter", ";;"], "one character"),
    ],
)
def test_csv_mapping_mistakes_exit_2_before_anything_is_read(
    tmp_path: Path, name: str, options: list[str], message: str
) -> None:
    source = tmp_path / name
    source.write_text(ORDERS_CSV)
    done = _run(_redo_kit("validate", str(source), *options))
    assert done.returncode == 2, done.stdout + done.stderr
    assert message in done.stderr
    assert done.stdout == ""


def test_a_csv_import_resumes_after_its_checkpoint(
    emulator: EmulatorProcess, tmp_path: Path
) -> None:
    from redo_kit._importer import Checkpoint, Position

    source = tmp_path / "orders.csv"
    source.write_text(ORDERS_CSV)
    # As a run stopped after the first two data rows (lines 1 to 3) would have left it.
    head = "".join(ORDERS_CSV.splitlines(keepends=True)[:3]).encode()
    at = Position(line=3, offset=len(head), sha256=hashlib.sha256(head).hexdigest())
    Checkpoint.beside(source).save(at, rejected=1)
    done = _run(_redo_kit("import", str(source), *ORDERS_MAPPING), env=emulator.env())
    # The row rejected before the stop still counts.
    assert done.returncode == 1, done.stdout + done.stderr
    assert "1 lines rejected" in done.stdout
    assert "resuming" in done.stdout
    assert [e["eventTimestamp"][:10] for e in emulator.events()] == [
        "2025-03-03",
        "2025-03-04",
    ]
    assert not Checkpoint.beside(source).path.exists()


def test_the_readme_csv_example_imports_the_example_orders(tmp_path: Path) -> None:
    readme = (ROOT / "README.md").read_text()
    command = readme.split("redo-kit import examples/orders.csv", 1)[1].split("```", 1)[0]
    options = shlex.split(command.replace("\\\n", " "))
    done = _run(
        _redo_kit("import", str(ROOT / "examples" / "orders.csv"), *options, "--no-checkpoint"),
        env={**os.environ, "REDO_KIT_HOME": str(tmp_path), "REDO_API_KEY": "", "REDO_STORE_ID": ""},
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "198 events delivered" in done.stdout
    assert "line 68: $.value" in done.stdout
    assert "line 135: $.customer.email" in done.stdout
    assert re.search(r"Channel\s+string\s+in 198 events", done.stdout)


def test_a_gzip_input_is_read_decompressed_and_resumes(
    emulator: EmulatorProcess, tmp_path: Path
) -> None:
    from redo_kit._importer import Checkpoint, Position

    source = tmp_path / "events.jsonl.gz"
    source.write_bytes(gzip.compress(EXAMPLES.read_bytes()))
    lines = EXAMPLES.read_bytes().splitlines(keepends=True)
    # A run stopped after line 600 had read 4 of the invalid lines.
    head = b"".join(lines[:600])  # what the offset counts: decompressed bytes
    at = Position(line=600, offset=len(head), sha256=hashlib.sha256(head).hexdigest())
    Checkpoint.beside(source).save(at, 4)
    done = _run(
        _redo_kit("import", str(source), "--max-rejects", "8", "--progress-every", "0"),
        env=emulator.env(),
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "resuming" in done.stdout
    assert "8 lines rejected" in done.stdout
    # Every report is printed; the last, at the end, is measured in compressed bytes.
    assert "lines read (100%)" in done.stderr.splitlines()[-1]
    assert len(emulator.events()) == 1200 - 596


def test_a_gzip_csv_is_read_as_csv(tmp_path: Path) -> None:
    source = tmp_path / "orders.csv.gz"
    source.write_bytes(gzip.compress((ROOT / "examples" / "orders.csv").read_bytes()))
    done = _run(_redo_kit("validate", str(source), "--event-name", "Order Placed", "--column",
                  "Email=customer.email"))  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr
    assert "199 valid events, 1 rejected" in done.stdout
    # Postal codes with a leading zero stay text, the others become numbers.
    assert "Warning: column 'Zip' gave data.Zip more than one type" in done.stdout
