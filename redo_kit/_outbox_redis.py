"""A fleet's outbox: events kept in a Redis stream per store until Redo has them.

:class:`RedisOutbox` implements the :class:`~redo_kit._outbox.Outbox`
protocol on Redis Streams (``client.batcher(outbox="redis://host:6379/0")``).
Every process of a fleet, on any machine, puts the events of one store into
that store's stream; relays (``redo-kit relay``, or a batcher made with
``relay=True``) read it through one consumer group, so a bulk request is
filled with the events of every producer.

**Keys.** For store ``S`` under the namespace ``N`` (default ``redo-kit``),
all in one hash slot (``{S}``), so that each script touches one Redis Cluster
node:

- ``N:{S}:events``: the stream, one entry per event: fields ``u`` (its
  ``uniqueId``), ``b`` (its prepared wire bytes), ``t`` (Unix time of the put).
  The entry ID is ``SEQ-0``: the ``seq`` of the protocol, so IDs and seqs are
  one thing and grow with every put; ``XREADGROUP`` on the group ``relays``
  hands new entries to one relay each.
- ``N:{S}:meta``: a hash of counters kept by the scripts: ``seq`` (the last
  given), ``events``/``bytes`` (held, leased included), ``leased``/
  ``leased_bytes`` (in a request now), ``later_bytes`` (released, waiting for
  their ``retry_at``), ``read`` (the last seq handed out by ``XREADGROUP``),
  ``cursor`` (where the next ``XAUTOCLAIM`` scan starts) and ``scan_at``
  (the Unix time it is due: a pass over the pending list, then a quarter of
  the visibility timeout's rest).
- ``N:{S}:later``: a sorted set of released entries, scored by ``retry_at``.
- ``N:{S}:attempts``: a hash, entry ID to requests tried and given back.

**Why Lua scripts.** Every operation (put, lease, ack, release) reads
counters and writes several keys; a bound checked in one round trip and
written in another would let concurrent producers overshoot it, and a lease
half done by a relay that died would leave counters wrong. A script runs
atomically on the server in one round trip; ``MULTI`` cannot branch on what
it read (the overflow policies do) and needs ``WATCH`` retries under
contention. Each script is short and touches only its store's keys.

**Released events stay pending.** ``release(retry_at)`` leaves the entries in
the group's pending list (they are not acknowledged, so nothing can lose
them) and scores them in ``later``; a lease takes them back (``XCLAIM``) once
``retry_at`` has passed, before newer entries. Re-adding them to the stream
instead would give them new IDs, and the seq a batcher waits for would move.

**A relay that died.** Each handle keeps the entries of its requests in
flight fresh (an ``XCLAIM`` of its own entries every quarter of
``visibility_timeout``), so an entry idle for longer than that belongs to a
relay that is gone: a lease takes it over with ``XAUTOCLAIM``, one attempt
more (its request may have been sent; the ``uniqueId`` lets the API drop a
replay). Entries released for later are idle too, and a scan that finds
them leaves them to their ``retry_at``.

**Durability.** ``put`` returns once Redis has the entry in memory. What a
Redis restart keeps depends on its persistence: with ``appendonly yes`` and
``appendfsync everysec`` (Redis's default) up to about a second of puts
before a crash of the Redis host may be lost; ``appendfsync always`` writes
every put to disk first (see ``benchmarks/RESULTS.md`` for what it costs).
A producer or relay killed with ``kill -9`` loses nothing Redis has.

**Waiting.** Redis cannot wake a process from a script: a waiting ``lease``
looks again every ``poll_interval`` seconds, and at once when this process
puts, releases or calls :meth:`RedisOutbox.wake`.
"""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from typing import Any

from redo_kit._delivery import ENVELOPE_BYTES, Room
from redo_kit._errors import ConfigurationError, OutboxError
from redo_kit._events import PreparedEvent
from redo_kit._logging import logger
from redo_kit._outbox import Dropped, Lease, OutboxSize, Overflow, check_overflow, queue_full
from redo_kit._redis import Scripts, connect, safe_url
from redo_kit._rules import limits
from redo_kit._signals import start_daemon

