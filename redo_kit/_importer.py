"""Backfill events from a file: stream, prepare, send in bulk, checkpoint, report.

``import_events`` reads records through a reader (one wire event per line of
JSON Lines by default, or CSV rows through :mod:`redo_kit._csv_input`) and takes
each through ``prepare_event`` (events without a ``uniqueId`` get a
content-derived one, so a re-run sends the same ids and the API stores nothing
twice). Valid events go out through ``RedoClient.send_chunk`` in bulk requests
as large as the spec allows (100 events and 5 MB in the shipped one), several
in flight at once, paced at the store's rate limit. Invalid records are
reported with their line number and every problem; they never stop the run.

Memory stays bounded whatever the input's size: at most ``2 x concurrency``
requests are waiting at any time. Progress is measured by a watermark, the
position up to which every line has been delivered or rejected; it is what a
checkpoint records, so a run stopped at any moment (Ctrl-C, ``kill -9``)
resumes from there. Lines after the watermark may have been sent already: their
uniqueIds make sending them again harmless.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import attrs
import orjson

from redo_kit._client import ENVELOPE_BYTES
from redo_kit._errors import APIError, Problem, ValidationError
from redo_kit._events import PreparedEvent, PrepareOptions, prepare_event
from redo_kit._rules import limits

if TYPE_CHECKING:
    from redo_kit._client import RedoClient

__all__ = [
    "Checkpoint",
    "ImportProgress",
    "ImportResult",
    "LineRejection",
    "Position",
    "Reader",
    "Record",
    "import_events",
    "read_jsonl",
]

GZIP_MAGIC = b"\x1f\x8b"
"""The first bytes of a gzip file: such an input is read decompressed."""


@attrs.frozen(kw_only=True)
class Position:
    """A place in the input: the number of lines consumed and their size in bytes."""

    line: int = 0
    offset: int = 0


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

    The file names the input by path, size at the time and a hash of its first
    64 KiB, so a checkpoint is never applied to a different file. It is
    replaced atomically, so a crash leaves either the old or the new one.
    Positions count the bytes read, decompressed for a gzip input; such an
    input must have kept its size, a plain one may have grown.
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

    def _head(self) -> bytes:
        with self.source.open("rb") as fh:
            return fh.read(65536)

    def load(self) -> tuple[Position, int] | None:
        """The saved position and rejected-line count, or None when absent or not this file's."""
        try:
            saved = orjson.loads(self.path.read_bytes())
        except (OSError, orjson.JSONDecodeError):
            return None
        if not isinstance(saved, dict):
            return None
        try:
            head = self._head()
            size = self.source.stat().st_size
            same = (
                saved.get("input") == str(self.source)
                and saved.get("head") == hashlib.sha256(head).hexdigest()
                and (
                    saved.get("size") == size
                    if head.startswith(GZIP_MAGIC)
                    else int(saved["offset"]) <= size
                )
            )
            if not same:
                return None
            return Position(line=int(saved["line"]), offset=int(saved["offset"])), int(
                saved.get("rejected", 0)
            )
        except (KeyError, TypeError, ValueError, OSError):
            return None

    def save(self, position: Position, rejected: int) -> None:
        """Record ``position`` (atomically)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        record = {
            "input": str(self.source),
            "head": hashlib.sha256(self._head()).hexdigest(),
            "size": self.source.stat().st_size,
            "line": position.line,
            "offset": position.offset,
            "rejected": rejected,
            "saved_at": time.time(),
        }
        temporary = self.path.with_name(self.path.name + ".tmp")
        temporary.write_bytes(orjson.dumps(record))
        os.replace(temporary, self.path)

    def clear(self) -> None:
        """Forget the run (it finished)."""
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()


@attrs.define
class _Chunk:
    events: list[PreparedEvent]
    end: Position
    rejected: int
    size: int = ENVELOPE_BYTES


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

Reader = Callable[[IO[bytes], Position], Iterator[Record]]
"""Reads records from a binary input already positioned at the given start."""


def read_jsonl(source: IO[bytes], start: Position) -> Iterator[Record]:
    """The records of JSON Lines: one wire event per line."""
    number, offset = start.line, start.offset
    for raw in source:
        number += 1
        offset += len(raw)
        end = Position(line=number, offset=offset)
        if not raw.strip():
            yield number, end, None, ()
            continue
        payload, problem = _parse(raw)
        yield number, end, payload, () if problem is None else (problem,)


def _parse(raw: bytes) -> tuple[Any, Problem | None]:
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
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
    source: IO[bytes],
    client: RedoClient | None,
    *,
    start: Position | None = None,
    total_bytes: int | None = None,
    content_ids: bool = True,
    allow_unknown_keys: bool = False,
    default_region: str | None = None,
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
    :func:`redo_kit._csv_input.read_csv` with a column mapping. ``client=None``
    only validates. ``start`` resumes after a checkpoint
    (``source`` must already be positioned there); ``content_ids`` gives events
    without a ``uniqueId`` one derived from their content (turn it off only for
    data where two identical lines are two real events). ``on_reject`` gets each
    invalid line; ``on_progress`` gets counters every ``progress_every`` seconds
    and at the end; ``on_watermark`` gets each new position up to which every
    line is settled, with the rejected count so far (for checkpoints).
    """
    run = _Run(total_bytes, start or Position(), rejected_before)
    options = PrepareOptions(
        allow_unknown_keys=allow_unknown_keys,
        default_region=default_region,
        content_unique_ids=content_ids,
    )
    pending: dict[Future[Any], tuple[int, _Chunk]] = {}
    settled: dict[int, _Chunk] = {}
    next_to_settle = 0
    error: APIError | None = None
    interrupted = False
    last_report = time.monotonic()

    def report(force: bool = False) -> None:
        nonlocal last_report
        now = time.monotonic()
        if on_progress is not None and (force or now - last_report >= progress_every):
            last_report = now
            on_progress(run.progress())

    def advance(seq: int, chunk: _Chunk) -> None:
        nonlocal next_to_settle
        settled[seq] = chunk
        moved = False
        while next_to_settle in settled:
            done = settled.pop(next_to_settle)
            run.watermark, run.watermark_rejected = done.end, done.rejected
            next_to_settle += 1
            moved = True
        if moved and on_watermark is not None:
            on_watermark(run.watermark, run.watermark_rejected)

    def collect(block: bool) -> None:
        nonlocal error
        if not pending:
            return
        if block:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
        else:
            done = {f for f in pending if f.done()}
        for future in sorted(done, key=lambda f: pending[f][0]):
            seq, chunk = pending.pop(future)
            exc = future.exception()
            if exc is None:
                result = future.result()
                with run.lock:
                    run.delivered += len(chunk.events)
                    run.requests += result.requests
                    run.retries += result.retries
                    run.rate_limited += result.rate_limited
                advance(seq, chunk)
            elif isinstance(exc, APIError):
                error = error or exc
            else:
                raise exc

    def chunks() -> Iterator[_Chunk]:
        most, max_bytes = limits().bulk_events[1], limits().max_body_bytes
        current = _Chunk(events=[], end=run.position, rejected=run.rejected)
        for line, end, payload, problems in _read_to_the_end(reader(source, run.position), run):
            with run.lock:
                run.lines, run.bytes_read = end.line, end.offset
            previous_end = current.end
            current.end, current.rejected = end, run.rejected
            if payload is None and not problems:
                continue
            prepared = _prepare_record(payload, problems, line, options, run, on_reject)
            current.rejected = run.rejected
            if prepared is None:
                continue
            grown = current.size + len(prepared.body) + 1
            if current.events and (
                len(current.events) == most or grown > max_bytes
            ):
                yield _Chunk(
                    events=current.events,
                    end=previous_end,
                    rejected=current.rejected,
                    size=current.size,
                )
                current = _Chunk(events=[], end=current.end, rejected=run.rejected)
                grown = ENVELOPE_BYTES + len(prepared.body)
            current.events.append(prepared)
            current.size = grown
            report()
        yield current

    with ThreadPoolExecutor(
        max_workers=max(1, concurrency), thread_name_prefix="redo-kit-import"
    ) as pool:
        seq = 0
        try:
            for chunk in chunks():
                if error is not None:
                    break
                if not chunk.events or client is None:
                    # Nothing to send: the lines are settled as soon as they are read.
                    advance(seq, chunk)
                    seq += 1
                    continue
                while len(pending) >= 2 * max(1, concurrency):
                    collect(block=True)
                    report()
                if error is not None:
                    break
                pending[pool.submit(client.send_chunk, chunk.events)] = (seq, chunk)
                seq += 1
                collect(block=False)
                report()
        except KeyboardInterrupt:
            interrupted = True
        finally:
            while pending:
                try:
                    collect(block=True)
                except KeyboardInterrupt:
                    interrupted = True
                    for future in pending:
                        future.cancel()
                    break
    progress = run.progress()
    report(force=True)
    complete = error is None and not interrupted and not run.unreadable and next_to_settle == seq
    return ImportResult(
        progress=progress,
        complete=complete,
        undelivered=0 if client is None else progress.valid - progress.delivered,
        error=error,
        interrupted=interrupted,
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
