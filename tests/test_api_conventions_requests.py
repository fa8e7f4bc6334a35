"""Request log, rate limit, idempotency, job ids and 410 for the API."""

import json
import uuid
from datetime import timedelta

import pytest
from django.http import Http404
from django.utils import timezone

from accounts.models import ApiRequest, IdempotencyKey
from accounts.services import api_key_create
from connections.models import Connection
from rutterdash import api_errors, api_requests, ratelimit
from rutterdash.environments import Environment
from rutterdash.idempotency import request_hash
from tests.api_support import api_client, basic_auth, client_for
from tests.factories import ConnectionFactory

CREATE = "/versioned/connections/create"
JSON = "application/json"


@pytest.fixture
def sandbox_key(organisation):
    return api_key_create(organisation, Environment.SANDBOX)


@pytest.fixture
def sandbox_api(sandbox_key):
    api_key, secret = sandbox_key
    return api_client(basic_auth(api_key.client_id, secret))


def _create(client, platform="QUICKBOOKS", key=None):
    headers = {"Idempotency-Key": key} if key else {}
    body = json.dumps({"platform": platform})
    return client.post(CREATE, body, content_type=JSON, headers=headers)


def test_a_request_is_logged_with_its_key_and_outcome(sandbox_api, sandbox_key):
    response = sandbox_api.get("/versioned/connections")

    logged = ApiRequest.objects.get()
    assert response.status_code == 200
    assert str(logged.request_id) == response["X-Rutter-Request-ID"]
    assert logged.api_key == sandbox_key[0]
    assert logged.organisation == sandbox_key[0].organisation
    assert logged.environment == Environment.SANDBOX
    assert (logged.method, logged.path) == ("GET", "/versioned/connections")
    assert logged.status == 200
    assert logged.duration_ms >= 0


def test_the_log_names_the_connection_the_token_opened(sandbox_api, organisation):
    connection = ConnectionFactory(organisation=organisation, access_token="tok-1")

    sandbox_api.get("/versioned/connections/status", {"access_token": "tok-1"})

    assert ApiRequest.objects.get().connection == connection


def test_the_log_keeps_no_body(sandbox_api):
    _create(sandbox_api, platform="SECRET_PLATFORM_NAME")

    logged = ApiRequest.objects.get()
    stored = " ".join(str(value) for value in vars(logged).values())
    assert logged.status == 400
    assert "SECRET_PLATFORM_NAME" not in stored


def test_a_refused_request_is_logged_without_a_key(db):
    response = api_client().get("/versioned/connections")

    logged = ApiRequest.objects.get()
    assert response.status_code == 401
    assert logged.status == 401
    assert logged.api_key is None
    assert logged.organisation is None


def test_an_accepted_write_carries_a_job_id(sandbox_api):
    response = _create(sandbox_api)

    assert response.status_code == 200
    assert uuid.UUID(response["X-Rutter-Job-ID"])


def test_a_refused_write_carries_no_job_id(sandbox_api):
    response = _create(sandbox_api, platform="NOPE")

    assert response.status_code == 400
    assert "X-Rutter-Job-ID" not in response


def test_the_same_key_and_body_replays_the_first_response(sandbox_api):
    first = _create(sandbox_api, key="key-1")
    second = _create(sandbox_api, key="key-1")

    assert second.status_code == first.status_code == 200
    assert second.content == first.content
    assert second["X-Rutter-Job-ID"] == first["X-Rutter-Job-ID"]
    assert Connection.objects.count() == 1


def test_the_same_key_with_another_body_is_a_conflict(sandbox_api):
    _create(sandbox_api, key="key-1")

    response = _create(sandbox_api, platform="XERO", key="key-1")

    assert response.status_code == 409
    assert response.json()["error_code"] == "IDEMPOTENCY_KEY_REUSED"
    assert Connection.objects.count() == 1


def test_the_same_body_formatted_differently_still_replays(sandbox_api):
    first = _create(sandbox_api, key="key-1")
    spaced = '{ "platform" :  "QUICKBOOKS" }\n'

    second = sandbox_api.post(
        CREATE, spaced, content_type=JSON, headers={"Idempotency-Key": "key-1"}
    )

    assert second.status_code == 200
    assert second.content == first.content
    assert Connection.objects.count() == 1


def test_different_keys_make_different_writes(sandbox_api):
    _create(sandbox_api, key="key-1")
    _create(sandbox_api, key="key-2")

    assert Connection.objects.count() == 2


def test_a_refused_write_leaves_its_key_free_for_a_retry(sandbox_api):
    refused = _create(sandbox_api, platform="NOPE", key="key-1")
    retried = _create(sandbox_api, key="key-1")

    assert refused.status_code == 400
    assert retried.status_code == 200
    assert Connection.objects.count() == 1


def test_a_key_still_being_processed_is_a_conflict(
    sandbox_api, sandbox_key, rf
):
    api_key = sandbox_key[0]
    body = json.dumps({"platform": "QUICKBOOKS"})
    IdempotencyKey.objects.create(
        organisation=api_key.organisation,
        environment=api_key.environment,
        key="key-1",
        request_hash=request_hash(rf.post(CREATE, body, content_type=JSON)),
    )

    response = _create(sandbox_api, key="key-1")

    assert response.status_code == 409
    assert response.json()["error_code"] == "IDEMPOTENCY_KEY_IN_USE"
    assert Connection.objects.count() == 0