__all__ = ["GROUP", "RedisOutbox", "stream_keys"]

GROUP = "relays"
"""The consumer group every relay of a stream reads through."""

# Puts make the stream (XADD) but not its group: a lease makes the group when
# it is missing, from ID 0, so that it reads every entry put before it.
_ENSURE_GROUP = f"""
if redis.call('EXISTS', KEYS[1]) == 0 or redis.call('HEXISTS', KEYS[2], 'grouped') == 0 then
  redis.pcall('XGROUP', 'CREATE', KEYS[1], '{GROUP}', '0', 'MKSTREAM')
  redis.call('HSET', KEYS[2], 'grouped', '1')
end
"""

# KEYS: events, meta, later, attempts. ARGV: uniqueId, body, now, max_events,
# max_bytes, 1 to evict the oldest waiting events for room (drop_oldest), group.
# Returns {seq} or {seq, uniqueId, body, ...evicted}; {0, held, held_bytes} when full.
_PUT = """
local stream, meta, later, attempts = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local size = string.len(ARGV[2])
local m = redis.call('HMGET', meta, 'events', 'bytes', 'leased', 'leased_bytes', 'read', 'seq')
local events, bytes = tonumber(m[1]) or 0, tonumber(m[2]) or 0
local leased, leased_bytes = tonumber(m[3]) or 0, tonumber(m[4]) or 0
local max_events, max_bytes = tonumber(ARGV[4]), tonumber(ARGV[5])
local function admits()
  local held = events - leased
  return held <= 0 or (held < max_events and bytes - leased_bytes + size <= max_bytes)
end
local out = {0}
if not admits() then
  if ARGV[6] ~= '1' then return {0, events - leased, bytes - leased_bytes} end
  local read = m[5] or '0'
  while not admits() do
    local head = redis.call('XRANGE', stream, '(' .. read .. '-0', '+', 'COUNT', 1)[1]
    if head then
      redis.call('XDEL', stream, head[1])
      read = string.match(head[1], '^(%d+)')
    else
      local id = redis.call('ZRANGE', later, 0, 0)[1]
      if not id then break end
      head = redis.call('XRANGE', stream, id, id)[1]
      redis.call('ZREM', later, id)
      redis.call('XACK', stream, ARGV[7], id)
      redis.call('XDEL', stream, id)
      redis.call('HDEL', attempts, id)
      if head then
        redis.call('HINCRBY', meta, 'later_bytes', -string.len(head[2][4]))
      end
    end
    if head then
      events = events - 1
      bytes = bytes - string.len(head[2][4])
      table.insert(out, head[2][2])
      table.insert(out, head[2][4])
    end
  end
end
-- One write of the counters: the script runs alone, so what it read still holds.
local seq = (tonumber(m[6]) or 0) + 1
redis.call('XADD', stream, seq .. '-0', 'u', ARGV[1], 'b', ARGV[2], 't', ARGV[3])
redis.call('HSET', meta, 'seq', seq, 'events', events + 1, 'bytes', bytes + size)
out[1] = seq
return out
"""

