"""The API's admission: key, rate-limit lease and connection in one statement."""

import os
import subprocess
import sys

import psycopg
import pytest
from django.db import connection as db
from django.test.utils import CaptureQueriesContext

from accounts import api_auth
from accounts.models import ApiRequest, RateLimitWindow
from accounts.services import api_key_create
from rutterdash import api_requests
from rutterdash.environments import Environment
from tests.api_support import add_chart, api_client, basic_auth, post
from tests.factories import ConnectionFactory

ACCOUNTS = "/versioned/accounting/accounts"


@pytest.fixture
def key_and_secret(organisation):
    return api_key_create(organisation, Environment.SANDBOX)


@pytest.fixture
def api(key_and_secret):
    api_key, secret = key_and_secret
    return api_client(basic_auth(api_key.client_id, secret))


@pytest.fixture
def books(organisation):
    connection = ConnectionFactory(organisation=organisation, access_token="tok-1")
    chart = add_chart(connection)
    post(connection, "2024-03-01", [(chart["bank"], "100"), (chart["equity"], "-100")])
    return connection


def _reads(statements, table):
    return [sql for sql in statements if f'"{table}"' in sql]


def test_a_repeated_list_call_reads_key_and_connection_in_one_statement(
    api, books, settings
):
    if db.vendor != "postgresql":
        pytest.skip("elsewhere the key, count and connection take a statement each")
    api.get(ACCOUNTS, {"access_token": "tok-1"})
    with CaptureQueriesContext(db) as queries:
        response = api.get(ACCOUNTS, {"access_token": "tok-1"})

    statements = [query["sql"] for query in queries.captured_queries]
    admission = statements[0]
    assert response.status_code == 200
    assert '"accounts_apikey"' in admission
    assert '"connections_connection"' in admission
    assert _reads(statements, "accounts_apikey") == [admission]
    assert _reads(statements, "connections_connection") == [admission]
    assert _reads(statements, "connections_account") == []
    # The first call leased requests; this one spent one of them.
    assert _reads(statements, "accounts_ratelimitwindow") == []
    assert RateLimitWindow.objects.get().count == settings.RATE_LIMIT_LEASE


def test_the_first_call_of_a_worker_reads_the_rows_once(api, books):
    if db.vendor != "postgresql":
        pytest.skip("elsewhere the key, count and connection take a statement each")
    api_auth.kept_rows.forget_all()
    with CaptureQueriesContext(db) as queries:
        response = api.get(ACCOUNTS, {"access_token": "tok-1"})

    statements = [query["sql"] for query in queries.captured_queries]
    assert response.status_code == 200
    assert len(_reads(statements, "accounts_apikey")) == 2
    assert len(_reads(statements, "accounts_ratelimitwindow")) == 1


def test_a_wrong_secret_is_refused_and_not_counted(key_and_secret, books):
    api_key, _ = key_and_secret
    wrong = api_client(basic_auth(api_key.client_id, "not-the-secret"))

    response = wrong.get(ACCOUNTS, {"access_token": "tok-1"})

    assert response.status_code == 401
    assert not RateLimitWindow.objects.exists()


def test_a_rotated_secret_stops_working_at_once(api, key_and_secret, books):
    api_key, _ = key_and_secret
    assert api.get(ACCOUNTS, {"access_token": "tok-1"}).status_code == 200

    api_key.set_secret("a-new-secret")
    api_key.save()

    assert api.get(ACCOUNTS, {"access_token": "tok-1"}).status_code == 401


def test_a_disabled_connection_is_seen_at_once(api, books):
    assert api.get(ACCOUNTS, {"access_token": "tok-1"}).status_code == 200
    books.disabled = True
    books.save()

    response = api.get(ACCOUNTS, {"access_token": "tok-1"})

    assert response.status_code == 409
    assert response.json()["error_code"] == "CONNECTION_DISABLED"


def test_another_environments_token_is_refused(organisation, key_and_secret):
    ConnectionFactory(
        organisation=organisation,
        environment=Environment.PRODUCTION,
        access_token="tok-prod",
    )
    api_key, secret = key_and_secret
    api = api_client(basic_auth(api_key.client_id, secret))

    response = api.get(ACCOUNTS, {"access_token": "tok-prod"})

    assert response.status_code == 401
    assert response.json()["error_code"] == "INVALID_CREDENTIALS"
    assert RateLimitWindow.objects.get().count >= 1


@pytest.mark.django_db(transaction=True)
def test_outside_a_transaction_the_log_row_and_count_are_written(api, books, settings):
    # Requests in production run outside any transaction, where the lease
    # and the log rows each go in one statement that commits without waiting.
    if db.vendor != "postgresql":
        pytest.skip("leases and batches are PostgreSQL's")
    settings.API_REQUEST_LOG_FLUSH_SECONDS = 60
    response = api.get(ACCOUNTS, {"access_token": "tok-1"})
    api_requests.flush()

    logged = ApiRequest.objects.get()
    assert response.status_code == 200
    assert str(logged.request_id) == response["X-Rutter-Request-ID"]
    assert logged.connection == books
    assert logged.organisation == books.organisation
    assert (logged.method, logged.path, logged.status) == ("GET", ACCOUNTS, 200)
    assert RateLimitWindow.objects.get().count == settings.RATE_LIMIT_LEASE
    with db.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        assert cursor.fetchone()[0] == "on"


