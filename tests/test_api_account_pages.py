"""Account pages kept per books version: reused until the books change."""

import json
import uuid
from decimal import Decimal

import pytest
from django.db import connection as database
from django.test.utils import CaptureQueriesContext

from accounts.services import api_key_create
from connections import page_cache, services
from connections.models import Account, JournalLine
from rutterdash.environments import Environment
from rutterdash.models import BooksVersion
from tests.api_support import add_account, add_chart, api_client, basic_auth, post
from tests.factories import ConnectionFactory

ACCOUNTS = "/versioned/accounting/accounts"
JSON = "application/json"


@pytest.fixture(autouse=True)
def postgresql_only():
    if database.vendor != "postgresql":
        pytest.skip("books versions are kept by PostgreSQL triggers")


@pytest.fixture(autouse=True)
def empty_cache():
    page_cache.forget_all()
    yield
    page_cache.forget_all()


@pytest.fixture
def api(organisation):
    api_key, secret = api_key_create(organisation, Environment.SANDBOX)
    return api_client(basic_auth(api_key.client_id, secret))


@pytest.fixture
def books(organisation):
    connection = ConnectionFactory(organisation=organisation, access_token="tok-1")
    chart = add_chart(connection)
    post(connection, "2024-03-01", [(chart["bank"], "100"), (chart["equity"], "-100")])
    return connection, chart


def _version(connection):
    return BooksVersion.objects.get(connection_id=connection.pk).version


def _balances(api):
    response = api.get(ACCOUNTS, {"access_token": "tok-1"})
    assert response.status_code == 200
    return {row["name"]: row["balance"] for row in response.json()["accounts"]}


def _account_reads(queries):
    return [q for q in queries.captured_queries if '"connections_account"' in q["sql"]]


def test_every_change_to_accounts_or_lines_bumps_the_version(books):
    connection, chart = books
    before = _version(connection)

    entry = post(
        connection, "2024-03-02", [(chart["bank"], "5"), (chart["income"], "-5")]
    )
    after_insert = _version(connection)
    JournalLine.objects.filter(entry=entry).update(description="changed")
    after_update = _version(connection)
    entry.delete()
    after_delete = _version(connection)
    add_account(connection, 5000, "expense", "expense", "Rent")

    assert before < after_insert < after_update < after_delete < _version(connection)


def test_another_connections_version_is_left_alone(books, organisation):
    connection, _ = books
    other = ConnectionFactory(organisation=organisation)
    before = _version(connection)

    add_chart(other)

    assert _version(connection) == before


def test_a_repeated_list_call_reuses_the_page(api, books):
    first = api.get(ACCOUNTS, {"access_token": "tok-1"})
    with CaptureQueriesContext(database) as queries:
        second = api.get(ACCOUNTS, {"access_token": "tok-1"})

    assert second.content == first.content
    assert _account_reads(queries) == []


def test_another_page_or_limit_is_its_own_page(api, books):
    api.get(ACCOUNTS, {"access_token": "tok-1"})

    response = api.get(ACCOUNTS, {"access_token": "tok-1", "limit": 1})

    assert len(response.json()["accounts"]) == 1
    assert response.json()["next_cursor"]


def test_a_new_line_shows_at_once(api, books):
    connection, chart = books
    assert _balances(api)["Sales"] == 0.0

    post(connection, "2024-03-02", [(chart["bank"], "40"), (chart["income"], "-40")])

    assert _balances(api)["Sales"] == 40.0


def test_a_changed_amount_shows_at_once(api, books):
    connection, chart = books
    assert _balances(api)["Bank"] == 100.0

    JournalLine.objects.filter(account=chart["bank"]).update(amount=Decimal("70"))

    assert _balances(api)["Bank"] == 70.0


def test_an_account_written_through_the_api_shows_at_once(api, books):
    api.get(ACCOUNTS, {"access_token": "tok-1"})
    body = {
        "account": {
            "name": "Petty Cash",
            "account_type": "bank",
            "nominal_code": "1010",
            "currency_code": "USD",
        }
    }

    created = api.post(
        f"{ACCOUNTS}?access_token=tok-1", json.dumps(body), content_type=JSON
    )

    assert created.status_code == 200, created.content
    assert "Petty Cash" in _balances(api)


