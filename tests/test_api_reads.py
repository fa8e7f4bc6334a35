"""Accounting reads, list and by id, over a small hand-made book."""

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from django.db import connection as connection_handler
from django.test.utils import CaptureQueriesContext

from connections.models import (
    Bill,
    BillLine,
    BillPayment,
    CompanyInfo,
    Customer,
    Expense,
    ExpenseLine,
    Vendor,
)
from rutterdash.environments import Environment
from tests.api_support import add_account, add_chart, add_invoice, client_for, post
from tests.factories import ConnectionFactory, OrganisationFactory
from tests.openapi import assert_matches_schema

TOKEN = "access-sandbox-reads-1"
MARCH = datetime(2024, 3, 5, tzinfo=UTC)
JUNE = datetime(2024, 6, 5, tzinfo=UTC)

# Entity path -> the key of one object in a fetch-by-id response.
SINGULAR = {
    "accounts": "account",
    "customers": "customer",
    "vendors": "vendor",
    "invoices": "invoice",
    "bills": "bill",
    "invoice_payments": "invoice_payment",
    "bill_payments": "bill_payment",
    "expenses": "expense",
    "journal_entries": "journal_entry",
}
UNKNOWN_ID = "0b6f7a52-3c39-4d2e-9d8b-4d1f5e0a9c11"


@pytest.fixture
def sandbox_api(organisation):
    return client_for(organisation, Environment.SANDBOX)


@pytest.fixture
def connection(organisation):
    return ConnectionFactory(organisation=organisation, access_token=TOKEN)


@pytest.fixture
def books(connection):
    """A chart, one part-paid invoice, one part-paid bill, one expense."""
    chart = add_chart(connection)
    chart["accounts_payable"] = add_account(
        connection, 2000, "accounts_payable", "liability"
    )
    chart["expense"] = add_account(connection, 6000, "expense", "expense", "Rent")
    add_invoice(connection, chart, 1, "1200.00", paid="200.00")
    bill = add_bill(connection, chart, 1, "450.00")
    pay_bill(connection, chart, bill, "150.00")
    add_expense(connection, chart, 1, "80.25")
    return chart


def vendor_of(connection):
    vendor, _ = Vendor.objects.get_or_create(
        connection=connection,
        platform_id="vend-1",
        defaults={"name": "Paper Supplies Co", "city": "Leeds", "country": "GB"},
    )
    return vendor


def add_bill(connection, chart, number, total, updated=MARCH):
    total = Decimal(total)
    bill = Bill.objects.create(
        connection=connection,
        platform_id=f"bill-{number}",
        document_number=f"B-{number}",
        issue_date=date(2024, 3, 2),
        due_date=date(2024, 4, 1),
        status="open",
        sub_total=total,
        total_amount=total,
        amount_due=total,
        vendor=vendor_of(connection),
        account=chart["accounts_payable"],
        platform_updated_at=updated,
    )
    BillLine.objects.create(
        bill=bill,
        account=chart["expense"],
        description="Paper",
        quantity=Decimal("3"),
        unit_amount=total / 3,
        total_amount=total,
    )
    post(
        connection,
        bill.issue_date,
        [(chart["expense"], total), (chart["accounts_payable"], -total)],
        "bill",
        bill.id,
    )
    return bill


def pay_bill(connection, chart, bill, amount):
    amount = Decimal(amount)
    payment = BillPayment.objects.create(
        connection=connection,
        platform_id=f"bpay-{bill.platform_id}",
        account=chart["bank"],
        date=date(2024, 3, 10),
        total_amount=amount,
        vendor=bill.vendor,
        bill=bill,
        platform_updated_at=MARCH,
    )
    Bill.objects.filter(pk=bill.pk).update(
        amount_due=bill.total_amount - amount, status="partially_paid"
    )
    post(
        connection,
        payment.date,
        [(chart["accounts_payable"], amount), (chart["bank"], -amount)],
        "bill_payment",
        payment.id,
    )
    return payment


