"""The SQLite outbox's leases live in the holder's memory: what that keeps promising.

A lease reads the file and writes nothing; the holder remembers which rows
are in its requests. A holder killed with requests in flight leaves every
row in the file, and the next holder delivers them again: the API keeps one
of each, by ``uniqueId``. Files of the earlier layouts (leases written into
the rows; seqs kept by AUTOINCREMENT) are migrated when opened.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import STORE, EmulatorProcess
from test_outbox import event, ids

from redo_kit._client import RedoClient
from redo_kit._delivery import Room
from redo_kit._outbox_sqlite import SCHEMA_VERSION, SqliteOutbox


def room(events: int) -> Room:
    """A request's room, with space for ``events`` events."""
    small = Room()
    small._max_events = events
    return small


def test_a_lease_writes_nothing_to_the_file(tmp_path: Path) -> None:
    outbox = SqliteOutbox(tmp_path / "outbox.sqlite3")
    for n in range(6):
        outbox.put(event(n))
    first = outbox.lease(room(2), linger=0, wait=0)  # takes the drain lease: one row written
    assert first is not None
    written = outbox._conn.total_changes
    second = outbox.lease(room(2), linger=0, wait=0)
    assert second is not None
    assert ids(second.events) == ["ev-2", "ev-3"]
    assert outbox._conn.total_changes == written
    assert (outbox.size().events, outbox.size().leased) == (6, 4)
    outbox.ack(first)
    # One ranged DELETE: exactly the lease's 2 rows (and the 2 count updates of their trigger).
    assert outbox._conn.total_changes == written + 4
    assert (outbox.size().events, outbox.size().leased) == (4, 2)
    outbox.close()


def test_rows_due_again_below_the_cursor_are_leased_and_rows_in_flight_are_not(
    tmp_path: Path,
) -> None:
    outbox = SqliteOutbox(tmp_path / "outbox.sqlite3")
    for n in range(6):
        outbox.put(event(n))
    early = outbox.lease(room(2), linger=0, wait=0)
    middle = outbox.lease(room(2), linger=0, wait=0)
    assert early is not None
    assert middle is not None
    outbox.release(early, retry_at=0)
    # ev-0 and ev-1 are due again below the rows read so far; ev-2 and ev-3 are in a request.
    mixed = outbox.lease(room(4), linger=0, wait=0)
    assert mixed is not None
    assert ids(mixed.events) == ["ev-0", "ev-1", "ev-4", "ev-5"]
    assert mixed.attempts == 1
    assert outbox.lease(room(4), linger=0, wait=0) is None
    # Two runs of seqs, two ranged DELETEs: the request in between keeps its rows.
    outbox.ack(mixed)
    assert (outbox.size().events, outbox.size().leased) == (2, 2)
    outbox.ack(middle)
    assert outbox.size().events == 0
    later = outbox.lease(room(4), linger=0, wait=0)
    assert later is None
    outbox.close()


def test_settling_by_a_handle_that_lost_the_drain_changes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite3"
    slow = SqliteOutbox(path, drain_ttl=0.2)
    other = SqliteOutbox(path)
    for n in range(2):
        slow.put(event(n))
    stale = slow.lease(Room(), linger=0, wait=0)
    assert stale is not None
    time.sleep(0.25)
    taken = other.lease(Room(), linger=0, wait=0)
    assert taken is not None
    assert ids(taken.events) == ["ev-0", "ev-1"]
    slow.release(stale, retry_at=time.time() + 60)
    slow.ack(stale)
    check = sqlite3.connect(path)
    assert check.execute(
        "SELECT COUNT(*), MAX(retry_at), MAX(attempts) FROM events"
    ).fetchone() == (
        2,
        0,
        0,
    )
    check.close()
    other.ack(taken)
    assert other.size().events == 0
    slow.close()
    other.close()


