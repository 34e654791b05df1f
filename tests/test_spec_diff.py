"""`redo-kit spec diff|path|show`: each change of a copy of the real spec, classified."""

from __future__ import annotations

import copy
import hashlib
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

import redo_kit
from redo_kit import ConfigurationError, spec_diff, spec_path
from redo_kit._spec_diff import load_spec

with spec_path().open() as _fh:
    SPEC: dict[str, Any] = yaml.safe_load(_fh)

SINGLE = "/stores/{storeId}/events"
BULK = "/stores/{storeId}/events/bulk"

Mutation = Callable[[dict[str, Any]], None]


def _schemas(spec: dict[str, Any]) -> dict[str, Any]:
    schemas: dict[str, Any] = spec["components"]["schemas"]
    return schemas


def _mutated(mutate: Mutation, base: dict[str, Any] | None = None) -> dict[str, Any]:
    spec = copy.deepcopy(base if base is not None else SPEC)
    mutate(spec)
    return spec


def _with_double_value(spec: dict[str, Any]) -> None:
    _schemas(spec)["Event"]["properties"]["value"]["format"] = "double"


def _rename_customer(spec: dict[str, Any]) -> None:
    schemas = _schemas(spec)
    schemas["Client"] = schemas.pop("Customer")
    schemas["Event"]["properties"]["customer"]["$ref"] = "#/components/schemas/Client"


def _rename_report(spec: dict[str, Any]) -> None:
    schemas = _schemas(spec)
    schemas["BulkReport"] = schemas.pop("BulkEventsReport")
    report = spec["paths"][BULK]["post"]["x-redo-bulk-report"]
    report["schema"]["$ref"] = "#/components/schemas/BulkReport"


def _add_required_field(spec: dict[str, Any]) -> None:
    event = _schemas(spec)["Event"]
    event["properties"]["channel"] = {"type": "string", "maxLength": 64}
    event["required"].append("channel")


