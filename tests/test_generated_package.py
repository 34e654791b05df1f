"""A package `redo-kit generate` writes for another service stands on its own.

The package here is generated from a spec that differs from redo-kit's in the
ways another service's newer spec may: a schema renamed (``Customer`` is
``Person``), an optional field added (``Event.channel``) and a limit tightened
(``uniqueId`` at most 40 characters). redo-kit knows none of that: the
package's own ``openapi.json`` says it.
"""

from __future__ import annotations

import importlib
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml
from helpers import ROOT, emulator_client, inspect

from redo_kit import _codegen as codegen
from redo_kit._converter import structure, unstructure
from redo_kit._errors import ConfigurationError, ConversionError, ValidationError
from redo_kit._events import prepare_event
from redo_kit.emulator import Emulator

PACKAGE = "svc_events"


def _their_spec() -> dict[str, Any]:
    text = codegen.spec_path().read_text(encoding="utf-8")
    text = text.replace("#/components/schemas/Customer'", "#/components/schemas/Person'")
    spec: dict[str, Any] = yaml.safe_load(text)
    schemas = spec["components"]["schemas"]
    schemas["Person"] = schemas.pop("Customer")
    event = schemas["Event"]
    event["properties"]["channel"] = {
        "type": "string",
        "enum": ["web", "store"],
        "description": "Where the event happened.",
    }
    event["properties"]["uniqueId"]["maxLength"] = 40
    return spec


@pytest.fixture(scope="module")
def svc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModuleType]:
    root = tmp_path_factory.mktemp("service")
    spec = root / "their-events.yaml"
    spec.write_text(yaml.safe_dump(_their_spec(), sort_keys=False), encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "redo_kit", "generate", "--out", str(root / "src"),
         "--package", PACKAGE, "--spec", str(spec)],
        capture_output=True, text=True, check=False, cwd=root,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    sys.path.insert(0, str(root / "src"))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(root / "src"))
        for name in [m for m in sys.modules if m == PACKAGE or m.startswith(PACKAGE + ".")]:
            del sys.modules[name]


def _wire() -> dict[str, Any]:
    return {
        "eventName": "Order Placed",
        "customer": {
            "email": "stewart@example.com",
            "location": {"city": "Seattle", "countryCode": "US", "latitude": 47.6062},
            "customFields": {"Loyalty Tier": "Gold"},
        },
        "channel": "web",
        "value": 12345678.91,
        "uniqueId": "order-1",
        "data": {"Order Id": "ord_1", "Items": 123456789, "$extra": {"lines": [1, 2]}},
    }


def test_the_banner_names_the_command_and_the_package_ships_its_spec(svc: ModuleType) -> None:
    models = Path(svc.__file__).with_name("models.py").read_text(encoding="utf-8")
    assert "by redo-kit generate (datamodel-code-generator" in models
    assert "by scripts/generate" not in models
    assert Path(svc.__file__).with_name("openapi.json").is_file()
    assert hasattr(svc, "Person")
    assert not hasattr(svc, "Customer")


def test_wire_data_converts_into_the_package_s_own_classes_all_the_way_down(
    svc: ModuleType,
) -> None:
    event = structure(_wire(), svc.Event)
    assert type(event) is svc.Event
    assert type(event.customer) is svc.Person
    assert type(event.customer.location) is svc.Location
    assert event.channel == "web"
    assert unstructure(event) == _wire()


def test_conversion_errors_name_the_wire_path_of_the_package_s_fields(svc: ModuleType) -> None:
    wire = _wire()
    wire["customer"] = {**wire["customer"], "phoneNumber": 12}
    with pytest.raises(ConversionError) as caught:
        structure(wire, svc.Event)
    assert [p.path for p in caught.value.problems] == ["$.customer.phoneNumber"]


def test_validation_follows_the_package_s_spec_not_redo_kit_s(svc: ModuleType) -> None:
    prepared = prepare_event(structure(_wire(), svc.Event))
    assert prepared.payload["channel"] == "web"

    # The same event as a plain dict is checked against redo-kit's own spec,
    # which has no `channel`.
    with pytest.raises(ValidationError) as caught:
        prepare_event(_wire())
    assert [(p.path, p.rule) for p in caught.value.problems] == [("$.channel", "unknown-key")]

    # The package's tighter uniqueId limit holds for its events only.
    long_id = {**_wire(), "uniqueId": "u" * 41}
    with pytest.raises(ValidationError) as caught:
        prepare_event(structure(long_id, svc.Event))
    assert [p.path for p in caught.value.problems] == ["$.uniqueId"]
    del long_id["channel"]
    assert prepare_event(long_id).payload["uniqueId"] == "u" * 41