@pytest.fixture
def batched_log(settings):
    if db.vendor != "postgresql":
        pytest.skip("elsewhere each row is written at once")
    # Long enough that only flush() writes, within the test.
    settings.API_REQUEST_LOG_FLUSH_SECONDS = 60
    yield
    api_requests.flush()


@pytest.mark.django_db(transaction=True)
def test_batched_rows_are_all_written_by_a_flush(api, books, batched_log):
    answered = [api.get(ACCOUNTS, {"access_token": "tok-1"}) for _ in range(3)]
    held = ApiRequest.objects.count()

    api_requests.flush()

    logged = ApiRequest.objects.order_by("created")
    assert held == 0
    assert [str(row.request_id) for row in logged] == [
        response["X-Rutter-Request-ID"] for response in answered
    ]
    assert {row.connection_id for row in logged} == {books.pk}


@pytest.mark.django_db(transaction=True)
def test_a_batched_row_outlives_its_deleted_key(api, key_and_secret, batched_log):
    api_key, _ = key_and_secret
    api.get("/versioned/connections")
    api.get("/versioned/connections")
    api_key.delete()

    api_requests.flush()

    logged = ApiRequest.objects.all()
    assert len(logged) == 2
    assert all(row.api_key_id is None for row in logged)
    assert all(row.organisation_id == api_key.organisation_id for row in logged)


def _terminate(backend_pid):
    """End a backend from another connection, as a PostgreSQL restart would."""
    settings = db.settings_dict
    with psycopg.connect(
        dbname=settings["NAME"],
        user=settings["USER"],
        password=settings["PASSWORD"] or None,
        host=settings["HOST"],
        port=settings["PORT"] or 5432,
        autocommit=True,
    ) as other:
        other.execute("SELECT pg_terminate_backend(%s)", [backend_pid])


@pytest.mark.django_db(transaction=True)
def test_a_connection_postgresql_dropped_is_replaced_within_the_request(
    api, books, settings
):
    if db.vendor != "postgresql":
        pytest.skip("PostgreSQL's backends only")
    # A kept admission would answer without the connection.
    settings.API_ADMISSION_CACHE_SECONDS = 0
    assert api.get(ACCOUNTS, {"access_token": "tok-1"}).status_code == 200
    dropped = db.connection.info.backend_pid
    _terminate(dropped)

    response = api.get(ACCOUNTS, {"access_token": "tok-1"})

    assert response.status_code == 200
    assert db.connection.info.backend_pid != dropped


@pytest.mark.django_db(transaction=True)
def test_a_normal_exit_writes_the_rows_still_batched(db_url_for_subprocess):
    # A worker of its own, batching rows a minute apart, that answers one
    # request and exits before its writer thread would have woken.
    script = (
        "import django; django.setup()\n"
        "from django.test import Client\n"
        "answered = Client().get(\n"
        "    '/versioned/connections',\n"
        "    HTTP_HOST='127.0.0.1',\n"
        "    HTTP_X_RUTTER_VERSION='2023-03-14',\n"
        ")\n"
        "print(answered['X-Rutter-Request-ID'])\n"
    )
    environment = {
        **os.environ,
        "DATABASE_URL": db_url_for_subprocess,
        "DJANGO_SETTINGS_MODULE": "rutterdash.settings",
        "API_REQUEST_LOG_FLUSH_SECONDS": "60",
        "ENV_FILE": "/dev/null",
    }

    finished = subprocess.run(
        [sys.executable, "-c", script],
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )

    request_id = finished.stdout.strip()
    logged = ApiRequest.objects.get()
    assert str(logged.request_id) == request_id
    assert (logged.status, logged.path) == (401, "/versioned/connections")


@pytest.fixture
def db_url_for_subprocess():
    if db.vendor != "postgresql":
        pytest.skip("batching is for PostgreSQL")
    settings = db.settings_dict
    password = f":{settings['PASSWORD']}" if settings["PASSWORD"] else ""
    port = settings["PORT"] or 5432
    return (
        f"postgres://{settings['USER']}{password}@{settings['HOST']}:{port}"
        f"/{settings['NAME']}"
    )


def test_without_prepared_statements_the_admission_goes_through_django(
    api, books, settings
):
    settings.API_PREPARED_STATEMENTS = False

    with CaptureQueriesContext(db) as queries:
        response = api.get(ACCOUNTS, {"access_token": "tok-1"})

    assert response.status_code == 200
    assert '"accounts_apikey"' in queries.captured_queries[0]["sql"]


@pytest.mark.django_db(transaction=True)
def test_a_prepared_statement_deallocated_meanwhile_is_prepared_again(
    api, books, settings
):
    if db.vendor != "postgresql":
        pytest.skip("prepared statements are PostgreSQL's")
    settings.API_ADMISSION_CACHE_SECONDS = 0
    # The first call takes a lease, the second prepares the plain read.
    for _ in range(2):
        assert api.get(ACCOUNTS, {"access_token": "tok-1"}).status_code == 200
    with db.cursor() as cursor:
        cursor.execute("DEALLOCATE ALL")

    response = api.get(ACCOUNTS, {"access_token": "tok-1"})

    assert response.status_code == 200
