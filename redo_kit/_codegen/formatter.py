"""The custom formatter datamodel-code-generator runs over each generated module.

The generator always imports ``dataclass`` and writes its own header; the
models are attrs classes, so this swaps that import for ``import attrs`` and
puts redo-kit's banner (spec file, its sha256, "do not edit") on top.
"""

from __future__ import annotations

from datamodel_code_generator.format import CustomCodeFormatter


class CodeFormatter(CustomCodeFormatter):
    """Replace the dataclasses import and the generator's header with our banner."""

    def apply(self, code: str) -> str:
        banner = str(self.formatter_kwargs.get("banner", ""))
        lines = code.splitlines()
        while lines and (lines[0].startswith("#") or not lines[0].strip()):
            lines.pop(0)
        body = [line for line in lines if not line.startswith("from dataclasses import")]
        # Third-party imports go after the standard library's: after the last import line.
        last_import = max(
            (i for i, line in enumerate(body) if line.startswith(("import ", "from "))),
            default=-1,
        )
        body[last_import + 1 : last_import + 1] = ["", "import attrs"]
        # The template writes open objects as `dict[str, Any]` aliases, which
        # the generator's import list does not know about.
        if any(": TypeAlias = dict[str, Any]" in line for line in body):
            body = [_with_any(line) for line in body]
        return banner + "\n".join(body).rstrip() + "\n"


def _with_any(line: str) -> str:
    if not line.startswith("from typing import ") or " Any" in line:
        return line
    names = sorted({*line.removeprefix("from typing import ").split(", "), "Any"})
    return "from typing import " + ", ".join(names)
