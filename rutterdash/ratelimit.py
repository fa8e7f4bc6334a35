"""A per-organisation request limit shared by every worker process.

Counts live in the database, one row per organisation holding its current
fixed window, bumped by a single upsert (which also starts a new window),
so workers on any host agree without a lock. On PostgreSQL the upsert
rides in the statement that checks the API key (accounts.api_auth), so
counting costs no round trip of its own; elsewhere it is one statement,
committed without waiting for the disk (rutterdash.bookkeeping).
"""

import math
import time
from dataclasses import dataclass

from django.conf import settings
from django.db import connection

from accounts.models import RateLimitWindow
from rutterdash.bookkeeping import commit_without_waiting

_UPSERT = """
    ON CONFLICT (organisation_id) DO UPDATE SET
        count = CASE WHEN {table}."window" = excluded."window"
            THEN {table}.count + 1 ELSE 1 END,
        "window" = excluded."window"
    RETURNING count
"""
_INSERT = """
    INSERT INTO {table} (organisation_id, "window", count)
    VALUES (%s, %s, 1)
"""
_BUMP = _INSERT + _UPSERT


@dataclass(frozen=True)
class Window:
    """The fixed window a request falls in, numbered from the epoch."""

    number: int
    now: float

    def retry_after(self, count):
        """Seconds to wait if the window's ``count``th request is over, else None."""
        if count <= settings.RATE_LIMIT_REQUESTS:
            return None
        width = settings.RATE_LIMIT_WINDOW_SECONDS
        return max(1, math.ceil((self.number + 1) * width - self.now))


def current_window():
    now = _now()
    return Window(int(now // settings.RATE_LIMIT_WINDOW_SECONDS), now)


def retry_after(organisation):
    """Count a request; seconds to wait if it is over the limit, else None."""
    window = current_window()
    return window.retry_after(_bump(organisation.pk, window.number))


def counting_upsert(rows_sql):
    """The upsert that counts one request per organisation in ``rows_sql``.

    ``rows_sql`` selects (organisation_id, window, 1) rows, so that callers
    can fold the count into a statement of their own.
    """
    table = _table()
    insert = f'INSERT INTO {table} (organisation_id, "window", count) '
    return insert + rows_sql + _UPSERT.format(table=table)


def _bump(organisation_id, window):
    with commit_without_waiting(), connection.cursor() as cursor:
        cursor.execute(_BUMP.format(table=_table()), [organisation_id, window])
        return cursor.fetchone()[0]


def _table():
    return connection.ops.quote_name(RateLimitWindow._meta.db_table)


def _now():
    return time.time()
