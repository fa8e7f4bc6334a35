import json
from decimal import Decimal

import pytest
from django.db.models import Sum

from connections.models import (
    Account,
    Customer,
    Invoice,
    JournalEntry,
    JournalLine,
)
from rutterdash.environments import Environment
from tests import write_support as ws
from tests.api_support import client_for
from tests.factories import ConnectionFactory, OrganisationFactory
from tests.openapi import assert_matches_schema

TOKEN = "access-sandbox-writes-1"
CUSTOMER_NOT_FOUND = "invoice.customer_id: not found in this connection."


@pytest.fixture
def sandbox_api(organisation):
    return client_for(organisation, Environment.SANDBOX)


@pytest.fixture
def connection(organisation):
    return ConnectionFactory(organisation=organisation, access_token=TOKEN)


@pytest.fixture
def chart(connection):
    return ws.add_chart(connection)


@pytest.fixture
def parties(connection):
    return ws.add_parties(connection)


@pytest.fixture
def invoice(connection, chart, parties):
    return ws.add_invoice(connection, chart, parties[0], Decimal("500.00"))


@pytest.fixture
def bill(connection, chart, parties):
    return ws.add_bill(connection, chart, parties[1], Decimal("200.00"))


@pytest.fixture
def bodies(chart, parties, invoice, bill):
    customer, vendor = parties
    return {
        "account": ws.account_body(),
        "customer": ws.customer_body(),
        "vendor": ws.vendor_body(),
        "invoice": ws.invoice_body(chart, customer, 120.5),
        "bill": ws.bill_body(chart, vendor, 80.25),
        "expense": ws.expense_body(chart, 45.1),
        "journal_entry": ws.journal_body(chart, [("1000", 1000), ("3000", -1000)]),
        "invoice_payment": ws.invoice_payment_body(chart, invoice, 300),
        "bill_payment": ws.bill_payment_body(chart, bill, 200),
    }


def _write(client, entity, body):
    return ws.post_write(client, TOKEN, entity, body)


def _refusal(response):
    assert response.status_code == 400, response.content
    return response.json()


@pytest.mark.parametrize("entity", list(ws.PATHS))
def test_each_write_answers_rutters_create_response(sandbox_api, bodies, entity):
    response = _write(sandbox_api, entity, bodies[entity])

    assert_matches_schema("post", ws.PATHS[entity], response)
    body = response.json()
    ws.assert_resource_matches_schema(entity, body)
    job = ws.job_id(response)
    assert body["async_response"]["id"] == str(job)
    assert body["async_response"]["status"] == "success"
    assert body[entity]["platform_id"] == f"job_{job}"


@pytest.mark.parametrize("entity", list(ws.PATHS))
def test_each_write_leaves_every_journal_entry_balanced(
    sandbox_api, connection, bodies, entity
):
    entries_before = JournalEntry.objects.count()

    response = _write(sandbox_api, entity, bodies[entity])

    assert response.status_code == 200
    posts = entity not in ("account", "customer", "vendor")
    assert JournalEntry.objects.count() == entries_before + posts
    sums = JournalLine.objects.values("entry").annotate(total=Sum("amount"))
    assert {row["total"] for row in sums} == {Decimal("0.00")}


def test_invoice_posts_receivable_against_its_income_lines(
    sandbox_api, connection, chart, bodies
):
    response = _write(sandbox_api, "invoice", bodies["invoice"])

    invoice = Invoice.objects.get(pk=response.json()["invoice"]["id"])
    entry = JournalEntry.objects.get(source_type="invoice", source_id=invoice.id)
    postings = {line.account.nominal_code: line.amount for line in entry.lines.all()}
    assert postings == {"1100": Decimal("120.50"), "4000": Decimal("-120.50")}
    assert entry.transaction_date.isoformat() == "2024-03-01"
    assert invoice.amount_due == Decimal("120.50")


def test_invoice_payment_reduces_amount_due_and_posts_to_bank(
    sandbox_api, invoice, bodies
):
    response = _write(sandbox_api, "invoice_payment", bodies["invoice_payment"])

    invoice.refresh_from_db()
    assert invoice.amount_due == Decimal("200.00")
    assert invoice.status == "partially_paid"
    payment_id = response.json()["invoice_payment"]["id"]
    entry = JournalEntry.objects.get(source_id=payment_id)
    postings = {line.account.nominal_code: line.amount for line in entry.lines.all()}
    assert postings == {"1000": Decimal("300.00"), "1100": Decimal("-300.00")}


def test_bill_payment_of_the_whole_amount_marks_the_bill_paid(
    sandbox_api, bill, bodies
):
    _write(sandbox_api, "bill_payment", bodies["bill_payment"])

    bill.refresh_from_db()
    assert bill.amount_due == 0
    assert bill.status == "paid"


def test_a_refund_posts_the_expense_the_other_way_round(sandbox_api, chart):
    body = ws.expense_body(chart, 30, expense_type="refund")

    response = _write(sandbox_api, "expense", body)

    entry = JournalEntry.objects.get(source_id=response.json()["expense"]["id"])
    postings = {line.account.nominal_code: line.amount for line in entry.lines.all()}
    assert postings == {"1000": Decimal("30.00"), "6000": Decimal("-30.00")}


