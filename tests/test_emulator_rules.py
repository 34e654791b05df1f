"""The emulator and the senders follow the spec in use, not numbers of their own.

Each test changes figures of the shipped document and checks, inside
``redo_kit._spec.using``, that the change moves what the emulator answers
and how the client packs requests. The emulator runs in this process, so it
reads the document in use; it is started inside the block.
"""

from __future__ import annotations

import contextlib
import copy
import io
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
import urllib3

from redo_kit import ConfigurationError, RedoClient, import_events, prepare_event
from redo_kit._rules import BULK, SINGLE
from redo_kit._spec import document, using
from redo_kit.emulator import Emulator
from redo_kit.emulator._store import EventStore

STORE = "64e5a8a1af49a89df37e4ee7"
KEY = "sk_test_rules"


def _changed() -> dict[str, Any]:
    """A deep copy of the shipped document, to change and pass to ``using``."""
    spec: dict[str, Any] = copy.deepcopy(document())
    return spec


def _rate_limit(spec: dict[str, Any], path: str, requests: int) -> None:
    spec["paths"][path]["post"]["x-redo-rate-limit"]["requests"] = requests


@contextlib.contextmanager
def _serving(spec: dict[str, Any], **options: Any) -> Iterator[tuple[Emulator, Http]]:
    with using(spec), Emulator({STORE: KEY}, **options) as emu:
        http = Http(emu)
        try:
            yield emu, http
        finally:
            http.close()


class Http:
    """Raw requests to one emulator's store."""

    def __init__(self, emulator: Emulator) -> None:
        self.emulator = emulator
        self.pool = urllib3.PoolManager(retries=False, timeout=10.0)

    def close(self) -> None:
        self.pool.clear()

    def post(self, body: bytes, *, bulk: bool = False) -> urllib3.BaseHTTPResponse:
        path = f"/stores/{STORE}/events" + ("/bulk" if bulk else "")
        return self.pool.request(
            "POST",
            self.emulator.base_url + path,
            body=body,
            headers={"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"},
        )


def _order(number: int = 0) -> dict[str, Any]:
    return {
        "eventName": "Order Placed",
        "customer": {"email": f"c{number}@example.com"},
        "uniqueId": f"order-{number}",
    }


def _detail(response: urllib3.BaseHTTPResponse) -> str:
    detail: str = orjson.loads(response.data)["detail"]
    return detail


# -- rate limits ---------------------------------------------------------------


def test_each_endpoint_is_limited_at_its_own_rate_from_the_spec() -> None:
    spec = _changed()
    _rate_limit(spec, BULK, 2)
    _rate_limit(spec, SINGLE, 50)
    with _serving(spec) as (_, http):
        bulk = [http.post(orjson.dumps({"events": [_order(n)]}), bulk=True) for n in range(3)]
        single = [http.post(orjson.dumps(_order(10 + n))) for n in range(5)]
    assert [r.status for r in bulk] == [202, 202, 429]
    assert "over 2 requests per second" in _detail(bulk[2])
    assert [r.status for r in single] == [202] * 5


def test_the_default_rate_limit_names_read_the_spec_in_use() -> None:
    import redo_kit.emulator

    spec = _changed()
    _rate_limit(spec, SINGLE, 40)
    _rate_limit(spec, BULK, 30)
    with using(spec):
        assert redo_kit.emulator.DEFAULT_RATE_LIMIT == 30.0
        assert RedoClient(store_id=STORE, api_key="sk_test").rate_limit == 30.0
    assert redo_kit.emulator.DEFAULT_RATE_LIMIT == 100.0


def test_an_explicit_rate_limit_applies_to_both_endpoints() -> None:
    spec = _changed()
    _rate_limit(spec, BULK, 2)
    with _serving(spec, rate_limit=None) as (_, http):
        statuses = [
            http.post(orjson.dumps({"events": [_order(n)]}), bulk=True).status for n in range(5)
        ]
    assert statuses == [202] * 5


# -- the body limit ------------------------------------------------------------


def test_the_body_limit_and_its_message_come_from_the_spec() -> None:
    from redo_kit.emulator import _server

    spec = _changed()
    spec["components"]["responses"]["PayloadTooLarge"]["x-redo-max-body-bytes"] = 2000
    small = orjson.dumps({"events": [_order(n) for n in range(3)]})
    large = orjson.dumps({"events": [_order(n) for n in range(40)]})
    assert len(small) <= 2000 < len(large)
    with _serving(spec, rate_limit=None) as (emu, http):
        assert _server.MAX_BODY_BYTES == 2000
        refused = http.post(large, bulk=True)
        assert http.post(small, bulk=True).status == 202
        assert emu.stats()["stored"] == 3
    assert refused.status == 413
    assert f"the limit is {2000:,}" in _detail(refused)
    assert _server.MAX_BODY_BYTES == 5_242_880


