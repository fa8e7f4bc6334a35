"""Accounting writes: check a record as a ledger would, then save it and
post the journal entry it implies, all in one transaction.

Services take the request's object as plain data whose amounts are
already Decimals of at most two places and whose dates are dates (the API
schema sees to that). They raise WriteError naming the offending field by
its path in the request body, e.g. ``invoice.line_items.0.account_id``.
"""

import uuid
from decimal import Decimal
from functools import wraps

from django.db import transaction
from django.utils import timezone

from connections.models import (
    Account,
    AccountCategory,
    Bill,
    BillLine,
    BillPayment,
    CompanyInfo,
    Customer,
    DocumentStatus,
    Expense,
    ExpenseLine,
    Invoice,
    InvoiceLine,
    InvoicePayment,
    JournalEntry,
    JournalLine,
    JournalSource,
    Vendor,
)
from connections.services import WRITTEN_PLATFORM_ID_PREFIX, lock_books
from webhooks import book_events

ZERO = Decimal("0")
CENT = Decimal("0.01")
RECEIVABLE = "accounts_receivable"
PAYABLE = "accounts_payable"
CONTROL_TYPES = {RECEIVABLE, PAYABLE}
DEFAULT_CURRENCY = "USD"
NOT_FOUND = "not found in this connection."

C = AccountCategory
CATEGORIES = {
    "accounts_receivable": C.ASSET,
    "bank": C.ASSET,
    "fixed_asset": C.ASSET,
    "other_asset": C.ASSET,
    "other_current_asset": C.ASSET,
    "accounts_payable": C.LIABILITY,
    "liability": C.LIABILITY,
    "credit_card": C.LIABILITY,
    "other_current_liability": C.LIABILITY,
    "long_term_liability": C.LIABILITY,
    "equity": C.EQUITY,
    "income": C.INCOME,
    "other_income": C.INCOME,
    "expense": C.EXPENSE,
    "other_expense": C.EXPENSE,
    "cost_of_goods_sold": C.EXPENSE,
    "non_posting": C.NONPOSTING,
    "unknown": C.UNKNOWN,
}
POSTING_CATEGORIES = {C.ASSET, C.LIABILITY, C.EQUITY, C.INCOME, C.EXPENSE}
MONEY_CATEGORIES = {C.ASSET, C.LIABILITY}


class WriteError(Exception):
    """A write the ledger refuses, and the request field to blame."""

    def __init__(self, field, message):
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def job_platform_id(job_id):
    """The platform id of a record written by job ``job_id``."""
    return f"{WRITTEN_PLATFORM_ID_PREFIX}{job_id}"


def _write(service):
    """Run a service in one transaction, one write per connection at a time.

    The connection's row lock (services.lock_books), taken before anything
    else, keeps amounts due and the single receivable and payable accounts
    right when two writes for one connection race, and keeps a delete from
    running beside a write. A write that finds the connection deleted
    while it waited raises services.ConnectionGone and writes nothing.
    """

    @wraps(service)
    def write(connection, data, job_id=None):
        platform_id = job_platform_id(job_id or uuid.uuid4())
        with transaction.atomic():
            lock_books(connection)
            row = service(connection, data, platform_id)
            book_events.written(connection, row)
            return row

    return write


# Accounts, customers and vendors.


@_write
def account_create(connection, account, platform_id):
    _check_currency(connection, "account.currency_code", account)
    account_type = account["account_type"]
    if account_type in CONTROL_TYPES:
        _refuse_second_control_account(connection, account_type)
    code = _text(account, "nominal_code", "account")
    _refuse_duplicate_code(connection, code)

    return Account.objects.create(
        connection=connection,
        platform_id=platform_id,
        name=_text(account, "name", "account"),
        nominal_code=code,
        account_type=account_type,
        category=CATEGORIES[account_type],
        currency_code=account["currency_code"],
        **_created_now(),
    )


