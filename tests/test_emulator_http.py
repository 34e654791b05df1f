"""The emulator's HTTP layer against hostile peers, over raw loopback sockets.

Each malformed request carries a valid event, so that a server which read it
anyway would store something, and the checks on ``emu.events()`` can fail.
"""

from __future__ import annotations

import contextlib
import select
import socket
import struct
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
import urllib3
from hypothesis import given, settings
from hypothesis import strategies as st

from redo_kit._rules import limits
from redo_kit.emulator import Emulator
from redo_kit.emulator._server import (
    DISCARD_BODY_BYTES,
    MAX_CONNECTIONS,
    MAX_HEADER_BYTES,
    MAX_HEADER_LINE_BYTES,
    EmulatorServer,
)

EVENT = orjson.dumps({"eventName": "Order Placed", "customer": {"email": "a@example.com"}})


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with Emulator(rate_limit=None) as emulator:
        yield emulator


def _head(emu: Emulator, *lines: str, path: str | None = None) -> bytes:
    """A POST head to the single-event operation, with ``lines`` as extra header lines."""
    target = path or f"/v2.2/stores/{emu.store_id}/events"
    head = [
        f"POST {target} HTTP/1.1",
        "Host: x",
        f"Authorization: Bearer {emu.api_key}",
        "Content-Type: application/json",
        *lines,
    ]
    return ("\r\n".join(head) + "\r\n\r\n").encode("utf-8")


def _connect(emu: Emulator, timeout: float = 5.0) -> socket.socket:
    return socket.create_connection((emu.host, emu.port), timeout=timeout)


def _read_all(sock: socket.socket) -> bytes:
    """Everything until the server closes; fails the test if it never does."""
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def _send(sock: socket.socket, data: bytes) -> None:
    # The server may answer and close before it has read everything.
    with contextlib.suppress(OSError):
        sock.sendall(data)


def _exchange(emu: Emulator, data: bytes) -> bytes:
    with _connect(emu) as sock:
        _send(sock, data)
        return _read_all(sock)


def _responses(answer: bytes) -> list[tuple[int, dict[str, str], bytes]]:
    """The responses in ``answer``, each as status, headers (lowercase names) and body."""
    found = []
    while answer:
        head, _, rest = answer.partition(b"\r\n\r\n")
        status_line, *lines = head.decode("latin-1").split("\r\n")
        headers = {}
        for line in lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0"))
        found.append((int(status_line.split(" ")[1]), headers, rest[:length]))
        answer = rest[length:]
    return found


def _refused(answer: bytes, status: int) -> dict[str, Any]:
    """The problem of the one answer in ``answer``, checked to close the connection."""
    [(got, headers, body)] = _responses(answer)
    assert got == status, body
    assert headers["content-type"] == "application/problem+json"
    assert headers["connection"] == "close"
    problem: dict[str, Any] = orjson.loads(body)
    assert problem["status"] == status
    return problem


def _assert_serving(emu: Emulator) -> None:
    with urllib3.PoolManager(retries=False, timeout=5.0) as http:
        response = http.request(
            "POST",
            f"{emu.base_url}/stores/{emu.store_id}/events",
            body=EVENT,
            headers={"Authorization": f"Bearer {emu.api_key}", "Content-Type": "application/json"},
        )
    assert response.status == 202, response.data


# -- 1. strict framing ---------------------------------------------------------

_LENGTH = str(len(EVENT))

