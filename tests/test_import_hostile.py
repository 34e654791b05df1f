"""``redo-kit import`` under hostile files and runs, as subprocesses against an emulator process.

A file changed under its checkpoint, two runs of one file at once, a run
killed with ``kill -9``, a line of 50 MB: each promise is checked on real
files and real processes.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from helpers import EmulatorProcess, page_view

from redo_kit._importer import Checkpoint, Position
from redo_kit._rules import limits

ROWS = 3000
KILL_AFTER = 1200
INSERT_AT = 800  # the inserted rows become lines 800 to 899
INSERTED = 100


def _redo_kit(*args: str) -> list[str]:
    return [sys.executable, "-m", "redo_kit._cli", *args]


def _run(
    command: list[str], env: dict[str, str], timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command, capture_output=True, text=True, env=env, check=False, timeout=timeout
    )


def _write(path: Path, events: list[dict[str, Any]]) -> None:
    path.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in events))


def _rows() -> list[dict[str, Any]]:
    return [page_view(n, unique_id=True) for n in range(ROWS)]


def _inserted() -> list[dict[str, Any]]:
    return [page_view(10_000 + k, unique_id=True) for k in range(INSERTED)]


def _checkpoint_line(checkpoint: Path) -> int:
    try:
        return int(json.loads(checkpoint.read_bytes())["line"])
    except (OSError, ValueError, KeyError):
        return 0


def _start_import(source: Path, emulator: EmulatorProcess, rate: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        _redo_kit("import", str(source), "--rate-limit", rate, "--concurrency", "2"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=emulator.env(),
    )


def _kill_after(process: subprocess.Popen[bytes], checkpoint: Path, line: int) -> int:
    """``kill -9`` the run once its checkpoint is past ``line``; the checkpoint's line."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and _checkpoint_line(checkpoint) < line:
        assert process.poll() is None, "the import ended before it could be killed"
        time.sleep(0.005)
    process.send_signal(signal.SIGKILL)
    process.wait()
    return _checkpoint_line(checkpoint)


@pytest.fixture
def emulator() -> Iterator[EmulatorProcess]:
    running = EmulatorProcess()
    try:
        yield running
    finally:
        running.stop()


def _unique_ids(emulator: EmulatorProcess) -> list[str]:
    return [str(e["uniqueId"]) for e in emulator.events()]


def test_rows_inserted_before_the_checkpoint_refuse_the_resume_until_restart(
    emulator: EmulatorProcess, tmp_path: Path
) -> None:
    source = tmp_path / "history.jsonl"
    checkpoint = tmp_path / "history.jsonl.redo-kit-checkpoint"
    rows = _rows()
    _write(source, rows)
    stopped_at = _kill_after(_start_import(source, emulator, "5"), checkpoint, KILL_AFTER)
    assert KILL_AFTER <= stopped_at < ROWS
    stored = len(emulator.events())
    saved = checkpoint.read_bytes()

    # The file is regenerated with rows inserted well before the checkpoint.
    _write(source, rows[: INSERT_AT - 1] + _inserted() + rows[INSERT_AT - 1 :])
    done = _run(_redo_kit("import", str(source)), emulator.env())
    assert done.returncode == 2, done.stdout + done.stderr
    assert "changed since its checkpoint" in done.stderr
    assert "--restart" in done.stderr
    assert "resuming" not in done.stdout
    assert len(emulator.events()) == stored  # nothing was sent
    assert checkpoint.read_bytes() == saved  # and the checkpoint was left as it was

    done = _run(_redo_kit("import", str(source), "--restart"), emulator.env())
    assert done.returncode == 0, done.stdout + done.stderr
    assert "resuming" not in done.stdout
    ids = _unique_ids(emulator)
    assert len(ids) == ROWS + INSERTED  # each row once: the re-sent ones were deduplicated
    assert set(ids) == {e["uniqueId"] for e in rows + _inserted()}
    assert not checkpoint.exists()


def test_rows_appended_after_the_checkpoint_resume_normally(
    emulator: EmulatorProcess, tmp_path: Path
) -> None:
    source = tmp_path / "history.jsonl"
    checkpoint = tmp_path / "history.jsonl.redo-kit-checkpoint"
    rows = _rows()
    _write(source, rows)
    stopped_at = _kill_after(_start_import(source, emulator, "5"), checkpoint, KILL_AFTER)
    assert KILL_AFTER <= stopped_at < ROWS

    with source.open("ab") as fh:
        fh.writelines(orjson.dumps(e) + b"\n" for e in _inserted())
    done = _run(_redo_kit("import", str(source)), emulator.env())
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"resuming {source} after line {stopped_at:,}" in done.stdout
    assert f"Read {ROWS + INSERTED:,} lines" in done.stdout
    ids = _unique_ids(emulator)
    assert len(ids) == ROWS + INSERTED
    assert set(ids) == {e["uniqueId"] for e in rows + _inserted()}
    assert not checkpoint.exists()


def test_a_second_run_of_one_input_exits_2_and_a_run_after_kill_9_resumes(
    emulator: EmulatorProcess, tmp_path: Path
) -> None:
    source = tmp_path / "history.jsonl"
    checkpoint = tmp_path / "history.jsonl.redo-kit-checkpoint"
    lock = tmp_path / "history.jsonl.redo-kit-checkpoint.lock"
    rows = _rows()
    _write(source, rows)
    first = _start_import(source, emulator, "2")
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and _checkpoint_line(checkpoint) == 0:
            time.sleep(0.01)
        assert lock.read_text().strip() == str(first.pid)

        second = _run(_redo_kit("import", str(source)), emulator.env(), timeout=60)
        assert second.returncode == 2, second.stdout + second.stderr
        assert f"another import of {source} is running (process {first.pid}" in second.stderr
        assert "Traceback" not in second.stderr

        # The first run goes on, untroubled.
        reached = _checkpoint_line(checkpoint)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and _checkpoint_line(checkpoint) == reached:
            time.sleep(0.01)
        assert first.poll() is None
        assert _checkpoint_line(checkpoint) > reached
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    stopped_at = _checkpoint_line(checkpoint)
    assert 0 < stopped_at < ROWS

    # The killed run's lock died with it, though its file is still there.
    assert lock.exists()
    done = _run(_redo_kit("import", str(source)), emulator.env())
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"after line {stopped_at:,}" in done.stdout
    ids = _unique_ids(emulator)
    assert len(ids) == ROWS
    assert set(ids) == {e["uniqueId"] for e in rows}


