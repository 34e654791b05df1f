"""datamodel-code-generator's pydantic v2 models: each case validated, dumped and posted.

The generator writes models, not a client, so this is how a service uses
them: ``Event.model_validate`` on the data it builds, ``model_dump`` (JSON
mode, aliases, only what was set) as the body. Proves the models accept every
example and that their round trip changes no value (a ``float`` field turning
``5000`` into ``5000.0`` is the same number; a lost digit is not).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from driver import Target, main
from redo_pydantic import BulkEventsRequest, Event

MODELS = {
    "createCustomEvent": ("/stores/{storeId}/events", Event),
    "bulkCreateCustomEvents": ("/stores/{storeId}/events/bulk", BulkEventsRequest),
}


def send(target: Target, operation: str, body: Any) -> int:
    path, model = MODELS[operation]
    dumped = model.model_validate(body).model_dump(mode="json", by_alias=True, exclude_unset=True)
    request = urllib.request.Request(  # noqa: S310 - the URL is the emulator's loopback address
        target.base_url + path.format(storeId=target.store_id),
        data=json.dumps(dumped).encode("utf-8"),
        headers={
            "Authorization": f"Bearer {target.api_key}",
            "Content-Type": "application/json",
        },
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - as above
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code


if __name__ == "__main__":
    main(send)
