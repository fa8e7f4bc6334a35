"""Our OpenAPI document, speaking Rutter's shapes.

Ninja describes our endpoints; for every operation Rutter also documents,
the 200 response is replaced by Rutter's own (and the components it needs
are copied in), so the document cannot drift from the shapes we promise.
Every operation also documents the error object for each error status.

Rutter's document says ``nullable: true`` in a 3.1 document; it is served
in the 3.1 spelling (``null`` in ``type``), which is what Rutter means;
the same fixes as tests/openapi.py, whose copy the tests compare with.
"""

import copy
import json
import re
from functools import cache
from pathlib import Path

from rutterdash import idempotency

RUTTER_DOCUMENT = Path(__file__).parent / "reference" / "rutter-openapi-2023-03-14.json"
BASE_PATH = "/versioned"
METHODS = ("get", "post", "patch", "put", "delete")
ERROR_STATUSES = ("400", "401", "404", "405", "409", "410", "429", "500")
ERROR_SCHEMA = "RutterError"
SCHEMAS_REF = "#/components/schemas/"
PATH_PARAMETER = re.compile(r"\{[^}]*\}")
RETRY_AFTER_HEADER = "Retry-After"


def with_rutter_shapes(generated, *, versions, version_header, request_id_header):
    """Ninja's document with Rutter's shapes and the conventions' headers.

    ``versions`` are the values ``version_header`` may take; every answer
    carries ``request_id_header``.
    """
    document = json.loads(json.dumps(generated))
    wanted = set()
    for served_path, method, operation in _operations(document):
        rutter_operation = rutter_operation_for(served_path, method)
        if rutter_operation is not None:
            _adopt(operation, rutter_operation, wanted)
        _document_errors(operation)
        _document_headers(
            operation, method, versions, version_header, request_id_header
        )

    _add_components(document, wanted)
    return document


def rutter_operation_for(served_path, method):
    """Rutter's operation for one of ours; path parameter names may differ."""
    rutter_path = _rutter_paths().get(_template(served_path))
    if rutter_path is None:
        return None
    return rutter_document()["paths"][rutter_path].get(method)


@cache
def _rutter_paths():
    return {_template(p): p for p in rutter_document()["paths"]}


def _template(served_path):
    return PATH_PARAMETER.sub("{}", served_path.removeprefix(BASE_PATH))


def _operations(document):
    for served_path, item in document["paths"].items():
        for method in METHODS:
            if method in item:
                yield served_path, method, item[method]


def _adopt(operation, rutter_operation, wanted):
    success = copy.deepcopy(rutter_operation["responses"]["200"])
    for media in success.get("content", {}).values():
        media.pop("examples", None)
    operation["responses"]["200"] = success
    operation["operationId"] = rutter_operation["operationId"]
    wanted.update(_refs(success))


def _document_errors(operation):
    for status in ERROR_STATUSES:
        # One object per status: their headers differ (429's Retry-After).
        error = {
            "description": "Rutter's error object.",
            "content": {
                "application/json": {"schema": {"$ref": SCHEMAS_REF + ERROR_SCHEMA}}
            },
        }
        operation["responses"].setdefault(status, error)


def _document_headers(operation, method, versions, version_header, request_id_header):
    """The headers every call sends and every answer carries (rutterdash.api)."""
    write = method.upper() in idempotency.WRITE_METHODS
    parameters = operation.setdefault("parameters", [])
    parameters.append(
        {
            "name": version_header,
            "in": "header",
            "required": True,
            "description": "The API version; a call without a supported one is "
            "refused with 400 INVALID_VERSION.",
            "schema": {"type": "string", "enum": list(versions)},
        }
    )
    if write:
        parameters.append(
            {
                "name": idempotency.HEADER,
                "in": "header",
                "required": False,
                "description": "Sending the same key and body again within 24 "
                "hours replays the first accepted answer; the same key with "
                "another body is refused with 409.",
                "schema": {
                    "type": "string",
                    "minLength": 1,
                    "maxLength": idempotency.MAX_KEY_LENGTH,
                },
            }
        )

    for status, response in operation["responses"].items():
        headers = response.setdefault("headers", {})
        headers[request_id_header] = {
            "description": "Identifies the request in the request log.",
            "required": True,
            "schema": {"type": "string", "format": "uuid"},
        }
        if write and status.startswith("2"):
            headers[idempotency.JOB_ID_HEADER] = {
                "description": "The job that carried out the write.",
                "required": True,
                "schema": {"type": "string"},
            }
        if status == "429":
            headers[RETRY_AFTER_HEADER] = {
                "description": "Seconds until the organisation's rate limit "
                "admits requests again.",
                "required": True,
                "schema": {"type": "integer", "minimum": 1},
            }


