"""The control lane: each case posted as its own JSON with the standard library.

No generator is involved, so this lane passing proves the suite's loop and its
expectation (what the emulator should store) are right; a generator lane that
fails where this one passes failed because of its generated client.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from driver import Target, main

PATHS = {
    "createCustomEvent": "/stores/{storeId}/events",
    "bulkCreateCustomEvents": "/stores/{storeId}/events/bulk",
}


def send(target: Target, operation: str, body: Any) -> int:
    url = target.base_url + PATHS[operation].format(storeId=target.store_id)
    request = urllib.request.Request(  # noqa: S310 - the URL is the emulator's loopback address
        url,
        data=json.dumps(body).encode("utf-8"),
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