# The layout-1 schema, as files written before leases moved into memory hold it.
LAYOUT_1 = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value NOT NULL);
CREATE TABLE events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, unique_id TEXT NOT NULL, body BLOB NOT NULL,
    size INTEGER NOT NULL, put_at REAL NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,
    retry_at REAL NOT NULL DEFAULT 0, lease INTEGER
);
CREATE INDEX events_due ON events (retry_at, seq, size, put_at, attempts) WHERE lease IS NULL;
CREATE INDEX events_by_lease ON events (lease) WHERE lease IS NOT NULL;
CREATE TABLE counts (
    id INTEGER PRIMARY KEY CHECK (id = 1), events INTEGER NOT NULL, bytes INTEGER NOT NULL,
    leased INTEGER NOT NULL, leased_bytes INTEGER NOT NULL
);
CREATE TABLE drain (
    id INTEGER PRIMARY KEY CHECK (id = 1), owner TEXT, pid INTEGER, host TEXT,
    expires REAL NOT NULL, tokens INTEGER NOT NULL
);
CREATE TRIGGER count_put AFTER INSERT ON events BEGIN
    UPDATE counts SET events = events + 1, bytes = bytes + NEW.size;
END;
CREATE TRIGGER count_gone AFTER DELETE ON events BEGIN
    UPDATE counts SET events = events - 1, bytes = bytes - OLD.size,
        leased = leased - (OLD.lease IS NOT NULL),
        leased_bytes = leased_bytes - (OLD.lease IS NOT NULL) * OLD.size;
END;
CREATE TRIGGER count_lease AFTER UPDATE OF lease ON events
    WHEN (OLD.lease IS NULL) <> (NEW.lease IS NULL) BEGIN
    UPDATE counts SET
        leased = leased + (NEW.lease IS NOT NULL) - (OLD.lease IS NOT NULL),
        leased_bytes = leased_bytes
            + ((NEW.lease IS NOT NULL) - (OLD.lease IS NOT NULL)) * NEW.size;
END;
INSERT INTO counts VALUES (1, 0, 0, 0, 0);
INSERT INTO drain VALUES (1, NULL, NULL, NULL, 0, 0);
INSERT INTO meta VALUES ('format', 'redo-kit outbox'), ('version', 1);
"""


def test_a_layout_1_file_is_migrated_and_every_event_in_it_delivered(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    old = sqlite3.connect(path, isolation_level=None)
    old.execute("PRAGMA journal_mode=WAL")
    old.executescript(LAYOUT_1)
    for n in range(4):
        body = event(n).body
        old.execute(
            "INSERT INTO events (unique_id, body, size, put_at) VALUES (?, ?, ?, ?)",
            (f"ev-{n}", body, len(body), time.time()),
        )
    # ev-0 in a request of a holder that died; ev-1 released, due again now.
    old.execute("UPDATE events SET lease = 7 WHERE seq = 1")
    old.execute("UPDATE events SET retry_at = ?, attempts = 2 WHERE seq = 2", (time.time() - 1,))
    old.execute("UPDATE drain SET owner = 'gone', pid = 0, host = 'elsewhere', tokens = 7")
    old.close()

    outbox = SqliteOutbox(path)
    check = sqlite3.connect(path)
    assert check.execute("SELECT value FROM meta WHERE key = 'version'").fetchone() == (
        SCHEMA_VERSION,
    )
    assert {name for (name,) in check.execute("SELECT name FROM sqlite_master")} >= {
        "events_later",
        "count_gone",
    }
    assert not {"events_due", "events_by_lease", "count_lease"} & {
        name for (name,) in check.execute("SELECT name FROM sqlite_master")
    }
    assert check.execute("SELECT attempts FROM events ORDER BY seq").fetchall() == [
        (1,),
        (2,),
        (0,),
        (0,),
    ]
    check.close()
    size = outbox.size()
    assert (size.events, size.leased, size.oldest, size.last_put) == (4, 0, 1, 4)
    lease = outbox.lease(Room(), linger=0, wait=0)
    assert lease is not None
    assert ids(lease.events) == ["ev-0", "ev-1", "ev-2", "ev-3"]
    assert lease.attempts == 2
    assert lease.events == tuple(event(n) for n in range(4))
    outbox.ack(lease)
    assert outbox.size().events == 0
    assert outbox.put(event(4))[0] == 5
    outbox.close()
    # Opened again: the current layout already, nothing to migrate.
    again = SqliteOutbox(path)
    assert (again.size().events, again.size().last_put) == (1, 5)
    again.close()


# The layout-2 schema, as files written before a put wrote one page hold it.
LAYOUT_2 = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value NOT NULL);
CREATE TABLE events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, unique_id TEXT NOT NULL, body BLOB NOT NULL,
    size INTEGER NOT NULL, put_at REAL NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,
    retry_at REAL NOT NULL DEFAULT 0
);
CREATE INDEX events_later ON events (retry_at) WHERE retry_at > 0;
CREATE TABLE counts (
    id INTEGER PRIMARY KEY CHECK (id = 1), events INTEGER NOT NULL, bytes INTEGER NOT NULL
);
CREATE TABLE drain (
    id INTEGER PRIMARY KEY CHECK (id = 1), owner TEXT, pid INTEGER, host TEXT,
    expires REAL NOT NULL
);
CREATE TRIGGER count_put AFTER INSERT ON events BEGIN
    UPDATE counts SET events = events + 1, bytes = bytes + NEW.size;
END;
CREATE TRIGGER count_gone AFTER DELETE ON events BEGIN
    UPDATE counts SET events = events - 1, bytes = bytes - OLD.size;
END;
INSERT INTO counts VALUES (1, 0, 0);
INSERT INTO drain VALUES (1, NULL, NULL, NULL, 0);
INSERT INTO meta VALUES ('format', 'redo-kit outbox'), ('version', 2);
"""


