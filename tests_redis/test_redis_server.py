"""The fixture's redis-server is private, answers, and keeps what its append-only file holds."""

from __future__ import annotations

from pathlib import Path

import redis
from redis_server import RedisServer


def test_the_fixture_server_is_empty_and_answers(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    assert client.dbsize() == 0
    assert client.set("k", "v")
    assert client.config_get("save") == {"save": ""}
    client.close()


def test_an_aof_server_keeps_its_data_across_a_restart(tmp_path: Path) -> None:
    server = RedisServer(tmp_path / "r", appendonly=True, appendfsync="always").start()
    try:
        client = redis.Redis.from_url(server.url)
        client.xadd("s", {"f": "1"})
        client.close()
        server.kill()
        server.start()
        client = redis.Redis.from_url(server.url)
        assert client.xlen("s") == 1
        client.close()
    finally:
        server.kill()
