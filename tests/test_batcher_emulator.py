"""The batcher against the emulator over loopback: faults, a full queue, a slow API, fork, exit."""

from __future__ import annotations

import multiprocessing
import os
import subprocess
import sys
import textwrap
import threading
import time
import warnings
from pathlib import Path

import orjson
import pytest
from helpers import FAULTS, emulator_client, page_view, track_from_threads

from redo_kit import _cli as cli
from redo_kit._batcher import Batcher, Overflow, QueueFullError
from redo_kit._retry import RetryPolicy
from redo_kit.emulator import Emulator
from redo_kit.testing.plugin import EmulatorFactory

# Faults strike about one attempt in four: 12 attempts make a lost request
# (0.25**12) practically impossible.
MANY_TRIES = RetryPolicy(attempts=12)

pytestmark = pytest.mark.usefixtures("no_waits")


def stored_ids(emu: Emulator) -> list[str]:
    return [item["uniqueId"] for item in emu.events()]


@pytest.mark.slow
def test_8_threads_tracking_20000_events_with_faults_store_each_exactly_once(
    emulator_factory: EmulatorFactory,
) -> None:
    emu = emulator_factory(faults=FAULTS, seed=6, rate_limit=None)
    with (
        emulator_client(emu, retry=MANY_TRIES) as client,
        Batcher(client, flush_interval=0.05) as batcher,
    ):
        streams = [(page_view(n) for n in range(s * 2_500, (s + 1) * 2_500)) for s in range(8)]
        tracked = track_from_threads(batcher, streams)
        assert batcher.flush(60).completed
        stats = batcher.stats()
    stored = stored_ids(emu)
    faults = emu.stats()
    assert len(stored) == 20_000
    assert len(set(stored)) == 20_000
    assert set(stored) == set(tracked)
    assert (stats.queued, stats.sent, stats.failed, stats.dropped) == (20_000, 20_000, 0, 0)
    # The faults struck and were absorbed: retried requests, replays deduplicated.
    assert stats.retried > 0
    assert faults["faults"]["lost-ack"] > 0
    assert faults["deduplicated"] > 0