def test_account_written_through_the_api_is_listed_with_its_category(
    sandbox_api, connection
):
    _write(sandbox_api, "account", ws.account_body("credit_card", "2100", "Visa"))

    listed = sandbox_api.get("/versioned/accounting/accounts", {"access_token": TOKEN})
    names = {row["name"]: row["category"] for row in listed.json()["accounts"]}
    assert names == {"Visa": "liability"}


@pytest.mark.parametrize("raw", ["NaN", "Infinity", "-Infinity", "1e400", "0.001"])
def test_amounts_that_are_not_finite_cents_are_refused(sandbox_api, chart, raw):
    body = json.dumps(ws.journal_body(chart, [("1000", 7), ("3000", -7)]))
    raw_body = body.replace('"total_amount": 7', f'"total_amount": {raw}')

    refusal = _refusal(ws.post_raw(sandbox_api, TOKEN, "journal_entry", raw_body))

    field = "journal_entry.line_items.0.total_amount"
    assert refusal["error_message"].startswith(field)
    assert refusal["error_code"] == "INVALID_FIELD"
    assert not JournalEntry.objects.exists()


def test_journal_entry_that_does_not_balance_is_refused(sandbox_api, chart):
    body = ws.journal_body(chart, [("1000", 100), ("3000", -99.99)])

    refusal = _refusal(_write(sandbox_api, "journal_entry", body))

    assert refusal["error_message"].startswith("journal_entry.line_items:")
    assert "0.01" in refusal["error_message"]
    assert not JournalEntry.objects.exists()


def test_journal_entry_may_not_post_to_the_receivable_control_account(
    sandbox_api, chart
):
    body = ws.journal_body(chart, [("1100", 10), ("3000", -10)])

    refusal = _refusal(_write(sandbox_api, "journal_entry", body))

    field = "journal_entry.line_items.0.account_id"
    assert refusal["error_message"].startswith(field)
    assert not JournalEntry.objects.exists()


@pytest.mark.parametrize("bad_date", ["2024-02-30", "2024-13-01", "yesterday", ""])
def test_dates_that_are_not_real_are_refused(sandbox_api, chart, parties, bad_date):
    body = ws.invoice_body(chart, parties[0], 10)
    body["invoice"]["issue_date"] = bad_date

    refusal = _refusal(_write(sandbox_api, "invoice", body))

    assert refusal["error_message"].startswith("invoice.issue_date")
    assert not Invoice.objects.exists()


def test_an_iso_timestamp_is_read_as_its_date(sandbox_api, chart, parties):
    body = ws.invoice_body(chart, parties[0], 10)
    body["invoice"]["issue_date"] = "2024-03-02T10:00:00.000Z"

    response = _write(sandbox_api, "invoice", body)

    assert response.json()["invoice"]["issue_date"] == "2024-03-02T00:00:00.000Z"


def test_due_date_before_issue_date_is_refused(sandbox_api, chart, parties):
    body = ws.invoice_body(chart, parties[0], 10, day="2024-03-10")
    body["invoice"]["due_date"] = "2024-03-09"

    refusal = _refusal(_write(sandbox_api, "invoice", body))

    assert refusal["error_message"].startswith("invoice.due_date")


def test_unknown_customer_is_not_found(sandbox_api, chart, parties):
    body = ws.invoice_body(chart, parties[0], 10)
    body["invoice"]["customer_id"] = "not-a-uuid"

    refusal = _refusal(_write(sandbox_api, "invoice", body))

    assert (
        refusal["error_message"] == "invoice.customer_id: not found in this connection."
    )


def test_customer_of_another_connection_is_not_found(sandbox_api, organisation, chart):
    other = ConnectionFactory(organisation=organisation)
    foreign_customer, _ = ws.add_parties(other)
    body = ws.invoice_body(chart, foreign_customer, 10)

    refusal = _refusal(_write(sandbox_api, "invoice", body))

    assert (
        refusal["error_message"] == "invoice.customer_id: not found in this connection."
    )
    assert not Invoice.objects.filter(customer=foreign_customer).exists()


def test_account_of_another_organisation_is_not_found(sandbox_api, chart):
    stranger = ConnectionFactory(organisation=OrganisationFactory())
    foreign_chart = ws.add_chart(stranger)
    body = ws.journal_body(chart, [("1000", 5), ("3000", -5)])
    line = body["journal_entry"]["line_items"][1]
    line["account_id"] = str(foreign_chart["3000"].id)

    refusal = _refusal(_write(sandbox_api, "journal_entry", body))

    field = "journal_entry.line_items.1.account_id"
    assert refusal["error_message"] == f"{field}: not found in this connection."


def test_unknown_vendor_on_a_bill_is_not_found(sandbox_api, chart, parties):
    body = ws.bill_body(chart, parties[1], 10)
    body["bill"]["vendor_id"] = str(parties[0].id)

    refusal = _refusal(_write(sandbox_api, "bill", body))

    assert refusal["error_message"].startswith("bill.vendor_id: not found")