def add_expense(connection, chart, number, total, expense_type="expense"):
    total = Decimal(total)
    expense = Expense.objects.create(
        connection=connection,
        platform_id=f"exp-{number}",
        account=chart["bank"],
        vendor=vendor_of(connection),
        transaction_date=date(2024, 3, 12),
        expense_type=expense_type,
        total_amount=total,
        platform_updated_at=MARCH,
    )
    ExpenseLine.objects.create(
        expense=expense, account=chart["expense"], total_amount=total
    )
    post(
        connection,
        expense.transaction_date,
        [(chart["expense"], total), (chart["bank"], -total)],
        "expense",
        expense.id,
    )
    return expense


def _get(client, path, **params):
    return client.get(f"/versioned{path}", {"access_token": TOKEN, **params})


def _list(client, entity, **params):
    response = _get(client, f"/accounting/{entity}", **params)
    assert_matches_schema("get", f"/accounting/{entity}", response)
    return response.json()


def _fetch(client, entity, object_id, **params):
    return _get(client, f"/accounting/{entity}/{object_id}", **params)


@pytest.mark.parametrize("entity", SINGULAR)
def test_each_list_matches_rutters_schema_and_names_the_connection(
    sandbox_api, connection, books, entity
):
    body = _list(sandbox_api, entity)

    assert body["connection"]["id"] == str(connection.id)
    assert body[entity]
    assert body["next_cursor"] is None


@pytest.mark.parametrize("entity", SINGULAR)
def test_each_object_fetched_by_id_matches_rutters_schema(sandbox_api, books, entity):
    listed = _list(sandbox_api, entity)[entity][0]

    response = _fetch(sandbox_api, entity, listed["id"])

    assert_matches_schema("get", f"/accounting/{entity}/{{id}}", response)
    assert response.json()[SINGULAR[entity]] == listed


@pytest.mark.parametrize("entity", SINGULAR)
def test_an_unknown_id_answers_the_not_found_error(sandbox_api, books, entity):
    response = _fetch(sandbox_api, entity, UNKNOWN_ID)

    assert response.status_code == 404
    assert response.json()["error_type"] == "INVALID_REQUEST"
    assert response.json()["error_code"] == "NOT_FOUND"


@pytest.mark.parametrize("object_id", ["42", "not-a-uuid", "%20"])
def test_an_id_that_is_not_a_uuid_is_simply_not_found(sandbox_api, books, object_id):
    response = _fetch(sandbox_api, "invoices", object_id)

    assert response.status_code == 404
    assert response.json()["error_code"] == "NOT_FOUND"


def _their_bill(organisation=None, environment=Environment.SANDBOX):
    theirs = ConnectionFactory(
        organisation=organisation or OrganisationFactory(),
        environment=environment,
    )
    chart = add_chart(theirs)
    chart["accounts_payable"] = add_account(
        theirs, 2000, "accounts_payable", "liability"
    )
    chart["expense"] = add_account(theirs, 6000, "expense", "expense")
    return add_bill(theirs, chart, 9, "99.00")


def test_another_organisations_object_looks_missing(sandbox_api, books):
    theirs = _their_bill()

    foreign = _fetch(sandbox_api, "bills", theirs.id)
    missing = _fetch(sandbox_api, "bills", UNKNOWN_ID)

    assert foreign.status_code == missing.status_code == 404
    assert foreign.json() == missing.json()


def test_another_environments_object_looks_missing(sandbox_api, organisation, books):
    theirs = _their_bill(organisation, Environment.PRODUCTION)

    foreign = _fetch(sandbox_api, "bills", theirs.id)

    assert foreign.status_code == 404
    assert foreign.json() == _fetch(sandbox_api, "bills", UNKNOWN_ID).json()


