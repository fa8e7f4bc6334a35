"""API endpoints that write accounting records to a connection's books.

Each endpoint checks the body's shape here (amounts finite with at most two
decimal places, dates real), leaves the ledger's rules to
connections.writes, and answers Rutter's create response: the record
itself beside an ``async_response`` that has already succeeded. The job id
goes out as ``X-Rutter-Job-ID`` and is kept as the record's platform id.

The operations join the ``accounting`` router so that a path's list (GET)
and create (POST) share one URL: ninja gives each router its own patterns,
and a second router's POST on the same path would never be reached.
"""

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Literal

from django.conf import settings
from django.http import JsonResponse
from ninja import Field, Query, Schema
from pydantic import AfterValidator, BeforeValidator, StringConstraints

from connections import serializers, services, writes
from connections.api import UNKNOWN_TOKEN, readable_connection
from connections.api import accounting as router
from connections.ledger import OUT_OF_RANGE, within_book_dates
from rutterdash.api_errors import invalid_credentials, invalid_field

JOB_HEADER = "X-Rutter-Job-ID"
DAY_PROBLEM = "must be a real date: YYYY-MM-DD or an ISO 8601 timestamp."


def _day(value):
    if not isinstance(value, str):
        raise ValueError(DAY_PROBLEM)
    try:
        day = date.fromisoformat(value) if len(value) == 10 else None
        day = day or datetime.fromisoformat(value).date()
    except ValueError:
        raise ValueError(DAY_PROBLEM) from None
    if not within_book_dates(day):
        raise ValueError(OUT_OF_RANGE)
    return day


Money = Annotated[Decimal, Field(max_digits=15, decimal_places=2, allow_inf_nan=False)]
Quantity = Annotated[
    Decimal, Field(max_digits=18, decimal_places=4, allow_inf_nan=False)
]
Day = Annotated[date, BeforeValidator(_day)]
AccountType = Literal[tuple(writes.CATEGORIES)]



def _without_nul(value):
    # PostgreSQL text cannot hold NUL; refuse it as a field problem.
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


def _text(max_length):
    """Text that fits its column, so the database never refuses it later."""
    limit = StringConstraints(max_length=max_length)
    return Annotated[str, limit, AfterValidator(_without_nul)]


Name = _text(200)
Place = _text(100)
Memo = _text(500)
Email = _text(254)
Phone = _text(50)
Code = _text(32)
Number = _text(64)
PostalCode = _text(20)
Country = _text(2)


class WriteQuery(Schema):
    access_token: str


# Request bodies, as Rutter's Create* request schemas describe them.


class NewAccount(Schema):
    account_type: AccountType
    currency_code: str
    name: Name
    nominal_code: Code


class NewCustomer(Schema):
    customer_name: Name
    contact_name: Name | None = None
    email: Email | None = None
    phone: Phone | None = None


class Address(Schema):
    type: str = "unknown"
    address1: Name | None = None
    city: Place | None = None
    region: Place | None = None
    postal_code: PostalCode | None = None
    country: Country | None = None


class NewVendor(Schema):
    vendor_name: Name
    currency_code: str
    contact_name: Name | None = None
    email: Email | None = None
    phone: Phone | None = None
    website: Name | None = None
    addresses: list[Address] = []


class Item(Schema):
    id: str | None = None
    quantity: Quantity | None = None
    unit_amount: Money | None = None


class DocumentLine(Schema):
    account_id: str | None = None
    description: Memo | None = None
    total_amount: Money
    item: Item | None = None


class NewInvoice(Schema):
    customer_id: str
    issue_date: Day
    due_date: Day
    currency_code: str
    memo: Memo | None = None
    line_items: list[DocumentLine]


class NewBill(Schema):
    vendor_id: str
    account_id: str | None = None
    issue_date: Day
    due_date: Day | None = None
    currency_code: str
    document_number: Number | None = None
    memo: Memo | None = None
    line_items: list[DocumentLine]


class ExpenseLine(Schema):
    account_id: str
    description: Memo | None = None
    total_amount: Money


class NewExpense(Schema):
    account_id: str
    vendor_id: str | None = None
    transaction_date: Day | None = None
    currency_code: str
    expense_type: Literal["expense", "refund"]
    memo: Memo | None = None
    line_items: list[ExpenseLine]


class JournalLine(Schema):
    account_id: str
    description: Memo | None = None
    total_amount: Money


class NewJournalEntry(Schema):
    transaction_date: Day
    currency_code: str
    memo: Memo | None = None
    line_items: list[JournalLine]


class LinkedInvoice(Schema):
    id: str
    amount: Money


class NewInvoicePayment(Schema):
    account_id: str
    customer_id: str
    txn_date: Day
    currency_code: str
    total_amount: Money
    memo: Memo | None = None
    linked_invoices: list[LinkedInvoice]


class LinkedBill(Schema):
    id: str
    allocated_date: Day
    allocated_amount: Money