# (id, old spec or None for the real one, mutation, breaking, kinds, one location)
TABLE: list[tuple[str, Mutation | None, Mutation, bool, set[str], str]] = [
    (
        "removed property",
        None,
        lambda s: _schemas(s)["Customer"]["properties"].pop("email"),
        True,
        {"property-removed"},
        "#/components/schemas/Customer/properties/email",
    ),
    (
        "shorter uniqueId maxLength",
        None,
        lambda s: _schemas(s)["Event"]["properties"]["uniqueId"].update(maxLength=128),
        True,
        {"max-length-decreased"},
        "#/components/schemas/Event/properties/uniqueId/maxLength",
    ),
    (
        "longer uniqueId maxLength",
        None,
        lambda s: _schemas(s)["Event"]["properties"]["uniqueId"].update(maxLength=512),
        False,
        {"max-length-increased"},
        "#/components/schemas/Event/properties/uniqueId/maxLength",
    ),
    (
        "a new currency: clients only send it",
        None,
        lambda s: _schemas(s)["CurrencyCode"]["enum"].append("XAU"),
        False,
        {"enum-value-added"},
        "#/components/schemas/CurrencyCode/enum",
    ),
    (
        "a removed currency",
        None,
        lambda s: _schemas(s)["CurrencyCode"]["enum"].remove("USD"),
        True,
        {"enum-value-removed"},
        "#/components/schemas/CurrencyCode/enum",
    ),
    (
        "a new bulk report status: clients receive it",
        None,
        lambda s: _schemas(s)["BulkEventReportItem"]["properties"]["status"]["enum"].append("held"),
        True,
        {"enum-value-added"},
        "#/components/schemas/BulkEventReportItem/properties/status/enum",
    ),
    (
        "a newly required field",
        None,
        lambda s: _schemas(s)["Event"]["required"].append("uniqueId"),
        True,
        {"required-added"},
        "#/components/schemas/Event/properties/uniqueId",
    ),
    (
        "a new required property",
        None,
        _add_required_field,
        True,
        {"property-added", "required-added"},
        "#/components/schemas/Event/properties/channel",
    ),
    (
        "an added optional field",
        None,
        lambda s: _schemas(s)["Event"]["properties"].update(channel={"type": "string"}),
        False,
        {"property-added"},
        "#/components/schemas/Event/properties/channel",
    ),
    (
        "a renamed schema",
        None,
        _rename_customer,
        True,
        {"schema-renamed"},
        "#/components/schemas/Customer",
    ),
    (
        "a renamed schema reached from an x-redo rule",
        None,
        _rename_report,
        True,
        {"schema-renamed"},
        "#/components/schemas/BulkEventsReport",
    ),
    (
        "a smaller maxEventBytes",
        None,
        lambda s: _schemas(s)["Event"]["x-redo-size-limits"].update(maxEventBytes=1_000_000),
        True,
        {"x-redo-limit-decreased"},
        "#/components/schemas/Event/x-redo-size-limits/maxEventBytes",
    ),
    (
        "a larger maxEventBytes",
        None,
        lambda s: _schemas(s)["Event"]["x-redo-size-limits"].update(maxEventBytes=10_000_000),
        False,
        {"x-redo-limit-increased"},
        "#/components/schemas/Event/x-redo-size-limits/maxEventBytes",
    ),
    (
        "a lower rate limit",
        None,
        lambda s: s["paths"][SINGLE]["post"]["x-redo-rate-limit"].update(requests=50),
        True,
        {"x-redo-limit-decreased"},
        "#/paths/~1stores~1{storeId}~1events/post/x-redo-rate-limit/requests",
    ),
    (
        "another email folding",
        None,
        lambda s: _schemas(s)["Customer"]["x-redo-email-matching"].update(fold="lower"),
        True,
        {"x-redo-rule-changed"},
        "#/components/schemas/Customer/x-redo-email-matching/fold",
    ),
    (
        "a rule's prose",
        None,
        lambda s: _schemas(s)["EventData"].update({"x-redo-extra": "Stored as sent."}),
        False,
        {"x-redo-text-changed"},
        "#/components/schemas/EventData/x-redo-extra",
    ),
    (
        "an assumption reworded",
        None,
        lambda s: _schemas(s)["Event"].update({"x-redo-assumption": "Reworded."}),
        False,
        {"x-redo-text-changed"},
        "#/components/schemas/Event/x-redo-assumption",
    ),
    (
        "a removed x-redo rule",
        None,
        lambda s: _schemas(s)["Event"].pop("x-redo-integer-limit"),
        True,
        {"x-redo-rule-removed"},
        "#/components/schemas/Event/x-redo-integer-limit",
    ),
    (
        "format double -> float",
        _with_double_value,
        lambda s: _schemas(s)["Event"]["properties"]["value"].update(format="float"),
        True,
        {"format-narrowed"},
        "#/components/schemas/Event/properties/value/format",
    ),
    (
        "format double -> int32: unrelated",
        _with_double_value,
        lambda s: _schemas(s)["Event"]["properties"]["value"].update(format="int32"),
        True,
        {"format-changed"},
        "#/components/schemas/Event/properties/value/format",
    ),
    (
        "number -> integer",
        None,
        lambda s: _schemas(s)["Event"]["properties"]["value"].update(type="integer"),
        True,
        {"type-narrowed"},
        "#/components/schemas/Event/properties/value/type",
    ),
    (
        "a report eventName no longer null: the x-redo rule that reaches it says no direction",
        None,
        lambda s: _schemas(s)["BulkEventReportItem"]["properties"]["eventName"].update(
            type="string"
        ),
        True,
        {"type-narrowed"},
        "#/components/schemas/BulkEventReportItem/properties/eventName/type",
    ),
    (
        "a removed anyOf branch",
        None,
        lambda s: _schemas(s)["PropertyValue"]["anyOf"].pop(),
        True,
        {"any-of-branch-removed"},
        "#/components/schemas/PropertyValue/anyOf/3",
    ),
    (
        "a changed pattern",
        None,
        lambda s: _schemas(s)["Customer"]["properties"]["id"].update(pattern="^[0-9a-f]{24}$"),
        True,
        {"pattern-changed"},
        "#/components/schemas/Customer/properties/id/pattern",
    ),
    (
        "a new pattern",
        None,
        lambda s: _schemas(s)["Location"]["properties"]["city"].update(pattern="^[A-Za-z ]+$"),
        True,
        {"pattern-added"},
        "#/components/schemas/Location/properties/city/pattern",
    ),
    (
        "a higher minimum latitude",
        None,
        lambda s: _schemas(s)["Location"]["properties"]["latitude"].update(minimum=-80),
        True,
        {"minimum-increased"},
        "#/components/schemas/Location/properties/latitude/minimum",
    ),
    (
        "fewer events per bulk request",
        None,
        lambda s: _schemas(s)["BulkEventsRequest"]["properties"]["events"].update(maxItems=50),
        True,
        {"max-items-decreased"},
        "#/components/schemas/BulkEventsRequest/properties/events/maxItems",
    ),
    (
        "additionalProperties closed on a sent schema",
        None,
        lambda s: _schemas(s)["Event"].update(additionalProperties=False),
        True,
        {"additional-properties-closed"},
        "#/components/schemas/Event/additionalProperties",
    ),
    (
        "additionalProperties closed on a received schema",
        None,
        lambda s: _schemas(s)["ProblemDetails"].update(additionalProperties=False),
        False,
        {"additional-properties-closed"},
        "#/components/schemas/ProblemDetails/additionalProperties",
    ),
    (
        "a received status may not be smaller",
        None,
        lambda s: _schemas(s)["ProblemDetails"]["properties"]["status"].update(minimum=200),
        False,
        {"minimum-increased"},
        "#/components/schemas/ProblemDetails/properties/status/minimum",
    ),
    (
        "a received status may be larger",
        None,
        lambda s: _schemas(s)["ProblemDetails"]["properties"]["status"].update(maximum=699),
        True,
        {"maximum-increased"},
        "#/components/schemas/ProblemDetails/properties/status/maximum",
    ),
    (
        "a store id pattern used by both operations",
        None,
        lambda s: s["components"]["parameters"]["StoreId"]["schema"].update(pattern="^[a-f0-9]+$"),
        True,
        {"pattern-changed"},
        "#/paths/~1stores~1{storeId}~1events~1bulk/post/parameters/storeId/schema/pattern",
    ),
    (
        "a removed operation",
        None,
        lambda s: s["paths"][BULK].pop("post"),
        True,
        {"operation-removed"},
        "#/paths/~1stores~1{storeId}~1events~1bulk/post",
    ),
    (
        "a removed path",
        None,
        lambda s: s["paths"].pop(BULK),
        True,
        {"path-removed"},
        "#/paths/~1stores~1{storeId}~1events~1bulk",
    ),
    (
        "an added operation",
        None,
        lambda s: s["paths"][SINGLE].update(
            get={"operationId": "listEvents", "responses": {"200": {"description": "The events."}}}
        ),
        False,
        {"operation-added"},
        "#/paths/~1stores~1{storeId}~1events/get",
    ),
    (
        "a renamed operationId",
        None,
        lambda s: s["paths"][SINGLE]["post"].update(operationId="createEvent"),
        True,
        {"operation-id-changed"},
        "#/paths/~1stores~1{storeId}~1events/post/operationId",
    ),
    (
        "a removed response",
        None,
        lambda s: s["paths"][SINGLE]["post"]["responses"].pop("413"),
        True,
        {"response-removed"},
        "#/paths/~1stores~1{storeId}~1events/post/responses/413",
    ),
    (
        "documentation only",
        None,
        lambda s: (
            s["info"].update(version="2.3.0", description="New words."),
            _schemas(s)["Event"].update(description="New words."),
        ),
        False,
        {"version-changed", "doc-changed"},
        "#/components/schemas/Event/description",
    ),
]


