"""One attempt never outlives its total timeout, and an answer's body is read only so far.

The servers here are raw sockets on loopback that trickle their answers, the
way a stuck proxy or a hostile peer does: a byte now and then, each well
inside the read timeout.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from redo_kit import NO_RETRY, APITimeoutError, RedoClient, Timeout, Urllib3Transport
from redo_kit._transport import MAX_ANSWER_BYTES, Request

Serve = Callable[[socket.socket], None]


@pytest.fixture
def server() -> Iterator[Callable[[Serve], str]]:
    """Start a one-behaviour server; yields a function taking it and giving the base URL."""
    listeners: list[socket.socket] = []
    stop = threading.Event()

    def start(behaviour: Serve) -> str:
        listener = socket.create_server(("127.0.0.1", 0))
        listener.settimeout(0.2)
        listeners.append(listener)

        def accept() -> None:
            while not stop.is_set():
                try:
                    conn, _ = listener.accept()
                except OSError:
                    continue
                threading.Thread(target=_serve, args=(conn, behaviour), daemon=True).start()

        threading.Thread(target=accept, daemon=True).start()
        return f"http://127.0.0.1:{listener.getsockname()[1]}/v2.2"

    yield start
    stop.set()
    for listener in listeners:
        listener.close()


def _serve(conn: socket.socket, behaviour: Serve) -> None:
    with conn:
        conn.settimeout(10)
        received = b""
        try:
            while b"\r\n\r\n" not in received:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                received += chunk
            behaviour(conn)
        except OSError:
            return


def _trickle_body(conn: socket.socket) -> None:
    conn.sendall(b"HTTP/1.1 202 Accepted\r\nContent-Length: 100\r\n\r\n")
    for _ in range(100):
        conn.sendall(b"x")
        time.sleep(0.3)


def _trickle_headers(conn: socket.socket) -> None:
    for byte in b"HTTP/1.1 202 Accepted\r\nX-Slow: " + b"y" * 100:
        conn.sendall(bytes([byte]))
        time.sleep(0.3)


@pytest.mark.parametrize("behaviour", [_trickle_body, _trickle_headers])
def test_a_trickling_answer_ends_at_the_total_timeout(
    server: Callable[[Serve], str], behaviour: Serve
) -> None:
    transport = Urllib3Transport()
    timeout = Timeout(connect=1, read=1, total=1.5)
    request = Request("POST", f"{server(behaviour)}/x", {}, b"{}", timeout)
    started = time.monotonic()
    with pytest.raises(APITimeoutError, match=r"within 1\.5 s \(total timeout\)"):
        transport.request(request)
    # Each byte came well inside the 1 s read timeout; only the total stops it.
    assert time.monotonic() - started < 3
    transport.close()


def test_send_returns_within_its_bound_against_a_trickling_server(
    server: Callable[[Serve], str],
) -> None:
    base_url = server(_trickle_body)
    with RedoClient(
        store_id="64e5a8a1af49a89df37e4ee7",
        api_key="sk_test",
        base_url=base_url,
        timeout=Timeout(connect=1, read=1, total=1),
        retry=NO_RETRY,
        rate_limit=None,
    ) as client:
        started = time.monotonic()
        with pytest.raises(APITimeoutError):
            client.send({"eventName": "x", "customer": {"email": "a@example.com"}})
        assert time.monotonic() - started < 2.5


def test_the_default_total_is_connect_plus_read() -> None:
    assert Timeout().total == 35
    assert Timeout(2, 3).total == 5
    assert Timeout.of(4).total == 8


def test_an_answer_body_is_read_only_up_to_the_cap(server: Callable[[Serve], str]) -> None:
    size = MAX_ANSWER_BYTES * 20

    def huge(conn: socket.socket) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n")
        conn.sendall(f"Content-Length: {size}\r\n\r\n".encode())
        chunk = b"z" * 65536
        for _ in range(size // len(chunk)):
            conn.sendall(chunk)

    transport = Urllib3Transport()
    answer = transport.request(Request("POST", f"{server(huge)}/x", {}, b"{}", Timeout(2, 5)))
    assert answer.status == 200
    assert len(answer.body) == MAX_ANSWER_BYTES
    # The connection that still held the rest is not reused: a second request works.
    again = transport.request(Request("POST", f"{server(huge)}/x", {}, b"{}", Timeout(2, 5)))
    assert len(again.body) == MAX_ANSWER_BYTES
    transport.close()
