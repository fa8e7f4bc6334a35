from datetime import UTC, datetime

import pytest
from django.db import connection as connection_handler
from django.test.utils import CaptureQueriesContext

from connections.models import Account
from rutterdash.environments import Environment
from tests.api_support import add_account, add_chart, add_invoice, client_for, post
from tests.factories import ConnectionFactory, OrganisationFactory
from tests.openapi import assert_matches_schema

TOKEN = "access-sandbox-books-1"


@pytest.fixture
def sandbox_api(organisation):
    return client_for(organisation, Environment.SANDBOX)


@pytest.fixture
def connection(organisation):
    return ConnectionFactory(organisation=organisation, access_token=TOKEN)


@pytest.fixture
def chart(connection):
    return add_chart(connection)


def _accounts(client, **params):
    return client.get(
        "/versioned/accounting/accounts", {"access_token": TOKEN, **params}
    )


def _invoices(client, **params):
    return client.get(
        "/versioned/accounting/invoices", {"access_token": TOKEN, **params}
    )


def _by_name(response):
    return {row["name"]: row for row in response.json()["accounts"]}


def test_accounts_match_rutters_schema(sandbox_api, connection, chart):
    response = _accounts(sandbox_api)

    assert_matches_schema("get", "/accounting/accounts", response)
    body = response.json()
    assert body["connection"]["id"] == str(connection.id)
    assert body["connection"]["orgId"] == str(connection.organisation.public_id)
    assert len(body["accounts"]) == 4
    assert body["next_cursor"] is None


def test_account_balances_come_from_journal_lines(sandbox_api, connection, chart):
    post(
        connection,
        datetime(2024, 1, 2),
        [
            (chart["bank"], "5000.00"),
            (chart["equity"], "-5000.00"),
        ],
    )
    add_invoice(connection, chart, 1, "1200.00", paid="200.00")

    accounts = _by_name(_accounts(sandbox_api))

    assert accounts["Bank"]["balance"] == 5200.0
    assert accounts["Accounts Receivable"]["balance"] == 1000.0
    assert accounts["Owner Capital"]["balance"] == 5000.0
    assert accounts["Sales"]["balance"] == 1200.0


def test_an_account_without_postings_has_a_zero_balance(sandbox_api, connection, chart):
    accounts = _by_name(_accounts(sandbox_api))

    assert accounts["Bank"]["balance"] == 0


def test_limit_cuts_pages_and_next_cursor_walks_them_all(
    sandbox_api, connection, chart
):
    for number in range(5):
        add_account(connection, 6000 + number, "expense", "expense")

    seen, cursor, pages = [], None, 0
    while True:
        params = {"limit": 4, **({"cursor": cursor} if cursor else {})}
        response = _accounts(sandbox_api, **params)
        assert_matches_schema("get", "/accounting/accounts", response)
        body = response.json()
        seen += [row["id"] for row in body["accounts"]]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break

    assert pages == 3
    assert sorted(seen) == sorted(
        str(pk) for pk in Account.objects.values_list("pk", flat=True)
    )


def test_limit_defaults_to_fifty(sandbox_api, connection):
    for number in range(51):
        add_account(connection, 7000 + number, "expense", "expense")

    body = _accounts(sandbox_api).json()

    assert len(body["accounts"]) == 50
    assert body["next_cursor"]


def test_a_page_stays_stable_when_rows_are_added_meanwhile(
    sandbox_api, connection, chart
):
    first = _accounts(sandbox_api, limit=2).json()
    add_account(connection, 9000, "expense", "expense")

    rest = _accounts(sandbox_api, limit=10, cursor=first["next_cursor"]).json()

    first_ids = {row["id"] for row in first["accounts"]}
    assert not first_ids & {row["id"] for row in rest["accounts"]}


@pytest.mark.parametrize("limit", ["0", "501", "many"])
def test_a_limit_outside_one_to_five_hundred_is_refused(sandbox_api, connection, limit):
    response = _accounts(sandbox_api, limit=limit)

    assert response.status_code == 400
    assert response.json()["error_code"] == "INVALID_FIELD"
    assert response.json()["error_message"].startswith("limit: ")


@pytest.mark.parametrize("cursor", ["not-a-cursor", "bm90IGEgdXVpZA=="])
def test_a_cursor_we_did_not_issue_is_refused(sandbox_api, connection, cursor):
    response = _accounts(sandbox_api, cursor=cursor)

    assert response.status_code == 400
    assert response.json()["error_message"].startswith("cursor: ")


def test_a_cursor_from_another_entity_is_refused(sandbox_api, connection, chart):
    for number in range(3):
        add_account(connection, 6100 + number, "expense", "expense")
    cursor = _accounts(sandbox_api, limit=1).json()["next_cursor"]

    response = sandbox_api.get(
        "/versioned/accounting/invoices",
        {"access_token": connection.access_token(), "cursor": cursor},
    )

    assert response.status_code == 400
    assert response.json()["error_message"].startswith("cursor: ")
    assert _accounts(sandbox_api, cursor=cursor).status_code == 200