# -- the bulk envelope ---------------------------------------------------------


def _at_most_seven() -> dict[str, Any]:
    spec = _changed()
    spec["components"]["schemas"]["BulkEventsRequest"]["properties"]["events"]["maxItems"] = 7
    return spec


def test_the_emulator_takes_as_many_events_per_bulk_as_the_spec_says() -> None:
    with _serving(_at_most_seven(), rate_limit=None) as (emu, http):
        refused = http.post(orjson.dumps({"events": [_order(n) for n in range(8)]}), bulk=True)
        taken = http.post(orjson.dumps({"events": [_order(n) for n in range(7)]}), bulk=True)
        stored = len(emu.events())
    assert refused.status == 400, refused.data
    assert [e["path"] for e in orjson.loads(refused.data)["errors"]] == ["$.events"]
    assert taken.status == 202, taken.data
    assert stored == 7


def _client(emu: Emulator, store_id: str = STORE) -> RedoClient:
    return RedoClient(store_id=store_id, api_key=KEY, base_url=emu.base_url, rate_limit=None)


def test_send_bulk_packs_as_many_events_per_request_as_the_spec_says(isolated_env: None) -> None:
    with _serving(_at_most_seven(), rate_limit=None) as (emu, _), _client(emu) as client:
        result = client.send_bulk(_order(n) for n in range(15))
        with pytest.raises(ValueError, match="1 to 7 events"):
            client.send_chunk([prepare_event(_order(n)) for n in range(8)])
        stats, stored = emu.stats(), len(emu.events())
    assert result.requests == 3
    assert stats["requests"] == {"202": 3}
    assert stored == 15


def test_the_batcher_packs_as_many_events_per_request_as_the_spec_says(
    isolated_env: None,
) -> None:
    with _serving(_at_most_seven(), rate_limit=None) as (emu, _), _client(emu) as client:
        with client.batcher(flush_interval=60.0) as batcher:
            for n in range(15):
                batcher.track(_order(n))
            batcher.flush()
        stats, stored = emu.stats(), len(emu.events())
    assert stats["requests"] == {"202": 3}
    assert stored == 15


def test_the_importer_packs_as_many_events_per_request_as_the_spec_says(
    isolated_env: None,
) -> None:
    lines = b"".join(orjson.dumps(_order(n)) + b"\n" for n in range(15))
    with _serving(_at_most_seven(), rate_limit=None) as (emu, _), _client(emu) as client:
        result = import_events(io.BytesIO(lines), client, concurrency=1)
        stats, stored = emu.stats(), len(emu.events())
    assert result.complete
    assert result.progress.requests == 3
    assert stats["requests"] == {"202": 3}
    assert stored == 15


# -- the store id --------------------------------------------------------------


def test_store_ids_follow_the_spec_in_the_client_and_the_keyring(isolated_env: None) -> None:
    spec = _changed()
    spec["components"]["parameters"]["StoreId"]["schema"]["pattern"] = "^[a-z]{3,8}$"
    with using(spec):
        with pytest.raises(ConfigurationError, match="StoreId pattern"):
            Emulator({STORE: KEY})
        with pytest.raises(ConfigurationError, match="StoreId pattern"):
            RedoClient(store_id=STORE, api_key=KEY, base_url="http://127.0.0.1:9/v2.2")
        with Emulator({"abc": KEY}, rate_limit=None) as emu, _client(emu, "abc") as client:
            client.send(_order())
            stored = len(emu.events("abc"))
    assert stored == 1
    # The shipped pattern takes the id the changed one refused.
    with Emulator({STORE: KEY}, rate_limit=None) as emu, _client(emu) as client:
        assert client.store_id == STORE


# -- email matching ------------------------------------------------------------


def test_emails_match_under_the_folding_the_spec_names() -> None:
    spec = _changed()
    spec["components"]["schemas"]["Customer"]["x-redo-email-matching"]["fold"] = "lower"
    # The spec's email format admits ASCII addresses only: the store is fed directly.
    sent = [
        {"eventName": "Order Placed", "customer": {"email": email}}
        for email in ("straße@example.com", "STRASSE@example.com", "Straße@Example.com")
    ]
    with using(spec):
        store = EventStore()
        try:
            store.ingest(STORE, sent)
            folded_by_lower = [c["email"] for c in store.customers(STORE)]
        finally:
            store.close()
    assert folded_by_lower == ["Straße@Example.com", "STRASSE@example.com"]
