"""A durable outbox: events kept in a SQLite file until Redo has them.

:class:`SqliteOutbox` implements the :class:`~redo_kit._outbox.Outbox`
protocol on one file (``client.batcher(outbox="path/outbox.sqlite3")``).
``put`` returns once the event is committed, so an event that ``track()``
accepted survives the process being killed; the next process to open the
file delivers it.

**Durability.** The file is in WAL mode. With ``synchronous="normal"`` (the
default) a commit is a write into the WAL file without an fsync: it survives
the process crashing or being killed (``kill -9``), since the operating
system holds the written pages, but the last commits before a power loss or
a kernel crash may be lost. ``synchronous="full"`` syncs the WAL on every
commit and survives power loss, at the cost of one fsync per ``put``
(milliseconds on most disks, against tens of microseconds).

**Several processes, one drain.** Any number of processes on one host may
open the same file and put events into it; exactly one of them drains it at
a time. The drain lease is one row (owner, pid, host name, expiry) taken by
the first ``lease()`` and renewed by the later ones (written at most every
tenth of ``drain_ttl``); ``lease()`` in any other process returns ``None``.
The lease passes on when its holder closes its outbox (at once), when the
holder's process is gone (same host: its pid no longer runs), or when its
expiry passed (``drain_ttl`` seconds without a call).

**Leases write nothing.** Which events are in a request is known only to
the holder's handle, in memory: a ``lease()`` reads the file and writes
nothing to it, so that puts never wait for it, and only the ack writes (one
ranged DELETE). A holder that closes its outbox counts one attempt more on
the events it had in a request. A new holder that took the drain over from
a dead or expired one starts again from the oldest event: the events the
old one had in a request go again (that delivery may or may not have
happened, and the events' ``uniqueId`` lets the API drop a replay). An ack
or a release from a handle that no longer holds the drain lease changes
nothing: its events belong to the new holder. Since only the holder knows
its requests, another process's ``size().leased`` is 0 and its bounds count
the holder's leased events as held, and its ``drop_oldest`` may evict an
event that is in the holder's request (reported as evicted, and delivered
all the same if that request succeeds). The holder also keeps in memory up
to 10,000 of the events it put itself, so that leasing them parses no JSON;
the events of other processes are read from their rows.

**Processes and threads.** One connection per handle, guarded by a lock and
shared by the threads of a process: one thing to close, to suspend around a
fork and to wake a waiting lease from. Threads putting at once commit
together: one transaction takes every put waiting for it (see
:meth:`SqliteOutbox.put`). (A connection per thread measured a
lower p99 under eight contending putters, see ``benchmarks/RESULTS.md``; the
put targets are met either way.) A handle never crosses ``os.fork``: its
connections are closed just before the fork and reopened in the parent just
after, so the child inherits nothing of SQLite's; the child calls
:meth:`SqliteOutbox.fork_child` for a handle of its own, and any use of the
inherited one raises :class:`OutboxError`.

**Checkpoints.** Copying the WAL back into the file syncs the disk; it runs
on a daemon thread of the handle, so that a ``put`` does not wait for it.

**Waiting.** A ``put`` in this process wakes a waiting ``lease()`` at once;
events put by other processes, and room made by another process, are seen
by polling every ``poll_interval`` seconds.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import os
import socket
import sqlite3
import threading
import time
import uuid
import weakref
from collections.abc import Iterator
from typing import Literal

import attrs

from redo_kit._delivery import Room
from redo_kit._errors import ConfigurationError, OutboxError
from redo_kit._events import PreparedEvent
from redo_kit._json import loads_exact
from redo_kit._logging import logger
from redo_kit._outbox import (
    Dropped,
    DropReason,
    Lease,
    OutboxSize,
    Overflow,
    admits,
    check_overflow,
    queue_full,
)
from redo_kit._rules import limits
from redo_kit._signals import start_daemon

__all__ = ["FORMAT", "SCHEMA_VERSION", "SqliteOutbox", "Synchronous"]

FORMAT = "redo-kit outbox"
"""The ``format`` row of an outbox file's ``meta`` table: what tells it from other SQLite files."""

SCHEMA_VERSION = 3
"""The layout this module writes (the ``version`` row of ``meta``).

A file of a later layout is refused with a message to upgrade; when the
layout changes, opening a file of an earlier one migrates it from this number.
"""

Synchronous = Literal["normal", "full"]
"""SQLite's ``synchronous`` setting for the file (see the module doc)."""

# seq names one event for good: a Lease's events, a dropped event and a log
# line name it, and the holder's cursor (see SqliteOutbox._try_lease) knows
# that every event put after its last look has a higher seq. So a seq is
# never reused, even after the newest events are acked or evicted: a put
# takes one more than the newest seq ever put (_NEWEST_SEQ), the table's
# newest row or, once that row is gone, counts.top_seq, which the delete
# trigger raises to every seq it sees go, so that whatever deletes rows (an
# ack, an eviction, someone in the sqlite3 shell) keeps it in the same
# statement. A put rolled back takes no seq, so seqs are contiguous. total
# is the bytes of every event put up to and including the row, a running
# sum like a log's offset, kept past its row by counts.top_total the same
# way. The held counts then need no write per put: held events are the
# newest seq less gone_events, held bytes the newest total less gone_bytes
# (_HELD), and only the delete trigger writes counts. A put writes one page,
# the table's leaf: AUTOINCREMENT would write sqlite_sequence too, and a
# count kept by an insert trigger the counts row.
# retry_at is 0 for an event never released; a released one holds the Unix
# time it is due again (never 0), and keeps it while in a request again. Only
# released events are in events_later, so a put writes no index page, and a
# lease finds those due without reading the fresh ones.
_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value NOT NULL);
CREATE TABLE events (
    seq INTEGER PRIMARY KEY,
    unique_id TEXT NOT NULL,
    body BLOB NOT NULL,
    size INTEGER NOT NULL,
    put_at REAL NOT NULL,
    total INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    retry_at REAL NOT NULL DEFAULT 0
);
CREATE INDEX events_later ON events (retry_at) WHERE retry_at > 0;
CREATE TABLE counts (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    top_seq INTEGER NOT NULL,
    top_total INTEGER NOT NULL,
    gone_events INTEGER NOT NULL,
    gone_bytes INTEGER NOT NULL
);
CREATE TABLE drain (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    owner TEXT,
    pid INTEGER,
    host TEXT,
    expires REAL NOT NULL
);
CREATE TRIGGER count_gone AFTER DELETE ON events BEGIN
    UPDATE counts SET top_seq = MAX(top_seq, OLD.seq), top_total = MAX(top_total, OLD.total),
        gone_events = gone_events + 1, gone_bytes = gone_bytes + OLD.size;
