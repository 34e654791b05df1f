"""Create or refresh the project's virtualenv (.venv) with `pip install -e '.[dev]'`.

Shared by scripts/run and scripts/test so that a fresh clone with only python3
needs nothing else. The install is redone only when pyproject.toml changes.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
STAMP = VENV / ".redo-kit-installed"


def ensure() -> Path:
    """Return the venv's bin directory, creating and installing it when needed."""
    if sys.version_info < (3, 10):  # noqa: UP036  (run by any python3, before the venv exists)
        sys.exit(f"redo-kit needs Python 3.10 or newer; this is {sys.version.split()[0]}")
    wanted = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if STAMP.exists() and STAMP.read_text().strip() == wanted and (BIN / "python").exists():
        return BIN
    if not (BIN / "python").exists():
        print(f"creating {VENV.relative_to(ROOT)}", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    pip = [str(BIN / "python"), "-m", "pip", "--disable-pip-version-check", "-q"]
    print("installing redo-kit with its dev extra (pip install -e '.[dev]')", flush=True)
    subprocess.run([*pip, "install", "-e", f"{ROOT}[dev]"], check=True)
    STAMP.write_text(wanted + "\n")
    return BIN


def run(bin_dir: Path, *command: str) -> None:
    """Run one step with the venv first on PATH; exit with its code if it fails."""
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}
    print(f"$ {' '.join(command)}", flush=True)
    code = subprocess.run(list(command), cwd=ROOT, env=env, check=False).returncode
    if code != 0:
        sys.exit(code)
