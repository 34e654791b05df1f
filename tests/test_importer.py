"""The importer's engine, in memory: chunking, the watermark, checkpoints, failures."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
from pathlib import Path

import orjson
import pytest
from helpers import mock_client

from redo_kit import _retry as retry
from redo_kit._client import RedoClient
from redo_kit._errors import APIConnectionError, AuthenticationError, ConfigurationError
from redo_kit._importer import (
    Checkpoint,
    HashedInput,
    ImportProgress,
    LineRejection,
    Position,
    import_events,
    line_limit,
    read_jsonl,
)
from redo_kit._transport import MockTransport, Request, Response

pytestmark = pytest.mark.usefixtures("no_waits")


def _line(n: int, **extra: object) -> bytes:
    event = {"eventName": "Page Viewed", "customer": {"email": f"c{n}@example.com"}, **extra}
    return orjson.dumps(event) + b"\n"


def _client(transport: MockTransport) -> RedoClient:
    return mock_client(transport, rate_limit=None, retry=retry.RetryPolicy(attempts=2))


def _sent_events(transport: MockTransport) -> list[list[dict[str, object]]]:
    return [orjson.loads(r.body)["events"] for r in transport.requests]


def test_chunks_hold_at_most_100_events_and_every_valid_line_is_sent_once() -> None:
    lines = b"".join(_line(n, data={"n": n + 1}) for n in range(250))
    transport = MockTransport()
    with _client(transport) as client:
        result = import_events(io.BytesIO(lines), client, concurrency=3)
    batches = _sent_events(transport)
    assert sorted(len(b) for b in batches) == [50, 100, 100]
    assert sorted(e["data"]["n"] for b in batches for e in b) == list(range(1, 251))
    assert result.complete
    assert result.progress.delivered == 250
    assert result.progress.watermark == Position(line=250, offset=len(lines))


def test_events_without_unique_id_get_a_stable_content_id() -> None:
    lines = _line(1) + _line(2, uniqueId="mine")
    ids = []
    for _ in range(2):
        transport = MockTransport()
        with _client(transport) as client:
            import_events(io.BytesIO(lines), client)
        ids.append([e["uniqueId"] for b in _sent_events(transport) for e in b])
    assert ids[0] == ids[1]
    assert ids[0][0].startswith("content-")
    assert ids[0][1] == "mine"


def test_content_ids_can_be_turned_off() -> None:
    transport = MockTransport()
    with _client(transport) as client:
        import_events(io.BytesIO(_line(1)), client, content_ids=False)
    (event,) = _sent_events(transport)[0]
    assert not str(event["uniqueId"]).startswith("content-")


def test_bad_lines_are_reported_with_numbers_and_never_sent() -> None:
    lines = _line(1) + b"{not json\n" + b"[1, 2]\n" + b"\n" + _line(5, uniqueID="x") + _line(6)
    rejections = []
    transport = MockTransport()
    with _client(transport) as client:
        result = import_events(io.BytesIO(lines), client, on_reject=rejections.append)
    assert [(r.line, r.problems[0].rule) for r in rejections] == [
        (2, "json"),
        (3, "type"),
        (5, "unknown-key"),
    ]
    assert result.progress.rejected == 3
    assert result.progress.delivered == 2
    assert result.complete


def test_watermark_only_moves_forward_and_ends_at_the_end() -> None:
    lines = b"".join(_line(n) for n in range(430))
    marks: list[Position] = []
    with _client(MockTransport()) as client:
        import_events(
            io.BytesIO(lines), client, concurrency=4, on_watermark=lambda p, _: marks.append(p)
        )
    assert marks == sorted(marks, key=lambda p: p.line)
    assert marks[-1] == Position(line=430, offset=len(lines))


def test_a_failed_request_stops_the_run_before_the_watermark_passes_it() -> None:
    lines = b"".join(_line(n) for n in range(300))
    calls = []

    def handler(request: Request) -> Response:
        calls.append(request)
        if len(calls) >= 2:
            raise APIConnectionError("connection refused")
        return Response(202)

    marks: list[Position] = []
    with _client(MockTransport(handler)) as client:
        result = import_events(
            io.BytesIO(lines), client, concurrency=1, on_watermark=lambda p, _: marks.append(p)
        )
    assert not result.complete
    assert isinstance(result.error, APIConnectionError)
    assert result.progress.delivered == 100
    assert result.undelivered == result.progress.valid - 100
    assert marks[-1].line == 100  # resume starts right after the delivered chunk


def test_authentication_failure_is_not_retried() -> None:
    transport = MockTransport(responses=[Response(401)])
    with _client(transport) as client:
        result = import_events(io.BytesIO(_line(1)), client)
    assert isinstance(result.error, AuthenticationError)
    assert len(transport.requests) == 1


def test_validation_only_mode_sends_nothing() -> None:
    progress: list[ImportProgress] = []
    result = import_events(
        io.BytesIO(_line(1) + b"{}\n"), None, on_progress=progress.append, total_bytes=100
    )
    assert result.progress.valid == 1
    assert result.progress.rejected == 1
    assert result.progress.delivered == 0
    assert result.complete
    assert progress[-1].lines == 2


def test_resume_from_a_position_reads_only_what_follows(tmp_path: Path) -> None:
    source = tmp_path / "events.jsonl"
    source.write_bytes(b"".join(_line(n, data={"n": n + 1}) for n in range(10)))
    head = b"".join(_line(n, data={"n": n + 1}) for n in range(4))
    transport = MockTransport()
    with source.open("rb") as fh, _client(transport) as client:
        fh.seek(len(head))
        result = import_events(fh, client, start=Position(line=4, offset=len(head)))
    sent = [e["data"]["n"] for b in _sent_events(transport) for e in b]
    assert sent == [5, 6, 7, 8, 9, 10]
    assert result.progress.watermark.line == 10


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_checkpoint_round_trip_and_its_hash_proves_the_prefix(tmp_path: Path) -> None:
    source = tmp_path / "a.jsonl"
    first = _line(1)
    source.write_bytes(first + _line(2))
    checkpoint = Checkpoint.beside(source)
    assert checkpoint.path == tmp_path / "a.jsonl.redo-kit-checkpoint"
    assert checkpoint.load() is None
    at = Position(line=1, offset=len(first), sha256=_sha256(first))
    checkpoint.save(at, rejected=0)
    loaded = checkpoint.load()
    assert loaded is not None
    assert loaded[0].sha256 == at.sha256
    assert loaded == (at, 0)
    # No temporary file is left beside it.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.jsonl", checkpoint.path.name]

    def proves(data: bytes) -> bool:
        source.write_bytes(data)
        with source.open("rb") as fh:
            return HashedInput(fh).skip_to(at)

    assert proves(first + _line(2))
    assert proves(first + _line(2) + _line(3))  # grown after the checkpoint
    assert not proves(_line(9) + _line(2))  # a different first line, same size
    assert not proves(first[:-3])  # shorter than the checkpoint's offset
    assert not proves(b"x" + first + _line(2))  # shifted by one byte
    checkpoint.clear()
    assert not checkpoint.path.exists()


def test_a_checkpoint_without_a_hash_proves_nothing(tmp_path: Path) -> None:
    source = tmp_path / "a.jsonl"
    source.write_bytes(_line(1))
    with source.open("rb") as fh:
        assert not HashedInput(fh).skip_to(Position(line=1, offset=len(_line(1))))


def test_the_watermark_carries_the_hash_of_every_byte_before_it() -> None:
    lines = b"".join(_line(n) for n in range(250)) + b"{bad\n" + _line(251)
    marks: list[Position] = []
    with _client(MockTransport()) as client:
        import_events(
            io.BytesIO(lines), client, concurrency=3, on_watermark=lambda p, _: marks.append(p)
        )
    assert len(marks) >= 3
    assert all(m.sha256 == _sha256(lines[: m.offset]) for m in marks)
    assert marks[-1].offset == len(lines)


def test_a_gzip_watermark_hashes_the_decompressed_bytes() -> None:
    lines = b"".join(_line(n) for n in range(120))
    marks: list[Position] = []
    import_events(
        gzip.GzipFile(fileobj=io.BytesIO(gzip.compress(lines))),
        None,
        on_watermark=lambda p, _: marks.append(p),
    )
    assert marks[-1] == Position(line=120, offset=len(lines))
    assert all(m.sha256 == _sha256(lines[: m.offset]) for m in marks)


def test_resuming_through_a_hashed_input_keeps_the_hashes_going() -> None:
    lines = b"".join(_line(n) for n in range(10))
    head = b"".join(_line(n) for n in range(4))
    source = HashedInput(io.BytesIO(lines))
    at = Position(line=4, offset=len(head), sha256=_sha256(head))
    assert source.skip_to(at)
    marks: list[Position] = []
    result = import_events(source, None, start=at, on_watermark=lambda p, _: marks.append(p))
    assert result.progress.valid == 6
    assert marks[-1].sha256 == _sha256(lines)


def test_a_second_lock_on_one_input_is_refused_with_the_holder_named(tmp_path: Path) -> None:
    source = tmp_path / "a.jsonl"
    source.write_bytes(_line(1))
    checkpoint = Checkpoint.beside(source)
    with checkpoint.lock():
        assert checkpoint.lock_path.read_text().strip() == str(os.getpid())
        with pytest.raises(ConfigurationError) as refused, Checkpoint.beside(source).lock():
            pass  # pragma: no cover - the lock is held
        assert f"process {os.getpid()}" in str(refused.value)
        assert "another import of" in str(refused.value)
    with Checkpoint.beside(source).lock():  # released at the end of the block
        pass


def test_checkpoint_under_a_state_directory(tmp_path: Path) -> None:
    source = tmp_path / "a.jsonl"
    source.write_bytes(_line(1))
    checkpoint = Checkpoint.beside(source, tmp_path / "state")
    checkpoint.save(Position(line=1, offset=10), rejected=2)
    assert checkpoint.path.parent == tmp_path / "state"
    assert checkpoint.load() == (Position(line=1, offset=10), 2)


def test_an_input_that_breaks_off_is_reported_and_the_run_is_not_complete() -> None:
    data = gzip.compress(b"".join(_line(n) for n in range(300)))
    truncated = gzip.GzipFile(fileobj=io.BytesIO(data[: len(data) // 2]))
    rejected: list[LineRejection] = []
    watermarks: list[Position] = []
    result = import_events(
        truncated,
        None,
        on_reject=rejected.append,
        on_watermark=lambda position, _: watermarks.append(position),
    )
    assert not result.complete
    [rejection] = rejected
    assert [p.rule for p in rejection.problems] == ["read"]
    read = result.progress.lines
    assert 0 < read < 300
    assert rejection.line == read + 1
    assert f"after line {read:,}" in rejection.problems[0].message
    assert result.progress.valid == read
    assert watermarks[-1].line == read


def test_a_line_longer_than_any_event_is_rejected_and_the_next_lines_are_read() -> None:
    long = b'{"eventName": "' + b"x" * line_limit() + b'"}\n'
    lines = _line(1) + long + _line(3)
    records = list(read_jsonl(io.BytesIO(lines), Position()))
    assert [(n, end.offset) for n, end, _, _ in records] == [
        (1, len(_line(1))),
        (2, len(_line(1)) + len(long)),
        (3, len(lines)),
    ]
    _, _, payload, (problem,) = records[1]
    assert payload is None
    assert problem.rule == "line-too-long"
    assert f"{len(long):,} bytes" in problem.message
    assert [p for *_, p in (records[0], records[2])] == [(), ()]


def test_a_line_of_exactly_the_limit_is_read() -> None:
    padded = _line(1)[:-1] + b" " * (line_limit() - len(_line(1)) + 1)
    assert len(padded) == line_limit()
    for ending in (b"\n", b""):
        [(_, _, payload, problems)] = list(read_jsonl(io.BytesIO(padded + ending), Position()))
        assert problems == ()
        assert payload["customer"] == {"email": "c1@example.com"}
    [(_, _, _, (problem,))] = list(read_jsonl(io.BytesIO(padded + b" \n"), Position()))
    assert problem.rule == "line-too-long"


def test_a_byte_order_mark_on_line_1_is_skipped() -> None:
    rejected: list[LineRejection] = []
    result = import_events(
        io.BytesIO(b"\xef\xbb\xbf" + _line(1) + b"\xef\xbb\xbf" + _line(2)),
        None,
        on_reject=rejected.append,
    )
    assert result.progress.valid == 1
    [rejection] = rejected  # a mark anywhere else is not whitespace
    assert rejection.line == 2


def test_bytes_that_are_not_utf8_reject_their_line_with_their_offset() -> None:
    bad = b'{"eventName": "caf\xe9", "customer": {"email": "a@example.com"}}\n'
    lines = _line(1) + bad + _line(3)
    rejected: list[LineRejection] = []
    result = import_events(io.BytesIO(lines), None, on_reject=rejected.append)
    assert result.progress.valid == 2
    [rejection] = rejected
    assert rejection.line == 2
    [problem] = rejection.problems
    assert problem.rule == "encoding"
    assert "not valid UTF-8" in problem.message
    where = lines.index(b"\xe9")
    assert f"byte offset {where:,}" in problem.message
    assert "surrogates" not in problem.message
