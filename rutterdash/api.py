"""The Rutter-compatible REST API under /versioned/.

Conventions every router inherits, so an endpoint only adds its own logic:

- HTTP Basic auth with an API key's client id and secret; the key sets
  ``request.scope`` (organisation and environment) and ``request.api_key``;
- ``X-Rutter-Version`` must name a supported version, else 400;
- every failure, including validation, unknown paths, wrong methods and
  crashes, answers Rutter's error object (see rutterdash.api_errors);
- every response carries ``X-Rutter-Request-ID`` and is recorded in the
  request log (rutterdash.api_requests);
- each organisation is held to a rate limit (rutterdash.ratelimit);
- list answers that depend only on a connection's books are kept per
  books version and sent again without running ninja
  (connections.page_cache);
- writes honour ``Idempotency-Key`` and accepted writes carry
  ``X-Rutter-Job-ID`` (rutterdash.idempotency);
- the description at /versioned/openapi.json, rendered at /versioned/docs,
  uses Rutter's own response schemas (rutterdash.api_schema).

New endpoint groups are Routers added at the bottom of this module.
"""

import logging
import time
import uuid
from functools import partial, wraps

from django.core.exceptions import RequestDataTooBig
from django.http import Http404
from django.shortcuts import render
from django.urls import URLPattern, path
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, ValidationError

from accounts.api_auth import ApiKeyAuth, identify
from connections import page_cache
from connections.api import accounting as accounting_router
from connections.api import router as connections_router
from rutterdash import api_errors, api_requests, api_schema, idempotency
from rutterdash.api_errors import INVALID_REQUEST, ApiError
from rutterdash.idempotency import JOB_ID_HEADER

log = logging.getLogger(__name__)

VERSION_HEADER = "X-Rutter-Version"
REQUEST_ID_HEADER = "X-Rutter-Request-ID"
SUPPORTED_VERSIONS = ("2023-03-14", "2024-08-31")
BAD_CREDENTIALS = (
    "Missing or invalid client_id and client_secret; send them with HTTP "
    "Basic authentication."
)


class RutterAPI(NinjaAPI):
    """A NinjaAPI whose every URL, known or not, follows the conventions."""

    @property
    def urls(self):
        patterns, app_name, namespace = super().urls
        patterns = [_conventional_pattern(pattern) for pattern in patterns]
        patterns += [
            path("docs", _conventional(reference_page), name="reference"),
            path("<path:unknown>", _conventional(_unknown)),
        ]
        return patterns, app_name, namespace

    def get_openapi_schema(self, **kwargs):
        generated = super().get_openapi_schema(**kwargs)
        return api_schema.with_rutter_shapes(
            generated,
            versions=SUPPORTED_VERSIONS,
            version_header=VERSION_HEADER,
            request_id_header=REQUEST_ID_HEADER,
        )


def _conventional_pattern(pattern):
    view = _conventional(pattern.callback)
    return URLPattern(pattern.pattern, view, pattern.default_args, pattern.name)


def _conventional(view):
    """Wrap a view in identification, limits, idempotency and the log."""

    @wraps(view)
    def answered(request, *args, **kwargs):
        started = time.perf_counter()
        request.rutter_request_id = str(uuid.uuid4())

        response = _answer(request, partial(_run, view, *args, **kwargs))
        response[REQUEST_ID_HEADER] = request.rutter_request_id

        elapsed_ms = (time.perf_counter() - started) * 1000
        api_requests.record(request, response, elapsed_ms)
        return response

    # Basic auth, not cookies, authenticates these views: CSRF cannot apply.
    answered.csrf_exempt = True
    return answered


def _answer(request, run):
    try:
        return _limited(request, run)
    except Exception as error:
        return _crash(request, error)


def _limited(request, run):
    admission = identify(request)
    if admission is None:
        return run(request)

    request.rutter_admission = admission
    if admission.retry_after is not None:
        return api_errors.rate_limited(admission.retry_after).response()
    kept = page_cache.kept(request, admission)
    if kept is not None:
        return kept

    admission.admit(request)
    if idempotency.applies_to(request):
        return idempotency.run_once(request, run)
    response = run(request)
    page_cache.keep(request, admission, response)
    return response


