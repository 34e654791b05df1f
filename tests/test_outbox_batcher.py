"""The batcher on a SQLite outbox, in real processes: kill -9, shared files, `redo-kit outbox`."""

from __future__ import annotations

import contextlib
import os
import random
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from helpers import FAULTS, STORE, EmulatorProcess, page_view

from redo_kit import _cli as cli

# Tracks events on command: a line "N" from stdin tracks the next N (uniqueIds
# view-K...), then prints the total whose track() returned, and waits for the
# next line. "close" closes the batcher (delivering what is left) and exits.
PRODUCER = textwrap.dedent(
    """
    import sys
    from redo_kit._client import RedoClient

    outbox, start = sys.argv[1], int(sys.argv[2])
    client = RedoClient()
    batcher = client.batcher(outbox=outbox, flush_interval=0.05)
    total = start
    for line in sys.stdin:
        if line.strip() == "close":
            result = batcher.close(60)
            print("closed", result.completed, flush=True)
            break
        for _ in range(int(line)):
            batcher.track({
                "eventName": "Page Viewed",
                "customer": {"email": f"user{total % 300}@example.com"},
                "data": {"Page": f"/pages/{total}"},
                "uniqueId": f"view-{total}",
            })
            total += 1
        print(total, flush=True)
    """
)


@pytest.fixture
def emulator() -> Iterator[EmulatorProcess]:
    process = EmulatorProcess("--faults", FAULTS, "--seed", "7")
    try:
        yield process
    finally:
        process.stop()


def producer(emulator: EmulatorProcess, outbox: Path, start: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", PRODUCER, str(outbox), str(start)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=emulator.env(),
    )


def command(process: subprocess.Popen[str], line: str) -> str:
    assert process.stdin is not None
    assert process.stdout is not None
    process.stdin.write(line + "\n")
    process.stdin.flush()
    answer = process.stdout.readline().strip()
    assert answer, process.stderr.read() if process.stderr else ""
    return answer


def finish(process: subprocess.Popen[str]) -> None:
    for stream in (process.stdin, process.stdout, process.stderr):
        if stream is not None:
            stream.close()


@pytest.mark.slow
def test_kill_9_at_random_points_loses_nothing_and_stores_nothing_twice(
    emulator: EmulatorProcess, tmp_path: Path
) -> None:
    outbox = tmp_path / "outbox.sqlite3"
    draw = random.Random(12)
    tracked = 0
    for _ in range(5):
        process = producer(emulator, outbox, tracked)
        # Whatever the last process left is delivered by this one meanwhile.
        tracked = int(command(process, str(draw.randint(150, 600))))
        # Killed at once or while requests are in flight, with faults on.
        os.kill(process.pid, 0)
        signal_at = draw.uniform(0, 0.3)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=signal_at)
        process.send_signal(signal.SIGKILL)
        assert process.wait(10) == -signal.SIGKILL
        finish(process)
    last = producer(emulator, outbox, tracked)
    assert command(last, "close") == "closed True"
    assert last.wait(30) == 0
    finish(last)
    stored = [event["uniqueId"] for event in emulator.events()]
    assert len(stored) == len(set(stored))
    assert sorted(stored) == sorted(f"view-{n}" for n in range(tracked))


@pytest.mark.slow
def test_two_processes_sharing_one_outbox_deliver_exactly_every_event(
    emulator: EmulatorProcess, tmp_path: Path
) -> None:
    outbox = tmp_path / "outbox.sqlite3"
    first = producer(emulator, outbox, 0)
    second = producer(emulator, outbox, 100_000)
    for _ in range(4):
        command(first, "250")
        command(second, "250")
    # Each close waits until its own events are delivered, by whichever drains.
    assert command(first, "close") == "closed True"
    assert command(second, "close") == "closed True"
    for process in (first, second):
        assert process.wait(30) == 0
        finish(process)
    stored = sorted(event["uniqueId"] for event in emulator.events())
    expected = sorted(
        [f"view-{n}" for n in range(1000)] + [f"view-{n}" for n in range(100_000, 101_000)]
    )
    assert stored == expected


