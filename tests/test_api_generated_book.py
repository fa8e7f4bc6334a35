"""The API over a whole generated sandbox book, validated page by page."""

from datetime import date
from decimal import Decimal

import pytest

from connections.models import Account, Invoice
from connections.sync import sync_books
from rutterdash.environments import Environment
from tests.api_support import client_for, walk_list
from tests.factories import ConnectionFactory

TOKEN = "access-sandbox-generated-1"
DEBIT_NORMAL = {"asset", "expense"}


@pytest.fixture
def connection(organisation):
    connection = ConnectionFactory(organisation=organisation, access_token=TOKEN)
    sync_books(connection, months=6, today=date(2024, 6, 15))
    return connection


@pytest.fixture
def sandbox_api(organisation):
    return client_for(organisation, Environment.SANDBOX)


def _debit_side(account):
    balance = Decimal(str(account["balance"]))
    return balance if account["category"] in DEBIT_NORMAL else -balance


def test_every_account_page_matches_and_the_ledger_balances(sandbox_api, connection):
    accounts = walk_list(sandbox_api, TOKEN, "accounts", limit=7)

    assert len(accounts) == Account.objects.filter(connection=connection).count()
    assert sum(_debit_side(account) for account in accounts) == 0


def test_every_invoice_page_matches_and_all_are_listed(sandbox_api, connection):
    invoices = walk_list(sandbox_api, TOKEN, "invoices", limit=100)

    stored = Invoice.objects.filter(connection=connection)
    assert len(invoices) == stored.count() > 0
    assert len({invoice["id"] for invoice in invoices}) == len(invoices)


def test_receivables_balance_equals_what_invoices_still_owe(sandbox_api, connection):
    accounts = walk_list(sandbox_api, TOKEN, "accounts", limit=500)
    invoices = walk_list(sandbox_api, TOKEN, "invoices", limit=500)

    [receivable] = [a for a in accounts if a["account_type"] == "accounts_receivable"]
    owed = sum(Decimal(invoice["amount_due"]) for invoice in invoices)
    assert Decimal(str(receivable["balance"])) == owed
