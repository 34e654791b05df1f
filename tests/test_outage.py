"""A Redo outage with default settings: the batcher keeps every event and delivers it once."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from helpers import STORE, page_view

from redo_kit._client import RedoClient
from redo_kit.emulator import Emulator

KEY = "sk_outage_test"


@pytest.mark.slow
def test_a_20_second_outage_loses_nothing_with_default_settings(tmp_path: Path) -> None:
    db = tmp_path / "store.sqlite3"
    emu = Emulator({STORE: KEY}, db=db).start()
    port = emu.port
    client = RedoClient(store_id=STORE, api_key=KEY, base_url=emu.base_url)
    batcher = client.batcher()
    try:
        tracked = [batcher.track(page_view(n)) for n in range(500)]
        assert batcher.flush(30).completed
        # Down: every connection is refused for 20 s while the service keeps
        # tracking, 100 events a second.
        emu.close()
        down_at = time.monotonic()
        for n in range(500, 2500, 100):
            tracked.extend(batcher.track(page_view(i)) for i in range(n, n + 100))
            time.sleep(1)
        assert time.monotonic() - down_at >= 20
        assert batcher.stats().failed == 0
        emu = Emulator({STORE: KEY}, port=port, db=db).start()
        tracked.extend(batcher.track(page_view(i)) for i in range(2500, 3000))
        result = batcher.close(60)
        stats = batcher.stats()
        stored = [event["uniqueId"] for event in emu.iter_events()]
        deduplicated = emu.stats()["deduplicated"]
    finally:
        # A batcher left running would retry for 600 s beside the next tests.
        batcher.close(0)
        emu.close()
        client.close()
    assert result.completed, result
    assert (stats.sent, stats.failed, stats.dropped) == (3000, 0, 0)
    assert stats.deferred > 0
    assert len(stored) == len(set(stored)) == 3000
    assert sorted(stored) == sorted(tracked)
    # Nothing needed the API's deduplication: no request was sent twice after a 202.
    assert deduplicated == 0
