"""Coming from Klaviyo: its Track, Create Event and bulk payloads as Redo events.

Each entry point returns a :class:`KlaviyoResult`: the Redo wire events and a
report of what became of every Klaviyo field (a :class:`Fate` per field:
mapped, renamed, moved under ``$extra``, dropped), before anything is sent::

    from redo_kit import klaviyo

    result = klaviyo.convert(payload)          # Track, Create Event or a bulk job
    result.events                              # valid Redo wire events
    for entry in result.report:                # Klaviyo path, fate, reason
        print(entry)

Every choice where the two models differ is a field of :class:`KlaviyoOptions`.
:class:`Tracker` keeps a Klaviyo ``track(...)`` call site as it is and sends
through a batcher; :class:`KlaviyoReader` reads JSON Lines of Klaviyo payloads
for ``import_events`` (``redo-kit import --from klaviyo``).
"""

from __future__ import annotations

from redo_kit.klaviyo._convert import (
    DERIVED_UNIQUE_ID,
    DROPPED,
    ENVELOPE,
    EXTERNAL_ID_FIELD,
    FATES,
    IGNORED_VALUE,
    INVALID,
    KLAVIYO_EXTRA,
    MAPPED,
    MEANINGS,
    MOVED_TO_EXTRA,
    NO_UNIQUE_ID,
    RENAMED,
    SHAPE_ERROR,
    Conversion,
    Fate,
    KlaviyoOptions,
    KlaviyoResult,
    Shape,
    convert,
    from_bulk_create_job,
    from_create_event,
    from_track,
)
from redo_kit.klaviyo._reader import KlaviyoReader
from redo_kit.klaviyo._tracker import Tracker

__all__ = [
    "DERIVED_UNIQUE_ID",
    "DROPPED",
    "ENVELOPE",
    "EXTERNAL_ID_FIELD",
    "FATES",
    "IGNORED_VALUE",
    "INVALID",
    "KLAVIYO_EXTRA",
    "MAPPED",
    "MEANINGS",
    "MOVED_TO_EXTRA",
    "NO_UNIQUE_ID",
    "RENAMED",
    "SHAPE_ERROR",
    "Conversion",
    "Fate",
    "KlaviyoOptions",
    "KlaviyoReader",
    "KlaviyoResult",
    "Shape",
    "Tracker",
    "convert",
    "from_bulk_create_job",
    "from_create_event",
    "from_track",
]
