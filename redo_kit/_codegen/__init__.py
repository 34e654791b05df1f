"""Generate attrs models from an OpenAPI spec: for redo-kit itself and for other services.

``scripts/generate`` and ``redo-kit generate`` both call :func:`render`, which
runs a pinned datamodel-code-generator with redo-kit's own template and
formatter, and returns the files of one package:

- ``__init__.py``: re-exports every model;
- ``models.py``: the attrs classes and type aliases;
- ``openapi.json``: the spec itself as JSON, so that runtime code loads it with
  orjson instead of a YAML parser.

Every file carries a banner naming the spec file and its sha256, with "do not
edit". Output is deterministic: the same spec and generator give the same bytes.
"""

from __future__ import annotations

import ast
import difflib
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path

from redo_kit._errors import ConfigurationError

__all__ = [
    "GENERATOR_VERSION",
    "OWN_PACKAGE",
    "check",
    "check_package_name",
    "render",
    "spec_path",
    "write",
]

GENERATOR_VERSION = "0.89.0"
"""The datamodel-code-generator release the committed models were made with."""

SPEC_NAME = "redo-events.openapi.yaml"

_TEMPLATES = Path(__file__).parent / "templates"

# Every option that shapes the output is pinned here; see docs of each in
# `datamodel-codegen --help`. "builtin" formatting keeps black/ruff releases
# from changing the committed bytes.
_GENERATOR_ARGS = (
    "--input-file-type", "openapi",
    "--openapi-scopes", "schemas",
    "--output-model-type", "dataclasses.dataclass",
    "--snake-case-field",
    "--field-constraints",
    "--enum-field-as-literal", "all",
    "--output-datetime-class", "datetime",
    "--use-standard-collections",
    "--use-union-operator",
    "--use-schema-description",
    "--use-field-description",
    "--use-double-quotes",
    "--disable-timestamp",
    "--target-python-version", "3.10",
    "--formatters", "builtin",
    "--custom-formatters", "redo_kit._codegen.formatter",
)  # fmt: skip


def spec_path() -> Path:
    """Path of the OpenAPI spec redo-kit was built from (shipped inside the wheel)."""
    # redo_kit/spec is a link to the repository's spec/ and a real folder in the wheel.
    return Path(__file__).parent.parent / "spec" / SPEC_NAME


def _banner(spec_label: str, digest: str, command: str, comment: str = "#") -> str:
    return (
        f"{comment} Generated from {spec_label} (sha256 {digest})\n"
        f"{comment} by {command} (datamodel-code-generator {GENERATOR_VERSION}). "
        "Do not edit: change the spec and regenerate.\n\n"
    )


OWN_PACKAGE = "redo_kit_models"
"""The package of redo-kit's own models; no other package may take its name."""

_PACKAGE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def check_package_name(package: str) -> str:
    """``package`` if another service may generate into it; ``ConfigurationError`` otherwise.

    It must be one Python identifier, and never ``redo_kit_models``: a second
    package of that name would shadow redo-kit's own models on ``sys.path``.
    """
    if not _PACKAGE_NAME.match(package):
        raise ConfigurationError(
            f"--package must be a Python identifier such as 'shop_events', got {package!r}"
        )
    if package == OWN_PACKAGE:
        raise ConfigurationError(
            f"--package {OWN_PACKAGE} is redo-kit's own: it would shadow redo-kit's models; "
            "choose a name of your own, such as 'shop_events'"
        )
    return package


def _check_generator() -> None:
    try:
        import datamodel_code_generator
    except ImportError as exc:
        raise ConfigurationError(
            "model generation needs datamodel-code-generator: pip install 'redo-kit[codegen]'"
        ) from exc
    found = getattr(datamodel_code_generator, "__version__", None)
    if found is None:
        from importlib.metadata import version

        found = version("datamodel-code-generator")
    if found != GENERATOR_VERSION:
        raise ConfigurationError(
            f"model generation is pinned to datamodel-code-generator {GENERATOR_VERSION}, "
            f"found {found}: pip install 'datamodel-code-generator=={GENERATOR_VERSION}'"
        )


def _load_spec(spec: Path) -> object:
    import yaml

    with spec.open("rb") as fh:
        return yaml.safe_load(fh)


