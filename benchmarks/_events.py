"""Events for the benchmarks, built from the guide's own examples as the spec carries them."""

from __future__ import annotations

import copy
from typing import Any

from redo_kit._spec import request_examples


def request_shape(n: int) -> dict[str, Any]:
    """The guide's "Request Shape" event for customer ``n % 1000``, without a uniqueId."""
    event: dict[str, Any] = copy.deepcopy(request_examples()["requestShape"])
    del event["uniqueId"]
    event["customer"]["email"] = f"customer{n % 1000}@example.com"
    return event