END;
INSERT INTO counts VALUES (1, 0, 0, 0, 0);
INSERT INTO drain VALUES (1, NULL, NULL, NULL, 0);
"""

# From layout 1, where a lease wrote its token into each of its rows: the
# rows a holder had leased are due again, one attempt more (as its takeover
# did). The rebuild from layout 2 that follows leaves the lease column
# behind, and the indexes and triggers of the old events table go with it;
# the drain table's tokens column stays, unused.
_FROM_LAYOUT_1 = "UPDATE events SET attempts = attempts + 1 WHERE lease IS NOT NULL"

# From layout 2, where seq was AUTOINCREMENT and triggers counted the rows
# held on every insert and delete: the events table is made again (SQLite
# cannot drop AUTOINCREMENT in place) and counts anew. top_seq is the last
# seq ever put, sqlite_sequence's (acking the newest rows left a gap above
# the table's newest seq), and gone_events what the gap and the older acks
# took of it. The rows keep their seqs and get a total of 0: below
# top_total, the bytes held, so that the first put after them counts on from
# the bytes held with gone_bytes at 0. Read before the old table goes, and
# its sqlite_sequence row with it.
_LAYOUT_2_COUNTS = (
    "SELECT MAX(IFNULL((SELECT seq FROM sqlite_sequence WHERE name = 'events'), 0), "
    "IFNULL(MAX(seq), 0)), COUNT(*), IFNULL(SUM(size), 0) FROM events"
)
_FROM_LAYOUT_2_ROWS = (
    "INSERT INTO events_3 (seq, unique_id, body, size, put_at, total, attempts, retry_at) "
    "SELECT seq, unique_id, body, size, put_at, 0, attempts, retry_at FROM events"
)

# The newest seq and total ever put: the table's newest row's, or those kept
# in counts once it was deleted (see _SCHEMA).
_NEWEST_SEQ = "MAX(IFNULL((SELECT MAX(seq) FROM events), 0), (SELECT top_seq FROM counts))"
_NEWEST_TOTAL = (
    "MAX(IFNULL((SELECT total FROM events ORDER BY seq DESC LIMIT 1), 0), "
    "(SELECT top_total FROM counts))"
)
# The statements built from these fragments (noqa: S608) hold no outside text: values go
# in as parameters.
_HELD = f"SELECT {_NEWEST_SEQ} - gone_events, {_NEWEST_TOTAL} - gone_bytes FROM counts"  # noqa: S608
_INSERT = (
    "INSERT INTO events (seq, unique_id, body, size, put_at, total) "  # noqa: S608 - fragments
    f"VALUES ({_NEWEST_SEQ} + 1, ?1, ?2, ?3, ?4, {_NEWEST_TOTAL} + ?3)"
)
# A group of puts (see SqliteOutbox.put) reads the newest seq and total and
# the held counts at once, and gives each of its rows the next seq and total.
_NEWEST = (
    f"SELECT {_NEWEST_SEQ}, {_NEWEST_TOTAL}, "  # noqa: S608 - fragments
    f"{_NEWEST_SEQ} - gone_events, {_NEWEST_TOTAL} - gone_bytes FROM counts"
)
_INSERT_ROW = (
    "INSERT INTO events (seq, unique_id, body, size, put_at, total) VALUES (?, ?, ?, ?, ?, ?)"
)
_OLDEST = "SELECT seq, unique_id, body, size FROM events WHERE seq > ? ORDER BY seq LIMIT 64"
# A lease reads the due rows without their bodies, which took 40% of a read
# of 100 rows: most are in the holder's memory (_recent), and the bodies of
# the others are read (_BODIES) in the same snapshot once a lease took them.
_DUE_AGAIN = (
    "SELECT seq, size, put_at, attempts FROM events "
    "WHERE retry_at > 0 AND retry_at <= ? ORDER BY seq LIMIT ?"
)
_TOP = "SELECT MAX(seq) FROM events"
_DUE = (
    "SELECT seq, size, put_at, attempts FROM events "
    "WHERE seq > ? AND retry_at = 0 ORDER BY seq LIMIT ?"
)
_BODIES = "SELECT seq, unique_id, body FROM events WHERE seq BETWEEN ? AND ?"
# "retry_at > 0" in so many words: SQLite uses a partial index only where the
# query implies its condition, which "retry_at > ?" alone does not; without
# it, a look with nothing due read every row of the table, lock held.
_NEXT_DUE = "SELECT MIN(retry_at) FROM events WHERE retry_at > 0 AND retry_at > ?"
# A holder's settling statements: nothing happens unless it still holds the drain.
_ACK = "DELETE FROM events WHERE seq BETWEEN ? AND ? AND (SELECT owner FROM drain) = ?"
_RELEASE = (
    "UPDATE events SET retry_at = ?, attempts = attempts + 1 "
    "WHERE seq BETWEEN ? AND ? AND (SELECT owner FROM drain) = ?"
)
_ONE_MORE = "UPDATE events SET attempts = attempts + 1 WHERE seq BETWEEN ? AND ?"
_DRAIN = "SELECT owner, pid, host, expires FROM drain"
_OWNER = "SELECT owner FROM drain"
_HOLD = "UPDATE drain SET owner = ?, pid = ?, host = ?, expires = ?"
_SIZE = (
    f"SELECT {_NEWEST_SEQ} - gone_events, {_NEWEST_TOTAL} - gone_bytes, "  # noqa: S608 - fragments
    f"(SELECT MIN(seq) FROM events), {_NEWEST_SEQ} FROM counts"
)
_RECENT_EVENTS = 10_000
"""Events a draining handle keeps in memory of those it put, so that leasing them parses nothing."""

_SOON = 1e-6
"""The ``retry_at`` stored for an event released to be due at once: never 0, see _SCHEMA."""

_HOST = socket.gethostname()

_RECOUNT_EVERY = 256
"""Puts between two readings of the held counts (see :meth:`SqliteOutbox.put`)."""
_MARGIN_EVENTS = 1_000
_MARGIN_BYTES = 8 * 1024 * 1024
"""How near a bound the last reading may be for a put to skip reading the counts."""

# Checkpoints (copying the WAL into the file, an fsync or two) run on a
# thread of their own, so that no put waits for a disk sync: about every
# _CHECKPOINT_EVERY commits of this handle. A put still checkpoints if the WAL
# reaches _BACKSTOP_PAGES pages (40 MB) all the same, and after a checkpoint
# the WAL file is cut back to _WAL_LIMIT_BYTES.
_CHECKPOINT_EVERY = 256
_BACKSTOP_PAGES = 10_000
_WAL_LIMIT_BYTES = 64 * 1024 * 1024

# Handles open in this process. Around os.fork each one closes its
# connections and the parent's reopen them afterwards, so that the child
# inherits no SQLite state for the file: SQLite keeps its locks' bookkeeping
# per process, and a connection the child opened beside an inherited one
# would share it (and believe it held locks it does not hold).
_OPEN: weakref.WeakSet[SqliteOutbox] = weakref.WeakSet()
_FORKING: list[SqliteOutbox] = []


def _before_fork() -> None:
    _FORKING[:] = list(_OPEN)
    for outbox in _FORKING:
        outbox._suspend()


def _after_fork_in_parent() -> None:
    for outbox in _FORKING:
        outbox._resume()
    _FORKING.clear()


def _after_fork_in_child() -> None:
    for outbox in _FORKING:
        outbox._orphan()
    _FORKING.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(
        before=_before_fork,
        after_in_parent=_after_fork_in_parent,
        after_in_child=_after_fork_in_child,
    )


class _Checkpointer:
    """Checkpoints one file's WAL on a daemon thread, when asked.

    The thread holds this object, not the outbox, so that an outbox dropped
    without ``close()`` is still collected (a finalizer then stops the thread).
    ``lock`` is held during each checkpoint and across a fork.
    """

    def __init__(self, path: str, busy_timeout: float) -> None:
        self.path = path
        self.busy_timeout = busy_timeout
        self.lock = threading.Lock()
        self.due = threading.Event()
        self.stopping = False
        self.conn: sqlite3.Connection | None = None
        self.started = False

    def ask(self) -> None:
        """Checkpoint soon; the first call starts the thread.

        A handle that never writes has no thread. Called with the outbox's
        lock held, so never twice at once.
        """
        if not self.started:
            if start_daemon(self._run, "redo-kit-outbox-checkpoint") is None:
                # Python 3.12+ starts no thread while the interpreter exits: the
                # WAL waits for the next process's checkpoint; nothing is lost.
                return
            self.started = True
        self.due.set()

    def stop(self) -> None:
        self.stopping = True
        self.due.set()

    def disconnect(self) -> None:
        """Close the thread's connection (reopened at the next checkpoint). Lock held."""
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def _run(self) -> None:
        while True:
            self.due.wait()
            self.due.clear()
            with self.lock:
                if self.stopping:
                    self.disconnect()
                    return
                try:
                    if self.conn is None:
                        self.conn = sqlite3.connect(
                            self.path,
                            timeout=self.busy_timeout,
                            isolation_level=None,
                            check_same_thread=False,
                        )
                    self.conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
                except sqlite3.Error as error:  # pragma: no cover - a put checkpoints instead
                    logger.debug("outbox %s: checkpoint failed: %s", self.path, error)


