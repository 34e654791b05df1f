"""openapi-generator's ``python`` client: each case through its pydantic models and EventsApi.

Proves that the generated models accept every example (``Event.from_dict``,
which also runs the generated pattern and enum checks), that ``EventsApi``
sends them with the Bearer key to the right paths, and that what reaches the
emulator is what was sent: the suite compares the stored events.
"""

from __future__ import annotations

from typing import Any

from driver import Target, main
from redo_ogen import ApiClient, ApiException, BulkEventsRequest, Configuration, Event, EventsApi


def send(target: Target, operation: str, body: Any) -> int:
    configuration = Configuration(host=target.base_url, access_token=target.api_key)
    with ApiClient(configuration) as api_client:
        events = EventsApi(api_client)
        try:
            if operation == "createCustomEvent":
                response = events.create_custom_event_with_http_info(
                    target.store_id, Event.from_dict(body)
                )
            else:
                response = events.bulk_create_custom_events_with_http_info(
                    target.store_id, BulkEventsRequest.from_dict(body)
                )
        except ApiException as exc:
            # The API answered with an error status: the request was sent.
            return int(exc.status)
    return int(response.status_code)


if __name__ == "__main__":
    main(send)
