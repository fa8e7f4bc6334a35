import threading
import uuid
from datetime import date
from decimal import Decimal

import pytest
from django.db import connection as db
from django.db import connections

from connections import ledger, writes
from connections.models import (
    Invoice,
    InvoiceLine,
    InvoicePayment,
    JournalEntry,
    JournalLine,
)
from tests import write_support as ws
from tests.factories import ConnectionFactory


@pytest.fixture
def connection(db):
    return ConnectionFactory()


@pytest.fixture
def chart(connection):
    return ws.add_chart(connection)


@pytest.fixture
def parties(connection):
    return ws.add_parties(connection)


def _invoice(chart, customer, *totals):
    body = ws.invoice_body(chart, customer, Decimal(0))["invoice"]
    line = body["line_items"][0]
    body["line_items"] = [
        {**line, "total_amount": Decimal(total), "item": None} for total in totals
    ]
    body["issue_date"] = body["due_date"] = date(2024, 3, 1)
    return body


def test_a_refused_line_leaves_no_document_or_entry_behind(connection, chart, parties):
    invoice = _invoice(chart, parties[0], "10.00", "5.00")
    invoice["line_items"][1]["account_id"] = str(uuid.uuid4())

    with pytest.raises(writes.WriteError) as refused:
        writes.invoice_create(connection, invoice)

    assert refused.value.field == "invoice.line_items.1.account_id"
    assert not Invoice.objects.exists()
    assert not InvoiceLine.objects.exists()
    assert not JournalEntry.objects.exists()


def test_the_job_id_becomes_the_records_platform_id(connection, chart, parties):
    job = uuid.uuid4()

    invoice = writes.invoice_create(
        connection, _invoice(chart, parties[0], "10.00"), job_id=job
    )

    assert invoice.platform_id == f"job_{job}"
    entry = JournalEntry.objects.get(source_id=invoice.id)
    assert entry.platform_id == f"job_{job}_posting"


def test_an_invoice_of_several_lines_credits_each_and_debits_the_total(
    connection, chart, parties
):
    invoice = writes.invoice_create(
        connection, _invoice(chart, parties[0], "10.00", "2.55")
    )

    lines = JournalLine.objects.filter(entry__source_id=invoice.id)
    amounts = sorted(line.amount for line in lines)
    assert amounts == [Decimal("-10.00"), Decimal("-2.55"), Decimal("12.55")]
    assert invoice.total_amount == Decimal("12.55")


def test_quantity_times_unit_amount_must_make_the_line_total(
    connection, chart, parties
):
    invoice = _invoice(chart, parties[0], "10.00")
    invoice["line_items"][0]["item"] = {
        "quantity": Decimal("3"),
        "unit_amount": Decimal("3.33"),
    }

    with pytest.raises(writes.WriteError) as refused:
        writes.invoice_create(connection, invoice)

    assert refused.value.field == "invoice.line_items.0.total_amount"


def test_an_invoice_needs_a_receivable_account(connection, parties):
    sales = writes.account_create(
        connection, ws.account_body("income", "4000", "Sales")["account"]
    )
    invoice = _invoice({"4000": sales}, parties[0], "10.00")

    with pytest.raises(writes.WriteError) as refused:
        writes.invoice_create(connection, invoice)

    assert refused.value.field == "invoice"
    assert "accounts_receivable" in refused.value.message


def test_a_bill_posts_only_to_the_payable_account(connection, chart, parties):
    bill = ws.bill_body(chart, parties[1], Decimal("20.00"))["bill"]
    bill["issue_date"] = bill["due_date"] = date(2024, 3, 1)
    bill["account_id"] = str(chart["1000"].id)

    with pytest.raises(writes.WriteError) as refused:
        writes.bill_create(connection, bill)

    assert refused.value.field == "bill.account_id"


def test_a_nominal_code_is_used_once_per_connection(connection, chart):
    again = ws.account_body("bank", "1000", "Second checking")["account"]

    with pytest.raises(writes.WriteError) as refused:
        writes.account_create(connection, again)

    assert refused.value.field == "account.nominal_code"


def test_written_documents_keep_the_aging_tied_to_the_ledger(
    connection, chart, parties
):
    customer, vendor = parties
    invoice = ws.add_invoice(connection, chart, customer, Decimal("300.00"))
    ws.add_bill(connection, chart, vendor, Decimal("120.00"))
    writes.invoice_payment_create(connection, _payment(chart, invoice, 100))

    as_of = date(2024, 3, 31)
    receivables = ledger.receivables_aging(connection, as_of)
    payables = ledger.payables_aging(connection, as_of)

    assert receivables.total == Decimal("200.00")
    assert receivables.difference == 0
    assert payables.total == Decimal("120.00")
    assert payables.difference == 0


def _payment(chart, invoice, amount):
    payment = ws.invoice_payment_body(chart, invoice, 0)["invoice_payment"]
    payment["txn_date"] = date(2024, 3, 10)
    payment["total_amount"] = Decimal(amount)
    payment["linked_invoices"][0]["amount"] = Decimal(amount)
    return payment


@pytest.mark.skipif(
    db.vendor == "sqlite", reason="SQLite cannot hold two writers at once"
)
@pytest.mark.django_db(transaction=True)
def test_two_payments_racing_for_one_invoice_cannot_overpay_it():
    connection = ConnectionFactory()
    chart = ws.add_chart(connection)
    customer, _ = ws.add_parties(connection)
    invoice = ws.add_invoice(connection, chart, customer, Decimal("500.00"))
    start = threading.Barrier(2)
    refusals = []

    def pay():
        start.wait()
        try:
            writes.invoice_payment_create(connection, _payment(chart, invoice, 300))
        except writes.WriteError as error:
            refusals.append(error.field)
        finally:
            connections.close_all()

    payers = [threading.Thread(target=pay) for _ in range(2)]
    for payer in payers:
        payer.start()
    for payer in payers:
        payer.join()

    invoice.refresh_from_db()
    assert refusals == ["invoice_payment.total_amount"]
    assert invoice.amount_due == Decimal("200.00")
    assert InvoicePayment.objects.filter(invoice=invoice).count() == 1