def _refuse_second_control_account(connection, account_type):
    if Account.objects.filter(connection=connection, account_type=account_type):
        raise WriteError(
            "account.account_type",
            f"this connection already has its {account_type} account.",
        )


def _refuse_duplicate_code(connection, code):
    if Account.objects.filter(connection=connection, nominal_code=code):
        raise WriteError("account.nominal_code", f"{code!r} is already used.")


@_write
def customer_create(connection, customer, platform_id):
    return Customer.objects.create(
        connection=connection,
        platform_id=platform_id,
        name=_text(customer, "customer_name", "customer"),
        contact_name=customer.get("contact_name") or "",
        email=customer.get("email") or "",
        phone=customer.get("phone") or "",
        currency_code=connection_currency(connection),
        **_created_now(),
    )


@_write
def vendor_create(connection, vendor, platform_id):
    _check_currency(connection, "vendor.currency_code", vendor)
    address = (vendor.get("addresses") or [{}])[0]

    return Vendor.objects.create(
        connection=connection,
        platform_id=platform_id,
        name=_text(vendor, "vendor_name", "vendor"),
        contact_name=vendor.get("contact_name") or "",
        email=vendor.get("email") or "",
        phone=vendor.get("phone") or "",
        website=vendor.get("website") or "",
        currency_code=vendor["currency_code"],
        address_line1=address.get("address1") or "",
        city=address.get("city") or "",
        region=address.get("region") or "",
        postal_code=address.get("postal_code") or "",
        country=(address.get("country") or "")[:2],
        **_created_now(),
    )


# Invoices and bills.


@_write
def invoice_create(connection, invoice, platform_id):
    _check_currency(connection, "invoice.currency_code", invoice)
    customer = _find(connection, Customer, "invoice.customer_id", invoice)
    issued = invoice["issue_date"]
    _check_due_date("invoice", issued, invoice.get("due_date"))
    lines = _document_lines(connection, "invoice", invoice["line_items"])
    receivable = _control_account(connection, RECEIVABLE, "invoice")

    total = _document_total(lines, "invoice")
    row = Invoice.objects.create(
        connection=connection,
        platform_id=platform_id,
        customer=customer,
        account=receivable,
        memo=invoice.get("memo") or "",
        **_document_fields(invoice, total),
    )
    InvoiceLine.objects.bulk_create(InvoiceLine(invoice=row, **x) for x in lines)

    credits = [(line["account"], -line["total_amount"]) for line in lines]
    _post(row, JournalSource.INVOICE, issued, [(receivable, total), *credits])
    return row


@_write
def bill_create(connection, bill, platform_id):
    _check_currency(connection, "bill.currency_code", bill)
    vendor = _find(connection, Vendor, "bill.vendor_id", bill)
    issued = bill["issue_date"]
    _check_due_date("bill", issued, bill.get("due_date"))
    lines = _document_lines(connection, "bill", bill["line_items"])
    payable = _payable_account(connection, bill)

    total = _document_total(lines, "bill")
    row = Bill.objects.create(
        connection=connection,
        platform_id=platform_id,
        vendor=vendor,
        account=payable,
        document_number=bill.get("document_number") or "",
        memo=bill.get("memo") or "",
        **_document_fields(bill, total),
    )
    BillLine.objects.bulk_create(BillLine(bill=row, **x) for x in lines)

    debits = [(line["account"], line["total_amount"]) for line in lines]
    _post(row, JournalSource.BILL, issued, [*debits, (payable, -total)])
    return row


def _check_due_date(entity, issued, due):
    if due is not None and due < issued:
        raise WriteError(f"{entity}.due_date", "is before the issue date.")


def _payable_account(connection, bill):
    if not bill.get("account_id"):
        return _control_account(connection, PAYABLE, "bill")

    account = _find(connection, Account, "bill.account_id", bill)
    if account.account_type != PAYABLE:
        raise WriteError("bill.account_id", "must be the accounts_payable account.")
    return account


