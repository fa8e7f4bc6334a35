import uuid

import pytest

from accounts.services import api_key_create
from rutterdash.environments import Environment
from tests.api_support import api_client, basic_auth, client_for
from tests.factories import ConnectionFactory, OrganisationFactory

ERROR_KEYS = {"error_type", "error_code", "error_message"}


@pytest.fixture
def sandbox_key(organisation):
    return api_key_create(organisation, Environment.SANDBOX)


@pytest.fixture
def sandbox_api(sandbox_key):
    api_key, secret = sandbox_key
    return api_client(basic_auth(api_key.client_id, secret))


def _assert_refused_credentials(response):
    assert response.status_code == 401
    assert response.json() == {
        "error_type": "CONNECTION_ERROR",
        "error_code": "INVALID_CREDENTIALS",
        "error_message": (
            "Missing or invalid client_id and client_secret; send them with "
            "HTTP Basic authentication."
        ),
    }
    assert response["WWW-Authenticate"].startswith("Basic")


def test_missing_credentials_are_refused(db):
    response = api_client().get("/versioned/connections")

    _assert_refused_credentials(response)


def test_a_wrong_secret_is_refused(sandbox_key):
    api_key, _secret = sandbox_key
    client = api_client(basic_auth(api_key.client_id, "sk_test_guess"))

    response = client.get("/versioned/connections")

    _assert_refused_credentials(response)


def test_an_unknown_client_id_is_refused(sandbox_key):
    _api_key, secret = sandbox_key
    client = api_client(basic_auth(uuid.uuid4(), secret))

    response = client.get("/versioned/connections")

    _assert_refused_credentials(response)


def test_a_client_id_that_is_not_a_uuid_is_refused(db):
    client = api_client(basic_auth("admin", "admin"))

    response = client.get("/versioned/connections")

    _assert_refused_credentials(response)


def test_a_garbled_authorization_header_is_refused(db):
    client = api_client("Basic !!!not-base64")

    response = client.get("/versioned/connections")

    _assert_refused_credentials(response)


def test_another_organisations_secret_does_not_open_this_client_id(sandbox_key):
    api_key, _secret = sandbox_key
    _their_key, their_secret = api_key_create(
        OrganisationFactory(), Environment.SANDBOX
    )
    client = api_client(basic_auth(api_key.client_id, their_secret))

    response = client.get("/versioned/connections")

    _assert_refused_credentials(response)


def test_the_key_decides_the_environment(organisation):
    ConnectionFactory(organisation=organisation, environment=Environment.PRODUCTION)
    production_api = client_for(organisation, Environment.PRODUCTION)

    response = production_api.get("/versioned/connections")

    assert response.status_code == 200
    assert len(response.json()["connections"]) == 1


def test_a_signed_in_dashboard_session_does_not_stand_in_for_a_key(
    admin_client, organisation
):
    ConnectionFactory(organisation=organisation)
    admin_client.defaults["HTTP_X_RUTTER_VERSION"] = "2023-03-14"

    response = admin_client.get("/versioned/connections")

    assert response.status_code == 401


def test_a_missing_version_header_is_refused(sandbox_key):
    api_key, secret = sandbox_key
    client = api_client(basic_auth(api_key.client_id, secret), version=None)

    response = client.get("/versioned/connections")

    assert response.status_code == 400
    assert response.json()["error_code"] == "INVALID_VERSION"
    assert "X-Rutter-Version" in response.json()["error_message"]


def test_an_unknown_version_is_refused(sandbox_key):
    api_key, secret = sandbox_key
    client = api_client(basic_auth(api_key.client_id, secret), version="2020-01-01")

    response = client.get("/versioned/connections")

    assert response.status_code == 400
    assert response.json()["error_code"] == "INVALID_VERSION"
    assert "'2020-01-01'" in response.json()["error_message"]


def test_the_newer_version_is_accepted(sandbox_key):
    api_key, secret = sandbox_key
    client = api_client(basic_auth(api_key.client_id, secret), version="2024-08-31")

    response = client.get("/versioned/connections")

    assert response.status_code == 200


def test_every_response_carries_a_fresh_request_id(sandbox_api):
    first = sandbox_api.get("/versioned/connections")
    second = sandbox_api.get("/versioned/connections")

    ids = {first["X-Rutter-Request-ID"], second["X-Rutter-Request-ID"]}
    assert len(ids) == 2
    assert all(uuid.UUID(request_id) for request_id in ids)


def test_errors_carry_a_request_id_too(db):
    response = api_client().get("/versioned/connections")

    assert response.status_code == 401
    assert uuid.UUID(response["X-Rutter-Request-ID"])


def test_an_unknown_path_answers_the_error_object(sandbox_api):
    response = sandbox_api.get("/versioned/accounting/widgets")

    assert response.status_code == 404
    assert set(response.json()) == ERROR_KEYS
    assert response.json()["error_code"] == "NOT_FOUND"
    assert uuid.UUID(response["X-Rutter-Request-ID"])


def test_a_wrong_method_answers_the_error_object(sandbox_api):
    response = sandbox_api.delete("/versioned/connections/create")

    assert response.status_code == 405
    assert response.json()["error_code"] == "METHOD_NOT_ALLOWED"
    assert response["Allow"] == "POST"
    assert uuid.UUID(response["X-Rutter-Request-ID"])


def test_a_post_needs_no_csrf_token(organisation):
    api_key, secret = api_key_create(organisation, Environment.SANDBOX)
    client = api_client(basic_auth(api_key.client_id, secret))
    client.handler.enforce_csrf_checks = True

    response = client.post(
        "/versioned/connections/create",
        {"platform": "QUICKBOOKS"},
        content_type="application/json",
    )

    assert response.status_code == 200


def test_a_crash_answers_the_error_object_and_is_logged(
    sandbox_api, organisation, monkeypatch, caplog
):
    def explode(connection):
        raise RuntimeError("boom")

    monkeypatch.setattr("connections.serializers.connection_listed", explode)
    ConnectionFactory(organisation=organisation)

    response = sandbox_api.get("/versioned/connections")

    assert response.status_code == 500
    assert response.json()["error_type"] == "API_ERROR"
    assert response.json()["error_code"] == "INTERNAL_SERVER_ERROR"
    assert "boom" not in response.content.decode()
    assert response["X-Rutter-Request-ID"] in caplog.text