def layout_2_file(path: Path, kept: tuple[int, ...]) -> None:
    """A layout-2 outbox that was put events 1 to 6 and has only the seqs ``kept`` left.

    Acking the newest rows left a gap above the table's newest seq that
    only ``sqlite_sequence`` remembers; ev-3, when kept, was released for later.
    """
    old = sqlite3.connect(path, isolation_level=None)
    old.execute("PRAGMA journal_mode=WAL")
    old.executescript(LAYOUT_2)
    for n in range(1, 7):
        body = event(n).body
        old.execute(
            "INSERT INTO events (unique_id, body, size, put_at) VALUES (?, ?, ?, ?)",
            (f"ev-{n}", body, len(body), time.time()),
        )
    old.execute("UPDATE events SET retry_at = ?, attempts = 1 WHERE seq = 3", (time.time() + 60,))
    old.executemany(
        "DELETE FROM events WHERE seq = ?", [(n,) for n in range(1, 7) if n not in kept]
    )
    old.close()


def layout(path: Path) -> dict[str, list[tuple[object, ...]]]:
    """The columns of each table and the index and trigger names of an outbox file."""
    check = sqlite3.connect(path)
    try:
        tables = {
            name: check.execute(f"PRAGMA table_info({name})").fetchall()
            for name in ("meta", "events", "counts", "drain")
        }
        tables["others"] = check.execute(
            "SELECT type, name FROM sqlite_master WHERE type IN ('index', 'trigger') "
            "AND name NOT LIKE 'sqlite_%' ORDER BY name"
        ).fetchall()
    finally:
        check.close()
    return tables


