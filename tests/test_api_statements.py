"""The statements endpoints: Rutter's shapes, a small book's figures, refusals."""

from datetime import date

import pytest

from connections.sync import sync_books
from rutterdash.environments import Environment
from tests.api_support import add_chart, add_invoice, client_for, post
from tests.factories import ConnectionFactory, OrganisationFactory
from tests.openapi import assert_matches_schema

TOKEN = "access-sandbox-statements-1"
ENDPOINTS = {
    "balance_sheets": "balance_sheets",
    "income_statements": "income_statements",
    "cash_flow_statements": "cash_flows",
}
FIRST_QUARTER = {"start_date": "2024-01-01", "end_date": "2024-03-31"}


@pytest.fixture
def sandbox_api(organisation):
    return client_for(organisation, Environment.SANDBOX)


@pytest.fixture
def connection(organisation):
    return ConnectionFactory(organisation=organisation, access_token=TOKEN)


@pytest.fixture
def book(connection):
    """Capital of 1000 banked in January; a 500 invoice in March, 200 paid."""
    chart = add_chart(connection)
    post(
        connection,
        date(2024, 1, 2),
        [(chart["bank"], "1000.00"), (chart["equity"], "-1000.00")],
    )
    add_invoice(connection, chart, 1, "500.00", paid="200.00")
    return chart


def _get(client, endpoint, **params):
    query = {"access_token": TOKEN, **FIRST_QUARTER, **params}
    return client.get(f"/versioned/accounting/{endpoint}", query)


def _statements(client, endpoint, **params):
    response = _get(client, endpoint, **params)
    assert_matches_schema("get", f"/accounting/{endpoint}", response)
    return response.json()[ENDPOINTS[endpoint]]


def _values(node):
    return {item["name"]: item["value"] for item in node["items"]}


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_a_generated_book_matches_rutters_schema(sandbox_api, connection, endpoint):
    sync_books(connection, months=6, today=date(2024, 6, 15))

    found = _statements(
        sandbox_api, endpoint, start_date="2024-01-01", end_date="2024-06-15"
    )

    assert len(found) == 6
    assert found[-1]["end_date"] == "2024-06-15T00:00:00.000Z"


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_one_statement_per_month_on_one_page(sandbox_api, book, endpoint):
    response = _get(sandbox_api, endpoint)

    assert_matches_schema("get", f"/accounting/{endpoint}", response)
    assert response.json()["next_cursor"] is None
    found = response.json()[ENDPOINTS[endpoint]]
    assert [s["start_date"][:10] for s in found] == [
        "2024-01-01",
        "2024-02-01",
        "2024-03-01",
    ]
    assert [s["end_date"][:10] for s in found] == [
        "2024-01-31",
        "2024-02-29",
        "2024-03-31",
    ]


def test_balance_sheet_groups_accounts_under_current_assets(sandbox_api, book):
    march = _statements(sandbox_api, "balance_sheets")[-1]

    assert march["total_assets"] == "1500.00"
    [current] = march["assets"]["items"]
    assert current["name"] == "Current Assets"
    assert _values(current) == {
        "1000 Bank": "1200.00",
        "1100 Accounts Receivable": "300.00",
    }
    assert current["items"][0]["account_id"] == str(book["bank"].id)
    assert march["total_liabilities"] == "0.00"
    assert _values(march["equity"]) == {
        "3000 Owner Capital": "1000.00",
        "Earnings from prior years": "0.00",
        "Current year earnings": "500.00",
    }


def test_income_statement_reports_the_month_of_the_invoice(sandbox_api, book):
    january, february, march = _statements(sandbox_api, "income_statements")

    assert january["total_income"] == february["net_income"] == "0.00"
    assert march["total_income"] == march["net_income"] == "500.00"
    assert march["accounting_standard"] == "accrual"
    [operating] = march["income"]["items"]
    assert _values(operating) == {"4000 Sales": "500.00"}
    assert march["cost_of_sales"]["items"] == []