def test_keys_expire_after_a_day(sandbox_api):
    _create(sandbox_api, key="key-1")
    a_day_ago = timezone.now() - timedelta(hours=24, seconds=1)
    IdempotencyKey.objects.update(created=a_day_ago)

    response = _create(sandbox_api, platform="XERO", key="key-1")

    assert response.status_code == 200
    assert Connection.objects.count() == 2


def test_keys_belong_to_one_organisation(sandbox_api, organisation):
    _create(sandbox_api, key="key-1")
    other_key, secret = api_key_create(
        ConnectionFactory().organisation, Environment.SANDBOX
    )
    other_api = api_client(basic_auth(other_key.client_id, secret))

    response = _create(other_api, platform="XERO", key="key-1")

    assert response.status_code == 200
    assert IdempotencyKey.objects.count() == 2


def test_going_over_the_rate_limit_answers_429(sandbox_api, settings):
    settings.RATE_LIMIT_REQUESTS = 2
    settings.RATE_LIMIT_WINDOW_SECONDS = 60

    statuses = [sandbox_api.get("/versioned/connections").status_code for _ in "abc"]
    refused = sandbox_api.get("/versioned/connections")

    assert statuses == [200, 200, 429]
    assert refused.json()["error_code"] == "RATE_LIMIT_EXCEEDED"
    assert 1 <= int(refused["Retry-After"]) <= 60
    assert uuid.UUID(refused["X-Rutter-Request-ID"])


def test_the_limit_is_per_organisation(sandbox_api, settings):
    settings.RATE_LIMIT_REQUESTS = 1
    sandbox_api.get("/versioned/connections")
    other_key, secret = api_key_create(
        ConnectionFactory().organisation, Environment.SANDBOX
    )
    other_api = api_client(basic_auth(other_key.client_id, secret))

    response = other_api.get("/versioned/connections")

    assert response.status_code == 200
    assert sandbox_api.get("/versioned/connections").status_code == 429


def test_a_new_window_starts_a_new_count(sandbox_api, settings, monkeypatch):
    settings.RATE_LIMIT_REQUESTS = 1
    settings.RATE_LIMIT_WINDOW_SECONDS = 10
    _freeze_clock(monkeypatch, 1_000_005.0)
    sandbox_api.get("/versioned/connections")
    refused = sandbox_api.get("/versioned/connections")
    _freeze_clock(monkeypatch, 1_000_010.0)

    response = sandbox_api.get("/versioned/connections")

    assert refused.status_code == 429
    assert refused["Retry-After"] == "5"
    assert response.status_code == 200


def test_an_endpoint_may_answer_a_missing_resource_as_gone(
    sandbox_api, organisation, monkeypatch
):
    def missing(connection):
        raise api_errors.resource_gone()

    monkeypatch.setattr("connections.serializers.connection_listed", missing)
    ConnectionFactory(organisation=organisation)

    response = sandbox_api.get("/versioned/connections")

    assert response.status_code == 410
    assert response.json()["error_code"] == "RESOURCE_NOT_FOUND"


def test_http404_from_an_endpoint_answers_not_found(
    sandbox_api, organisation, monkeypatch
):
    def missing(connection):
        raise Http404("no such thing")

    monkeypatch.setattr("connections.serializers.connection_listed", missing)
    ConnectionFactory(organisation=organisation)

    response = sandbox_api.get("/versioned/connections")

    assert response.status_code == 404
    assert response.json()["error_code"] == "NOT_FOUND"


def _freeze_clock(monkeypatch, now):
    monkeypatch.setattr(ratelimit, "_now", lambda: now)


def test_an_oversized_body_is_refused_with_the_error_object(organisation, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    api = client_for(organisation, Environment.SANDBOX)

    response = api.post(
        "/versioned/connections/create",
        data=json.dumps({"platform": "QUICKBOOKS", "scope": "x" * 4096}),
        content_type="application/json",
    )

    assert response.status_code == 413
    assert response.json()["error_code"] == "REQUEST_TOO_LARGE"
    assert response["X-Rutter-Request-ID"]


@pytest.mark.django_db(transaction=True)
def test_a_path_with_a_nul_byte_costs_no_other_request_its_log_row(
    sandbox_api, settings
):
    # PostgreSQL refused the NUL, psycopg's own error skipped the fallback,
    # and every row of the worker's batch was dropped.
    settings.API_REQUEST_LOG_FLUSH_SECONDS = 60
    if not api_requests._batching():
        pytest.skip("rows are batched on PostgreSQL only")
    api_client().get("/versioned/x%00y")
    sandbox_api.get("/versioned/connections")

    api_requests.flush()

    paths = set(ApiRequest.objects.values_list("path", flat=True))
    assert paths == {"/versioned/x\ufffdy", "/versioned/connections"}
