"""A small business's year written through the API, then read back.

The expected figures are added up here from what the test posted, not
from the database, so the statements are checked against an independent
reckoning of the same year.
"""

import io
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

import pytest
from openpyxl import load_workbook

from connections import ledger
from connections.reports import write_financial_report
from rutterdash.environments import Environment
from tests import write_support as ws
from tests.api_support import client_for
from tests.factories import ConnectionFactory
from tests.openapi import assert_matches_schema

TOKEN = "access-sandbox-round-trip"
YEAR = 2024
CAPITAL = Decimal("50000.00")
EQUIPMENT = Decimal("12000.00")
MONTHLY_DEPRECIATION = Decimal("100.00")
RENT = Decimal("800.00")


@dataclass
class Year:
    """What the test posted, summed as it went."""

    invoiced: Decimal = Decimal(0)
    received: Decimal = Decimal(0)
    billed: Decimal = Decimal(0)
    bills_paid: Decimal = Decimal(0)
    rent: Decimal = Decimal(0)
    depreciation: Decimal = Decimal(0)
    ids: dict = field(default_factory=dict)

    @property
    def bank(self):
        paid_out = EQUIPMENT + self.bills_paid + self.rent
        return CAPITAL + self.received - paid_out

    @property
    def receivable(self):
        return self.invoiced - self.received

    @property
    def equipment(self):
        return EQUIPMENT - self.depreciation

    @property
    def total_assets(self):
        return self.bank + self.receivable + self.equipment

    @property
    def net_income(self):
        return self.invoiced - self.billed - self.rent - self.depreciation


class Books:
    """Writes through the API, failing the test on any refusal."""

    def __init__(self, client):
        self.client = client

    def write(self, entity, body):
        response = ws.post_write(self.client, TOKEN, entity, body)
        assert response.status_code == 200, response.content
        return response.json()[entity]


@pytest.fixture
def connection(organisation):
    return ConnectionFactory(organisation=organisation, access_token=TOKEN)


@pytest.fixture
def books(organisation, connection):
    return Books(client_for(organisation, Environment.SANDBOX))


@pytest.fixture
def year(books):
    posted = Year()
    _open_the_books(books, posted)
    for month in range(1, 13):
        _trade(books, posted, month)
    return posted


def _open_the_books(books, year):
    for kind, code, name in ws.CHART:
        body = ws.account_body(kind, code, name)
        year.ids[code] = books.write("account", body)["id"]
    year.ids["customer"] = books.write("customer", ws.customer_body())["id"]
    year.ids["vendor"] = books.write("vendor", ws.vendor_body())["id"]

    capital = [("1000", CAPITAL), ("3000", -CAPITAL)]
    _journal(books, year, date(YEAR, 1, 1), capital)
    equipment = [("1500", EQUIPMENT), ("1000", -EQUIPMENT)]
    _journal(books, year, date(YEAR, 1, 2), equipment)


def _trade(books, year, month):
    _sell(books, year, month)
    _buy(books, year, month)
    _pay_rent(books, year, month)

    depreciation = [("6100", MONTHLY_DEPRECIATION), ("1500", -MONTHLY_DEPRECIATION)]
    _journal(books, year, date(YEAR, month, 28), depreciation)
    year.depreciation += MONTHLY_DEPRECIATION


def _sell(books, year, month):
    amount = Decimal("1500.75") + month
    issued = date(YEAR, month, 5)
    invoice = books.write("invoice", _invoice(year, amount, issued))
    year.invoiced += amount

    # Customers pay in full, except November's half and December's nothing.
    unpaid = {11: amount / 2, 12: amount}.get(month, Decimal(0))
    paid = amount - unpaid.quantize(Decimal("0.01"))
    if paid:
        received = date(YEAR, month, 25)
        books.write("invoice_payment", _receipt(year, invoice, paid, received))
        year.received += paid


def _buy(books, year, month):
    amount = Decimal("400.10") + month
    bill = books.write("bill", _bill(year, amount, date(YEAR, month, 3)))
    year.billed += amount

    if month < 12:
        paid_on = date(YEAR, month, 20)
        books.write("bill_payment", _bill_payment(year, bill, amount, paid_on))
        year.bills_paid += amount


def _pay_rent(books, year, month):
    books.write("expense", _rent(year, date(YEAR, month, 1)))
    year.rent += RENT


def _journal(books, year, day, postings):
    lines = [
        {"account_id": year.ids[code], "total_amount": float(amount)}
        for code, amount in postings
    ]
    entry = {
        "transaction_date": day.isoformat(),
        "currency_code": "USD",
        "line_items": lines,
    }
    books.write("journal_entry", {"journal_entry": entry})


def _invoice(year, amount, day):
    line = {"account_id": year.ids["4000"], "total_amount": float(amount)}
    line["item"] = {"quantity": 1, "unit_amount": float(amount)}
    invoice = {
        "customer_id": year.ids["customer"],
        "issue_date": day.isoformat(),
        "due_date": day.replace(day=28).isoformat(),
        "currency_code": "USD",
        "line_items": [line],
    }
    return {"invoice": invoice}


