"""Helpers for API tests: authenticated clients and small hand-made books."""

import base64
from datetime import UTC, date, datetime
from decimal import Decimal

from django.test import Client

from accounts.services import api_key_create
from connections.models import (
    Account,
    Customer,
    Invoice,
    InvoiceLine,
    InvoicePayment,
    JournalEntry,
    JournalLine,
)
from tests.openapi import assert_matches_schema

VERSION = "2023-03-14"


def basic_auth(client_id, secret):
    pair = f"{client_id}:{secret}".encode()
    return "Basic " + base64.b64encode(pair).decode()


def api_client(authorization=None, version=VERSION):
    headers = {}
    if authorization:
        headers["Authorization"] = authorization
    if version:
        headers["X-Rutter-Version"] = version
    return Client(headers=headers)


def client_for(organisation, environment):
    """A client authenticated with a fresh key of that organisation."""
    api_key, secret = api_key_create(organisation, environment)
    return api_client(basic_auth(api_key.client_id, secret))


def walk_list(client, token, entity, limit):
    """Every row of a list endpoint, each page checked against the schema."""
    rows, cursor = [], None
    while True:
        params = {"access_token": token, "limit": limit}
        if cursor:
            params["cursor"] = cursor
        response = client.get(f"/versioned/accounting/{entity}", params)
        assert_matches_schema("get", f"/accounting/{entity}", response)
        rows += response.json()[entity]
        cursor = response.json()["next_cursor"]
        if cursor is None:
            return rows


def add_account(connection, number, account_type, category, name=None):
    return Account.objects.create(
        connection=connection,
        platform_id=f"acc-{number}",
        nominal_code=str(number),
        name=name or account_type.replace("_", " ").title(),
        account_type=account_type,
        category=category,
        platform_created_at=datetime(2024, 1, 1, tzinfo=UTC),
        platform_updated_at=datetime(2024, 1, 1, tzinfo=UTC),
    )


def add_chart(connection):
    """Bank, receivables, capital and sales accounts, keyed by type."""
    accounts = [
        add_account(connection, 1000, "bank", "asset"),
        add_account(connection, 1100, "accounts_receivable", "asset"),
        add_account(connection, 3000, "equity", "equity", "Owner Capital"),
        add_account(connection, 4000, "income", "income", "Sales"),
    ]
    return {account.account_type: account for account in accounts}


def post(connection, day, postings, source_type="manual", source_id=None):
    """A balanced journal entry from (account, signed amount) pairs."""
    entry = JournalEntry.objects.create(
        connection=connection,
        platform_id=f"je-{JournalEntry.objects.count() + 1}",
        transaction_date=day,
        source_type=source_type,
        source_id=source_id,
    )
    JournalLine.objects.bulk_create(
        JournalLine(
            entry=entry,
            connection=connection,
            transaction_date=day,
            account=account,
            amount=Decimal(amount),
        )
        for account, amount in postings
    )
    return entry


def add_invoice(connection, chart, number, total, paid="0"):
    """An invoice of one line, posted, with one payment if ``paid``."""
    customer = _customer(connection)
    issued = date(2024, 3, 1)
    total, paid = Decimal(total), Decimal(paid)
    invoice = Invoice.objects.create(
        connection=connection,
        platform_id=f"inv-{number}",
        document_number=f"INV-{number}",
        issue_date=issued,
        due_date=date(2024, 3, 31),
        status=_status(total, paid),
        sub_total=total,
        total_amount=total,
        amount_due=total - paid,
        customer=customer,
        account=chart["accounts_receivable"],
        platform_updated_at=datetime(2024, 3, number % 28 + 1, tzinfo=UTC),
    )
    InvoiceLine.objects.create(
        invoice=invoice,
        account=chart["income"],
        description="Consulting",
        unit_amount=total,
        total_amount=total,
    )
    post(
        connection,
        issued,
        [(chart["accounts_receivable"], total), (chart["income"], -total)],
        "invoice",
        invoice.id,
    )
    if paid:
        _pay(connection, chart, invoice, paid)
    return invoice


def _pay(connection, chart, invoice, amount):
    paid_on = date(2024, 3, 20)
    payment = InvoicePayment.objects.create(
        connection=connection,
        platform_id=f"pay-{invoice.platform_id}",
        account=chart["bank"],
        date=paid_on,
        total_amount=amount,
        customer=invoice.customer,
        invoice=invoice,
    )
    post(
        connection,
        paid_on,
        [(chart["bank"], amount), (chart["accounts_receivable"], -amount)],
        "invoice_payment",
        payment.id,
    )


def _customer(connection):
    customer, _ = Customer.objects.get_or_create(
        connection=connection,
        platform_id="cust-1",
        defaults={"name": "Acme Widgets"},
    )
    return customer


def _status(total, paid):
    if not paid:
        return "open"
    return "paid" if paid == total else "partially_paid"