def _document_lines(connection, entity, items):
    if not items:
        raise WriteError(f"{entity}.line_items", "needs at least one line.")
    return [
        _document_line(connection, f"{entity}.line_items.{number}", item)
        for number, item in enumerate(items)
    ]


def _document_line(connection, field, item):
    account = _line_account(connection, field, item)
    amount = item["total_amount"]
    if amount < 0:
        raise WriteError(f"{field}.total_amount", "must not be negative.")

    quantity, unit_amount = _quantity_and_price(field, item, amount)
    return {
        "account": account,
        "description": item.get("description") or "",
        "quantity": quantity,
        "unit_amount": unit_amount,
        "total_amount": amount,
    }


def _quantity_and_price(field, item, amount):
    details = item.get("item") or {}
    quantity = details.get("quantity")
    unit_amount = details.get("unit_amount")
    if quantity is None or unit_amount is None:
        return Decimal(1), amount

    if (quantity * unit_amount).quantize(CENT) != amount:
        raise WriteError(
            f"{field}.total_amount", "must equal item.quantity × item.unit_amount."
        )
    return quantity, unit_amount


def _document_total(lines, entity):
    total = sum((line["total_amount"] for line in lines), ZERO)
    if total <= 0:
        raise WriteError(f"{entity}.line_items", "must add up to more than 0.")
    return total


def _document_fields(document, total):
    return {
        "issue_date": document["issue_date"],
        "due_date": document.get("due_date"),
        "currency_code": document["currency_code"],
        "status": DocumentStatus.OPEN,
        "sub_total": total,
        "total_amount": total,
        "amount_due": total,
        **_created_now(),
    }


# Expenses and journal entries.


@_write
def expense_create(connection, expense, platform_id):
    _check_currency(connection, "expense.currency_code", expense)
    paid_from = _money_account(connection, "expense.account_id", expense)
    vendor = None
    if expense.get("vendor_id"):
        vendor = _find(connection, Vendor, "expense.vendor_id", expense)
    day = expense.get("transaction_date") or timezone.localdate()
    lines = _expense_lines(connection, expense["line_items"])

    total = sum((line["total_amount"] for line in lines), ZERO)
    row = Expense.objects.create(
        connection=connection,
        platform_id=platform_id,
        account=paid_from,
        vendor=vendor,
        transaction_date=day,
        currency_code=expense["currency_code"],
        expense_type=expense["expense_type"],
        total_amount=total,
        memo=expense.get("memo") or "",
        **_created_now(),
    )
    ExpenseLine.objects.bulk_create(ExpenseLine(expense=row, **x) for x in lines)

    _post(row, JournalSource.EXPENSE, day, _expense_postings(row, lines))
    return row


def _expense_lines(connection, items):
    if not items:
        raise WriteError("expense.line_items", "needs at least one line.")
    return [
        _expense_line(connection, f"expense.line_items.{number}", item)
        for number, item in enumerate(items)
    ]


def _expense_line(connection, field, item):
    account = _line_account(connection, field, item)
    if item["total_amount"] <= 0:
        raise WriteError(f"{field}.total_amount", "must be greater than 0.")
    return {
        "account": account,
        "description": item.get("description") or "",
        "total_amount": item["total_amount"],
    }


def _expense_postings(expense, lines):
    # A refund gives the money back: the same accounts, the other way round.
    sign = -1 if expense.expense_type == "refund" else 1
    debits = [(line["account"], sign * line["total_amount"]) for line in lines]
    return [*debits, (expense.account, -sign * expense.total_amount)]


@_write
def journal_entry_create(connection, entry, platform_id):
    _check_currency(connection, "journal_entry.currency_code", entry)
    postings = _journal_postings(connection, entry["line_items"])

    row = JournalEntry.objects.create(
        connection=connection,
        platform_id=platform_id,
        transaction_date=entry["transaction_date"],
        currency_code=entry["currency_code"],
        memo=entry.get("memo") or "",
        source_type=JournalSource.MANUAL,
        **_created_now(),
    )
    _add_lines(row, postings)
    return row


