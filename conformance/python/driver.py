"""What every Python driver of the conformance suite shares.

A driver is run as ``python send_X.py BASE_URL STORE_ID API_KEY CASES_JSON``:
it sends each case of CASES_JSON (a list of ``{"name", "operation", "body"}``,
the operation an ``operationId`` of the spec) through one generated client and
prints one JSON line per case: ``{"case": name, "status": 202}`` with the
status the API answered (a 400 too), or ``{"case": name, "error": "..."}`` when
no answer came, as when the generated client refused the case before sending.
It judges nothing itself: scripts/conformance reads what the emulator stored
and compares it with what was sent.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple


class Target(NamedTuple):
    """Where a driver sends: the API's base URL (with ``/v2.2``), a store and its key."""

    base_url: str
    store_id: str
    api_key: str


Send = Callable[[Target, str, Any], int]
"""``send(target, operation_id, body)``: the HTTP status the generated client saw."""


def main(send: Send) -> None:
    """Send every case with ``send`` and report each on its own line."""
    base_url, store_id, api_key, cases_path = sys.argv[1:5]
    target = Target(base_url, store_id, api_key)
    # The standard library's json keeps integers exact, so the driver hands
    # the generated client the numbers the spec and the suite wrote.
    cases = json.loads(Path(cases_path).read_text(encoding="utf-8"))
    for case in cases:
        try:
            status = send(target, case["operation"], case["body"])
        except Exception as exc:  # every failure is reported, per case
            line = {"case": case["name"], "error": f"{type(exc).__name__}: {exc}"[:2000]}
        else:
            line = {"case": case["name"], "status": int(status)}
        print(json.dumps(line), flush=True)