def test_updated_at_bounds_filter_in_unix_milliseconds(sandbox_api, connection, chart):
    late = add_account(connection, 5000, "expense", "expense", "Rent")
    late.platform_updated_at = datetime(2024, 6, 1, tzinfo=UTC)
    late.save()
    june = int(datetime(2024, 6, 1, tzinfo=UTC).timestamp() * 1000)

    since_june = _accounts(sandbox_api, updated_at_min=june).json()
    before_june = _accounts(sandbox_api, updated_at_max=june - 1).json()

    assert [row["name"] for row in since_june["accounts"]] == ["Rent"]
    assert "Rent" not in _by_name_of(before_june)
    assert len(before_june["accounts"]) == 4


def _by_name_of(body):
    return {row["name"] for row in body["accounts"]}


def test_an_impossible_timestamp_is_refused(sandbox_api, connection):
    response = _accounts(sandbox_api, updated_at_min=10**20)

    assert response.status_code == 400
    assert response.json()["error_message"].startswith("updated_at_min: ")


def test_books_wait_for_the_initial_sync(sandbox_api, connection, chart):
    connection.is_ready = False
    connection.save()

    response = _accounts(sandbox_api)

    assert response.status_code == 409
    assert response.json()["error_type"] == "CONNECTION_ERROR"
    assert response.json()["error_code"] == "PRODUCT_NOT_READY"


def test_force_fetch_reads_books_before_the_sync_finishes(
    sandbox_api, connection, chart
):
    connection.is_ready = False
    connection.save()

    response = _accounts(sandbox_api, force_fetch="true")

    assert_matches_schema("get", "/accounting/accounts", response)
    assert len(response.json()["accounts"]) == 4


def test_a_disabled_connection_refuses_reads(sandbox_api, connection, chart):
    connection.disabled = True
    connection.save()

    response = _accounts(sandbox_api, force_fetch="true")

    assert response.status_code == 409
    assert response.json()["error_code"] == "CONNECTION_DISABLED"


def test_a_connection_needing_reauthorisation_refuses_reads(
    sandbox_api, connection, chart
):
    connection.needs_reauth = True
    connection.save()

    response = _accounts(sandbox_api)

    assert response.status_code == 409
    assert response.json()["error_code"] == "NEEDS_UPDATE"


def test_another_organisations_books_look_like_a_wrong_token(
    sandbox_api, connection, chart
):
    theirs = ConnectionFactory(
        organisation=OrganisationFactory(), access_token="access-sandbox-theirs"
    )
    add_chart(theirs)

    response = sandbox_api.get(
        "/versioned/accounting/accounts", {"access_token": "access-sandbox-theirs"}
    )

    assert response.status_code == 401
    assert response.json()["error_code"] == "INVALID_CREDENTIALS"


def test_production_key_cannot_read_sandbox_books(organisation, connection, chart):
    production_api = client_for(organisation, Environment.PRODUCTION)

    response = _accounts(production_api)

    assert response.status_code == 401


def test_invoices_match_rutters_schema(sandbox_api, connection, chart):
    add_invoice(connection, chart, 1, "1200.00", paid="200.00")
    add_invoice(connection, chart, 2, "300.50")

    response = _invoices(sandbox_api)

    assert_matches_schema("get", "/accounting/invoices", response)
    assert len(response.json()["invoices"]) == 2


def test_invoices_carry_lines_and_payments(sandbox_api, connection, chart):
    invoice = add_invoice(connection, chart, 1, "1200.00", paid="200.00")

    [listed] = _invoices(sandbox_api).json()["invoices"]

    assert listed["id"] == str(invoice.id)
    assert listed["status"] == "partially_paid"
    assert listed["total_amount"] == "1200.00"
    assert listed["amount_due"] == "1000.00"
    assert listed["issue_date"] == "2024-03-01T00:00:00.000Z"
    [line] = listed["line_items"]
    assert line["account_id"] == str(chart["income"].id)
    assert line["amount"] == "1200.00"
    [payment] = listed["linked_payments"]
    assert payment["type"] == "INVOICE_PAYMENT"
    assert payment["amount"] == "200.00"


def test_invoice_pages_walk_every_invoice(sandbox_api, connection, chart):
    for number in range(7):
        add_invoice(connection, chart, number, "10.00")

    first = _invoices(sandbox_api, limit=5).json()
    rest = _invoices(sandbox_api, limit=5, cursor=first["next_cursor"]).json()

    ids = [row["id"] for row in first["invoices"] + rest["invoices"]]
    assert len(set(ids)) == 7
    assert rest["next_cursor"] is None


def _queries_for_page(client, entity):
    url = f"/versioned/accounting/{entity}"
    # A warm-up request takes the once-per-window rate limit housekeeping.
    client.get(url, {"access_token": TOKEN})
    with CaptureQueriesContext(connection_handler) as captured:
        assert client.get(url, {"access_token": TOKEN}).status_code == 200
    return len(captured)


def test_invoice_pages_cost_the_same_queries_whatever_their_size(
    sandbox_api, connection, chart
):
    add_invoice(connection, chart, 1, "10.00", paid="10.00")
    small = _queries_for_page(sandbox_api, "invoices")
    for number in range(2, 12):
        add_invoice(connection, chart, number, "10.00", paid="5.00")

    large = _queries_for_page(sandbox_api, "invoices")

    assert large == small


def test_account_pages_cost_the_same_queries_whatever_their_size(
    sandbox_api, connection, chart
):
    small = _queries_for_page(sandbox_api, "accounts")
    for number in range(10):
        add_account(connection, 8000 + number, "expense", "expense")

    large = _queries_for_page(sandbox_api, "accounts")

    assert large == small
