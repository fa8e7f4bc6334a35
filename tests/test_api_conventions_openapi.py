"""Our served OpenAPI document and the reference page rendered from it."""

import pytest

from rutterdash import api as rutterdash_api
from rutterdash import api_schema
from tests.openapi import rutter_document

METHODS = ("get", "post", "patch", "put", "delete")


@pytest.fixture
def served(client, db):
    response = client.get("/versioned/openapi.json")
    assert response.status_code == 200
    return response.json()


def _operations(document):
    for served_path, item in document["paths"].items():
        for method in METHODS:
            if method in item:
                yield served_path, method, item[method]


def _implemented(document):
    """Our operations Rutter documents too, with Rutter's operation."""
    for served_path, method, operation in _operations(document):
        rutter = api_schema.rutter_operation_for(served_path, method)
        if rutter is not None:
            yield served_path, method, operation, rutter


def test_the_document_describes_the_versioned_api(served):
    assert served["openapi"].startswith("3.1")
    assert "/versioned/accounting/accounts" in served["paths"]
    assert "/versioned/connections/create" in served["paths"]


def test_implemented_operations_answer_rutters_own_response(served):
    implemented = list(_implemented(served))

    for _path, _method, operation, rutter in implemented:
        assert operation["operationId"] == rutter["operationId"]
        ours = operation["responses"]["200"]["content"]
        theirs = rutter["responses"]["200"]["content"]
        assert (
            ours["application/json"]["schema"] == (theirs["application/json"]["schema"])
        )
    assert len(implemented) >= 10


def test_every_schema_those_responses_need_is_served_as_rutter_has_it(served):
    rutter_schemas = rutter_document()["components"]["schemas"]
    served_schemas = served["components"]["schemas"]
    responses = [op["responses"]["200"] for *_, op, _ in _implemented(served)]

    needed = api_schema._closure(api_schema._refs(responses), served_schemas)

    for name in needed:
        assert served_schemas[name] == rutter_schemas[name], name
    assert "ListAccountResponseWithConnection" in needed


def test_every_schema_the_document_refers_to_is_in_it(served):
    referred = api_schema._refs(served)

    assert referred <= set(served["components"]["schemas"])


def test_every_operation_documents_the_error_object(served):
    error_ref = {"$ref": "#/components/schemas/RutterError"}

    for _path, _method, operation in _operations(served):
        for status in ("400", "401", "409", "410", "429", "500"):
            media = operation["responses"][status]["content"]
            assert media["application/json"]["schema"] == error_ref


def test_the_reference_page_lists_operations_and_response_fields(client, db):
    response = client.get("/versioned/docs")

    page = response.content.decode()
    assert response.status_code == 200
    assert "GET /versioned/accounting/accounts" in page
    assert "<code>next_cursor</code>" in page
    assert "<code>access_token</code>" in page


def test_the_reference_page_loads_nothing_from_elsewhere(client, db):
    page = client.get("/versioned/docs").content.decode()

    assert 'src="http' not in page
    assert 'href="http' not in page
    assert "<script" not in page


WRITE_METHODS = {"post", "patch", "delete"}


def _header_parameters(operation):
    return {
        parameter["name"]: parameter
        for parameter in operation.get("parameters", [])
        if parameter["in"] == "header"
    }


def test_every_operation_requires_the_version_header_with_its_two_values(served):
    operations = list(_operations(served))

    for path, method, operation in operations:
        version = _header_parameters(operation).get("X-Rutter-Version")
        assert version is not None, (method, path)
        assert version["required"] is True
        assert version["schema"] == {
            "type": "string",
            "enum": ["2023-03-14", "2024-08-31"],
        }
    assert len(operations) >= 30


def test_the_documented_versions_are_the_ones_the_api_accepts(served):
    parameters = _header_parameters(served["paths"]["/versioned/connections"]["get"])

    assert tuple(parameters["X-Rutter-Version"]["schema"]["enum"]) == (
        rutterdash_api.SUPPORTED_VERSIONS
    )


def test_every_write_takes_an_optional_idempotency_key_and_reads_do_not(served):
    writes = 0
    for path, method, operation in _operations(served):
        key = _header_parameters(operation).get("Idempotency-Key")
        if method not in WRITE_METHODS:
            assert key is None, (method, path)
            continue
        writes += 1
        assert key is not None, (method, path)
        assert key["required"] is False
        assert key["schema"] == {"type": "string", "minLength": 1, "maxLength": 255}
    assert writes >= 10


def test_answers_declare_request_id_job_id_and_retry_after_headers(served):
    for path, method, operation in _operations(served):
        for status, response in operation["responses"].items():
            headers = response["headers"]
            assert headers["X-Rutter-Request-ID"]["required"] is True, (path, status)
            accepted_write = method in WRITE_METHODS and status.startswith("2")
            assert ("X-Rutter-Job-ID" in headers) is accepted_write, (path, status)
        retry_after = operation["responses"]["429"]["headers"]["Retry-After"]
        assert retry_after["required"] is True
        assert retry_after["schema"] == {"type": "integer", "minimum": 1}


def test_the_reference_page_shows_the_headers_per_operation(client, db):
    page = client.get("/versioned/docs").content.decode()
    operations = page.count("<section id=")

    assert page.count("<td><code>X-Rutter-Version</code></td>") == operations
    assert page.count("<code>2023-03-14</code>, <code>2024-08-31</code>") == (
        operations
    )
    assert page.count("<td><code>Idempotency-Key</code></td>") >= 10
    assert page.count("<code>Retry-After</code> (429)") == operations
    assert page.count("<code>X-Rutter-Request-ID</code> (every answer)") == (operations)
