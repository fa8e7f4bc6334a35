"""The API's one error shape, with the types and codes Rutter documents.

Every failure under /versioned/ answers
``{"error_type": ..., "error_code": ..., "error_message": ...}``.
Endpoints raise ``ApiError`` (usually through the helpers below) and the
API's exception handlers turn it, and every other failure, into that shape.
"""

from django.conf import settings
from django.http import JsonResponse
from django.utils.text import Truncator

CONNECTION_ERROR = "CONNECTION_ERROR"
INVALID_REQUEST = "INVALID_REQUEST"
API_ERROR = "API_ERROR"


class ApiError(Exception):
    def __init__(self, status, error_type, error_code, message):
        super().__init__(message)
        self.status = status
        self.error_type = error_type
        self.error_code = error_code
        self.message = message
        self.headers = {}

    def body(self):
        return {
            "error_type": self.error_type,
            "error_code": self.error_code,
            "error_message": self.message,
        }

    def response(self):
        response = JsonResponse(self.body(), status=self.status)
        for name, value in self.headers.items():
            response[name] = value
        return response


def echoed(value, limit=40):
    """The caller's input quoted for a message, cut so a huge value stays short."""
    return repr(Truncator(str(value)).chars(limit + 1))


def invalid_credentials(message):
    return ApiError(401, CONNECTION_ERROR, "INVALID_CREDENTIALS", message)


def invalid_field(field, problem):
    message = f"{field}: {problem}"
    return ApiError(400, INVALID_REQUEST, "INVALID_FIELD", message)


def missing_field(field):
    message = f"{field}: this field is required."
    return ApiError(400, INVALID_REQUEST, "MISSING_REQUIRED_FIELD", message)


def invalid_version(message):
    return ApiError(400, INVALID_REQUEST, "INVALID_VERSION", message)


def not_found(message="No such endpoint or resource."):
    return ApiError(404, INVALID_REQUEST, "NOT_FOUND", message)


def method_not_allowed(method):
    message = f"{method} is not allowed on this endpoint."
    return ApiError(405, INVALID_REQUEST, "METHOD_NOT_ALLOWED", message)


def product_not_ready():
    message = (
        "The connection's initial sync has not finished yet. Try again later, "
        "or pass force_fetch=true to read what has been synced so far."
    )
    return ApiError(409, CONNECTION_ERROR, "PRODUCT_NOT_READY", message)


def connection_disabled():
    message = "This connection is disabled. Enable it from the dashboard."
    return ApiError(409, CONNECTION_ERROR, "CONNECTION_DISABLED", message)


def body_too_large():
    limit_mb = settings.DATA_UPLOAD_MAX_MEMORY_SIZE / (1024 * 1024)
    message = f"The request body is larger than the {limit_mb:.1f} MB allowed."
    return ApiError(413, INVALID_REQUEST, "REQUEST_TOO_LARGE", message)


def resync_refused(message):
    return ApiError(409, INVALID_REQUEST, "RESYNC_WOULD_ERASE_WRITES", message)


def needs_update():
    message = (
        "The business needs to authorise this connection again through its link_url."
    )
    return ApiError(409, CONNECTION_ERROR, "NEEDS_UPDATE", message)


def awaiting_link():
    message = (
        "The business has not authorised this connection yet; send them to "
        "its link_url."
    )
    return ApiError(409, CONNECTION_ERROR, "CONNECTION_NOT_AUTHORISED", message)


def internal_error():
    message = "Something went wrong on our side. The request ID identifies it."
    return ApiError(500, API_ERROR, "INTERNAL_SERVER_ERROR", message)


def resource_gone(message="No such resource for this connection."):
    """Rutter's 410: the endpoint exists, the id asked for does not."""
    return ApiError(410, INVALID_REQUEST, "RESOURCE_NOT_FOUND", message)


def rate_limited(retry_after):
    message = (
        "Too many requests for this organisation. "
        f"Try again in {retry_after} seconds."
    )
    error = ApiError(429, INVALID_REQUEST, "RATE_LIMIT_EXCEEDED", message)
    error.headers = {"Retry-After": str(retry_after)}
    return error


def idempotency_key_reused():
    message = (
        "This Idempotency-Key was already used with a different request. "
        "Send a new key for a new request."
    )
    return ApiError(409, INVALID_REQUEST, "IDEMPOTENCY_KEY_REUSED", message)


def idempotent_request_in_progress():
    message = (
        "A request with this Idempotency-Key is still being processed. "
        "Retry once it has finished."
    )
    return ApiError(409, INVALID_REQUEST, "IDEMPOTENCY_KEY_IN_USE", message)


def invalid_idempotency_key():
    message = "Idempotency-Key must be between 1 and 255 characters."
    return ApiError(400, INVALID_REQUEST, "INVALID_IDEMPOTENCY_KEY", message)