def test_send_send_bulk_and_track_accept_the_package_s_models(
    svc: ModuleType, emulator: Emulator
) -> None:
    def event(n: int) -> Any:
        return structure({**_wire(), "uniqueId": f"svc-{n}"}, svc.Event)

    client = emulator_client(emulator)
    try:
        client.send(event(0))
        result = client.send_bulk([event(n) for n in range(1, 151)])
        assert result.accepted == 150
        with client.batcher() as batcher:
            batcher.track(event(151))
    finally:
        client.close()
    stored = inspect(emulator.base_url.removesuffix("/v2.2"), emulator.store_id, emulator.api_key)
    assert sorted(e["uniqueId"] for e in stored) == sorted(f"svc-{n}" for n in range(152))
    assert {e["data"]["Items"] for e in stored} == {123456789}


def test_a_model_whose_module_lost_a_class_is_a_redo_error_naming_class_and_field(
    svc: ModuleType, tmp_path: Path
) -> None:
    broken = tmp_path / "broken_events"
    broken.mkdir()
    source = Path(svc.__file__).with_name("models.py").read_text(encoding="utf-8")
    start = source.index("@attrs.frozen(kw_only=True)\nclass Location:")
    end = source.index("\n\n\n", start)
    (broken / "models.py").write_text(source[:start] + source[end + 3 :], encoding="utf-8")
    (broken / "__init__.py").write_text("", encoding="utf-8")
    (broken / "openapi.json").write_bytes(Path(svc.__file__).with_name("openapi.json").read_bytes())
    sys.path.insert(0, str(tmp_path))
    try:
        models = importlib.import_module("broken_events.models")
        with pytest.raises(ConversionError) as caught:
            structure(_wire(), models.Event)
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("broken_events", None)
        sys.modules.pop("broken_events.models", None)
    message = str(caught.value)
    assert "Person.location names Location" in message
    assert "broken_events.models does not define" in message
    assert caught.value.problems[0].rule == "model"


def test_a_package_without_its_spec_is_a_configuration_error(
    svc: ModuleType, tmp_path: Path
) -> None:
    bare = tmp_path / "bare_events"
    bare.mkdir()
    (bare / "__init__.py").write_text("", encoding="utf-8")
    (bare / "models.py").write_bytes(Path(svc.__file__).with_name("models.py").read_bytes())
    sys.path.insert(0, str(tmp_path))
    try:
        models = importlib.import_module("bare_events.models")
        event = structure(_wire(), models.Event)
        with pytest.raises(ConfigurationError, match=r"bare_events.*openapi\.json"):
            prepare_event(event)
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("bare_events", None)
        sys.modules.pop("bare_events.models", None)


@pytest.mark.parametrize(
    ("package", "message"),
    [
        ("redo_kit_models", "redo-kit's own"),
        ("shop-events", "Python identifier"),
    ],
)
def test_generate_refuses_a_package_name_it_cannot_write(
    tmp_path: Path, package: str, message: str
) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "redo_kit", "generate", "--out", str(tmp_path),
         "--package", package],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert message in done.stderr
    assert list(tmp_path.iterdir()) == []


def test_generate_has_no_default_package(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "redo_kit", "generate", "--out", str(tmp_path)],
        capture_output=True, text=True, check=False, cwd=ROOT,
    )  # fmt: skip
    assert done.returncode == 2
    assert "--package" in done.stderr


def test_a_package_s_spec_is_in_use_in_its_own_thread_only(svc: ModuleType) -> None:
    import threading

    from redo_kit._spec import component, package_document, within

    theirs = package_document(svc.Event.__module__)
    assert theirs is not None
    seen: list[bool] = []
    with within(theirs):
        assert "channel" in component("Event")["properties"]
        # Found by its place (Event.customer), whatever the package named it.
        assert component("Customer") is theirs["components"]["schemas"]["Person"]
        worker = threading.Thread(
            target=lambda: seen.append("channel" in component("Event")["properties"])
        )
        worker.start()
        worker.join()
    assert seen == [False]
    assert "channel" not in component("Event")["properties"]