def _receipt(year, invoice, amount, day):
    payment = {
        "account_id": year.ids["1000"],
        "customer_id": year.ids["customer"],
        "txn_date": day.isoformat(),
        "currency_code": "USD",
        "total_amount": float(amount),
        "linked_invoices": [{"id": invoice["id"], "amount": float(amount)}],
    }
    return {"invoice_payment": payment}


def _bill(year, amount, day):
    line = {"account_id": year.ids["5000"], "total_amount": float(amount)}
    bill = {
        "vendor_id": year.ids["vendor"],
        "issue_date": day.isoformat(),
        "currency_code": "USD",
        "line_items": [line],
    }
    return {"bill": bill}


def _bill_payment(year, bill, amount, day):
    link = {
        "id": bill["id"],
        "allocated_date": day.isoformat(),
        "allocated_amount": float(amount),
    }
    payment = {
        "account_id": year.ids["1000"],
        "vendor_id": year.ids["vendor"],
        "transaction_date": day.isoformat(),
        "currency_code": "USD",
        "linked_bills": [link],
    }
    return {"bill_payment": payment}


def _rent(year, day):
    line = {"account_id": year.ids["6000"], "total_amount": float(RENT)}
    expense = {
        "account_id": year.ids["1000"],
        "transaction_date": day.isoformat(),
        "currency_code": "USD",
        "expense_type": "expense",
        "line_items": [line],
    }
    return {"expense": expense}


def test_the_years_trial_balance_ties(connection, year):
    balance = ledger.trial_balance(connection, date(YEAR, 12, 31))

    assert balance.total_debit == balance.total_credit
    assert balance.total_debit > 0


def test_balance_sheet_matches_the_years_postings(books, year):
    response = _statements(books, "balance_sheets", date(YEAR, 12, 1))

    assert_matches_schema("get", "/accounting/balance_sheets", response)
    [sheet] = response.json()["balance_sheets"]
    trees = sheet["assets"], sheet["liabilities"], sheet["equity"]
    by_code = _values_by_code(year, *trees)
    assert by_code == {
        "1000": year.bank,
        "1100": year.receivable,
        "1500": year.equipment,
        "2000": year.billed - year.bills_paid,
        "3000": CAPITAL,
    }
    equity = _values_by_name(sheet["equity"])
    assert equity["Current year earnings"] == year.net_income
    assert Decimal(sheet["total_assets"]) == year.total_assets
    liabilities = Decimal(sheet["total_liabilities"])
    assert liabilities + Decimal(sheet["total_equity"]) == year.total_assets


def test_income_statements_add_up_to_the_years_postings(books, year):
    response = _statements(books, "income_statements", date(YEAR, 1, 1))

    assert_matches_schema("get", "/accounting/income_statements", response)
    months = response.json()["income_statements"]
    assert len(months) == 12
    assert _year_total(months, "total_income") == year.invoiced
    assert _year_total(months, "total_cost_of_sales") == year.billed
    expenses = year.rent + year.depreciation
    assert _year_total(months, "total_expenses") == expenses
    assert _year_total(months, "net_income") == year.net_income


def test_each_months_income_statement_shows_that_months_sale(books, year):
    response = _statements(books, "income_statements", date(YEAR, 1, 1))

    incomes = [Decimal(m["total_income"]) for m in response.json()["income_statements"]]
    assert incomes == [Decimal("1500.75") + month for month in range(1, 13)]


def test_open_invoices_and_bills_tie_to_their_control_accounts(connection, year):
    as_of = date(YEAR, 12, 31)

    receivables = ledger.receivables_aging(connection, as_of)
    payables = ledger.payables_aging(connection, as_of)

    assert receivables.total == year.receivable
    assert receivables.difference == 0
    assert payables.total == year.billed - year.bills_paid
    assert payables.difference == 0


def test_the_dashboards_report_workbook_shows_the_written_year(connection, year):
    output = io.BytesIO()
    write_financial_report(connection, date(YEAR, 1, 1), date(YEAR, 12, 31), output)
    output.seek(0)

    sheet = load_workbook(output)["Balance Sheet"]
    rows = sheet.iter_rows(min_row=2, values_only=True)
    by_label = {row[1]: row[2] for row in rows if row[1]}
    assert Decimal(str(by_label["Total assets"])) == year.total_assets
    earnings = Decimal(str(by_label["Current year earnings"]))
    assert earnings == year.net_income


def _statements(books, kind, start):
    params = {
        "access_token": TOKEN,
        "start_date": start.isoformat(),
        "end_date": date(YEAR, 12, 31).isoformat(),
    }
    return books.client.get(f"/versioned/accounting/{kind}", params)


def _leaves(node):
    if not node["items"]:
        yield node
    for child in node["items"]:
        yield from _leaves(child)


def _values_by_code(year, *trees):
    codes = {books_id: code for code, books_id in year.ids.items()}
    return {
        codes[leaf["account_id"]]: Decimal(leaf["value"])
        for tree in trees
        for leaf in _leaves(tree)
        if leaf["account_id"]
    }


def _values_by_name(tree):
    return {leaf["name"]: Decimal(leaf["value"]) for leaf in _leaves(tree)}


def _year_total(months, key):
    return sum((Decimal(month[key]) for month in months), Decimal(0))
