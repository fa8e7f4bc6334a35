"""Property-based fuzzing of the API against its own served OpenAPI document.

Every operation gets a bounded number of generated requests, sent through
Django's WSGI handler with a valid key and, where a case names a
connection, a real access token. No answer may be a 500 or stray from the
document (status, content type, body schema, errors included).
"""

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from accounts.services import api_key_create
from rutterdash.api import api
from rutterdash.environments import Environment
from tests.api_support import add_chart, add_invoice, basic_auth
from tests.factories import ConnectionFactory

EXAMPLES_PER_OPERATION = 12
TOKEN = "access-fuzz-token"
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.fixture
def keep_test_connection():
    """Like Django's test client: the test's transaction must stay open."""
    for signal in (request_started, request_finished):
        signal.disconnect(close_old_connections)
    yield
    for signal in (request_started, request_finished):
        signal.connect(close_old_connections)


@pytest.fixture
def fuzz_headers(organisation, settings, keep_test_connection):
    settings.RATE_LIMIT_REQUESTS = 1_000_000
    connection = ConnectionFactory(organisation=organisation, access_token=TOKEN)
    chart = add_chart(connection)
    add_invoice(connection, chart, 1, "120.00", paid="20.00")

    api_key, secret = api_key_create(organisation, Environment.SANDBOX)
    return {
        "Authorization": basic_auth(api_key.client_id, secret),
        "X-Rutter-Version": "2023-03-14",
    }


def _schema():
    document = api.get_openapi_schema(path_prefix="/versioned")
    schema = schemathesis.openapi.from_dict(document)
    schema.app = get_wsgi_application()
    return schema


def _operations():
    return [result.ok() for result in _schema().get_all_operations()]


@pytest.mark.django_db(transaction=False)
def test_no_generated_request_crashes_or_strays_from_the_document(fuzz_headers):
    for operation in _operations():
        _fuzz(operation, fuzz_headers)


def _fuzz(operation, headers):
    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy())
    def check(case):
        if case.query and "access_token" in case.query:
            case.query["access_token"] = TOKEN
        case.call_and_validate(headers=headers, checks=CHECKS)

    check()
