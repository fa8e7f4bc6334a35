"""The request log: one row per API request, written after it is answered.

A failure to write the row is logged, never turned into a failed request.

On PostgreSQL, outside a transaction (as every production request runs),
rows are written in batches: each worker process keeps the rows of the
requests it answered, and a background thread copies them in every
``API_REQUEST_LOG_FLUSH_SECONDS`` (1 by default, sooner past 1,000 rows)
in a transaction whose commit does not wait for the disk
(rutterdash.bookkeeping). A normal exit
of the worker (a restart, gunicorn's graceful or quick shutdown, a
timeout's abort) writes what is left. What a crash can lose: if the worker
process is killed (SIGKILL, out of memory), the rows of its last flush
interval, one second by default; if the database crashes, its last
fraction of a second of commits. Rows show in the dashboard's request log
up to one flush interval late. Set the interval to 0 to write each row as
its request ends instead (one more statement per request). Inside a
transaction, and on other databases, each row is written at once.
"""

import atexit
import functools
import logging
import threading

import psycopg
from django.conf import settings
from django.db import DatabaseError, IntegrityError
from django.db import connection as db
from django.utils import timezone

from accounts.models import ApiRequest
from connections import services
from rutterdash import bookkeeping

log = logging.getLogger(__name__)

MAX_PATH = ApiRequest._meta.get_field("path").max_length
DEFAULT_FLUSH_SECONDS = 1
# The columns written, in the order ``_row`` lists their values.
COLUMNS = (
    "organisation_id",
    "environment",
    "api_key_id",
    "connection_id",
    "request_id",
    "method",
    "path",
    "status",
    "duration_ms",
    "created",
)
FIELDS = tuple(ApiRequest._meta.get_field(column) for column in COLUMNS)
_REQUEST_ID = COLUMNS.index("request_id")


def record(request, response, duration_ms):
    row = _row(request, response, duration_ms)
    try:
        if _batching():
            _batch.add(row)
        else:
            _insert_now(row)
    except DatabaseError:
        log.exception("Could not log API request %s", request.rutter_request_id)


def flush():
    """Write every row this process still holds."""
    _batch.flush()


def _flush_seconds():
    return getattr(settings, "API_REQUEST_LOG_FLUSH_SECONDS", DEFAULT_FLUSH_SECONDS)


def _batching():
    return _flush_seconds() > 0 and bookkeeping.can_be_unhurried()


def _insert_now(row):
    if not bookkeeping.can_be_unhurried():
        with bookkeeping.commit_without_waiting():
            logged = ApiRequest(**dict(zip(COLUMNS, row, strict=True)))
            logged.save(force_insert=True)
        return
    _insert([row])


def _insert(rows):
    """One statement for all ``rows``, committed without waiting for the disk."""
    with db.cursor() as cursor:
        cursor.execute(_insert_sql(len(rows)), [value for row in rows for value in row])


def _copy(rows):
    """All ``rows`` in one COPY, committed without waiting for the disk.

    COPY costs PostgreSQL about half what a VALUES list does per row (no
    SQL to parse), and the worker a third (no values quoted into SQL).
    """
    with bookkeeping.commit_without_waiting(), db.cursor() as cursor:
        with cursor.cursor.copy(_copy_sql()) as copy:
            for row in rows:
                copy.write_row(row)


@functools.cache
def _copy_sql():
    quote = db.ops.quote_name
    columns = ", ".join(quote(field.column) for field in FIELDS)
    table = quote(ApiRequest._meta.db_table)
    return f"COPY {table} ({columns}) FROM STDIN"


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

    MAX_ROWS = 1000

    def __init__(self):
        self._rows = []
        self._lock = threading.Lock()
        self._writing = threading.Lock()
        self._wake = threading.Event()
        self._thread = None

    def add(self, row):
        with self._lock:
            self._rows.append((row[_REQUEST_ID], row))
            self._start_writer()
            full = len(self._rows) >= self.MAX_ROWS
        if full:
            self._wake.set()

    def flush(self):
        # One flush at a time: the one at exit waits for the writer
        # thread's rows to be in before the process ends.
        with self._writing:
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
        _copy([values for _, values in rows])
    except (DatabaseError, psycopg.Error):  # COPY raises psycopg's own
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


def _row(request, response, duration_ms):
    """The row's values in COLUMNS order: plain ids, no instance built.

    The statements cast each value to its column's type.
    """
    organisation_id, environment, api_key_id = _key_ids(request)
    return [
        organisation_id,
        environment,
        api_key_id,
        _connection_id(request, api_key_id),
        request.rutter_request_id,
        request.method[:8],
        # PostgreSQL text cannot hold NUL, which a path may (%00).
        request.path[:MAX_PATH].replace("\x00", "\ufffd"),
        response.status_code,
        round(duration_ms),
        timezone.now(),
    ]


def _key_ids(request):
    api_key = getattr(request, "api_key", None)
    if api_key is not None:
        return api_key.organisation_id, api_key.environment, api_key.pk
    admission = getattr(request, "rutter_admission", None)
    if admission is not None:
        return admission.organisation_id, admission.environment, admission.api_key_id
    return None, "", None


def _connection_id(request, api_key_id):
    """The connection the request named, if it is one of the key's."""
    resolved = getattr(request, "rutter_connection", None)
    if resolved is not None or api_key_id is None:
        return resolved.pk if resolved is not None else None

    token = request.GET.get("access_token")
    if not token:
        return None
    admission = getattr(request, "rutter_admission", None)
    if admission is not None and admission.token == token:
        return admission.connection_id
    if getattr(request, "scope", None) is None:
        return None
    connection = services.connection_by_token(request.scope, token)
    return connection.pk if connection else None