@pytest.mark.parametrize(
    ("before", "mutate", "breaking", "kinds", "location"),
    [pytest.param(*row[1:], id=row[0]) for row in TABLE],
)
def test_each_change_of_the_real_spec_is_classified(
    before: Mutation | None, mutate: Mutation, breaking: bool, kinds: set[str], location: str
) -> None:
    old = _mutated(before) if before else SPEC
    diff = spec_diff(old, _mutated(mutate, old))
    assert diff.kinds() == kinds, [c.to_dict() for c in diff.changes]
    assert diff.is_breaking is breaking
    assert location in {change.location for change in diff.changes}
    assert all(change.message for change in diff.changes)


def test_identity_diff_is_empty() -> None:
    assert spec_diff(SPEC, copy.deepcopy(SPEC)).changes == ()
    # The shipped document (JSON beside the models) is the YAML spec itself.
    assert spec_diff("shipped", spec_path()).changes == ()


def _unformatted_numbers(spec: dict[str, Any]) -> None:
    # The spec as it was before every number carried format double or int64.
    stack: list[Any] = [spec["components"]["schemas"]]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if node.get("format") in ("double", "int64"):
                del node["format"]
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)


def _extra_under_then(spec: dict[str, Any]) -> None:
    data = _schemas(spec)["EventData"]
    data["then"].setdefault("properties", {})["$extra"] = data.pop("properties")["$extra"]


def test_the_widest_number_formats_may_be_stated_but_not_dropped() -> None:
    bare = _mutated(_unformatted_numbers)
    stated = spec_diff(bare, SPEC)
    assert stated.kinds() == {"format-added"}
    assert not stated.is_breaking
    dropped = spec_diff(SPEC, bare)
    assert dropped.kinds() == {"format-removed"}
    assert all(change.breaking for change in dropped.changes)
    assert "#/components/schemas/Event/properties/value/format" in {
        change.location for change in dropped.changes
    }
    # Any other format stated narrows what a sender may send.
    email = spec_diff(
        SPEC,
        _mutated(lambda s: _schemas(s)["Location"]["properties"]["city"].update(format="email")),
    )
    assert [(c.kind, c.breaking) for c in email.changes] == [("format-added", True)]


def test_a_property_under_then_makes_no_field_so_moving_it_out_adds_one() -> None:
    under_then = _mutated(_extra_under_then)
    moved_out = spec_diff(under_then, SPEC)
    assert moved_out.kinds() == {"property-removed", "property-added"}
    assert not moved_out.is_breaking
    moved_in = spec_diff(SPEC, under_then)
    removed = [c for c in moved_in.changes if c.kind == "property-removed"]
    assert [c.location for c in removed] == ["#/components/schemas/EventData/properties/$extra"]
    assert moved_in.is_breaking


def test_shipped_is_the_installed_spec_even_while_another_is_in_use() -> None:
    from redo_kit import _spec

    other = _mutated(lambda s: _schemas(s)["Event"]["properties"].pop("uniqueId"))
    with _spec.using(other):
        assert spec_diff("shipped", spec_path()).changes == ()
        assert spec_diff("shipped", other).kinds() == {"property-removed"}


def test_a_rename_also_renames_the_references_to_it() -> None:
    diff = spec_diff(SPEC, _mutated(_rename_customer))
    assert [c.kind for c in diff.changes] == ["schema-renamed"]
    assert "Client" in diff.changes[0].message


def test_a_renamed_schema_that_also_changed_is_a_removal_and_an_addition() -> None:
    def rename_and_change(spec: dict[str, Any]) -> None:
        _rename_customer(spec)
        _schemas(spec)["Client"]["properties"]["email"]["maxLength"] = 100

    diff = spec_diff(SPEC, _mutated(rename_and_change))
    assert {"schema-removed", "schema-added", "max-length-decreased"} <= diff.kinds()
    # Event.customer now points at another schema: compared inline, where it is used.
    inline = [c for c in diff.changes if c.kind == "max-length-decreased"]
    assert (
        inline[0].location
        == "#/components/schemas/Event/properties/customer/properties/email/maxLength"
    )


