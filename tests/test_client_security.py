"""The API key stays secret; HTTPS outside loopback; store ids cannot change the path."""

from __future__ import annotations

import itertools
import logging
import os
import pickle
import socket
import subprocess
import sys
import textwrap
import traceback
from typing import Any

import pytest
from helpers import STORE

from redo_kit._client import RedoClient
from redo_kit._errors import (
    APIConnectionError,
    APIError,
    AuthenticationError,
    ConfigurationError,
    RedoError,
)
from redo_kit._retry import RetryPolicy
from redo_kit._transport import InsecureTransportWarning, MockTransport, Request, Response

KEY = "sk_live_SECRETvalue_4f1c2a9e"


pytestmark = pytest.mark.usefixtures("isolated_env")


def event(n: int) -> dict[str, Any]:
    return {
        "eventName": "Signed Up",
        "customer": {"email": f"u{n}@example.com"},
        "uniqueId": f"u-{n}",
    }


def texts_of(exc: BaseException) -> str:
    """Everything a user could see of an error: str, repr, traceback, causes, attributes."""
    parts = ["".join(traceback.format_exception(exc)), repr(exc)]
    seen: BaseException | None = exc
    while seen is not None:
        parts.extend((str(seen), repr(seen), repr(vars(seen))))
        seen = seen.__cause__ or seen.__context__
    return "\n".join(parts)


def test_the_key_is_in_no_repr_or_str_of_the_client() -> None:
    mock = MockTransport()
    c = RedoClient(store_id=STORE, api_key=KEY, transport=mock)
    copy = c.with_options(timeout=2)
    for text in (repr(c), str(c), repr(copy), str(copy), repr(vars(c)), repr(c._config)):
        assert KEY not in text
    c.send(event(1))
    assert KEY not in repr(mock.requests[0])
    assert KEY not in repr(mock.requests)


def test_the_key_cannot_be_pickled() -> None:
    c = RedoClient(store_id=STORE, api_key=KEY, transport=MockTransport())
    with pytest.raises(TypeError):
        pickle.dumps(c._config)


def test_the_key_is_in_no_log_line_at_debug(caplog: pytest.LogCaptureFixture) -> None:
    def handler(request: Request) -> Response:
        if request.json().get("uniqueId") == "u-1":
            raise APIConnectionError("connection reset")
        return Response(202)

    script = itertools.chain(
        [Response.problem(503), Response.problem(429, headers={"Retry-After": "1"})],
        itertools.repeat(Response(202)),
    )
    with caplog.at_level(logging.DEBUG, logger="redo_kit"):
        c = RedoClient(
            store_id=STORE,
            api_key=KEY,
            transport=MockTransport(lambda r: next(script)),
            retry=RetryPolicy(attempts=5),
        )
        c.send(event(0))
        c.send_bulk([event(n) for n in range(5)])
        failing = c.with_options(transport=MockTransport(handler), retry=RetryPolicy(attempts=2))
        with pytest.raises(APIConnectionError):
            failing.send(event(1))
    messages = [record.getMessage() for record in caplog.records]
    assert len(messages) >= 6
    assert any("[redacted]" in m for m in messages)
    assert any("retrying" in m for m in messages)
    assert any("giving up" in m for m in messages)
    assert KEY not in caplog.text
    assert all(KEY not in m for m in messages)


def test_the_key_is_in_no_status_error_even_when_the_server_echoes_it() -> None:
    echo = Response.problem(
        401,
        title="Unauthorized",
        detail=f"key Bearer {KEY} is not valid",
        headers={"X-Request-Id": f"req-{KEY}"},
        errors=[{"path": "$", "rule": "auth", "message": f"bad key {KEY}"}],
    )
    c = RedoClient(store_id=STORE, api_key=KEY, transport=MockTransport(responses=[echo]))
    with pytest.raises(AuthenticationError) as caught:
        c.send(event(1))
    assert KEY not in texts_of(caught.value)
    assert "[redacted]" in str(caught.value)


def test_the_key_is_in_no_connection_error_from_the_real_transport() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with RedoClient(
        store_id=STORE,
        api_key=KEY,
        base_url=f"http://127.0.0.1:{port}/v2.2",
        retry=RetryPolicy(attempts=2),
        timeout=1,
    ) as c:
        with pytest.raises(APIConnectionError) as caught:
            c.send(event(1))
        with pytest.raises(APIError) as bulk_caught:
            c.send_bulk([event(2)])
    assert caught.value.__cause__ is not None
    assert KEY not in texts_of(caught.value)
    assert KEY not in texts_of(bulk_caught.value)
    assert KEY not in repr(bulk_caught.value.result)