@pytest.mark.parametrize("kept", [(2, 3, 4), ()])
def test_a_layout_2_file_keeps_its_events_and_counts_and_never_reuses_a_seq(
    tmp_path: Path, kept: tuple[int, ...]
) -> None:
    path = tmp_path / "old.sqlite3"
    layout_2_file(path, kept)
    outbox = SqliteOutbox(path)
    fresh = tmp_path / "new.sqlite3"
    SqliteOutbox(fresh).close()
    assert layout(path) == layout(fresh)
    check = sqlite3.connect(path)
    assert check.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert check.execute("SELECT value FROM meta WHERE key = 'version'").fetchone() == (
        SCHEMA_VERSION,
    )
    assert check.execute(
        "SELECT seq, unique_id, body, attempts, retry_at > 0 FROM events"
    ).fetchall() == [(n, f"ev-{n}", event(n).body, int(n == 3), n == 3) for n in kept]
    check.close()
    size = len(event(1).body)
    held = outbox.size()
    assert (held.events, held.bytes, held.oldest, held.last_put) == (
        len(kept),
        size * len(kept),
        kept[0] if kept else None,
        6,
    )
    assert outbox.put(event(7))[0] == 7
    held = outbox.size()
    assert (held.events, held.bytes, held.last_put) == (len(kept) + 1, size * (len(kept) + 1), 7)
    # ev-3 was released for later: the others go now, and acking them empties the rest.
    lease = outbox.lease(Room(), linger=0, wait=0)
    assert lease is not None
    assert ids(lease.events) == [f"ev-{n}" for n in (*kept, 7) if n != 3]
    outbox.ack(lease)
    held = outbox.size()
    assert (held.events, held.bytes) == ((1, size) if 3 in kept else (0, 0))
    outbox.close()
    again = SqliteOutbox(path)
    assert again.put(event(8))[0] == 8
    held = again.size()
    assert (held.events, held.bytes, held.last_put) == (
        1 + (3 in kept),
        size * (1 + (3 in kept)),
        8,
    )
    again.close()


# Tracks COUNT events into a batcher on the outbox, prints "tracked", then
# waits to be killed: its requests are stored by the emulator, whose answers
# are held back, so they are in flight when the kill comes.
TRACKER = textwrap.dedent(
    """
    import sys, time
    from redo_kit._client import RedoClient

    outbox, count = sys.argv[1], int(sys.argv[2])
    batcher = RedoClient().batcher(outbox=outbox, flush_interval=0.05)
    for n in range(count):
        batcher.track({"eventName": "Page Viewed", "uniqueId": f"view-{n}",
                       "customer": {"email": f"user{n}@example.com"},
                       "data": {"Page": f"/pages/{n}"}})
    print("tracked", flush=True)
    time.sleep(600)
    """
)


@pytest.fixture
def slow_emulator() -> Iterator[EmulatorProcess]:
    """Every answer held 3 s after the request's events are stored."""
    process = EmulatorProcess("--faults", "delay=1", "--fault-delay", "3", "--seed", "1")
    try:
        yield process
    finally:
        process.stop()


def test_a_holder_killed_with_requests_in_flight_has_them_delivered_once(
    slow_emulator: EmulatorProcess, tmp_path: Path
) -> None:
    path = tmp_path / "outbox.sqlite3"
    count = 250
    tracker = subprocess.Popen(
        [sys.executable, "-c", TRACKER, str(path), str(count)],
        stdout=subprocess.PIPE,
        text=True,
        env=slow_emulator.env(),
    )
    assert tracker.stdout is not None
    try:
        assert tracker.stdout.readline().strip() == "tracked"
        deadline = time.monotonic() + 20
        while len(slow_emulator.events()) < count and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        os.kill(tracker.pid, signal.SIGKILL)
        tracker.wait(10)
        tracker.stdout.close()
    assert len(slow_emulator.events()) == count
    # Stored at the API, never acked: every row is still in the file.
    check = sqlite3.connect(path)
    assert check.execute("SELECT COUNT(*), MAX(attempts) FROM events").fetchone() == (count, 0)
    check.close()

    client = RedoClient(store_id=STORE, api_key=slow_emulator.key, base_url=slow_emulator.base_url)
    with client, client.batcher(outbox=str(path), flush_interval=0.05) as batcher:
        # Nothing tracked here: what the dead holder had in flight goes again.
        deadline = time.monotonic() + 60
        while batcher.stats().pending and time.monotonic() < deadline:
            time.sleep(0.1)
        assert batcher.stats().pending == 0
        assert batcher.stats().sent == count
    stored = [e["uniqueId"] for e in slow_emulator.events()]
    assert sorted(stored) == sorted(f"view-{n}" for n in range(count))


