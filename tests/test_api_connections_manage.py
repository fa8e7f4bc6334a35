"""Connection list filters, delete, status progress and incremental sync."""

import pytest
from django.core.cache import cache
from django_tasks_db.models import DBTaskResult

from connections.models import Connection, EntitySync, Invoice
from connections.sync import progress_key
from rutterdash.environments import Environment
from tests.api_support import add_chart, add_invoice, client_for
from tests.factories import ConnectionFactory, OrganisationFactory
from tests.openapi import assert_matches_schema
from tests.write_support import add_parties

TOKEN = "access-sandbox-manage-1"
STATES = {
    "active": {},
    "not_ready": {"is_ready": False, "sync_status": "running"},
    "unhealthy": {"sync_status": "failed"},
    "needs_reauth": {"needs_reauth": True},
    "disabled": {"disabled": True, "needs_reauth": True},
}


@pytest.fixture
def sandbox_api(organisation):
    return client_for(organisation, Environment.SANDBOX)


@pytest.fixture
def connection(organisation):
    return ConnectionFactory(organisation=organisation, access_token=TOKEN)


@pytest.fixture
def one_of_each(organisation):
    return {
        state: ConnectionFactory(organisation=organisation, **fields)
        for state, fields in STATES.items()
    }


def _listed_ids(client, **params):
    response = client.get("/versioned/connections", params)
    assert_matches_schema("get", "/connections", response)
    return {row["id"] for row in response.json()["connections"]}


@pytest.mark.parametrize("state", STATES)
def test_status_filter_lists_only_connections_in_that_state(
    sandbox_api, one_of_each, state
):
    listed = _listed_ids(sandbox_api, status=state)

    assert listed == {str(one_of_each[state].id)}


def test_status_any_lists_every_connection(sandbox_api, one_of_each):
    expected = {str(c.id) for c in one_of_each.values()}

    assert _listed_ids(sandbox_api, status="any") == expected
    assert _listed_ids(sandbox_api) == expected


def test_an_unknown_status_names_the_field(sandbox_api, one_of_each):
    response = sandbox_api.get("/versioned/connections", {"status": "broken"})

    assert response.status_code == 400
    assert response.json()["error_code"] == "INVALID_FIELD"
    assert response.json()["error_message"].startswith("status: ")


def _delete(client, connection_id):
    return client.delete(f"/versioned/connections/{connection_id}")


def test_delete_removes_the_connection_and_its_books(sandbox_api, connection):
    add_invoice(connection, add_chart(connection), 1, "10.00", paid="4.00")

    response = _delete(sandbox_api, connection.id)

    assert_matches_schema("delete", "/connections/{id}", response)
    assert response.json() == {"success": True}
    assert not Connection.objects.filter(pk=connection.pk).exists()
    assert not Invoice.objects.exists()


def test_delete_of_an_unknown_id_is_not_found(sandbox_api, connection):
    response = _delete(sandbox_api, "3f0e0c4e-9f5d-4a59-8d0e-7f1b0b0f2a10")

    assert response.status_code == 404
    assert response.json()["error_code"] == "NOT_FOUND"
    assert Connection.objects.filter(pk=connection.pk).exists()


def test_delete_of_a_malformed_id_is_not_found(sandbox_api, connection):
    response = _delete(sandbox_api, "not-a-uuid")

    assert response.status_code == 404
    assert Connection.objects.filter(pk=connection.pk).exists()


def test_delete_of_another_organisations_connection_is_not_found(sandbox_api):
    theirs = ConnectionFactory(organisation=OrganisationFactory())

    response = _delete(sandbox_api, theirs.id)

    assert response.status_code == 404
    assert Connection.objects.filter(pk=theirs.pk).exists()


def test_delete_of_the_other_environments_connection_is_not_found(
    sandbox_api, organisation
):
    theirs = ConnectionFactory(
        organisation=organisation, environment=Environment.PRODUCTION
    )

    response = _delete(sandbox_api, theirs.id)

    assert response.status_code == 404
    assert Connection.objects.filter(pk=theirs.pk).exists()


def _status(client):
    response = client.get("/versioned/connections/status", {"access_token": TOKEN})
    assert_matches_schema("get", "/connections/status", response)
    return response.json()["status"]["historical_sync_status"]


def test_status_reports_live_counts_while_a_sync_runs(sandbox_api, connection):
    Connection.objects.filter(pk=connection.pk).update(
        sync_status="running", is_ready=False
    )
    cache.set(
        progress_key(connection.id),
        {"percent": 40, "counts": {"accounts": 31, "invoices": 120}},
    )

    history = _status(sandbox_api)

    cache.delete(progress_key(connection.id))
    assert history["historical_sync_completed"] is False
    assert history["total"]["accounts"]["synced_count"] == 31
    assert history["total"]["invoices"]["synced_count"] == 120
    assert history["total"]["bills"]["synced_count"] == 0
    assert history["total"]["invoices"]["ready"] is False


def test_status_reports_recorded_counts_after_a_sync(sandbox_api, connection):
    EntitySync.objects.create(
        connection=connection, entity="bills", status="succeeded", count=7
    )

    history = _status(sandbox_api)

    assert history["total"]["bills"] == {
        "oldest_entity_date": None,
        "newest_entity_date": None,
        "synced_count": 7,
        "ready": True,
    }


def _sync(client, token=TOKEN):
    return client.post(f"/versioned/connections/sync?access_token={token}")


@pytest.mark.django_db(transaction=True)
def test_sync_queues_a_resync_and_names_its_job(organisation, connection):
    client = client_for(organisation, Environment.SANDBOX)

    response = _sync(client)

    assert response.status_code == 200
    assert response.json() == {"success": True}
    task = DBTaskResult.objects.get()
    assert response["X-Rutter-Job-ID"] == str(task.id)
    assert task.task_path == "connections.tasks.sync_connection"
    assert task.args_kwargs["args"][0] == str(connection.id)
    connection.refresh_from_db()
    assert connection.sync_status == "queued"


def test_sync_of_a_disabled_connection_is_refused(sandbox_api, organisation):
    ConnectionFactory(organisation=organisation, access_token=TOKEN, disabled=True)

    response = _sync(sandbox_api)

    assert response.status_code == 409
    assert response.json()["error_code"] == "CONNECTION_DISABLED"
    assert not DBTaskResult.objects.exists()


def test_sync_is_refused_when_it_would_erase_written_records(
    sandbox_api, connection
):
    add_parties(connection)

    response = _sync(sandbox_api)

    assert response.status_code == 409
    assert response.json()["error_code"] == "RESYNC_WOULD_ERASE_WRITES"
    assert not DBTaskResult.objects.exists()
    connection.refresh_from_db()
    assert connection.sync_status == "succeeded"


def test_sync_with_an_unknown_token_is_refused(sandbox_api, connection):
    response = _sync(sandbox_api, "access-sandbox-nobody")

    assert response.status_code == 401
    assert response.json()["error_code"] == "INVALID_CREDENTIALS"
    connection.refresh_from_db()
    assert connection.sync_status == "succeeded"


def test_sync_by_get_is_not_allowed(sandbox_api, connection):
    response = sandbox_api.get("/versioned/connections/sync", {"access_token": TOKEN})

    assert response.status_code == 405
    assert not DBTaskResult.objects.exists()
