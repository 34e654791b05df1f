"""What only a durable outbox promises: a file that outlives its processes, shared by several.

Crashes are real ``kill -9`` of real processes; the drain lease is passed
between real processes (and between handles of one process); forks are real
``os.fork`` calls.
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import orjson
import pytest
from helpers import ROOT
from hypothesis import given
from hypothesis import strategies as st
from test_outbox import event, ids
from test_outbox_sqlite_leases import room

from redo_kit._delivery import Room
from redo_kit._errors import ConfigurationError, OutboxError
from redo_kit._events import PreparedEvent
from redo_kit._outbox import Lease
from redo_kit._outbox_sqlite import SCHEMA_VERSION, SqliteOutbox, _alive

PUTTER = """
import sys
import orjson
from redo_kit._events import PreparedEvent
from redo_kit._outbox_sqlite import SqliteOutbox

outbox = SqliteOutbox(sys.argv[1])
run = sys.argv[2]
print("open", flush=True)
n = 0
while True:
    payload = {"eventName": "Page Viewed", "uniqueId": f"{run}-{n}",
               "data": {"n": n, "pad": "x" * 500}}
    seq, _ = outbox.put(PreparedEvent(payload=payload, body=orjson.dumps(payload),
                                      unique_id=payload["uniqueId"]))
    print(seq, n, flush=True)
    n += 1
"""

HOLDER = """
import sys
from redo_kit._delivery import Room
from redo_kit._outbox_sqlite import SqliteOutbox

outbox = SqliteOutbox(sys.argv[1])
while True:
    lease = outbox.lease(Room(), linger=0, wait=0.1)
    if lease is not None:
        print(lease.attempts, *(e.unique_id for e in lease.events), flush=True)
