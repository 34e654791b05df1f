"""Backfill events from a file: stream, prepare, send in bulk, checkpoint, report.

``import_events`` reads records through a reader (one wire event per line of
JSON Lines by default, CSV rows through :mod:`redo_kit._csv_input`, or
Klaviyo payloads through ``redo_kit.klaviyo.KlaviyoReader``) and takes
each through ``prepare_event`` (events without a ``uniqueId`` get a
content-derived one, so a re-run sends the same ids and the API stores nothing
twice). Valid events go out through the delivery engine (:mod:`redo_kit._delivery`)
in bulk requests as large as the spec allows (100 events and 5 MB in the shipped
one), several in flight at once, paced at the store's rate limit. Invalid records are
reported with their line number and every problem; they never stop the run.

Memory stays bounded whatever the input's size: at most ``2 x concurrency``
requests are waiting at any time. Progress is measured by a watermark, the
position up to which every line has been delivered or rejected; it is what a
checkpoint records, so a run stopped at any moment (Ctrl-C, ``kill -9``)
resumes from there. Lines after the watermark may have been sent already: their
uniqueIds make sending them again harmless.

Every byte read is hashed as it is read (sha256, in order), and a position
carries the hash of the bytes before it, so a checkpoint proves which bytes it
skips. Lines are read in bounded memory: a line longer than any event can be
(:func:`line_limit`) is read past in chunks and rejected as ``line-too-long``.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import tempfile
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import attrs
import orjson

from redo_kit._delivery import Batch, Job, Outcome, Packer, Sent, ServerRejection, deliver
from redo_kit._errors import APIError, ConfigurationError, Problem, ValidationError
from redo_kit._events import PreparedEvent, PrepareOptions, prepare_event
from redo_kit._json import loads_exact
from redo_kit._rules import limits

if TYPE_CHECKING:
    from redo_kit._client import RedoClient
    from redo_kit._plan import TrackingPlan

__all__ = [
    "BOM",
    "LINE_SLACK",
    "Checkpoint",
    "HashedInput",
    "ImportProgress",
    "ImportResult",
    "LineRejection",
    "LineSource",
    "Position",
    "Reader",
    "Record",
    "import_events",
    "line_limit",
    "line_too_long",
    "next_line",
    "not_utf8",
    "read_jsonl",
]

GZIP_MAGIC = b"\x1f\x8b"
"""The first bytes of a gzip file: such an input is read decompressed."""

BOM = b"\xef\xbb\xbf"
"""The UTF-8 byte order mark; at the start of line 1 it is not part of the data."""

LINE_SLACK = 65536
"""Bytes a line may hold beyond the largest event: whitespace around the JSON, a CR."""

_SKIP_CHUNK = 1 << 20
"""Bytes read at a time when reading past a line that is too long, or a prefix to verify."""


class LineSource(Protocol):
    """What a reader reads from: a binary input's ``readline`` (with a size limit) and ``read``."""

    def readline(self, size: int = -1, /) -> bytes: ...

    def read(self, size: int = -1, /) -> bytes: ...


def line_limit() -> int:
    """The longest line that may hold an event, in bytes, its line break not counted.

    The spec's largest event (``limits().max_event_bytes``, compact UTF-8 JSON)
    plus ``LINE_SLACK`` (64 KiB) for whitespace. A longer line is rejected
    unread, whatever it holds.
    """
    return limits().max_event_bytes + LINE_SLACK


def next_line(
    source: LineSource, read_past: Callable[[bytes], None] | None = None
) -> tuple[bytes | None, int]:
    """The next line of ``source`` and its size in bytes; ``(b"", 0)`` at the end.

    A line longer than :func:`line_limit` is read past in chunks, never held
    whole, and comes back as ``(None, size)``; ``read_past`` sees each chunk.
    """
    limit = line_limit()
    raw = source.readline(limit + 1)
    if len(raw) <= limit or raw.endswith(b"\n"):
        return raw, len(raw)
    size = len(raw)
    while raw:
        if read_past is not None:
            read_past(raw)
        if raw.endswith(b"\n"):
            break
        raw = source.readline(_SKIP_CHUNK)
        size += len(raw)
    return None, size