def test_another_connection_of_the_same_organisation_keeps_its_objects(
    sandbox_api, organisation, books
):
    theirs = _their_bill(organisation)

    response = _fetch(sandbox_api, "bills", theirs.id)

    assert response.status_code == 404


@pytest.mark.parametrize("entity", [*SINGULAR, "company_info"])
def test_lists_wait_for_the_initial_sync(sandbox_api, connection, books, entity):
    connection.is_ready = False
    connection.save()

    response = _get(sandbox_api, f"/accounting/{entity}")

    assert response.status_code == 409
    assert response.json()["error_code"] == "PRODUCT_NOT_READY"


def test_fetch_by_id_waits_for_the_initial_sync(sandbox_api, connection, books):
    bill = Bill.objects.get()
    connection.is_ready = False
    connection.save()

    waiting = _fetch(sandbox_api, "bills", bill.id)
    forced = _fetch(sandbox_api, "bills", bill.id, force_fetch="true")

    assert waiting.status_code == 409
    assert waiting.json()["error_code"] == "PRODUCT_NOT_READY"
    assert_matches_schema("get", "/accounting/bills/{id}", forced)


def test_company_info_matches_rutters_schema(sandbox_api, connection):
    CompanyInfo.objects.create(
        connection=connection,
        platform_id="company",
        name="Bluebell Bakery",
        legal_name="Bluebell Bakery Ltd",
        currency_code="GBP",
        address="1 High Street, Leeds",
    )

    response = _get(sandbox_api, "/accounting/company_info")

    assert_matches_schema("get", "/accounting/company_info", response)
    company = response.json()["company_info"]
    assert company["name"] == "Bluebell Bakery"
    assert company["currency_code"] == "GBP"
    assert company["addresses"] == ["1 High Street, Leeds"]


def test_company_info_before_any_sync_is_not_found(sandbox_api, connection):
    response = _get(sandbox_api, "/accounting/company_info")

    assert response.status_code == 404
    assert response.json()["error_code"] == "NOT_FOUND"


def test_bills_carry_numbers_lines_and_payments(sandbox_api, books):
    [bill] = _list(sandbox_api, "bills")["bills"]

    assert bill["total_amount"] == 450.0
    assert bill["amount_due"] == 300.0
    assert bill["status"] == "partially_paid"
    [line] = bill["line_items"]
    assert line["account_id"] == str(books["expense"].id)
    assert line["item"]["quantity"] == 3.0
    [payment] = bill["linked_payments"]
    assert payment["allocated_amount"] == 150.0
    assert payment["allocated_date"] == "2024-03-10T00:00:00.000Z"


def test_invoice_payments_carry_decimal_strings(sandbox_api, books):
    [payment] = _list(sandbox_api, "invoice_payments")["invoice_payments"]

    assert payment["total_amount"] == "200.00"
    [link] = payment["linked_invoices"]
    assert link["amount"] == "200.00"
    assert link["id"] == _list(sandbox_api, "invoices")["invoices"][0]["id"]


def test_bill_payments_point_at_their_bill(sandbox_api, books):
    [payment] = _list(sandbox_api, "bill_payments")["bill_payments"]

    assert payment["total_amount"] == 150.0
    assert payment["account_id"] == str(books["bank"].id)
    assert payment["linked_bills"][0]["id"] == str(Bill.objects.get().id)


def test_expenses_carry_lines_as_numbers(sandbox_api, books):
    [expense] = _list(sandbox_api, "expenses")["expenses"]

    assert expense["expense_type"] == "expense"
    assert expense["account_id"] == str(books["bank"].id)
    assert expense["line_items"][0]["total_amount"] == 80.25


def test_expense_type_narrows_expenses(sandbox_api, connection, books):
    refund = add_expense(connection, books, 2, "10.00", expense_type="refund")

    refunds = _list(sandbox_api, "expenses", expense_type="refund")
    spent = _list(sandbox_api, "expenses", expense_type="expense")

    assert [row["id"] for row in refunds["expenses"]] == [str(refund.id)]
    assert str(refund.id) not in {row["id"] for row in spent["expenses"]}
    assert len(spent["expenses"]) == 1