"""


def spawn(script: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", script, *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )


def kill(process: subprocess.Popen[str]) -> str:
    """``kill -9`` the process, reap it, and return what it had printed and not yet been read."""
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=10)
    assert process.stdout is not None
    # read(), not communicate(): lines already buffered by readline() stay in the reader.
    with process.stdout:
        return process.stdout.read()


def drain_all(outbox: SqliteOutbox) -> list[tuple[str, bytes]]:
    got: list[tuple[str, bytes]] = []
    while (lease := outbox.lease(Room(), linger=0, wait=0)) is not None:
        got.extend((e.unique_id, e.body) for e in lease.events)
        outbox.ack(lease)
    return got


def test_events_outlive_the_handle_that_put_them(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite3"
    first = SqliteOutbox(path)
    seqs = [first.put(event(n))[0] for n in range(3)]
    assert first.close() == []
    second = SqliteOutbox(path)
    assert second.size().events == 3
    assert second.size().oldest == seqs[0]
    lease = second.lease(Room(), linger=0, wait=0)
    assert lease is not None
    assert lease.events == tuple(event(n) for n in range(3))
    assert [e.payload for e in lease.events] == [event(n).payload for n in range(3)]
    second.ack(lease)
    assert second.put(event(9))[0] > seqs[-1]
    second.close()


def test_kill_9_loses_no_event_put_returned_for(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite3"
    rng = random.Random(20261201)
    printed: dict[str, list[tuple[int, int]]] = {}
    for run in range(5):
        child = spawn(PUTTER, str(path), f"run{run}")
        assert child.stdout is not None
        assert child.stdout.readline() == "open\n"
        time.sleep(rng.uniform(0.05, 0.3))
        lines = kill(child).split("\n")
        # The last line may be cut short by the kill: only whole lines were printed.
        whole = [line for line in lines[:-1] if line]
        printed[f"run{run}"] = [(int(s), int(n)) for s, n in (line.split() for line in whole)]
        assert printed[f"run{run}"], "the child was killed before its first put"
    check = sqlite3.connect(path)
    assert check.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    by_seq = dict(check.execute("SELECT seq, unique_id FROM events"))
    check.close()
    for run, seen in printed.items():
        assert all(by_seq[seq] == f"{run}-{n}" for seq, n in seen)
    outbox = SqliteOutbox(path)
    stored = drain_all(outbox)
    outbox.close()
    by_run: dict[str, list[int]] = {}
    for unique_id, body in stored:
        run, n = unique_id.split("-")
        payload = orjson.loads(body)
        assert payload["uniqueId"] == unique_id
        assert payload["data"] == {"n": int(n), "pad": "x" * 500}
        by_run.setdefault(run, []).append(int(n))
    for run, seen in printed.items():
        kept = by_run[run]
        # Every event whose seq was printed is there, in order; at most one more,
        # committed just before the kill and not yet printed.
        assert kept == list(range(len(kept)))
        assert len(seen) <= len(kept) <= len(seen) + 1


def test_one_process_drains_and_a_killed_holders_events_pass_on(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite3"
    here = SqliteOutbox(path)
    for n in range(5):
        here.put(event(n))
    holder = spawn(HOLDER, str(path))
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().split() == ["0", *(f"ev-{n}" for n in range(5))]
        assert here.lease(Room(), linger=0, wait=0.3) is None
        here.put(event(5))
        # Put here, drained there: the holder sees other processes' puts by polling.
        assert holder.stdout.readline().split() == ["0", "ev-5"]
        # The holder's leases live in its memory: the file still has every row.
        assert (here.size().events, here.size().leased) == (6, 0)
        assert here.lease(Room(), linger=0, wait=0.2) is None
    finally:
        kill(holder)
    started = time.monotonic()
    lease = here.lease(Room(), linger=0, wait=2)
    assert time.monotonic() - started < 1.0
    assert lease is not None
    # The new holder starts from the oldest row; no attempt was recorded.
    assert ids(lease.events) == [f"ev-{n}" for n in range(6)]
    assert lease.attempts == 0
    here.ack(lease)
    assert here.size().events == 0
    here.close()


def test_close_hands_the_drain_over_at_once(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite3"
    first = SqliteOutbox(path)
    second = SqliteOutbox(path)
    for n in range(3):
        second.put(event(n))
    held = first.lease(Room(), linger=0, wait=0)
    assert held is not None
    assert second.lease(Room(), linger=0, wait=0.2) is None
    assert first.close() == []
    started = time.monotonic()
    lease = second.lease(Room(), linger=0, wait=1)
    assert time.monotonic() - started < 0.5
    assert lease is not None
    assert ids(lease.events) == ["ev-0", "ev-1", "ev-2"]
    assert lease.attempts == 1
    first.ack(held)
    first.release(held, retry_at=0)
    assert second.size().leased == 3
    second.close()


def test_an_expired_drain_lease_passes_on_and_a_stale_ack_removes_nothing(
    tmp_path: Path,
) -> None:
    path = tmp_path / "outbox.sqlite3"
    slow = SqliteOutbox(path, drain_ttl=0.3)
    other = SqliteOutbox(path)
    slow.put(event(0))
    stale = slow.lease(Room(), linger=0, wait=0)
    assert stale is not None
    assert other.lease(Room(), linger=0, wait=0) is None
    time.sleep(0.35)
    lease = other.lease(Room(), linger=0, wait=0)
    assert lease is not None
    assert ids(lease.events) == ["ev-0"]
    assert lease.token != stale.token
    slow.ack(stale)
    assert other.size().leased == 1
    assert slow.lease(Room(), linger=0, wait=0) is None
    other.ack(lease)
    assert other.size().events == 0
    slow.close()
    other.close()


def test_settling_a_lease_keeps_the_drain_lease(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite3"
    holder = SqliteOutbox(path, drain_ttl=0.4)
    other = SqliteOutbox(path)
    holder.put(event(0))
    lease = holder.lease(Room(), linger=0, wait=0)
    assert lease is not None
    time.sleep(0.25)
    holder.release(lease, retry_at=time.time() + 60)
    other.put(event(1))
    time.sleep(0.25)
    # 0.5 s after the lease, 0.25 s after the release: still the holder's.
    assert other.lease(Room(), linger=0, wait=0) is None
    assert ids(holder.lease(Room(), linger=0, wait=0).events) == ["ev-1"]
    holder.close()
    other.close()


def test_a_blocked_put_sees_room_made_by_another_handle(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite3"
    putter = SqliteOutbox(path, max_events=1, block_timeout=1.5)
    drainer = SqliteOutbox(path)
    putter.put(event(0))

    def deliver() -> None:
        lease = drainer.lease(Room(), linger=0, wait=0)
        assert lease is not None
        drainer.ack(lease)

    # Another handle's leases are in its memory only: the room it makes is its ack.
    timer = threading.Timer(0.1, deliver)
    timer.start()
    started = time.monotonic()
    seq, dropped = putter.put(event(1))
    timer.join()
    assert seq > 0
    assert dropped == []
    assert time.monotonic() - started < 1.0
    putter.close()
    drainer.close()


def test_drop_oldest_evicts_many_events_for_one_large_one(tmp_path: Path) -> None:
    size = len(event(0).body)
    outbox = SqliteOutbox(tmp_path / "o.sqlite3", max_bytes=200 * size, overflow="drop_oldest")
    for n in range(150):
        outbox.put(event(n % 10))
    seq, dropped = outbox.put(event(0, pad=300 * size))
    assert seq > 0
    assert len(dropped) == 150
    assert {why for _, why in dropped} == {"evicted"}
    assert outbox.size().events == 1
    outbox.close()


def test_a_file_that_is_not_an_outbox_is_refused_clearly(tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("these are my notes\n" * 100)
    with pytest.raises(OutboxError, match="not a redo-kit outbox") as caught:
        SqliteOutbox(text)
    assert str(text) in str(caught.value)
    assert "path of its own" in str(caught.value)
    assert caught.value.path == str(text)
    assert text.read_text() == "these are my notes\n" * 100

    other = tmp_path / "app.sqlite3"
    db = sqlite3.connect(other)
    db.execute("CREATE TABLE users (id INTEGER)")
    db.commit()
    db.close()
    with pytest.raises(OutboxError, match="holds the tables users"):
        SqliteOutbox(other)


def test_a_newer_layout_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite3"
    SqliteOutbox(path).close()
    db = sqlite3.connect(path)
    db.execute("UPDATE meta SET value = ? WHERE key = 'version'", (SCHEMA_VERSION + 1,))
    db.commit()
    db.close()
    with pytest.raises(OutboxError, match="newer than this redo-kit reads"):
        SqliteOutbox(path)


def test_a_missing_directory_is_an_outbox_error(tmp_path: Path) -> None:
    with pytest.raises(OutboxError, match="open failed") as caught:
        SqliteOutbox(tmp_path / "no" / "such" / "outbox.sqlite3")
    assert isinstance(caught.value.__cause__, sqlite3.Error)


def test_a_file_locked_too_long_is_an_outbox_error(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite3"
    outbox = SqliteOutbox(path, busy_timeout=0.1)
    outbox.put(event(0))
    lease = outbox.lease(Room(), linger=0, wait=0)
    assert lease is not None
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    with pytest.raises(OutboxError, match="longer than busy_timeout") as caught:
        outbox.put(event(1))
    assert isinstance(caught.value.__cause__, sqlite3.OperationalError)
    # The ack waits in memory, and the next lease tries it first.
    outbox.ack(lease)
    assert (outbox.size().events, outbox.size().leased) == (1, 1)
    with pytest.raises(OutboxError, match=r"ack failed.*longer than busy_timeout"):
        outbox.lease(Room(), linger=0, wait=0)
    # A lease this handle does not know is nothing to settle: no statement runs.
    outbox.ack(Lease(events=(), enqueued_at=0.0, attempts=0, token=1))
    with pytest.raises(OutboxError, match=r"open failed.*longer than busy_timeout"):
        SqliteOutbox(path, busy_timeout=0.1)
    other.execute("ROLLBACK")
    other.close()
    assert outbox.lease(Room(), linger=0, wait=0) is None
    assert (outbox.size().events, outbox.size().leased) == (0, 0)
    assert outbox.put(event(0))[0] > 0
    outbox.close()


def test_every_read_and_write_failure_is_an_outbox_error(tmp_path: Path) -> None:
    outbox = SqliteOutbox(tmp_path / "outbox.sqlite3", busy_timeout=0.1)
    outbox.put(event(0))
    outbox.put(event(1))
    lease = outbox.lease(Room(), linger=0, wait=0)
    assert lease is not None
    outbox.release(lease, retry_at=0)
    again = outbox.lease(Room(), linger=0, wait=0)
    assert again is not None
    outbox._conn.execute("DROP TABLE events")
    for call in (
        lambda: outbox.put(event(2)),
        lambda: outbox.size(),
        lambda: outbox.lease(Room(), linger=0, wait=0),
        lambda: outbox.release(again, retry_at=0),
        lambda: outbox.ack(again),
    ):
        with pytest.raises(OutboxError, match="failed"):
            call()
    outbox._conn.execute("DROP TABLE drain")
    with pytest.raises(OutboxError, match="lease failed"):
        SqliteOutbox.lease(outbox, Room(), linger=0, wait=0)
    outbox._holding = False
    with pytest.raises(OutboxError, match="lease failed"):
        outbox.lease(Room(), linger=0, wait=0)
    with pytest.raises(OutboxError, match="close failed"):
        outbox.close()


def test_a_body_that_is_not_json_is_an_outbox_error(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite3"
    outbox = SqliteOutbox(path)
    outbox.put(event(0))
    db = sqlite3.connect(path)
    db.execute("UPDATE events SET body = ?", (b"\x00not json",))
    db.commit()
    db.close()
    with pytest.raises(OutboxError, match="is not JSON"):
        outbox.lease(Room(), linger=0, wait=0)
    outbox.close()


def test_after_close_settling_does_nothing_and_size_is_the_last_count(tmp_path: Path) -> None:
    outbox = SqliteOutbox(tmp_path / "outbox.sqlite3")
    outbox.put(event(0))
    outbox.put(event(1))
    lease = outbox.lease(Room(), linger=0, wait=0)
    assert lease is not None
    outbox.close()
    outbox.ack(lease)
    outbox.release(lease, retry_at=0)
    size = outbox.size()
    assert (size.events, size.leased) == (2, 0)
    reopened = SqliteOutbox(outbox.path)
    again = reopened.lease(Room(), linger=0, wait=0)
    assert again is not None
    assert again.attempts == 1
    reopened.close()


def test_synchronous_full_and_bad_settings(tmp_path: Path) -> None:
    outbox = SqliteOutbox(tmp_path / "outbox.sqlite3", synchronous="full")
    assert outbox._conn.execute("PRAGMA synchronous").fetchone() == (2,)
    assert outbox._conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    assert outbox.put(event(0))[0] == 1
    outbox.close()
    with pytest.raises(ConfigurationError, match="synchronous"):
        SqliteOutbox(tmp_path / "other.sqlite3", synchronous="off")  # type: ignore[arg-type]
    with pytest.raises(OutboxError, match="WAL"):
        SqliteOutbox(":memory:")


def test_released_for_later_is_waited_for_without_busy_polling(tmp_path: Path) -> None:
    outbox = SqliteOutbox(tmp_path / "outbox.sqlite3", poll_interval=5)
    outbox.put(event(0))
    lease = outbox.lease(Room(), linger=0, wait=0)
    assert lease is not None
    outbox.release(lease, retry_at=time.time() + 0.2)
    started = time.monotonic()
    again = outbox.lease(Room(), linger=0, wait=1)
    assert 0.15 <= time.monotonic() - started < 0.9
    assert again is not None
    outbox.close()


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_fork_child_works_and_the_inherited_handle_refuses(tmp_path: Path) -> None:
    outbox = SqliteOutbox(tmp_path / "outbox.sqlite3")
    outbox.put(event(0))
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child's coverage is not collected
        code = 10
        try:
            refused = 0
            for call in (
                lambda: outbox.put(event(1)),
                lambda: outbox.lease(Room(), linger=0, wait=0),
                lambda: outbox.size(),
                lambda: outbox.ack(object()),  # type: ignore[arg-type]
                lambda: outbox.release(object(), retry_at=0),  # type: ignore[arg-type]
            ):
                try:
                    call()
                except OutboxError as error:
                    refused += "fork_child()" in str(error)
            code = 11 if refused != 5 else 12
            if outbox.close() == []:
                child = outbox.fork_child()
                child.put(event(2))
                child.close()
                code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert [u for u, _ in drain_all(outbox)] == ["ev-0", "ev-2"]
    outbox.close()


def test_alive_knows_running_reaped_and_zombie_processes() -> None:
    assert _alive(os.getpid())
    assert not _alive(0)
    assert not _alive(2**62)
    done = subprocess.Popen([sys.executable, "-c", "pass"])
    done.wait()
    assert not _alive(done.pid)
    zombie = subprocess.Popen([sys.executable, "-c", "pass"])
    deadline = time.monotonic() + 5
    while _alive(zombie.pid) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not _alive(zombie.pid)
    zombie.wait()


def test_seqs_are_never_reused_after_the_newest_events_are_acked_or_evicted(
    tmp_path: Path,
) -> None:
    size = len(event(0).body)
    outbox = SqliteOutbox(tmp_path / "outbox.sqlite3", max_bytes=50 * size, overflow="drop_oldest")
    seqs = [outbox.put(event(n))[0] for n in range(3)]
    lease = outbox.lease(Room(), linger=0, wait=0)
    assert lease is not None
    outbox.ack(lease)
    assert outbox.size().events == 0
    seqs.append(outbox.put(event(3))[0])
    # One large event evicts every row, the newest one included, in its own transaction.
    seq, dropped = outbox.put(event(4, pad=49 * size))
    assert ids(e for e, _ in dropped) == ["ev-3"]
    seqs.append(seq)
    outbox.close()
    reopened = SqliteOutbox(outbox.path)
    lease = reopened.lease(Room(), linger=0, wait=0)
    assert lease is not None
    reopened.ack(lease)
    seqs.append(reopened.put(event(5))[0])
    assert seqs == [1, 2, 3, 4, 5, 6]
    assert reopened.size().last_put == 6
    reopened.close()


def test_two_handles_on_one_file_never_reuse_a_seq(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite3"
    putter = SqliteOutbox(path)
    size = len(event(0).body)
    evicter = SqliteOutbox(path, max_bytes=50 * size, overflow="drop_oldest")
    seqs = [putter.put(event(n))[0] for n in range(3)]
    lease = evicter.lease(Room(), linger=0, wait=0)
    assert lease is not None
    evicter.ack(lease)
    # The other handle acked the newest row: this one's next put goes past it all the same.
    seqs.append(putter.put(event(3))[0])
    seq, dropped = evicter.put(event(4, pad=49 * size))
    assert ids(e for e, _ in dropped) == ["ev-3"]
    seqs.append(seq)
    seqs.append(putter.put(event(5))[0])
    assert seqs == [1, 2, 3, 4, 5, 6]
    assert [u for u, _ in drain_all(evicter)] == ["ev-4", "ev-5"]
    assert putter.put(event(6))[0] == 7
    assert (putter.size().events, putter.size().last_put) == (1, 7)
    putter.close()
    evicter.close()


def test_a_put_far_from_the_bounds_writes_one_page_to_the_wal(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite3"
    outbox = SqliteOutbox(path)
    outbox._conn.execute("PRAGMA wal_autocheckpoint=0")
    (page,) = outbox._conn.execute("PRAGMA page_size").fetchone()
    wal = Path(f"{path}-wal")
    frames: list[int] = []
    for n in range(100):
        wal_before = wal.stat().st_size
        (pages_before,) = outbox._conn.execute("PRAGMA page_count").fetchone()
        outbox.put(event(n))
        (pages_after,) = outbox._conn.execute("PRAGMA page_count").fetchone()
        written = wal.stat().st_size - wal_before
        assert written % (page + 24) == 0
        # A put that starts a new leaf page also writes its parent and the file's header.
        if pages_after == pages_before:
            frames.append(written // (page + 24))
    assert len(frames) >= 80
    assert set(frames) == {1}
    outbox.close()


def file_counts(path: Path) -> tuple[int, int, int | None]:
    """Events, bytes and oldest seq of the rows in the file, read by a connection of its own."""
    check = sqlite3.connect(path)
    try:
        events, size, oldest = check.execute(
            "SELECT COUNT(*), IFNULL(SUM(size), 0), MIN(seq) FROM events"
        ).fetchone()
    finally:
        check.close()
    return events, size, oldest


@given(
    steps=st.lists(
        st.one_of(
            st.tuples(st.sampled_from(["put", "put elsewhere"]), st.integers(0, 300)),
            st.tuples(st.sampled_from(["ack", "release", "evict"]), st.integers(1, 4)),
            st.tuples(st.just("reopen"), st.just(0)),
        ),
        max_size=25,
    )
)
def test_the_counts_are_the_rows_in_the_file_whatever_happened(
    steps: list[tuple[str, int]],
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "outbox.sqlite3"
        outbox = SqliteOutbox(path)
        other = SqliteOutbox(path)
        put: list[int] = []
        for n, (step, amount) in enumerate(steps):
            if step == "put":
                put.append(outbox.put(event(n, pad=amount))[0])
            elif step == "put elsewhere":
                put.append(other.put(event(n, pad=amount))[0])
            elif step == "evict":
                # A handle whose bound is a few events below what is held drops the oldest.
                held = outbox.size().events
                small = SqliteOutbox(path, max_events=max(1, held - amount), overflow="drop_oldest")
                put.append(small.put(event(n))[0])
                small.close()
            elif step == "reopen":
                outbox.close()
                outbox = SqliteOutbox(path)
            else:
                lease = outbox.lease(room(amount), linger=0, wait=0)
                if lease is not None and step == "ack":
                    outbox.ack(lease)
                elif lease is not None:
                    outbox.release(lease, retry_at=0)
            assert put == list(range(1, len(put) + 1))
            events, size, oldest = file_counts(path)
            for handle in (outbox, other):
                held = handle.size()
                assert (held.events, held.bytes, held.oldest) == (events, size, oldest)
                assert held.last_put == len(put)
            with outbox._lock:
                assert outbox._held(outbox._conn) == (events, size)
        outbox.close()
        other.close()


def waiting_for(outbox: SqliteOutbox, puts: int) -> None:
    """Return once ``puts`` puts wait behind the thread whose turn it is to commit."""
    deadline = time.monotonic() + 10
    while len(outbox._waiting) < puts or not outbox._turn.locked():
        assert time.monotonic() < deadline, f"{len(outbox._waiting)} puts waiting, not {puts}"
        time.sleep(0.001)


def padded(n: int) -> PreparedEvent:
    """Event ``n`` with a body of its own length, so that a byte count tells the events apart."""
    return event(n, pad=n % 50)


class Putters:
    """One thread per list of event numbers, each putting its events in turn, all at once."""

    def __init__(self, outbox: SqliteOutbox, numbers: list[list[int]]) -> None:
        self.got: list[tuple[int, int | OutboxError]] = []
        """``(n, seq)`` or ``(n, error)``, as each put returned."""
        self.threads = [threading.Thread(target=self._put, args=(outbox, ns)) for ns in numbers]
        for thread in self.threads:
            thread.start()

    def _put(self, outbox: SqliteOutbox, numbers: list[int]) -> None:
        for n in numbers:
            try:
                self.got.append((n, outbox.put(padded(n))[0]))
            except OutboxError as error:
                self.got.append((n, error))

    def seqs(self) -> dict[int, int]:
        """Each event's seq, once every thread is done; an error fails the test."""
        for thread in self.threads:
            thread.join()
        seqs = {n: seq for n, seq in self.got if isinstance(seq, int)}
        assert len(seqs) == len(self.got)
        return seqs

    def errors(self) -> list[OutboxError]:
        """Each put's error, once every thread is done; a put that returned fails the test."""
        for thread in self.threads:
            thread.join()
        errors = [error for _, error in self.got if isinstance(error, OutboxError)]
        assert len(errors) == len(self.got)
        return errors


