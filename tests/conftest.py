"""Shared test configuration: hypothesis profiles.

``ci`` (the default) keeps property tests fast on a 2-core machine; ``dev``
runs many more examples. Pick one with HYPOTHESIS_PROFILE=dev.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, settings

from redo_kit import _pacing as pacing
from redo_kit import _retry as retry

settings.register_profile(
    "ci",
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    derandomize=True,
)
settings.register_profile("dev", max_examples=500, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
pytest_plugins = ["redo_kit.testing.plugin"]


@pytest.fixture
def no_waits() -> Iterator[None]:
    """Retries and pacing do not sleep, and every test starts with fresh pacing buckets."""
    retry.set_testing(True)
    pacing.reset()
    yield
    retry.set_testing(False)
    pacing.reset()


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """None of the REDO_* variables of the machine running the tests."""
    for name in ("REDO_API_KEY", "REDO_STORE_ID", "REDO_BASE_URL", "REDO_LOG"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def isolated_env(clean_env: None, no_waits: None) -> None:
    """``no_waits`` and ``clean_env``."""
