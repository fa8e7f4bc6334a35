"""The accounting data workbook: one sheet per entity of a connection's books.

Rows stream from the database straight into the sheet (a server-side
cursor on PostgreSQL), one query per sheet with the names a reader wants
joined in, so a book of half a million journal lines exports in bounded
memory.
"""

from dataclasses import dataclass

from django.db.models import Case, DecimalField, F, When

from connections import ledger
from connections.models import (
    MONEY,
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
from rutterdash import xlsx

CHUNK_SIZE = 5000

DEBIT = Case(
    When(amount__gt=0, then=F("amount")), output_field=DecimalField(**MONEY)
)
CREDIT = Case(
    When(amount__lt=0, then=-F("amount")), output_field=DecimalField(**MONEY)
)


@dataclass(frozen=True)
class Field:
    header: str
    source: object
    kind: str = xlsx.TEXT
    width: int | None = None


@dataclass(frozen=True)
class EntitySheet:
    """What one sheet shows of one model, and how its rows are found."""

    title: str
    model: type
    fields: tuple
    order_by: tuple
    connection_lookup: str = "connection"

    @property
    def columns(self):
        return [xlsx.Column(f.header, f.kind, f.width) for f in self.fields]

    def queryset(self, connection):
        rows = self.model.objects.filter(**{self.connection_lookup: connection})
        sources = [f.source for f in self.fields]
        return rows.order_by(*self.order_by).values_list(*sources)

    def rows(self, connection):
        return self.queryset(connection).iterator(chunk_size=CHUNK_SIZE)


def _party_fields():
    return (
        Field("ID", "platform_id", width=16),
        Field("Name", "name", width=32),
        Field("Contact", "contact_name"),
        Field("Email", "email", width=30),
        Field("Phone", "phone", width=18),
        Field("Address", "address_line1", width=30),
        Field("City", "city", width=18),
        Field("Region", "region", width=14),
        Field("Postal code", "postal_code", width=12),
        Field("Country", "country", width=9),
        Field("Currency", "currency_code", width=9),
        Field("Status", "status", width=10),
    )


def _document_fields(party, party_header, control_header):
    return (
        Field("ID", "platform_id", width=16),
        Field("Number", "document_number", width=14),
        Field(party_header, party, width=32),
        Field("Issue date", "issue_date", xlsx.DATE),
        Field("Due date", "due_date", xlsx.DATE),
        Field("Status", "status", width=15),
        Field("Currency", "currency_code", width=9),
        Field("Subtotal", "sub_total", xlsx.MONEY),
        Field("Tax", "tax_amount", xlsx.MONEY),
        Field("Total", "total_amount", xlsx.MONEY),
        Field("Amount due", "amount_due", xlsx.MONEY),
        Field(control_header, "account__name", width=22),
        Field("Memo", "memo", width=40),
    )


def _document_line_fields(document, party, party_header):
    return (
        Field(f"{document.title()} ID", f"{document}__platform_id", width=16),
        Field(f"{document.title()} number", f"{document}__document_number"),
        Field(party_header, f"{document}__{party}__name", width=32),
        Field("Issue date", f"{document}__issue_date", xlsx.DATE),
        Field("Account code", "account__nominal_code", width=13),
        Field("Account", "account__name", width=28),
        Field("Description", "description", width=40),
        Field("Quantity", "quantity", xlsx.DECIMAL),
        Field("Unit amount", "unit_amount", xlsx.MONEY),
        Field("Total", "total_amount", xlsx.MONEY),
    )


def _payment_fields(party, party_header, document, account_header):
    return (
        Field("ID", "platform_id", width=16),
        Field("Date", "date", xlsx.DATE),
        Field(party_header, f"{party}__name", width=32),
        Field(f"{document.title()} number", f"{document}__document_number"),
        Field(f"{document.title()} ID", f"{document}__platform_id", width=16),
        Field(account_header, "account__name", width=22),
        Field("Currency", "currency_code", width=9),
        Field("Amount", "total_amount", xlsx.MONEY),
        Field("Memo", "memo", width=40),
    )


SHEETS = (
    EntitySheet(
        "Company Info",
        CompanyInfo,
        (
            Field("ID", "platform_id", width=16),
            Field("Name", "name", width=32),
            Field("Legal name", "legal_name", width=32),
            Field("Currency", "currency_code", width=9),
            Field("Address", "address", width=40),
            Field("Fiscal year start month", "fiscal_year_start_month", xlsx.INTEGER),
        ),
        ("platform_id",),
    ),
    EntitySheet(
        "Accounts",
        Account,
        (
            Field("ID", "platform_id", width=16),
            Field("Code", "nominal_code", width=10),
            Field("Name", "name", width=32),
            Field("Type", "account_type", width=24),
            Field("Category", "category", width=11),
            Field("Status", "status", width=10),
            Field("Currency", "currency_code", width=9),
            Field("Parent account", "parent__name", width=28),
        ),
        ("nominal_code", "name", "platform_id"),
    ),
    EntitySheet("Customers", Customer, _party_fields(), ("name", "platform_id")),
    EntitySheet(
        "Vendors",
        Vendor,
        (*_party_fields(), Field("Website", "website", width=28)),
        ("name", "platform_id"),
    ),
    EntitySheet(
        "Invoices",
        Invoice,
        _document_fields("customer__name", "Customer", "Receivable account"),
        ("issue_date", "document_number", "platform_id"),
    ),
    EntitySheet(
        "Invoice Lines",
        InvoiceLine,
        _document_line_fields("invoice", "customer", "Customer"),
        ("invoice__issue_date", "invoice__document_number", "id"),
        "invoice__connection",
    ),
    EntitySheet(
        "Bills",
        Bill,
        _document_fields("vendor__name", "Vendor", "Payable account"),
        ("issue_date", "document_number", "platform_id"),
    ),
    EntitySheet(
        "Bill Lines",
        BillLine,
        _document_line_fields("bill", "vendor", "Vendor"),
        ("bill__issue_date", "bill__document_number", "id"),
        "bill__connection",
    ),
    EntitySheet(
        "Invoice Payments",
        InvoicePayment,
        _payment_fields("customer", "Customer", "invoice", "Deposited to"),
        ("date", "platform_id"),
    ),
    EntitySheet(
        "Bill Payments",
        BillPayment,
        _payment_fields("vendor", "Vendor", "bill", "Paid from"),
        ("date", "platform_id"),
    ),
    EntitySheet(
        "Expenses",
        Expense,
        (
            Field("ID", "platform_id", width=16),
            Field("Date", "transaction_date", xlsx.DATE),
            Field("Vendor", "vendor__name", width=32),
            Field("Paid from", "account__name", width=24),
            Field("Type", "expense_type", width=10),
            Field("Currency", "currency_code", width=9),
            Field("Total", "total_amount", xlsx.MONEY),
            Field("Memo", "memo", width=40),
        ),
        ("transaction_date", "platform_id"),
    ),
    EntitySheet(
        "Expense Lines",
        ExpenseLine,
        (
            Field("Expense ID", "expense__platform_id", width=16),
            Field("Date", "expense__transaction_date", xlsx.DATE),
            Field("Vendor", "expense__vendor__name", width=32),
            Field("Account code", "account__nominal_code", width=13),
            Field("Account", "account__name", width=28),
            Field("Description", "description", width=40),
            Field("Amount", "total_amount", xlsx.MONEY),
        ),
        ("expense__transaction_date", "expense__platform_id", "id"),
        "expense__connection",
    ),
    EntitySheet(
        "Journal Entries",
        JournalEntry,
        (
            Field("ID", "platform_id", width=16),
            Field("Date", "transaction_date", xlsx.DATE),
            Field("Source", "source_type", width=16),
            Field("Currency", "currency_code", width=9),
            Field("Memo", "memo", width=40),
        ),
        ("transaction_date", "platform_id"),
    ),
    EntitySheet(
        "Journal Lines",
        JournalLine,
        (
            Field("Entry ID", "entry__platform_id", width=16),
            Field("Date", "transaction_date", xlsx.DATE),
            Field("Account code", "account__nominal_code", width=13),
            Field("Account", "account__name", width=28),
            Field("Description", "description", width=40),
            Field("Debit", DEBIT, xlsx.MONEY),
            Field("Credit", CREDIT, xlsx.MONEY),
        ),
        ("transaction_date", "entry__platform_id", "id"),
    ),
)


def write_accounting_export(connection, fileobj):
    """Write the connection's books to `fileobj` as an XLSX workbook."""
    book = xlsx.Workbook()
    with ledger.snapshot():
        for entity in SHEETS:
            sheet = book.add_sheet(entity.title, entity.columns)
            sheet.extend(entity.rows(connection))
    book.save(fileobj)
