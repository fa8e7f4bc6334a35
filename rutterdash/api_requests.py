"""The request log: one row per API request, written after it is answered.

A failure to write the row is logged, never turned into a failed request.
"""

import logging

from django.db import DatabaseError

from accounts.models import ApiRequest
from connections import services
from rutterdash.bookkeeping import commit_without_waiting

log = logging.getLogger(__name__)

MAX_PATH = ApiRequest._meta.get_field("path").max_length


def record(request, response, duration_ms):
    try:
        with commit_without_waiting():
            ApiRequest.objects.create(**_fields(request, response, duration_ms))
    except DatabaseError:
        log.exception("Could not log API request %s", request.rutter_request_id)


def _fields(request, response, duration_ms):
    api_key = getattr(request, "api_key", None)
    return {
        "organisation_id": api_key.organisation_id if api_key else None,
        "environment": api_key.environment if api_key else "",
        "api_key": api_key,
        "connection": _connection(request, api_key),
        "request_id": request.rutter_request_id,
        "method": request.method[:8],
        "path": request.path[:MAX_PATH],
        "status": response.status_code,
        "duration_ms": round(duration_ms),
    }


def _connection(request, api_key):
    """The connection the request named, if it is one of the key's."""
    resolved = getattr(request, "rutter_connection", None)
    if resolved is not None or api_key is None:
        return resolved

    token = request.GET.get("access_token")
    if not token:
        return None
    return services.connection_by_token(request.scope, token)
