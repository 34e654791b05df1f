"""The transport seam: Urllib3Transport over real loopback sockets, MockTransport in memory."""

from __future__ import annotations

import http.server
import os
import socket
import threading
import time
from collections.abc import Iterator

import pytest
import urllib3

from redo_kit._errors import APIConnectionError, APITimeoutError, ConfigurationError
from redo_kit._transport import (
    InsecureTransportWarning,
    MockTransport,
    MockTransportExhausted,
    Request,
    Response,
    Timeout,
    Transport,
    Urllib3Transport,
    redact_headers,
)


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    connections: set[tuple[str, int]]
    seen: list[tuple[str, str, dict[str, str], bytes]]

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length)
        self.server.seen.append((self.command, self.path, dict(self.headers), body))  # type: ignore[attr-defined]
        self.server.connections.add(self.client_address)  # type: ignore[attr-defined]
        if self.path == "/slow":
            time.sleep(0.3)
        if self.path == "/redirect":
            self.send_response(302)
            self.send_header("Location", "http://example.invalid/elsewhere")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        payload = b'{"ok":true}'
        self.send_response(202)
        self.send_header("Content-Type", "application/json")
        self.send_header("X-Request-Id", "req-1")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[http.server.ThreadingHTTPServer]:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.daemon_threads = True
    httpd.seen = []  # type: ignore[attr-defined]
    httpd.connections = set()  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()
    thread.join()


def _url(httpd: http.server.ThreadingHTTPServer, path: str) -> str:
    host, port = httpd.server_address[:2]
    return f"http://{host!s}:{port}{path}"


@pytest.fixture
def transport() -> Iterator[Urllib3Transport]:
    t = Urllib3Transport()
    yield t
    t.close()


def test_urllib3_transport_sends_the_exact_bytes_and_returns_status_headers_body(
    server: http.server.ThreadingHTTPServer, transport: Urllib3Transport
) -> None:
    body = b'{"eventName":"x"}'
    response = transport.request(
        Request(
            "POST",
            _url(server, "/v2.2/stores/s/events"),
            {"Content-Type": "application/json"},
            body,
        )
    )
    assert response.status == 202
    assert response.body == b'{"ok":true}'
    assert response.header("x-request-id") == "req-1"
    assert response.header("X-REQUEST-ID") == "req-1"
    method, path, headers, received = server.seen[0]  # type: ignore[attr-defined]
    assert (method, path, received) == ("POST", "/v2.2/stores/s/events", body)
    assert headers["Content-Type"] == "application/json"


def test_connections_are_kept_alive_between_requests(
    server: http.server.ThreadingHTTPServer, transport: Urllib3Transport
) -> None:
    for _ in range(5):
        assert transport.request(Request("POST", _url(server, "/"), {}, b"{}")).status == 202
    assert len(server.connections) == 1  # type: ignore[attr-defined]


def test_redirects_are_not_followed(
    server: http.server.ThreadingHTTPServer, transport: Urllib3Transport
) -> None:
    response = transport.request(
        Request("POST", _url(server, "/redirect"), {"Authorization": "Bearer k"}, b"{}")
    )
    assert response.status == 302
    assert len(server.seen) == 1  # type: ignore[attr-defined]


def test_refused_connection_is_wrapped_with_the_urllib3_error_as_cause(
    transport: Urllib3Transport,
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(APIConnectionError) as caught:
        transport.request(Request("POST", f"http://127.0.0.1:{port}/", {}, b"{}"))
    assert not isinstance(caught.value, APITimeoutError)
    assert isinstance(caught.value.__cause__, urllib3.exceptions.HTTPError)
    assert "could not connect" in str(caught.value)


def test_read_timeout_is_an_api_timeout_error(
    server: http.server.ThreadingHTTPServer, transport: Urllib3Transport
) -> None:
    request = Request("POST", _url(server, "/slow"), {}, b"{}", Timeout(connect=1, read=0.05))
    with pytest.raises(APITimeoutError) as caught:
        transport.request(request)
    assert isinstance(caught.value.__cause__, urllib3.exceptions.ReadTimeoutError)
    assert "read timeout" in str(caught.value)


def test_connection_closed_without_an_answer_is_a_connection_error(
    transport: Urllib3Transport,
) -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]

    def drop_one() -> None:
        conn, _ = listener.accept()
        conn.recv(65536)
        conn.close()

    thread = threading.Thread(target=drop_one)
    thread.start()
    try:
        with pytest.raises(APIConnectionError) as caught:
            transport.request(Request("POST", f"http://127.0.0.1:{port}/", {}, b"{}"))
    finally:
        thread.join()
        listener.close()
    assert isinstance(caught.value.__cause__, urllib3.exceptions.HTTPError)