def test_cash_flow_counts_only_cash_received(sandbox_api, book):
    january, february, march = _statements(sandbox_api, "cash_flow_statements")

    assert january["total_financing"] == "1000.00"
    assert _values(january["financing_activities"]) == {"3000 Owner Capital": "1000.00"}
    assert february["total_operating"] == "0.00"
    assert march["starting_balance"] == "1000.00"
    assert march["ending_balance"] == "1200.00"
    assert _values(march["operating_activities"]) == {
        "1100 Accounts Receivable": "200.00"
    }


def test_a_missing_date_is_refused_by_name(sandbox_api, book):
    response = sandbox_api.get(
        "/versioned/accounting/balance_sheets",
        {"access_token": TOKEN, "end_date": "2024-03-31"},
    )

    assert response.status_code == 400
    assert response.json()["error_code"] == "MISSING_REQUIRED_FIELD"
    assert response.json()["error_message"].startswith("start_date: ")


@pytest.mark.parametrize("bad", ["2024-13-01", "yesterday", "2024-02-30"])
def test_a_date_that_is_not_a_real_day_is_refused(sandbox_api, book, bad):
    response = _get(sandbox_api, "income_statements", end_date=bad)

    assert response.status_code == 400
    assert response.json()["error_type"] == "INVALID_REQUEST"
    assert response.json()["error_code"] == "INVALID_FIELD"
    assert response.json()["error_message"].startswith("end_date: ")


def test_an_end_before_the_start_is_refused(sandbox_api, book):
    response = _get(sandbox_api, "cash_flow_statements", end_date="2023-12-31")

    assert response.status_code == 400
    assert response.json()["error_code"] == "INVALID_FIELD"
    assert response.json()["error_message"] == (
        "end_date: must not be before start_date."
    )


def test_more_than_thirty_six_months_are_refused(sandbox_api, book):
    response = _get(sandbox_api, "balance_sheets", end_date="2027-01-01")

    assert response.status_code == 400
    assert response.json()["error_message"].startswith("end_date: ")
    assert "37 months" in response.json()["error_message"]


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize(
    "start, end, field",
    [
        ("9999-11-01", "9999-12-31", "start_date"),
        ("2024-01-01", "9999-12-31", "end_date"),
    ],
)
def test_dates_beyond_plausible_books_are_refused(
    sandbox_api, book, endpoint, start, end, field
):
    response = _get(sandbox_api, endpoint, start_date=start, end_date=end)

    assert response.status_code == 400
    assert response.json()["error_message"] == (
        f"{field}: must be between 1900-01-01 and 2099-12-31."
    )


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_statements_wait_for_the_initial_sync(sandbox_api, connection, endpoint):
    connection.is_ready = False
    connection.save()

    waiting = _get(sandbox_api, endpoint)
    forced = _get(sandbox_api, endpoint, force_fetch="true")

    assert waiting.status_code == 409
    assert waiting.json()["error_code"] == "PRODUCT_NOT_READY"
    assert_matches_schema("get", f"/accounting/{endpoint}", forced)


def test_a_disabled_connection_refuses_statements(sandbox_api, connection):
    connection.disabled = True
    connection.save()

    response = _get(sandbox_api, "balance_sheets", force_fetch="true")

    assert response.status_code == 409
    assert response.json()["error_code"] == "CONNECTION_DISABLED"


def test_another_organisations_statements_look_like_a_wrong_token(sandbox_api):
    ConnectionFactory(
        organisation=OrganisationFactory(), access_token="access-sandbox-theirs"
    )

    theirs = _get(sandbox_api, "balance_sheets", access_token="access-sandbox-theirs")
    unknown = _get(sandbox_api, "balance_sheets", access_token="access-none")

    assert theirs.status_code == unknown.status_code == 401
    assert theirs.json() == unknown.json()
    assert theirs.json()["error_code"] == "INVALID_CREDENTIALS"