BAD_FRAMING = {
    "superscript-two-latin1": [b"Content-Length: \xb2"],
    "superscript-two-utf8": ["Content-Length: ²".encode()],
    "arabic-indic-digits": ["Content-Length: \u0665".encode()],
    "plus-sign": [f"Content-Length: +{_LENGTH}".encode()],
    "negative": [b"Content-Length: -1"],
    "inner-space": [f"Content-Length: {_LENGTH[0]} {_LENGTH[1:]}".encode()],
    "empty": [b"Content-Length: "],
    "comma-list": [f"Content-Length: {_LENGTH}, {_LENGTH}".encode()],
    "underscore": [f"Content-Length: {_LENGTH[0]}_{_LENGTH[1:]}".encode()],
    "two-lengths": [f"Content-Length: {_LENGTH}".encode(), b"Content-Length: 5"],
    "chunked-and-length": [b"Transfer-Encoding: chunked", f"Content-Length: {_LENGTH}".encode()],
    "gzip-coding": [b"Transfer-Encoding: gzip"],
    "gzip-then-chunked": [b"Transfer-Encoding: gzip, chunked"],
    "chunked-twice": [b"Transfer-Encoding: chunked", b"Transfer-Encoding: chunked"],
    "identity-coding": [b"Transfer-Encoding: identity"],
    "chunked-with-junk": [b"Transfer-Encoding: chunkedx"],
    "no-colon": [f"Content-Length: {_LENGTH}".encode(), b"X-Broken header"],
    "obs-fold": [f"Content-Length: {_LENGTH}".encode(), b"X-A: 1", b" continued"],
    "space-before-colon": [f"Content-Length : {_LENGTH}".encode()],
    "empty-name": [f"Content-Length: {_LENGTH}".encode(), b": value"],
    "bare-cr": [b"X-A: 1\rTransfer-Encoding: chunked", f"Content-Length: {_LENGTH}".encode()],
    "nul": [f"Content-Length: {_LENGTH}".encode(), b"X-A: 1\x002"],
}


def _raw_head(emu: Emulator, lines: list[bytes]) -> bytes:
    head = _head(emu).removesuffix(b"\r\n\r\n").split(b"\r\n")
    return b"\r\n".join([*head, *lines]) + b"\r\n\r\n"


@pytest.mark.parametrize("lines", list(BAD_FRAMING.values()), ids=list(BAD_FRAMING))
def test_broken_framing_is_400_closed_and_nothing_is_stored(
    emu: Emulator, capfd: pytest.CaptureFixture[str], lines: list[bytes]
) -> None:
    chunked = b"%x\r\n%s\r\n0\r\n\r\n" % (len(EVENT), EVENT)
    # A pipelined valid request behind it must not be read as a second request.
    data = _raw_head(emu, lines) + EVENT + _head(emu, f"Content-Length: {_LENGTH}") + EVENT
    for body in (data, _raw_head(emu, lines) + chunked):
        problem = _refused(_exchange(emu, body), 400)
        assert problem["detail"]
    assert emu.events() == []
    assert capfd.readouterr().err == ""
    _assert_serving(emu)


@pytest.mark.parametrize("lines", list(BAD_FRAMING.values())[:6], ids=list(BAD_FRAMING)[:6])
def test_broken_framing_with_expect_100_is_400_without_a_continue(
    emu: Emulator, lines: list[bytes]
) -> None:
    answer = _exchange(emu, _raw_head(emu, [*lines, b"Expect: 100-continue"]))
    assert b"100 Continue" not in answer
    _refused(answer, 400)


BAD_CHUNKS = {
    "negative": b"-1\r\n",
    "underscore": b"1_0\r\n",
    "plus-sign": b"+10\r\n",
    "hex-prefix": b"0x10\r\n",
    "not-hex": b"zz\r\n",
    "empty": b"\r\n",
    "space-inside": b"1 0\r\n",
    "lf-only": b"%x\n" % len(EVENT),
    "too-many-digits": b"0" * 17 + b"1\r\n",
    "fullwidth-digit": "\uff11\r\n".encode(),
}


@pytest.mark.parametrize("size_line", list(BAD_CHUNKS.values()), ids=list(BAD_CHUNKS))
def test_a_bad_chunk_size_is_400_closed_and_nothing_is_stored(
    emu: Emulator, capfd: pytest.CaptureFixture[str], size_line: bytes
) -> None:
    data = _head(emu, "Transfer-Encoding: chunked") + size_line + EVENT + b"\r\n0\r\n\r\n"
    _refused(_exchange(emu, data), 400)
    assert emu.events() == []
    assert capfd.readouterr().err == ""
    _assert_serving(emu)


