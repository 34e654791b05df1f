"""A 2xx that is not Redo's answer (a wrong base URL's HTML page) delivers nothing."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import pytest
from helpers import STORE, mock_client

from redo_kit import MockTransport, RedoClient, Response, UnexpectedResponseError

EVENT: dict[str, Any] = {
    "eventName": "Order Placed",
    "customer": {"email": "stewart@example.com"},
    "uniqueId": "order-1",
}
PAGE = b"<!doctype html><html><body>Welcome to our shop</body></html>"


class _ShopPage(BaseHTTPRequestHandler):
    """A web server at the wrong address: 200 and a page, whatever is posted."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(PAGE)))
        self.end_headers()
        self.wfile.write(PAGE)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def shop_page() -> Iterator[str]:
    server = HTTPServer(("127.0.0.1", 0), _ShopPage)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v2.2"
    server.shutdown()
    server.server_close()


def test_an_html_page_answering_200_is_an_error_naming_the_base_url(
    shop_page: str, no_waits: None
) -> None:
    with RedoClient(store_id=STORE, api_key="sk_test", base_url=shop_page) as client:
        with pytest.raises(UnexpectedResponseError) as caught:
            client.send(EVENT)
        error = caught.value
        assert error.status == 200
        assert error.content_type == "text/html; charset=utf-8"
        assert shop_page in str(error)
        assert "base_url" in str(error)
        # One request: the same address would answer the same.
        assert error.result.requests == 1
        assert error.result.unique_ids == ()

        with pytest.raises(UnexpectedResponseError) as bulk:
            client.send_bulk([{**EVENT, "uniqueId": f"order-{i}"} for i in range(3)])
        result = bulk.value.result
        assert result.accepted == 0
        assert sorted(result.failed) == ["order-0", "order-1", "order-2"]


@pytest.mark.parametrize(
    "body", [b"", b"\r\n", b"{}", b'{"total": 1, "accepted": 1, "rejected": 0, "events": []}']
)
def test_an_empty_or_json_2xx_is_delivered(body: bytes, no_waits: None) -> None:
    mock = MockTransport(responses=[Response(status=202, headers={}, body=body)])
    with mock_client(mock) as client:
        assert client.send(EVENT).unique_id == "order-1"


def test_a_text_2xx_through_the_mock_is_refused_too(no_waits: None) -> None:
    mock = MockTransport(responses=[Response(status=202, headers={}, body=b"OK")])
    with mock_client(mock) as client, pytest.raises(UnexpectedResponseError, match="202"):
        client.send(EVENT)