# KEYS: events, meta, later, attempts. ARGV: group, consumer, now, linger,
# urgent_through, max_events, max_bytes, envelope bytes, visibility (ms).
# Returns {'wait', seconds} (seconds < 0: nothing is due at all) or
# {'lease', oldest put time, most attempts, id, uniqueId, body, id, ...}: the
# lease's age and attempts are what a relay needs of them, one each per lease.
_LEASE = (
    _ENSURE_GROUP
    + """
local stream, meta, later, attempts = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local group, me = ARGV[1], ARGV[2]
local now, linger, urgent = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local max_events, max_bytes = tonumber(ARGV[6]), tonumber(ARGV[7])
local envelope = tonumber(ARGV[8])
local function seq_of(id) return tonumber(string.match(id, '^(%d+)')) end

-- Due again: released entries past their retry_at, and entries of a relay gone.
local again = {}
for _, id in ipairs(redis.call('ZRANGEBYSCORE', later, '-inf', now, 'LIMIT', 0, max_events)) do
  table.insert(again, {id, 'later'})
end
-- The pending list is scanned for the entries of a relay gone once per quarter
-- of the visibility timeout, not on every lease: an entry is taken over only
-- after a whole timeout of silence, and a scan reads up to max_events entries.
-- A scan that has not come back to the start goes on at the next lease.
local c = redis.call('HMGET', meta, 'cursor', 'scan_at')
if now >= (tonumber(c[2]) or 0) then
  local scan = redis.call('XAUTOCLAIM', stream, group, me, ARGV[9], c[1] or '0-0',
    'COUNT', max_events, 'JUSTID')
  local scan_at = now
  if scan[1] == '0-0' then scan_at = now + tonumber(ARGV[9]) / 4000 end
  redis.call('HSET', meta, 'cursor', scan[1], 'scan_at', string.format('%.6f', scan_at))
  for _, id in ipairs(scan[2]) do
    if not redis.call('ZSCORE', later, id) then table.insert(again, {id, 'gone'}) end
  end
end
table.sort(again, function(a, b) return seq_of(a[1]) < seq_of(b[1]) end)

local m = redis.call('HMGET', meta, 'events', 'bytes', 'leased', 'leased_bytes',
  'later_bytes', 'read')
local read = m[6] or '0'
if #again == 0 then
  local unread = (tonumber(m[1]) or 0) - (tonumber(m[3]) or 0) - redis.call('ZCARD', later)
  local unread_bytes = (tonumber(m[2]) or 0) - (tonumber(m[4]) or 0) - (tonumber(m[5]) or 0)
  local head = nil
  if unread > 0 then
    head = redis.call('XRANGE', stream, '(' .. read .. '-0', '+', 'COUNT', 1)[1]
  end
  if not head then
    local next_due = redis.call('ZRANGE', later, 0, 0, 'WITHSCORES')[2]
    if next_due then return {'wait', tostring(tonumber(next_due) - now)} end
    return {'wait', '-1'}
  end
  local put_at = tonumber(head[2][6])
  if not (seq_of(head[1]) <= urgent or now - put_at >= linger
      or unread >= max_events or unread_bytes + envelope + unread >= max_bytes) then
    return {'wait', tostring(put_at + linger - now)}
  end
end

local count, total = 0, envelope
local function fits(size)
  if count == 0 then return true end
  return count < max_events and total + 1 + size <= max_bytes
end
local out = {'lease', '', '0'}
local oldest, most = nil, 0
local leased, leased_bytes, later_bytes = 0, 0, 0
-- Only entries due again have attempts: a new entry has none yet.
local function take(entry, size, again_)
  if count > 0 then total = total + 1 end
  total = total + size
  count = count + 1
  local put_at = tonumber(entry[2][6])
  if oldest == nil or put_at < oldest then oldest = put_at; out[2] = entry[2][6] end
  if again_ then
    local tries = tonumber(redis.call('HGET', attempts, entry[1]) or '0')
    if tries > most then most = tries; out[3] = tostring(tries) end
  end
  out[#out + 1] = entry[1]
  out[#out + 1] = entry[2][2]
  out[#out + 1] = entry[2][4]
end
for _, item in ipairs(again) do
  local id, from = item[1], item[2]
  local entry = redis.call('XRANGE', stream, id, id)[1]
  if not entry then
    -- Deleted under us (an eviction): nothing left to deliver.
    redis.call('ZREM', later, id)
    redis.call('XACK', stream, group, id)
  else
    local size = string.len(entry[2][4])
    if from == 'gone' then redis.call('HINCRBY', attempts, id, 1) end
    if fits(size) then
      if from == 'later' then
        redis.call('ZREM', later, id)
        redis.call('XCLAIM', stream, group, me, 0, id, 'JUSTID')
        leased, leased_bytes, later_bytes = leased + 1, leased_bytes + size, later_bytes - size
      end
      take(entry, size, true)
    elseif from == 'gone' then
      -- Taken over but no room left: due again at once, for the next lease.
      redis.call('ZADD', later, now, id)
      leased, leased_bytes, later_bytes = leased - 1, leased_bytes - size, later_bytes + size
    end
  end
end
if count < max_events then
  -- Looked at first, so that only the entries that fit are handed to this consumer.
  local fit = 0
  local peek = redis.call('XRANGE', stream, '(' .. read .. '-0', '+', 'COUNT', max_events - count)
  for _, entry in ipairs(peek) do
    if not fits(string.len(entry[2][4])) then break end
    fit = fit + 1
    take(entry, string.len(entry[2][4]), false)
    leased, leased_bytes = leased + 1, leased_bytes + string.len(entry[2][4])
  end
  if fit > 0 then
    local got = redis.call('XREADGROUP', 'GROUP', group, me, 'COUNT', fit,
      'STREAMS', stream, '>')
    read = tostring(seq_of(got[1][2][#got[1][2]][1]))
    redis.call('HSET', meta, 'read', read)
  end
end
redis.call('HINCRBY', meta, 'leased', leased)
redis.call('HINCRBY', meta, 'leased_bytes', leased_bytes)
redis.call('HINCRBY', meta, 'later_bytes', later_bytes)
if count == 0 then return {'wait', '0'} end
return out
"""
)

