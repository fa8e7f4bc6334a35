"""The request log: one row per API request, written after it is answered.

A failure to write the row is logged, never turned into a failed request.
"""

import functools
import logging

from django.db import DatabaseError
from django.db import connection as db

from accounts.models import ApiRequest
from connections import services
from rutterdash import bookkeeping

log = logging.getLogger(__name__)

MAX_PATH = ApiRequest._meta.get_field("path").max_length


def record(request, response, duration_ms):
    logged = ApiRequest(**_fields(request, response, duration_ms))
    try:
        _insert(logged)
    except DatabaseError:
        log.exception("Could not log API request %s", request.rutter_request_id)


def _insert(logged):
    if not bookkeeping.can_be_unhurried():
        with bookkeeping.commit_without_waiting():
            logged.save(force_insert=True)
        return

    # One round trip: the insert carries its own asynchronous commit.
    fields = [f for f in ApiRequest._meta.concrete_fields if not f.primary_key]
    values = [f.get_db_prep_save(f.pre_save(logged, True), db) for f in fields]
    with db.cursor() as cursor:
        cursor.execute(_insert_sql(tuple(fields)), values)


@functools.cache
def _insert_sql(fields):
    quote = db.ops.quote_name
    columns = ", ".join(quote(field.column) for field in fields)
    placeholders = ", ".join(["%s"] * len(fields))
    table = quote(ApiRequest._meta.db_table)
    return (
        f"WITH {bookkeeping.UNHURRIED_CTE} "
        f"INSERT INTO {table} ({columns}) SELECT {placeholders} FROM unhurried"
    )


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