def test_a_child_process_that_exits_without_close_delivers_all_500(
    emulator_factory: EmulatorFactory,
) -> None:
    emu = emulator_factory(rate_limit=None)
    script = textwrap.dedent(
        f"""
        from redo_kit._batcher import Batcher
        from redo_kit._client import RedoClient

        client = RedoClient(store_id={emu.store_id!r}, api_key={emu.api_key!r},
                            base_url={emu.base_url!r})
        batcher = Batcher(client, flush_interval=60)
        for n in range(500):
            print(batcher.track({{"eventName": "Script Ran",
                                  "customer": {{"email": f"user{{n}}@example.com"}}}}))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    tracked = done.stdout.split()
    stored = stored_ids(emu)
    assert len(tracked) == 500
    assert sorted(stored) == sorted(tracked)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_multiprocessing_child_that_returns_without_close_delivers_its_events(
    emulator_factory: EmulatorFactory,
) -> None:
    # A multiprocessing child leaves by os._exit: atexit handlers never run there.
    emu = emulator_factory(rate_limit=None)
    with emulator_client(emu) as client, Batcher(client, flush_interval=60) as batcher:

        def work() -> None:
            for n in range(200):
                batcher.track(page_view(n), unique_id=f"worker-{n}")

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            process = multiprocessing.get_context("fork").Process(target=work)
            process.start()
        process.join(30)
        assert process.exitcode == 0
        process.close()
        assert sorted(stored_ids(emu)) == sorted(f"worker-{n}" for n in range(200))
        assert batcher.stats().queued == 0


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_delivers_its_own_events_and_none_of_the_parents(
    emulator_factory: EmulatorFactory,
) -> None:
    emu = emulator_factory(rate_limit=None)
    with emulator_client(emu) as client, Batcher(client, flush_interval=60) as batcher:
        # A request before the fork leaves a kept-alive connection in the pool.
        warm = batcher.track(page_view(0))
        assert batcher.flush(10).completed
        queued = [batcher.track(page_view(n)) for n in range(1, 31)]
        read_end, write_end = os.pipe()
        with warnings.catch_warnings():
            # Python 3.12+ warns about fork() in a threaded process: the case under test.
            warnings.simplefilter("ignore", DeprecationWarning)
            pid = os.fork()
        if pid == 0:  # the child: report through the pipe, then leave at once
            code = 1
            try:
                os.close(read_end)
                mine = [batcher.track(page_view(n)) for n in range(100, 120)]
                result = batcher.close(10)
                report = {"ids": mine, "completed": result.completed}
                os.write(write_end, orjson.dumps(report))
                code = 0
            finally:
                os._exit(code)
        os.close(write_end)
        with os.fdopen(read_end, "rb") as pipe:
            report = orjson.loads(pipe.read())
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        assert report["completed"]
        # The child delivered its 20 events and none of the 30 its parent had queued.
        assert sorted(stored_ids(emu)) == sorted([warm, *report["ids"]])
        assert batcher.stats().pending == 30
        assert batcher.flush(10).completed
    assert sorted(stored_ids(emu)) == sorted([warm, *report["ids"], *queued])
    assert emu.stats()["deduplicated"] == 0


@pytest.mark.parametrize("overflow", ["block", "drop_newest", "drop_oldest", "raise"])
def test_each_overflow_policy_against_a_slow_api(
    emulator_factory: EmulatorFactory, overflow: Overflow
) -> None:
    # Every answer is held 0.1 s: one sender empties the 50-event queue far
    # slower than a loop fills it.
    emu = emulator_factory(rate_limit=None, faults="delay=1", fault_delay=0.1)
    drops: list[tuple[str, str]] = []
    accepted: list[str] = []
    refused = 0
    with (
        emulator_client(emu) as client,
        Batcher(
            client,
            overflow=overflow,
            max_events=50,
            senders=1,
            flush_interval=0,
            block_timeout=10,
            on_drop=lambda e, reason: drops.append((e.unique_id, reason)),
        ) as batcher,
    ):
        for n in range(200):
            try:
                accepted.append(batcher.track(page_view(n)))
            except QueueFullError:
                refused += 1
        assert batcher.flush(30).completed
        stats = batcher.stats()
    stored = stored_ids(emu)
    dropped = {unique for unique, _ in drops}
    assert len(stored) == len(set(stored))
    assert set(stored) == set(accepted) - dropped
    assert stats.sent == len(stored)
    assert stats.dropped == len(drops)
    if overflow == "block":
        assert (len(stored), refused, drops) == (200, 0, [])
    elif overflow == "raise":
        assert refused > 0
        assert drops == []
        assert len(stored) == 200 - refused
    else:
        reason = "evicted" if overflow == "drop_oldest" else "queue-full"
        assert drops
        assert {r for _, r in drops} == {reason}
        assert len(stored) + len(drops) == 200
    if overflow == "drop_oldest":
        # The newest events survive: the last one tracked is always delivered.
        assert accepted[-1] in stored


def test_flush_and_close_keep_their_deadlines_while_the_api_is_slow(
    emulator_factory: EmulatorFactory,
) -> None:
    emu = emulator_factory(rate_limit=None, faults="delay=1", fault_delay=1.5)
    with emulator_client(emu) as client:
        batcher = Batcher(client, flush_interval=60, senders=1)
        ids = [batcher.track(page_view(n)) for n in range(10)]
        started = time.monotonic()
        flushed = batcher.flush(0.3)
        assert 0.3 <= time.monotonic() - started < 1.0
        assert not flushed.completed
        assert flushed.in_flight == 10
        assert batcher.flush(10).completed
        assert sorted(stored_ids(emu)) == sorted(ids)
        late = batcher.track(page_view(99))
        started = time.monotonic()
        closed = batcher.close(0.3)
        assert 0.3 <= time.monotonic() - started < 1.0
        assert (closed.completed, closed.in_flight) == (False, 1)
        # The request in flight still lands once the slow answer comes.
        deadline = time.monotonic() + 10
        while batcher.stats().sent < 11 and time.monotonic() < deadline:
            threading.Event().wait(0.01)
        assert late in stored_ids(emu)
        assert batcher.stats().sent == 11


def test_the_dead_letter_file_replays_with_redo_kit_import(
    emulator_factory: EmulatorFactory, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    down = emulator_factory(rate_limit=None, faults="503=1")
    dead = tmp_path / "undelivered.jsonl"
    failed: list[str] = []
    with (
        emulator_client(down, retry=RetryPolicy(attempts=2)) as client,
        Batcher(
            client,
            delivery_timeout=0,
            dead_letter=dead,
            on_error=lambda events, exc: failed.extend(e.unique_id for e in events),
        ) as batcher,
    ):
        tracked = [batcher.track(page_view(n)) for n in range(150)]
        assert batcher.flush(10).completed
    assert sorted(failed) == sorted(tracked)
    assert down.events() == []

    up = emulator_factory(rate_limit=None)
    code = cli.main(
        [
            "import",
            str(dead),
            "--no-checkpoint",
            "--api-key",
            up.api_key,
            "--store-id",
            up.store_id,
            "--base-url",
            up.base_url,
        ]
    )
    capsys.readouterr()
    assert code == 0
    # Replayed with their own uniqueIds: a second replay would store nothing new.
    assert sorted(stored_ids(up)) == sorted(tracked)
