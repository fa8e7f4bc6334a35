"""A per-organisation request limit shared by every worker process.

Counts live in the database, one row per organisation holding its current
fixed window, bumped by a single upsert (which also starts a new window),
so workers on any host agree without a lock and every request costs one
statement, committed without waiting for the disk (rutterdash.bookkeeping).
"""

import math
import time

from django.conf import settings
from django.db import connection

from accounts.models import RateLimitWindow
from rutterdash.bookkeeping import commit_without_waiting

_BUMP = """
    INSERT INTO {table} (organisation_id, "window", count)
    VALUES (%s, %s, 1)
    ON CONFLICT (organisation_id) DO UPDATE SET
        count = CASE WHEN {table}."window" = excluded."window"
            THEN {table}.count + 1 ELSE 1 END,
        "window" = excluded."window"
    RETURNING count
"""


def retry_after(organisation):
    """Seconds to wait if this request is over the limit, else None."""
    width = settings.RATE_LIMIT_WINDOW_SECONDS
    now = _now()
    window = int(now // width)

    count = _bump(organisation.pk, window)
    if count <= settings.RATE_LIMIT_REQUESTS:
        return None
    return max(1, math.ceil((window + 1) * width - now))


def _bump(organisation_id, window):
    table = connection.ops.quote_name(RateLimitWindow._meta.db_table)
    with commit_without_waiting(), connection.cursor() as cursor:
        cursor.execute(_BUMP.format(table=table), [organisation_id, window])
        return cursor.fetchone()[0]


def _now():
    return time.time()
