"""Redis for the outbox, the relay and fleet pacing: the client, and scripts run on its connections.

Every Redis operation of redo-kit is a short Lua script (see
:mod:`redo_kit._outbox_redis` for why). :class:`Scripts` runs them on
redis-py connections taken from a free list of its own, rather than through
the client object: the client checks, wraps and records each command (pool
bookkeeping, retry and observability hooks), which cost about 20 µs of CPU
per round trip on a 2-vCPU machine against 5 µs for the same PING sent on
one of its connections (``benchmarks/RESULTS.md``). A relay makes two or
three calls per request, so that difference was most of its CPU per event.
Connections still come from the client's pool and still retry as the client
is configured to (its ``Retry``, on connection errors and timeouts).
"""

from __future__ import annotations

import hashlib
import os
import urllib.parse
from collections.abc import Mapping, Sequence
from typing import Any

from redo_kit._errors import ConfigurationError

__all__ = ["Scripts", "connect", "safe_url"]


def safe_url(url: str) -> str:
    """``url`` without its user name and password, fit for a message or a log line."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return urllib.parse.urlunsplit((parts.scheme, host, parts.path, "", ""))


def connect(url: str, *, timeout: float = 5.0) -> Any:
    """A redis-py client for ``url`` (``redis://``, ``rediss://`` or ``unix://``).

    ``timeout``: seconds to connect and for each command. Raises
    :class:`ConfigurationError` when redis-py is missing or the URL is not a
    Redis URL (the message never shows a password).
    """
    try:
        import redis
    except ImportError:
        raise ConfigurationError(
            "a redis:// outbox or relay needs redis-py: pip install 'redo-kit[redis]'"
        ) from None
    if urllib.parse.urlsplit(url).scheme not in ("redis", "rediss", "unix"):
        raise ConfigurationError(
            f"{safe_url(url)!r} is not a Redis URL: give redis://HOST:PORT/DB "
            "(rediss:// for TLS, unix:///path/to/socket)"
        )
    try:
        return redis.Redis.from_url(
            url, socket_timeout=timeout, socket_connect_timeout=timeout, health_check_interval=30
        )
    except ValueError as error:
        raise ConfigurationError(f"{safe_url(url)!r} is not a usable Redis URL: {error}") from None


class Scripts:
    """Named Lua scripts, run on the connections of ``client``'s pool; thread-safe.

    ``client``: a redis-py client (:func:`connect`); ``scripts``: name to Lua
    source. ``scripts(name, keys, args)`` runs one by its SHA1 (``EVALSHA``),
    sending the source once more when the server no longer has it (after a
    restart or ``SCRIPT FLUSH``), and returns redis-py's reply. Raises
    ``redis.RedisError`` as redis-py does. A connection that failed mid-call
    is dropped and reopened on its next use; after a fork, the child opens
    connections of its own.
    """

    def __init__(self, client: Any, scripts: Mapping[str, str]) -> None:
        self._pool = client.connection_pool
        self._scripts = {
            name: (hashlib.sha1(lua.encode(), usedforsecurity=False).hexdigest(), lua)
            for name, lua in scripts.items()
        }
        self._free: list[Any] = []
        self._pid = os.getpid()

    def __call__(self, name: str, keys: Sequence[Any], args: Sequence[Any]) -> Any:
        import redis

        sha, lua = self._scripts[name]
        if self._pid != os.getpid():
            # The parent's sockets are the parent's: a child reads none of them.
            self._free = []
            self._pid = os.getpid()
        try:
            connection = self._free.pop()
        except IndexError:
            connection = self._pool.get_connection()
        command = (len(keys), *keys, *args)

        def run() -> Any:
            connection.send_packed_command(_pack(connection, ("EVALSHA", sha, *command)))
            try:
                return connection.read_response()
            except redis.exceptions.NoScriptError:
                connection.send_packed_command(_pack(connection, ("EVAL", lua, *command)))
                return connection.read_response()

        try:
            return connection.retry.call_with_retry(run, lambda _error: connection.disconnect())
        except BaseException as error:
            if not isinstance(error, redis.ResponseError):
                # A reply may be half read: the next call starts on a new socket.
                connection.disconnect()
            raise
        finally:
            self._free.append(connection)


def _pack(connection: Any, command: tuple[Any, ...]) -> Any:
    """``command`` in Redis's protocol, as chunks; in C by hiredis when it is installed.

    redis-py encodes each argument in Python before hiredis packs them: about
    1 µs an argument, which for an ack of 100 entries is most of its cost.
    hiredis encodes text as UTF-8, as redis-py's default encoder does.
    """
    if _HIREDIS_PACK is not None:
        return [_HIREDIS_PACK(command)]
    return connection.pack_command(*command)


def _hiredis_pack() -> Any:
    try:
        import hiredis
    except ImportError:
        return None
    return getattr(hiredis, "pack_command", None)


_HIREDIS_PACK = _hiredis_pack()
