"""The account list reads a page of accounts and their balances in one statement."""

import json

import pytest
from django.db import connection as db
from django.test.utils import CaptureQueriesContext

from accounts.services import api_key_create
from rutterdash.environments import Environment
from tests.api_support import add_account, add_chart, api_client, basic_auth, post
from tests.factories import ConnectionFactory

ACCOUNTS = "/versioned/accounting/accounts"


@pytest.fixture
def api(organisation):
    api_key, secret = api_key_create(organisation, Environment.SANDBOX)
    return api_client(basic_auth(api_key.client_id, secret))


@pytest.fixture
def books(organisation):
    connection = ConnectionFactory(organisation=organisation, access_token="tok-1")
    chart = add_chart(connection)
    post(
        connection,
        "2024-03-01",
        [(chart["bank"], "250.10"), (chart["equity"], "-250.10")],
    )
    post(
        connection,
        "2024-03-02",
        [(chart["bank"], "99.90"), (chart["income"], "-99.90")],
    )
    return connection, chart


def _balances(response):
    return {row["name"]: row["balance"] for row in response.json()["accounts"]}


def test_balances_are_on_each_accounts_normal_side(api, books):
    response = api.get(ACCOUNTS, {"access_token": "tok-1"})

    assert response.status_code == 200
    assert _balances(response) == {
        "Bank": 350.0,
        "Accounts Receivable": 0.0,
        "Owner Capital": 250.1,
        "Sales": 99.9,
    }


def test_a_credit_account_without_lines_reads_zero_not_minus_zero(api, books):
    connection, _ = books
    add_account(connection, 2000, "accounts_payable", "liability", "Payables")

    response = api.get(ACCOUNTS, {"access_token": "tok-1"})

    payables = [
        a for a in json.loads(response.content)["accounts"] if a["name"] == "Payables"
    ]
    assert b'"balance": -0.0' not in response.content
    assert payables[0]["balance"] == 0.0


def test_one_account_reads_its_balance(api, books):
    _, chart = books

    response = api.get(f"{ACCOUNTS}/{chart['income'].pk}", {"access_token": "tok-1"})

    assert response.status_code == 200
    assert response.json()["account"]["balance"] == 99.9


def test_the_page_and_its_balances_are_one_statement(api, books):
    with CaptureQueriesContext(db) as queries:
        response = api.get(ACCOUNTS, {"access_token": "tok-1", "limit": 2})

    reads = [q["sql"] for q in queries.captured_queries if "journalline" in q["sql"]]
    assert response.status_code == 200
    assert len(response.json()["accounts"]) == 2
    assert response.json()["next_cursor"]
    assert len(reads) == 1
    assert '"connections_account"' in reads[0]
