"""The public surface: a complete, sorted __all__, an import that stays light, and the README."""

from __future__ import annotations

import ast
import importlib
import os
import re
import subprocess
import sys
import types
from typing import Any

import pytest
from helpers import ROOT

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


README = (ROOT / "README.md").read_text()
_PYTHON_BLOCKS = re.findall(r"^```python\n(.*?)^```", README, re.M | re.S)
# Dotted names in prose, inline code and shell lines: `redo_kit.set_testing(True)`.
_MENTIONED = set(re.findall(r"\bredo_kit(?:\.[A-Za-z_]\w*)+", README))


def _dotted(node: ast.expr, bound: dict[str, str]) -> str | None:
    """``rs.valid_events`` as ``redo_kit.testing.strategies.valid_events`` (``rs`` imported)."""
    if isinstance(node, ast.Name):
        return bound.get(node.id)
    if isinstance(node, ast.Attribute):
        root = _dotted(node.value, bound)
        return f"{root}.{node.attr}" if root else None
    return None


def _names_in_blocks() -> set[str]:
    """Every redo_kit module and attribute the README's Python examples import or use."""
    names: set[str] = set()
    for block in _PYTHON_BLOCKS:
        tree = ast.parse(block)
        bound: dict[str, str] = {}
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.split(".")[0] == "redo_kit":
                        names.add(alias.name)
                        top = alias.name if alias.asname else alias.name.split(".")[0]
                        bound[alias.asname or top] = top
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("redo_kit"):
                for alias in node.names:
                    names.add(f"{node.module}.{alias.name}")
                    bound[alias.asname or alias.name] = f"{node.module}.{alias.name}"
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and (name := _dotted(node, bound)):
                names.add(name)
            elif (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and re.fullmatch(r"redo_kit(\.\w+)+", node.value)
            ):
                # pytest_plugins = ["redo_kit.testing.plugin"]
                names.add(node.value)
    return names


def _resolve(dotted: str) -> Any:
    """Import the longest module prefix of ``dotted``, then read the rest as attributes."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            found: Any = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for attr in parts[cut:]:
            found = getattr(found, attr)
        return found
    raise ModuleNotFoundError(dotted)


README_NAMES = sorted(_names_in_blocks() | _MENTIONED)


def test_the_readme_names_are_found() -> None:
    assert len(_PYTHON_BLOCKS) >= 4
    assert {
        "redo_kit.build_event",
        "redo_kit.RedoClient",
        "redo_kit.MockTransport",
        "redo_kit.set_testing",
        "redo_kit.structure",
        "redo_kit.emulator.Emulator",
        "redo_kit.testing.plugin",
        "redo_kit.testing.strategies",
        "redo_kit.testing.strategies.valid_events",
        "redo_kit.testing.strategies.invalid_events",
    } <= set(README_NAMES)


@pytest.mark.parametrize("name", README_NAMES)
def test_every_import_and_attribute_the_readme_shows_resolves(name: str) -> None:
    found = _resolve(name)
    assert found is not None
    # What the README calls straight from the package is its public surface.
    parent, _, attr = name.rpartition(".")
    if parent == "redo_kit" and not isinstance(found, types.ModuleType):
        assert attr in redo_kit.__all__