def _add_components(document, wanted):
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    rutter_schemas = rutter_document()["components"]["schemas"]
    for name in _closure(wanted, rutter_schemas):
        if schemas.get(name, rutter_schemas[name]) != rutter_schemas[name]:
            raise ValueError(f"Rename our schema {name}: Rutter's has that name.")
        schemas[name] = rutter_schemas[name]
    schemas[ERROR_SCHEMA] = _error_schema()


def _closure(names, rutter_schemas):
    pending, seen = list(names), set()
    while pending:
        name = pending.pop()
        if name not in seen:
            seen.add(name)
            pending.extend(_refs(rutter_schemas[name]))
    return sorted(seen)


def _refs(node):
    """Names of the components a schema refers to, however deep."""
    if isinstance(node, list):
        return {name for item in node for name in _refs(item)}
    if not isinstance(node, dict):
        return set()

    found = {name for value in node.values() for name in _refs(value)}
    target = node.get("$ref", "")
    if target.startswith(SCHEMAS_REF):
        found.add(target.removeprefix(SCHEMAS_REF).split("/")[0])
    return found


def _error_schema():
    text = {"type": "string"}
    fields = ["error_type", "error_code", "error_message"]
    return {
        "type": "object",
        "properties": dict.fromkeys(fields, text),
        "required": fields,
        "additionalProperties": False,
    }


@cache
def rutter_document():
    with RUTTER_DOCUMENT.open() as stream:
        return _as_openapi_31(json.load(stream))


def _as_openapi_31(node):
    if isinstance(node, list):
        return [_as_openapi_31(item) for item in node]
    if not isinstance(node, dict):
        return node

    converted = {key: _as_openapi_31(value) for key, value in node.items()}
    if converted.get("exclusiveMinimum") is True:
        converted["exclusiveMinimum"] = converted.pop("minimum", 0)
    if converted.pop("nullable", False) is True:
        converted = _allow_null(converted)
    return converted


def _allow_null(schema):
    if "$ref" in schema:
        # The income statement's cost_of_sales pairs its $ref with a bare
        # ``type: null``, which is no type at all; Rutter means "or null".
        if "type" in schema and schema["type"] is None:
            del schema["type"]
        return {"anyOf": [schema, {"type": "null"}]}

    kind = schema.get("type")
    if kind is not None:
        kinds = kind if isinstance(kind, list) else [kind]
        schema["type"] = [*kinds, "null"]
    if "enum" in schema:
        schema["enum"] = [*schema["enum"], None]
    return schema


def operations(document):
    """The document's operations, flattened for the reference page."""
    listed = []
    for served_path, item in document["paths"].items():
        for method in METHODS:
            if method in item:
                listed.append(_summary(document, served_path, method, item))
    return listed


def _summary(document, served_path, method, item):
    operation = item[method]
    success = operation["responses"].get("200", {})
    schema = success.get("content", {}).get("application/json", {})
    return {
        "method": method.upper(),
        "path": served_path,
        "id": operation.get("operationId", ""),
        "parameters": operation.get("parameters", []),
        "response_fields": _fields(document, schema.get("schema", {})),
        "errors": [s for s in operation["responses"] if s != "200"],
        "response_headers": _response_headers(operation["responses"]),
    }


def _response_headers(responses):
    """Each response header with the statuses that carry it, for the page."""
    statuses = {}
    for status, response in responses.items():
        for name in response.get("headers", {}):
            statuses.setdefault(name, []).append(status)
    return [
        {
            "name": name,
            "statuses": "every answer"
            if len(carried) == len(responses)
            else ", ".join(carried),
        }
        for name, carried in statuses.items()
    ]


def _fields(document, schema):
    schema = _resolved(document, schema)
    required = set(schema.get("required", []))
    return [
        {
            "name": name,
            "type": _type_name(document, field),
            "required": name in required,
        }
        for name, field in schema.get("properties", {}).items()
    ]


def _type_name(document, schema):
    if "$ref" in schema:
        return schema["$ref"].removeprefix(SCHEMAS_REF)
    kind = schema.get("type", "any")
    return " | ".join(kind) if isinstance(kind, list) else kind


def _resolved(document, schema):
    while "$ref" in schema:
        node = document
        for part in schema["$ref"].removeprefix("#/").split("/"):
            node = node[part]
        schema = node
    return schema