def rows_by_seq(path: Path) -> dict[int, tuple[str, bytes]]:
    check = sqlite3.connect(path)
    try:
        rows = check.execute("SELECT seq, unique_id, body FROM events").fetchall()
    finally:
        check.close()
    return {seq: (unique_id, body) for seq, unique_id, body in rows}


def test_many_threads_putting_at_once_each_get_their_own_seq_and_row(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite3"
    outbox = SqliteOutbox(path)
    seqs = Putters(outbox, [list(range(t, 2_000, 8)) for t in range(8)]).seqs()
    assert sorted(seqs.values()) == list(range(1, 2_001))
    # Each thread's puts were stored in the order it made them.
    for t in range(8):
        mine = [seqs[n] for n in range(t, 2_000, 8)]
        assert mine == sorted(mine)
    rows = rows_by_seq(path)
    assert rows == {seq: (padded(n).unique_id, padded(n).body) for n, seq in seqs.items()}
    size = sum(len(padded(n).body) for n in range(2_000))
    assert file_counts(path) == (2_000, size, 1)
    held = outbox.size()
    assert (held.events, held.bytes, held.oldest, held.last_put) == (2_000, size, 1, 2_000)
    with outbox._lock:
        assert outbox._held(outbox._conn) == (2_000, size)
    assert [u for u, _ in drain_all(outbox)] == [rows[seq][0] for seq in sorted(rows)]
    outbox.close()


def test_puts_that_wait_together_are_one_commit(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite3"
    outbox = SqliteOutbox(path)
    outbox.put(event(100))
    statements: list[str] = []
    # Holding the connection's lock, as a lease or a commit would: the puts
    # that come meanwhile wait for the next commit, all in one group.
    with outbox._lock:
        putters = Putters(outbox, [[n] for n in range(8)])
        waiting_for(outbox, 7)
        writes = outbox._writes
        outbox._conn.set_trace_callback(statements.append)
    seqs = putters.seqs()
    outbox._conn.set_trace_callback(None)
    assert outbox._writes == writes + 1
    assert statements.count("BEGIN IMMEDIATE") == statements.count("COMMIT") == 1
    assert sorted(seqs.values()) == list(range(2, 10))
    rows = rows_by_seq(path)
    assert all(rows[seq][0] == f"ev-{n}" for n, seq in seqs.items())
    size = len(event(100).body) + sum(len(padded(n).body) for n in range(8))
    assert file_counts(path)[:2] == (outbox.size().events, outbox.size().bytes) == (9, size)
    assert (outbox._waiting, outbox._turn.locked()) == ([], False)
    outbox.close()


def test_a_failed_group_commit_fails_each_put_of_it_and_stores_none(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite3"
    outbox = SqliteOutbox(path)
    # A fresh handle's first put reads the counts (alone); the group's are far from the bounds.
    outbox.put(event(100))
    drain_all(outbox)
    with outbox._lock:
        putters = Putters(outbox, [[n] for n in range(8)])
        waiting_for(outbox, 7)
        # One row of the group fails, after others were inserted in its transaction.
        outbox._conn.execute(
            "CREATE TRIGGER refuse BEFORE INSERT ON events WHEN NEW.unique_id = 'ev-4' "
            "BEGIN SELECT RAISE(ABORT, 'refused'); END"
        )
        order = [put.event.unique_id for put in outbox._waiting]
    errors = putters.errors()
    # Not the first row: the rows before it were inserted in the group's transaction.
    assert "ev-4" in order
    assert len(errors) == 8
    assert all("put failed: refused" in str(error) for error in errors)
    assert all(isinstance(error.__cause__, sqlite3.IntegrityError) for error in errors)
    # Each thread raises an error of its own (one object raised in eight
    # threads at once would mix their tracebacks).
    assert len({id(error) for error in errors}) == 8
    assert file_counts(path) == (0, 0, None)
    # Another group is stored, from seq 2: the failed one took no seq.
    outbox._conn.execute("DROP TRIGGER refuse")
    with outbox._lock:
        putters = Putters(outbox, [[n] for n in range(10, 14)])
        waiting_for(outbox, 3)
    assert sorted(putters.seqs().values()) == [2, 3, 4, 5]
    assert file_counts(path)[0] == outbox.size().events == 4
    outbox.close()


def test_a_put_alone_is_its_own_insert_committed_at_once(tmp_path: Path) -> None:
    outbox = SqliteOutbox(tmp_path / "outbox.sqlite3")
    # A fresh handle's first put reads the counts, as every _RECOUNT_EVERY-th does.
    assert outbox.put(event(0))[0] == 1
    statements: list[str] = []
    outbox._conn.set_trace_callback(statements.append)
    writes = outbox._writes
    for n in range(1, 101):
        del statements[:]
        assert outbox.put(event(n))[0] == n + 1
        assert outbox._writes == writes + n
        # One statement: no BEGIN, no read of the counts, no wait for others.
        assert len(statements) == 1
        assert statements[0].startswith("INSERT INTO events")
    outbox._conn.set_trace_callback(None)
    assert outbox.size().events == 101
    outbox.close()


def test_an_interrupted_waiting_put_is_stored_all_the_same(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite3"
    outbox = SqliteOutbox(path)
    main = threading.get_ident()
    assert main == threading.main_thread().ident
    busy = threading.Event()
    done = threading.Event()

    def hold() -> None:
        with outbox._lock:
            busy.set()
            done.wait(10)

    def interrupt() -> None:
        waiting_for(outbox, 1)
        time.sleep(0.05)
        signal.pthread_kill(main, signal.SIGINT)

    holder = threading.Thread(target=hold)
    holder.start()
    busy.wait(10)
    # One thread has the turn, waiting for the connection; this one joins its group.
    leader = Putters(outbox, [[0]])
    waiting_for(outbox, 0)
    interrupter = threading.Thread(target=interrupt)
    interrupter.start()
    with pytest.raises(KeyboardInterrupt):
        outbox.put(padded(1))
    interrupter.join()
    done.set()
    holder.join()
    assert leader.seqs() == {0: 1}
    assert rows_by_seq(path) == {
        1: (padded(0).unique_id, padded(0).body),
        2: (padded(1).unique_id, padded(1).body),
    }
    assert (outbox._waiting, outbox._turn.locked()) == ([], False)
    assert outbox.put(event(2))[0] == 3
    outbox.close()