def _tree(max_length: int, leaf: str = "Node") -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {
            "name": {"type": "string", "maxLength": max_length},
            "children": {"type": "array", "items": {"$ref": f"#/components/schemas/{leaf}"}},
        },
    }


def _document(schemas: dict[str, Any], body: str = "Node") -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {"title": "Trees", "version": "1"},
        "paths": {
            "/trees": {
                "post": {
                    "requestBody": {
                        "content": {
                            "application/json": {"schema": {"$ref": f"#/components/schemas/{body}"}}
                        }
                    },
                    "responses": {"202": {"description": "Accepted."}},
                }
            }
        },
        "components": {"schemas": schemas},
    }


def test_cyclic_schemas_are_compared_once() -> None:
    diff = spec_diff(_document({"Node": _tree(9)}), _document({"Node": _tree(5)}))
    assert [(c.kind, c.location) for c in diff.changes] == [
        ("max-length-decreased", "#/components/schemas/Node/properties/name/maxLength")
    ]
    # A body that now names another cyclic schema: compared inline, each pair once.
    old = _document({"Node": _tree(9), "Leaf": _tree(5, "Leaf")})
    new = _document({"Node": _tree(9), "Leaf": _tree(5, "Leaf")}, body="Leaf")
    diff = spec_diff(old, new)
    assert [c.kind for c in diff.changes] == ["max-length-decreased"]
    assert diff.changes[0].location.startswith("#/paths/~1trees/post/requestBody/content/")


def test_a_deep_schema_is_walked_without_recursion() -> None:
    def deep(max_length: int) -> dict[str, Any]:
        schema: dict[str, Any] = {"type": "string", "maxLength": max_length}
        for _ in range(3000):
            schema = {"type": "object", "properties": {"a": schema}}
        return schema

    diff = spec_diff(_document({"Node": deep(9)}), _document({"Node": deep(5)}))
    assert diff.kinds() == {"max-length-decreased"}
    assert diff.changes[0].location.count("/properties/a") == 3000


def test_unreadable_specs_are_configuration_errors_naming_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "missing.yaml"
    with pytest.raises(ConfigurationError, match=r"missing\.yaml"):
        load_spec(missing)
    broken = tmp_path / "broken.yaml"
    broken.write_text("openapi: 3.1.0\ninfo: [unclosed\n")
    with pytest.raises(ConfigurationError, match=r"broken\.yaml is not valid YAML"):
        load_spec(broken)
    swagger = tmp_path / "swagger.json"
    swagger.write_text('{"swagger": "2.0"}')
    with pytest.raises(ConfigurationError, match=r"swagger\.json is not an OpenAPI 3\.1"):
        load_spec(swagger)
    looping = tmp_path / "looping.yaml"
    looping.write_text("openapi: 3.1.0\nloop: &a [1, *a]\n")
    with pytest.raises(ConfigurationError, match="contains itself"):
        load_spec(looping)
    with pytest.raises(ConfigurationError, match="new document"):
        spec_diff(SPEC, {"openapi": "3.0.3"})


def test_yaml_number_keys_read_as_the_strings_json_has(tmp_path: Path) -> None:
    # `202:` unquoted is an integer key in YAML; it is the same response as "202".
    text = yaml.safe_dump(SPEC).replace("'202':", "202:")
    assert "\n        202:" in text
    unquoted = tmp_path / "unquoted.yaml"
    unquoted.write_text(text)
    assert spec_diff(SPEC, unquoted).changes == ()


# -- properties -----------------------------------------------------------------

REVERSE = {
    "decreased": "increased",
    "increased": "decreased",
    "added": "removed",
    "removed": "added",
    "narrowed": "widened",
    "widened": "narrowed",
}


def _reverse(kind: str) -> str:
    stem, _, end = kind.rpartition("-")
    return f"{stem}-{REVERSE[end]}"


# Schemas reached from responses only; the rest are sent, or reached from an x-redo rule.
RECEIVED_ONLY = {"ProblemDetails", "ProblemItem"}

# Limits of schemas that clients send, and one of a schema they receive.
LIMITS = [
    ("Event", ("properties", "uniqueId"), "maxLength", True),
    ("Event", ("properties", "eventName"), "minLength", True),
    ("BulkEventsRequest", ("properties", "events"), "maxItems", True),
    ("CustomFields", (), "maxProperties", True),
    ("Location", ("properties", "longitude"), "maximum", True),
    ("ProblemDetails", ("properties", "status"), "minimum", False),
]


def _node(spec: dict[str, Any], schema: str, path: tuple[str, ...]) -> dict[str, Any]:
    node: dict[str, Any] = _schemas(spec)[schema]
    for part in path:
        node = node[part]
    return node