def test_a_gzip_input_changed_under_its_checkpoint_is_refused(
    emulator: EmulatorProcess, tmp_path: Path
) -> None:
    source = tmp_path / "history.jsonl.gz"
    rows = [orjson.dumps(e) + b"\n" for e in _rows()[:300]]
    head = b"".join(rows[:200])  # the offset counts decompressed bytes
    at = Position(line=200, offset=len(head), sha256=hashlib.sha256(head).hexdigest())
    Checkpoint.beside(source).save(at, rejected=0)
    rows[5] = orjson.dumps(page_view(99_999, unique_id=True)) + b"\n"
    source.write_bytes(gzip.compress(b"".join(rows)))
    done = _run(_redo_kit("import", str(source)), emulator.env())
    assert done.returncode == 2, done.stdout + done.stderr
    assert "changed since its checkpoint" in done.stderr
    assert emulator.events() == []


def test_a_checkpoint_without_a_hash_is_refused_until_restart(
    emulator: EmulatorProcess, tmp_path: Path
) -> None:
    source = tmp_path / "history.jsonl"
    rows = _rows()[:50]
    _write(source, rows)
    # As an older redo-kit wrote it: a position and no hash of what it skips.
    checkpoint = Checkpoint.beside(source)
    checkpoint.path.write_text(
        json.dumps({"input": str(source.resolve()), "line": 10, "offset": 99})
    )
    done = _run(_redo_kit("import", str(source)), emulator.env())
    assert done.returncode == 2, done.stdout + done.stderr
    assert "holds no hash" in done.stderr
    done = _run(_redo_kit("import", str(source), "--restart"), emulator.env())
    assert done.returncode == 0, done.stdout + done.stderr
    assert len(emulator.events()) == len(rows)


# Runs the command it is given and prints its output, exit code and peak RSS:
# the only child of a fresh process, so no other process's peak is counted.
MEASURE = """
import json, resource, subprocess, sys
done = subprocess.run(sys.argv[1:], capture_output=True, text=True)
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
print(json.dumps({"rc": done.returncode, "out": done.stdout, "err": done.stderr, "peak": peak}))
"""

HUGE = 50 * 1024 * 1024
PEAK = 150 * 1024 * 1024


def _measured(command: list[str], env: dict[str, str]) -> dict[str, Any]:
    done = _run([sys.executable, "-c", MEASURE, *command], env, timeout=300)
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def test_a_50_mb_line_is_rejected_in_bounded_memory_and_the_others_delivered(
    emulator: EmulatorProcess, tmp_path: Path
) -> None:
    assert 5 * limits().max_event_bytes < HUGE  # far past anything the reader may hold
    source = tmp_path / "history.jsonl"
    rows = [page_view(n, unique_id=True) for n in range(4)]
    with source.open("wb") as fh:
        fh.write(orjson.dumps(rows[0]) + b"\n")
        fh.write(b'{"eventName": "Huge", "data": {"Blob": "')
        for _ in range(HUGE // (1 << 20)):
            fh.write(b"x" * (1 << 20))
        fh.write(b'"}}\n')
        fh.writelines(orjson.dumps(e) + b"\n" for e in rows[1:])
    rejects = tmp_path / "rejects.jsonl"
    result = _measured(
        _redo_kit("import", str(source), "--rejects", str(rejects), "--no-checkpoint"),
        emulator.env(),
    )
    assert result["rc"] == 1, result
    assert "line 2: $: the line is" in result["out"]
    [report] = [json.loads(line) for line in rejects.read_text().splitlines()]
    assert report["line"] == 2
    assert [p["rule"] for p in report["problems"]] == ["line-too-long"]
    assert sorted(_unique_ids(emulator)) == sorted(e["uniqueId"] for e in rows)
    assert result["peak"] < PEAK, f"peak RSS {result['peak'] / 2**20:.0f} MiB"


def test_a_csv_with_a_50_mb_row_is_rejected_in_bounded_memory(tmp_path: Path) -> None:
    source = tmp_path / "orders.csv"
    with source.open("wb") as fh:
        fh.write(b"eventName,customer.email,Note\nA,a@example.com,one\nA,b@example.com,")
        for _ in range(HUGE // (1 << 20)):
            fh.write(b"y" * (1 << 20))
        fh.write(b"\nA,c@example.com,three\n")
    rejects = tmp_path / "rejects.jsonl"
    result = _measured(
        _redo_kit("validate", str(source), "--rejects", str(rejects)),
        {"PATH": "/usr/bin:/bin", "REDO_KIT_HOME": str(tmp_path / "home")},
    )
    assert result["rc"] == 1, result
    assert "2 valid events, 1 rejected" in result["out"]
    [report] = [json.loads(line) for line in rejects.read_text().splitlines()]
    assert report["line"] == 3
    assert [p["rule"] for p in report["problems"]] == ["line-too-long"]
    assert result["peak"] < PEAK, f"peak RSS {result['peak'] / 2**20:.0f} MiB"
