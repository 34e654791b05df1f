"""Scripts on the connections of a redis-py pool: reloading, reconnecting, forks, errors."""

from __future__ import annotations

import os
import threading
import uuid
from pathlib import Path

import pytest
import redis
from redis_server import RedisServer

from redo_kit import _redis
from redo_kit._redis import Scripts, connect

_INCR = "return redis.call('INCRBY', KEYS[1], ARGV[1])"
_FAIL = "return redis.error_reply('no such thing: ' .. ARGV[1])"


def test_a_script_the_server_forgot_is_sent_again(redis_url: str) -> None:
    scripts = Scripts(connect(redis_url), {"incr": _INCR})
    assert scripts("incr", ["n"], [2]) == 2
    redis.Redis.from_url(redis_url).script_flush()
    assert scripts("incr", ["n"], [3]) == 5
    assert redis.Redis.from_url(redis_url).get("n") == b"5"


def named(url: str) -> tuple[redis.Redis, str]:
    """A client whose connections carry a name of their own, and that name."""
    name = f"t-{uuid.uuid4().hex[:8]}"
    return redis.Redis.from_url(url, client_name=name), name


def connections(url: str, name: str) -> int:
    """Connections to the server named ``name`` now."""
    observer = redis.Redis.from_url(url)
    try:
        return sum(1 for c in observer.client_list() if c["name"] == name)
    finally:
        observer.close()


def test_calls_reuse_one_connection_and_threads_take_their_own(redis_url: str) -> None:
    client, name = named(redis_url)
    scripts = Scripts(client, {"incr": _INCR})
    for _ in range(50):
        scripts("incr", ["n"], [1])
    assert connections(redis_url, name) == 1
    started = threading.Barrier(4)

    def call() -> None:
        started.wait()
        for _ in range(200):
            scripts("incr", ["n"], [1])

    threads = [threading.Thread(target=call) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert redis.Redis.from_url(redis_url).get("n") == b"850"
    # Never more connections than calls at once.
    assert 1 <= connections(redis_url, name) <= 4


def test_a_script_error_raises_and_leaves_the_connection_usable(redis_url: str) -> None:
    client, name = named(redis_url)
    scripts = Scripts(client, {"fail": _FAIL, "incr": _INCR})
    assert scripts("incr", ["n"], [1]) == 1
    with pytest.raises(redis.ResponseError, match="no such thing: x"):
        scripts("fail", [], ["x"])
    assert scripts("incr", ["n"], [1]) == 2
    assert connections(redis_url, name) == 1


def test_a_restarted_server_is_reached_on_a_new_connection(tmp_path: Path) -> None:
    server = RedisServer(tmp_path).start()
    try:
        scripts = Scripts(connect(server.url), {"incr": _INCR})
        assert scripts("incr", ["n"], [1]) == 1
        server.stop()
        with pytest.raises(redis.ConnectionError):
            scripts("incr", ["n"], [1])
        server.start()
        # The server lost its scripts and its data: the source is sent again.
        assert scripts("incr", ["n"], [7]) == 7
    finally:
        server.stop()


def test_a_forked_child_opens_its_own_connection(redis_url: str) -> None:
    client, name = named(redis_url)
    scripts = Scripts(client, {"incr": _INCR})
    assert scripts("incr", ["n"], [1]) == 1
    assert connections(redis_url, name) == 1
    called_r, called_w = os.pipe()
    done_r, done_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: one call, then wait for the parent to look, then leave
        try:
            os.write(called_w, str(scripts("incr", ["n"], [10])).encode())
            os.read(done_r, 1)
        finally:
            os._exit(0)
    try:
        assert int(os.read(called_r, 64)) == 11
        # The parent's socket and the child's own.
        assert connections(redis_url, name) == 2
    finally:
        os.write(done_w, b"x")
        os.waitpid(pid, 0)
        for fd in (called_r, called_w, done_r, done_w):
            os.close(fd)
    assert scripts("incr", ["n"], [1]) == 12


def test_commands_are_packed_the_same_without_hiredis(
    redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    scripts = Scripts(connect(redis_url), {"incr": _INCR})
    with_hiredis = scripts("incr", ["é"], [2])
    monkeypatch.setattr(_redis, "_HIREDIS_PACK", None)
    assert scripts("incr", ["é"], [3]) == with_hiredis + 3
    assert redis.Redis.from_url(redis_url).get("é".encode()) == b"5"