# KEYS: events, meta, later, attempts. ARGV: group, then each entry's ID and
# body size. Acks and deletes the entries still pending (not taken over and
# acked by another relay since); returns how many were. One XACK per entry
# says which; the rest is one command for all of them.
_ACK = """
local stream, meta, later, attempts = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local ids, sizes = {}, {}
for i = 2, #ARGV, 2 do
  if redis.call('XACK', stream, ARGV[1], ARGV[i]) == 1 then
    ids[#ids + 1] = ARGV[i]
    sizes[#ids] = tonumber(ARGV[i + 1])
  end
end
if #ids == 0 then return 0 end
local scores = redis.call('ZMSCORE', later, unpack(ids))
local waiting, total, leased_bytes, later_bytes = {}, 0, 0, 0
for i = 1, #ids do
  total = total + sizes[i]
  if scores[i] then
    waiting[#waiting + 1] = ids[i]
    later_bytes = later_bytes + sizes[i]
  else
    leased_bytes = leased_bytes + sizes[i]
  end
end
if #waiting > 0 then redis.call('ZREM', later, unpack(waiting)) end
redis.call('XDEL', stream, unpack(ids))
redis.call('HDEL', attempts, unpack(ids))
-- 0 - n, not -n: Lua writes -0 as "-0", which Redis refuses as an integer.
redis.call('HINCRBY', meta, 'events', 0 - #ids)
redis.call('HINCRBY', meta, 'bytes', 0 - total)
redis.call('HINCRBY', meta, 'leased', 0 - (#ids - #waiting))
redis.call('HINCRBY', meta, 'leased_bytes', 0 - leased_bytes)
if later_bytes > 0 then redis.call('HINCRBY', meta, 'later_bytes', 0 - later_bytes) end
return #ids
"""

# KEYS: events, meta, later, attempts. ARGV: group, consumer, retry_at, ids...
# Gives back the entries this consumer still holds (not those taken over since).
_RELEASE = """
local stream, meta, later, attempts = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
for i = 4, #ARGV do
  local id = ARGV[i]
  local pending = redis.call('XPENDING', KEYS[1], ARGV[1], id, id, 1)[1]
  if pending and pending[2] == ARGV[2] and not redis.call('ZSCORE', later, id) then
    local entry = redis.call('XRANGE', stream, id, id)[1]
    if entry then
      local size = string.len(entry[2][4])
      redis.call('ZADD', later, ARGV[3], id)
      redis.call('HINCRBY', attempts, id, 1)
      redis.call('HINCRBY', meta, 'leased', -1)
      redis.call('HINCRBY', meta, 'leased_bytes', -size)
      redis.call('HINCRBY', meta, 'later_bytes', size)
    end
  end
end
return 0
"""

