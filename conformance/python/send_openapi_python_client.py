"""openapi-python-client: each case through the generated package's own models and functions.

Proves that the generated attrs models read every example (``Event.from_dict``)
and write it back unchanged (``to_dict`` inside the request function), that
``create_custom_event`` and ``bulk_create_custom_events`` reach the right paths
with the Bearer key, and that nothing is lost or retyped on the way: the suite
compares what the emulator stored with what was sent.
"""

from __future__ import annotations

from typing import Any

from driver import Target, main
from redo_events_client import AuthenticatedClient
from redo_events_client.api.events import bulk_create_custom_events, create_custom_event
from redo_events_client.models import BulkEventsRequest, Event


def send(target: Target, operation: str, body: Any) -> int:
    with AuthenticatedClient(base_url=target.base_url, token=target.api_key) as client:
        if operation == "createCustomEvent":
            response = create_custom_event.sync_detailed(
                store_id=target.store_id, client=client, body=Event.from_dict(body)
            )
        else:
            response = bulk_create_custom_events.sync_detailed(
                store_id=target.store_id, client=client, body=BulkEventsRequest.from_dict(body)
            )
    return int(response.status_code)


if __name__ == "__main__":
    main(send)
