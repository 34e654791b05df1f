"""The custom formatter datamodel-code-generator runs over each generated module.

The generator always imports ``dataclass`` and writes its own header; the
models are attrs classes, so this swaps that import for ``import attrs`` and
puts redo-kit's banner (spec file, its sha256, "do not edit") on top.
"""

from __future__ import annotations

import re

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
        body = _fold_branch_aliases(body)
        # The template writes open objects as `dict[str, Any]` aliases and
        # bounds as annotated-types metadata, which the generator's import
        # list does not know about.
        if any(": TypeAlias = dict[str, Any]" in line for line in body):
            body = [_with_typing(line, "Any") for line in body]
        if any("annotated_types." in line for line in body):
            body = [_with_typing(line, "Annotated") for line in body]
            at = body.index("import attrs")
            body[at:at] = ["import annotated_types"]
        return banner + "\n".join(body).rstrip() + "\n"


def _with_typing(line: str, name: str) -> str:
    if not line.startswith("from typing import "):
        return line
    names = sorted({*line.removeprefix("from typing import ").split(", "), name})
    return "from typing import " + ", ".join(names)


_BRANCH_ALIAS = re.compile(r"^(\w+\d+): TypeAlias = (\w+)$")


def _fold_branch_aliases(body: list[str]) -> list[str]:
    """Put ``str`` back where ``PropertyValue1: TypeAlias = str`` stood for it.

    With ``--field-constraints`` the generator gives each constrained branch
    of a union an alias of its own, named after the union with a number
    (``PropertyValue1`` for ``{type: string, maxLength: 102400}``). The alias
    carries no constraint, only a name that is not in the spec: it is
    dropped, with its docstring, and its uses name its type.
    """
    defined = {line.split(":", 1)[0] for line in body if ": TypeAlias = " in line}
    aliases: dict[str, str] = {}
    kept: list[str] = []
    lines = iter(body)
    for line in lines:
        found = _BRANCH_ALIAS.match(line)
        if found and found.group(1).rstrip("0123456789") in defined:
            aliases[found.group(1)] = found.group(2)
            # Its docstring, if one follows, goes with it.
            following = next(lines, "")
            if following.strip() == '"""':
                for inner in lines:
                    if inner.strip() == '"""':
                        break
            elif following.strip():
                kept.append(following)
            continue
        kept.append(line)
    if not aliases:
        return body
    pattern = re.compile(r"\b(" + "|".join(map(re.escape, aliases)) + r")\b")
    folded = [pattern.sub(lambda m: aliases[m.group(1)], line) for line in kept]
    # Two blank lines between definitions, as before the aliases went.
    out: list[str] = []
    for line in folded:
        if not line.strip() and len(out) >= 2 and not out[-1].strip() and not out[-2].strip():
            continue
        out.append(line)
    return out