def _journal_postings(connection, items):
    if len(items) < 2:
        raise WriteError("journal_entry.line_items", "needs at least two lines.")

    postings = []
    for number, item in enumerate(items):
        field = f"journal_entry.line_items.{number}"
        account = _line_account(connection, field, item)
        if not item["total_amount"]:
            raise WriteError(f"{field}.total_amount", "must not be 0.")
        postings.append((account, item["total_amount"], item.get("description")))

    _check_balanced(postings)
    return postings


def _check_balanced(postings):
    total = sum((posting[1] for posting in postings), ZERO)
    if total:
        raise WriteError(
            "journal_entry.line_items",
            f"debits and credits must balance; the lines sum to {total}.",
        )


# Payments.


@_write
def invoice_payment_create(connection, payment, platform_id):
    field = "invoice_payment"
    _check_currency(connection, f"{field}.currency_code", payment)
    bank = _money_account(connection, f"{field}.account_id", payment)
    customer = _find(connection, Customer, f"{field}.customer_id", payment)
    link = _single_link(payment, "linked_invoices", "invoice_payment")
    invoice = _find(connection, Invoice, f"{field}.linked_invoices.0.id", link)
    if invoice.customer_id != customer.id:
        raise WriteError(f"{field}.customer_id", "is not the invoice's customer.")

    amount = payment["total_amount"]
    if link["amount"] != amount:
        raise WriteError(
            f"{field}.linked_invoices.0.amount", "must equal total_amount."
        )
    _check_settles(invoice, amount, f"{field}.total_amount")
    _check_not_before(invoice, payment["txn_date"], f"{field}.txn_date")

    row = InvoicePayment.objects.create(
        connection=connection,
        platform_id=platform_id,
        account=bank,
        customer=customer,
        invoice=invoice,
        date=payment["txn_date"],
        currency_code=payment["currency_code"],
        total_amount=amount,
        memo=payment.get("memo") or "",
        **_created_now(),
    )
    _settle(invoice, amount)
    postings = [(bank, amount), (invoice.account, -amount)]
    _post(row, JournalSource.INVOICE_PAYMENT, row.date, postings)
    return row


@_write
def bill_payment_create(connection, payment, platform_id):
    field = "bill_payment"
    _check_currency(connection, f"{field}.currency_code", payment)
    bank = _money_account(connection, f"{field}.account_id", payment)
    vendor = _find(connection, Vendor, f"{field}.vendor_id", payment)
    link = _single_link(payment, "linked_bills", "bill_payment")
    bill = _find(connection, Bill, f"{field}.linked_bills.0.id", link)
    if bill.vendor_id != vendor.id:
        raise WriteError(f"{field}.vendor_id", "is not the bill's vendor.")

    amount = link["allocated_amount"]
    _check_settles(bill, amount, f"{field}.linked_bills.0.allocated_amount")
    day = payment["transaction_date"]
    _check_not_before(bill, day, f"{field}.transaction_date")

    row = BillPayment.objects.create(
        connection=connection,
        platform_id=platform_id,
        account=bank,
        vendor=vendor,
        bill=bill,
        date=day,
        currency_code=payment["currency_code"],
        total_amount=amount,
        memo=payment.get("memo") or "",
        **_created_now(),
    )
    _settle(bill, amount)
    postings = [(bill.account, amount), (bank, -amount)]
    _post(row, JournalSource.BILL_PAYMENT, day, postings)
    return row


def _single_link(payment, key, entity):
    links = payment[key]
    if len(links) != 1:
        raise WriteError(f"{entity}.{key}", "must link exactly one document.")
    return links[0]


