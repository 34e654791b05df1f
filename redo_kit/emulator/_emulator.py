"""``Emulator``: start, inspect and stop a local Redo Events API in-process."""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Iterator, Mapping
from types import TracebackType
from typing import Any

from redo_kit._client import NOT_GIVEN, NotGiven
from redo_kit._errors import ConfigurationError
from redo_kit._plan import TrackingPlan
from redo_kit._rules import BULK, SINGLE, limits
from redo_kit._signals import start_daemon
from redo_kit.emulator._auth import DEMO_API_KEY, DEMO_STORE_ID, Keyring, StoresArg, keys_of
from redo_kit.emulator._faults import FaultInjector, FaultPlan
from redo_kit.emulator._ratelimit import RateLimiter
from redo_kit.emulator._server import API_PREFIX, App, EmulatorServer
from redo_kit.emulator._store import PAGE_LIMIT, EventStore, check_database_path

__all__ = ["Emulator"]


class Emulator:
    """A stateful local Redo Events API on loopback, backed by SQLite.

    ``stores`` maps store ids to their API keys (a secret, an ``ApiKey`` with
    scopes, or a list of them); default: the demo store ``DEMO_STORE_ID`` with
    key ``DEMO_API_KEY``. ``port=0`` picks a free port. ``db`` is a SQLite file
    path; default: in memory; a directory, a file that is not SQLite or a path
    in a missing directory raises :class:`~redo_kit.ConfigurationError`.
    ``rate_limit`` is requests per second per store per endpoint; default: each
    endpoint's ``x-redo-rate-limit`` in the spec (100 in the shipped one),
    ``None`` or ``0`` for no limit. ``faults`` is a
    plan such as ``"503=0.1,lost-ack=0.05"`` (see :mod:`redo_kit.emulator._faults`),
    ``fault_delay`` the seconds a ``delay`` fault holds an answer (default 1),
    and ``seed`` makes fault draws repeatable. ``bulk_report=True`` answers
    each bulk request with the spec's per-event report (``BulkEventsReport``,
    its ``x-redo-bulk-report``) rather than the published 202 with no body,
    to test a client's handling of it. ``plan`` is a
    :class:`~redo_kit.TrackingPlan` (or the path of a plan file) that every
    stored event is checked against: verdicts stay Redo's, and each stored
    event's plan problems are kept, read with :meth:`violations` or ``GET
    /_emulator/stores/{id}/violations``.

    Use it as a context manager; ``base_url`` ends in ``/v2.2``::

        with Emulator() as emu:
            send(emu.base_url, emu.api_key, emu.store_id, event)
            assert emu.events()[0]["eventName"] == "Order Placed"
    """

    def __init__(
        self,
        stores: StoresArg | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        db: str | os.PathLike[str] | None = None,
        rate_limit: float | NotGiven | None = NOT_GIVEN,
        faults: str | Mapping[str, float] | None = None,
        fault_delay: float = 1.0,
        seed: int | None = None,
        bulk_report: bool = False,
        plan: TrackingPlan | str | os.PathLike[str] | None = None,
    ) -> None:
        if stores is None:
            stores = {DEMO_STORE_ID: DEMO_API_KEY}
        if not stores:
            raise ConfigurationError("the emulator needs at least one store")
        if fault_delay < 0:
            raise ConfigurationError(f"fault_delay must be >= 0 seconds, not {fault_delay}")
        if db is not None:
            check_database_path(db)
        if plan is not None and not isinstance(plan, TrackingPlan):
            plan = TrackingPlan.load(os.fspath(plan))
        self.plan: TrackingPlan | None = plan
        """The tracking plan stored events are checked against, if any."""
        keyring = Keyring(stores)
        first_store, first_keys = next(iter(stores.items()))
        self.store_id: str = first_store
        """The first configured store (the demo store by default)."""
        self.api_key: str = keys_of(first_keys)[0].secret
        """The first key of ``store_id``."""
        self._host = host
        self._port = port
        self._db = db
        self._keyring = keyring
        rates: dict[str, float | None] = (
            dict(limits().rate_limits)
            if isinstance(rate_limit, NotGiven)
            else dict.fromkeys((SINGLE, BULK), rate_limit)
        )
        self._limiters = {path: RateLimiter(rate) for path, rate in rates.items()}
        self._faults = FaultInjector(FaultPlan.parse(faults), seed)
        self._fault_delay = fault_delay
        self._bulk_report = bulk_report
        self._app: App | None = None
        self._server: EmulatorServer | None = None
        self._thread: threading.Thread | None = None

    def __repr__(self) -> str:
        state = self.base_url if self._server is not None else "stopped"
        return f"<Emulator {state}>"

    def start(self) -> Emulator:
        """Open the database and start serving; returns ``self``."""
        if self._server is not None:
            return self
        store = EventStore(self._db)
        app = App(
            keyring=self._keyring,
            store=store,
            limiters=self._limiters,
            faults=self._faults,
            fault_delay=self._fault_delay,
            bulk_report=self._bulk_report,
            plan=self.plan,
        )
        try:
            server = EmulatorServer((self._host, self._port), app)
        except BaseException:
            store.close()
            raise
        self._app, self._server = app, server
        self._thread = start_daemon(
            functools.partial(server.serve_forever, poll_interval=0.05),
            f"redo-kit-emulator:{self.port}",
        )
        if self._thread is None:
            server.server_close()
            store.close()
            self._server = self._app = None
            raise ConfigurationError("the emulator cannot start while the interpreter exits")
        return self

    def close(self) -> None:
        """Stop serving, close every connection and the database. Safe to call twice."""
        server, app, thread = self._server, self._app, self._thread
        if server is None or app is None:
            return
        app.stopping.set()
        server.shutdown()
        server.server_close()
        server.close_connections()
        if thread is not None:
            thread.join()
        app.store.close()
        self._server = self._app = self._thread = None

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _running(self) -> tuple[EmulatorServer, App]:
        if self._server is None or self._app is None:
            raise RuntimeError("the emulator is not running: use 'with Emulator() as emu:'")
        return self._server, self._app

    @property
    def host(self) -> str:
        """The address the emulator listens on."""
        return str(self._running()[0].server_address[0])

    @property
    def port(self) -> int:
        """The port the emulator listens on (the one picked when ``port=0``)."""
        return int(self._running()[0].server_address[1])

    @property
    def url(self) -> str:
        """``http://HOST:PORT``, the root of the emulator (``/_emulator`` lives here)."""
        host = self.host
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}"

    @property
    def base_url(self) -> str:
        """``http://HOST:PORT/v2.2``, the base URL a client sends events to."""
        return self.url + API_PREFIX

    def events(self, store_id: str | None = None) -> list[dict[str, Any]]:
        """The stored events of ``store_id`` (default: the first store), oldest first."""
        return self._running()[1].store.events(store_id or self.store_id)

    def iter_events(
        self, store_id: str | None = None, *, page_size: int = PAGE_LIMIT
    ) -> Iterator[dict[str, Any]]:
        """The stored events of ``store_id`` (default: the first store), oldest first, lazily.

        Read ``page_size`` at a time (default 1,000, at most 10,000), so a store
        of millions never sits in memory at once. Events stored while iterating
        show up at the end.
        """
        store = self._running()[1].store
        chosen = store_id or self.store_id
        after: int | None = None
        while True:
            page, after = store.events_page(chosen, page_size, after)
            yield from page
            if after is None:
                return

    def customers(self, store_id: str | None = None) -> list[dict[str, Any]]:
        """The customers of ``store_id`` (default: the first store), oldest first."""
        return self._running()[1].store.customers(store_id or self.store_id)

    def summary(self, store_id: str | None = None, top: int = 10) -> dict[str, Any]:
        """Counts for ``store_id`` (default: the first store), without reading every event.

        ``{"events": N, "customers": N, "rejected": N, "properties": [{"key", "type",
        "events"}, ...]}``, the ``top`` properties by the number of events carrying them;
        with a plan also ``"violations": N`` (stored events that broke it) and
        ``"violationsByRule": {rule: N}``.
        """
        return self._running()[1].store.summary(
            store_id or self.store_id, top, violations=self.plan is not None
        )

    def violations(self, store_id: str | None = None) -> list[dict[str, Any]]:
        """The plan violations of the stored events of ``store_id`` (default: the first store).

        Oldest first; each ``{"receivedAt", "eventId", "uniqueId", "eventName",
        "problems"}``. Empty without a plan.
        """
        return self._running()[1].store.violations(store_id or self.store_id)

    def rejected(self, store_id: str | None = None) -> list[dict[str, Any]]:
        """The bulk items dropped for ``store_id`` (default: the first store), with problems."""
        return self._running()[1].store.rejected(store_id or self.store_id)

    def stats(self, store_id: str | None = None) -> dict[str, Any]:
        """Answers per status, events stored, deduplicated, rejected, rate-limited, faults.

        Of every request by default; of ``store_id``'s only when given, as
        ``GET /_emulator/stats`` shows them to a key of that store.
        """
        return self._running()[1].stats.snapshot(store_id)

    def clear(self, store_id: str | None = None) -> None:
        """Empty ``store_id`` (default: the first store)."""
        self._running()[1].store.clear(store_id or self.store_id)
