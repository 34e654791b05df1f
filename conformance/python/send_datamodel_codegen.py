"""datamodel-code-generator's pydantic v2 models: each case validated, dumped and posted.

The generator writes models, not a client, so this is how a service uses
them: ``Event.model_validate`` on the data it builds, ``model_dump`` (JSON
mode, aliases, only what was set) as the body. Proves the models accept every
example and that their round trip changes no value (a ``float`` field turning
``5000`` into ``5000.0`` is the same number; a lost digit is not).
"""

from __future__ import annotations

from typing import Any

from driver import Target, main, post_json
from redo_pydantic import BulkEventsRequest, Event

MODELS = {"createCustomEvent": Event, "bulkCreateCustomEvents": BulkEventsRequest}


def send(target: Target, operation: str, body: Any) -> int:
    dumped = (
        MODELS[operation]
        .model_validate(body)
        .model_dump(mode="json", by_alias=True, exclude_unset=True)
    )
    return post_json(target, operation, dumped)


if __name__ == "__main__":
    main(send)