@settings(max_examples=25)
@given(
    limit=st.sampled_from(LIMITS),
    shift=st.integers(min_value=-50, max_value=50).filter(bool),
)
def test_a_limit_moved_one_way_breaks_exactly_one_of_the_two_directions(
    limit: tuple[str, tuple[str, ...], str, bool], shift: int
) -> None:
    schema, path, keyword, sent = limit

    def move(spec: dict[str, Any]) -> None:
        # Every limit here is at least 1, so one clamped at 0 still moves.
        node = _node(spec, schema, path)
        node[keyword] = max(0, node[keyword] + shift)

    moved = _mutated(move)
    assert _node(moved, schema, path)[keyword] != _node(SPEC, schema, path)[keyword]
    forward, backward = spec_diff(SPEC, moved), spec_diff(moved, SPEC)
    assert len(forward.changes) == len(backward.changes) == 1
    there, back = forward.changes[0], backward.changes[0]
    assert there.location == back.location
    assert back.kind == _reverse(there.kind)
    assert there.breaking != back.breaking
    # Sent: the tighter direction breaks. Received: the looser one does.
    tighter = (shift < 0) == keyword.startswith("max")
    assert there.breaking is (tighter if sent else not tighter)


@settings(max_examples=25)
@given(removed=st.sets(st.sampled_from(SPEC["components"]["schemas"]["CurrencyCode"]["enum"])))
def test_removed_currencies_break_and_put_back_do_not(removed: set[str]) -> None:
    def remove(spec: dict[str, Any]) -> None:
        currencies = _schemas(spec)["CurrencyCode"]
        currencies["enum"] = [code for code in currencies["enum"] if code not in removed]

    fewer = _mutated(remove)
    assert spec_diff(fewer, copy.deepcopy(fewer)).changes == ()
    forward, backward = spec_diff(SPEC, fewer), spec_diff(fewer, SPEC)
    assert {c.message.split('"')[1] for c in forward.changes} == removed
    assert {c.kind for c in forward.changes} <= {"enum-value-removed"}
    assert {c.kind for c in backward.changes} <= {"enum-value-added"}
    assert forward.is_breaking is bool(removed)
    assert not backward.is_breaking


@settings(max_examples=25)
@given(
    name=st.sampled_from(sorted(SPEC["components"]["schemas"])),
    drop=st.data(),
)
def test_a_removed_property_breaks_and_putting_it_back_does_not(
    name: str, drop: st.DataObject
) -> None:
    properties = SPEC["components"]["schemas"][name].get("properties", {})
    if not properties:
        assert spec_diff(SPEC, SPEC).changes == ()
        return
    gone = drop.draw(st.sampled_from(sorted(properties)))

    def remove(spec: dict[str, Any]) -> None:
        schema = _schemas(spec)[name]
        del schema["properties"][gone]
        if gone in schema.get("required", []):
            schema["required"].remove(gone)

    fewer = _mutated(remove)
    forward, backward = spec_diff(SPEC, fewer), spec_diff(fewer, SPEC)
    assert "property-removed" in forward.kinds()
    assert forward.is_breaking
    assert "property-added" in backward.kinds()
    assert not any(c.breaking for c in backward.changes if c.kind == "property-added")
    # Putting a required field back breaks senders; readers of a response do not mind.
    required = "required-added" in backward.kinds()
    assert backward.is_breaking is (required and name not in RECEIVED_ONLY)


# -- the command ------------------------------------------------------------------


def _redo_kit(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "redo_kit._cli", *args], capture_output=True, text=True, check=False
    )


def test_spec_diff_exit_codes_and_json(tmp_path: Path) -> None:
    same = tmp_path / "same.json"
    same.write_text(json.dumps(SPEC))
    done = _redo_kit("spec", "diff", "shipped", str(same))
    assert done.returncode == 0, done.stderr
    assert "0 breaking, 0 non-breaking" in done.stdout

    wider = tmp_path / "wider.yaml"
    wider.write_text(
        yaml.safe_dump(_mutated(lambda s: _schemas(s)["CurrencyCode"]["enum"].append("XAU")))
    )
    done = _redo_kit("spec", "diff", str(same), str(wider))
    assert done.returncode == 0, done.stderr
    assert "enum-value-added" in done.stdout
    assert "BREAKING" not in done.stdout

    narrower = tmp_path / "narrower.yaml"
    narrower.write_text(
        yaml.safe_dump(_mutated(lambda s: _schemas(s)["Customer"]["properties"].pop("email")))
    )
    done = _redo_kit("spec", "diff", "shipped", str(narrower), "--format", "json")
    assert done.returncode == 1, done.stderr
    report = json.loads(done.stdout)
    assert report["old"] == "shipped"
    assert report["new"] == str(narrower)
    assert report["breaking"] is True
    assert report["summary"] == {"breaking": 1, "non_breaking": 0}
    assert report["changes"] == [
        {
            "location": "#/components/schemas/Customer/properties/email",
            "kind": "property-removed",
            "breaking": True,
            "message": "property email removed",
        }
    ]
    done = _redo_kit("spec", "diff", "shipped", str(narrower))
    assert done.returncode == 1
    assert done.stdout.startswith("BREAKING  property-removed  #/components/schemas/Customer")


