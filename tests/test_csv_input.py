"""CSV input: the column mapping, cell types from the spec, row problems and positions."""

from __future__ import annotations

import csv
import io
import re
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from redo_kit._csv_input import CsvInput, scalar
from redo_kit._errors import ConfigurationError
from redo_kit._importer import LineRejection, Position, import_events, line_limit


def _csv(rows: list[list[str]], *, newline: str = "\n") -> bytes:
    out = io.StringIO()
    csv.writer(out, lineterminator=newline).writerows(rows)
    return out.getvalue().encode("utf-8")


def _read(data: bytes, **options: Any) -> list[tuple[int, Position, Any, tuple[Any, ...]]]:
    source = io.BytesIO(data)
    table = CsvInput.open(source, **options)
    return list(table.read(source, Position()))


def _events(data: bytes, **options: Any) -> list[Any]:
    return [event for _, _, event, _ in _read(data, **options) if event is not None]


def test_wire_path_headers_go_there_and_other_headers_become_data() -> None:
    data = _csv(
        [
            ["eventName", "customer.email", "customer.location.postalCode", "value",
             "valueCurrency", "Order Total", "data.Item Count", "customer.customFields.Tier",
             "data.$extra.note"],
            ["Order Placed", "ana@example.com", "02134", "59.99", "USD", "59.99", "3", "gold",
             "x"],
        ]
    )  # fmt: skip
    assert _events(data) == [
        {
            "eventName": "Order Placed",
            "customer": {
                "email": "ana@example.com",
                "location": {"postalCode": "02134"},
                "customFields": {"Tier": "gold"},
            },
            "value": 59.99,
            "valueCurrency": "USD",
            "data": {"Order Total": 59.99, "Item Count": 3, "$extra": {"note": "x"}},
        }
    ]


@pytest.mark.parametrize(
    ("cell", "value"),
    [
        ("3", 3),
        ("-0.5", -0.5),
        ("1e3", 1000.0),
        ("true", True),
        ("false", False),
        ("null", None),
        ("02134", "02134"),
        ("1,000", "1,000"),
        (" 3 ", 3),
        ("NaN", "NaN"),
        ('"12"', "12"),
        ("2025-01-01T00:00:00Z", "2025-01-01T00:00:00Z"),
        ('{"a": 1}', '{"a": 1}'),
    ],
)
def test_free_form_cells_are_json_scalars_or_text(cell: str, value: Any) -> None:
    assert scalar(cell) == value
    assert type(scalar(cell)) is type(value)


def test_fixed_fields_take_the_spec_type_and_empty_cells_are_left_out() -> None:
    data = _csv(
        [
            ["eventName", "customer.phoneNumber", "customer.firstName", "uniqueId", "value",
             "customer.location.latitude", "Coupon"],
            ["12", "+12065550100", "true", "0042", "7", "47.6", ""],
        ]
    )  # fmt: skip
    [event] = _events(data)
    assert event == {
        "eventName": "12",
        "customer": {
            "phoneNumber": "+12065550100",
            "firstName": "true",
            "location": {"latitude": 47.6},
        },
        "uniqueId": "0042",
        "value": 7,
    }


def test_the_mapping_moves_types_and_leaves_out_columns() -> None:
    data = _csv([["Email", "Zip", "Internal", "Paid"], ["a@example.com", "2134", "x", "yes"]])
    columns = {
        "Email": "customer.email",
        "Zip": "data.Zip:string",
        "Internal": "",
        "Paid": "data.Paid",
    }
    assert _events(data, columns=columns, event_name="Order Placed") == [
        {
            "customer": {"email": "a@example.com"},
            "data": {"Zip": "2134", "Paid": "yes"},
            "eventName": "Order Placed",
        }
    ]


def test_an_event_name_column_wins_over_the_default_where_it_has_a_value() -> None:
    data = _csv(
        [["eventName", "customer.email"], ["Refund", "a@example.com"], ["", "b@example.com"]]
    )
    events = _events(data, event_name="Order Placed")
    assert [e["eventName"] for e in events] == ["Refund", "Order Placed"]


def test_a_cell_not_of_its_type_is_a_problem_with_the_path_and_the_fix() -> None:
    data = _csv(
        [["eventName", "customer.email", "value", "Total"], ["A", "a@example.com", "ten", "x"]]
    )
    [(_, _, event, problems)] = _read(data, columns={"Total": "data.Total:number"})
    assert [(p.path, p.rule) for p in problems] == [("$.value", "type"), ("$.data.Total", "type")]
    assert "'ten' is not a number" in problems[0].message
    assert "the spec makes value a number" in problems[0].hint
    assert "--column 'Total=data.Total:string'" in problems[1].hint
    assert event == {"eventName": "A", "customer": {"email": "a@example.com"}}


def test_a_boolean_column_reads_true_and_false_only() -> None:
    data = _csv(
        [["eventName", "customer.email", "Gift"], ["A", "a@e.co", "TRUE"], ["A", "a@e.co", "1"]]
    )
    rows = _read(data, columns={"Gift": "data.Gift:boolean"})
    assert rows[0][2]["data"] == {"Gift": True}
    assert [p.rule for p in rows[1][3]] == ["type"]


