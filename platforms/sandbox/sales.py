"""Invoices to customers and the payments that settle them, mostly late."""

from datetime import timedelta
from decimal import Decimal

from connections.models import (
    Invoice,
    InvoiceLine,
    InvoicePayment,
    JournalSource,
)
from platforms.sandbox import names
from platforms.sandbox.ledger import ZERO, money, settlement

INVOICES_PER_MONTH = 62
NEVER_PAYS = 0.02
PARTIAL = 0.1
REMAINDER_NEVER_PAID = 0.25


def invoice_month(books, days):
    for day in days:
        write_invoice(books, day, books.pick(books.customers))


def write_invoice(books, day, buyer):
    number = books.next_number("invoice", 1001)
    platform_id = f"inv-{number}"
    invoice_id = books.ledger.object_id(Invoice, platform_id)
    lines = _lines(books, invoice_id)
    due = day + timedelta(days=buyer.terms)

    sub_total = sum(line.total_amount for line in lines)
    tax = money(sub_total * books.locale.tax_rate) if buyer.taxable else ZERO
    total = sub_total + tax
    plan = _payment_plan(books, buyer, day, due, total)

    invoice = books.ledger.new(
        Invoice,
        platform_id,
        day,
        document_number=f"INV-{number}",
        issue_date=day,
        due_date=due,
        currency_code=books.locale.currency,
        sub_total=sub_total,
        tax_amount=tax,
        total_amount=total,
        memo=f"Thank you for your business, {buyer.row.name}.",
        customer_id=buyer.row.id,
        account_id=books.account("receivable").id,
        **settlement(total, plan),
    )
    books.ledger.touch(invoice, plan)
    books.ledger.add(day, invoice, *lines)
    books.track_tax(day, tax)
    _post_invoice(books, invoice, lines)
    for sequence, (date, amount) in enumerate(plan, start=1):
        _payment(books, invoice, date, amount, sequence)


def _lines(books, invoice_id):
    rng = books.rng
    count = rng.choice((1, 1, 1, 2, 2, 3))
    items = rng.sample(names.ITEMS, count)
    return [_line(books, invoice_id, item) for item in items]


def _line(books, invoice_id, item):
    rng = books.rng
    quantity = Decimal(rng.randint(1, 6))
    unit = books.price(item.low, item.high)
    return InvoiceLine(
        invoice_id=invoice_id,
        account_id=books.account(item.account).id,
        description=item.name,
        quantity=quantity,
        unit_amount=unit,
        total_amount=money(quantity * unit),
    )


def _payment_plan(books, buyer, issue, due, total):
    """When and how much the customer pays, as (date, amount), up to today."""
    rng = books.rng
    if rng.random() < NEVER_PAYS:
        return []

    late_by = round(rng.gauss(buyer.lateness, 6))
    first = max(issue, due + timedelta(days=late_by))
    plan = [(first, total)]
    if rng.random() < PARTIAL:
        part = money(total * Decimal(rng.uniform(0.3, 0.7)))
        rest = (first + timedelta(days=rng.randint(14, 45)), total - part)
        plan = [(first, part)]
        if rng.random() >= REMAINDER_NEVER_PAID:
            plan.append(rest)
    return [(date, amount) for date, amount in plan if date <= books.today]


def _post_invoice(books, invoice, lines):
    postings = [(books.account("receivable"), invoice.total_amount, "Invoice")]
    for line in lines:
        account = books.account_by_id[line.account_id]
        postings.append((account, -line.total_amount, line.description))
    if invoice.tax_amount:
        tax = books.account("sales_tax")
        postings.append((tax, -invoice.tax_amount, "Sales tax"))

    books.ledger.post(
        invoice.issue_date,
        JournalSource.INVOICE,
        invoice.id,
        f"je-{invoice.platform_id}",
        f"Invoice {invoice.document_number}",
        postings,
    )


def _payment(books, invoice, date, amount, sequence):
    platform_id = f"ipmt-{invoice.platform_id}-{sequence}"
    bank = books.account("checking")
    payment = books.ledger.new(
        InvoicePayment,
        platform_id,
        date,
        account_id=bank.id,
        date=date,
        currency_code=books.locale.currency,
        total_amount=amount,
        memo=f"Payment for {invoice.document_number}",
        customer_id=invoice.customer_id,
        invoice_id=invoice.id,
    )
    books.ledger.add(date, payment)
    receivable = books.account("receivable")
    books.ledger.post(
        date,
        JournalSource.INVOICE_PAYMENT,
        payment.id,
        f"je-{platform_id}",
        payment.memo,
        [(bank, amount, "Deposit"), (receivable, -amount, invoice.document_number)],
    )

