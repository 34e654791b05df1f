"""redo-kit convert --from klaviyo, and import / validate --from klaviyo, in process."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest
from helpers import ROOT, emulator_client

from redo_kit._cli import main
from redo_kit._importer import HashedInput, Position, import_events
from redo_kit.emulator import Emulator
from redo_kit.klaviyo import KlaviyoReader
from redo_kit.klaviyo import convert as klaviyo_convert

TRACK = {
    "token": "pk_live",
    "event": "Placed Order",
    "customer_properties": {"$email": "a@example.com", "$id": "c-1"},
    "properties": {"$event_id": "order-1", "Items": [1, 2], "Coupon": "", "Total": 10},
    "time": 1712059200,
}
INVALID = {"event": "Placed Order", "customer_properties": {"$email": "not-an-email"}}


def _bulk(events: int, *, email: str = "b@example.com") -> dict[str, Any]:
    return {
        "data": {
            "type": "event-bulk-create-job",
            "attributes": {
                "events-bulk-create": {
                    "data": [
                        {
                            "type": "event-bulk-create",
                            "attributes": {
                                "profile": {
                                    "data": {"type": "profile", "attributes": {"email": email}}
                                },
                                "events": {
                                    "data": [
                                        {
                                            "type": "event",
                                            "attributes": {
                                                "metric": {
                                                    "data": {
                                                        "type": "metric",
                                                        "attributes": {"name": "Viewed"},
                                                    }
                                                },
                                                "properties": {"n": n + 1},
                                                "unique_id": f"{email}-{n}",
                                            },
                                        }
                                        for n in range(events)
                                    ]
                                },
                            },
                        }
                    ]
                }
            },
        }
    }


def _write(path: Path, *lines: Any) -> Path:
    path.write_bytes(
        b"".join(
            (line if isinstance(line, bytes) else orjson.dumps(line)) + b"\n" for line in lines
        )
    )
    return path


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No API key, and the embedded emulator's files under ``tmp_path``."""
    monkeypatch.setenv("REDO_API_KEY", "")
    monkeypatch.setenv("REDO_STORE_ID", "")
    monkeypatch.setenv("REDO_KIT_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def test_convert_writes_redo_json_lines_and_reports_on_stderr(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = _write(tmp_path / "k.jsonl", TRACK, _bulk(2))
    assert main(["convert", "--from", "klaviyo", str(source)]) == 0
    out, err = capsys.readouterr()
    events = [orjson.loads(line) for line in out.splitlines()]
    assert [e["uniqueId"] for e in events] == ["order-1", "b@example.com-0", "b@example.com-1"]
    assert events[0]["data"] == {"Total": 10, "$extra": {"Items": [1, 2]}}
    assert "line 1: $.properties.Items: an array: moved to" in err
    assert "line 1: $.token: not sent" in err
    assert "3 Redo events written to stdout; 0 could not be converted." in err
    assert "Klaviyo fields of 3 events, by fate:" in err
    assert "klaviyo-ignored-value" in err


def test_convert_to_files_with_the_full_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = _write(tmp_path / "k.jsonl", TRACK, b"not json", {"neither": 1}, INVALID)
    out, report = tmp_path / "redo.jsonl", tmp_path / "fates.jsonl"
    code = main(
        [
            "convert", "--from", "klaviyo", str(source), "--out", str(out),
            "--fates", str(report), "--klaviyo-only", "extra", "--keep-ignored",
            "--external-id-field", "Shop Id",
        ]
    )  # fmt: skip
    assert code == 1
    _, err = capsys.readouterr()
    (event,) = [orjson.loads(line) for line in out.read_bytes().splitlines()]
    assert event["customer"]["customFields"] == {"Shop Id": "c-1"}
    assert event["data"]["$extra"] == {
        "Items": [1, 2],
        "Coupon": "",
        "$klaviyo": {"token": "pk_live"},
    }
    entries = [orjson.loads(line) for line in report.read_bytes().splitlines()]
    assert [(e["line"], e["valid"]) for e in entries] == [(1, True), (4, False)]
    assert entries[1]["problems"][0]["path"] == "$.customer_properties['$email']"
    assert "line 2: $: not valid JSON" in err
    assert "line 3: $: none of Klaviyo's" in err
    assert err.count("not-an-email") == 1
    assert "1 Redo events written to" in err
    assert "3 could not be converted" in err


def test_convert_a_missing_file_is_a_usage_error(tmp_path: Path) -> None:
    assert main(["convert", "--from", "klaviyo", str(tmp_path / "none.jsonl")]) == 2


def test_convert_to_an_unwritable_place_is_a_usage_error(tmp_path: Path) -> None:
    source = _write(tmp_path / "k.jsonl", TRACK)
    blocked = tmp_path / "file"
    blocked.write_text("")
    assert main(["convert", "--from", "klaviyo", str(source), "--out", str(blocked / "x")]) == 2


def test_validate_from_klaviyo_counts_fates_and_sends_nothing(
    tmp_path: Path, home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = _write(tmp_path / "k.jsonl", TRACK, _bulk(2), INVALID)
    assert main(["validate", "--from", "klaviyo", str(source)]) == 1
    out, _ = capsys.readouterr()
    assert "3 valid events, 1 rejected. Nothing was sent." in out
    assert "line 3: $.customer_properties['$email']" in out
    assert "Klaviyo fields of 4 events, by fate:" in out
    assert not home.exists()


def test_import_from_klaviyo_into_the_embedded_emulator(
    tmp_path: Path, home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = _write(tmp_path / "k.jsonl", TRACK, _bulk(3), {**TRACK, "properties": {"a": 1}})
    assert main(["import", "--from", "klaviyo", str(source)]) == 0
    out, _ = capsys.readouterr()
    assert "5 events delivered" in out
    assert "The embedded emulator now holds 5 events" in out
    assert "klaviyo-moved-to-extra" in out
    assert main(["import", "--from", "klaviyo", str(source)]) == 0
    out, _ = capsys.readouterr()
    assert "5 already there and deduplicated by uniqueId" in out


def test_import_from_klaviyo_refuses_csv_options(tmp_path: Path, home: Path) -> None:
    source = _write(tmp_path / "k.jsonl", TRACK)
    assert main(["import", "--from", "klaviyo", "--format", "csv", str(source)]) == 2


def test_a_watermark_inside_a_bulk_line_is_its_start_and_can_be_resumed(
    tmp_path: Path, emulator: Emulator
) -> None:
    # 150 events on line 2: the first bulk request closes inside it.
    source = _write(tmp_path / "k.jsonl", TRACK, _bulk(150), _bulk(1, email="c@example.com"))
    data = source.read_bytes()
    starts = [0, *(i + 1 for i, byte in enumerate(data) if byte == 0x0A)]
    marks: list[Position] = []
    with emulator_client(emulator) as client, source.open("rb") as fh:
        result = import_events(
            HashedInput(fh),
            client,
            reader=KlaviyoReader(),
            concurrency=1,
            on_watermark=lambda position, _: marks.append(position),
        )
    assert result.complete
    assert result.progress.delivered == 152
    assert all(mark.offset in starts and mark.sha256 for mark in marks)
    inside = [m for m in marks if m.offset == starts[1]]
    assert inside, marks
    with source.open("rb") as fh:
        resumed = HashedInput(fh)
        assert resumed.skip_to(inside[0])
        again = list(KlaviyoReader()(resumed, inside[0]))
    assert len(again) == 151
    assert again[-1][1] == Position(line=3, offset=len(data))


def test_reader_passes_unreadable_lines_through(tmp_path: Path) -> None:
    empty_job = orjson.dumps(_bulk(1)).replace(b'"data":[{', b'"data":[],"x":[{', 1)
    assert klaviyo_convert(orjson.loads(empty_job)).conversions == ()
    lines = b"\n[1]\n{}\n" + empty_job + b"\n"
    records = list(KlaviyoReader()(io.BytesIO(lines), Position()))
    assert [(r[0], r[2], [p.rule for p in r[3]]) for r in records] == [
        (1, None, []),
        (2, None, ["type"]),
        (3, None, ["klaviyo-shape"]),
        (4, None, []),
    ]
    assert records[-1][1] == Position(line=4, offset=len(lines))


def test_the_klaviyo_example_is_the_scripts_and_imports_as_the_readme_says(
    tmp_path: Path, home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    example = ROOT / "examples" / "klaviyo-track.jsonl"
    written = tmp_path / "k.jsonl"
    subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "make_klaviyo_examples.py"), "--out", str(written)],
        check=True,
        capture_output=True,
    )
    assert written.read_bytes() == example.read_bytes()
    code = main(
        ["import", "--from", "klaviyo", str(example), "--default-region", "US", "--no-checkpoint"]
    )
    assert code == 1
    out, _ = capsys.readouterr()
    assert "387 events delivered" in out
    assert "4 lines rejected" in out
    assert "386 stored, 1 already there and deduplicated by uniqueId" in out
    readme = (ROOT / "README.md").read_text()
    for line in out.splitlines():
        if line.startswith("  klaviyo-"):
            assert line in readme, line


def test_klaviyo_options_without_from_klaviyo_are_a_usage_error(
    tmp_path: Path, home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = _write(tmp_path / "k.jsonl", TRACK)
    assert main(["validate", "--keep-ignored", str(source)]) == 2
    assert "pass --from klaviyo" in capsys.readouterr().err


def test_validate_writes_every_fate_with_fates(
    tmp_path: Path, home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = _write(tmp_path / "k.jsonl", TRACK, _bulk(2))
    fates = tmp_path / "fates.jsonl"
    assert main(["validate", "--from", "klaviyo", str(source), "--fates", str(fates)]) == 0
    entries = [orjson.loads(line) for line in fates.read_bytes().splitlines()]
    assert [e["line"] for e in entries] == [1, 2, 2]
    paths = {f["path"]: f["rule"] for f in entries[0]["report"]}
    assert paths["$.properties.Coupon"] == "klaviyo-ignored-value"
    assert paths["$.customer_properties['$id']"] == "klaviyo-renamed"
    blocked = tmp_path / "file"
    blocked.write_text("")
    code = main(["validate", "--from", "klaviyo", str(source), "--fates", str(blocked / "x")])
    assert code == 2
    assert "cannot write the fates report" in capsys.readouterr().err
