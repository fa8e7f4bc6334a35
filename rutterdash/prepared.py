"""A statement PostgreSQL keeps parsed and planned, sent with little Python.

The API's admission statement runs for every request. Through Django's
cursor it costs the worker about 100 µs of CPU (client-side binding,
psycopg's cursor machinery, typed loading of each value) and PostgreSQL a
parse and a plan. Here it is prepared once per database connection and run
with libpq's own call, its parameters and results as text: about 10 µs.

Statements are written with ``%(name)s`` placeholders. Every value comes
back as text (cast the columns to text), so callers read the same row
either way. ``API_PREPARED_STATEMENTS`` off (for a connection pooler that
cannot keep prepared statements, such as PgBouncer before 1.21 in
transaction mode) or another database sends it through Django's cursor.
"""

import hashlib
import re
import time

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections
from psycopg import errors, pq

_PLACEHOLDER = re.compile(r"%\((\w+)\)s")


class Statement:
    def __init__(self, sql):
        self.sql = sql
        self.names = []
        self.numbered = _PLACEHOLDER.sub(self._number, sql).encode()
        digest = hashlib.sha1(self.numbered).hexdigest()[:16]
        self.name = f"rutterdash_{digest}".encode()

    def _number(self, match):
        name = match.group(1)
        if name not in self.names:
            self.names.append(name)
        return f"${self.names.index(name) + 1}"


def fetch_one(statement, parameters):
    """The statement's first row as text values (None for NULL), or None."""
    # One lookup of the thread's connection, not one per attribute.
    db = connections[DEFAULT_DB_ALIAS]
    if not settings.API_PREPARED_STATEMENTS or db.vendor != "postgresql":
        return _through_django(db, statement, parameters)

    if db.connection is None:
        db.ensure_connection()
    values = [_text(parameters[name]) for name in statement.names]
    logged = db.queries_logged
    started = time.monotonic() if logged else 0
    with db.wrap_database_errors:
        row = _run(db, statement, values)
    if logged:
        took = time.monotonic() - started
        db.queries_log.append({"sql": statement.sql, "time": f"{took:.3f}"})
    return row


def _through_django(db, statement, parameters):
    with db.cursor() as cursor:
        cursor.execute(statement.sql, parameters)
        row = cursor.fetchone()
    return None if row is None else tuple(row)


def _run(db, statement, values):
    try:
        return _run_prepared(db, statement, values)
    except errors.InvalidSqlStatementName:
        # Deallocated behind our back (DISCARD ALL): prepare it again,
        # unless the failure aborted the transaction it ran in.
        _prepared_on(db).clear()
        if db.in_atomic_block:
            raise
        return _run_prepared(db, statement, values)


def _run_prepared(db, statement, values):
    pgconn = db.connection.pgconn
    prepared = _prepared_on(db)
    if statement.name not in prepared:
        _check(db, pgconn.prepare(statement.name, statement.numbered))
        prepared.add(statement.name)

    result = _check(db, pgconn.exec_prepared(statement.name, values))
    if result.ntuples == 0:
        return None
    value = result.get_value
    return tuple(_decoded(value(0, i)) for i in range(result.nfields))


def _prepared_on(db):
    """Names prepared on the current connection (a new one has none)."""
    connection = db.connection
    kept = getattr(db, "_rutterdash_prepared", None)
    if kept is None or kept[0] is not connection:
        kept = (connection, set())
        db._rutterdash_prepared = kept
    return kept[1]


_SUCCEEDED = (pq.ExecStatus.TUPLES_OK, pq.ExecStatus.COMMAND_OK)


def _check(db, result):
    if result.status in _SUCCEEDED:
        return result
    encoding = db.connection.info.encoding
    if db.connection.pgconn.status == pq.ConnStatus.BAD:
        # The server went away: libpq's result carries no SQLSTATE, so say
        # what psycopg's own cursor would have.
        message = result.get_error_message(encoding)
        raise errors.OperationalError(message.strip())
    raise errors.error_from_result(result, encoding=encoding)


def _text(value):
    return None if value is None else str(value).encode()


def _decoded(value):
    return None if value is None else value.decode()
