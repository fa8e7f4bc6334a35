"""The request log: one row per API request, written after it is answered.

A failure to write the row is logged, never turned into a failed request.

On PostgreSQL, outside a transaction (as every production request runs),
each row is one statement whose commit does not wait for the disk
(rutterdash.bookkeeping). Setting ``API_REQUEST_LOG_FLUSH_SECONDS`` above
0 (off by default) writes them in batches instead: each worker process
keeps the rows of the requests it answered, and a background thread
inserts them every that many seconds in one such statement. A normal
shutdown of the worker writes what is left. What a crash can lose: if the
worker process is killed (SIGKILL, out of memory), the rows of its last
flush interval; if the database crashes, its last fraction of a second of
commits. Batched rows show in the dashboard's request log up to one flush
interval late.
"""

import atexit
import functools
import logging
import threading

from django.conf import settings
from django.db import DatabaseError, IntegrityError
from django.db import connection as db

from accounts.models import ApiRequest
from connections import services
from rutterdash import bookkeeping

log = logging.getLogger(__name__)

MAX_PATH = ApiRequest._meta.get_field("path").max_length
DEFAULT_FLUSH_SECONDS = 0
# The columns written, in order: all but the primary key.
FIELDS = tuple(f for f in ApiRequest._meta.concrete_fields if not f.primary_key)


def record(request, response, duration_ms):
    logged = ApiRequest(**_fields(request, response, duration_ms))
    try:
        if _batching():
            _batch.add(logged)
        else:
            _insert_now(logged)
    except DatabaseError:
        log.exception("Could not log API request %s", request.rutter_request_id)


def flush():
    """Write every row this process still holds."""
    _batch.flush()


def _flush_seconds():
    return getattr(settings, "API_REQUEST_LOG_FLUSH_SECONDS", DEFAULT_FLUSH_SECONDS)


def _batching():
    return _flush_seconds() > 0 and bookkeeping.can_be_unhurried()


def _insert_now(logged):
    if not bookkeeping.can_be_unhurried():
        with bookkeeping.commit_without_waiting():
            logged.save(force_insert=True)
        return
    _insert([_values(logged)])


def _values(logged):
    return [f.get_db_prep_save(f.pre_save(logged, True), db) for f in FIELDS]


def _insert(rows):
    """One statement for all ``rows``, committed without waiting for the disk."""
    with db.cursor() as cursor:
        cursor.execute(_insert_sql(len(rows)), [value for row in rows for value in row])


@functools.lru_cache(maxsize=64)
def _insert_sql(count):
    quote = db.ops.quote_name
    columns = ", ".join(quote(field.column) for field in FIELDS)
    # Typed, since a VALUES list would otherwise read every value as text.
    row = "(" + ", ".join(f"%s::{field.db_type(db)}" for field in FIELDS) + ")"
    table = quote(ApiRequest._meta.db_table)
    return (
        f"WITH {bookkeeping.UNHURRIED_CTE}, "
        f"logged ({columns}) AS (VALUES {', '.join([row] * count)}) "
        f"INSERT INTO {table} ({columns}) SELECT logged.* FROM logged, unhurried"
    )


class _Batch:
    """This process's rows not yet written, and the thread that writes them."""

    MAX_ROWS = 500

    def __init__(self):
        self._rows = []
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._thread = None

    def add(self, logged):
        values = _values(logged)
        with self._lock:
            self._rows.append((logged.request_id, values))
            self._start_writer()
            full = len(self._rows) >= self.MAX_ROWS
        if full:
            self._wake.set()

    def flush(self):
        with self._lock:
            rows, self._rows = self._rows, []
        for start in range(0, len(rows), self.MAX_ROWS):
            _write(rows[start : start + self.MAX_ROWS])

    def _start_writer(self):
        if self._thread is not None and self._thread.is_alive():
            return
        if self._thread is None:
            atexit.register(self.flush)
        self._thread = threading.Thread(
            target=self._write_forever, name="api-request-log", daemon=True
        )
        self._thread.start()

    def _write_forever(self):
        while True:
            self._wake.wait(_flush_seconds())
            self._wake.clear()
            try:
                db.close_if_unusable_or_obsolete()
                self.flush()
            except Exception:
                log.exception("The request log writer failed; it carries on")


def _write(rows):
    try:
        _insert([values for _, values in rows])
    except DatabaseError:
        # One bad row (its key or connection deleted meanwhile) must not
        # cost the others theirs.
        for request_id, values in rows:
            _write_one(request_id, values)


def _write_one(request_id, values):
    try:
        _insert([values])
    except IntegrityError:
        _write_without_links(request_id, values)
    except DatabaseError:
        log.exception("Could not log API request %s", request_id)


def _write_without_links(request_id, values):
    # As on_delete=SET_NULL would have left it, had the row been written.
    unlinked = list(values)
    for index, field in enumerate(FIELDS):
        if field.name in ("api_key", "connection"):
            unlinked[index] = None
    try:
        _insert([unlinked])
    except DatabaseError:
        log.exception("Could not log API request %s", request_id)


_batch = _Batch()


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
    admission = getattr(request, "rutter_admission", None)
    if admission is not None:
        looked_up, connection = admission.connection_for(token)
        if looked_up:
            return connection
    return services.connection_by_token(request.scope, token)