# KEYS: events. ARGV: group, consumer, ids... Resets the idle time of the
# entries this consumer still holds: its requests are alive.
_KEEP = """
for i = 3, #ARGV do
  local pending = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[i], ARGV[i], 1)[1]
  if pending and pending[2] == ARGV[2] then
    redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], 0, ARGV[i], 'JUSTID')
  end
end
return 0
"""

# KEYS: events, meta. Returns events, bytes, leased, last seq, oldest entry ID or false.
_SIZE = """
local m = redis.call('HMGET', KEYS[2], 'events', 'bytes', 'leased', 'seq')
local first = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', 1)[1]
return {m[1] or '0', m[2] or '0', m[3] or '0', m[4] or '0', first and first[1] or false}
"""

# KEYS: events. ARGV: group, consumer. Removes the consumer if it holds nothing.
_FORGET = """
local ok, consumers = pcall(redis.call, 'XINFO', 'CONSUMERS', KEYS[1], ARGV[1])
if not ok then return 0 end
for _, c in ipairs(consumers) do
  local fields = {}
  for i = 1, #c, 2 do fields[c[i]] = c[i + 1] end
  if fields['name'] == ARGV[2] and tonumber(fields['pending']) == 0 then
    redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], ARGV[2])
    return 1
  end
end
return 0
"""


def stream_keys(store_id: str, namespace: str = "redo-kit") -> tuple[str, str, str, str]:
    """The keys of ``store_id``'s outbox: (stream, counters, released, attempts)."""
    prefix = f"{namespace}:{{{store_id}}}"
    return f"{prefix}:events", f"{prefix}:meta", f"{prefix}:later", f"{prefix}:attempts"