def test_a_chunk_without_its_crlf_is_400(emu: Emulator) -> None:
    data = _head(emu, "Transfer-Encoding: chunked") + b"%x\r\n%sXX0\r\n\r\n" % (len(EVENT), EVENT)
    _refused(_exchange(emu, data), 400)
    assert emu.events() == []


def test_a_chunk_size_over_the_body_limit_is_413_before_the_chunk(emu: Emulator) -> None:
    size_line = b"%x\r\n" % (limits().max_body_bytes + 1)
    problem = _refused(_exchange(emu, _head(emu, "Transfer-Encoding: chunked") + size_line), 413)
    assert f"{limits().max_body_bytes:,}" in problem["detail"]
    assert emu.events() == []


def test_well_framed_requests_are_still_served_on_one_connection(emu: Emulator) -> None:
    chunked = b"3;ext=1\r\n%s\r\n%x\r\n%s\r\n0\r\nX-Trailer: 1\r\n\r\n" % (
        EVENT[:3],
        len(EVENT) - 3,
        EVENT[3:],
    )
    data = (
        _head(emu, f"Content-Length: {_LENGTH}", f"Content-Length: {_LENGTH}")
        + EVENT
        + _head(emu, "Transfer-Encoding: Chunked")
        + chunked
        + _head(emu, f"Content-Length:  {_LENGTH} ", "Connection: close")
        + EVENT
    )
    assert [status for status, _, _ in _responses(_exchange(emu, data))] == [202, 202, 202]
    assert len(emu.events()) == 3