def test_spec_diff_unreadable_input_exits_2_naming_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.yaml"
    done = _redo_kit("spec", "diff", "shipped", str(missing))
    assert done.returncode == 2
    assert str(missing) in done.stderr
    assert done.stdout == ""
    garbled = tmp_path / "garbled.json"
    garbled.write_text("{not json")
    done = _redo_kit("spec", "diff", str(garbled), "shipped")
    assert done.returncode == 2
    assert f"{garbled} is not valid JSON" in done.stderr


def test_spec_path_and_show_name_one_file() -> None:
    path = _redo_kit("spec", "path")
    assert path.returncode == 0
    shipped = Path(path.stdout.strip())
    assert shipped.is_file()
    assert shipped.resolve() == spec_path().resolve()
    show = _redo_kit("spec", "show")
    assert show.returncode == 0
    fields = dict(line.split(None, 1) for line in show.stdout.splitlines())
    assert fields["sha256"] == hashlib.sha256(shipped.read_bytes()).hexdigest()
    assert Path(fields["path"]) == shipped
    assert fields["title"] == SPEC["info"]["title"]
    assert fields["version"] == SPEC["info"]["version"]


def test_spec_without_an_action_prints_usage() -> None:
    done = _redo_kit("spec")
    assert done.returncode == 2
    assert "diff" in done.stderr
    assert "examples:" in done.stderr


def test_the_python_api_is_public() -> None:
    assert redo_kit.spec_diff is spec_diff
    diff = redo_kit.spec_diff(SPEC, _mutated(_rename_customer))
    assert isinstance(diff, redo_kit.SpecDiff)
    assert all(isinstance(change, redo_kit.SpecChange) for change in diff.changes)


# -- the rest of OpenAPI, on a small document --------------------------------------


def _small() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "jsonSchemaDialect": "https://json-schema.org/draft/2020-12/schema",
        "info": {"title": "Small", "version": "1", "x-redo-sources": ["A guide."]},
        "servers": [{"url": "https://api.example.com"}],
        "security": [{"key": []}],
        "paths": {
            "/things/{id}": {
                "parameters": [{"name": "id", "in": "path", "required": True}],
                "post": {
                    "operationId": "makeThing",
                    "parameters": [
                        {"name": "mode", "in": "query", "schema": {"type": "string"}},
                        {"$ref": "#/components/parameters/Trace"},
                    ],
                    "requestBody": {
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/Thing"}}
                        }
                    },
                    "responses": {
                        "200": {
                            "description": "Made.",
                            "headers": {"Retry-After": {"schema": {"type": "string"}}},
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/Answer"}
                                }
                            },
                        }
                    },
                },
            }
        },
        "components": {
            "parameters": {"Trace": {"name": "trace", "in": "header", "schema": {}}},
            "securitySchemes": {"key": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Thing": {
                    "type": "object",
                    "properties": {
                        "kind": {"const": "thing"},
                        "size": {"type": "integer", "format": "int32", "default": 1},
                        "shape": {"oneOf": [{"type": "string"}, {"type": "integer"}]},
                        "tags": {"type": "array", "items": {"type": "string"}},
                        "link": {"$ref": "#/components/schemas/Thing"},
                    },
                    "allOf": [{"required": ["kind"]}],
                    "patternProperties": {"^x-": {"type": "string"}},
                    "x-redo-limits": {"max": 10, "unit": "items"},
                },
                "Answer": {"type": "object", "properties": {"id": {"type": "string"}}},
            },
        },
    }


def _op(spec: dict[str, Any]) -> dict[str, Any]:
    operation: dict[str, Any] = spec["paths"]["/things/{id}"]["post"]
    return operation


def _thing(spec: dict[str, Any]) -> dict[str, Any]:
    thing: dict[str, Any] = spec["components"]["schemas"]["Thing"]
    return thing


