"""Progress output for long commands: a redrawn bar on a terminal, plain lines elsewhere.

On a TTY the bar is redrawn in place (carriage return and erase-line). Anywhere
else (CI logs, pipes, files) a plain line is printed every few seconds, with no
control characters at all.
"""

from __future__ import annotations

import time
from typing import TextIO

from redo_kit._importer import ImportProgress

__all__ = ["ProgressPrinter", "format_duration"]

_BAR_WIDTH = 24


def format_duration(seconds: float) -> str:
    """``3725`` -> ``1:02:05``; ``65`` -> ``1:05``."""
    seconds = max(0, int(seconds + 0.5))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def _eta(progress: ImportProgress) -> str:
    fraction = progress.fraction
    if not fraction or progress.elapsed < 1:
        return "--:--"
    return format_duration(progress.elapsed * (1 - fraction) / fraction)


class ProgressPrinter:
    """Prints :class:`~redo_kit._importer.ImportProgress` to ``stream``.

    ``tty``: redraw one line in place; default: whether ``stream`` is a terminal.
    ``every``: seconds between plain lines when not a terminal; default 5.
    """

    def __init__(self, stream: TextIO, *, tty: bool | None = None, every: float = 5.0) -> None:
        self.stream = stream
        self.tty = stream.isatty() if tty is None else tty
        self.every = every
        self._last_plain = 0.0
        self._drawn = False

    def __call__(self, progress: ImportProgress) -> None:
        if self.tty:
            self.stream.write("\r" + self.bar(progress) + "\x1b[K")
            self._drawn = True
            self.stream.flush()
            return
        now = time.monotonic()
        if now - self._last_plain >= self.every:
            self._last_plain = now
            self.stream.write(self.line(progress) + "\n")
            self.stream.flush()

    def finish(self) -> None:
        """End the redrawn line so that what follows starts on a fresh one."""
        if self._drawn:
            self.stream.write("\n")
            self.stream.flush()
            self._drawn = False

    @staticmethod
    def bar(progress: ImportProgress) -> str:
        """The one-line bar: share read, lines, events/s, sent, rejected, retries, ETA."""
        fraction = progress.fraction
        if fraction is None:
            head = f"{progress.lines:,} lines"
        else:
            filled = int(fraction * _BAR_WIDTH)
            bar = "#" * filled + "." * (_BAR_WIDTH - filled)
            head = f"{fraction:4.0%} [{bar}] {progress.lines:,} lines"
        return (
            f"{head}  {progress.rate:,.0f} ev/s  sent {progress.delivered:,}  "
            f"rejected {progress.rejected:,}  retries {progress.retries:,}  ETA {_eta(progress)}"
        )

    @staticmethod
    def line(progress: ImportProgress) -> str:
        """A plain progress line for logs."""
        share = "" if progress.fraction is None else f" ({progress.fraction:.0%})"
        return (
            f"progress: {progress.lines:,} lines read{share}, {progress.delivered:,} sent, "
            f"{progress.rejected:,} rejected, {progress.retries:,} retries, "
            f"{progress.rate:,.0f} events/s, ETA {_eta(progress)}"
        )