def _check_settles(document, amount, field):
    if amount <= 0:
        raise WriteError(field, "must be greater than 0.")
    if amount > document.amount_due:
        raise WriteError(field, f"is more than the {document.amount_due} due.")


def _check_not_before(document, day, field):
    if day < document.issue_date:
        raise WriteError(field, f"is before the issue date {document.issue_date}.")


def _settle(document, amount):
    document.amount_due -= amount
    paid = document.amount_due == 0
    document.status = DocumentStatus.PAID if paid else DocumentStatus.PARTIALLY_PAID
    document.platform_updated_at = timezone.now()
    document.save(update_fields=["amount_due", "status", "platform_updated_at"])
    book_events.written(document.connection, document, "UPDATED")


# Lookups and checks shared by the services.


def connection_currency(connection):
    company = CompanyInfo.objects.filter(connection=connection).first()
    return company.currency_code if company else DEFAULT_CURRENCY


def _check_currency(connection, field, data):
    expected = connection_currency(connection)
    if data["currency_code"] != expected:
        raise WriteError(field, f"must be {expected}, the connection's currency.")


def _text(data, key, entity):
    value = (data.get(key) or "").strip()
    if not value:
        raise WriteError(f"{entity}.{key}", "must not be blank.")
    return value


def _find(connection, model, field, data):
    """The row the field's id names in this connection, or a WriteError.

    An id of another connection fails exactly like one that never existed.
    """
    key = field.rsplit(".", 1)[-1]
    row = None
    primary_key = _uuid(data.get(key))
    if primary_key is not None:
        rows = model.objects.filter(connection=connection, pk=primary_key)
        row = rows.first()
    if row is None:
        raise WriteError(field, NOT_FOUND)
    return row


def _uuid(value):
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


def _line_account(connection, field, item):
    """A line's account: one that posts, and not a control account."""
    account_field = f"{field}.account_id"
    if not item.get("account_id"):
        raise WriteError(account_field, "is required: every line posts to one.")
    account = _posting_account(connection, account_field, item)
    if account.account_type in CONTROL_TYPES:
        raise WriteError(
            account_field,
            f"is the {account.account_type} account, which only invoices, "
            "bills and their payments post to.",
        )
    return account


def _money_account(connection, field, data):
    account = _posting_account(connection, field, data)
    ok = account.category in MONEY_CATEGORIES
    if not ok or account.account_type in CONTROL_TYPES:
        raise WriteError(field, "must be a bank, card or other money account.")
    return account


def _posting_account(connection, field, data):
    account = _find(connection, Account, field, data)
    if account.category not in POSTING_CATEGORIES:
        raise WriteError(field, "is not an account that can be posted to.")
    return account


def _control_account(connection, account_type, field):
    accounts = Account.objects.filter(connection=connection)
    account = accounts.filter(account_type=account_type).first()
    if account is None:
        raise WriteError(
            field, f"this connection has no {account_type} account; create one."
        )
    return account


def _created_now():
    now = timezone.now()
    return {"platform_created_at": now, "platform_updated_at": now}


# Posting.


def _post(source, source_type, day, postings):
    """Post the journal entry a document implies, dated on the document."""
    entry = JournalEntry.objects.create(
        connection=source.connection,
        platform_id=f"{source.platform_id}_posting",
        transaction_date=day,
        currency_code=source.currency_code,
        source_type=source_type,
        source_id=source.id,
        **_created_now(),
    )
    _add_lines(entry, [(account, amount, None) for account, amount in postings])
    return entry


def _add_lines(entry, postings):
    if sum((posting[1] for posting in postings), ZERO):
        raise ValueError(f"Journal entry {entry.platform_id} does not balance.")

    JournalLine.objects.bulk_create(
        JournalLine(
            entry=entry,
            connection=entry.connection,
            transaction_date=entry.transaction_date,
            account=account,
            description=description or "",
            amount=amount,
        )
        for account, amount, description in postings
    )
