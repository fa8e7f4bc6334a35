"""Validate our API's responses against Rutter's published OpenAPI document.

The document is loaded once per test run. Four things are adjusted before
it reaches the validator, each to keep Rutter's meaning rather than to relax
it (see /work/shared/reference/README.md):

- integer mapping keys (response codes) become strings;
- ``nullable: true``, a 3.0 keyword the 3.1 document still uses, becomes the
  3.1 spelling (``null`` added to ``type`` and ``enum``); a 3.1 validator
  ignores ``nullable`` and would refuse every null Rutter documents;
- the expense line's 3.0-style ``exclusiveMinimum: true`` becomes
  ``exclusiveMinimum: 0`` ("greater than 0", as Rutter means it);
- a nullable ``$ref`` that also carries ``type: null`` loses that empty type.
"""

from functools import cache
from pathlib import Path

import yaml
from openapi_core import Config, OpenAPI
from openapi_core.testing import MockRequest, MockResponse

SCHEMA_PATH = Path("/work/shared/reference/rutter-openapi-2023-03-14.yaml")
SERVER = "https://sandbox.rutterapi.com"
BASE_PATH = "/versioned"


def assert_matches_schema(method, path_template, response):
    """Fail unless the response is a 200 whose body Rutter's schema accepts."""
    assert response.status_code == 200, response.content

    request = _request(method, path_template)
    rutter_response = MockResponse(
        response.content,
        status_code=response.status_code,
        content_type=response["Content-Type"],
    )
    rutter_openapi().validate_response(request, rutter_response)


def _request(method, path_template):
    path = BASE_PATH + path_template
    return MockRequest(SERVER, method.lower(), path, path_pattern=path)


@cache
def rutter_openapi():
    document = rutter_document()
    return OpenAPI.from_dict(document, config=Config(spec_validator_cls=None))


@cache
def rutter_document():
    with SCHEMA_PATH.open() as stream:
        raw = yaml.safe_load(stream)
    return _as_openapi_31(raw)


def _as_openapi_31(node):
    if isinstance(node, list):
        return [_as_openapi_31(item) for item in node]
    if not isinstance(node, dict):
        return node

    converted = {str(key): _as_openapi_31(value) for key, value in node.items()}
    _fix_exclusive_minimum(converted)
    if converted.pop("nullable", False) is True:
        converted = _allow_null(converted)
    return converted


def _fix_exclusive_minimum(schema):
    if schema.get("exclusiveMinimum") is True:
        schema["exclusiveMinimum"] = schema.pop("minimum", 0)


def _allow_null(schema):
    if "$ref" in schema:
        # The income statement's cost_of_sales pairs its $ref with a bare
        # `type: null`, which is no type at all; Rutter means "or null".
        if schema.get("type", "") is None:
            del schema["type"]
        return {"anyOf": [schema, {"type": "null"}]}

    kind = schema.get("type")
    if kind is not None:
        kinds = kind if isinstance(kind, list) else [kind]
        schema["type"] = [*kinds, "null"]
    if "enum" in schema:
        schema["enum"] = [*schema["enum"], None]
    return schema