def test_turning_tls_verification_off_warns() -> None:
    with pytest.warns(InsecureTransportWarning, match="verification is off"):
        transport = Urllib3Transport(verify=False)
    transport.close()


def test_timeouts_are_never_unbounded() -> None:
    assert Timeout() == Timeout(5.0, 30.0)
    assert Timeout.of(2) == Timeout(2.0, 2.0)
    assert Timeout.of((1, 3)) == Timeout(1.0, 3.0)
    with pytest.raises(TypeError):
        Timeout.of(None)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="positive"):
        Timeout(0, 1)


@pytest.mark.parametrize(
    ("connect", "read", "name"),
    [
        (0, 1, "connect"),
        (-1, 1, "connect"),
        (float("nan"), 1, "connect"),
        (1, -1, "read"),
        (1, float("inf"), "read"),
    ],
)
def test_a_bad_timeout_is_a_configuration_error_naming_the_phase(
    connect: float, read: float, name: str
) -> None:
    with pytest.raises(ConfigurationError, match=rf"^{name} must be a positive, finite number"):
        Timeout(connect, read)


def test_request_repr_and_redacted_headers_hide_credentials() -> None:
    headers = {"Authorization": "Bearer sk_live_secret", "Content-Type": "application/json"}
    request = Request("POST", "https://api.example/x", headers, b"{}")
    assert "sk_live_secret" not in repr(request)
    assert "sk_live_secret" not in str(request)
    assert redact_headers(headers) == {
        "Authorization": "[redacted]",
        "Content-Type": "application/json",
    }
    assert request.header("authorization") == "Bearer sk_live_secret"


def test_response_problem_builds_problem_json() -> None:
    response = Response.problem(429, title="Too Many Requests", headers={"Retry-After": "2"})
    assert response.status == 429
    assert response.header("retry-after") == "2"
    assert response.header("content-type") == "application/problem+json"
    assert b'"title":"Too Many Requests"' in response.body


def test_mock_transport_answers_202_by_default_and_records_requests() -> None:
    mock = MockTransport()
    assert isinstance(mock, Transport)
    assert mock.request(Request("POST", "https://x/1", {}, b"a")).status == 202
    assert mock.request(Request("POST", "https://x/2", {}, b"b")).status == 202
    assert [r.body for r in mock.requests] == [b"a", b"b"]


def test_mock_transport_plays_a_script_then_refuses_more() -> None:
    boom = APIConnectionError("reset")
    mock = MockTransport(responses=[503, boom, Response(202, {"X-A": "1"})])
    assert mock.request(Request("POST", "https://x")).status == 503
    with pytest.raises(APIConnectionError):
        mock.request(Request("POST", "https://x"))
    assert mock.request(Request("POST", "https://x")).header("x-a") == "1"
    with pytest.raises(MockTransportExhausted):
        mock.request(Request("POST", "https://x"))
    assert len(mock.requests) == 4


def test_mock_transport_handler_sees_each_request() -> None:
    mock = MockTransport(lambda request: Response(400 if request.body == b"bad" else 202))
    assert mock.request(Request("POST", "https://x", body=b"bad")).status == 400
    assert mock.request(Request("POST", "https://x", body=b"ok")).status == 202
    with pytest.raises(TypeError):
        MockTransport(lambda r: Response(202), responses=[202])


def test_mock_transport_records_from_many_threads() -> None:
    mock = MockTransport()

    def work() -> None:
        for _ in range(200):
            mock.request(Request("POST", "https://x"))

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(mock.requests) == 1600


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_never_reads_from_the_parents_sockets(
    server: http.server.ThreadingHTTPServer, transport: Urllib3Transport
) -> None:
    assert transport.request(Request("POST", _url(server, "/"), {}, b"{}")).status == 202
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        try:
            status = transport.request(Request("POST", _url(server, "/"), {}, b"{}")).status
            os.write(write, str(status).encode())
        finally:
            os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    answer = os.read(read, 16)
    os.close(read)
    assert answer == b"202"
    assert transport.request(Request("POST", _url(server, "/"), {}, b"{}")).status == 202
    # The parent kept its connection; the child opened its own.
    assert len(server.connections) == 2  # type: ignore[attr-defined]