def test_a_request_of_rows_due_again_is_waited_on_without_busy_polling(tmp_path: Path) -> None:
    outbox = SqliteOutbox(tmp_path / "outbox.sqlite3", poll_interval=5)
    outbox.put(event(0))
    lease = outbox.lease(Room(), linger=0, wait=0)
    assert lease is not None
    outbox.release(lease, retry_at=0)
    again = outbox.lease(Room(), linger=0, wait=0)
    assert again is not None
    assert (ids(again.events), again.attempts) == (["ev-0"], 1)
    # Its retry_at has passed while it is in a request: nothing is due, nothing to poll for.
    statements: list[str] = []
    outbox._conn.set_trace_callback(statements.append)
    started = time.monotonic()
    assert outbox.lease(Room(), linger=0, wait=0.3) is None
    assert time.monotonic() - started >= 0.29
    assert len(statements) < 20
    outbox._conn.set_trace_callback(None)
    outbox.ack(again)
    outbox.close()


def test_rows_released_for_later_are_passed_once_and_fresh_ones_after_them_leased(
    tmp_path: Path,
) -> None:
    path = tmp_path / "outbox.sqlite3"
    first = SqliteOutbox(path)
    for n in range(300):
        first.put(event(n))
    while (lease := first.lease(Room(), linger=0, wait=0)) is not None:
        first.release(lease, retry_at=time.time() + 60)
    first.close()
    second = SqliteOutbox(path)
    assert second.lease(Room(), linger=0, wait=0) is None
    # Read to the end once: the next leases start past the rows released for later.
    assert second._cursor == 300
    second.put(event(300))
    fresh = second.lease(Room(), linger=0, wait=0)
    assert fresh is not None
    assert ids(fresh.events) == ["ev-300"]
    second.ack(fresh)
    assert second.size().events == 300
    second.close()


def test_a_lease_of_events_another_handle_put_carries_their_bodies(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite3"
    holder = SqliteOutbox(path)
    other = SqliteOutbox(path)
    holder.put(event(0))
    first = holder.lease(Room(), linger=0, wait=0)  # takes the drain: what it puts is kept
    assert first is not None
    holder.ack(first)
    put = []
    for n in range(1, 61):
        put.append(event(n, pad=n))
        # Runs of the other handle's rows, between rows of the holder's own.
        (holder if n % 7 == 0 else other).put(put[-1])
    lease = holder.lease(Room(), linger=0, wait=0)
    assert lease is not None
    assert [(e.unique_id, e.body, e.payload) for e in lease.events] == [
        (e.unique_id, e.body, e.payload) for e in put
    ]
    for leased, kept in zip(lease.events, put, strict=True):
        assert (leased is kept) == (int(kept.unique_id[3:]) % 7 == 0)
    holder.ack(lease)
    assert holder.size().events == 0
    holder.close()
    other.close()


def test_a_lease_of_its_own_events_hands_out_those_put_and_reads_no_body(tmp_path: Path) -> None:
    outbox = SqliteOutbox(tmp_path / "outbox.sqlite3")
    outbox.put(event(0))
    first = outbox.lease(Room(), linger=0, wait=0)
    assert first is not None
    outbox.ack(first)
    put = [event(n) for n in range(1, 51)]
    for one in put:
        outbox.put(one)
    statements: list[str] = []
    outbox._conn.set_trace_callback(statements.append)
    lease = outbox.lease(Room(), linger=0, wait=0)
    outbox._conn.set_trace_callback(None)
    assert lease is not None
    assert all(leased is kept for leased, kept in zip(lease.events, put, strict=True))
    assert statements
    assert not [s for s in statements if "body" in s]
    outbox.ack(lease)
    outbox.close()


def test_a_look_with_nothing_due_reads_no_row_released_for_later(tmp_path: Path) -> None:
    outbox = SqliteOutbox(tmp_path / "outbox.sqlite3")
    for n in range(2000):
        outbox.put(event(n))
    while (lease := outbox.lease(Room(), linger=0, wait=0)) is not None:
        outbox.release(lease, retry_at=time.time() + 60)
    # SQLite calls this every 100 steps of its VM: a pass over 2,000 rows takes over 200.
    hundreds: list[int] = []
    outbox._conn.set_progress_handler(lambda: hundreds.append(1), 100)
    assert outbox.lease(Room(), linger=0, wait=0) is None
    outbox._conn.set_progress_handler(None, 100)
    assert len(hundreds) < 10
    assert outbox.size().events == 2000
    outbox.close()