def _busy(error: BaseException | None) -> bool:
    """Whether ``error`` is SQLite saying another connection held the file too long."""
    return isinstance(error, sqlite3.OperationalError) and "locked" in str(error)


def _alive(pid: int) -> bool:
    """Whether process ``pid`` on this host still runs (a zombie does not)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OverflowError:
        return False
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            state = stat.read().rpartition(b")")[2].split()[:1]
    except OSError:
        return True
    return state not in ([b"Z"], [b"X"])


# A due row as a lease reads it: (seq, size, put_at, attempts).
_Row = tuple[int, int, float, int]


@attrs.frozen
class _Taken:
    """The rows a lease took; made into a Lease outside the handle's lock."""

    token: int
    rows: list[_Row]
    recent: list[PreparedEvent | None]
    """The events this handle still had in memory, by row; ``None``: in ``bodies``."""
    bodies: dict[int, tuple[str, bytes]]
    """``unique_id`` and body by seq, read from the file for the rows not in memory."""


# What a lease's look found: the rows taken, the fresh rows read (not in a
# request), the newest seq if the fresh rows were read to the end, and the
# bodies read for the taken rows not in memory.
_Seen = tuple[list[_Row], list[_Row], int | None, dict[int, tuple[str, bytes]]]


@attrs.frozen
class _Flight:
    """What the holder remembers of one lease until it is settled: its rows, in runs.

    ``runs``: ``(first, last)`` seq ranges holding exactly the lease's rows
    (one range unless rows in between were released, evicted or in another
    request), so that an ack is one ranged DELETE per run.
    """

    seqs: tuple[int, ...]
    runs: tuple[tuple[int, int], ...]
    size: int


def _runs(seqs: list[int]) -> tuple[tuple[int, int], ...]:
    """Ascending ``seqs`` as ranges of consecutive numbers."""
    runs: list[tuple[int, int]] = []
    first = last = seqs[0]
    for seq in seqs[1:]:
        if seq != last + 1:
            runs.append((first, last))
            first = seq
        last = seq
    runs.append((first, last))
    return tuple(runs)


class _Put:
    """One ``put`` waiting for its group's commit (see :meth:`SqliteOutbox.put`).

    Its fields change under the handle's ``_gate``, or under its ``_lock``
    while the group commits; ``wake`` is released once, when the put is
    settled or when it is its thread's turn to commit (``lead``).
    """

    __slots__ = ("done", "error", "event", "gone", "lead", "result", "size", "wake")

    def __init__(self, event: PreparedEvent, size: int) -> None:
        self.event = event
        self.size = size
        self.wake: threading.Lock | None = None
        self.lead = False
        self.gone = False
        """Its thread was interrupted while waiting: the put stays, nobody waits for it."""
        self.done = False
        """Settled: ``result`` or ``error`` set, or neither if the bounds refused it (put alone)."""
        self.result: tuple[int, list[Dropped]] | None = None
        self.error: OutboxError | None = None


