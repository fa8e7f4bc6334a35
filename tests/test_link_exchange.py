"""Exchanging a public token: once, in time, for its own organisation."""

import threading
from datetime import timedelta

import pytest
from django.db import connection as db_connection
from django.utils import timezone

from accounts.services import api_key_create
from connections.models import Connection
from connections.sync import run_sync
from link import services
from link.models import PublicToken
from rutterdash.environments import Environment
from tests.api_support import api_client, basic_auth
from tests.factories import ConnectionFactory, OrganisationFactory
from tests.openapi import assert_matches_schema

EXCHANGE = "/versioned/item/public_token/exchange"
TOKEN = "access-sandbox-exchange-token-1"


@pytest.fixture
def sandbox_key(organisation):
    return api_key_create(organisation, Environment.SANDBOX)


@pytest.fixture
def sandbox_api(sandbox_key):
    api_key, secret = sandbox_key
    return api_client(basic_auth(api_key.client_id, secret))


@pytest.fixture
def linked(organisation):
    return ConnectionFactory(organisation=organisation, access_token=TOKEN)


@pytest.fixture
def public_token(linked):
    return services.public_token_issue(linked)


def exchange(client, body):
    return client.post(EXCHANGE, body, content_type="application/json")


def test_exchange_answers_rutters_shape_with_the_access_token(
    sandbox_api, linked, public_token
):
    response = exchange(sandbox_api, {"public_token": public_token})

    assert_matches_schema("post", "/item/public_token/exchange", response)
    body = response.json()
    assert body["access_token"] == TOKEN
    assert body["connection_id"] == str(linked.id)
    assert body["is_ready"] is True
    assert body["platform"] == "QUICKBOOKS"
    assert body["store_unique_name"] == linked.store_domain
    assert PublicToken.objects.get().used_at is not None


def test_the_exchanged_token_reads_the_connections_accounts(
    sandbox_api, linked, public_token
):
    run_sync(linked.id)

    token = exchange(sandbox_api, {"public_token": public_token}).json()
    accounts = sandbox_api.get(
        "/versioned/accounting/accounts", {"access_token": token["access_token"]}
    )

    assert_matches_schema("get", "/accounting/accounts", accounts)
    assert accounts.json()["accounts"]


def test_a_public_token_works_once(sandbox_api, public_token):
    exchange(sandbox_api, {"public_token": public_token})

    response = exchange(sandbox_api, {"public_token": public_token})

    assert response.status_code == 400
    assert response.json() == {
        "error_type": "INVALID_REQUEST",
        "error_code": "INVALID_PUBLIC_TOKEN",
        "error_message": "The public_token has already been exchanged; it works once.",
    }


def test_an_expired_public_token_is_refused(sandbox_api, public_token):
    PublicToken.objects.update(expires_at=timezone.now() - timedelta(seconds=1))

    response = exchange(sandbox_api, {"public_token": public_token})

    assert response.status_code == 400
    assert response.json()["error_code"] == "INVALID_PUBLIC_TOKEN"
    assert "expired" in response.json()["error_message"]
    assert PublicToken.objects.get().used_at is None


def test_a_public_token_lasts_thirty_minutes(linked):
    before = timezone.now()
    services.public_token_issue(linked)
    after = timezone.now()

    expires_at = PublicToken.objects.get().expires_at
    lifetime = timedelta(minutes=30)
    assert before + lifetime <= expires_at <= after + lifetime


def test_an_unknown_public_token_is_refused(sandbox_api, public_token):
    response = exchange(sandbox_api, {"public_token": public_token + "x"})

    assert response.status_code == 400
    assert response.json()["error_message"] == (
        "The public_token is not valid for this API key."
    )


def test_another_organisations_token_looks_unknown(public_token, db):
    other_key, secret = api_key_create(OrganisationFactory(), Environment.SANDBOX)
    other_api = api_client(basic_auth(other_key.client_id, secret))

    response = exchange(other_api, {"public_token": public_token})

    assert response.status_code == 400
    assert response.json()["error_message"] == (
        "The public_token is not valid for this API key."
    )
    assert PublicToken.objects.get().used_at is None


def test_a_sandbox_token_does_not_open_with_the_production_key(
    organisation, public_token
):
    api_key, secret = api_key_create(organisation, Environment.PRODUCTION)
    production_api = api_client(basic_auth(api_key.client_id, secret))

    response = exchange(production_api, {"public_token": public_token})

    assert response.status_code == 400
    assert PublicToken.objects.get().used_at is None


def test_a_missing_public_token_is_named(sandbox_api):
    response = exchange(sandbox_api, {})

    assert response.status_code == 400
    assert response.json()["error_code"] == "MISSING_REQUIRED_FIELD"
    assert response.json()["error_message"].startswith("public_token")


def test_exchange_needs_the_api_key(public_token):
    response = exchange(api_client(), {"public_token": public_token})

    assert response.status_code == 401
    assert PublicToken.objects.get().used_at is None


def test_credentials_repeated_in_the_body_are_accepted(
    sandbox_api, sandbox_key, public_token
):
    api_key, secret = sandbox_key
    body = {
        "public_token": public_token,
        "client_id": str(api_key.client_id),
        "secret": secret,
    }

    response = exchange(sandbox_api, body)

    assert response.status_code == 200


def test_other_credentials_in_the_body_are_refused(
    sandbox_api, sandbox_key, public_token
):
    api_key, _secret = sandbox_key
    body = {
        "public_token": public_token,
        "client_id": str(api_key.client_id),
        "secret": "sk_sandbox_wrong",
    }

    response = exchange(sandbox_api, body)

    assert response.status_code == 401
    assert response.json()["error_code"] == "INVALID_CREDENTIALS"
    assert PublicToken.objects.get().used_at is None


def test_exchange_only_accepts_post(sandbox_api, public_token):
    response = sandbox_api.get(EXCHANGE)

    assert response.status_code == 405
    assert response.json()["error_code"] == "METHOD_NOT_ALLOWED"


@pytest.mark.django_db(transaction=True)
def test_concurrent_exchanges_of_one_token_succeed_once():
    organisation = OrganisationFactory()
    api_key, secret = api_key_create(organisation, Environment.SANDBOX)
    linked = ConnectionFactory(organisation=organisation, access_token=TOKEN)
    public_token = services.public_token_issue(linked)
    start = threading.Barrier(6)
    outcomes = []

    def attempt():
        start.wait()
        client = api_client(basic_auth(api_key.client_id, secret))
        try:
            response = exchange(client, {"public_token": public_token})
            outcomes.append(response.status_code)
        finally:
            db_connection.close()

    threads = [threading.Thread(target=attempt) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(outcomes) == [200, 400, 400, 400, 400, 400]
    assert Connection.objects.count() == 1


def test_our_api_document_describes_the_exchange_as_rutter_does(client, db):
    document = client.get("/versioned/openapi.json").json()

    operation = document["paths"][EXCHANGE]["post"]

    assert operation["operationId"] == "exchange-public-token"
    success = operation["responses"]["200"]["content"]["application/json"]
    assert success["schema"] == {"$ref": "#/components/schemas/ExchangeTokenResponse"}
    body = operation["requestBody"]["content"]["application/json"]["schema"]
    body_name = body["$ref"].rsplit("/", 1)[1]
    assert document["components"]["schemas"][body_name]["required"] == ["public_token"]