SMALL: list[tuple[str, Mutation, bool, set[str]]] = [
    ("openapi 3.1.1", lambda s: s.update(openapi="3.1.1"), False, {"openapi-version-changed"}),
    ("dialect", lambda s: s.update(jsonSchemaDialect="x"), True, {"dialect-changed"}),
    (
        "sources",
        lambda s: s["info"].update({"x-redo-sources": ["B."]}),
        False,
        {"x-redo-text-changed"},
    ),
    (
        "server gone",
        lambda s: s.update(servers=[{"url": "https://b"}]),
        True,
        {"server-removed", "server-added"},
    ),
    (
        "server described",
        lambda s: s["servers"][0].update(description="Prod."),
        False,
        {"doc-changed"},
    ),
    ("security", lambda s: s.update(security=[]), True, {"security-changed"}),
    (
        "scheme",
        lambda s: s["components"]["securitySchemes"]["key"].update(scheme="basic"),
        True,
        {"security-scheme-changed"},
    ),
    (
        "scheme gone",
        lambda s: s["components"]["securitySchemes"].update(
            other=s["components"]["securitySchemes"].pop("key")
        ),
        True,
        {"security-scheme-removed", "security-scheme-added"},
    ),
    ("path added", lambda s: s["paths"].update({"/other": {}}), False, {"path-added"}),
    (
        "path summary",
        lambda s: s["paths"]["/things/{id}"].update(summary="Things."),
        False,
        {"doc-changed"},
    ),
    (
        "operation deprecated",
        lambda s: _op(s).update(deprecated=True),
        False,
        {"operation-deprecated"},
    ),
    ("operation security", lambda s: _op(s).update(security=[]), True, {"security-changed"}),
    ("operation callbacks", lambda s: _op(s).update(callbacks={}), True, {"field-changed"}),
    (
        "operation extension",
        lambda s: _op(s).update({"x-internal": True}),
        False,
        {"extension-changed"},
    ),
    (
        "x-redo rule added",
        lambda s: _op(s).update({"x-redo-quota": 5}),
        True,
        {"x-redo-rule-added"},
    ),
    (
        "x-redo prose added",
        lambda s: _op(s).update({"x-redo-note": "Read this."}),
        False,
        {"x-redo-text-changed"},
    ),
    (
        "x-redo key removed",
        lambda s: _thing(s)["x-redo-limits"].pop("unit"),
        True,
        {"x-redo-rule-changed"},
    ),
    (
        "x-redo key prose",
        lambda s: _thing(s)["x-redo-limits"].update(description="More."),
        False,
        {"x-redo-text-changed"},
    ),
    (
        "x-redo reshaped",
        lambda s: _thing(s).update({"x-redo-limits": [10]}),
        True,
        {"x-redo-rule-changed"},
    ),
    ("query parameter gone", lambda s: _op(s)["parameters"].pop(0), True, {"parameter-removed"}),
    (
        "optional parameter",
        lambda s: _op(s)["parameters"].append({"name": "q", "in": "query"}),
        False,
        {"parameter-added"},
    ),
    (
        "required parameter",
        lambda s: _op(s)["parameters"].append({"name": "q", "in": "query", "required": True}),
        True,
        {"required-parameter-added"},
    ),
    (
        "parameter required",
        lambda s: _op(s)["parameters"][0].update(required=True),
        True,
        {"parameter-became-required"},
    ),
    (
        "parameter optional",
        lambda s: s["paths"]["/things/{id}"]["parameters"][0].update(required=False),
        False,
        {"parameter-became-optional"},
    ),
    (
        "parameter style",
        lambda s: s["components"]["parameters"]["Trace"].update(style="simple"),
        True,
        {"parameter-changed"},
    ),
    (
        "parameter enum",
        lambda s: _op(s)["parameters"][0]["schema"].update(enum=["a"]),
        True,
        {"enum-added"},
    ),
    (
        "body required",
        lambda s: _op(s)["requestBody"].update(required=True),
        True,
        {"request-body-became-required"},
    ),
    (
        "body media",
        lambda s: _op(s)["requestBody"]["content"].update({"text/csv": {}}),
        False,
        {"media-type-added"},
    ),
    (
        "body media gone",
        lambda s: _op(s)["requestBody"].update(content={}),
        True,
        {"media-type-removed"},
    ),
    (
        "body example",
        lambda s: _op(s)["requestBody"]["content"]["application/json"].update(example={}),
        False,
        {"doc-changed"},
    ),
    (
        "response added",
        lambda s: _op(s)["responses"].update({"404": {"description": "No."}}),
        False,
        {"response-added"},
    ),
    (
        "header gone",
        lambda s: _op(s)["responses"]["200"].update(headers={}),
        True,
        {"response-header-removed"},
    ),
    (
        "header added",
        lambda s: _op(s)["responses"]["200"]["headers"].update(Link={}),
        False,
        {"response-header-added"},
    ),
    (
        "header pattern",
        lambda s: _op(s)["responses"]["200"]["headers"]["Retry-After"]["schema"].update(
            pattern="^[0-9]+$"
        ),
        False,
        {"pattern-added"},
    ),
    (
        "response links",
        lambda s: _op(s)["responses"]["200"].update(links={}),
        True,
        {"field-changed"},
    ),
    (
        "received type widened",
        lambda s: s["components"]["schemas"]["Answer"]["properties"]["id"].update(
            type=["string", "integer"]
        ),
        True,
        {"type-widened"},
    ),
    (
        "received type any",
        lambda s: s["components"]["schemas"]["Answer"]["properties"]["id"].pop("type"),
        True,
        {"type-widened"},
    ),
    (
        "received enum dropped",
        lambda s: s["components"]["schemas"]["Answer"].update(enum=[{}]),
        False,
        {"enum-added"},
    ),
    (
        "received pattern dropped",
        lambda s: s["components"]["schemas"]["Answer"]["properties"]["id"].update(format="uuid"),
        False,
        {"format-added"},
    ),
    (
        "const changed",
        lambda s: _thing(s)["properties"]["kind"].update(const="other"),
        True,
        {"const-changed"},
    ),
    (
        "const removed",
        lambda s: _thing(s)["properties"]["kind"].pop("const"),
        False,
        {"const-removed"},
    ),
    (
        "int32 -> int64",
        lambda s: _thing(s)["properties"]["size"].update(format="int64"),
        False,
        {"format-widened"},
    ),
    (
        "format removed",
        lambda s: _thing(s)["properties"]["size"].pop("format"),
        False,
        {"format-removed"},
    ),
    (
        "default",
        lambda s: _thing(s)["properties"]["size"].update(default=2),
        False,
        {"default-changed"},
    ),
    (
        "size limit added",
        lambda s: _thing(s)["properties"]["size"].update(maximum=9),
        True,
        {"maximum-added"},
    ),
    (
        "oneOf branch added",
        lambda s: _thing(s)["properties"]["shape"]["oneOf"].append({"type": "null"}),
        False,
        {"one-of-branch-added"},
    ),
    (
        "oneOf branch narrowed",
        lambda s: _thing(s)["properties"]["shape"]["oneOf"][0].update(maxLength=3),
        True,
        {"max-length-added"},
    ),
    (
        "oneOf gone",
        lambda s: _thing(s)["properties"]["shape"].pop("oneOf"),
        False,
        {"one-of-removed"},
    ),
    (
        "anyOf added",
        lambda s: _thing(s)["properties"]["shape"].update(anyOf=[{"type": "string"}]),
        True,
        {"any-of-added"},
    ),
    (
        "allOf branch added",
        lambda s: _thing(s)["allOf"].append({"required": ["size"]}),
        True,
        {"all-of-branch-added"},
    ),
    ("allOf branch removed", lambda s: _thing(s).pop("allOf"), False, {"all-of-branch-removed"}),
    (
        "items closed",
        lambda s: _thing(s)["properties"]["tags"].update(items=False),
        True,
        {"schema-closed"},
    ),
    (
        "pattern property",
        lambda s: _thing(s)["patternProperties"].update({"^y-": {}}),
        True,
        {"pattern-property-added"},
    ),
    (
        "pattern property narrowed",
        lambda s: _thing(s)["patternProperties"]["^x-"].update(minLength=1),
        True,
        {"min-length-added"},
    ),
    ("if", lambda s: _thing(s).update({"if": {"required": ["size"]}}), True, {"condition-changed"}),
    (
        "unknown keyword",
        lambda s: _thing(s).update(uniqueItems=True),
        True,
        {"schema-keyword-changed"},
    ),
    (
        "schema extension",
        lambda s: _thing(s).update({"x-go-type": "T"}),
        False,
        {"extension-changed"},
    ),
    (
        "deprecated property",
        lambda s: _thing(s)["properties"]["size"].update(deprecated=True),
        False,
        {"deprecated-changed"},
    ),
    (
        "unresolvable ref",
        lambda s: _thing(s)["properties"].update(link={"$ref": "other.yaml#/T"}),
        True,
        {"ref-changed"},
    ),
    (
        "schema removed",
        lambda s: s["components"]["schemas"].update(Extra={"type": "object"}),
        False,
        {"schema-added"},
    ),
    ("paths as a list", lambda s: s.update(paths=[]), True, {"field-changed"}),
]