class SqliteOutbox:
    """An outbox in a SQLite file, shared by the processes of one host; see the module doc.

    ``path``: the file, created with its schema if missing (its directory
    must exist). A file that is not an outbox raises :class:`OutboxError`.
    ``max_events``: events held, leased ones excluded (in a process that
    does not drain, the drainer's leased ones count as held); default 1,000,000.
    ``max_bytes``: serialized bytes held, leased ones excluded; default 1 GiB.
    A file can hold far more than memory, and what it holds survives a
    restart, so both bounds are larger than :class:`MemoryOutbox`'s (a
    million events of about 600 bytes take about 1 GiB on disk with the
    indexes). An event larger than ``max_bytes`` is still taken when the
    outbox is empty.
    ``overflow`` and ``block_timeout``: what ``put`` does when full, as for
    :class:`MemoryOutbox` (default ``"block"`` for up to 1 second).
    ``synchronous``: ``"normal"`` (default; survives a process crash) or
    ``"full"`` (survives power loss; an fsync per put).
    ``busy_timeout``: seconds to wait for another process's write to finish
    before :class:`OutboxError`; default 5.
    ``drain_ttl``: seconds the drain lease lasts without a ``lease()``,
    ``ack()`` or ``release()`` call; default 30. Longer than any one delivery
    should take, or a second process takes over while the first is still
    sending (harmless: the ``uniqueId`` drops the replay, but it is wasted
    work).
    ``poll_interval``: seconds between looks at the file for what other
    processes did; default 0.05.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        max_events: int = 1_000_000,
        max_bytes: int = 1024 * 1024 * 1024,
        overflow: Overflow = "block",
        block_timeout: float = 1.0,
        synchronous: Synchronous = "normal",
        busy_timeout: float = 5.0,
        drain_ttl: float = 30.0,
        poll_interval: float = 0.05,
    ) -> None:
        check_overflow(overflow)
        if synchronous not in ("normal", "full"):
            raise ConfigurationError(f"synchronous must be 'normal' or 'full', got {synchronous!r}")
        self._path = os.fspath(path)
        self._max_events = max_events
        self._max_bytes = max_bytes
        self._overflow = overflow
        self._block_timeout = block_timeout
        self._synchronous: Synchronous = synchronous
        self._busy_timeout = busy_timeout
        self._drain_ttl = drain_ttl
        self._poll = poll_interval
        self._most = limits().bulk_events[1]
        self._owner = uuid.uuid4().hex
        self._pid = os.getpid()
        self._lock = threading.Lock()
        # Group commit (see put): the puts waiting for the next commit, in
        # the order they came, under a lock of their own, held for a few
        # statements only, so that a put can join a group while a commit
        # holds the connection's lock. _turn is held by the thread whose turn
        # it is to commit, and passed on held to the next one (see _hand_on).
        self._gate = threading.Lock()
        self._waiting: list[_Put] = []
        self._turn = threading.Lock()
        # (events held, their bytes, puts since) at the last reading of the counts.
        self._seen: tuple[int, int, int] = (0, 0, _RECOUNT_EVERY)
        self._ready = threading.Condition(self._lock)
        self._room = threading.Condition(self._lock)
        self._blocked = 0
        self._closed = False
        self._woken = False
        self._holding = False
        self._renewed = 0.0
        # This handle's leases in a request: token -> flight, and their rows.
        # Every due row with a seq up to _cursor is in _flying: a lease reads
        # from there on (see _try_lease).
        self._flights: dict[int, _Flight] = {}
        # Acks and releases not written yet, the file being busy: (doing,
        # statement, its parameters per run, the flight), oldest first.
        self._settling: list[tuple[str, str, list[tuple[object, ...]], _Flight]] = []
        self._flying: set[int] = set()
        self._flying_bytes = 0
        self._cursor = 0
        # The events this handle put since it holds the drain, by seq, up to
        # _RECENT_EVENTS: a lease takes them from here rather than parsing
        # their rows' JSON again (the most CPU a lease spent). Only committed
        # events go in, and a seq is never reused, so an entry is its row.
        self._recent: dict[int, PreparedEvent] = {}
        # Tokens start at a random number, so that two handles' leases differ.
        self._token = int(self._owner[:8], 16) << 16
        self._final: OutboxSize | None = None
        # What a waiting lease saw, so that a put wakes it only when it matters.
        self._watch: Room | None = None
        self._watch_events = 0
        self._watch_bytes = 0
        self._conn = self._open()
        self._writes = 0
        self._checkpointer = _Checkpointer(self._path, busy_timeout)
        weakref.finalize(self, self._checkpointer.stop)
        _OPEN.add(self)

    @property
    def path(self) -> str:
        """The outbox file."""
        return self._path

    # -- opening -------------------------------------------------------------

    def _open(self) -> sqlite3.Connection:
        try:
            conn = sqlite3.connect(
                self._path,
                timeout=self._busy_timeout,
                isolation_level=None,
                check_same_thread=False,
            )
        except sqlite3.Error as error:
            raise self._error("open", error) from error
        try:
            self._prepare(conn)
        except BaseException:
            conn.close()
            raise
        return conn

    def _prepare(self, conn: sqlite3.Connection) -> None:
        try:
            mode = self._to_wal(conn)
            if str(mode).lower() != "wal":
                raise OutboxError(
                    f"{self._path} cannot be an outbox: SQLite keeps it in {mode!r} "
                    "journal mode, not WAL; give a path to a file on a local disk",
                    path=self._path,
                )
            conn.execute(f"PRAGMA synchronous={self._synchronous.upper()}")
            conn.execute(f"PRAGMA wal_autocheckpoint={_BACKSTOP_PAGES}")
            conn.execute(f"PRAGMA journal_size_limit={_WAL_LIMIT_BYTES}")
            conn.execute("BEGIN IMMEDIATE")
            try:
                self._check_schema(conn)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        except sqlite3.OperationalError as error:
            # Locked, read-only, out of space: the file may well be an outbox.
            raise self._error("open", error) from error
        except sqlite3.DatabaseError as error:
            raise OutboxError(
                f"{self._path} is not a redo-kit outbox ({error}); give the batcher a path "
                "of its own: a new file is created there",
                path=self._path,
            ) from error

    def _to_wal(self, conn: sqlite3.Connection) -> str:
        """Put the file in WAL mode; the mode it is in then.

        Switching takes the file for a moment, and SQLite answers "locked" at
        once, without its busy handler, while another process is creating the
        same new outbox: try again until ``busy_timeout`` has passed.
        """
        deadline = time.monotonic() + self._busy_timeout
        while True:
            try:
                return str(conn.execute("PRAGMA journal_mode=WAL").fetchone()[0])
            except sqlite3.OperationalError as error:
                if "locked" not in str(error) or time.monotonic() >= deadline:
                    raise
                time.sleep(0.01)

    def _check_schema(self, conn: sqlite3.Connection) -> None:
        tables = {
            name
            for (name,) in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            )
        }
        if not tables:
            for statement in _statements(_SCHEMA):
                conn.execute(statement)
            conn.executemany(
                "INSERT INTO meta VALUES (?, ?)",
                [("format", FORMAT), ("version", SCHEMA_VERSION)],
            )
            return
        meta = (
            dict(conn.execute("SELECT key, value FROM meta").fetchall()) if "meta" in tables else {}
        )
        if meta.get("format") != FORMAT:
            raise OutboxError(
                f"{self._path} is a SQLite database but not a redo-kit outbox (it holds "
                f"the tables {', '.join(sorted(tables))}); give the batcher a path of its "
                "own: a new file is created there",
                path=self._path,
            )
        version = meta.get("version")
        if not isinstance(version, int) or version > SCHEMA_VERSION:
            raise OutboxError(
                f"{self._path} is an outbox of layout {version!r}, newer than this "
                f"redo-kit reads ({SCHEMA_VERSION}); upgrade redo-kit to drain it",
                path=self._path,
            )
        if version == 1:
            conn.execute(_FROM_LAYOUT_1)
        if version <= 2:
            _from_layout_2(conn)
            conn.execute("UPDATE meta SET value = ? WHERE key = 'version'", (SCHEMA_VERSION,))

    # -- errors and guards ---------------------------------------------------

    def _error(self, doing: str, error: sqlite3.Error) -> OutboxError:
        hint = ""
        if _busy(error):
            hint = (
                f"; another process held the file longer than busy_timeout "
                f"({self._busy_timeout:g} s)"
            )
        return OutboxError(f"outbox {self._path}: {doing} failed: {error}{hint}", path=self._path)

    def _usable(self) -> None:
        """Raise unless this handle belongs to this process. Lock held or not."""
        if self._pid != os.getpid():
            raise OutboxError(
                f"outbox {self._path} was opened in process {self._pid} and cannot be used "
                f"in process {os.getpid()}, a child made by os.fork: a SQLite connection "
                "must not cross a fork; use outbox.fork_child() in the child",
                path=self._path,
            )

    def _suspend(self) -> None:
        """Before ``os.fork``: wait for what runs on the file, then close its connections."""
        self._lock.acquire()
        self._checkpointer.lock.acquire()
        self._checkpointer.disconnect()
        self._conn.close()

    def _resume(self) -> None:
        """After ``os.fork``, in the parent: reopen the file and carry on."""
        try:
            if not self._closed:
                self._conn = self._open()
        except OutboxError as error:  # pragma: no cover - the file was open a moment ago
            logger.warning("%s; the outbox is unusable in this process", error)
        finally:
            self._checkpointer.lock.release()
            self._lock.release()

    def _orphan(self) -> None:
        """After ``os.fork``, in the child: the handle stays closed; every use raises."""
        self._checkpointer.lock.release()
        self._lock.release()

    @contextlib.contextmanager
    def _writing(self, doing: str) -> Iterator[sqlite3.Connection]:
        """A write transaction, taken at once; SQLite errors raised as :class:`OutboxError`."""
        conn = self._conn
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        except sqlite3.Error as error:
            if conn.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
            raise self._error(doing, error) from error

    # -- put -----------------------------------------------------------------

    def put(self, event: PreparedEvent) -> tuple[int, list[Dropped]]:
        """Keep ``event``; returns once it is committed.

        Puts from several threads commit together (group commit, as a
        database does for its log): a put that finds another thread's
        commit under way joins the next group and waits, and the thread
        that commits takes every put waiting at that moment into one
        transaction, then gives each its own seq, or its own
        :class:`OutboxError` if that transaction failed (then none of the
        group is stored). A put that finds no commit under way commits at
        once: alone, a put is one INSERT committed on its own (a statement
        in autocommit mode is its own transaction), a third of the
        statements of a transaction that first reads the counts, and one
        page written to the WAL, the events table's leaf (see _SCHEMA; a
        put that starts a new leaf writes its parent too).

        A put alone reads the counts again every ``_RECOUNT_EVERY`` puts
        and whenever the last reading was within ``_MARGIN_EVENTS`` events
        or ``_MARGIN_BYTES`` bytes of a bound, so that the bound is exact
        for one process, and for several processes putting at once
        overshot by at most their puts between two readings. A group reads
        them in its transaction, in the statement that reads the newest
        seq, and admits each of its events on them as if they were put one
        after the other. From the first event the bounds refuse on, each
        put of the group is its own transaction again, in its own thread,
        under the overflow policy exactly as a put alone (a blocking wait
        included).

        A put interrupted while it waits for its group (a
        ``KeyboardInterrupt``) leaves its event in the group, which stores
        it all the same; only its seq is not returned. A put interrupted in
        its own commit, or when the bounds refused it and it is put alone
        again, may or may not have stored its event, as a put alone; the
        other puts of an interrupted group commit go to the next thread's
        commit, or get their seqs if the interrupt came after the COMMIT.
        """
        self._usable()
        size = len(event.body)
        # acquire(False), not blocking=False: the keyword cost a put alone a
        # quarter of a microsecond.
        if not self._turn.acquire(False):
            return self._join(event, size)
        # This thread has the turn. Alone and far from the bounds, its put is
        # one INSERT in autocommit mode, and two looks at the queue.
        try:
            with self._lock:
                # Read without the gate: only the thread whose turn it is
                # takes from the queue, so a put that joins after this look
                # waits for the turn this thread hands on.
                if (
                    not self._waiting
                    and not self._closed
                    and (after := self._counts_after(size)) is not None
                ):
                    seq = self._insert(self._conn, event, size)
                    self._seen = after
                    self._keep(seq, event)
                    self._wrote()
                    self._woke_by(size)
                else:
                    seq = 0
        except sqlite3.Error as error:
            self._turn.release()
            if self._waiting:
                self._joined_meanwhile()
            raise self._error("put", error) from error
        except BaseException:
            self._hand_on([], None, interrupted=True)
            raise
        if seq:
            self._turn.release()
            if self._waiting:
                self._joined_meanwhile()
            return seq, []
        # Puts came while this thread waited for the connection, or the
        # counts are to be read: a group, this put first.
        mine = _Put(event, size)
        with self._gate:
            self._waiting.insert(0, mine)
        self._lead(mine)
        return self._outcome(mine)

    def _join(self, event: PreparedEvent, size: int) -> tuple[int, list[Dropped]]:
        """Put ``event`` in the next group, another thread having the turn."""
        mine = _Put(event, size)
        wake = mine.wake = threading.Lock()
        wake.acquire()
        with self._gate:
            self._waiting.append(mine)
        # The turn may have ended since this thread's look, before the put
        # was in the queue for it to be handed on: then it is this thread's.
        if self._turn.acquire(blocking=False):
            self._lead(mine)
        else:
            self._follow(mine, wake)
        return self._outcome(mine)

    def _outcome(self, mine: _Put) -> tuple[int, list[Dropped]]:
        """What ``put`` returns for a settled put: its result, its error, or a put alone."""
        if mine.error is not None:
            raise mine.error
        if mine.result is not None:
            return mine.result
        with self._lock:
            return self._put_alone(mine.event, mine.size)

    def _joined_meanwhile(self) -> None:
        """Lead the puts that joined during a put alone, unless another thread took the turn.

        A put alone lets the turn go before it looks at the queue, without
        the gate: a put that joined before the look is seen, and one that
        joins after it takes the turn itself (see :meth:`_join`), so no put
        is left with nobody to commit it.
        """
        if self._turn.acquire(blocking=False):
            self._lead(None)

    def _follow(self, mine: _Put, wake: threading.Lock) -> None:
        """Wait until ``mine`` is settled, leading its group if the turn comes to this thread."""
        try:
            wake.acquire()
            if not mine.done:
                self._lead(mine)
        except BaseException:
            with self._gate:
                mine.gone = True
                turn = mine.lead and not mine.done
            # Handed the turn just as it was interrupted: nobody else commits
            # the group now, so this thread does, then lets the interrupt go on.
            if turn:
                self._lead(mine)
            raise

    def _lead(self, mine: _Put | None) -> None:
        """Commit every put waiting, then hand the turn to the next waiting thread.

        Should only puts whose threads were interrupted be left waiting,
        nobody else would commit them: this thread commits them too.
        """
        while True:
            group: list[_Put] = []
            try:
                with self._lock:
                    # Taken once the connection is ours: puts that came while
                    # a lease or the last group held it go in this group.
                    with self._gate:
                        group, self._waiting = self._waiting, []
                    self._commit(group, mine)
            except BaseException:
                self._hand_on(group, mine, interrupted=True)
                raise
            if not self._hand_on(group, mine, interrupted=False):
                return
            mine = None

    def _hand_on(self, group: list[_Put], mine: _Put | None, *, interrupted: bool) -> bool:
        """Wake the settled puts of ``group`` and the thread whose turn is next.

        Puts of ``group`` left unsettled by an interrupt go back to the
        head of the queue, for the next thread to commit (all but this
        thread's own, which may have been stored already: an autocommit
        INSERT interrupted after it returned). Whether this thread must
        commit again: only puts whose threads are gone are waiting.
        """
        with self._gate:
            if interrupted:
                self._waiting[:0] = [put for put in group if not put.done and put is not mine]
            for put in group:
                if put.done and put is not mine and put.wake is not None:
                    put.wake.release()
            if mine is not None:
                mine.lead = False
            for put in self._waiting:
                # A put with no wake lock led from the start and never waits here.
                if put.wake is not None and not put.gone:
                    # The turn passes on held: no other thread takes it between.
                    put.lead = True
                    put.wake.release()
                    return False
            if self._waiting and not interrupted:
                return True
            # Any put still waiting goes in the next put's group.
            self._turn.release()
            return False

    def _commit(self, group: list[_Put], mine: _Put | None) -> None:
        """Store the puts of ``group`` in one commit, and settle each. Lock held.

        A put alone and far from the bounds is one INSERT. A group
        reads the counts in its transaction (one statement with the newest
        seq it needs anyway), so each of its events is admitted on the exact
        counts, as if put one after the other; from the first one refused
        on, puts are settled with neither a result nor an error: each thread
        then puts its own event alone, under the overflow policy.
        """
        if self._closed:
            for put in group:
                put.result = (0, [(put.event, "closed")])
                put.done = True
            return
        if (
            mine is not None
            and len(group) == 1
            and group[0] is mine
            and (after := self._counts_after(mine.size)) is not None
        ):
            try:
                seq = self._insert(self._conn, mine.event, mine.size)
            except sqlite3.Error as error:
                self._failed(group, error)
                return
            self._stored(group, [seq], after)
            return
        self._insert_group(group)

    def _counts_after(self, size: int) -> tuple[int, int, int] | None:
        """``_seen`` after one more put of ``size`` bytes, if that put may skip reading the
        counts (far from the bounds, no recount due); ``None`` if it must read them. Lock held."""
        seen_events, seen_bytes, since = self._seen
        if (
            since < _RECOUNT_EVERY
            and seen_events + _MARGIN_EVENTS < self._max_events
            and seen_bytes + size + _MARGIN_BYTES < self._max_bytes
        ):
            return seen_events + 1, seen_bytes + size, since + 1
        return None

    def _insert_group(self, group: list[_Put]) -> None:
        """Insert the puts of ``group`` the counts admit, in one transaction. Lock held.

        The newest seq and total are read once, in the transaction that
        holds the file, and each row's computed from them, rather than by
        the subqueries of ``_INSERT`` once per row. A failure fails every
        put of the group, and stores none.
        """
        conn = self._conn
        now = time.time()
        rows: list[tuple[int, str, bytes, int, float, int]] = []
        seen = self._seen
        begun = False
        try:
            conn.execute("BEGIN IMMEDIATE")
            begun = True
            seq, total, held, held_bytes = conn.execute(_NEWEST).fetchone()
            held = max(0, held - len(self._flying))
            held_bytes = max(0, held_bytes - self._flying_bytes)
            for put in group:
                if not self._admits(held, held_bytes, put.size):
                    break
                seq += 1
                total += put.size
                held += 1
                held_bytes += put.size
                rows.append((seq, put.event.unique_id, put.event.body, put.size, now, total))
            seen = (held, held_bytes, 0)
            conn.executemany(_INSERT_ROW, rows)
            conn.execute("COMMIT")
        except sqlite3.Error as error:
            if conn.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
            self._failed(group, error)
            return
        except BaseException:
            # Interrupted. Still in the transaction: nothing is stored. Out of
            # it after BEGIN (begun is set while the transaction is open): the
            # COMMIT ran, and the rows are stored; settled here, so that no put
            # of them goes again.
            if conn.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
            elif begun:
                self._stored(group[: len(rows)], [row[0] for row in rows], seen)
            raise
        self._stored(group[: len(rows)], [row[0] for row in rows], seen)
        for put in group[len(rows) :]:
            put.done = True

    def _stored(self, group: list[_Put], seqs: list[int], seen: tuple[int, int, int]) -> None:
        """Settle the puts of ``group``, committed together with ``seqs``. Lock held.

        ``seen``: the counts after them, for the next put's ``_seen``.
        """
        self._seen = seen
        for put, seq in zip(group, seqs, strict=True):
            put.result = (seq, [])
            put.done = True
            self._keep(seq, put.event)
            self._woke_by(put.size)
        # Counts commits, not events: what a checkpoint copies is the WAL,
        # and a group's commit writes about the pages of one put (the leaf
        # its rows share).
        if seqs:
            self._wrote()

    def _failed(self, group: list[_Put], error: sqlite3.Error) -> None:
        """Settle each put of ``group`` with an error of its own, to raise in its own thread."""
        for put in group:
            put.error = self._error("put", error)
            put.error.__cause__ = error
            put.done = True

    def _put_alone(self, event: PreparedEvent, size: int) -> tuple[int, list[Dropped]]:
        """Put ``event`` near a bound: the counts read, and the overflow policy. Lock held."""
        self._usable()
        if self._closed:
            return 0, [(event, "closed")]
        dropped: list[Dropped] = []
        with self._writing("put") as conn:
            held, held_bytes = self._held(conn)
            self._seen = (held + 1, held_bytes + size, 0)
            if self._admits(held, held_bytes, size):
                seq = self._insert(conn, event, size)
            elif self._overflow == "drop_oldest":
                dropped = self._evict(conn, held, held_bytes, size)
                seq = self._insert(conn, event, size)
            elif self._overflow == "raise":
                raise queue_full(held, held_bytes, event)
            else:
                seq = 0
        if seq:
            self._keep(seq, event)
            self._wrote()
            self._woke_by(size)
            return seq, dropped
        if self._overflow == "drop_newest":
            return 0, [(event, "queue-full")]
        return self._put_blocking(event, size)

    def _keep(self, seq: int, event: PreparedEvent) -> None:
        """Remember a committed event for this handle's next leases, if it drains. Lock held."""
        if self._holding and len(self._recent) < _RECENT_EVENTS:
            self._recent[seq] = event

    def _held(self, conn: sqlite3.Connection) -> tuple[int, int]:
        """Events and bytes held: the file's, less this handle's leased ones. Lock held."""
        events, size = conn.execute(_HELD).fetchone()
        return max(0, events - len(self._flying)), max(0, size - self._flying_bytes)

    def _admits(self, held: int, held_bytes: int, size: int) -> bool:
        return admits(
            held, held_bytes, size, max_events=self._max_events, max_bytes=self._max_bytes
        )

    def _insert(self, conn: sqlite3.Connection, event: PreparedEvent, size: int) -> int:
        cursor = conn.execute(_INSERT, (event.unique_id, event.body, size, time.time()))
        seq = cursor.lastrowid
        if seq is None:  # pragma: no cover - an INSERT always sets it
            raise OutboxError(f"outbox {self._path}: put stored no row", path=self._path)
        return seq

    def _evict(
        self, conn: sqlite3.Connection, held: int, held_bytes: int, size: int
    ) -> list[Dropped]:
        """Delete the oldest waiting events until one of ``size`` fits; them, as dropped."""
        dropped: list[Dropped] = []
        gone: list[tuple[int]] = []
        after = 0
        while not self._admits(held, held_bytes, size):
            rows = conn.execute(_OLDEST, (after,)).fetchall()
            if not rows:  # pragma: no cover - held > 0 means a waiting row exists
                break
            for seq, unique_id, body, body_size in rows:
                if self._admits(held, held_bytes, size):
                    break
                after = seq
                if seq in self._flying:
                    continue
                kept = self._recent.pop(seq, None)
                if kept is None:
                    kept = self._event(seq, unique_id, body)
                dropped.append((kept, "evicted"))
                gone.append((seq,))
                held -= 1
                held_bytes -= body_size
        conn.executemany("DELETE FROM events WHERE seq = ?", gone)
        return dropped

    def _put_blocking(self, event: PreparedEvent, size: int) -> tuple[int, list[Dropped]]:
        """Wait up to ``block_timeout`` for room, looking again at every wake-up. Lock held."""
        deadline = time.monotonic() + self._block_timeout
        self._blocked += 1
        try:
            while True:
                remaining = deadline - time.monotonic()
                if self._closed or remaining <= 0:
                    reason: DropReason = "closed" if self._closed else "queue-full"
                    return 0, [(event, reason)]
                self._room.wait(min(remaining, self._poll))
                if self._closed:
                    continue
                with self._writing("put") as conn:
                    held, held_bytes = self._held(conn)
                    seq = (
                        self._insert(conn, event, size)
                        if self._admits(held, held_bytes, size)
                        else 0
                    )
                if seq:
                    self._keep(seq, event)
                    self._wrote()
                    self._woke_by(size)
                    return seq, []
        finally:
            self._blocked -= 1

    def _wrote(self) -> None:
        """Count a commit; every _CHECKPOINT_EVERY of them, ask for a checkpoint. Lock held."""
        self._writes += 1
        if self._writes % _CHECKPOINT_EVERY == 0:
            self._checkpointer.ask()

    def _woke_by(self, size: int) -> None:
        """Wake a waiting lease if this put may have made it ready. Lock held."""
        room = self._watch
        if room is None:
            return
        self._watch_events += 1
        self._watch_bytes += size
        if self._watch_events == 1 or room.would_fill(self._watch_events, self._watch_bytes):
            self._ready.notify()

    # -- lease ---------------------------------------------------------------

    def lease(
        self, room: Room, *, linger: float, wait: float, urgent_through: int = 0
    ) -> Lease | None:
        deadline = time.monotonic() + wait
        with self._lock:
            self._usable()
            try:
                while not self._closed:
                    found = self._try_lease(room, linger, urgent_through)
                    if isinstance(found, _Taken):
                        self._woken = False
                        if self._blocked:
                            self._room.notify(len(found.rows))
                        break
                    if self._woken:
                        self._woken = False
                        return None
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        return None
                    pause = min(found, remaining, self._poll)
                    if pause > 0:
                        self._ready.wait(pause)
                else:
                    return None
            finally:
                self._watch = None
        # Parsed outside the lock: a put does not wait for 100 events to be read.
        rows = found.rows
        return Lease(
            events=tuple(
                self._event(row[0], *found.bodies[row[0]]) if event is None else event
                for row, event in zip(rows, found.recent, strict=True)
            ),
            enqueued_at=min(row[2] for row in rows),
            attempts=max(row[3] for row in rows),
            token=found.token,
        )

    def _try_lease(self, room: Room, linger: float, urgent_through: int) -> _Taken | float:
        """A lease if events are ready, else seconds until they may be. Lock held.

        Reads, and writes nothing but the drain lease's row (when taken
        over, and its renewal every tenth of ``drain_ttl``). Due rows are of
        two kinds, read in one snapshot and merged in seq order: released
        ones whose ``retry_at`` came, found through ``events_later``, and
        fresh ones (``retry_at`` 0), read from just after ``_cursor``: every
        fresh row up to it is in a request of this handle (the invariant),
        and every row put since the last look has a higher seq. Rows in a
        request are skipped. The rows are read without their bodies; those
        of the taken rows not in ``_recent`` are read in the same snapshot,
        where every row read still is. Also records what was seen in
        ``_watch`` for :meth:`_woke_by`.
        """
        self._watch = None
        self._write_settled()
        conn = self._conn
        try:
            now = time.time()
            conn.execute("BEGIN")
            try:
                # The holder reads the drain row in the rows' snapshot: one
                # read transaction per look rather than two. Taking the drain
                # over writes, which it does outside: a write in a read
                # transaction fails once another connection wrote since.
                if not (self._holding and conn.execute(_OWNER).fetchone()[0] == self._owner):
                    conn.execute("COMMIT")
                    if not self._claim(conn, now):
                        return self._poll
                    conn.execute("BEGIN")
                seen = self._look(conn, room, linger, urgent_through, now)
            finally:
                if conn.in_transaction:
                    conn.execute("COMMIT")
            self._keep_holding(now)
        except sqlite3.Error as error:
            if conn.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
            raise self._error("lease", error) from error
        if not isinstance(seen, tuple):
            return seen
        taken, fresh, top, bodies = seen
        self._token += 1
        seqs = [row[0] for row in taken]
        flight = _Flight(seqs=tuple(seqs), runs=_runs(seqs), size=sum(r[1] for r in taken))
        self._flights[self._token] = flight
        self._flying.update(seqs)
        self._flying_bytes += flight.size
        # The taken rows are the first due ones in seq order: every fresh row
        # up to the last one taken is in a request now, and if each fresh row
        # read was taken, so is every fresh row up to the newest seq.
        fresh_seqs = {row[0] for row in fresh}
        taken_fresh = [seq for seq in seqs if seq in fresh_seqs]
        if taken_fresh:
            self._cursor = max(self._cursor, taken_fresh[-1])
        if top is not None and len(taken_fresh) == len(fresh):
            self._cursor = max(self._cursor, int(top))
        recent = self._recent
        return _Taken(
            token=self._token,
            rows=taken,
            recent=[recent.pop(seq, None) for seq in seqs],
            bodies=bodies,
        )

    def _look(
        self, conn: sqlite3.Connection, room: Room, linger: float, urgent_through: int, now: float
    ) -> _Seen | float:
        """The due rows a lease takes, or seconds until some may be ready; see :meth:`_try_lease`.

        In the caller's read transaction. Lock held.
        """
        flying = self._flying
        # Rows in a request lie past the cursor only when it started again
        # from the oldest row (a takeover): then they are read too, and skipped.
        ahead = len(flying) if flying and self._newest_flying() > self._cursor else 0
        again: list[_Row] = conn.execute(_DUE_AGAIN, (now, self._most + len(flying))).fetchall()
        fresh: list[_Row] = conn.execute(_DUE, (self._cursor, self._most + ahead)).fetchall()
        # Read to the end: no fresh row past the newest seq but those in requests.
        top = conn.execute(_TOP).fetchone()[0] if len(fresh) < self._most + ahead else None
        if flying:
            again = [row for row in again if row[0] not in flying]
            fresh = [row for row in fresh if row[0] not in flying]
        rows = (
            list(itertools.islice(heapq.merge(again, fresh), self._most))
            if again
            else fresh[: self._most]
        )
        due_bytes = sum(row[1] for row in rows)
        if not rows or not (
            rows[0][0] <= urgent_through
            or now - rows[0][2] >= linger
            or room.would_fill(len(rows), due_bytes)
        ):
            if not fresh and top is not None:
                self._cursor = max(self._cursor, int(top))
            self._watch = room
            self._watch_events = len(rows)
            self._watch_bytes = due_bytes
            if rows:
                return float(rows[0][2]) + linger - now
            (next_due,) = conn.execute(_NEXT_DUE, (now,)).fetchone()
            return self._poll if next_due is None else float(next_due) - now
        taken = []
        for row in rows:
            if not room.take(row[1]):
                break
            taken.append(row)
        recent = self._recent
        unread = [row[0] for row in taken if row[0] not in recent]
        bodies: dict[int, tuple[str, bytes]] = {}
        for run in _runs(unread) if unread else ():
            bodies.update(
                (seq, (unique_id, body)) for seq, unique_id, body in conn.execute(_BODIES, run)
            )
        return taken, fresh, top, bodies

    def _newest_flying(self) -> int:
        """The highest seq in ``_flying``: each flight's seqs ascend. Lock held."""
        return max(
            max((flight.seqs[-1] for flight in self._flights.values()), default=0),
            max((flight.seqs[-1] for *_, flight in self._settling), default=0),
        )

    def _claim(self, conn: sqlite3.Connection, now: float) -> bool:
        """Whether this handle holds the drain lease, taking it if free or its holder is gone.

        Renews it at most every tenth of ``drain_ttl``. A handle that takes it
        over reads the file from its oldest row again.
        """
        owner, pid, host, expires = conn.execute(_DRAIN).fetchone()
        if owner == self._owner:
            self._holding = True
            self._keep_holding(now)
            return True
        self._holding = False
        self._recent.clear()
        if owner is not None and not self._gone(pid, host, expires):
            return False
        with self._writing("lease") as writing:
            owner, pid, host, expires = writing.execute(_DRAIN).fetchone()
            if owner is not None and owner != self._owner and not self._gone(pid, host, expires):
                return False
            writing.execute(_HOLD, (self._owner, os.getpid(), _HOST, now + self._drain_ttl))
        self._holding = True
        self._renewed = now
        self._cursor = 0
        return True

    def _gone(self, pid: int | None, host: str | None, expires: float) -> bool:
        if expires <= time.time():
            return True
        return host == _HOST and pid is not None and not _alive(pid)

    def _keep_holding(self, now: float) -> None:
        """Push the drain lease's expiry on while it is ours, at most every tenth of ``drain_ttl``.

        Settling a lease shows the holder alive as much as leasing does: a
        drain busy with slow requests keeps the lease without calling
        ``lease()``. Lock held.
        """
        if self._holding and now - self._renewed >= self._drain_ttl / 10:
            self._conn.execute(
                "UPDATE drain SET expires = ? WHERE owner = ?", (now + self._drain_ttl, self._owner)
            )
            self._renewed = now

    def _event(self, seq: int, unique_id: str, body: bytes) -> PreparedEvent:
        try:
            payload = loads_exact(body)
        except ValueError as error:
            raise OutboxError(
                f"outbox {self._path}: event {seq} ({unique_id!r}) is not JSON: {error}",
                path=self._path,
            ) from error
        return PreparedEvent(payload=payload, body=bytes(body), unique_id=unique_id)

    # -- settling ------------------------------------------------------------

    def ack(self, lease: Lease) -> None:
        self._settle("ack", lease, _ACK, ())

    def release(self, lease: Lease, *, retry_at: float) -> None:
        flight = self._settle("release", lease, _RELEASE, (max(retry_at, _SOON),))
        with self._lock:
            # Leased again later, they need no parsing.
            if flight is not None:
                for seq, event in zip(flight.seqs, lease.events, strict=True):
                    self._keep(seq, event)
            self._ready.notify()

    def _settle(
        self, doing: str, lease: Lease, statement: str, leading: tuple[float, ...]
    ) -> _Flight | None:
        """Run ``statement`` on each run of the lease's rows, and forget the lease.

        A lease this handle does not know (already settled, or from before
        it was closed) changes nothing. A file another process holds past
        ``busy_timeout`` does not fail the settling: the write waits in
        memory, its rows still out of reach of a lease, and the next
        ``lease()`` or settling tries it again first (and fails while the
        file stays busy). Should the process end before, the rows are still
        in the file, and the next holder sends them again. The lease's
        flight, if this handle knew it.
        """
        with self._lock:
            self._usable()
            if self._closed:
                return None
            flight = self._flights.pop(lease.token, None)
            if flight is not None:
                params = [(*leading, *run, self._owner) for run in flight.runs]
                self._settling.append((doing, statement, params, flight))
            try:
                self._write_settled()
            except OutboxError as error:
                if not _busy(error.__cause__):
                    raise
                logger.debug("%s; tried again at the next lease", error)
            return flight

    def _write_settled(self) -> None:
        """Write the settlings waiting in memory, oldest first. Lock held."""
        conn = self._conn
        while self._settling:
            doing, statement, params, flight = self._settling[0]
            try:
                if len(params) == 1:
                    conn.execute(statement, params[0])
                else:
                    with self._writing(doing):
                        conn.executemany(statement, params)
                self._keep_holding(time.time())
            except sqlite3.Error as error:
                raise self._error(doing, error) from error
            del self._settling[0]
            self._flying.difference_update(flight.seqs)
            self._flying_bytes -= flight.size
            self._wrote()

    def wake(self) -> None:
        with self._lock:
            self._woken = True
            self._ready.notify_all()

    def size(self) -> OutboxSize:
        with self._lock:
            self._usable()
            if self._final is not None:
                return self._final
            return self._size()

    def _size(self) -> OutboxSize:
        try:
            events, size, oldest, last = self._conn.execute(_SIZE).fetchone()
        except sqlite3.Error as error:
            raise self._error("size", error) from error
        return OutboxSize(
            events=events,
            bytes=size,
            leased=min(events, len(self._flying)),
            oldest=oldest,
            last_put=last or 0,
        )

    def drainer(self) -> tuple[int, str, float] | None:
        """Who drains the file now: ``(pid, host, expires)``, or ``None`` when nobody does.

        ``expires`` is the Unix time the drain lease passes on unless renewed.
        """
        with self._lock:
            self._usable()
            try:
                owner, pid, host, expires = self._conn.execute(_DRAIN).fetchone()
            except sqlite3.Error as error:
                raise self._error("drainer", error) from error
        if owner is None or expires < time.time():
            return None
        return int(pid), str(host), float(expires)

    def close(self) -> list[PreparedEvent]:
        """Give the drain lease up and close the file; no event is lost (returns ``[]``).

        Events still leased by this handle are due again for the next
        holder, one attempt more (their request may have been sent).
        Afterwards ``put`` refuses events as ``closed``, ``lease`` returns
        ``None``, ``ack`` and ``release`` do nothing (their events are due
        again already) and ``size`` gives the counts at closing. In a child
        made by ``os.fork`` it does nothing: the handle is the parent's.
        """
        with self._lock:
            if self._closed or self._pid != os.getpid():
                return []
            self._closed = True
            _OPEN.discard(self)
            try:
                # Still busy: the rows stay, and the next holder sends them again.
                with contextlib.suppress(OutboxError):
                    self._write_settled()
                with self._writing("close") as conn:
                    owner = conn.execute(_DRAIN).fetchone()[0]
                    if owner == self._owner:
                        conn.executemany(
                            _ONE_MORE, [run for f in self._flights.values() for run in f.runs]
                        )
                        conn.execute("UPDATE drain SET owner = NULL, pid = NULL, host = NULL")
                self._flights.clear()
                self._recent.clear()
                self._settling.clear()
                self._flying.clear()
                self._flying_bytes = 0
                self._final = self._size()
            finally:
                self._holding = False
                self._checkpointer.stop()
                self._conn.close()
                self._ready.notify_all()
                self._room.notify_all()
        return []

    def fork_child(self) -> SqliteOutbox:
        """A new handle on the same file, with the same settings, for a child after ``os.fork``."""
        return SqliteOutbox(
            self._path,
            max_events=self._max_events,
            max_bytes=self._max_bytes,
            overflow=self._overflow,
            block_timeout=self._block_timeout,
            synchronous=self._synchronous,
            busy_timeout=self._busy_timeout,
            drain_ttl=self._drain_ttl,
            poll_interval=self._poll,
        )