class NewBillPayment(Schema):
    account_id: str
    vendor_id: str
    transaction_date: Day
    currency_code: str
    memo: Memo | None = None
    linked_bills: list[LinkedBill]


class CreateAccountBody(Schema):
    account: NewAccount


class CreateCustomerBody(Schema):
    customer: NewCustomer


class CreateVendorBody(Schema):
    vendor: NewVendor


class CreateInvoiceBody(Schema):
    invoice: NewInvoice


class CreateBillBody(Schema):
    bill: NewBill


class CreateExpenseBody(Schema):
    expense: NewExpense


class CreateJournalEntryBody(Schema):
    journal_entry: NewJournalEntry


class CreateInvoicePaymentBody(Schema):
    invoice_payment: NewInvoicePayment


class CreateBillPaymentBody(Schema):
    bill_payment: NewBillPayment


# Endpoints.


@router.post("/accounts", url_name="accounting_accounts_create")
def account_create(request, query: Query[WriteQuery], body: CreateAccountBody):
    return _create(request, query, "account", body.account)


@router.post("/customers", url_name="accounting_customers_create")
def customer_create(request, query: Query[WriteQuery], body: CreateCustomerBody):
    return _create(request, query, "customer", body.customer)


@router.post("/vendors", url_name="accounting_vendors_create")
def vendor_create(request, query: Query[WriteQuery], body: CreateVendorBody):
    return _create(request, query, "vendor", body.vendor)


@router.post("/invoices", url_name="accounting_invoices_create")
def invoice_create(request, query: Query[WriteQuery], body: CreateInvoiceBody):
    return _create(request, query, "invoice", body.invoice)


@router.post("/bills", url_name="accounting_bills_create")
def bill_create(request, query: Query[WriteQuery], body: CreateBillBody):
    return _create(request, query, "bill", body.bill)


@router.post("/expenses", url_name="accounting_expenses_create")
def expense_create(request, query: Query[WriteQuery], body: CreateExpenseBody):
    return _create(request, query, "expense", body.expense)


@router.post("/journal_entries", url_name="accounting_journal_entries_create")
def journal_entry_create(
    request, query: Query[WriteQuery], body: CreateJournalEntryBody
):
    return _create(request, query, "journal_entry", body.journal_entry)


@router.post("/invoice_payments", url_name="accounting_invoice_payments_create")
def invoice_payment_create(
    request, query: Query[WriteQuery], body: CreateInvoicePaymentBody
):
    return _create(request, query, "invoice_payment", body.invoice_payment)


@router.post("/bill_payments", url_name="accounting_bill_payments_create")
def bill_payment_create(request, query: Query[WriteQuery], body: CreateBillPaymentBody):
    return _create(request, query, "bill_payment", body.bill_payment)


def _create(request, query, entity, data):
    connection = _writable_connection(request, query)
    service = getattr(writes, f"{entity}_create")
    job_id = uuid.uuid4()
    try:
        row = service(connection, data.model_dump(), job_id=job_id)
    except writes.WriteError as error:
        raise invalid_field(error.field, error.message) from None
    except services.ConnectionGone:
        # Deleted while this write waited for it: answered as its token
        # is from now on.
        raise invalid_credentials(UNKNOWN_TOKEN) from None

    body = {entity: SHAPES[entity](row), "async_response": _job(entity, job_id)}
    response = JsonResponse(body)
    response[JOB_HEADER] = str(job_id)
    return response


class _NoForceFetch:
    # Writes never go to a connection whose first sync is still running:
    # the sync replaces the books and would drop what was written.
    force_fetch = False

    def __init__(self, access_token):
        self.access_token = access_token


def _writable_connection(request, query):
    return readable_connection(request, _NoForceFetch(query.access_token))


def _job(entity, job_id):
    return {
        "id": str(job_id),
        "response_url": f"{settings.SITE_URL}/versioned/async/{job_id}",
        "status": "success",
    }


# Created records in the shapes of Rutter's responses.


def _account(row):
    # Nothing has posted to an account in the moment it is created.
    return serializers.account(row, Decimal(0))


def _customer(row):
    return {
        "id": str(row.id),
        "platform_id": row.platform_id,
        "subsidiary_id": None,
        "status": row.status.upper(),
        "contact_name": row.contact_name or None,
        "currency_code": row.currency_code or None,
        "customer_name": row.name,
        "email": row.email or None,
        "phone": row.phone or None,
        "registration_number": None,
        "tax_number": None,
        "addresses": [],
        "updated_at": serializers.iso_datetime(row.platform_updated_at),
    }


def _vendor(row):
    return {
        "id": str(row.id),
        "platform_id": row.platform_id,
        "status": row.status,
        "contact_name": row.contact_name or None,
        "currency_code": row.currency_code or None,
        "email": row.email or None,
        "phone": row.phone or None,
        "registration_number": None,
        "tax_number": None,
        "vendor_name": row.name,
        "website": row.website or None,
        "subsidiaries": [],
        "addresses": _addresses(row),
        **_timestamps(row),
    }