@pytest.mark.parametrize(
    "bad_key",
    [f"{KEY} ", f"{KEY}\r\nX-Evil: 1", f"{KEY}\u00e9", "", f" {KEY}"],
)
def test_a_malformed_key_is_refused_without_showing_it(bad_key: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        RedoClient(store_id=STORE, api_key=bad_key, transport=MockTransport())
    if bad_key:
        assert bad_key.strip() not in texts_of(caught.value)


@pytest.mark.parametrize("level", ["debug", "INFO"])
def test_log_switch_from_the_environment_never_prints_the_key(level: str) -> None:
    program = textwrap.dedent(
        f"""
        from redo_kit import _retry as retry
        from redo_kit._client import RedoClient
        from redo_kit._transport import MockTransport, Response
        retry.set_testing(True)
        mock = MockTransport(responses=[Response.problem(503), Response(202)])
        client = RedoClient(store_id={STORE!r}, api_key={KEY!r}, transport=mock)
        client.send({{"eventName": "x", "customer": {{"email": "a@example.com"}}}})
        """
    )
    env = {**os.environ, "REDO_LOG": level}
    done = subprocess.run(
        [sys.executable, "-c", program], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert "INFO redo_kit" in done.stderr
    assert "retrying" in done.stderr
    if level == "debug":
        assert "DEBUG redo_kit" in done.stderr
        assert "[redacted]" in done.stderr
    else:
        assert "DEBUG" not in done.stderr
    assert KEY not in done.stderr
    assert KEY not in done.stdout


def test_log_stays_quiet_without_the_switch() -> None:
    program = textwrap.dedent(
        f"""
        from redo_kit._client import RedoClient
        from redo_kit._transport import MockTransport
        client = RedoClient(store_id={STORE!r}, api_key={KEY!r}, transport=MockTransport())
        client.send({{"eventName": "x", "customer": {{"email": "a@example.com"}}}})
        """
    )
    env = {k: v for k, v in os.environ.items() if k != "REDO_LOG"}
    done = subprocess.run(
        [sys.executable, "-c", program], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""


@pytest.mark.parametrize(
    "url",
    [
        "http://api.getredo.com/v2.2",
        "http://10.0.0.5/v2.2",
        "http://localhost.evil.com/v2.2",
        "ftp://api.getredo.com/v2.2",
        "https://user:pass@api.getredo.com/v2.2",
        f"https://{KEY}@api.getredo.com/v2.2",
        "https://api.getredo.com/v2.2?x=1",
        "https:///v2.2",
        "not a url",
    ],
)
def test_base_url_must_be_https_unless_loopback(url: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        RedoClient(store_id=STORE, api_key=KEY, base_url=url, transport=MockTransport())
    assert KEY not in texts_of(caught.value)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/v2.2",
        "http://127.9.8.7/v2.2",
        "http://[::1]:9000/v2.2",
        "http://localhost:9000/v2.2",
        "http://LOCALHOST/v2.2",
        "https://api.getredo.com/v2.2",
    ],
)
def test_loopback_may_use_plain_http(url: str) -> None:
    c = RedoClient(store_id=STORE, api_key=KEY, base_url=url, transport=MockTransport())
    assert c.base_url == url


@pytest.mark.parametrize(
    "store_id",
    [
        "../other-store",
        "a/b",
        "a b",
        "store\n",
        "store%2F..",
        "",
        "x" * 65,
        "störe",
        "a?b=c",
        "a#b",
    ],
)
def test_store_ids_outside_the_spec_pattern_are_refused(store_id: str) -> None:
    mock = MockTransport()
    with pytest.raises(ConfigurationError, match="store id"):
        RedoClient(store_id=store_id, api_key=KEY, transport=mock)
    assert mock.requests == []


def test_the_store_id_pattern_comes_from_the_spec() -> None:
    from redo_kit._spec import document

    pattern = document()["components"]["parameters"]["StoreId"]["schema"]["pattern"]
    assert pattern == "^[A-Za-z0-9_-]{1,64}$"
    RedoClient(store_id="A-z_0" * 12 + "abcd", api_key=KEY, transport=MockTransport())


def test_the_request_path_is_exactly_the_store_path() -> None:
    mock = MockTransport()
    c = RedoClient(
        store_id="store_-1", api_key=KEY, base_url="https://api.test/v2.2", transport=mock
    )
    c.send(event(1))
    c.send_bulk([event(2)])
    assert [r.url for r in mock.requests] == [
        "https://api.test/v2.2/stores/store_-1/events",
        "https://api.test/v2.2/stores/store_-1/events/bulk",
    ]


def test_tls_verification_is_on_by_default_and_turning_it_off_warns() -> None:
    with RedoClient(store_id=STORE, api_key=KEY) as c:
        assert "verify=True" in repr(c.transport)
    with pytest.warns(InsecureTransportWarning):
        insecure = RedoClient(store_id=STORE, api_key=KEY, verify=False)
    insecure.close()


def test_errors_are_redo_errors() -> None:
    assert issubclass(ConfigurationError, RedoError)
    assert issubclass(APIConnectionError, RedoError)


def test_the_env_handler_masks_bearer_tokens_logged_by_anyone() -> None:
    from redo_kit._logging import RedactingFilter

    record = logging.LogRecord(
        "redo_kit", logging.INFO, __file__, 1, "sent %s", (f"Authorization: Bearer {KEY}",), None
    )
    assert RedactingFilter().filter(record)
    assert KEY not in record.getMessage()
    assert record.getMessage() == "sent Authorization: Bearer [redacted]"
