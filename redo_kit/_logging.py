"""redo-kit's logger, ``logging.getLogger("redo_kit")``, and its one switch.

The library never configures logging on its own: it logs to ``redo_kit`` and
leaves handlers to the application. It adds no ``NullHandler`` either, so a
program that configured no logging still sees redo-kit's warnings (events
dropped, dead-lettered or left undelivered) on stderr, through Python's
last-resort handler; an application that configures logging decides for
itself. ``REDO_LOG=debug`` (or ``info``) in the environment attaches one
stderr handler at that level, for a quick look without code. Nothing
redo-kit logs carries an API key: headers go through
:func:`redo_kit._transport.redact_headers`, and a filter on the logger itself
masks anything that looks like a bearer token, whichever handler prints it.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import threading

__all__ = ["LOGGER_NAME", "RedactingFilter", "configure_from_env", "logger"]

LOGGER_NAME = "redo_kit"
logger = logging.getLogger(LOGGER_NAME)

_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO}
_BEARER = re.compile(r"(?i)(bearer\s+)[^\s'\",}]+")
_configured = False
_configure_lock = threading.Lock()


class RedactingFilter(logging.Filter):
    """Masks ``Bearer <token>`` in a record's final message, as a second line of defence."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = _BEARER.sub(r"\1[redacted]", message)
        if masked != message:
            record.msg = masked
            record.args = None
        return True


logger.addFilter(RedactingFilter())


def configure_from_env() -> None:
    """Honour ``REDO_LOG=debug|info`` once per process: a stderr handler at that level.

    Any other value, or none, leaves logging as the application set it up.
    """
    global _configured
    if _configured:
        return
    with _configure_lock:
        if _configured:
            return
        _configured = True
        level = _LEVELS.get(os.environ.get("REDO_LOG", "").strip().lower())
        if level is None:
            return
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        handler.addFilter(RedactingFilter())
        logger.addHandler(handler)
        logger.setLevel(level)