@pytest.mark.parametrize(
    ("mutate", "breaking", "kinds"), [pytest.param(*row[1:], id=row[0]) for row in SMALL]
)
def test_each_change_of_a_small_spec_is_classified(
    mutate: Mutation, breaking: bool, kinds: set[str]
) -> None:
    base = _small()
    assert spec_diff(base, copy.deepcopy(base)).changes == ()
    diff = spec_diff(base, _mutated(mutate, base))
    assert diff.kinds() == kinds, [c.to_dict() for c in diff.changes]
    assert diff.is_breaking is breaking, [c.to_dict() for c in diff.changes]


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=12,
)


def _places(document: Any) -> list[tuple[Any, Any]]:
    """Every (container, key) of ``document``: the places a value can be replaced."""
    found: list[tuple[Any, Any]] = []
    stack = [document]
    while stack:
        node = stack.pop()
        items = (
            node.items()
            if isinstance(node, dict)
            else enumerate(node)
            if isinstance(node, list)
            else ()
        )
        for key, value in items:
            found.append((node, key))
            stack.append(value)
    return found


@settings(max_examples=120)
@given(data=st.data())
def test_any_shape_in_any_place_is_compared_without_an_exception(data: st.DataObject) -> None:
    """A spec in any shape diffs: with itself to nothing, and the same way round both ways."""
    base = data.draw(st.sampled_from([_small(), SPEC]))
    odd = copy.deepcopy(base)
    for _ in range(data.draw(st.integers(min_value=1, max_value=3))):
        container, key = data.draw(st.sampled_from(_places(odd)))
        container[key] = data.draw(_JSON)
    odd["openapi"] = "3.1.0"
    assert spec_diff(odd, copy.deepcopy(odd)).changes == ()
    forward, backward = spec_diff(base, odd), spec_diff(odd, base)
    assert bool(forward.changes) == bool(backward.changes)
    assert all(change.location.startswith("#") for change in forward.changes)


def test_a_verdict_that_depends_on_the_direction_says_which() -> None:
    def new_values(spec: dict[str, Any]) -> None:
        _schemas(spec)["CurrencyCode"]["enum"].append("XAU")
        _schemas(spec)["BulkEventReportItem"]["properties"]["status"]["enum"].append("held")
        _schemas(spec)["ProblemDetails"]["properties"]["status"]["maximum"] = 699

    messages = {
        c.location.split("/")[3]: (c.breaking, c.message)
        for c in spec_diff(SPEC, _mutated(new_values)).changes
    }
    assert messages == {
        "CurrencyCode": (False, 'enum value "XAU" added (clients send it)'),
        "BulkEventReportItem": (True, 'enum value "held" added (sent and received)'),
        "ProblemDetails": (True, "maximum 599 -> 699: more values fit (clients receive it)"),
    }
