import io
from datetime import date
from decimal import Decimal

import pytest
from openpyxl import load_workbook

from connections.reports import default_period, write_financial_report
from connections.sync import sync_books
from tests.books import SmallBook
from tests.factories import ConnectionFactory

SHEETS = [
    "Balance Sheet",
    "Income Statement",
    "Trial Balance",
    "AR Aging",
    "AP Aging",
]


@pytest.fixture
def book(db):
    return SmallBook(ConnectionFactory()).build()


@pytest.fixture
def generated(db):
    connection = ConnectionFactory()
    sync_books(connection, months=18, scale=1, today=date(2024, 6, 20))
    return connection


def report(connection, start, end):
    output = io.BytesIO()
    write_financial_report(connection, start, end, output)
    output.seek(0)
    return load_workbook(output)


def rows_by_label(sheet, label_column):
    """{label: row values} for every row with a label in that column."""
    rows = sheet.iter_rows(min_row=2, values_only=True)
    return {row[label_column]: row for row in rows if row[label_column]}


def headers(sheet):
    return [cell.value for cell in sheet[1]]


def test_default_period_is_the_last_twelve_full_months():
    assert default_period(date(2024, 3, 15)) == (date(2023, 3, 1), date(2024, 2, 29))
    assert default_period(date(2024, 1, 1)) == (date(2023, 1, 1), date(2023, 12, 31))


def test_report_has_the_five_sheets(book):
    workbook = report(book.connection, date(2024, 1, 1), date(2024, 3, 15))

    assert workbook.sheetnames == SHEETS


def test_balance_sheet_ties_and_says_so(book):
    workbook = report(book.connection, date(2024, 1, 1), date(2024, 3, 15))

    sheet = workbook["Balance Sheet"]
    rows = rows_by_label(sheet, 1)
    assert headers(sheet)[2] == "Balance at 15 Mar 2024"
    assert rows["Total assets"][2] == 11600
    assert rows["Total liabilities and equity"][2] == 11600
    assert rows["Current year earnings"][2] == 450
    assert rows["Check: Assets - (Liabilities + Equity)"][2] == 0


def test_income_statement_has_one_column_per_month(book):
    workbook = report(book.connection, date(2023, 12, 1), date(2024, 3, 31))

    sheet = workbook["Income Statement"]
    assert headers(sheet) == [
        "Code",
        "Account",
        "Dec 2023",
        "Jan 2024",
        "Feb 2024",
        "Mar 2024",
        "Total",
    ]
    rows = rows_by_label(sheet, 1)
    assert rows["Product Sales"][2:] == (1000, 1300, 0, 0, 2300)
    assert rows["Gross profit"][2:] == (1000, 1000, 0, 0, 2000)
    assert rows["Net income"][2:] == (1000, 1000, -400, -150, 1450)


def test_trial_balance_totals_are_equal(book):
    workbook = report(book.connection, date(2024, 1, 1), date(2024, 3, 15))

    rows = rows_by_label(workbook["Trial Balance"], 1)
    assert rows["Total"][3:] == (12450, 12450)
    assert rows["Check: Debits - Credits"][3] == 0
    assert rows["Accounts Payable"][3:] == (None, 150)


def test_aging_sheets_tie_to_the_control_accounts(book):
    workbook = report(book.connection, date(2024, 1, 1), date(2024, 3, 15))

    receivables = rows_by_label(workbook["AR Aging"], 0)
    assert headers(workbook["AR Aging"]) == [
        "Customer",
        "Current",
        "1-30 days",
        "31-60 days",
        "61-90 days",
        "90+ days",
        "Total",
    ]
    assert receivables["Alder & Sons"][1:] == (0, 0, 300, 1000, 0, 1300)
    assert receivables["Total"][-1] == 2100
    assert receivables["Check: Total - Accounts receivable balance"][-1] == 0
    payables = rows_by_label(workbook["AP Aging"], 0)
    assert payables["Vantage Supplies"][-1] == 150
    assert payables["Accounts payable balance at 15 Mar 2024"][-1] == 150


def test_money_is_numeric_with_a_money_format(book):
    workbook = report(book.connection, date(2024, 1, 1), date(2024, 3, 15))

    for sheet in workbook.worksheets:
        money_columns = [
            index
            for index, header in enumerate(headers(sheet))
            if header not in ("Code", "Account", "Type", "Customer", "Vendor")
        ]
        for row in sheet.iter_rows(min_row=2):
            for index in money_columns:
                cell = row[index]
                if cell.value is not None:
                    assert cell.data_type == "n", (sheet.title, cell.coordinate)
                    assert cell.number_format == "#,##0.00"


def test_headers_are_bold_frozen_and_filtered(book):
    workbook = report(book.connection, date(2024, 1, 1), date(2024, 3, 15))

    for sheet in workbook.worksheets:
        assert sheet.freeze_panes == "A2"
        assert all(cell.font.b for cell in sheet[1])
        last_column = sheet.cell(1, sheet.max_column).column_letter
        assert sheet.auto_filter.ref == f"A1:{last_column}{sheet.max_row}"


def test_a_period_that_ends_before_it_starts_is_refused(book):
    with pytest.raises(ValueError):
        write_financial_report(
            book.connection, date(2024, 3, 1), date(2024, 2, 1), io.BytesIO()
        )


def test_generated_books_tie_in_the_default_period(generated):
    start, end = default_period(date(2024, 6, 20))

    workbook = report(generated, start, end)

    balance = rows_by_label(workbook["Balance Sheet"], 1)
    trial = rows_by_label(workbook["Trial Balance"], 1)
    receivables = rows_by_label(workbook["AR Aging"], 0)
    payables = rows_by_label(workbook["AP Aging"], 0)
    assert len(headers(workbook["Income Statement"])) == 2 + 12 + 1
    assert balance["Check: Assets - (Liabilities + Equity)"][2] == 0
    assert balance["Total assets"][2] > 0
    assert trial["Check: Debits - Credits"][3] == 0
    assert receivables["Total"][-1] > 0
    assert receivables["Check: Total - Accounts receivable balance"][-1] == 0
    assert payables["Check: Total - Accounts payable balance"][-1] == 0


def test_income_statement_net_income_matches_the_balance_sheet(generated):
    workbook = report(generated, date(2024, 1, 1), date(2024, 6, 20))

    income = rows_by_label(workbook["Income Statement"], 1)
    balance = rows_by_label(workbook["Balance Sheet"], 1)
    net_income = Decimal(str(income["Net income"][-1]))
    assert net_income == Decimal(str(balance["Current year earnings"][2]))
