"""The README's "Testing your code" files, run by pytest exactly as written there."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from helpers import ROOT


def _files() -> dict[str, str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text[text.index("## Testing your code") :]
    section = section[: section.index("\n## ", 1)]
    files: dict[str, str] = {}
    for block in re.findall(r"```python\n(.*?)```", section, flags=re.DOTALL):
        first = block.splitlines()[0]
        if re.fullmatch(r"# \w+\.py", first):
            files[first[2:]] = block
    return files


def test_the_section_has_a_conftest_and_two_test_files() -> None:
    assert sorted(_files()) == ["conftest.py", "test_emulator_rules.py", "test_events.py"]


def test_the_readme_s_test_files_pass_as_written(tmp_path: Path) -> None:
    for name, source in _files().items():
        (tmp_path / name).write_text(source, encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-W", "error",
         str(tmp_path)],
        capture_output=True, text=True, check=False, cwd=tmp_path, timeout=240,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert re.search(r"\b7 passed\b", done.stdout), done.stdout[-1000:]