def line_too_long(size: int, what: str = "line") -> Problem:
    """The problem of a line (or CSV row) of ``size`` bytes, past :func:`line_limit`."""
    return Problem(
        path="$",
        rule="line-too-long",
        message=f"the {what} is {size:,} bytes, longer than any event can be "
        f"({limits().max_event_bytes:,} bytes of JSON, plus {LINE_SLACK:,} for whitespace); "
        "it was not read",
        hint="split the data over several events, or write the JSON compactly",
    )


def not_utf8(offset: int, what: str = "line") -> Problem:
    """The problem of a line whose bytes are not UTF-8, from byte ``offset`` of the input."""
    return Problem(
        path="$",
        rule="encoding",
        message=f"the {what} is not valid UTF-8 (at byte offset {offset:,} of the input)",
        hint="save the file as UTF-8",
    )


@attrs.frozen(kw_only=True)
class Position:
    """A place in the input: the number of lines consumed and their size in bytes.

    ``sha256`` is the hex sha256 of those bytes (decompressed for a gzip input)
    when known, else empty; it proves which bytes a checkpoint skips. Two
    positions are equal when they are at the same place.
    """

    line: int = 0
    offset: int = 0
    sha256: str = attrs.field(default="", eq=False)


class _RunningHash(Protocol):
    """What the importer uses of a ``hashlib`` hash."""

    def update(self, data: bytes, /) -> None: ...

    def copy(self) -> _RunningHash: ...

    def hexdigest(self) -> str: ...


class HashedInput:
    """A binary input, with the count and running sha256 of the bytes read through it.

    Built at the start of the input (``start`` omitted) it hashes every byte
    in order; built at another ``start``, or with ``hashing=False``, the hash
    is unknown and positions carry none.
    """

    def __init__(
        self, source: LineSource, start: Position | None = None, *, hashing: bool = True
    ) -> None:
        self._source = source
        self.offset = start.offset if start is not None else 0
        self._hash: _RunningHash | None = hashlib.sha256() if hashing and self.offset == 0 else None

    def readline(self, size: int = -1, /) -> bytes:
        """``source.readline(size)``, hashed."""
        return self._consumed(self._source.readline(size))

    def read(self, size: int = -1, /) -> bytes:
        """``source.read(size)``, hashed."""
        return self._consumed(self._source.read(size))

    def _consumed(self, data: bytes) -> bytes:
        self.offset += len(data)
        if self._hash is not None:
            self._hash.update(data)
        return data

    def state(self) -> _RunningHash | None:
        """A copy of the running hash (``None`` when unknown), to finish later."""
        return None if self._hash is None else self._hash.copy()

    def skip_to(self, position: Position) -> bool:
        """Read up to ``position``, hashing; whether those bytes are the ones it names.

        False when the input is shorter, when this input was not read from its
        start, or when the hash differs from ``position.sha256``. Memory stays
        bounded (the bytes are read in chunks of 1 MiB).
        """
        if self._hash is None or position.offset < self.offset:
            return False
        while self.offset < position.offset:
            chunk = self.read(min(_SKIP_CHUNK, position.offset - self.offset))
            if not chunk:
                return False
        return bool(position.sha256) and self._hash.hexdigest() == position.sha256


@attrs.frozen(kw_only=True)
class LineRejection:
    """A line that was not sent: its 1-based number, its ``uniqueId`` if any, every problem."""

    line: int
    unique_id: str | None
    problems: tuple[Problem, ...]

    def to_dict(self) -> dict[str, Any]:
        """The rejection as written in a rejects report (one JSON object per line)."""
        return {
            "line": self.line,
            "uniqueId": self.unique_id,
            "problems": [p.to_dict() for p in self.problems if p.severity == "error"],
        }


