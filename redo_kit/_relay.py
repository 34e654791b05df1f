"""The relay: delivers what a fleet's producers put into Redis, for one or more stores.

::

    relay = Relay("redis://redis:6379/0", [RedoClient(store_id=..., api_key=...), ...])
    relay.start()            # or relay.run(stop_event) on the calling thread
    ...
    relay.stop(timeout=30)   # finishes the requests in flight, then returns

Producers track events with ``client.batcher(outbox="redis://...")``: each
event lands in its store's stream (:mod:`redo_kit._outbox_redis`). A relay
reads every configured store's stream through the consumer group, so a bulk
request is filled with up to 100 events of all producers, and sends it
through the delivery engine (:func:`~redo_kit._delivery.deliver`) with the
store's :class:`~redo_kit._client.RedoClient` (its pacing, shared by the
fleet when fleet pacing is on, and its retries). An event is acknowledged in
the stream only once Redo answered 2xx, or once it was given up for good and
written to the dead-letter file. Several relays share the work: each entry
goes to one of them, and the entries of a relay that died are taken over by
another after the visibility timeout.

A request that fails with a retryable error goes back to the stream (due
after a jittered backoff, honouring ``Retry-After``) until its oldest event
is ``delivery_timeout`` seconds old; then its events are dead-lettered.
``redo-kit relay`` runs one as a long-lived process.
"""

from __future__ import annotations

import functools
import os
import threading
import time
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

import attrs

from redo_kit._delivery import Batch, Job, Outcome, Room, deliver
from redo_kit._errors import ConfigurationError, OutboxError, RateLimitError
from redo_kit._events import PreparedEvent
from redo_kit._logging import logger
from redo_kit._outbox import Lease, append_dead_letter
from redo_kit._outbox_redis import RedisOutbox
from redo_kit._signals import start_daemon

if TYPE_CHECKING:
    from redo_kit._client import RedoClient

__all__ = ["Relay", "RelayStats"]

_OUTBOX_RETRY = 1.0
"""Seconds a store's drain waits after Redis failed to answer, before it asks again."""


_DEAD_LETTER_RETRY = 60.0
"""Seconds before events whose dead-letter write failed are tried again (sent again)."""


@attrs.frozen(kw_only=True)
class RelayStats:
    """A relay's counters since it started, summed over its stores.

    ``queued``: events waiting in the streams (every producer's, not yet in a
    request of any relay); ``in_flight``: events in this relay's requests now;
    ``delivered``: events Redo accepted; ``retried``: request attempts after
    the first (the later tries of a request given back included);
    ``dead_lettered``: events given up for good (refused by the API, or past
    their delivery budget); ``requests``: requests Redo accepted;
    ``rate_limited``: 429 answers seen.
    """

    queued: int
    in_flight: int
    delivered: int
    retried: int
    dead_lettered: int
    requests: int
    rate_limited: int

    def line(self) -> str:
        """The counters as one line, for a log or a terminal."""
        return (
            f"queued={self.queued} in_flight={self.in_flight} delivered={self.delivered} "
            f"retried={self.retried} dead_lettered={self.dead_lettered} "
            f"requests={self.requests} rate_limited={self.rate_limited}"
        )


class _Store:
    """One store's stream, client and counters; its drain runs on a thread of its own."""

    def __init__(self, client: RedoClient, outbox: RedisOutbox) -> None:
        self.client = client
        self.outbox = outbox
        self.lock = threading.Lock()
        self.in_flight: dict[int, int] = {}
        self.delivered = 0
        self.retried = 0
        self.dead_lettered = 0
        self.requests = 0
        self.rate_limited = 0
        self.thread: threading.Thread | None = None