def _left_behind(outbox: Path, count: int) -> None:
    """An outbox file holding ``count`` events that nobody delivered (the API was down)."""
    from redo_kit._client import RedoClient

    client = RedoClient(store_id=STORE, api_key="sk_down", base_url="http://127.0.0.1:9/v2.2")
    with client, client.batcher(outbox=outbox, exit_timeout=0, handle_sigterm=False) as batcher:
        for n in range(count):
            batcher.track(page_view(n, unique_id=True))
        result = batcher.close(0.5)
    assert result.queued + result.in_flight == count


def test_outbox_status_and_drain_deliver_what_a_dead_process_left(
    emulator: EmulatorProcess,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    outbox = tmp_path / "left.sqlite3"
    _left_behind(outbox, 120)
    capsys.readouterr()
    assert cli.main(["outbox", "status", str(outbox), "--json"]) == 0
    status: dict[str, Any] = orjson.loads(capsys.readouterr().out)
    assert (status["events"], status["drainer"]) == (120, None)
    assert "leased" not in status  # only the drainer knows its requests
    for name, value in emulator.env().items():
        if name.startswith("REDO_"):
            monkeypatch.setenv(name, value)
    assert cli.main(["outbox", "drain", str(outbox), "--timeout", "60"]) == 0
    out = capsys.readouterr().out
    assert "120 event(s) to deliver" in out
    assert "delivered 120, failed 0, left in the outbox 0" in out
    assert sorted(e["uniqueId"] for e in emulator.events()) == sorted(
        f"view-{n}" for n in range(120)
    )
    assert cli.main(["outbox", "status", str(outbox)]) == 0
    assert "0 event(s)" in capsys.readouterr().out


def test_outbox_commands_explain_a_missing_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nothing.sqlite3"
    assert cli.main(["outbox", "status", str(missing)]) == 2
    assert "no such outbox file" in capsys.readouterr().err
    assert cli.main(["outbox"]) == 2


def test_a_batcher_delivers_what_an_earlier_process_left_in_its_outbox(
    emulator: EmulatorProcess, tmp_path: Path
) -> None:
    from redo_kit._client import RedoClient

    outbox = tmp_path / "left.sqlite3"
    _left_behind(outbox, 50)
    client = RedoClient(store_id=STORE, api_key=emulator.key, base_url=emulator.base_url)
    with client, client.batcher(outbox=outbox) as batcher:
        fresh = batcher.track(page_view(1000, unique_id=True))
        assert batcher.flush(30).completed
        # flush waits for what it tracked; what was left is due at once too.
        for _ in range(100):
            if batcher.stats().pending == 0:
                break
            batcher.flush(0.1)
    stored = sorted(e["uniqueId"] for e in emulator.events())
    assert stored == sorted([fresh, *(f"view-{n}" for n in range(50))])


def test_a_drain_that_finds_the_file_locked_looks_again(
    emulator: EmulatorProcess, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import sqlite3
    import time

    from redo_kit._client import RedoClient
    from redo_kit._outbox_sqlite import SqliteOutbox

    path = tmp_path / "locked.sqlite3"
    outbox = SqliteOutbox(path, busy_timeout=0.2)
    client = RedoClient(store_id=STORE, api_key=emulator.key, base_url=emulator.base_url)
    locker = sqlite3.connect(path, isolation_level=None)
    with client, client.batcher(outbox=outbox, flush_interval=0.3) as batcher:
        tracked = [batcher.track(page_view(n, unique_id=True)) for n in range(20)]
        # Another process holds the file for longer than the busy timeout.
        locker.execute("BEGIN EXCLUSIVE")
        time.sleep(1.5)
        locker.execute("COMMIT")
        assert batcher.flush(30).completed
    locker.close()
    assert sorted(e["uniqueId"] for e in emulator.events()) == sorted(tracked)
    assert any("failed look(s) into the outbox" in r.getMessage() for r in caplog.records)
