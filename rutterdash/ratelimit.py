"""A per-organisation request limit shared by every worker process.

Counts live in the database, one row per organisation holding its current
fixed window and how many of the window's requests have been handed out,
so workers on any host agree without a lock.

On PostgreSQL a worker does not write that row for every request: it
takes a lease of several requests at once (``lease_sql``, folded into the
statement that checks the API key, see accounts.api_auth) and spends them
locally (``Leases``). A lease is at most ``RATE_LIMIT_LEASE`` requests and
at most a quarter of what the window has left, and never less than one:

    granted = max(1, min(RATE_LIMIT_LEASE, (limit - count) // 4))

What that means for the limit, with H lease holders (worker processes,
on every host) and a lease of N:

- never more than the limit is admitted in a window: a request is only
  admitted on a request the shared row handed out within the limit;
- a request may be refused early, while other workers still hold
  requests they leased and have not used: at most (H - 1) * (N - 1) of
  them, and fewer when the limit is small, since a lease is at most a
  quarter of what is left. With the defaults (N 16, limit 500) and two
  workers, at least 485 requests are admitted in a window before one is
  refused;
- leased requests not used by the end of the window are lost with it.

Elsewhere (SQLite) each request bumps the row in a statement of its own,
committed without waiting for the disk (rutterdash.bookkeeping).
"""

import math
import threading
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
    INSERT INTO {table} (organisation_id, "window", count, granted)
    VALUES (%s, %s, 1, 1)
"""
_BUMP = _INSERT + _UPSERT

# Requests left in the window are (limit - count); the lease is a quarter
# of that, between 1 and the lease size. The first lease of a window
# starts from a count of 0.
_GRANT = "GREATEST(1, LEAST(%(lease)s::int, (%(limit)s::int - {count}) / 4))"
_LEASE = """
    INSERT INTO {table} AS held (organisation_id, "window", count, granted)
    SELECT organisation_id, %(window)s::bigint, {first}, {first} FROM ({rows}) asking
    ON CONFLICT (organisation_id) DO UPDATE SET
        count = CASE WHEN held."window" = excluded."window"
            THEN held.count + {more} ELSE excluded.count END,
        granted = CASE WHEN held."window" = excluded."window"
            THEN {more} ELSE excluded.count END,
        "window" = excluded."window"
    RETURNING organisation_id, count, granted
"""


@dataclass(frozen=True)
class Window:
    """The fixed window a request falls in, numbered from the epoch."""

    number: int
    now: float

    def retry_after(self, count):
        """Seconds to wait if the window's ``count``th request is over, else None."""
        if count <= settings.RATE_LIMIT_REQUESTS:
            return None
        return self.seconds_left()

    def seconds_left(self):
        width = settings.RATE_LIMIT_WINDOW_SECONDS
        return max(1, math.ceil((self.number + 1) * width - self.now))


def current_window():
    now = _now()
    return Window(int(now // settings.RATE_LIMIT_WINDOW_SECONDS), now)


def retry_after(organisation):
    """Count a request; seconds to wait if it is over the limit, else None."""
    window = current_window()
    return window.retry_after(_bump(organisation.pk, window.number))


def lease_sql(rows_sql):
    """The upsert that leases requests to each organisation in ``rows_sql``.

    ``rows_sql`` selects one ``organisation_id`` column. Parameters: window,
    lease and limit. Returns (organisation_id, count, granted): this lease
    is the requests numbered count - granted + 1 to count in the window.
    """
    return _LEASE.format(
        table=_table(),
        rows=rows_sql,
        first=_GRANT.format(count="0"),
        more=_GRANT.format(count="held.count"),
    )


def lease_parameters(window):
    return {
        "window": window.number,
        "lease": settings.RATE_LIMIT_LEASE,
        "limit": settings.RATE_LIMIT_REQUESTS,
    }


def usable(count, granted):
    """How many of a lease's requests fall within the limit."""
    before = count - granted
    return max(0, min(granted, settings.RATE_LIMIT_REQUESTS - before))


class Leases:
    """Requests this process leased from organisations' shared windows."""

    def __init__(self):
        self._held = {}
        self._lock = threading.Lock()

    def holds(self, organisation_id, window):
        """True if a request could be spent now (another thread may take it)."""
        held = self._held.get(organisation_id)
        return held is not None and held[0] == window.number and held[1] > 0

    def spend(self, organisation_id, window):
        """Take one held request of this window; False if none is left."""
        with self._lock:
            held = self._held.get(organisation_id)
            if held is None or held[0] != window.number or held[1] <= 0:
                return False
            held[1] -= 1
            return True

    def admit(self, organisation_id, window, count, granted):
        """Record a new lease; seconds to wait if it holds nothing usable."""
        left = usable(count, granted)
        if left == 0:
            return window.seconds_left()
        with self._lock:
            held = self._held.get(organisation_id)
            if held is not None and held[0] == window.number:
                held[1] += left - 1
            else:
                self._held[organisation_id] = [window.number, left - 1]
        return None

    def forget_all(self):
        with self._lock:
            self._held.clear()


leases = Leases()


def _bump(organisation_id, window):
    with commit_without_waiting(), connection.cursor() as cursor:
        cursor.execute(_BUMP.format(table=_table()), [organisation_id, window])
        return cursor.fetchone()[0]


def _table():
    return connection.ops.quote_name(RateLimitWindow._meta.db_table)


def _now():
    return time.time()
