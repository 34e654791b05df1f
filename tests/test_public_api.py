"""The public surface: a complete, sorted __all__, and an import that stays light."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

import redo_kit


def _isort_key(name: str) -> tuple[int, str]:
    # ruff's order (RUF022): CONSTANTS, then Classes, then functions.
    return (0 if name.isupper() else 1 if name[0].isupper() else 2, name)


def test_all_is_sorted_and_unique() -> None:
    assert len(set(redo_kit.__all__)) == len(redo_kit.__all__)
    assert redo_kit.__all__ == sorted(redo_kit.__all__, key=_isort_key)


def test_all_names_every_export_and_each_resolves() -> None:
    assert set(redo_kit.__all__) == {*redo_kit._EXPORTS, "__version__"}
    for name in redo_kit.__all__:
        assert getattr(redo_kit, name) is not None, name


def test_unknown_attribute_raises_attribute_error() -> None:
    with pytest.raises(AttributeError, match="DoesNotExist"):
        redo_kit.DoesNotExist  # type: ignore[attr-defined]  # noqa: B018


def test_import_is_lazy() -> None:
    """``import redo_kit`` loads none of the heavy parts until they are used."""
    heavy = ["urllib3", "jsonschema_rs", "cattrs", "redo_kit_models", "phonenumbers", "sqlite3"]
    code = f"import sys, redo_kit; print([m for m in {heavy!r} if m in sys.modules])"
    # Unmeasured: coverage's own start-up in a measured child imports sqlite3.
    env = {k: v for k, v in os.environ.items() if not k.startswith("COVERAGE_")}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    )
    assert done.stdout.strip() == "[]"