class Relay:
    """Drains the Redis streams of one or more stores into Redo; see the module doc.

    ``url``: the Redis the producers put into (``redis://HOST:PORT/DB``).
    ``clients``: one :class:`~redo_kit._client.RedoClient` per store, each
    with its store's key; a relay never closes them.
    ``namespace``: the key prefix the producers use; default ``redo-kit``.
    ``senders``: requests in flight at once per store; default 8.
    ``linger``: seconds the oldest waiting event may wait for a fuller
    request; default 0.2. ``delivery_timeout``: seconds from ``track`` during
    which a retryable failure is tried again; default 600.
    ``dead_letter``: a JSONL file events given up for good are appended to
    (one wire event per line, replayable with ``redo-kit import``); without
    one they are logged (a WARNING with their count) and dropped.
    ``visibility_timeout``: seconds before another relay takes over the
    requests of one that died; default 30. ``poll_interval``: seconds between
    looks into an idle stream; default 0.05.
    """

    def __init__(
        self,
        url: str,
        clients: Sequence[RedoClient],
        *,
        namespace: str = "redo-kit",
        senders: int = 8,
        linger: float = 0.2,
        delivery_timeout: float = 600.0,
        dead_letter: str | os.PathLike[str] | None = None,
        visibility_timeout: float = 30.0,
        poll_interval: float = 0.05,
    ) -> None:
        if not clients:
            raise ConfigurationError("a relay needs at least one store: give clients=[...]")
        stores = [client.store_id for client in clients]
        if len(set(stores)) != len(stores):
            raise ConfigurationError(
                f"each store may be given once to a relay; repeated: "
                f"{sorted({s for s in stores if stores.count(s) > 1})}"
            )
        if isinstance(senders, bool) or not isinstance(senders, int) or senders < 1:
            raise ConfigurationError(f"senders must be an integer >= 1, got {senders!r}")
        for name, number in (("linger", linger), ("delivery_timeout", delivery_timeout)):
            if not 0 <= number < float("inf"):
                raise ConfigurationError(
                    f"{name} must be a finite number of seconds >= 0, got {number!r}"
                )
        self._senders = senders
        self._linger = float(linger)
        self._delivery_timeout = float(delivery_timeout)
        self._dead_letter = os.fspath(dead_letter) if dead_letter is not None else None
        self._dead_letter_lock = threading.Lock()
        self._stopping = threading.Event()
        self._stores: list[_Store] = []
        try:
            for client in clients:
                outbox = RedisOutbox(
                    url,
                    store_id=client.store_id,
                    namespace=namespace,
                    visibility_timeout=visibility_timeout,
                    poll_interval=poll_interval,
                )
                self._stores.append(_Store(client, outbox))
        except BaseException:
            for store in self._stores:
                store.outbox.close()
            raise

    @property
    def store_ids(self) -> list[str]:
        """The stores this relay drains, in the order given."""
        return [store.client.store_id for store in self._stores]

    # -- running -------------------------------------------------------------

    def start(self) -> None:
        """Start draining every store, each on a daemon thread of its own."""
        for store in self._stores:
            if store.thread is None:
                store.thread = start_daemon(functools.partial(self._drain, store), "redo-kit-relay")

    def run(self, stop: threading.Event) -> None:
        """Drain every store until ``stop`` is set, then finish what is in flight and return."""
        self.start()
        stop.wait()
        self.stop()

    def stop(self, timeout: float = 60.0) -> bool:
        """Take no new events, wait up to ``timeout`` s for the requests in flight, close.

        Returns whether every request ended in time. Events of a request
        still running then stay pending in Redis: another relay takes them
        over after the visibility timeout.
        """
        self._stopping.set()
        deadline = time.monotonic() + timeout
        ended = True
        for store in self._stores:
            store.outbox.wake()
        for store in self._stores:
            if store.thread is not None:
                store.thread.join(max(0.0, deadline - time.monotonic()))
                ended = ended and not store.thread.is_alive()
        for store in self._stores:
            store.outbox.close()
        return ended

    def _drain(self, store: _Store) -> None:
        try:
            deliver(
                self._leases(store),
                store.client,
                lambda job, outcome: self._settle(store, job, outcome),
                concurrency=self._senders,
                ordered=False,
                stop_on_failure=False,
            )
        except Exception:  # the drain must report, never die silently
            logger.exception("redo-kit relay: the drain of store %s stopped", store.client.store_id)

    def _leases(self, store: _Store) -> Iterator[Job[Lease]]:
        failures = 0
        while not self._stopping.is_set():
            try:
                lease = store.outbox.lease(Room(), linger=self._linger, wait=0.5)
            except OutboxError as error:
                failures += 1
                if failures == 1 or failures % 60 == 0:
                    logger.warning("redo-kit relay: %s (%d time(s) in a row)", error, failures)
                self._stopping.wait(_OUTBOX_RETRY)
                continue
            failures = 0
            if lease is None:
                continue
            with store.lock:
                store.in_flight[lease.token] = len(lease.events)
            yield Job(batch=Batch.of(lease.events), context=lease)

    # -- settling ------------------------------------------------------------

    def _settle(self, store: _Store, job: Job[Lease], outcome: Outcome | None) -> None:
        lease = job.context
        if outcome is None:  # every lease has a request: not reached
            return
        retries = outcome.sent.retries + (1 if lease.attempts else 0)
        with store.lock:
            store.retried += retries
            store.rate_limited += outcome.sent.rate_limited
        error = outcome.error
        try:
            if error is None:
                rejected = [r.event for r in outcome.rejected]
                if not self._give_up(store, rejected, "refused by the API's bulk report"):
                    store.outbox.release(lease, retry_at=time.time() + _DEAD_LETTER_RETRY)
                    return
                store.outbox.ack(lease)
                with store.lock:
                    store.delivered += len(lease.events) - len(rejected)
                    store.requests += 1
                return
            age = time.time() - lease.enqueued_at
            if outcome.retryable and self._stopping.is_set():
                # Due at once, for whichever relay is still running.
                store.outbox.release(lease, retry_at=time.time())
                return
            if outcome.retryable and age < self._delivery_timeout:
                store.outbox.release(
                    lease, retry_at=time.time() + self._backoff(store, lease, error)
                )
                return
            reason = (
                f"not delivered within {self._delivery_timeout:g} s: {error}"
                if outcome.retryable
                else str(error)
            )
            if self._give_up(store, list(lease.events), reason):
                store.outbox.ack(lease)
            else:
                store.outbox.release(lease, retry_at=time.time() + _DEAD_LETTER_RETRY)
        except OutboxError as error_:
            # Not acked: the entries stay pending and are taken over later.
            logger.warning("redo-kit relay: %s", error_)
        finally:
            with store.lock:
                store.in_flight.pop(lease.token, None)

    def _backoff(self, store: _Store, lease: Lease, error: Exception) -> float:
        policy = store.client.settings.retry
        wait = policy.backoff(lease.attempts + 1)
        if isinstance(error, RateLimitError) and error.retry_after is not None:
            wait = max(wait, min(error.retry_after, policy.retry_after_max))
        return wait

    def _give_up(self, store: _Store, events: Sequence[PreparedEvent], reason: str) -> bool:
        """Dead-letter ``events`` (the file, or a warning) and count them; whether that worked.

        When the file cannot be written, nothing is counted: the caller keeps
        the events in the stream for a later try.
        """
        if not events:
            return True
        if self._dead_letter is None:
            with store.lock:
                store.dead_lettered += len(events)
            logger.warning(
                "redo-kit relay: %d event(s) of store %s given up (%s); pass a dead-letter "
                "file to keep them",
                len(events),
                store.client.store_id,
                reason,
            )
            return True
        if not append_dead_letter(self._dead_letter, events, self._dead_letter_lock):
            return False
        with store.lock:
            store.dead_lettered += len(events)
        logger.warning(
            "redo-kit relay: %d event(s) of store %s written to %s (%s)",
            len(events),
            store.client.store_id,
            self._dead_letter,
            reason,
        )
        return True

    # -- reporting -----------------------------------------------------------

    def stats(self) -> RelayStats:
        """The counters now; ``queued`` asks Redis (one call per store)."""
        queued = 0
        for store in self._stores:
            try:
                size = store.outbox.size()
            except OutboxError:
                continue
            queued += size.events - size.leased
        parts = []
        for store in self._stores:
            with store.lock:
                parts.append(
                    (
                        sum(store.in_flight.values()),
                        store.delivered,
                        store.retried,
                        store.dead_lettered,
                        store.requests,
                        store.rate_limited,
                    )
                )
        return RelayStats(
            queued=queued,
            in_flight=sum(p[0] for p in parts),
            delivered=sum(p[1] for p in parts),
            retried=sum(p[2] for p in parts),
            dead_lettered=sum(p[3] for p in parts),
            requests=sum(p[4] for p in parts),
            rate_limited=sum(p[5] for p in parts),
        )

    def __repr__(self) -> str:
        return f"<Relay stores={self.store_ids}>"
