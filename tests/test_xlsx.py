import io
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from openpyxl import load_workbook

from rutterdash import xlsx
from rutterdash.xlsx import Column

COLUMNS = [
    Column("Name"),
    Column("Issued", xlsx.DATE),
    Column("Updated", xlsx.DATETIME),
    Column("Amount", xlsx.MONEY),
    Column("Lines", xlsx.INTEGER),
    Column("Quantity", xlsx.DECIMAL),
]


def written(rows, columns=COLUMNS, title="Data"):
    book = xlsx.Workbook()
    sheet = book.add_sheet(title, columns)
    sheet.extend(rows)
    output = io.BytesIO()
    book.save(output)
    output.seek(0)
    return load_workbook(output)


def only_sheet(rows, columns=COLUMNS):
    return written(rows, columns).worksheets[0]


@pytest.mark.parametrize(
    "text",
    [
        "=1+1",
        "+SUM(A1:A2)",
        "-2+3",
        "@cmd",
        "\t=1+1",
        "\r=1+1",
        "  =HYPERLINK(\"http://example.com\")",
    ],
)
def test_text_that_would_run_as_a_formula_is_guarded(text):
    sheet = only_sheet([[text]])

    cell = sheet["A2"]
    assert cell.data_type == "s"
    assert cell.value == "'" + text


@pytest.mark.parametrize(
    "text",
    [
        "Plain name",
        "a=b",
        "Net 30 - due",
        "1-30",
        "+1 555 434 3281",
        "+44 (0)20 7946 0958",
        "-42.50",
    ],
)
def test_ordinary_text_is_left_alone(text):
    assert only_sheet([[text]])["A2"].value == text


def test_characters_xlsx_forbids_are_removed_not_fatal():
    sheet = only_sheet([["Bad\x00 \x08byte\x1f here", None, None, 1]])

    assert sheet["A2"].value == "Bad byte here"
    assert sheet["D2"].value == 1


def test_non_text_values_in_text_columns_become_text():
    sheet = only_sheet([[12345]])

    assert sheet["A2"].value == "12345"
    assert sheet["A2"].data_type == "s"


def test_dates_and_datetimes_are_real_dates_in_utc():
    aware = datetime(2024, 5, 1, 9, 30, tzinfo=timezone(timedelta(hours=2)))

    sheet = only_sheet([["x", date(2024, 2, 29), aware]])

    assert sheet["B2"].is_date
    assert sheet["B2"].value == datetime(2024, 2, 29)
    assert sheet["C2"].is_date
    assert sheet["C2"].value == datetime(2024, 5, 1, 7, 30)


def test_money_is_a_number_with_the_money_format():
    sheet = only_sheet([["x", None, None, Decimal("-1234.50")], ["y"]])

    cell = sheet["D2"]
    assert cell.data_type == "n"
    assert cell.value == -1234.5
    assert cell.number_format == "#,##0.00"
    assert sheet["D3"].value is None


def test_every_row_keeps_its_own_money_value():
    rows = [["x", None, None, Decimal(n)] for n in (1, 2, 3)]

    sheet = only_sheet(rows)

    assert [sheet.cell(row, 4).value for row in (2, 3, 4)] == [1, 2, 3]


def test_integers_and_decimals_are_numbers():
    sheet = only_sheet([["x", None, None, None, 7, Decimal("2.5000")]])

    assert sheet["E2"].data_type == "n"
    assert sheet["E2"].value == 7
    assert sheet["F2"].value == 2.5


def test_header_is_bold_frozen_and_filtered_over_the_data():
    sheet = only_sheet([["a"], ["b"], ["c"]])

    assert [cell.value for cell in sheet[1]] == [c.header for c in COLUMNS]
    assert all(cell.font.b for cell in sheet[1])
    assert not sheet["A2"].font.b
    assert sheet.freeze_panes == "A2"
    assert sheet.auto_filter.ref == "A1:F4"


def test_an_empty_sheet_still_has_its_header_and_filter():
    sheet = only_sheet([])

    assert sheet.max_row == 1
    assert sheet.auto_filter.ref == "A1:F1"


def test_columns_get_their_widths():
    columns = [Column("Name", width=40), Column("Issued", xlsx.DATE)]

    sheet = only_sheet([], columns)

    assert sheet.column_dimensions["A"].width == 40
    assert sheet.column_dimensions["B"].width == xlsx.DEFAULT_WIDTHS[xlsx.DATE]


def test_default_width_fits_a_long_header():
    column = Column("A header much longer than the default width")

    assert column.display_width == len(column.header) + 3


def test_unknown_column_kinds_are_refused():
    with pytest.raises(ValueError):
        Column("Amount", "currency")


def test_emphasised_rows_are_bold_and_keep_formats():
    book = xlsx.Workbook()
    sheet = book.add_sheet("Totals", COLUMNS)
    sheet.append_emphasised(["=Total", None, None, Decimal("10")])
    output = io.BytesIO()
    book.save(output)
    output.seek(0)

    row = load_workbook(output)["Totals"][2]

    assert row[0].value == "'=Total"
    assert row[0].font.b
    assert row[3].value == 10
    assert row[3].number_format == "#,##0.00"
    assert row[3].font.b


@pytest.mark.parametrize(
    ("title", "safe"),
    [
        ("Invoices", "Invoices"),
        ("A/B: [draft]*?", "A B draft"),
        ("Back\\slash", "Back slash"),
        ("'Quoted'", "Quoted"),
        ("", "Sheet"),
        ("History", "History (1)"),
        ("x" * 40, "x" * 31),
    ],
)
def test_sheet_names_are_made_safe(title, safe):
    assert xlsx.safe_sheet_name(title) == safe


def test_sheet_names_are_unique_ignoring_case():
    taken = ["Invoices", "Invoices (2)"]

    assert xlsx.safe_sheet_name("INVOICES", taken) == "INVOICES (3)"


def test_a_long_duplicate_name_stays_within_the_limit():
    name = xlsx.safe_sheet_name("y" * 40, ["y" * 31])

    assert name == "y" * 27 + " (2)"


def test_workbook_keeps_sheets_in_order_with_safe_unique_names():
    book = xlsx.Workbook()
    for title in ("Data", "data", "Da:ta"):
        book.add_sheet(title, [Column("A")])
    output = io.BytesIO()
    book.save(output)
    output.seek(0)

    assert load_workbook(output).sheetnames == ["Data", "data (2)", "Da ta"]


def test_naive_utc_leaves_naive_values_alone():
    moment = datetime(2024, 1, 1, 12)

    assert xlsx.naive_utc(moment) is moment
    assert xlsx.naive_utc(moment.replace(tzinfo=UTC)) == moment


def test_very_long_text_is_cut_to_what_a_cell_holds():
    sheet = only_sheet([["z" * 40000]])

    assert len(sheet["A2"].value) == xlsx.MAX_CELL_TEXT
