"""pytest fixtures: a running emulator per test.

Enable them in a ``conftest.py`` with ``pytest_plugins = ["redo_kit.testing.plugin"]``.

- ``emulator``: an in-memory emulator with the demo store and no rate limit,
  fresh for each test.
- ``emulator_factory``: a function taking the options of
  :class:`redo_kit.emulator.Emulator` (stores, rate_limit, faults, seed, db...)
  that starts one more emulator; every emulator it started is closed after the
  test.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from redo_kit.emulator import Emulator

__all__ = ["emulator", "emulator_factory"]

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