def test_every_mapping_mistake_is_named_at_once_with_its_fix() -> None:
    data = _csv(
        [["E-mail", "customer.emial", "customer.location", "dup", "dup", "When"], ["x"] * 6]
    )
    columns = {"Wehn": "eventTimestamp", "When": "eventTimestamp:int", "dup": "uniqueId:number"}
    with pytest.raises(ConfigurationError) as caught:
        CsvInput.open(io.BytesIO(data), columns=columns)
    message = str(caught.value)
    assert "column 'dup' appears twice" in message
    assert "--column 'Wehn': no such column in the header (did you mean 'When'?)" in message
    assert "customer has no field 'emial'; did you mean 'email'?" in message
    assert "customer.location holds an object" in message
    assert "unknown type 'int'" in message
    assert "the spec makes uniqueId a string" in message
    assert "--event-name NAME" in message
    assert "--column 'E-mail=customer.email'" in message


def test_two_columns_to_one_path_are_refused() -> None:
    data = _csv([["customer.email", "Email"], ["a@e.co", "b@e.co"]])
    with pytest.raises(ConfigurationError, match=r"both go to customer\.email"):
        CsvInput.open(io.BytesIO(data), columns={"Email": "customer.email"}, event_name="A")


def test_an_empty_input_or_header_says_so() -> None:
    with pytest.raises(ConfigurationError, match="empty"):
        CsvInput.open(io.BytesIO(b""), event_name="A")


def test_rows_of_the_wrong_width_and_bad_bytes_are_rejected_alone() -> None:
    data = (
        b"eventName,customer.email\n"
        b"A,a@example.com\n"
        b"A,a@example.com,extra\n"
        b"\n"
        b",,\n"
        b"A,\xff@example.com\n"
        b"A,b@example.com\n"
    )
    rows = _read(data)
    assert [(line, [p.rule for p in problems]) for line, _, _, problems in rows] == [
        (2, []),
        (3, ["csv"]),
        (4, []),
        (5, []),
        (6, ["encoding"]),
        (7, []),
    ]
    assert rows[2][2] is None
    assert rows[3][2] is None


def test_a_quoted_line_break_keeps_line_numbers_and_positions_true() -> None:
    data = _csv(
        [
            ["eventName", "customer.email", "Note"],
            ["A", "a@example.com", "one\nline two"],
            ["B", "b@example.com", "plain"],
            ["C", "c@example.com", "last"],
        ],
        newline="\r\n",
    )
    rows = _read(data)
    assert [line for line, *_ in rows] == [2, 4, 5]
    assert rows[0][2]["data"] == {"Note": "one\nline two"}
    after_first = rows[0][1]
    assert data[: after_first.offset].endswith(b'line two"\r\n')

    # Resuming from a position reads the rows after it, with the same line numbers.
    source = io.BytesIO(data)
    table = CsvInput.open(source)
    source.seek(after_first.offset)
    resumed = list(table.read(source, after_first))
    assert [(line, event["eventName"]) for line, _, event, _ in resumed] == [(4, "B"), (5, "C")]


def test_a_byte_order_mark_and_a_tab_delimiter_are_read() -> None:
    data = "\ufeffeventName\tcustomer.email\nA\ta@example.com\n".encode()
    assert _events(data, delimiter="\t") == [
        {"eventName": "A", "customer": {"email": "a@example.com"}}
    ]


_text = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"))


@given(cells=st.lists(st.tuples(_text, _text), min_size=1, max_size=5))
def test_any_text_read_as_string_comes_back_exactly(cells: list[tuple[str, str]]) -> None:
    rows = [["eventName", "customer.email", "Note", "Other"]]
    rows += [["A", "a@example.com", note, other] for note, other in cells]
    columns = {"Note": "data.Note:string", "Other": "data.$extra.Other:string"}
    # The writer quotes a cell with a lone CR only when CR is in its line terminator.
    read = _read(_csv(rows, newline="\r\n"), columns=columns)
    events = [event for _, _, event, _ in read]
    # Empty cells are left out; a row of only empty cells is a blank row.
    assert [e.get("data", {}).get("Note", "") for e in events] == [n for n, _ in cells]
    assert [e.get("data", {}).get("$extra", {}).get("Other", "") for e in events] == [
        o for _, o in cells
    ]


def test_import_reports_every_problem_of_a_row_with_its_line() -> None:
    data = _csv(
        [
            ["eventName", "customer.email", "value", "valueCurrency"],
            ["Order Placed", "a@example.com", "10", "USD"],
            ["Order Placed", "not-an-email", "ten", "usd"],
        ]
    )
    source = io.BytesIO(data)
    table = CsvInput.open(source)
    rejected: list[LineRejection] = []
    result = import_events(source, None, reader=table.read, on_reject=rejected.append)
    assert result.progress.valid == 1
    [rejection] = rejected
    assert rejection.line == 3
    assert sorted(p.path for p in rejection.problems if p.severity == "error") == [
        "$.customer.email",
        "$.value",
        "$.valueCurrency",
    ]


