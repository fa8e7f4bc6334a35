import io
from datetime import date, datetime
from decimal import Decimal

import pytest
from openpyxl import load_workbook

from connections.exports import SHEETS, write_accounting_export
from connections.models import (
    Account,
    Bill,
    BillLine,
    BillPayment,
    CompanyInfo,
    Customer,
    Expense,
    ExpenseLine,
    Invoice,
    InvoiceLine,
    InvoicePayment,
    JournalEntry,
    JournalLine,
    Vendor,
)
from connections.sync import sync_books
from tests.books import SmallBook
from tests.factories import ConnectionFactory

ENTITY_TITLES = [
    "Company Info",
    "Accounts",
    "Customers",
    "Vendors",
    "Invoices",
    "Invoice Lines",
    "Bills",
    "Bill Lines",
    "Invoice Payments",
    "Bill Payments",
    "Expenses",
    "Expense Lines",
    "Journal Entries",
    "Journal Lines",
]

SHEET_ROWS = {
    "Company Info": lambda c: CompanyInfo.objects.filter(connection=c),
    "Accounts": lambda c: Account.objects.filter(connection=c),
    "Customers": lambda c: Customer.objects.filter(connection=c),
    "Vendors": lambda c: Vendor.objects.filter(connection=c),
    "Invoices": lambda c: Invoice.objects.filter(connection=c),
    "Invoice Lines": lambda c: InvoiceLine.objects.filter(invoice__connection=c),
    "Bills": lambda c: Bill.objects.filter(connection=c),
    "Bill Lines": lambda c: BillLine.objects.filter(bill__connection=c),
    "Invoice Payments": lambda c: InvoicePayment.objects.filter(connection=c),
    "Bill Payments": lambda c: BillPayment.objects.filter(connection=c),
    "Expenses": lambda c: Expense.objects.filter(connection=c),
    "Expense Lines": lambda c: ExpenseLine.objects.filter(expense__connection=c),
    "Journal Entries": lambda c: JournalEntry.objects.filter(connection=c),
    "Journal Lines": lambda c: JournalLine.objects.filter(connection=c),
}


@pytest.fixture
def book(db):
    return SmallBook(ConnectionFactory()).build()


def export(connection):
    output = io.BytesIO()
    write_accounting_export(connection, output)
    output.seek(0)
    return load_workbook(output)


def records(sheet):
    """The data rows of a sheet as dicts keyed by header."""
    rows = sheet.iter_rows(values_only=True)
    headers = next(rows)
    return [dict(zip(headers, row, strict=True)) for row in rows]


def test_export_has_one_sheet_per_entity(book):
    workbook = export(book.connection)

    assert workbook.sheetnames == ENTITY_TITLES
    assert [sheet.title for sheet in SHEETS] == ENTITY_TITLES


def test_each_sheet_has_a_row_per_record_of_a_generated_book(db):
    connection = ConnectionFactory()
    sync_books(connection, months=4, scale=1, today=date(2024, 4, 30))
    ConnectionFactory()

    workbook = export(connection)

    for title, rows in SHEET_ROWS.items():
        count = rows(connection).count()
        assert count > 0, title
        assert workbook[title].max_row - 1 == count, title


def test_export_leaves_out_other_connections(book):
    other = SmallBook(ConnectionFactory()).build()
    Customer.objects.filter(pk=other.alder.pk).update(name="Someone Else")

    workbook = export(book.connection)

    names = [row["Name"] for row in records(workbook["Customers"])]
    assert names == ["Alder & Sons", "Birch Ltd"]
    assert workbook["Journal Lines"].max_row - 1 == 20


def test_invoices_show_customer_names_dates_and_amounts(book):
    workbook = export(book.connection)

    invoices = records(workbook["Invoices"])
    assert [row["Number"] for row in invoices] == ["INV-0", "INV-1", "INV-2"]
    first = invoices[0]
    assert first["Customer"] == "Alder & Sons"
    assert first["Issue date"] == datetime(2023, 12, 15)
    assert first["Total"] == 1000
    assert first["Receivable account"] == "Accounts Receivable"


def test_journal_lines_split_amounts_into_debit_and_credit(book):
    workbook = export(book.connection)

    lines = records(workbook["Journal Lines"])
    debits = sum(row["Debit"] or 0 for row in lines)
    credits = sum(row["Credit"] or 0 for row in lines)
    assert debits == credits == Decimal("13950")
    assert all((row["Debit"] is None) != (row["Credit"] is None) for row in lines)
    opening = [row for row in lines if row["Entry ID"] == "je-1"]
    assert [(r["Account"], r["Debit"], r["Credit"]) for r in opening] == [
        ("Business Checking", 10000, None),
        ("Owner's Capital", None, 10000),
    ]


def test_money_cells_are_numbers_with_a_money_format(book):
    workbook = export(book.connection)

    sheet = workbook["Bills"]
    headers = [cell.value for cell in sheet[1]]
    total = sheet.cell(row=2, column=headers.index("Total") + 1)
    issued = sheet.cell(row=2, column=headers.index("Issue date") + 1)
    assert total.data_type == "n"
    assert total.value == 300
    assert total.number_format == "#,##0.00"
    assert issued.is_date


def test_every_sheet_has_a_bold_frozen_filtered_header(book):
    workbook = export(book.connection)

    for sheet in workbook.worksheets:
        assert sheet.freeze_panes == "A2", sheet.title
        assert all(cell.font.b for cell in sheet[1]), sheet.title
        assert sheet.auto_filter.ref.startswith("A1:"), sheet.title


def test_text_a_spreadsheet_would_run_is_neutralised(book):
    Customer.objects.filter(pk=book.alder.pk).update(
        name='=HYPERLINK("http://example.com","x")', email="@SUM(1)"
    )

    workbook = export(book.connection)

    cell = workbook["Customers"]["B2"]
    assert cell.value == '\'=HYPERLINK("http://example.com","x")'
    assert cell.data_type == "s"
    assert workbook["Customers"]["D2"].value == "'@SUM(1)"


def test_characters_xlsx_forbids_are_removed(book):
    Invoice.objects.filter(document_number="INV-0").update(memo="bad\x1b\x07memo")

    workbook = export(book.connection)

    memos = [row["Memo"] for row in records(workbook["Invoices"])]
    assert memos[0] == "badmemo"


def test_export_reads_each_sheet_in_one_query(book, django_assert_max_num_queries):
    with django_assert_max_num_queries(len(SHEETS)):
        write_accounting_export(book.connection, io.BytesIO())
