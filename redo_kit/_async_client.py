"""The async client: ``RedoClient``'s guarantees for asyncio services, never blocking the loop.

::

    from redo_kit import AsyncRedoClient

    async with AsyncRedoClient() as client:   # REDO_STORE_ID, REDO_API_KEY from the environment
        await client.send(event)                # one event, single endpoint
        result = await client.send_bulk(events) # a sync or an async iterable

An :class:`AsyncRedoClient` is a :class:`~redo_kit._client.RedoClient`
underneath (``client.sync``): the same settings and environment variables,
the same preparation, pacing, retries, errors, redaction, results and
``send_bulk`` bookkeeping (:class:`~redo_kit._client.BulkRun`), and the
delivery engine's packing and ordered, bounded delivery
(:func:`~redo_kit._delivery.adeliver`), none of it written twice. Events
are prepared on the loop's thread (microseconds; an invalid one raises
:class:`~redo_kit._errors.ValidationError` there, nothing sent).
Each request is then posted by the ``RedoClient`` on a thread of a bounded
pool that this client owns: the HTTP round trip, the pacing waits, the
backoff between retries and a 429's ``Retry-After`` all happen on that
thread, while the loop goes on serving.

The pool holds ``2 x concurrency`` threads (default 8): each endpoint,
single and bulk, may use ``concurrency`` of them at once, so that 1,000
waiting ``send()``s never hold up a ``send_bulk`` (the API counts the two
endpoints' rates apart too). What waits for a thread waits on the loop, in
order, at no cost to it. ``concurrency`` threads reach an endpoint's 100
requests/s while a round trip takes under ``concurrency / 100`` seconds (40
ms at the default); the default transport keeps 10 connections per host.
A :mod:`concurrent.futures` pool serves here where the delivery engine
keeps threads of its own: such a pool refuses work once the interpreter is
shutting down, when an event loop no longer runs anyway; a batcher's last
flush at exit goes through the engine's threads.

Why threads and not an async HTTP library, by measurement
(``benchmarks/bench_async.py`` against the emulator in its own process at
100 requests/s per endpoint, 2026-12-02, ``benchmarks/RESULTS.md``):
``send_bulk`` delivers 0.999 to 1.000 of the 10,000 events/s ceiling,
1,000 concurrent ``send()``s 0.996 to 1.000 of the single endpoint's 100
requests/s with none lost, and the loop's p99 lag stays at 1.1 to 4.7 ms
meanwhile (target 5; the higher figures on a loaded machine), for about
1 ms of CPU per request over the sync client's. The rate limit, not the
transport, bounds throughput: a few threads carry the at most 100
requests/s per endpoint and store, so urllib3 stays the one HTTP
dependency, and an async HTTP library in an extra would add a second
transport to keep in step for nothing the targets need.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, TypeVar

from redo_kit._client import (
    NOT_GIVEN,
    BulkResult,
    BulkRun,
    ClientOptions,
    ClientSettings,
    NotGiven,
    RedoClient,
    SendResult,
)
from redo_kit._delivery import BULK, SINGLE, Batch, Job, Outcome, adeliver, send
from redo_kit._errors import RedoError
from redo_kit._signals import in_daemon, quiet_this_thread
from redo_kit._transport import Transport

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from redo_kit._events import PreparedEvent, PrepareOptions

__all__ = ["AsyncRedoClient"]

T = TypeVar("T")

_END: Any = object()

_SLICE = 0.001
"""Seconds of preparing input that ``send_bulk`` does before it lets the loop run other tasks."""


class _Pool:
    """The threads of one client (and of the copies sharing them), and a lane per endpoint."""

    def __init__(self, concurrency: int) -> None:
        self.executor = ThreadPoolExecutor(
            max_workers=2 * concurrency,
            thread_name_prefix="redo-kit-async",
            # Its threads' first act: leave SIGTERM and Ctrl-C to the main thread.
            initializer=quiet_this_thread,
        )
        self.lanes = {SINGLE: asyncio.Semaphore(concurrency), BULK: asyncio.Semaphore(concurrency)}


class AsyncRedoClient:
    """A client for one Redo store, for asyncio code: every call awaits, none blocks the loop.

    Takes what :class:`~redo_kit._client.RedoClient` takes, resolved the same
    way: ``settings`` (a ready :class:`~redo_kit._client.ClientSettings`),
    ``transport``, and the keyword arguments of
    :class:`~redo_kit._client.ClientOptions` (``store_id``, ``api_key``,
    ``base_url``, ``timeout``, ``retry``, ``rate_limit``, ``verify``,
    ``concurrency``, ``prepare``), each the argument, then the environment,
    then the default. Requests go out on ``2 x concurrency`` threads of its
    own (see the module's docstring).

    Use it as ``async with AsyncRedoClient(...) as client``, or await
    :meth:`aclose`. Use one client from one event loop.

    **Cancellation and timeouts.** When an ``await client.send(...)`` is
    cancelled, or times out under ``asyncio.timeout`` (3.11+) or
    ``asyncio.wait_for``:

    - if its request was still waiting for a thread, it is never sent;
    - if a thread had it, a thread cannot be interrupted: the request
      completes in the background, retries included, within the retry
      policy's bounds, and its result is dropped (a failure is logged by
      the client as any is, at INFO). :meth:`aclose` waits for it, and so
      does the interpreter's exit.

    The caller cannot tell which happened: the event may have been stored.
    Send it again to be sure:
    prepare it once (:meth:`prepare`) and send that
    :class:`~redo_kit._events.PreparedEvent`, or give it a ``unique_id``,
    and Redo keeps one copy, since it deduplicates by ``uniqueId``. A
    cancelled ``send_bulk`` reads no more input and sends no new request;
    requests already on a thread complete in the background.
    """

    def __init__(
        self,
        *,
        settings: ClientSettings | None = None,
        transport: Transport | NotGiven = NOT_GIVEN,
        **options: Unpack[ClientOptions],
    ) -> None:
        client = RedoClient(settings=settings, transport=transport, **options)
        self._init(client, _Pool(client.settings.concurrency), owns_pool=True)

    def _init(self, client: RedoClient, pool: _Pool, *, owns_pool: bool) -> None:
        self._client = client
        self._pool = pool
        self._owns_pool = owns_pool
        self._closed = False

    # -- configuration -------------------------------------------------------

    @property
    def sync(self) -> RedoClient:
        """The :class:`~redo_kit._client.RedoClient` underneath: same settings, same pool.

        For its :meth:`~redo_kit._client.RedoClient.batcher` (``track()`` is a
        plain call, ``await batcher.aflush()`` and ``aclose()`` never block the
        loop). Calling its blocking methods from a coroutine blocks the loop.
        """
        return self._client

    @property
    def settings(self) -> ClientSettings:
        """Every setting of this client, as one immutable value."""
        return self._client.settings

    @property
    def store_id(self) -> str:
        """The store events are sent to."""
        return self._client.store_id

    @property
    def base_url(self) -> str:
        """The API root, version included, without a trailing slash."""
        return self._client.base_url

    def with_options(
        self,
        *,
        transport: Transport | NotGiven = NOT_GIVEN,
        **changes: Unpack[ClientOptions],
    ) -> AsyncRedoClient:
        """A new client with these settings changed; this one is left as it is.

        As :meth:`RedoClient.with_options <redo_kit._client.RedoClient.with_options>`:
        checked like the client's own settings, never read from the
        environment again, sharing this client's connection pool (unless
        ``transport`` is given or ``verify`` changes). The copy also shares
        this client's threads unless ``concurrency`` changes; close the
        original when done.
        """
        client = self._client.with_options(transport=transport, **changes)
        copy = AsyncRedoClient.__new__(AsyncRedoClient)
        if client.settings.concurrency == self._client.settings.concurrency:
            copy._init(client, self._pool, owns_pool=False)
        else:
            copy._init(client, _Pool(client.settings.concurrency), owns_pool=True)
        return copy

    # -- lifecycle -----------------------------------------------------------

    async def aclose(self) -> None:
        """Wait for the requests in flight (those of cancelled calls too), then release all.

        Stops this client's threads and closes the connection pool it
        created, off the loop's thread. Idempotent. A copy made by
        :meth:`with_options` that shares the threads leaves them running.
        """
        if self._closed:
            return
        self._closed = True
        pool, client, owns = self._pool, self._client, self._owns_pool

        def release() -> None:
            if owns:
                pool.executor.shutdown(wait=True)
            client.close()

        await in_daemon(release, "redo-kit-async-close")

    @property
    def closed(self) -> bool:
        """Whether :meth:`aclose` was called."""
        return self._closed

    async def __aenter__(self) -> AsyncRedoClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return (
            f"AsyncRedoClient(store_id={self.store_id!r}, base_url={self.base_url!r}, "
            f"api_key='[redacted]')"
        )

    # -- sending -------------------------------------------------------------

    def prepare(
        self,
        event: Any,
        *,
        unique_id: str | None = None,
        options: PrepareOptions | None = None,
        allow_unknown_keys: bool | None = None,
        default_region: str | None = None,
        move_nested_to_extra: bool | None = None,
    ) -> PreparedEvent:
        """``event`` as :meth:`send` would put it on the wire; nothing is sent.

        A plain call (CPU only, microseconds), as
        :meth:`RedoClient.prepare <redo_kit._client.RedoClient.prepare>`. Send
        the result as often as needed, after a timeout for instance: its
        ``uniqueId`` is fixed, so Redo stores it once.
        """
        return self._client.prepare(
            event,
            unique_id=unique_id,
            options=options,
            allow_unknown_keys=allow_unknown_keys,
            default_region=default_region,
            move_nested_to_extra=move_nested_to_extra,
        )

    async def send(
        self,
        event: Any,
        *,
        unique_id: str | None = None,
        options: PrepareOptions | None = None,
        allow_unknown_keys: bool | None = None,
        default_region: str | None = None,
        move_nested_to_extra: bool | None = None,
    ) -> SendResult:
        """Send one event through the single-event endpoint; what ``RedoClient.send`` does.

        The arguments and the :class:`~redo_kit._client.SendResult` are
        :meth:`RedoClient.send <redo_kit._client.RedoClient.send>`'s. Raises
        :class:`~redo_kit._errors.ValidationError` at once (nothing sent) when
        the event is invalid, and an :class:`~redo_kit._errors.APIError`
        subclass when the API refuses it or retries run out. See the class's
        docstring for what a cancellation leaves behind.
        """
        prepared = self.prepare(
            event,
            unique_id=unique_id,
            options=options,
            allow_unknown_keys=allow_unknown_keys,
            default_region=default_region,
            move_nested_to_extra=move_nested_to_extra,
        )
        return await self._in_thread(SINGLE, functools.partial(self._client.send, prepared))

    async def send_bulk(
        self,
        events: Iterable[Any] | AsyncIterable[Any],
        *,
        options: PrepareOptions | None = None,
        allow_unknown_keys: bool | None = None,
        default_region: str | None = None,
        move_nested_to_extra: bool | None = None,
    ) -> BulkResult:
        """Send any number of events through the bulk endpoint; what ``RedoClient.send_bulk`` does.

        ``events``: any iterable or async iterable, read as it is sent. The
        keywords, the packing into requests, the rejections and duplicates,
        the :class:`~redo_kit._client.BulkResult` and the failure (the typed
        error, raised with ``error.result``, once the requests in flight
        ended; no more input read) are those of
        :meth:`RedoClient.send_bulk <redo_kit._client.RedoClient.send_bulk>`.
        Up to ``concurrency`` requests are in flight at once, settled in
        input order.
        """
        if self._closed:
            raise RedoError("this AsyncRedoClient is closed; create a new one")
        client = self._client
        run = BulkRun(
            client.settings.prepare if options is None else options,
            allow_unknown_keys=allow_unknown_keys,
            default_region=default_region,
            move_nested_to_extra=move_nested_to_extra,
        )
        read = _reader(events)

        async def jobs() -> AsyncIterator[Job[None]]:
            slice_ends = time.perf_counter() + _SLICE
            while (event := await read()) is not _END:
                run.add(event)
                while run.ready:
                    yield Job(batch=run.take(), context=None)
                if time.perf_counter() >= slice_ends:
                    await asyncio.sleep(0)
                    slice_ends = time.perf_counter() + _SLICE
            run.finish()
            while run.ready:
                yield Job(batch=run.take(), context=None)

        def post(batch: Batch) -> Awaitable[Outcome]:
            return self._in_thread(batch.endpoint, functools.partial(send, client, batch))

        def settle(job: Job[None], outcome: Outcome | None) -> None:
            if outcome is not None:
                run.settle(outcome)

        await adeliver(jobs(), post, settle, concurrency=client.settings.concurrency)
        return run.result()

    # -- internals -----------------------------------------------------------

    async def _in_thread(self, endpoint: str, call: Callable[[], T]) -> T:
        """``call()`` on one of this client's threads, within ``endpoint``'s lane.

        Cancelled while it waits for its lane, ``call`` never runs; once it
        runs, the await is shielded from cancellation: the call completes on
        its thread and frees the lane when it ends.
        """
        if self._closed:
            raise RedoError("this AsyncRedoClient is closed; create a new one")
        lane = self._pool.lanes[endpoint]
        await lane.acquire()
        if self._closed:
            lane.release()
            raise RedoError("this AsyncRedoClient is closed; create a new one")
        try:
            future = asyncio.get_running_loop().run_in_executor(self._pool.executor, call)
        except RuntimeError as exc:  # the threads are shut down: by the original of this copy
            lane.release()
            raise RedoError(
                "this AsyncRedoClient's threads are closed (the client it was copied from with "
                "with_options was closed first): close copies before their original"
            ) from exc
        future.add_done_callback(lambda _: lane.release())
        return await asyncio.shield(future)


def _reader(events: Iterable[Any] | AsyncIterable[Any]) -> Callable[[], Any]:
    """An awaitable read of the next input event, or ``_END``; for both kinds of iterable."""
    if isinstance(events, AsyncIterable):
        source = aiter(events)

        async def read_async() -> Any:
            return await anext(source, _END)

        return read_async
    iterator = iter(events)

    async def read() -> Any:
        return next(iterator, _END)

    return read