def test_a_free_form_column_of_more_than_one_type_is_named_with_the_fix() -> None:
    data = _csv(
        [
            ["eventName", "customer.email", "Zip", "When", "data.$extra.Any", "Total"],
            ["A", "a@example.com", "02134", "2025-01-01T00:00:00Z", "1", "5"],
            ["A", "a@example.com", "94107", "soon", "x", "6.5"],
            ["A", "a@example.com", "10001", "", "true", "7"],
        ]
    )
    source = io.BytesIO(data)
    table = CsvInput.open(source)
    assert table.mixed_types() == []
    list(table.read(source, Position()))
    zip_code, when = table.mixed_types()
    assert zip_code.startswith("column 'Zip' gave data.Zip more than one type (2 number, 1 string)")
    assert "--column 'Zip=data.Zip:string' (or :number, which rejects the rows" in zip_code
    assert when.startswith("column 'When' gave data.When more than one type (1 date, 1 string)")
    assert "RFC 3339" in when


def test_a_byte_order_mark_before_a_quoted_header_is_skipped() -> None:
    data = b'\xef\xbb\xbf"eventName","customer.email"\nA,a@example.com\n'
    assert _events(data) == [{"eventName": "A", "customer": {"email": "a@example.com"}}]


def _rejections(data: bytes) -> tuple[list[LineRejection], int]:
    source = io.BytesIO(data)
    table = CsvInput.open(source)
    rejected: list[LineRejection] = []
    result = import_events(source, None, reader=table.read, on_reject=rejected.append)
    assert result.progress.watermark.offset == len(data)
    return rejected, result.progress.valid


HEADER = b"eventName,customer.email,Note\n"


def test_a_line_longer_than_any_event_rejects_its_row_and_the_next_rows_are_read() -> None:
    long = b"A,a@example.com," + b"x" * line_limit() + b"\n"
    data = HEADER + b"A,a@example.com,one\n" + long + b"A,b@example.com,three\n"
    rejected, valid = _rejections(data)
    assert valid == 2
    [rejection] = rejected
    assert rejection.line == 3
    assert [p.rule for p in rejection.problems] == ["line-too-long"]
    assert f"the line is {len(long):,} bytes" in rejection.problems[0].message


def test_a_row_over_many_lines_past_the_limit_is_rejected_and_read_to_its_end() -> None:
    cells = b'"x\n",' * (line_limit() // 5)
    big = b"A,a@example.com," + cells + b"end\n"
    data = HEADER + big + b"A,b@example.com,after\n"
    rejected, valid = _rejections(data)
    assert valid == 1
    [rejection] = rejected
    assert rejection.line == 2
    [problem] = rejection.problems
    assert problem.rule == "line-too-long"
    last = big.count(b"\n") + 1
    assert f"row (lines 2 to {last:,})" in problem.message


def test_a_quoted_cell_past_the_csv_field_limit_is_rejected_and_read_past() -> None:
    field = b'"' + b"y" * 99 + b"\n" * 1 + (b"z" * 99 + b"\n") * (csv.field_size_limit() // 90)
    # A line inside the cell that would be a row of its own if csv started there.
    field += b"Inside,inside@example.com,x\n" + b'tail"'
    data = HEADER + b"A,a@example.com," + field + b"\nA,b@example.com,after\n"
    rejected, valid = _rejections(data)
    assert valid == 1
    [rejection] = rejected
    assert rejection.line == 2
    assert [p.rule for p in rejection.problems] == ["csv"]
    assert "field larger than field limit" in rejection.problems[0].message


def test_bytes_that_are_not_utf8_reject_their_row_with_their_offset() -> None:
    data = HEADER + b"A,a@example.com,caf\xe9\nA,b@example.com,ok\n"
    rejected, valid = _rejections(data)
    assert valid == 1
    [rejection] = rejected
    assert rejection.line == 2
    [problem] = [p for p in rejection.problems if p.rule == "encoding"]
    where = data.index(b"\xe9")
    assert f"at byte offset {where:,}" in problem.message


def test_the_quotes_of_a_line_too_long_still_tell_where_its_row_ends() -> None:
    # The quoted cell opened on line 2 closes inside the long line 3.
    long = b"x" * line_limit() + b'"\n'
    data = HEADER + b'A,a@example.com,"start\n' + long + b"A,b@example.com,after\n"
    rejected, valid = _rejections(data)
    assert valid == 1
    [rejection] = rejected
    assert rejection.line == 2
    [problem] = rejection.problems
    assert problem.rule == "line-too-long"
    assert "row (lines 2 to 3)" in problem.message


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"eventName," + b"x" * line_limit() + b"\nA,b\n", "header row is longer than"),
        (b"eventName,caf\xe9\nA,b\n", "not UTF-8 (at byte offset 13)"),
    ],
)
def test_a_header_too_long_or_not_utf8_stops_the_run(data: bytes, message: str) -> None:
    with pytest.raises(ConfigurationError, match=re.escape(message)):
        CsvInput.open(io.BytesIO(data))
