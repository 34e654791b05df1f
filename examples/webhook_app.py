"""The guide's webhook pattern as an ASGI service: await the send, then answer.

::

    pip install redo-kit starlette uvicorn
    REDO_API_KEY=... REDO_STORE_ID=... uvicorn --app-dir examples webhook_app:app

A shop platform POSTs each order to ``/webhooks/orders`` and delivers it
again until it gets a 2xx. The handler turns the order into an "Order
Placed" event whose ``uniqueId`` is ``order-{id}`` and awaits
``AsyncRedoClient.send`` before it answers:

- ``200`` once Redo has the event;
- ``503`` when the send failed (Redo down, retries run out): the platform
  delivers again later;
- ``422`` with every problem when the order cannot make a valid event:
  delivering it again would not help.

However often an order is delivered (a retry after a 503, a duplicate
delivery, a delivery whose answer was lost on the way back), Redo stores it
once, because every copy carries the same ``uniqueId``. The send waits on
the client's threads, so ``/health`` and every other request are answered
at once while Redo is slow or rate-limiting.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from redo_kit import APIError, AsyncRedoClient, ValidationError, build_event


def order_event(order: dict[str, Any]) -> dict[str, Any]:
    """The "Order Placed" event of a platform's order; ``ValidationError`` if it cannot be one."""
    return build_event(
        event_name="Order Placed",
        email=order.get("email"),
        data={"Order Id": str(order.get("id")), "Items": len(order.get("items", []))},
        extra={"Line Items": order.get("items", [])},
        value=order.get("total"),
        value_currency=order.get("currency", "USD"),
        unique_id=f"order-{order.get('id')}",
    )


async def order_webhook(request: Request) -> JSONResponse:
    order = await request.json()
    client: AsyncRedoClient = request.app.state.redo
    try:
        result = await client.send(order_event(order))
    except ValidationError as exc:
        problems = [{"path": p.path, "message": p.message} for p in exc.problems]
        return JSONResponse({"problems": problems}, status_code=422)
    except APIError as exc:
        return JSONResponse({"error": type(exc).__name__}, status_code=503)
    return JSONResponse({"uniqueId": result.unique_id})


async def health(request: Request) -> JSONResponse:
    return JSONResponse({"ok": True})


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    # REDO_API_KEY, REDO_STORE_ID and REDO_BASE_URL from the environment.
    async with AsyncRedoClient() as client:
        app.state.redo = client
        yield


app = Starlette(
    routes=[
        Route("/webhooks/orders", order_webhook, methods=["POST"]),
        Route("/health", health),
    ],
    lifespan=lifespan,
)