@attrs.frozen(kw_only=True)
class ImportProgress:
    """Counters of a run so far; ``delivered`` counts events the API accepted (202)."""

    lines: int
    bytes_read: int
    total_bytes: int | None
    valid: int
    rejected: int
    delivered: int
    requests: int
    retries: int
    rate_limited: int
    elapsed: float
    watermark: Position

    @property
    def rate(self) -> float:
        """Delivered events per second since the run started."""
        return self.delivered / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def fraction(self) -> float | None:
        """Share of the input read, 0..1, when its size is known."""
        if not self.total_bytes:
            return None
        return min(1.0, self.bytes_read / self.total_bytes)


@attrs.frozen(kw_only=True)
class ImportResult:
    """How a run ended.

    ``complete`` is true when every line was read and every valid event was
    delivered; ``error`` is the API error that stopped the run, if one did;
    ``interrupted`` is true when the run was stopped (Ctrl-C). ``undelivered``
    counts valid events that were not confirmed delivered.
    """

    progress: ImportProgress
    complete: bool
    undelivered: int
    error: APIError | None = None
    interrupted: bool = False


class Checkpoint:
    """Where a run has got to, kept in a small JSON file beside the input (or elsewhere).

    The file names the input by path and holds the sha256 of every byte before
    its position (decompressed for a gzip input): a resume first reads those
    bytes again and compares (:meth:`HashedInput.skip_to`), so a checkpoint
    never skips bytes other than those it was written after. It is replaced
    atomically (a unique temporary file, then ``os.replace``), so a crash
    leaves either the old or the new one. :meth:`lock` keeps a second run of
    the same input out.
    """

    def __init__(self, path: Path, source: Path) -> None:
        self.path = path
        self.source = source.resolve()

    @classmethod
    def beside(cls, source: Path, state_dir: Path | None = None) -> Checkpoint:
        """The checkpoint of ``source``: ``SOURCE.redo-kit-checkpoint``, or under ``state_dir``."""
        name = f"{source.name}.redo-kit-checkpoint"
        if state_dir is None:
            return cls(source.parent / name, source)
        digest = hashlib.sha256(str(source.resolve()).encode()).hexdigest()[:12]
        return cls(state_dir / f"{digest}-{name}", source)

    @property
    def lock_path(self) -> Path:
        """The lock file beside the checkpoint: ``CHECKPOINT.lock``, holding the holder's PID."""
        return self.path.with_name(self.path.name + ".lock")

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Hold the input's lock (``fcntl.flock``) for the block.

        Raises ``ConfigurationError`` naming the other run (its PID) when one
        holds it. The operating system releases the lock when its process
        ends, however it ends (``kill -9`` too), so a stale lock file is
        harmless and is left in place.
        """
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                pid = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
                who = f"process {pid}" if pid.isdigit() else "another process"
                raise ConfigurationError(
                    f"another import of {self.source} is running ({who}, lock {self.lock_path}): "
                    "wait for it to end, or stop it and run this command again to resume"
                ) from None
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
            yield
        finally:
            os.close(fd)

    def load(self) -> tuple[Position, int] | None:
        """The saved position (with its hash) and rejected-line count; None when absent.

        None too when the file is unreadable or names another input. Whether
        the input still holds the bytes before the position is for
        :meth:`HashedInput.skip_to` to say.
        """
        try:
            saved = orjson.loads(self.path.read_bytes())
        except (OSError, orjson.JSONDecodeError):
            return None
        if not isinstance(saved, dict) or saved.get("input") != str(self.source):
            return None
        try:
            position = Position(
                line=int(saved["line"]),
                offset=int(saved["offset"]),
                sha256=str(saved.get("sha256", "")),
            )
            return position, int(saved.get("rejected", 0))
        except (KeyError, TypeError, ValueError):
            return None

    def save(self, position: Position, rejected: int) -> None:
        """Record ``position`` and its hash (atomically)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        record = {
            "input": str(self.source),
            "line": position.line,
            "offset": position.offset,
            "sha256": position.sha256,
            "rejected": rejected,
            "saved_at": time.time(),
        }
        fd, temporary = tempfile.mkstemp(
            dir=self.path.parent, prefix=f".{self.path.name}.", suffix=".tmp"
        )
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(orjson.dumps(record))
            os.replace(temporary, self.path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temporary)
            raise

    def clear(self) -> None:
        """Forget the run (it finished)."""
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()


