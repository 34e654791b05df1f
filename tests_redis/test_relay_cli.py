"""`redo-kit relay` as an operator runs it, and `redo-kit import` paced by the fleet."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
import redis
from fleet import end, last_line, producer, relay, stats
from helpers import EmulatorProcess, page_view

from redo_kit import _cli as cli


def status_line(process: subprocess.Popen[str]) -> str:
    """Ask a relay for its status (SIGUSR1) and read the line it writes."""
    assert process.stderr is not None
    process.send_signal(signal.SIGUSR1)
    while True:
        line = process.stderr.readline()
        assert line, "the relay ended"
        if line.startswith("relay running"):
            return line


def counter(line: str, name: str) -> int:
    match = re.search(rf"\b{name}=(\d+)", line)
    assert match, line
    return int(match.group(1))


def test_sigterm_lets_the_requests_in_flight_finish_and_sigusr1_prints_the_status(
    redis_url: str,
) -> None:
    emulator = EmulatorProcess("--faults", "delay=1.0", "--fault-delay", "1.5")
    process = relay(emulator, redis_url, "--linger", "0", "--status-every", "0")
    try:
        assert process.stderr is not None
        assert "relay started for 1 store(s)" in process.stderr.readline()
        source = producer(emulator, redis_url, "t", 300, chunk=300)
        assert last_line(source) == 300
        end(source)
        line = status_line(process)
        while counter(line, "in_flight") == 0:
            line = status_line(process)
        seen = counter(line, "in_flight") + counter(line, "delivered")
        err = end(process, signal.SIGTERM)
        assert process.returncode == 0, err
        final = err.strip().splitlines()[-1]
        assert final.startswith("relay stopped")
        assert counter(final, "in_flight") == 0
        # What was in flight at the signal was delivered before the exit.
        assert counter(final, "delivered") >= seen
        assert stats(emulator)["stored"] == counter(final, "delivered")
    finally:
        end(process, signal.SIGKILL)
        emulator.stop()


def test_relay_refuses_a_store_without_its_key(
    redis_url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NO_SUCH_KEY", raising=False)
    assert cli.main(["relay", "--redis", redis_url, "--store", "S=env:NO_SUCH_KEY"]) == 2
    assert "NO_SUCH_KEY" in capsys.readouterr().err
    assert cli.main(["relay", "--redis", redis_url, "--store", "S"]) == 2
    err = capsys.readouterr().err
    assert "STORE_ID=KEY" in err
    down = "redis://user:pw-secret@127.0.0.1:1/0"
    assert cli.main(["relay", "--redis", down, "--store", "S=sk_k", "--local-pacing"]) == 1
    err = capsys.readouterr().err
    assert "redo-kit relay: Redis outbox of store S at redis://127.0.0.1:1/0" in err
    assert "pw-secret" not in err


def write_events(path: Path, prefix: str, count: int) -> None:
    with path.open("wb") as out:
        for n in range(count):
            event = page_view(n)
            event["uniqueId"] = f"{prefix}-{n}"
            out.write(orjson.dumps(event) + b"\n")


def run_imports(emulator: EmulatorProcess, files: list[Path], **env: str) -> None:
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "redo_kit._cli", "import", str(f), "--no-checkpoint"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=emulator.env(**env),
        )
        for f in files
    ]
    for p in processes:
        out, err = p.communicate(timeout=240)
        assert p.returncode == 0, out + err


def share_of_429(emulator: EmulatorProcess) -> float:
    requests = stats(emulator)["requests"]
    return float(requests.get("429", 0)) / sum(requests.values())


@pytest.mark.slow
def test_four_imports_paced_by_the_fleet_are_exact_with_under_1_percent_429(
    redis_url: str, tmp_path: Path
) -> None:
    per_file = 20_000
    files = [tmp_path / f"part{i}.jsonl" for i in range(4)]
    for i, path in enumerate(files):
        write_events(path, f"f{i}", per_file)
    shared = EmulatorProcess()
    try:
        run_imports(shared, files, REDO_KIT_REDIS_URL=redis_url)
        ids = [e["uniqueId"] for e in shared.events()]
        assert len(ids) == len(set(ids))
        assert sorted(ids) == sorted(f"f{i}-{n}" for i in range(4) for n in range(per_file))
        assert share_of_429(shared) < 0.01
        # Paced by the one bucket in Redis the variable named.
        keys = redis.Redis.from_url(redis_url).keys("redo-kit:{*}:pace:*")
        assert [k.decode().rsplit(":", 1)[1] for k in keys] == ["events/bulk"]
    finally:
        shared.stop()
