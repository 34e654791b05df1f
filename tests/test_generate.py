"""scripts/generate: generated/ is in step with spec/, and a spec edit changes exactly its model."""

from __future__ import annotations

import difflib
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import ROOT

from redo_kit import _codegen as codegen

OUT = ROOT / "generated" / "redo_kit_models"


@pytest.fixture(scope="module")
def rendered() -> dict[str, str]:
    return codegen.render(ROOT / "spec" / codegen.SPEC_NAME)


def test_generated_is_in_step_with_spec(rendered: dict[str, str]) -> None:
    """The drift check: a spec change that was not regenerated fails here."""
    assert codegen.check(OUT, rendered) == []


def test_check_command_passes_on_the_committed_tree() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "generate"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr


def test_every_generated_file_has_the_banner(rendered: dict[str, str]) -> None:
    digest = codegen.hashlib.sha256(codegen.spec_path().read_bytes()).hexdigest()
    for name, text in rendered.items():
        assert digest in text, name
        assert "do not edit" in text.lower(), name
    assert "from dataclasses" not in rendered["models.py"]


def test_a_description_edit_changes_exactly_its_model(
    tmp_path: Path, rendered: dict[str, str]
) -> None:
    spec = tmp_path / "spec" / codegen.SPEC_NAME
    spec.parent.mkdir()
    text = codegen.spec_path().read_text()
    needle = "description: Second line of the street address."
    assert text.count(needle) == 1
    spec.write_text(text.replace(needle, "description: Apartment, suite or unit."))

    edited = codegen.render(spec)
    assert codegen.check(OUT, edited) != []  # the committed tree is now stale

    diff = [
        line
        for line in difflib.unified_diff(
            rendered["models.py"].splitlines(), edited["models.py"].splitlines(), n=0
        )
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]
    changed = [line for line in diff if not line.startswith(("+# ", "-# "))]
    assert changed == [
        '-    """Second line of the street address."""',
        '+    """Apartment, suite or unit."""',
    ]


def test_generate_writes_another_package(tmp_path: Path) -> None:
    files = codegen.render(package="their_models")
    codegen.write(tmp_path / "their_models", files)
    assert "from their_models.models import" in (tmp_path / "their_models/__init__.py").read_text()
    sys.path.insert(0, str(tmp_path))
    try:
        import their_models  # type: ignore[import-not-found]

        assert their_models.Event.__name__ == "Event"
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("their_models", None)
        sys.modules.pop("their_models.models", None)
    shutil.rmtree(tmp_path / "their_models")