def _addresses(party):
    if not (party.address_line1 or party.city):
        return []
    return [
        {
            "type": "billing",
            "address1": party.address_line1 or None,
            "address2": None,
            "city": party.city or None,
            "country": party.country or None,
            "postal_code": party.postal_code or None,
            "region": party.region or None,
        }
    ]


def _bill(row):
    number = serializers.money_number
    return {
        "id": str(row.id),
        "platform_id": row.platform_id,
        "account_id": str(row.account_id),
        "subsidiary_id": None,
        "vendor_id": str(row.vendor_id),
        "due_date": serializers.iso_date(row.due_date),
        "issue_date": serializers.iso_date(row.issue_date),
        "amount_due": number(row.amount_due),
        "currency_code": row.currency_code,
        "status": row.status,
        "total_amount": number(row.total_amount),
        "document_number": row.document_number or None,
        "memo": row.memo or None,
        "sub_total": number(row.sub_total),
        "tax_amount": number(row.tax_amount),
        "total_discount": 0,
        "linked_purchase_orders": [],
        "linked_credit_memos": [],
        "linked_payments": [_bill_payment_link(p) for p in row.payments.all()],
        "line_items": [_bill_line(line) for line in row.lines.all()],
        **_timestamps(row),
    }


def _bill_payment_link(payment):
    return {
        "id": str(payment.id),
        "allocated_date": serializers.iso_date(payment.date),
        "allocated_amount": serializers.money_number(payment.total_amount),
    }


def _bill_line(line):
    amount = serializers.money_number(line.total_amount)
    return {
        **_unclassified(line),
        "description": line.description or None,
        "discount_amount": 0,
        "discount_percentage": 0,
        "sub_total": amount,
        "tax_amount": 0,
        "total_amount": amount,
        "item": None,
    }


def _unclassified(line):
    return {
        "account_id": str(line.account_id),
        "class_id": None,
        "customer_id": None,
        "department_id": None,
        "location_id": None,
        "tax_rate_id": None,
    }


def _expense(row):
    return {
        "id": str(row.id),
        "platform_id": row.platform_id,
        "account_id": str(row.account_id),
        "subsidiary_id": None,
        "vendor_id": str(row.vendor_id) if row.vendor_id else None,
        "transaction_date": serializers.iso_date(row.transaction_date),
        "currency_code": row.currency_code,
        "expense_type": row.expense_type,
        "memo": row.memo or None,
        "line_items": [_expense_line(line) for line in row.lines.all()],
        **_timestamps(row),
    }


def _expense_line(line):
    return {
        **_unclassified(line),
        "description": line.description or None,
        "total_amount": serializers.money_number(line.total_amount),
    }


def _journal_entry(row):
    return {
        "id": str(row.id),
        "platform_id": row.platform_id,
        "subsidiary_id": None,
        "transaction_date": serializers.iso_date(row.transaction_date),
        "currency_code": row.currency_code or None,
        "memo": row.memo or None,
        "line_items": [_journal_line(line) for line in row.lines.all()],
        **_timestamps(row),
    }


def _journal_line(line):
    return {
        "account_id": str(line.account_id),
        "tax_rate_id": None,
        "description": line.description or None,
        "total_amount": serializers.money_number(line.amount),
    }


def _invoice_payment(row):
    return {
        "id": str(row.id),
        "platform_id": row.platform_id,
        "account_id": str(row.account_id),
        "ar_account_id": str(row.invoice.account_id),
        "customer_id": str(row.customer_id),
        "txn_date": serializers.iso_date(row.date),
        "currency_code": row.currency_code or None,
        "memo": row.memo or None,
        "total_amount": serializers.money_string(row.total_amount),
        "linked_invoices": [
            {
                "id": str(row.invoice_id),
                "allocated_at": serializers.iso_date(row.date),
                "amount": serializers.money_string(row.total_amount),
            }
        ],
        "updated_at": serializers.iso_datetime(row.platform_updated_at),
    }


def _bill_payment(row):
    return {
        "id": str(row.id),
        "platform_id": row.platform_id,
        "account_id": str(row.account_id),
        "vendor_id": str(row.vendor_id),
        "transaction_date": serializers.iso_date(row.date),
        "currency_code": row.currency_code,
        "memo": row.memo or None,
        "total_amount": serializers.money_number(row.total_amount),
        "linked_bills": [
            {
                "id": str(row.bill_id),
                "allocated_date": serializers.iso_date(row.date),
                "allocated_amount": serializers.money_number(row.total_amount),
            }
        ],
        **_timestamps(row),
    }


def _timestamps(row):
    return {
        "created_at": serializers.iso_datetime(row.platform_created_at),
        "updated_at": serializers.iso_datetime(row.platform_updated_at),
    }


SHAPES = {
    "account": _account,
    "customer": _customer,
    "vendor": _vendor,
    "invoice": serializers.invoice,
    "bill": _bill,
    "expense": _expense,
    "journal_entry": _journal_entry,
    "invoice_payment": _invoice_payment,
    "bill_payment": _bill_payment,
}
