"""Transactions for the API's own bookkeeping rows, not customers' books.

Every API request bumps its rate-limit counter and writes a request-log
row. Waiting for the disk on those commits cost about as much as the rest
of a list call's queries together, so on PostgreSQL they commit
asynchronously: the rows are visible at once, and a database crash can
lose at most the last fraction of a second of them (a few requests' counts
and log lines), never leave them inconsistent.

Outside a transaction a single statement is its own transaction, so it can
carry the setting itself (``unhurried``): one round trip instead of BEGIN,
SET, the statement and COMMIT.
"""

from contextlib import contextmanager

from django.db import connection, transaction

_NO_DISK_WAIT = "SET LOCAL synchronous_commit TO OFF"
# set_config(..., true) lasts until the end of the current transaction: in
# autocommit, exactly this statement.
UNHURRIED_CTE = "unhurried AS (SELECT set_config('synchronous_commit', 'off', true))"


@contextmanager
def commit_without_waiting():
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(_NO_DISK_WAIT)
        yield


def can_be_unhurried():
    """True if a statement run now on PostgreSQL commits on its own.

    Inside a transaction the statement commits with the rest of it, whose
    commit must keep waiting for the disk if it holds customers' books.
    """
    return connection.vendor == "postgresql" and not connection.in_atomic_block