def _from_layout_2(conn: sqlite3.Connection) -> None:
    """Make the events and counts tables of layout 2 those of this layout (see _LAYOUT_2_COUNTS).

    The new tables are created from _SCHEMA's own statements, so that a
    migrated file has the layout of a new one. In the caller's transaction.
    """
    create = {
        statement.split()[2]: statement
        for statement in _statements(_SCHEMA)
        if statement.startswith("CREATE")
    }
    conn.execute(create["events"].replace("events", "events_3", 1))
    conn.execute(_FROM_LAYOUT_2_ROWS)
    top, held, held_bytes = conn.execute(_LAYOUT_2_COUNTS).fetchone()
    conn.execute("DROP TABLE events")
    conn.execute("DROP TABLE counts")
    conn.execute("ALTER TABLE events_3 RENAME TO events")
    for name in ("events_later", "counts", "count_gone"):
        conn.execute(create[name])
    conn.execute("INSERT INTO counts VALUES (1, ?, ?, ?, 0)", (top, held_bytes, top - held))


def _statements(script: str) -> list[str]:
    """The statements of ``script``, each ended where :func:`sqlite3.complete_statement` says."""
    statements: list[str] = []
    current = ""
    for line in script.splitlines(keepends=True):
        current += line
        if sqlite3.complete_statement(current):
            statements.append(current.strip())
            current = ""
    return statements