def test_payment_of_more_than_the_amount_due_is_refused(sandbox_api, chart, invoice):
    body = ws.invoice_payment_body(chart, invoice, 500.01)

    refusal = _refusal(_write(sandbox_api, "invoice_payment", body))

    assert refusal["error_message"].startswith("invoice_payment.total_amount")
    invoice.refresh_from_db()
    assert invoice.amount_due == Decimal("500.00")


def test_second_payment_may_not_exceed_what_the_first_left_due(
    sandbox_api, chart, bill
):
    _write(sandbox_api, "bill_payment", ws.bill_payment_body(chart, bill, 150))

    second = ws.bill_payment_body(chart, bill, 50.01)
    refusal = _refusal(_write(sandbox_api, "bill_payment", second))

    field = "bill_payment.linked_bills.0.allocated_amount"
    assert refusal["error_message"].startswith(field)
    assert "50.00" in refusal["error_message"]


def test_payment_dated_before_its_invoice_is_refused(sandbox_api, chart, invoice):
    body = ws.invoice_payment_body(chart, invoice, 10, day="2024-02-29")

    refusal = _refusal(_write(sandbox_api, "invoice_payment", body))

    assert refusal["error_message"].startswith("invoice_payment.txn_date")


def test_expense_paid_from_an_income_account_is_refused(sandbox_api, chart):
    body = ws.expense_body(chart, 10)
    body["expense"]["account_id"] = str(chart["4000"].id)

    refusal = _refusal(_write(sandbox_api, "expense", body))

    assert refusal["error_message"].startswith("expense.account_id")


def test_currency_other_than_the_books_is_refused(sandbox_api, chart, parties):
    body = ws.invoice_body(chart, parties[0], 10)
    body["invoice"]["currency_code"] = "EUR"

    refusal = _refusal(_write(sandbox_api, "invoice", body))

    assert refusal["error_message"].startswith("invoice.currency_code")


def test_a_second_receivable_account_is_refused(sandbox_api, chart):
    body = ws.account_body("accounts_receivable", "1101", "More AR")

    refusal = _refusal(_write(sandbox_api, "account", body))

    assert refusal["error_message"].startswith("account.account_type")
    assert Account.objects.filter(account_type="accounts_receivable").count() == 1


def test_missing_required_field_is_named(sandbox_api, connection):
    body = ws.customer_body()
    del body["customer"]["customer_name"]

    refusal = _refusal(_write(sandbox_api, "customer", body))

    assert refusal["error_code"] == "MISSING_REQUIRED_FIELD"
    assert refusal["error_message"].startswith("customer.customer_name")
    assert not Customer.objects.filter(connection=connection).exists()


def test_writes_wait_for_the_first_sync(sandbox_api, connection):
    connection.is_ready = False
    connection.save()

    response = _write(sandbox_api, "customer", ws.customer_body())

    assert response.status_code == 409
    assert response.json()["error_code"] == "PRODUCT_NOT_READY"
    assert not Customer.objects.exists()


def test_a_token_of_another_organisation_cannot_write(connection):
    stranger = client_for(OrganisationFactory(), Environment.SANDBOX)

    response = _write(stranger, "customer", ws.customer_body())

    assert response.status_code == 401
    assert not Customer.objects.exists()


def test_a_repeated_idempotency_key_writes_the_invoice_once(sandbox_api, bodies):
    body = json.dumps(bodies["invoice"])
    path = f"/versioned{ws.PATHS['invoice']}?access_token={TOKEN}"

    first, second = (
        sandbox_api.post(
            path,
            data=body,
            content_type="application/json",
            headers={"Idempotency-Key": "invoice-march"},
        )
        for _ in range(2)
    )

    assert second.status_code == 200
    assert second.json() == first.json()
    assert ws.job_id(second) == ws.job_id(first)
    created = first.json()["invoice"]["id"]
    assert JournalEntry.objects.filter(source_id=created).count() == 1
    assert Invoice.objects.filter(customer__name="Acme").count() == 2


@pytest.mark.parametrize(
    "name, problem",
    [("x" * 201, "200"), ("Acme\x00Corp", "NUL")],
)
def test_text_that_cannot_be_stored_is_a_field_error(
    sandbox_api, connection, name, problem
):
    body = ws.customer_body()
    body["customer"]["customer_name"] = name

    refusal = _refusal(_write(sandbox_api, "customer", body))

    assert refusal["error_message"].startswith("customer.customer_name")
    assert problem in refusal["error_message"]
    assert not Customer.objects.filter(connection=connection).exists()


@pytest.mark.parametrize("day", ["0001-01-01", "9999-12-31"])
def test_dates_outside_plausible_books_are_refused(sandbox_api, chart, parties, day):
    customer, _vendor = parties
    body = ws.invoice_body(chart, customer, "10.00", day=day, due=day)

    refusal = _refusal(_write(sandbox_api, "invoice", body))

    assert refusal["error_message"].startswith("invoice.issue_date")
    assert "between 1900-01-01 and 2099-12-31" in refusal["error_message"]
    assert not Invoice.objects.exists()
