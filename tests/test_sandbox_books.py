"""The sandbox platform's generated books: deterministic, plausible, balanced."""

import random
import uuid
from collections import Counter, defaultdict
from decimal import Decimal

import pytest
from django.utils import timezone

from connections.models import (
    Account,
    Bill,
    BillLine,
    BillPayment,
    CompanyInfo,
    Connection,
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
from platforms.sandbox.generator import book_months, generate_books

CONNECTION_ID = uuid.UUID("0b7c2f4e-5d1a-4c3b-9e8f-1a2b3c4d5e6f")


def sandbox_connection(connection_id=CONNECTION_ID, platform="QUICKBOOKS"):
    return Connection(
        id=connection_id, platform=platform, store_name="Juniper Coffee Roasters"
    )


def collect(connection, **options):
    rows = defaultdict(list)
    for batch in generate_books(connection, **options):
        rows[batch.model].extend(batch.rows)
    return rows


def snapshot(rows):
    return {
        model.__name__: [
            {k: v for k, v in row.__dict__.items() if k != "_state"} for row in items
        ]
        for model, items in rows.items()
    }


@pytest.fixture(scope="module")
def books():
    """Two years at scale 1, the books a new sandbox connection gets."""
    return collect(sandbox_connection(), months=24, scale=1.0)


@pytest.fixture(scope="module")
def entries(books):
    lines = defaultdict(list)
    for line in books[JournalLine]:
        lines[line.entry_id].append(line)
    return {entry.source_id: lines[entry.id] for entry in books[JournalEntry]}


def test_the_same_connection_always_gets_identical_books():
    first = collect(sandbox_connection(), months=6)
    second = collect(sandbox_connection(), months=6)

    assert snapshot(first) == snapshot(second)
    assert len(first[JournalLine]) > 500


def test_different_connections_get_different_books():
    other = sandbox_connection(uuid.UUID("11111111-2222-3333-4444-555555555555"))

    first = collect(sandbox_connection(), months=3)
    second = collect(other, months=3)

    assert snapshot(first) != snapshot(second)
    assert {i.id for i in first[Invoice]}.isdisjoint({i.id for i in second[Invoice]})


def test_generation_leaves_the_global_random_generator_alone():
    random.seed(7)
    before = random.getstate()

    collect(sandbox_connection(), months=2)

    assert random.getstate() == before


def test_every_row_has_its_own_id(books):
    ids = [row.id for rows in books.values() for row in rows if row.id]

    assert len(ids) == len(set(ids))
    assert all(row.id is None for row in books[JournalLine])


def test_the_chart_has_one_receivable_one_payable_and_what_a_business_needs(books):
    types = Counter(account.account_type for account in books[Account])
    codes = [account.nominal_code for account in books[Account]]

    assert 25 <= len(books[Account]) <= 35
    assert types["accounts_receivable"] == 1
    assert types["accounts_payable"] == 1
    assert types["fixed_asset"] == 2
    for needed in ("bank", "credit_card", "other_current_liability", "equity"):
        assert types[needed] >= 1
    assert types["income"] >= 2 and types["cost_of_goods_sold"] >= 1
    assert types["expense"] >= 5
    assert len(set(codes)) == len(codes)
    names = {account.name for account in books[Account]}
    assert {"Sales Tax Payable", "Owner's Capital", "Retained Earnings"} <= names
    assert "Accumulated Depreciation" in names


def test_account_categories_match_their_types(books):
    category_of = {
        "bank": "asset",
        "accounts_receivable": "asset",
        "fixed_asset": "asset",
        "accounts_payable": "liability",
        "credit_card": "liability",
        "equity": "equity",
        "income": "income",
        "cost_of_goods_sold": "expense",
        "expense": "expense",
    }
    for account in books[Account]:
        expected = category_of.get(account.account_type, account.category)
        assert account.category == expected, account.name


def test_a_business_at_scale_one_has_plausible_volumes(books):
    invoices_per_month = len(books[Invoice]) / 24

    assert len(books[CompanyInfo]) == 1
    assert 35 <= len(books[Customer]) <= 45
    assert 20 <= len(books[Vendor]) <= 30
    assert 30 <= invoices_per_month <= 100
    assert 200 <= len(books[Bill]) <= 600
    assert len(books[Expense]) >= 24 * 20
    assert 10_000 <= len(books[JournalLine]) <= 15_000


def test_invoices_grow_towards_the_end_of_the_year_and_over_time(books):
    months = book_months(24, timezone.localdate())
    per_month = Counter(i.issue_date.replace(day=1) for i in books[Invoice])
    first_year = {month.month: per_month[month] for month in months[:12]}
    # Only whole months compare: the current one has only just begun.
    earlier = sum(per_month[month] for month in months[:11])
    later = sum(per_month[month] for month in months[12:23])

    assert first_year[11] + first_year[12] > first_year[5] + first_year[6]
    assert later > earlier


def test_every_journal_entry_balances(books):
    totals = defaultdict(Decimal)
    for line in books[JournalLine]:
        totals[line.entry_id] += line.amount

    assert len(totals) == len(books[JournalEntry])
    assert set(totals.values()) == {Decimal(0)}


def test_every_document_posts_one_journal_entry(books):
    sources = Counter(
        (entry.source_type, entry.source_id) for entry in books[JournalEntry]
    )
    documents = {
        JournalSource.INVOICE: Invoice,
        JournalSource.BILL: Bill,
        JournalSource.INVOICE_PAYMENT: InvoicePayment,
        JournalSource.BILL_PAYMENT: BillPayment,
        JournalSource.EXPENSE: Expense,
    }

    for source_type, model in documents.items():
        for document in books[model]:
            assert sources[source_type, document.id] == 1
    manual = [e for e in books[JournalEntry] if e.source_type == JournalSource.MANUAL]
    memos = {entry.memo.split(" for ")[0] for entry in manual}
    assert {"Payroll", "Depreciation"} <= memos
    assert "Opening balances: owner's capital" in memos


def test_journal_entries_are_dated_on_their_document(books):
    dates = {entry.source_id: entry.transaction_date for entry in books[JournalEntry]}

    assert all(dates[i.id] == i.issue_date for i in books[Invoice])
    assert all(dates[b.id] == b.issue_date for b in books[Bill])
    assert all(dates[p.id] == p.date for p in books[InvoicePayment])
    assert all(dates[e.id] == e.transaction_date for e in books[Expense])


def test_invoices_debit_receivable_and_credit_income_and_tax(books, entries):
    accounts = {account.id: account for account in books[Account]}

    for invoice in books[Invoice]:
        lines = entries[invoice.id]
        debit = [line for line in lines if line.amount > 0]
        assert [accounts[line.account_id].account_type for line in debit] == [
            "accounts_receivable"
        ]
        assert debit[0].account_id == invoice.account_id
        assert debit[0].amount == invoice.total_amount
        tax = sum(
            -line.amount
            for line in lines
            if accounts[line.account_id].name == "Sales Tax Payable"
        )
        assert tax == invoice.tax_amount


def test_payments_and_expenses_post_to_their_accounts(books, entries):
    for payment in books[InvoicePayment]:
        bank = [line for line in entries[payment.id] if line.amount > 0]
        assert [(b.account_id, b.amount) for b in bank] == [
            (payment.account_id, payment.total_amount)
        ]
    for payment in books[BillPayment]:
        credit = [line for line in entries[payment.id] if line.amount < 0]
        assert [(c.account_id, -c.amount) for c in credit] == [
            (payment.account_id, payment.total_amount)
        ]
    for expense in books[Expense]:
        credit = [line for line in entries[expense.id] if line.amount < 0]
        assert [(c.account_id, -c.amount) for c in credit] == [
            (expense.account_id, expense.total_amount)
        ]


def test_document_totals_equal_their_lines(books):
    invoice_lines = defaultdict(list)
    for line in books[InvoiceLine]:
        invoice_lines[line.invoice_id].append(line)
        assert line.total_amount == line.quantity * line.unit_amount
    bill_totals = defaultdict(Decimal)
    for line in books[BillLine]:
        bill_totals[line.bill_id] += line.total_amount
    expense_totals = defaultdict(Decimal)
    for line in books[ExpenseLine]:
        expense_totals[line.expense_id] += line.total_amount

    for invoice in books[Invoice]:
        lines = invoice_lines[invoice.id]
        assert invoice.sub_total == sum(line.total_amount for line in lines)
        assert invoice.total_amount == invoice.sub_total + invoice.tax_amount
    assert all(bill.total_amount == bill_totals[bill.id] for bill in books[Bill])
    assert all(e.total_amount == expense_totals[e.id] for e in books[Expense])


def test_amount_due_is_the_total_less_payments_and_sets_the_status(books):
    paid = defaultdict(Decimal)
    for payment in books[InvoicePayment]:
        paid[payment.invoice_id] += payment.total_amount
    statuses = Counter()

    for invoice in books[Invoice]:
        assert invoice.amount_due == invoice.total_amount - paid[invoice.id]
        statuses[invoice.status] += 1
        if invoice.amount_due == 0:
            assert invoice.status == DocumentStatus.PAID
        elif paid[invoice.id]:
            assert invoice.status == DocumentStatus.PARTIALLY_PAID
        else:
            assert invoice.status == DocumentStatus.OPEN
    assert statuses[DocumentStatus.PARTIALLY_PAID] >= 10
    assert statuses[DocumentStatus.PAID] > len(books[Invoice]) * 0.8


def test_some_invoices_are_open_and_overdue_today(books):
    today = timezone.localdate()
    overdue = [
        invoice
        for invoice in books[Invoice]
        if invoice.amount_due > 0 and invoice.due_date < today
    ]
    long_overdue = [i for i in overdue if (today - i.due_date).days > 90]

    assert len(overdue) >= 20
    assert long_overdue


def test_payments_never_precede_their_invoice_and_most_come_late(books):
    invoices = {invoice.id: invoice for invoice in books[Invoice]}
    late = 0

    for payment in books[InvoicePayment]:
        invoice = invoices[payment.invoice_id]
        assert payment.date >= invoice.issue_date
        assert payment.customer_id == invoice.customer_id
        late += payment.date > invoice.due_date
    assert late > len(books[InvoicePayment]) / 2
    assert late < len(books[InvoicePayment])


def test_receivable_and_payable_balances_equal_the_open_documents(books):
    by_type = {account.account_type: account.id for account in books[Account]}
    balances = defaultdict(Decimal)
    for line in books[JournalLine]:
        balances[line.account_id] += line.amount

    receivable = balances[by_type["accounts_receivable"]]
    payable = -balances[by_type["accounts_payable"]]
    assert receivable == sum(invoice.amount_due for invoice in books[Invoice])
    assert payable == sum(bill.amount_due for bill in books[Bill])
    assert receivable > 0 and payable > 0


def test_no_date_lies_in_the_future(books):
    today = timezone.localdate()
    now = timezone.now()

    for rows in books.values():
        for row in rows:
            for name in ("issue_date", "date", "transaction_date"):
                value = getattr(row, name, None)
                assert value is None or value <= today
            for name in ("platform_created_at", "platform_updated_at"):
                value = getattr(row, name, None)
                assert value is None or value <= now


def test_money_has_two_decimal_places(books):
    fields = (
        "total_amount",
        "sub_total",
        "tax_amount",
        "amount_due",
        "amount",
        "unit_amount",
    )
    models = (Invoice, InvoiceLine, Bill, BillLine, InvoicePayment, BillPayment)
    for model in (*models, Expense, ExpenseLine, JournalLine):
        for row in books[model]:
            for name in fields:
                value = getattr(row, name, None)
                if value is not None:
                    assert value.as_tuple().exponent == -2, (model, name, value)


def test_books_cover_the_months_asked_for_ending_this_month(books, settings):
    settings.SANDBOX_MONTHS = 5
    short = collect(sandbox_connection())
    dates = [entry.transaction_date for entry in short[JournalEntry]]
    first_month = book_months(5, timezone.localdate())[0]

    assert min(dates) == first_month
    assert max(dates).replace(day=1) == timezone.localdate().replace(day=1)
    long_dates = [entry.transaction_date for entry in books[JournalEntry]]
    assert min(long_dates) == book_months(24, timezone.localdate())[0]


def test_volume_grows_roughly_linearly_with_scale():
    small = collect(sandbox_connection(), months=4, scale=1)
    large = collect(sandbox_connection(), months=4, scale=3)

    lines = len(large[JournalLine]) / len(small[JournalLine])
    invoices = len(large[Invoice]) / len(small[Invoice])
    assert 2.4 <= lines <= 3.6
    assert 2.4 <= invoices <= 3.6
    assert len(large[Customer]) == 3 * len(small[Customer])


def test_books_stream_out_month_by_month():
    batches = list(generate_books(sandbox_connection(), months=6))
    line_batches = [b for b in batches if b.model is JournalLine]
    total_lines = sum(len(b.rows) for b in line_batches)
    progress = [b.progress for b in batches]

    assert len(line_batches) == 6
    assert max(len(b.rows) for b in line_batches) < total_lines / 3
    assert progress == sorted(progress)
    assert progress[-1] == 1.0


def test_store_name_and_currency_come_from_the_connection():
    connection = sandbox_connection(platform="FREEAGENT")
    connection.store_name = "Harbour Lane Bikes"

    rows = collect(connection, months=2)

    company = rows[CompanyInfo][0]
    assert company.name == "Harbour Lane Bikes"
    assert company.currency_code == "GBP"
    assert {invoice.currency_code for invoice in rows[Invoice]} == {"GBP"}
    assert {account.currency_code for account in rows[Account]} == {"GBP"}
    assert {customer.country for customer in rows[Customer]} == {"GB"}