def test_an_unknown_expense_type_names_the_field(sandbox_api, books):
    response = _get(sandbox_api, "/accounting/expenses", expense_type="gift")

    assert response.status_code == 400
    assert response.json()["error_message"].startswith("expense_type: ")


def test_journal_lines_are_signed_debits_positive_credits_negative(sandbox_api, books):
    entries = _list(sandbox_api, "journal_entries")["journal_entries"]

    [bill_entry] = [
        e
        for e in entries
        if len(e["line_items"]) == 2
        and any(
            line["account_id"] == str(books["accounts_payable"].id)
            and line["total_amount"] == -450.0
            for line in e["line_items"]
        )
    ]
    amounts = {
        line["account_id"]: line["total_amount"] for line in bill_entry["line_items"]
    }
    assert amounts[str(books["expense"].id)] == 450.0
    for entry in entries:
        assert sum(line["total_amount"] for line in entry["line_items"]) == 0


def test_customers_and_vendors_carry_their_contact_details(sandbox_api, books):
    [customer] = _list(sandbox_api, "customers")["customers"]
    [vendor] = _list(sandbox_api, "vendors")["vendors"]

    assert customer["customer_name"] == "Acme Widgets"
    assert customer["status"] == "ACTIVE"
    assert vendor["vendor_name"] == "Paper Supplies Co"
    assert vendor["status"] == "active"
    [address] = vendor["addresses"]
    assert address["city"] == "Leeds"
    assert address["country"] == "GB"


def test_updated_at_bounds_filter_bills(sandbox_api, connection, books):
    late = add_bill(connection, books, 2, "20.00", updated=JUNE)
    june = int(JUNE.timestamp() * 1000)

    since_june = _list(sandbox_api, "bills", updated_at_min=june)
    before_june = _list(sandbox_api, "bills", updated_at_max=june - 1)

    assert [row["id"] for row in since_june["bills"]] == [str(late.id)]
    assert str(late.id) not in {row["id"] for row in before_june["bills"]}
    assert len(before_june["bills"]) == 1


def test_bill_pages_walk_every_bill_exactly_once(sandbox_api, connection, books):
    for number in range(2, 8):
        add_bill(connection, books, number, "10.00")

    seen, cursor = [], None
    while True:
        params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        body = _list(sandbox_api, "bills", **params)
        seen += [row["id"] for row in body["bills"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break

    assert sorted(seen) == sorted(
        str(pk) for pk in Bill.objects.values_list("pk", flat=True)
    )
    assert len(seen) == 7


def _queries(client, entity):
    url = f"/versioned/accounting/{entity}"
    # A warm-up request takes the once-per-window rate limit housekeeping.
    client.get(url, {"access_token": TOKEN})
    with CaptureQueriesContext(connection_handler) as captured:
        assert client.get(url, {"access_token": TOKEN}).status_code == 200
    return len(captured)


def _grow(connection, chart):
    for number in range(2, 10):
        bill = add_bill(connection, chart, number, "30.00")
        pay_bill(connection, chart, bill, "10.00")
        add_expense(connection, chart, number, "5.00")
        Vendor.objects.create(
            connection=connection, platform_id=f"v-{number}", name=f"V{number}"
        )
        Customer.objects.create(
            connection=connection, platform_id=f"c-{number}", name=f"C{number}"
        )
        add_invoice(connection, chart, number, "10.00", paid="5.00")


@pytest.mark.parametrize("entity", [e for e in SINGULAR if e != "accounts"])
def test_a_pages_query_count_does_not_grow_with_its_size(
    sandbox_api, connection, books, entity
):
    small = _queries(sandbox_api, entity)
    _grow(connection, books)

    large = _queries(sandbox_api, entity)

    assert len(_list(sandbox_api, entity)[entity]) > 1
    assert large == small
