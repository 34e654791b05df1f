"""`redo-kit generate --plan`: typed event classes, checked by mypy, sent as the plan says."""

from __future__ import annotations

import importlib
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from types import ModuleType

import pytest
from helpers import emulator_client, inspect

import redo_kit
from redo_kit._codegen.plan import class_name, field_name
from redo_kit._errors import ValidationError
from redo_kit.emulator import Emulator

PLAN = """\
version: '2.0.1'
events:
  Order Placed:
    description: |
      A customer placed an order.
      Sent once per order, by the checkout service.
    properties:
      Order Id: {type: string, required: true, pattern: '^ord_', description: Our order number.}
      Order Total: {type: number, required: true, minimum: 0}
      Items: {type: integer}
      Channel: {type: string, enum: [web, pos]}
      Placed At: {type: date}
      class: {type: string}
    customFields:
      Loyalty Tier: {type: string, enum: [Bronze, Gold]}
    value: required
    uniqueId: [order, Order Id]
  page-viewed:
    properties:
      Page: {type: string, required: true}
"""


def _generate(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "redo_kit", "generate", *args],
        capture_output=True, text=True, check=False, cwd=cwd,
    )  # fmt: skip


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, ModuleType]]:
    root = tmp_path_factory.mktemp("plan")
    (root / "plan.yaml").write_text(PLAN, encoding="utf-8")
    done = _generate("--plan", "plan.yaml", "--out", "src", "--package", "shop_events", cwd=root)
    assert done.returncode == 0, done.stderr
    sys.path.insert(0, str(root / "src"))
    try:
        yield root, importlib.import_module("shop_events")
    finally:
        sys.path.remove(str(root / "src"))
        for name in [m for m in sys.modules if m.split(".")[0] == "shop_events"]:
            del sys.modules[name]


def test_the_package_passes_mypy_strict(generated: tuple[Path, ModuleType]) -> None:
    root, _ = generated
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", "src/shop_events"],
        capture_output=True, text=True, check=False, cwd=root,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr


def test_one_frozen_keyword_only_class_per_event(generated: tuple[Path, ModuleType]) -> None:
    _, shop = generated
    assert shop.__all__ == ["OrderPlaced", "PLAN", "PageViewed"]
    order = shop.OrderPlaced(order_id="ord_1", order_total=59.99)
    with pytest.raises(AttributeError):
        order.order_id = "ord_2"
    with pytest.raises(TypeError):
        shop.OrderPlaced("ord_1", 59.99)
    assert shop.OrderPlaced.EVENT_NAME == "Order Placed"
    assert shop.PageViewed.EVENT_NAME == "page-viewed"
    assert "Sent once per order" in (shop.OrderPlaced.__doc__ or "")
    wires = {f.name: f.metadata["wire"] for f in redo_kit_fields(shop.OrderPlaced)}
    assert wires["class_"] == "class"
    assert wires["loyalty_tier"] == "Loyalty Tier"
    assert shop.PLAN.version == "2.0.1"


def redo_kit_fields(cls: type) -> tuple[object, ...]:
    import attrs

    return tuple(attrs.fields(cls))


def test_to_event_follows_the_recipe_and_sets_custom_fields(
    generated: tuple[Path, ModuleType],
) -> None:
    _, shop = generated
    placed = datetime(2026, 4, 2, 12, tzinfo=timezone.utc)
    order = shop.OrderPlaced(
        order_id="ord_7", order_total=59.99, placed_at=placed, loyalty_tier="Gold"
    )
    event = order.to_event(customer=redo_kit.Customer(email="stewart@example.com"), value=59.99)
    assert isinstance(event, redo_kit.Event)
    assert event.unique_id == "order-ord_7"
    assert event.customer.custom_fields == {"Loyalty Tier": "Gold"}
    prepared = redo_kit.prepare_event(event, plan=shop.PLAN)
    assert prepared.payload["data"] == {
        "Order Id": "ord_7",
        "Order Total": 59.99,
        "Placed At": "2026-04-02T12:00:00Z",
    }
    assert prepared.warnings == ()


def test_the_classes_send_track_and_bulk_through_a_client_enforcing_the_plan(
    generated: tuple[Path, ModuleType], emulator: Emulator
) -> None:
    _, shop = generated
    customer = redo_kit.Customer(email="stewart@example.com")
    client = emulator_client(emulator, plan=shop.PLAN)
    try:
        client.send(shop.PageViewed(page="/pricing").to_event(customer=customer))
        events = [
            shop.OrderPlaced(order_id=f"ord_{n}", order_total=n).to_event(
                customer=customer, value=float(n)
            )
            for n in range(1, 4)
        ]
        assert client.send_bulk(events).accepted == 3
        with client.batcher() as batcher:
            batcher.track(shop.OrderPlaced(order_id="ord_9", order_total=9).to_event(
                customer=customer, value=9.0
            ))  # fmt: skip
        # A value the types allow but the plan does not: refused before sending.
        with pytest.raises(ValidationError) as caught:
            client.send(
                shop.OrderPlaced(order_id="A-1", order_total=1).to_event(
                    customer=customer, value=1.0
                )
            )
        assert [p.rule for p in caught.value.problems] == ["plan-pattern"]
    finally:
        client.close()
    stored = inspect(emulator.base_url.removesuffix("/v2.2"), emulator.store_id, emulator.api_key)
    ids = sorted(e["uniqueId"] for e in stored if e["eventName"] == "Order Placed")
    assert ids == ["order-ord_1", "order-ord_2", "order-ord_3", "order-ord_9"]


def test_check_mode_finds_a_stale_package(generated: tuple[Path, ModuleType]) -> None:
    root, _ = generated
    args = ("--plan", "plan.yaml", "--out", "src", "--package", "shop_events", "--check")
    assert _generate(*args, cwd=root).returncode == 0
    edited = root / "edited"
    edited.mkdir()
    (edited / "plan.yaml").write_text(PLAN.replace("Items: {type: integer}", ""), encoding="utf-8")
    (edited / "src").symlink_to(root / "src")
    done = _generate(*args, cwd=edited)
    assert done.returncode == 1
    assert "stale" in done.stdout


def test_names_that_would_clash_are_refused(tmp_path: Path) -> None:
    (tmp_path / "plan.yaml").write_text(
        "version: '1.0.0'\nevents:\n  Order Placed: {}\n  order-placed: {}\n", encoding="utf-8"
    )
    done = _generate("--plan", "plan.yaml", "--out", "src", "--package", "p", cwd=tmp_path)
    assert done.returncode == 2
    assert "would both be the class OrderPlaced" in done.stderr
    assert not (tmp_path / "src").exists()


@pytest.mark.parametrize(
    ("wire", "python"),
    [("Order Id", "order_id"), ("itemCount", "item_count"), ("class", "class_"),
     ("3D View", "field_3d_view"), ("to_event", "to_event_"), ("Ünïcode Näme", "ünïcode_näme")],
)  # fmt: skip
def test_field_names(wire: str, python: str) -> None:
    assert field_name(wire) == python


def test_class_names() -> None:
    assert class_name("Order Placed") == "OrderPlaced"
    assert class_name("checkout-started") == "CheckoutStarted"
    assert class_name("3D Viewed") == "Event3DViewed"