class _Run:
    """The state of one import, shared by the reading thread and the senders."""

    def __init__(self, total_bytes: int | None, start: Position, rejected: int) -> None:
        self.lock = threading.Lock()
        self.started = time.monotonic()
        self.total_bytes = total_bytes
        self.position = start
        self.lines = start.line
        self.bytes_read = start.offset
        self.valid = 0
        self.rejected = rejected
        self.delivered = 0
        self.requests = 0
        self.retries = 0
        self.rate_limited = 0
        self.watermark = start
        self.watermark_rejected = rejected
        self.unreadable = False
        self.server_rejected = 0

    def progress(self) -> ImportProgress:
        with self.lock:
            return ImportProgress(
                lines=self.lines,
                bytes_read=self.bytes_read,
                total_bytes=self.total_bytes,
                valid=self.valid,
                rejected=self.rejected,
                delivered=self.delivered,
                requests=self.requests,
                retries=self.retries,
                rate_limited=self.rate_limited,
                elapsed=time.monotonic() - self.started,
                watermark=self.watermark,
            )


Record = tuple[int, Position, Any, tuple[Problem, ...]]
"""What a reader yields for each record of its input: ``(line, end, event, problems)``.

``line`` is the 1-based line the record starts on (what a rejects report names),
``end`` the position just after it, ``event`` the wire event as far as it could
be read (``None`` when not at all) and ``problems`` what stopped the reading;
an event with problems is still checked, so the report has every problem. A
blank record is ``(line, end, None, ())``: skipped, but counted in the position.
"""

Reader = Callable[[LineSource, Position], Iterator[Record]]
"""Reads records from a binary input already positioned at the given start.

Positions must count the bytes read from the input, and a reader must not
read past the record it yields: the importer hashes what is read. The one
exception: records read from one line may all end where the line starts, but
the last, which ends where it ends (a line that holds several events).
"""


def read_jsonl(source: LineSource, start: Position) -> Iterator[Record]:
    """The records of JSON Lines: one wire event per line.

    A byte order mark at the start of line 1 is skipped; a line longer than
    :func:`line_limit` is rejected as ``line-too-long`` without being held in
    memory.
    """
    number, offset = start.line, start.offset
    while True:
        raw, size = next_line(source)
        if not size:
            return
        number += 1
        at = offset
        offset += size
        end = Position(line=number, offset=offset)
        if raw is None:
            yield number, end, None, (line_too_long(size),)
            continue
        if number == 1 and raw.startswith(BOM):
            raw, at = raw[len(BOM) :], at + len(BOM)
        if not raw.strip():
            yield number, end, None, ()
            continue
        payload, problem = _parse(raw, at)
        yield number, end, payload, () if problem is None else (problem,)


def _parse(raw: bytes, at: int) -> tuple[Any, Problem | None]:
    try:
        # Integers exactly as written, so that one beyond the spec's limit is
        # refused rather than sent as the nearest float.
        value = loads_exact(raw)
    except orjson.JSONDecodeError as exc:
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError as bad:
            return None, not_utf8(at + bad.start)
        return None, Problem(
            path="$",
            rule="json",
            message=f"not valid JSON: {exc}",
            hint="each line must hold one complete JSON object",
        )
    if not isinstance(value, dict):
        return None, Problem(
            path="$",
            rule="type",
            message=f"expected a JSON object, got {type(value).__name__}",
            hint="each line must hold one event object",
        )
    return value, None