class RedisOutbox:
    """The outbox of one store in Redis, shared by every process of a fleet; see the module doc.

    ``url``: ``redis://HOST:PORT/DB`` (a password in it never reaches a log
    or an error). ``store_id``: the store whose stream this is.
    ``namespace``: the prefix of its keys; default ``redo-kit``.
    ``max_events``: events held, leased ones excluded, counted across the
    fleet; default 1,000,000. ``max_bytes``: their serialized bytes; default
    256 MiB (Redis keeps them in memory). An event larger than that is still
    taken when the outbox is empty.
    ``overflow`` and ``block_timeout``: what ``put`` does when full, as for
    :class:`~redo_kit._outbox.MemoryOutbox` (default ``"block"``, 1 second).
    ``visibility_timeout``: seconds an entry of a request may go without a
    sign of life from its relay before another relay takes it over; default
    30. ``poll_interval``: seconds between looks for events put by other
    processes; default 0.05. ``timeout``: seconds for each Redis command;
    default 5. A Redis error raises :class:`OutboxError`.
    """

    def __init__(
        self,
        url: str,
        *,
        store_id: str,
        namespace: str = "redo-kit",
        max_events: int = 1_000_000,
        max_bytes: int = 256 * 1024 * 1024,
        overflow: Overflow = "block",
        block_timeout: float = 1.0,
        visibility_timeout: float = 30.0,
        poll_interval: float = 0.05,
        timeout: float = 5.0,
    ) -> None:
        check_overflow(overflow)
        if not visibility_timeout > 0:
            raise ConfigurationError(
                "visibility_timeout must be a positive number of seconds, "
                f"got {visibility_timeout!r}"
            )
        self._url = url
        self._shown = safe_url(url)
        self._store_id = store_id
        self._namespace = namespace
        self._keys = stream_keys(store_id, namespace)
        self._max_events = max_events
        self._max_bytes = max_bytes
        self._overflow = overflow
        self._block_timeout = block_timeout
        self._visibility = float(visibility_timeout)
        self._poll = poll_interval
        self._timeout = timeout
        self._most = limits().bulk_events[1]
        self._max_body = limits().max_body_bytes
        self._consumer = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:12]}"
        self._redis = connect(url, timeout=timeout)
        self._scripts = Scripts(
            self._redis,
            {
                "put": _PUT,
                "lease": _LEASE,
                "ack": _ACK,
                "release": _RELEASE,
                "keep": _KEEP,
                "size": _SIZE,
                "forget": _FORGET,
            },
        )
        self._lock = threading.Lock()
        self._ready = threading.Condition(self._lock)
        self._room = threading.Condition(self._lock)
        self._woken = False
        self._closed = False
        self._tokens = 0
        self._leases: dict[int, list[bytes]] = {}
        self._keeper: threading.Thread | None = None
        self._stop = threading.Event()
        # Calls running now: close waits for them before closing the connections.
        self._calls = 0
        self._idle = threading.Condition(self._lock)
        self._final: OutboxSize | None = None
        self._call("open", "size", self._keys[:2], [])

    @property
    def url(self) -> str:
        """The Redis URL, without credentials."""
        return self._shown

    @property
    def store_id(self) -> str:
        """The store whose events this outbox holds."""
        return self._store_id

    @property
    def consumer(self) -> str:
        """This handle's name in the consumer group (host, pid and a random part)."""
        return self._consumer

    def _call(self, doing: str, script: str, keys: Any, args: list[Any]) -> Any:
        import redis

        with self._lock:
            self._calls += 1
        try:
            return self._scripts(script, keys, args)
        except redis.RedisError as error:
            raise OutboxError(
                f"Redis outbox of store {self._store_id} at {self._shown}: {doing} failed: "
                f"{type(error).__name__}: {error}",
                path=self._shown,
            ) from error
        finally:
            with self._lock:
                self._calls -= 1
                if not self._calls:
                    self._idle.notify_all()

    # -- put -----------------------------------------------------------------

    def put(self, event: PreparedEvent) -> tuple[int, list[Dropped]]:
        """Keep ``event``; returns once Redis has it (one script, one round trip)."""
        if self._closed:
            return 0, [(event, "closed")]
        deadline = time.monotonic() + self._block_timeout
        while True:
            if self._closed:
                return 0, [(event, "closed")]
            answer = self._call(
                "put",
                "put",
                self._keys,
                [
                    event.unique_id,
                    event.body,
                    repr(time.time()),
                    self._max_events,
                    self._max_bytes,
                    "1" if self._overflow == "drop_oldest" else "0",
                    GROUP,
                ],
            )
            seq = int(answer[0])
            if seq:
                dropped: list[Dropped] = [
                    (PreparedEvent(body=answer[i + 1], unique_id=answer[i].decode()), "evicted")
                    for i in range(1, len(answer), 2)
                ]
                with self._lock:
                    self._ready.notify()
                return seq, dropped
            held, held_bytes = int(answer[1]), int(answer[2])
            if self._overflow == "raise":
                raise queue_full(held, held_bytes, event)
            if self._overflow == "drop_newest":
                return 0, [(event, "queue-full")]
            with self._lock:
                remaining = deadline - time.monotonic()
                if self._closed or remaining <= 0:
                    return 0, [(event, "closed" if self._closed else "queue-full")]
                self._room.wait(min(remaining, self._poll))

    # -- lease ---------------------------------------------------------------

    def lease(
        self, room: Room, *, linger: float, wait: float, urgent_through: int = 0
    ) -> Lease | None:
        # The room is the spec's (the script counts it); a lease fills a fresh one.
        del room
        deadline = time.monotonic() + wait
        while not self._closed:
            answer = self._call(
                "lease",
                "lease",
                self._keys,
                [
                    GROUP,
                    self._consumer,
                    repr(time.time()),
                    repr(float(linger)),
                    urgent_through,
                    self._most,
                    self._max_body,
                    ENVELOPE_BYTES,
                    int(self._visibility * 1000),
                ],
            )
            if answer[0] == b"lease":
                return self._leased(answer)
            hint = float(answer[1])
            with self._lock:
                if self._woken:
                    self._woken = False
                    return None
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._closed:
                    return None
                pause = min(remaining, self._poll)
                if hint >= 0:
                    pause = min(pause, hint)
                if pause > 0:
                    self._ready.wait(pause)
        return None

    def _leased(self, answer: list[Any]) -> Lease:
        # Stored bodies are the producers' prepared bytes, sent as they are:
        # each event's payload is read only if something asks for it.
        ids = answer[3::3]
        events = [
            PreparedEvent(body=body, unique_id=uid.decode())
            for uid, body in zip(answer[4::3], answer[5::3], strict=True)
        ]
        with self._lock:
            self._woken = False
            self._tokens += 1
            token = self._tokens
            self._leases[token] = ids
            self._room.notify_all()
            if self._keeper is None:
                self._keeper = start_daemon(self._keep_alive, "redo-kit-outbox-keeper")
        return Lease(
            events=tuple(events),
            enqueued_at=float(answer[1]),
            attempts=int(answer[2]),
            token=token,
        )

    def _keep_alive(self) -> None:
        """Reset the idle time of this handle's leased entries, every quarter of the timeout."""
        while not self._stop.wait(self._visibility / 4):
            with self._lock:
                ids = [i for taken in self._leases.values() for i in taken]
            if ids:
                try:
                    self._call("keep", "keep", self._keys[:1], [GROUP, self._consumer, *ids])
                except OutboxError as error:
                    logger.warning("%s; its requests may be taken over by another relay", error)

    # -- settling ------------------------------------------------------------

    def ack(self, lease: Lease) -> None:
        with self._lock:
            ids = self._leases.pop(lease.token, None)
        if ids:
            args: list[Any] = [GROUP]
            for entry, event in zip(ids, lease.events, strict=True):
                args += (entry, len(event.body))
            self._call("ack", "ack", self._keys, args)
        with self._lock:
            self._room.notify_all()

    def release(self, lease: Lease, *, retry_at: float) -> None:
        with self._lock:
            ids = self._leases.pop(lease.token, None)
        if ids:
            self._call(
                "release",
                "release",
                self._keys,
                [GROUP, self._consumer, repr(max(retry_at, 0.0)), *ids],
            )
        with self._lock:
            self._ready.notify()

    def wake(self) -> None:
        with self._lock:
            self._woken = True
            self._ready.notify_all()

    def size(self) -> OutboxSize:
        if self._final is not None:
            return self._final
        events, size, leased, seq, first = self._call("size", "size", self._keys[:2], [])
        return OutboxSize(
            events=int(events),
            bytes=int(size),
            leased=int(leased),
            oldest=None if first is None else int(first.split(b"-")[0]),
            last_put=int(seq),
        )

    def close(self) -> list[PreparedEvent]:
        """Stop taking events and hand this handle's leases back; nothing is lost (``[]``).

        Events still in a request of this handle are due again at once for
        another relay, one attempt more (their request may have been sent).
        Afterwards ``put`` refuses events as ``closed``, ``lease`` returns
        ``None`` and ``size`` gives the counts at closing.
        """
        with self._lock:
            if self._closed:
                return []
            self._closed = True
            self._stop.set()
            leases = list(self._leases.values())
            self._leases.clear()
            self._ready.notify_all()
            self._room.notify_all()
        try:
            ids = [i for taken in leases for i in taken]
            if ids:
                self._call(
                    "close", "release", self._keys, [GROUP, self._consumer, repr(time.time()), *ids]
                )
            self._call("close", "forget", self._keys[:1], [GROUP, self._consumer])
            self._final = self.size()
        except OutboxError as error:
            logger.warning("%s; its events stay in Redis", error)
        finally:
            with self._lock:
                self._idle.wait_for(lambda: not self._calls, timeout=self._timeout)
            self._redis.close()
        return []

    def fork_child(self) -> RedisOutbox:
        """A new handle on the same stream, with the same settings, for a child after a fork."""
        return RedisOutbox(
            self._url,
            store_id=self._store_id,
            namespace=self._namespace,
            max_events=self._max_events,
            max_bytes=self._max_bytes,
            overflow=self._overflow,
            block_timeout=self._block_timeout,
            visibility_timeout=self._visibility,
            poll_interval=self._poll,
            timeout=self._timeout,
        )

    def __repr__(self) -> str:
        return f"<RedisOutbox store={self._store_id} at {self._shown}>"
