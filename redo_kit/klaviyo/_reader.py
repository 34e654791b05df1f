"""JSON Lines of Klaviyo payloads, read as records of Redo events for ``import_events``.

One line holds one Klaviyo payload of any of the three shapes; a bulk job's
line gives one record per Klaviyo event. Every record of a line but its last
ends where the line starts, and the last where it ends: a checkpoint taken
between two events of one line then resumes at that line, and the events of
it already sent are deduplicated by their uniqueIds.
"""

from __future__ import annotations

import collections
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

import orjson

from redo_kit._errors import ConfigurationError, KlaviyoFormatError
from redo_kit._importer import LineSource, Position, Record, read_jsonl
from redo_kit.klaviyo._convert import SHAPE_ERROR, KlaviyoOptions, KlaviyoResult, convert

__all__ = ["KlaviyoReader"]


class KlaviyoReader:
    """A :data:`~redo_kit._importer.Reader` of JSON Lines of Klaviyo payloads.

    ``options`` are the conversion's (default ``KlaviyoOptions()``);
    ``on_result(line, result)`` sees each line's :class:`KlaviyoResult`, with
    its report, as it is read; ``fates_path``, when given, receives the
    report of every Klaviyo event as JSON Lines (``{"line": 3, "source": ...,
    "valid": ..., "report": [...], "problems": [...]}``), written as it is
    read and replaced by each reading. ``fates`` counts every report entry and problem
    by rule over everything read so far, lines of no Klaviyo shape as
    ``klaviyo-shape``; ``events`` counts the Klaviyo events read.
    """

    def __init__(
        self,
        options: KlaviyoOptions | None = None,
        *,
        on_result: Callable[[int, KlaviyoResult], None] | None = None,
        fates_path: str | os.PathLike[str] | None = None,
    ) -> None:
        self.options = options or KlaviyoOptions()
        self.on_result = on_result
        self.fates_path = None if fates_path is None else Path(fates_path)
        self.fates: collections.Counter[str] = collections.Counter()
        self.events = 0

    def __call__(self, source: LineSource, start: Position) -> Iterator[Record]:
        """The records of ``source`` from ``start``: one per Klaviyo event (see the module doc)."""
        if self.fates_path is None:
            yield from self._records(source, start, None)
            return
        try:
            out = self.fates_path.open("wb")
        except OSError as exc:
            raise ConfigurationError(
                f"cannot write the fates report {self.fates_path}: {exc}"
            ) from exc
        with out:
            yield from self._records(source, start, out)

    def _records(
        self, source: LineSource, start: Position, out: IO[bytes] | None
    ) -> Iterator[Record]:
        before = start
        for line, end, payload, problems in read_jsonl(source, start):
            if payload is None or problems:
                yield line, end, payload, problems
                before = end
                continue
            try:
                result = convert(payload, options=self.options)
            except KlaviyoFormatError as exc:
                self.fates[SHAPE_ERROR] += 1
                yield line, end, None, exc.problems
                before = end
                continue
            self.fates.update(result.fates())
            self.events += len(result.conversions)
            if self.on_result is not None:
                self.on_result(line, result)
            if out is not None:
                out.writelines(
                    orjson.dumps({"line": line, **c.to_dict()}) + b"\n" for c in result.conversions
                )
            last = len(result.conversions) - 1
            if last < 0:
                yield line, end, None, ()
            for index, conversion in enumerate(result.conversions):
                at = end if index == last else before
                if conversion.valid:
                    yield line, at, conversion.event, ()
                else:
                    yield line, at, None, conversion.problems
            before = end