def import_events(
    source: LineSource,
    client: RedoClient | None,
    *,
    start: Position | None = None,
    total_bytes: int | None = None,
    content_ids: bool = True,
    allow_unknown_keys: bool = False,
    default_region: str | None = None,
    plan: TrackingPlan | None = None,
    concurrency: int = 4,
    reader: Reader = read_jsonl,
    rejected_before: int = 0,
    on_reject: Callable[[LineRejection], None] | None = None,
    on_progress: Callable[[ImportProgress], None] | None = None,
    on_watermark: Callable[[Position, int], None] | None = None,
    progress_every: float = 0.5,
) -> ImportResult:
    """Import every record of ``source`` (binary) through ``client``.

    ``reader`` turns the input into records: JSON Lines by default, or
    :meth:`redo_kit.CsvInput.read` with a column mapping. ``client=None``
    only validates. ``start`` resumes after a checkpoint (``source`` must
    already be positioned there: a :class:`HashedInput` that read up to it
    keeps the positions' hashes going); ``content_ids`` gives events
    without a ``uniqueId`` one derived from their content (turn it off only for
    data where two identical lines are two real events). ``on_reject`` gets each
    invalid line; ``on_progress`` gets counters every ``progress_every`` seconds
    and at the end; ``on_watermark`` gets each new position up to which every
    line is settled, with the rejected count so far (for checkpoints).
    ``plan``: a :class:`~redo_kit._plan.TrackingPlan` every event must follow
    besides the spec (an event off a closed plan is a rejected line).
    """
    run = _Run(total_bytes, start or Position(), rejected_before)
    if isinstance(source, HashedInput):
        hashed = source
    else:
        # Only a checkpoint needs the hashes: a run without one skips the work.
        hashed = HashedInput(source, start, hashing=on_watermark is not None)
    options = PrepareOptions(
        allow_unknown_keys=allow_unknown_keys,
        default_region=default_region,
        content_unique_ids=content_ids,
        plan=plan,
    )
    error: APIError | None = None
    interrupted = False
    last_report = time.monotonic()

    def report(force: bool = False) -> None:
        nonlocal last_report
        now = time.monotonic()
        if on_progress is not None and (force or now - last_report >= progress_every):
            last_report = now
            on_progress(run.progress())

    def settle(job: Job[_Mark], outcome: Outcome | None) -> None:
        nonlocal error
        mark = job.context
        if outcome is not None:
            sent = outcome.sent
            if outcome.error is not None:
                with run.lock:
                    run.requests += sent.requests
                    run.retries += sent.retries
                    run.rate_limited += sent.rate_limited
                error = error or outcome.error
                return
            with run.lock:
                run.delivered += len(outcome.accepted)
                run.requests += sent.requests
                run.retries += sent.retries
                run.rate_limited += sent.rate_limited
            for dropped in outcome.rejected:
                _server_rejected(dropped, mark.lines[dropped.index], run, on_reject)
        end = mark.end
        if mark.hashed is not None:
            end = attrs.evolve(end, sha256=mark.hashed.hexdigest())
        run.watermark, run.watermark_rejected = end, mark.rejected
        if on_watermark is not None:
            on_watermark(run.watermark, run.watermark_rejected)
        report()

    def jobs() -> Iterator[Job[_Mark]]:
        packer = Packer()
        lines: list[int] = []
        mark = _Mark(end=run.position, rejected=run.rejected, hashed=hashed.state())
        for line, end, payload, problems in _read_to_the_end(reader(hashed, run.position), run):
            with run.lock:
                run.lines, run.bytes_read = end.line, end.offset
            previous = mark
            # The hash is known at a record's end only if the reader read no further,
            # or if the record ends where the one before it did (several records
            # of one line, as a Klaviyo bulk job gives).
            if hashed.offset == end.offset:
                known = hashed.state()
            else:
                known = previous.hashed if end == previous.end else None
            mark = _Mark(end=end, rejected=run.rejected, hashed=known)
            if payload is None and not problems:
                continue
            prepared = _prepare_record(payload, problems, line, options, run, on_reject)
            mark.rejected = run.rejected
            if prepared is None:
                continue
            for batch in packer.add(prepared):
                if batch.events[-1] is prepared:
                    # Alone, too large for a bulk body: the request ends at this record.
                    yield _job(batch, attrs.evolve(mark, lines=[line]), client)
                else:
                    # Closed by this record: the request ends before it.
                    yield _job(batch, attrs.evolve(previous, lines=lines), client)
                    lines = []
            if packer.pending and packer.pending[-1] is prepared:
                lines.append(line)
            report()
        last = packer.finish()
        yield Job(batch=None if client is None else last, context=attrs.evolve(mark, lines=lines))

    try:
        deliver(
            jobs(),
            _NoSender() if client is None else client,
            settle,
            concurrency=max(1, concurrency),
        )
    except KeyboardInterrupt:
        interrupted = True
    progress = run.progress()
    report(force=True)
    complete = (
        error is None
        and not interrupted
        and not run.unreadable
        and (client is None or progress.valid == progress.delivered + run.server_rejected)
    )
    return ImportResult(
        progress=progress,
        complete=complete,
        undelivered=0
        if client is None
        else progress.valid - progress.delivered - run.server_rejected,
        error=error,
        interrupted=interrupted,
    )


