import pytest
from django_tasks_db.models import DBTaskResult

from connections.models import Connection, EntitySync
from rutterdash.environments import Environment
from tests.api_support import client_for
from tests.factories import ConnectionFactory, OrganisationFactory
from tests.openapi import assert_matches_schema


@pytest.fixture
def sandbox_api(organisation):
    return client_for(organisation, Environment.SANDBOX)


@pytest.fixture
def production_api(organisation):
    return client_for(organisation, Environment.PRODUCTION)


@pytest.fixture
def connection(organisation):
    return ConnectionFactory(
        organisation=organisation, access_token="access-sandbox-known-token-1"
    )


def _create(client, body):
    return client.post(
        "/versioned/connections/create", body, content_type="application/json"
    )


def test_create_returns_an_authorised_sandbox_connection(
    sandbox_api, organisation, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = _create(sandbox_api, {"platform": "QUICKBOOKS"})

    assert_matches_schema("post", "/connections/create", response)
    created = response.json()["connection"]
    connection = Connection.objects.get(pk=created["id"])
    assert connection.organisation == organisation
    assert connection.environment == Environment.SANDBOX
    assert connection.platform == "QUICKBOOKS"
    assert connection.access_token() == created["access_token"]
    assert created["access_token"].startswith("access-sandbox-")


def test_create_starts_the_initial_sync(
    sandbox_api, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = _create(sandbox_api, {"platform": "XERO"})

    task = DBTaskResult.objects.get()
    assert task.task_path == "connections.tasks.sync_connection"
    assert task.args_kwargs["args"][0] == response.json()["connection"]["id"]


def test_create_ignores_credentials_sent_alongside_the_platform(sandbox_api):
    body = {"platform": "QUICKBOOKS", "realm_id": "123", "oauth_client_id": "x"}

    response = _create(sandbox_api, body)

    assert response.status_code == 200
    assert Connection.objects.count() == 1


def test_create_without_platform_names_the_missing_field(sandbox_api):
    response = _create(sandbox_api, {"store": "x"})

    assert response.status_code == 400
    assert response.json() == {
        "error_type": "INVALID_REQUEST",
        "error_code": "MISSING_REQUIRED_FIELD",
        "error_message": "platform: this field is required.",
    }
    assert not Connection.objects.exists()


def test_create_with_an_unknown_platform_names_the_field(sandbox_api):
    response = _create(sandbox_api, {"platform": "ABACUS"})

    assert response.status_code == 400
    assert response.json()["error_code"] == "INVALID_FIELD"
    assert response.json()["error_message"].startswith("platform: ")
    assert not Connection.objects.exists()


def test_create_with_a_platform_of_the_wrong_type_names_the_field(sandbox_api):
    response = _create(sandbox_api, {"platform": ["QUICKBOOKS"]})

    assert response.status_code == 400
    assert response.json()["error_message"].startswith("platform: ")


def test_create_with_a_body_that_is_not_json_is_refused(sandbox_api):
    response = sandbox_api.post(
        "/versioned/connections/create", "{platform", content_type="application/json"
    )

    assert response.status_code == 400
    assert response.json()["error_type"] == "INVALID_REQUEST"
    assert not Connection.objects.exists()


def test_create_with_an_empty_body_names_the_platform(sandbox_api):
    response = sandbox_api.post(
        "/versioned/connections/create", content_type="application/json"
    )

    assert response.status_code == 400
    assert response.json()["error_code"] == "MISSING_REQUIRED_FIELD"


def test_create_in_production_waits_for_the_business_in_link(production_api):
    response = _create(production_api, {"platform": "QUICKBOOKS"})

    assert_matches_schema("post", "/connections/create", response)
    created = response.json()["connection"]
    connection = Connection.objects.get(pk=created["id"])
    assert created["link_url"].endswith(f"/connection/{connection.id}")
    assert connection.environment == Environment.PRODUCTION
    assert not connection.is_ready
    assert not DBTaskResult.objects.exists()


def test_list_shows_the_environments_connections_with_tokens(sandbox_api, connection):
    response = sandbox_api.get("/versioned/connections")

    assert_matches_schema("get", "/connections", response)
    [listed] = response.json()["connections"]
    assert listed["id"] == str(connection.id)
    assert listed["access_token"] == "access-sandbox-known-token-1"
    assert listed["platform"] == "QUICKBOOKS"


def test_list_leaves_out_production_for_a_sandbox_key(sandbox_api, organisation):
    ConnectionFactory(organisation=organisation, environment=Environment.PRODUCTION)

    response = sandbox_api.get("/versioned/connections")

    assert response.status_code == 200
    assert response.json() == {"connections": []}


def test_list_leaves_out_sandbox_for_a_production_key(production_api, connection):
    response = production_api.get("/versioned/connections")

    assert response.json() == {"connections": []}


def test_list_leaves_out_other_organisations(sandbox_api):
    ConnectionFactory(organisation=OrganisationFactory())

    response = sandbox_api.get("/versioned/connections")

    assert response.json() == {"connections": []}


def test_access_token_describes_the_connection(sandbox_api, connection):
    response = sandbox_api.get(
        "/versioned/connections/access_token",
        {"access_token": "access-sandbox-known-token-1"},
    )

    assert_matches_schema("get", "/connections/access_token", response)
    found = response.json()["connection"]
    assert found["id"] == str(connection.id)
    assert found["store_name"] == connection.store_name
    assert found["disabled"] is False


def test_access_token_of_another_organisation_looks_unknown(sandbox_api):
    ConnectionFactory(
        organisation=OrganisationFactory(), access_token="access-sandbox-theirs"
    )

    theirs = sandbox_api.get(
        "/versioned/connections/access_token",
        {"access_token": "access-sandbox-theirs"},
    )
    unknown = sandbox_api.get(
        "/versioned/connections/access_token",
        {"access_token": "access-sandbox-nobody"},
    )

    assert theirs.status_code == unknown.status_code == 401
    assert theirs.json() == unknown.json()
    assert theirs.json()["error_code"] == "INVALID_CREDENTIALS"


def test_access_token_of_the_other_environment_looks_unknown(
    production_api, connection
):
    response = production_api.get(
        "/versioned/connections/access_token",
        {"access_token": "access-sandbox-known-token-1"},
    )

    assert response.status_code == 401
    assert response.json()["error_code"] == "INVALID_CREDENTIALS"


def test_access_token_parameter_is_required(sandbox_api):
    response = sandbox_api.get("/versioned/connections/access_token")

    assert response.status_code == 400
    assert response.json()["error_message"] == ("access_token: this field is required.")


def test_status_reports_readiness_and_entity_counts(sandbox_api, connection):
    EntitySync.objects.create(
        connection=connection, entity="invoices", status="succeeded", count=12
    )

    response = sandbox_api.get(
        "/versioned/connections/status",
        {"access_token": "access-sandbox-known-token-1"},
    )

    assert_matches_schema("get", "/connections/status", response)
    status = response.json()["status"]
    assert status["is_ready"] is True
    invoices = status["historical_sync_status"]["total"]["invoices"]
    assert invoices == {
        "oldest_entity_date": None,
        "newest_entity_date": None,
        "synced_count": 12,
        "ready": True,
    }


def test_status_of_a_disabled_connection_says_so(sandbox_api, organisation):
    ConnectionFactory(
        organisation=organisation,
        access_token="access-sandbox-off",
        disabled=True,
        is_ready=False,
    )

    response = sandbox_api.get(
        "/versioned/connections/status", {"access_token": "access-sandbox-off"}
    )

    assert_matches_schema("get", "/connections/status", response)
    status = response.json()["status"]
    assert status["disabled_status"] == {
        "is_disabled": True,
        "disabled_reason": "MANUALLY_DISABLED",
    }
    assert status["is_ready"] is False


def test_create_echoes_only_the_start_of_a_long_unknown_platform(sandbox_api):
    response = _create(sandbox_api, {"platform": "Z" * 5000})

    assert response.status_code == 400
    message = response.json()["error_message"]
    assert message == f"platform: Unknown platform '{'Z' * 40}…'."