def test_a_disabled_connection_is_refused_despite_a_kept_page(api, books):
    connection, _ = books
    _balances(api)
    connection.disabled = True
    connection.save()

    response = api.get(ACCOUNTS, {"access_token": "tok-1"})

    assert response.status_code == 409


def test_a_completed_sync_changes_the_fallback_updated_at(api, books):
    connection, chart = books
    Account.objects.filter(pk=chart["bank"].pk).update(
        platform_updated_at=None, platform_created_at=None
    )
    api.get(ACCOUNTS, {"access_token": "tok-1"})
    connection.last_sync_completed_at = connection.created.replace(year=2030)
    connection.save()

    response = api.get(ACCOUNTS, {"access_token": "tok-1"})

    bank = next(a for a in response.json()["accounts"] if a["name"] == "Bank")
    assert bank["updated_at"].startswith("2030-")


def test_a_kept_page_is_answered_from_the_admission_alone(api, books):
    first = api.get(ACCOUNTS, {"access_token": "tok-1"})
    with CaptureQueriesContext(database) as queries:
        second = api.get(ACCOUNTS, {"access_token": "tok-1"})

    reads = [q["sql"] for q in queries.captured_queries if "SELECT" in q["sql"]]
    assert second.content == first.content
    assert second["X-Rutter-Request-ID"] != first["X-Rutter-Request-ID"]
    assert len(reads) == 1


def test_a_deleted_key_is_refused_despite_a_kept_page(organisation, books):
    api_key, secret = api_key_create(organisation, Environment.SANDBOX)
    api = api_client(basic_auth(api_key.client_id, secret))
    _balances(api)
    api_key.delete()

    response = api.get(ACCOUNTS, {"access_token": "tok-1"})

    assert response.status_code == 401


def test_a_deleted_connection_is_refused_despite_a_kept_page(api, books):
    connection, _ = books
    _balances(api)
    services.connection_delete(connection)

    response = api.get(ACCOUNTS, {"access_token": "tok-1"})

    assert response.status_code == 401
    assert response.json()["error_code"] == "INVALID_CREDENTIALS"


def test_a_changed_organisation_shows_at_once(api, books, organisation):
    first = api.get(ACCOUNTS, {"access_token": "tok-1"}).json()
    organisation.public_id = uuid.uuid4()
    organisation.save()

    second = api.get(ACCOUNTS, {"access_token": "tok-1"}).json()

    assert first["connection"]["orgId"] != str(organisation.public_id)
    assert second["connection"]["orgId"] == str(organisation.public_id)


def test_a_kept_page_still_counts_against_the_rate_limit(api, books, settings):
    settings.RATE_LIMIT_REQUESTS = 1
    assert api.get(ACCOUNTS, {"access_token": "tok-1"}).status_code == 200

    response = api.get(ACCOUNTS, {"access_token": "tok-1"})

    assert response.status_code == 429


def test_another_version_header_is_its_own_page(api, books):
    api.get(ACCOUNTS, {"access_token": "tok-1"})

    response = api.get(
        ACCOUNTS, {"access_token": "tok-1"}, headers={"X-Rutter-Version": "1999-01-01"}
    )

    assert response.status_code == 400


@pytest.mark.django_db(transaction=True)
def test_between_transactions_every_change_shows_at_once(api, books):
    # Production requests run outside a transaction, each change committed
    # by another: the row versions the cache relies on change then too.
    connection, chart = books
    assert _balances(api)["Bank"] == 100.0
    connection.disabled = True
    connection.save()
    refused = api.get(ACCOUNTS, {"access_token": "tok-1"})
    connection.disabled = False
    connection.save()
    post(connection, "2024-03-02", [(chart["bank"], "5"), (chart["equity"], "-5")])

    assert refused.status_code == 409
    assert _balances(api)["Bank"] == 105.0