def render(
    spec: Path | None = None,
    *,
    package: str = OWN_PACKAGE,
    command: str = "scripts/generate",
) -> dict[str, str]:
    """Generate the files of ``package`` from ``spec``; returns ``{file name: text}``.

    ``spec`` defaults to :func:`spec_path`; ``command`` is named in the banner
    as the one that wrote the files. Raises ``ConfigurationError`` when the
    pinned generator is missing and ``RuntimeError`` when it fails.
    """
    _check_generator()
    spec = spec or spec_path()
    raw = spec.read_bytes()
    digest = hashlib.sha256(raw).hexdigest()
    label = f"spec/{spec.name}" if spec.parent.name == "spec" else spec.name
    banner = _banner(label, digest, command)
    with tempfile.TemporaryDirectory() as tmp:
        output = Path(tmp) / "models.py"
        generator = [
            sys.executable, "-m", "datamodel_code_generator",
            "--input", str(spec),
            "--output", str(output),
            "--custom-template-dir", str(_TEMPLATES),
            "--custom-formatters-kwargs", json.dumps({"banner": banner}),
            *_GENERATOR_ARGS,
        ]  # fmt: skip
        env = {**os.environ, "PYTHONWARNINGS": "ignore"}
        # The command is this module's own constants plus the spec's path: no shell.
        done = subprocess.run(  # noqa: S603
            generator, capture_output=True, text=True, env=env, check=False
        )
        if done.returncode != 0 or not output.exists():
            raise RuntimeError(f"datamodel-code-generator failed:\n{done.stderr.strip()}")
        models = _strip_generator_header(output.read_text(encoding="utf-8"))
    names = _public_names(models)
    init = (
        banner
        + _package_doc(package, label)
        + f"from {package}.models import (\n"
        + "".join(f"    {name},\n" for name in names)
        + ")\n\n__all__ = [\n"
        + "".join(f'    "{name}",\n' for name in names)
        + "]\n"
    )
    document = _load_spec(spec)
    if not isinstance(document, dict):
        raise RuntimeError(f"{spec} is not an OpenAPI document")
    stamped = {
        "x-generated-from": f"{label} (sha256 {digest}); do not edit, regenerate",
        **document,
    }
    as_json = json.dumps(stamped, indent=1, ensure_ascii=False) + "\n"
    return {"__init__.py": init, "models.py": models, "openapi.json": as_json}


def _package_doc(package: str, label: str) -> str:
    if package == OWN_PACKAGE:
        return f'"""Models generated from {label}."""\n\n'
    return (
        f'"""Models generated from {label}, for redo-kit\'s runtime.\n\n'
        "redo-kit's converter reads and writes these classes (``redo_kit.structure``),\n"
        "and ``RedoClient.send``, ``send_bulk`` and ``batcher().track`` accept them.\n"
        "Their events are checked against the spec beside this file (``openapi.json``),\n"
        'not the one inside redo-kit.\n"""\n\n'
    )


def _strip_generator_header(source: str) -> str:
    # The generator adds "# generated by datamodel-codegen" after the custom
    # formatters have run; our banner, which they put first, says more.
    lines = source.splitlines(keepends=True)
    while lines and lines[0].startswith("#") and "Generated from" not in lines[0]:
        lines.pop(0)
    while lines and not lines[0].strip():
        lines.pop(0)
    return "".join(lines)


def _public_names(source: str) -> list[str]:
    names = set()
    for node in ast.parse(source).body:
        if isinstance(node, ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return sorted(n for n in names if not n.startswith("_"))


def write(out_dir: Path, files: Mapping[str, str]) -> list[Path]:
    """Write ``files`` into ``out_dir`` (created if needed); returns the paths written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in sorted(files.items()):
        path = out_dir / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def check(out_dir: Path, files: Mapping[str, str]) -> list[str]:
    """Compare ``files`` with what ``out_dir`` holds; returns a unified diff per stale file."""
    stale = []
    for name, text in sorted(files.items()):
        path = out_dir / name
        current = path.read_text(encoding="utf-8") if path.exists() else ""
        if current != text:
            diff = difflib.unified_diff(
                current.splitlines(keepends=True),
                text.splitlines(keepends=True),
                fromfile=f"{path} (committed)",
                tofile=f"{path} (from spec)",
                n=1,
            )
            stale.append("".join(list(diff)[:60]))
    return stale