@attrs.define
class _Mark:
    """Where a request's input ends: the position after its last record, and the lines in it."""

    end: Position
    rejected: int
    hashed: _RunningHash | None = None  # the hash at ``end``, finished when the watermark is there
    lines: list[int] = attrs.Factory(list)


def _job(batch: Batch, mark: _Mark, client: RedoClient | None) -> Job[_Mark]:
    """The job of ``batch``; without a client (validation only) nothing is sent."""
    return Job(batch=None if client is None else batch, context=mark)


class _NoSender:
    """The sender of a validation-only run, which never has a request to send."""

    def send_batch(self, batch: Batch) -> Sent:
        raise ConfigurationError("a validation-only import has no client to send with")

    def retryable(self, error: APIError) -> bool:
        return False


def _server_rejected(
    dropped: ServerRejection,
    line: int,
    run: _Run,
    on_reject: Callable[[LineRejection], None] | None,
) -> None:
    """Report an event the API's bulk answer rejected as a rejected line."""
    with run.lock:
        run.rejected += 1
        run.server_rejected += 1
    if on_reject is not None:
        on_reject(
            LineRejection(
                line=line, unique_id=dropped.event.unique_id, problems=(dropped.problem(),)
            )
        )


def _read_to_the_end(records: Iterator[Record], run: _Run) -> Iterator[Record]:
    """``records``, then a record of the problem if the input breaks off.

    A truncated or damaged gzip file or a failing disk ends the reading; the run
    is then not complete, and its checkpoint stays where the reading stopped.
    """
    try:
        yield from records
    except (OSError, EOFError, zlib.error) as exc:
        run.unreadable = True
        with run.lock:
            end = Position(line=run.lines, offset=run.bytes_read)
        problem = Problem(
            path="$",
            rule="read",
            message=f"the input cannot be read after line {end.line:,}: {exc}",
            hint="the file is truncated or damaged; the lines before this one were read",
        )
        yield end.line + 1, end, None, (problem,)


def _prepare_record(
    payload: Any,
    problems: tuple[Problem, ...],
    number: int,
    options: PrepareOptions,
    run: _Run,
    on_reject: Callable[[LineRejection], None] | None,
) -> PreparedEvent | None:
    if isinstance(payload, dict):
        try:
            # A uniqueId of the line's own always wins; only events without
            # one get an id derived from their content.
            prepared = prepare_event(payload, options=options)
        except ValidationError as exc:
            problems = (*problems, *exc.problems)
        else:
            if not problems:
                with run.lock:
                    run.valid += 1
                return prepared
    unique = payload.get("uniqueId") if isinstance(payload, dict) else None
    rejection = LineRejection(
        line=number,
        unique_id=unique if isinstance(unique, str) else None,
        problems=problems,
    )
    with run.lock:
        run.rejected += 1
    if on_reject is not None:
        on_reject(rejection)
    return None
