"""The importer's engine, in memory: chunking, the watermark, checkpoints, failures."""

from __future__ import annotations

import gzip
import io
import os
from pathlib import Path

import orjson
import pytest
from helpers import mock_client

from redo_kit import _retry as retry
from redo_kit._client import RedoClient
from redo_kit._errors import APIConnectionError, AuthenticationError
from redo_kit._importer import Checkpoint, ImportProgress, LineRejection, Position, import_events
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


def test_checkpoint_round_trip_and_refuses_another_file(tmp_path: Path) -> None:
    source = tmp_path / "a.jsonl"
    source.write_bytes(_line(1) + _line(2))
    checkpoint = Checkpoint.beside(source)
    assert checkpoint.path == tmp_path / "a.jsonl.redo-kit-checkpoint"
    assert checkpoint.load() is None
    checkpoint.save(Position(line=1, offset=len(_line(1))), rejected=0)
    assert checkpoint.load() == (Position(line=1, offset=len(_line(1))), 0)

    source.write_bytes(_line(9) + _line(2))  # a different file under the same name
    assert checkpoint.load() is None
    checkpoint.clear()
    assert not checkpoint.path.exists()


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


def test_a_gzip_checkpoint_counts_decompressed_bytes_and_needs_the_same_size(
    tmp_path: Path,
) -> None:
    lines = [_line(n, uniqueId=os.urandom(40).hex()) for n in range(3000)]
    source = tmp_path / "events.jsonl.gz"
    source.write_bytes(gzip.compress(b"".join(lines[:2000]), mtime=0))
    checkpoint = Checkpoint.beside(source)
    far = Position(line=40, offset=10 * source.stat().st_size)  # past the compressed size
    checkpoint.save(far, rejected=0)
    assert checkpoint.load() == (far, 0)

    # Grown, with the same first 64 KiB: a compressed stream cannot be resumed by offset.
    head = source.read_bytes()[:65536]
    source.write_bytes(gzip.compress(b"".join(lines), mtime=0))
    assert source.read_bytes()[:65536] == head
    near = Position(line=40, offset=100)
    checkpoint.save(near, rejected=0)
    assert checkpoint.load() == (near, 0)
    source.write_bytes(gzip.compress(b"".join(lines[:2500]), mtime=0))
    assert source.read_bytes()[:65536] == head
    assert checkpoint.load() is None