def test_the_emulator_cli_writes_no_traceback_for_broken_framing(tmp_path: Any) -> None:
    import subprocess
    import sys

    process = subprocess.Popen(
        [sys.executable, "-m", "redo_kit.emulator", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        port = int(line.rsplit(":", 1)[1].split("/")[0])
        for lines in BAD_FRAMING.values():
            request = b"POST /v2.2/stores/s/events HTTP/1.1\r\nHost: x\r\n"
            request += b"\r\n".join(lines) + b"\r\n\r\n"
            with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
                _send(sock, request)
                assert _read_all(sock).startswith(b"HTTP/1.1 400 ")
    finally:
        process.terminate()
        _, err = process.communicate(timeout=10)
    assert "Traceback" not in err


# -- 2. bounded headers --------------------------------------------------------


def test_a_hundred_headers_of_1_kb_are_431_and_closed(emu: Emulator) -> None:
    lines = [f"X-Pad-{n}: {'a' * 1000}" for n in range(100)]
    data = _head(emu, *lines, f"Content-Length: {_LENGTH}") + EVENT
    problem = _refused(_exchange(emu, data), 431)
    assert f"{MAX_HEADER_BYTES:,}" in problem["detail"]
    assert emu.events() == []


def test_headers_just_under_the_cap_are_served(emu: Emulator) -> None:
    lines = [f"X-Pad-{n}: {'a' * 990}" for n in range(MAX_HEADER_BYTES // 1024 - 2)]
    data = _head(emu, *lines, f"Content-Length: {_LENGTH}", "Connection: close") + EVENT
    assert [status for status, _, _ in _responses(_exchange(emu, data))] == [202]


def test_more_than_100_header_lines_are_431(emu: Emulator) -> None:
    lines = [f"X-{n}: 1" for n in range(101)]
    _refused(_exchange(emu, _head(emu, *lines)), 431)


def test_one_header_line_over_8_kib_is_431_and_a_request_line_414(emu: Emulator) -> None:
    long_line = "X-Long: " + "a" * MAX_HEADER_LINE_BYTES
    _refused(_exchange(emu, _head(emu, long_line)), 431)
    path = "/v2.2/stores/" + "a" * MAX_HEADER_LINE_BYTES + "/events"
    _refused(_exchange(emu, _head(emu, path=path)), 414)
    assert emu.events() == []


@pytest.fixture
def quick(monkeypatch: pytest.MonkeyPatch) -> Iterator[Emulator]:
    """An emulator whose header deadline is 1.5 s and idle timeout 0.5 s."""
    monkeypatch.setattr(EmulatorServer, "header_timeout", 1.5)
    monkeypatch.setattr(EmulatorServer, "idle_timeout", 0.5)
    with Emulator(rate_limit=None) as emulator:
        yield emulator


def test_a_head_sent_slowly_is_closed_at_the_header_deadline(quick: Emulator) -> None:
    start = time.monotonic()
    with _connect(quick) as sock:
        sock.sendall(b"POST /v2.2/stores/x/events HTTP/1.1\r\n")
        # Each line comes well within any per-read timeout; the head would take 6 s.
        for n in range(20):
            time.sleep(0.3)
            if select.select([sock], [], [], 0)[0]:
                break
            sock.sendall(f"X-Slow-{n}: 1\r\n".encode())
        answered = time.monotonic() - start
        answer = _read_all(sock)
    assert answered < 3.0
    _refused(answer, 408)


def test_a_connection_that_sends_nothing_is_closed_at_the_header_deadline(
    quick: Emulator,
) -> None:
    start = time.monotonic()
    with _connect(quick) as sock:
        assert _read_all(sock) == b""
    assert 1.3 < time.monotonic() - start < 3.5


def test_an_idle_keep_alive_connection_is_closed(quick: Emulator) -> None:
    with _connect(quick) as sock:
        sock.sendall(_head(quick, f"Content-Length: {_LENGTH}") + EVENT)
        first = sock.recv(65536)
        assert first.startswith(b"HTTP/1.1 202 ")
        assert b"Connection: close" not in first
        start = time.monotonic()
        assert _read_all(sock) == b""
    assert time.monotonic() - start < 2.0
    assert len(quick.events()) == 1


# -- 3. bounded threads and connections ---------------------------------------


def test_half_open_connections_are_bounded_and_a_client_is_served_meanwhile(
    quick: Emulator,
) -> None:
    ceiling = threading.active_count() + MAX_CONNECTIONS
    sockets = []
    try:
        for n in range(300):
            sock = _connect(quick)
            if n % 2:
                sock.sendall(b"POST /v2.2/stor")
            sockets.append(sock)
            assert threading.active_count() <= ceiling
        # A client is served while those connections are still open on this side.
        statuses = []
        deadline = time.monotonic() + 5.0
        while time.monotonic() < deadline:
            with urllib3.PoolManager(retries=False, timeout=5.0) as http:
                response = http.request(
                    "POST",
                    f"{quick.base_url}/stores/{quick.store_id}/events",
                    body=EVENT,
                    headers={
                        "Authorization": f"Bearer {quick.api_key}",
                        "Content-Type": "application/json",
                    },
                )
            statuses.append(response.status)
            if response.status == 503:
                assert response.headers["Retry-After"] == "2"
            if response.status == 202:
                break
            time.sleep(0.1)
            assert threading.active_count() <= ceiling
        assert statuses[-1] == 202
        assert set(statuses) <= {202, 503}
        # Connections past the cap are answered at once, with no thread of their own;
        # the others are closed at the header deadline (408 once a byte came).
        answers = []
        deadline = time.monotonic() + 3 * 1.5
        while sockets and time.monotonic() < deadline:
            readable, _, _ = select.select(sockets, [], [], 0.2)
            for sock in readable:
                sockets.remove(sock)
                answers.append(_read_all(sock))
                sock.close()
            assert threading.active_count() <= ceiling
        assert len(answers) == 300
        refused = [_refused(answer, 503) for answer in answers if b" 503 " in answer[:20]]
        assert refused
        assert all("limit" in problem["detail"] for problem in refused)
        assert {answer[:12] for answer in answers} <= {b"HTTP/1.1 503", b"HTTP/1.1 408", b""}
    finally:
        for sock in sockets:
            sock.close()
    assert len(quick.events()) == 1


# -- 4. the 413 reaches every client ------------------------------------------


def _urlopen(emu: Emulator, body: bytes, key: str) -> None:
    """POST ``body`` with ``urllib.request``, which sends it all before reading an answer."""
    request = urllib.request.Request(  # noqa: S310 - the emulator's loopback http URL
        f"{emu.base_url}/stores/{emu.store_id}/events",
        data=body,
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
        method="POST",
    )
    urllib.request.urlopen(request, timeout=10).close()  # noqa: S310 - as above


def test_urllib_request_sees_the_413_of_an_oversized_body(emu: Emulator) -> None:
    size = limits().max_body_bytes + 1
    assert size < DISCARD_BODY_BYTES
    with pytest.raises(urllib.error.HTTPError) as caught:
        _urlopen(emu, b"x" * size, emu.api_key)
    assert caught.value.code == 413
    assert caught.value.headers["Connection"] == "close"
    with caught.value:
        assert orjson.loads(caught.value.read())["status"] == 413
    assert emu.events() == []


def test_urllib_request_sees_a_401_sent_before_a_large_body(emu: Emulator) -> None:
    with pytest.raises(urllib.error.HTTPError) as caught:
        _urlopen(emu, b"x" * (2 * 1024 * 1024), "wrong")
    with caught.value:
        assert caught.value.code == 401


def test_a_body_cut_short_by_a_reset_is_answered_or_closed_without_a_traceback(
    emu: Emulator, capfd: pytest.CaptureFixture[str]
) -> None:
    with _connect(emu) as sock:
        sock.sendall(_head(emu, "Content-Length: 1000") + b"{")
        time.sleep(0.2)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    time.sleep(0.3)
    _assert_serving(emu)
    assert len(emu.events()) == 1
    assert emu.stats()["requests"].get("500") is None
    assert capfd.readouterr().err == ""


def test_a_length_past_the_discard_bound_is_answered_without_waiting_for_it(
    emu: Emulator,
) -> None:
    start = time.monotonic()
    with _connect(emu) as sock:
        sock.sendall(_head(emu, f"Content-Length: {DISCARD_BODY_BYTES + 1}") + b"x" * 1000)
        _refused(_read_all(sock), 413)
    assert time.monotonic() - start < 4.0


# -- 5. fuzzing the framing ----------------------------------------------------

_HEADER_VALUE = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=20)
_HEADER_NAME = st.from_regex(r"X-[A-Za-z0-9-]{1,10}", fullmatch=True)
_BAD_LENGTHS = ["+5", "-1", "5 5", "", "\xb2", "0x10", "1_0", "5,5", "\u0665"]
_BAD_CODINGS = ["gzip", "identity", "chunked, gzip", "gzip, chunked", "chunkedx"]
_BAD_SIZES = [b"-1", b"1_0", b"+10", b"0x10", b"zz", b"", b"1 0", b"0" * 17 + b"1"]
BROKEN = [
    "length-text",
    "two-lengths",
    "coding-and-length",
    "coding",
    "chunk-size",
    "chunk-crlf",
    "no-colon",
    "fold",
    "short-body",
    "version",
]
WELL_FORMED = ["length", "chunked", "none"]


@st.composite
def _wire_requests(draw: st.DrawFn) -> tuple[bytes, bool, bool]:
    """A raw request, whether its framing was broken on purpose, and whether it must be stored."""
    framing = draw(st.sampled_from(WELL_FORMED + BROKEN))
    # Mostly everything but the framing is right, so that a server
    # which let broken framing through would store the event.
    sound = draw(st.sampled_from([True, True, False]))
    method = "POST" if sound else draw(st.sampled_from(["POST", "GET", "PUT", "BREW"]))
    paths = ["/v2.2/stores/{}/events", "/v2.2/stores/{}/events/bulk", "/"]
    target = paths[0] if sound else draw(st.sampled_from(paths))
    body = EVENT if sound else draw(st.one_of(st.just(EVENT), st.binary(max_size=64)))
    headers = [
        f"{name}: {value}".encode()
        for name, value in draw(st.lists(st.tuples(_HEADER_NAME, _HEADER_VALUE), max_size=4))
    ]
    if sound or draw(st.booleans()):
        key = b"KEY" if sound else draw(st.sampled_from([b"KEY", b"wrong"]))
        headers.append(b"Authorization: Bearer " + key)
    if sound or draw(st.booleans()):
        headers.append(b"Content-Type: application/json")
    version = (
        b"HTTP/1.x" if framing == "version" else draw(st.sampled_from([b"HTTP/1.1", b"HTTP/1.0"]))
    )
    pieces = draw(st.lists(st.integers(1, 16), min_size=1, max_size=4))
    chunked = b""
    rest = body
    for size in pieces:
        if not rest:
            break
        chunk, rest = rest[:size], rest[size:]
        chunked += b"%x\r\n%s\r\n" % (len(chunk), chunk)
    if rest:
        chunked += b"%x\r\n%s\r\n" % (len(rest), rest)
    chunked += b"0\r\n\r\n"
    length = b"Content-Length: %d" % len(body)
    if framing in ("length", "no-colon", "fold", "version"):
        headers.append(length)
        payload = body
    elif framing == "chunked":
        headers.append(b"Transfer-Encoding: chunked")
        payload = chunked
    elif framing == "none":
        payload = b""
    elif framing == "length-text":
        headers.append(b"Content-Length: " + draw(st.sampled_from(_BAD_LENGTHS)).encode("latin-1"))
        payload = body
    elif framing == "two-lengths":
        headers += [length, b"Content-Length: %d" % (len(body) + 1)]
        payload = body
    elif framing == "coding-and-length":
        headers += [b"Transfer-Encoding: chunked", length]
        payload = chunked
    elif framing == "coding":
        headers.append(b"Transfer-Encoding: " + draw(st.sampled_from(_BAD_CODINGS)).encode())
        payload = chunked
    elif framing == "chunk-size":
        headers.append(b"Transfer-Encoding: chunked")
        payload = draw(st.sampled_from(_BAD_SIZES)) + chunked[chunked.index(b"\r\n") :]
    elif framing == "chunk-crlf":
        headers.append(b"Transfer-Encoding: chunked")
        payload = b"%x\r\n%sXX0\r\n\r\n" % (len(body), body)
    else:
        assert framing == "short-body"
        headers.append(b"Content-Length: %d" % (len(body) + draw(st.integers(1, 100))))
        payload = body
    if framing == "no-colon":
        headers.insert(draw(st.integers(0, len(headers))), b"Broken header line")
    if framing == "fold":
        headers.insert(draw(st.integers(1, len(headers))), b" folded")
    headers = draw(st.permutations(headers)) if framing != "fold" else headers
    head = b"%s %s %s\r\nHost: x\r\n" % (method.encode(), target.encode(), version)
    request = head + b"".join(line + b"\r\n" for line in headers) + b"\r\n" + payload
    return request, framing in BROKEN, sound and framing in ("length", "chunked")


def test_raw_requests_never_get_a_5xx_and_broken_ones_store_nothing(
    capfd: pytest.CaptureFixture[str],
) -> None:
    with Emulator(rate_limit=None) as emu:

        @settings(max_examples=50, deadline=None)
        @given(_wire_requests())
        def check(case: tuple[bytes, bool, bool]) -> None:
            template, broken, stored = case
            request = template.replace(b"{}", emu.store_id.encode()).replace(
                b"Bearer KEY", b"Bearer " + emu.api_key.encode()
            )
            emu.clear()
            with _connect(emu) as sock:
                _send(sock, request)
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_WR)
                answer = _read_all(sock)
            statuses = [status for status, _, _ in _responses(answer)]
            assert all(status < 500 for status in statuses), answer
            if broken:
                assert statuses, request
                assert 400 <= statuses[0] < 500, answer
                assert emu.events() == [], request
            if stored:
                assert statuses[:1] == [202], answer
                assert len(emu.events()) == 1
            _assert_serving(emu)

        check()
    assert capfd.readouterr().err == ""