def _run(view, request, *args, **kwargs):
    response = view(request, *args, **kwargs)
    if response.status_code == 405:
        return _method_not_allowed(request, response)

    accepted_write = 200 <= response.status_code < 300
    if accepted_write and request.method in idempotency.WRITE_METHODS:
        response.setdefault(JOB_ID_HEADER, str(uuid.uuid4()))
    return response


def _unknown(request, unknown):
    return api_errors.not_found().response()


def _method_not_allowed(request, refusal):
    response = api_errors.method_not_allowed(request.method).response()
    response["Allow"] = refusal["Allow"]
    return response


def reference_page(request):
    document = api.get_openapi_schema(path_prefix="/versioned")
    context = {"operations": api_schema.operations(document)}
    return render(request, "api/reference.html", context)


def require_version(run):
    """Refuse, before authentication, requests without a supported version."""

    @wraps(run)
    def versioned(request, *args, **kwargs):
        version = request.headers.get(VERSION_HEADER)
        if version not in SUPPORTED_VERSIONS:
            return _version_refused(version).response()

        request.rutter_version = version
        return run(request, *args, **kwargs)

    return versioned


def _version_refused(version):
    supported = " or ".join(SUPPORTED_VERSIONS)
    if not version:
        return api_errors.invalid_version(
            f"The {VERSION_HEADER} header is required: send {supported}."
        )
    return api_errors.invalid_version(
        f"Unsupported {VERSION_HEADER} {api_errors.echoed(version)}: send {supported}."
    )


api = RutterAPI(
    title="Rutterdash API",
    version="2023-03-14",
    urls_namespace="api",
    auth=ApiKeyAuth(),
    docs_url=None,
)
api.add_decorator(require_version, mode="view")


@api.exception_handler(ApiError)
def _api_error(request, error):
    return error.response()


@api.exception_handler(AuthenticationError)
def _authentication_error(request, error):
    response = api_errors.invalid_credentials(BAD_CREDENTIALS).response()
    response["WWW-Authenticate"] = 'Basic realm="Rutterdash API"'
    return response


@api.exception_handler(ValidationError)
def _validation_error(request, error):
    return validation_problem(error.errors[0]).response()


@api.exception_handler(Http404)
def _not_found(request, error):
    # Rutter is moving "no such id" from 404 to 410; endpoints that have
    # moved raise api_errors.resource_gone() instead of Http404.
    return api_errors.not_found().response()


@api.exception_handler(HttpError)
def _http_error(request, error):
    code = "MALFORMED_REQUEST" if error.status_code == 400 else "REQUEST_ERROR"
    refusal = ApiError(error.status_code, INVALID_REQUEST, code, error.message)
    return refusal.response()


@api.exception_handler(Exception)
def _crash(request, error):
    # Reading an oversized body can fail inside or before ninja; both end here.
    if isinstance(error, RequestDataTooBig):
        return api_errors.body_too_large().response()
    request_id = getattr(request, "rutter_request_id", None)
    log.exception("API request %s failed", request_id)
    return api_errors.internal_error().response()


def validation_problem(problem):
    """The ApiError for one of ninja's (pydantic's) validation problems."""
    field = _field_name(problem["loc"])
    if problem["type"] == "missing":
        return api_errors.missing_field(field)
    return api_errors.invalid_field(field, problem["msg"])


def _field_name(location):
    # ("body", "body", "platform") or ("query", "limit"): drop the source
    # and, for bodies, the endpoint's parameter name.
    source, *rest = location
    if source == "body":
        rest = rest[1:]
    return ".".join(str(part) for part in rest) or "request body"


api.add_router("/connections", connections_router)
api.add_router("/accounting", accounting_router)
import connections.api_writes  # noqa: E402, F401 (adds POSTs to accounting_router)

api.add_router("/accounting", "connections.api_statements.router")
api.add_router("/item", "link.api.router")
api.add_router("/configs/webhooks", "webhooks.api.router")
