"""pytest fixtures: a running emulator per test, or a client that records what it sends.

Enable them in a ``conftest.py`` with ``pytest_plugins = ["redo_kit.testing.plugin"]``.

- ``emulator``: an in-memory emulator with the demo store and no rate limit,
  fresh for each test.
- ``emulator_factory``: a function taking the options of
  :class:`redo_kit.emulator.Emulator` (stores, rate_limit, faults, seed, db...)
  that starts one more emulator; every emulator it started is closed after the
  test.
- ``redo_sent``: a :class:`RedoSent`: a ``RedoClient`` on a
  :class:`~redo_kit.MockTransport` that answers 202, and every event it
  sent, for unit tests with no sockets. Retry and pacing waits are off.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import orjson
import pytest

from redo_kit._client import RedoClient
from redo_kit._retry import is_testing, set_testing
from redo_kit._transport import MockTransport, Request
from redo_kit.emulator import Emulator

__all__ = ["RedoSent", "emulator", "emulator_factory", "redo_sent"]

EmulatorFactory = Callable[..., Emulator]


@pytest.fixture
def emulator_factory() -> Iterator[EmulatorFactory]:
    """Start emulators with custom options; all are closed at the end of the test."""
    started: list[Emulator] = []

    def start(**options: Any) -> Emulator:
        emulator = Emulator(**options).start()
        started.append(emulator)
        return emulator

    try:
        yield start
    finally:
        for emulator in reversed(started):
            emulator.close()


@pytest.fixture
def emulator(emulator_factory: EmulatorFactory) -> Emulator:
    """A running in-memory emulator: the demo store, no rate limit, no faults."""
    return emulator_factory(rate_limit=None)


class RedoSent:
    """What a test's code sent through :attr:`client`, read back from its requests."""

    STORE_ID = "64e5a8a1af49a89df37e4ee7"
    """The store the client sends to (shaped like Redo's)."""

    def __init__(self) -> None:
        self.transport = MockTransport()
        """The in-memory transport: every request, answered 202."""
        self.client = RedoClient(
            store_id=self.STORE_ID,
            api_key="sk_redo_sent",
            base_url="http://127.0.0.1:9/v2.2",
            transport=self.transport,
            rate_limit=None,
        )
        """A client to hand to the code under test (or to build its batcher from)."""

    @property
    def requests(self) -> list[Request]:
        """Every request, oldest first."""
        return self.transport.requests

    @property
    def events(self) -> list[dict[str, Any]]:
        """Every event sent, in the order of the requests, bulk requests opened."""
        found: list[dict[str, Any]] = []
        for request in self.transport.requests:
            body = orjson.loads(request.body)
            if request.url.endswith("/events/bulk"):
                found.extend(body["events"])
            else:
                found.append(body)
        return found


@pytest.fixture
def redo_sent() -> Iterator[RedoSent]:
    """A client that sends nowhere and records every event; no retry or pacing waits."""
    was_testing = is_testing()
    set_testing(True)
    sent = RedoSent()
    try:
        yield sent
    finally:
        sent.client.close()
        set_testing(was_testing)
